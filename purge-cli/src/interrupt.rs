//! Ctrl-C: the first one asks the run to stop after the batch in flight
//! commits; a second one ends the process at once (the server rolls the
//! open transaction back).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// True once Ctrl-C was pressed.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Watches for Ctrl-C (SIGINT) in the background. Call once, from inside
/// the runtime.
pub fn install() {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        REQUESTED.store(true, Ordering::SeqCst);
        eprintln!("\nnova-purge: interrupted; stopping after the batch in flight commits (Ctrl-C again to abort it)");
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(crate::exit_code::INTERRUPTED));
        }
    });
}

/// Sleeps, waking early when Ctrl-C is pressed.
pub async fn sleep(duration: Duration) {
    let step = Duration::from_millis(100);
    let mut left = duration;
    while !left.is_zero() && !requested() {
        let nap = left.min(step);
        tokio::time::sleep(nap).await;
        left -= nap;
    }
}
