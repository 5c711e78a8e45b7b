//! Logs go to stderr, so that stdout holds only the report: as text for
//! people, or with `--log-format json` as one JSON object per line for a
//! log shipper (journald, Loki, Elasticsearch). In JSON, everything
//! nova-purge writes on stderr is such a line: log events, progress (an
//! event with the message `progress`) and the final error; the
//! confirmation prompt is never shown (a JSON run needs `--yes`).

use std::ffi::OsString;
use std::io::{self, Write};

use tracing_subscriber::filter::Directive;
use tracing_subscriber::EnvFilter;

use crate::cli::{LogArgs, LogFormat};
use purge_engine::secrets;

/// The target of progress events. Progress is shown unless `-q`, whatever
/// the log level, as it is in text.
pub const PROGRESS_TARGET: &str = "nova_purge::progress";

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
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    if args.quiet == 0 {
        let progress: Directive = format!("{PROGRESS_TARGET}=info")
            .parse()
            .expect("a valid directive");
        filter = filter.add_directive(progress);
    }
    let escape_controls = args.log_format == LogFormat::Text;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogLines { escape_controls })
        .with_target(false);
    match args.log_format {
        // No colours: the writer escapes every control character a name
        // from a database could smuggle in, and colours are made of them.
        LogFormat::Text => builder.with_ansi(false).init(),
        // Flattened: `{"timestamp", "level", "message", <the event's
        // fields>}`, and inside a cell of a multi-cell run (the one span
        // nova-purge opens) `"span":{"cell":NAME,"name":"cell"}`: with
        // cells purged at once (`--jobs`), their lines interleave.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// The format asked for on a command line that may not parse: a usage
/// error is reported before clap has told us, in the format the caller
/// reads.
pub fn requested_format(args: impl IntoIterator<Item = OsString>) -> LogFormat {
    let mut format = LogFormat::Text;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.to_str() {
            Some("--") => break,
            Some("--log-format") => args.next(),
            Some(other) => other.strip_prefix("--log-format=").map(OsString::from),
            None => None,
        };
        match value.as_ref().and_then(|v| v.to_str()) {
            Some("json") => format = LogFormat::Json,
            Some("text") => format = LogFormat::Text,
            _ => {}
        }
    }
    format
}

/// The one line that says why nova-purge stopped: `error: ...` in text, a
/// JSON object at level ERROR with the exit code in JSON. Written whatever
/// the log level, as errors always were.
pub fn fatal(format: LogFormat, message: &str, exit_code: u8) {
    always(format, "ERROR", "error: ", message, Some(exit_code));
}

/// A line for the operator that no log level hides (Ctrl-C was heard):
/// `nova-purge: ...` in text, a JSON object at level WARN in JSON.
pub fn notice(format: LogFormat, message: &str) {
    always(format, "WARN", "nova-purge: ", message, None);
}

fn always(
    format: LogFormat,
    level: &'static str,
    text_prefix: &str,
    message: &str,
    exit_code: Option<u8>,
) {
    /// The fields in the order the subscriber writes them.
    #[derive(serde::Serialize)]
    struct Line<'a> {
        timestamp: String,
        level: &'static str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_code: Option<u8>,
    }
    let line = match format {
        LogFormat::Text => format!("{text_prefix}{message}"),
        LogFormat::Json => serde_json::to_string(&Line {
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            level,
            message,
            exit_code,
        })
        .expect("strings and numbers serialise"),
    };
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Where log events go: stderr, each event (one write) with its secrets
/// blanked and, in text, every control character but its final newline
/// escaped, so that a name read from a database cannot forge a log line or
/// drive the terminal.
#[derive(Debug, Clone, Copy)]
pub struct LogLines {
    pub escape_controls: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            escape_controls: self.escape_controls,
        }
    }
}

/// One log event on its way to stderr.
pub struct LogLine {
    escape_controls: bool,
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let text = secrets::scrub(&text);
        let line = if self.escape_controls {
            let (body, newline) = match text.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (text.as_str(), ""),
            };
            format!("{}{newline}", purge_engine::untrusted::escape(body))
        } else {
            text
        };
        io::stderr().write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_of(args: &[&str]) -> LogFormat {
        requested_format(args.iter().map(OsString::from))
    }

    #[test]
    fn the_format_is_found_before_parsing() {
        assert_eq!(format_of(&["nova-purge", "purge"]), LogFormat::Text);
        assert_eq!(
            format_of(&[
                "nova-purge",
                "--log-format",
                "json",
                "purge",
                "--older-than",
                "x"
            ]),
            LogFormat::Json
        );
        assert_eq!(
            format_of(&["nova-purge", "purge", "--log-format=json"]),
            LogFormat::Json
        );
        assert_eq!(
            format_of(&["nova-purge", "--log-format=json", "--log-format", "text"]),
            LogFormat::Text
        );
        assert_eq!(
            format_of(&["nova-purge", "restore", "--", "--log-format=json"]),
            LogFormat::Text
        );
    }
}
