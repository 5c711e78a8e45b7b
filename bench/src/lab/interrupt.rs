//! Ctrl-C (SIGINT) and SIGTERM while private servers run: the first stops
//! the benchmark at its next step or wait, with an error, so that every
//! server and lab directory is dropped (killed and removed) on the way out;
//! a second one exits at once (the servers die with the process, by their
//! parent-death signal; their directories go at the lab's next sweep).
//! A nova-purge started from a terminal gets the same Ctrl-C and stops
//! after its batch in flight.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handlers, from a thread of their own (the benchmark's
/// runtime blocks while it runs nova-purge or starts a server).
pub fn install() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("np-bench-signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let streams = signal(SignalKind::interrupt())
                    .and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
                let (mut int, mut term) = match streams {
                    Ok(streams) => {
                        let _ = ready_tx.send(Ok(()));
                        streams
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    if INTERRUPTED.swap(true, Ordering::SeqCst) {
                        eprintln!("interrupted again: exiting now");
                        std::process::exit(130);
                    }
                    eprintln!(
                        "interrupted: stopping the private servers after the current step \
                         (again to exit at once)"
                    );
                }
            });
        })?;
    ready_rx.recv()??;
    Ok(())
}

/// An error once interrupted.
pub fn check() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Runs `work`, abandoning it with an error when interrupted meanwhile.
pub async fn interruptible<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    let watch = async {
        while !INTERRUPTED.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        result = work => result,
        () = watch => bail!("interrupted"),
    }
}
