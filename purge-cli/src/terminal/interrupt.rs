//! Ctrl-C: the first one cancels the run, which stops after the batch in
//! flight commits (`create-indexes`: after the index in flight); a second
//! one ends the process at once (the server rolls the open transaction
//! back).

use purge_engine::Cancel;

use crate::cli::exit::ExitStatus;
use crate::cli::LogFormat;
use crate::logging;

/// Watches for Ctrl-C (SIGINT) in the background and cancels `cancel` on
/// the first one. Call once, from inside the runtime.
pub fn install(cancel: Cancel, log_format: LogFormat) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        cancel.cancel();
        if log_format == LogFormat::Text {
            eprintln!();
        }
        logging::notice(
            log_format,
            "interrupted; stopping after the batch (or index) in flight (Ctrl-C again to abort it)",
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(ExitStatus::Interrupted.code()));
        }
    });
}
