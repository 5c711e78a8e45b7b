//! Progress of a long purge on stderr: a line redrawn in place on a
//! terminal, a plain line every half minute otherwise, or with
//! `--log-format json` a log event every half minute. Never on stdout.
//! With several cells purged at once, one line for the whole run, with how
//! many cells run and are done.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a non-terminal gets a progress line.
const LOG_INTERVAL: Duration = Duration::from_secs(30);
/// How often the terminal line is redrawn at most.
const REDRAW_INTERVAL: Duration = Duration::from_millis(200);

/// How far a run of several cells at once is.
#[derive(Debug, Clone, Copy)]
pub struct Cells {
    pub running: usize,
    pub finished: usize,
    pub total: usize,
}

pub struct Progress {
    interactive: bool,
    /// As JSON log events (`--log-format json`).
    json: bool,
    dry_run: bool,
    /// Candidates, when counted.
    total: Option<u64>,
    /// Cells purged at once: the line covers them all.
    pub cells: Option<Cells>,
    verb: &'static str,
    started: Instant,
    last_shown: Instant,
}

impl Progress {
    /// True when stderr is a terminal, where a redrawn line makes sense.
    pub fn is_interactive() -> bool {
        io::stderr().is_terminal()
    }

    pub fn start(total: Option<u64>, dry_run: bool, json: bool) -> Progress {
        let now = Instant::now();
        Progress {
            interactive: !json && Progress::is_interactive(),
            json,
            dry_run,
            total,
            cells: None,
            verb: if dry_run { "counted" } else { "purged" },
            started: now,
            last_shown: now,
        }
    }

    pub fn update(&mut self, done: u64) {
        let interval = if self.interactive {
            REDRAW_INTERVAL
        } else {
            LOG_INTERVAL
        };
        if self.last_shown.elapsed() < interval {
            return;
        }
        self.last_shown = Instant::now();
        self.show(done, false);
    }

    pub fn finish(&mut self, done: u64) {
        if self.interactive {
            self.show(done, true);
        }
    }

    fn show(&self, done: u64, last: bool) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            done as f64 / elapsed
        } else {
            0.0
        };
        if self.json {
            tracing::info!(
                target: crate::logging::PROGRESS_TARGET,
                instances = done,
                total = self.total,
                cells_running = self.cells.map(|c| c.running),
                cells_done = self.cells.map(|c| c.finished),
                cells = self.cells.map(|c| c.total),
                per_second = (rate * 10.0).round() / 10.0,
                dry_run = self.dry_run,
                "progress"
            );
            return;
        }
        let mut line = match self.total {
            Some(total) => format!("{} {done} of {total} instances", self.verb),
            None => format!("{} {done} instances", self.verb),
        };
        if let Some(cells) = self.cells {
            line.push_str(&format!(
                " ({} cells running, {} of {} done)",
                cells.running, cells.finished, cells.total
            ));
        }
        line.push_str(&format!(", {rate:.0}/s"));
        if let Some(total) = self.total.filter(|_| rate > 0.0 && !last) {
            let left = total.saturating_sub(done) as f64 / rate;
            line.push_str(&format!(", about {} left", format_seconds(left)));
        }
        let mut stderr = io::stderr().lock();
        let _ = if self.interactive {
            write!(stderr, "\r\x1b[2K{line}{}", if last { "\n" } else { "" })
        } else {
            writeln!(stderr, "nova-purge: {line}")
        };
        let _ = stderr.flush();
    }
}

fn format_seconds(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}
