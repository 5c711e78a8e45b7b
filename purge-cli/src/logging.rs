//! Logs go to stderr, so that stdout holds only the report.

use std::io::{self, IsTerminal};

use tracing_subscriber::EnvFilter;

use crate::cli::LogArgs;

/// `-v`/`-q` set the default level; RUST_LOG, when set, wins.
pub fn init(args: &LogArgs) {
    let level = match (args.verbose, args.quiet) {
        (_, 2..) => "off",
        (_, 1) => "error",
        (0, 0) => "warn",
        (1, 0) => "info",
        (2, 0) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .init();
}
