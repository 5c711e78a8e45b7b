//! The exit codes, defined once: their numbers, what each means for each
//! command, and the "Exit codes:" section of every `--help`. Stable:
//! scripts and systemd units depend on them (docs/cli.md).

use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Done; nothing is left to do.
    Done,
    /// A database or runtime error ended the run.
    Error,
    /// Bad usage or input; nothing was deleted.
    Usage,
    /// `purge`: `--max-number` stopped the run with candidates left.
    MoreRemaining,
    /// `check`: warnings only.
    CheckWarnings,
    /// `check`: blocking problems.
    CheckBlocking,
    /// `purge`: at least one cell failed; the others were purged.
    CellFailed,
    /// `restore`: the export is damaged; what could be read was restored.
    RestoreIncomplete,
    /// `create-indexes`: a lock wait outlasted `--lock-timeout`.
    LockTimedOut,
    /// `purge`, `create-indexes`: Ctrl-C stopped the run at a safe point.
    Interrupted,
}

/// The commands whose exit codes differ in meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcomes {
    /// Any command: the top-level `--help` lists every code.
    Any,
    Purge,
    Check,
    Restore,
    CreateIndexes,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Done => 0,
            ExitStatus::Error => 1,
            ExitStatus::Usage => 2,
            ExitStatus::MoreRemaining => 3,
            ExitStatus::CheckWarnings => 4,
            ExitStatus::CheckBlocking => 5,
            ExitStatus::CellFailed => 6,
            ExitStatus::RestoreIncomplete => 7,
            ExitStatus::LockTimedOut => 8,
            ExitStatus::Interrupted => 130,
        }
    }

    /// The statuses `command` can end with, in code order.
    pub fn of(command: Outcomes) -> &'static [ExitStatus] {
        use ExitStatus::*;
        match command {
            Outcomes::Any => &[
                Done,
                Error,
                Usage,
                MoreRemaining,
                CheckWarnings,
                CheckBlocking,
                CellFailed,
                RestoreIncomplete,
                LockTimedOut,
                Interrupted,
            ],
            Outcomes::Purge => &[Done, Error, Usage, MoreRemaining, CellFailed, Interrupted],
            Outcomes::Check => &[Done, Error, Usage, CheckWarnings, CheckBlocking],
            Outcomes::Restore => &[Done, Error, Usage, RestoreIncomplete],
            Outcomes::CreateIndexes => &[Done, Error, Usage, LockTimedOut, Interrupted],
        }
    }

    /// What this status means when `command` ends with it.
    pub fn meaning(self, command: Outcomes) -> &'static str {
        use ExitStatus::*;
        match (command, self) {
            (Outcomes::Any, Done) => "done",
            (Outcomes::Purge, Done) => "done; nothing left to purge",
            (Outcomes::Purge, Error) => {
                "database or runtime error (batches already committed stay purged)"
            }
            (Outcomes::Check, Done) => {
                "clean: every table referencing instances is covered, nothing is missing"
            }
            (Outcomes::Restore, Done) => {
                "every batch restored (or, with --dry-run, would be)"
            }
            (Outcomes::CreateIndexes, Done) => {
                "done: every index check reported missing exists now (with --dry-run: would be created), or none was missing"
            }
            (Outcomes::CreateIndexes, Error) => {
                "database or runtime error, or an index that could not be created (the report says which and why; indexes created before it stay)"
            }
            (Outcomes::CreateIndexes, Usage) => {
                "bad usage or input (no --yes without a terminal, a Galera node without --galera-rsu, not a Nova cell database); nothing was created"
            }
            (Outcomes::Restore, Error) => {
                "a row conflicts with the database, or a database error; the batch at fault was rolled back"
            }
            (_, Error) => "database or runtime error",
            (Outcomes::Restore, Usage) => "bad usage or input (a missing or malformed export file)",
            (Outcomes::Purge | Outcomes::Any, Usage) => "bad usage or input; nothing was deleted",
            (_, Usage) => "bad usage or input",
            (_, MoreRemaining) => "done, but --max-number was reached with candidates left",
            (_, CheckWarnings) => {
                "warnings only: the purge will run; skipped targets or missing indexes"
            }
            (_, CheckBlocking) => {
                "blocking problems: candidates a purge would skip, or not a usable Nova cell database"
            }
            (_, CellFailed) => {
                "some cells were purged, but at least one failed (its error is in the report)"
            }
            (_, RestoreIncomplete) => {
                "the export is damaged: every whole committed batch was restored, and the report lists the lines and batches that could not be"
            }
            (_, LockTimedOut) => {
                "a lock wait outlasted --lock-timeout: the report names the index not created and what is left of it (nothing, or an INVALID PostgreSQL index the next run rebuilds); run again when Nova is quieter"
            }
            (Outcomes::Any, Interrupted) => {
                "interrupted by Ctrl-C at a safe point (after a committed batch, between two indexes); run again to continue"
            }
            (Outcomes::CreateIndexes, Interrupted) => {
                "interrupted by Ctrl-C between two indexes; run again to create the rest"
            }
            (_, Interrupted) => {
                "interrupted by Ctrl-C after a committed batch; run again to continue"
            }
        }
    }

    /// The commands that can end with this status, unless every one can.
    fn only_from(self) -> Option<&'static str> {
        use ExitStatus::*;
        match self {
            MoreRemaining | CellFailed => Some("purge"),
            CheckWarnings | CheckBlocking => Some("check"),
            RestoreIncomplete => Some("restore"),
            LockTimedOut => Some("create-indexes"),
            Interrupted => Some("purge, create-indexes"),
            Done | Error | Usage => None,
        }
    }

    /// The "Exit codes:" section of `command`'s `--help`.
    pub fn help(command: Outcomes) -> String {
        let mut text = "Exit codes:".to_owned();
        for status in ExitStatus::of(command) {
            let from = match status.only_from() {
                Some(name) if command == Outcomes::Any => format!("{name}: "),
                _ => String::new(),
            };
            let _ = write!(
                text,
                "\n  {:<3}  {from}{}",
                status.code(),
                status.meaning(command)
            );
        }
        text
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_lists_done_error_and_usage() {
        for command in [
            Outcomes::Any,
            Outcomes::Purge,
            Outcomes::Check,
            Outcomes::Restore,
            Outcomes::CreateIndexes,
        ] {
            let codes: Vec<u8> = ExitStatus::of(command).iter().map(|s| s.code()).collect();
            assert_eq!(&codes[..3], &[0, 1, 2], "{command:?}");
            assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        }
    }
}
