//! The command line, defined once: parsing, `--help`, and (later) the man
//! page and completions all come from these types.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::MAX_BATCH_SIZE;

/// Instances per transaction unless `--batch-size` says otherwise; see
/// docs/benchmarks.md for the measurements behind it.
pub const DEFAULT_BATCH_SIZE: u64 = 500;

const EXIT_CODES: &str = "\
Exit codes:
  0  done; nothing left to purge
  1  database or runtime error (batches already committed stay purged)
  2  bad usage or input; nothing was deleted
  3  done, but --max-number was reached with candidates left";

const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  clean: every table referencing instances is covered, nothing is missing
  1  database or runtime error
  2  bad usage or input
  4  warnings only: the purge will run; skipped targets or missing indexes
  5  blocking problems: candidates a purge would skip, or not a usable Nova cell database";

const PURGE_WARNING: &str = "\
Permanently delete soft-deleted Nova instances older than --older-than days,
together with every row that belongs to them (metadata, faults, actions and
their events, block device mappings, migrations, interfaces, tags, ...).

WARNING: this deletes data for good. There is no undo, and the history of
the purged instances (who did what and when) is gone with them, which
affects audits. Run it with --dry-run first to see what would be deleted,
and keep a backup.

Candidates are instances with deleted <> 0 and deleted_at older than the
cutoff. Live instances and instances in vm_state 'soft-delete' (which have
deleted = 0 and can still be restored) are never touched. Each batch is one
transaction: if the run is killed, every instance is either whole or gone,
and running again carries on.";

#[derive(Debug, Parser)]
#[command(
    name = "nova-purge",
    bin_name = "nova-purge",
    version,
    about = "Purge long-deleted instances from OpenStack Nova databases",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Nova cell database: mysql://USER:PASS@HOST/DB, postgresql://USER:PASS@HOST/DB or sqlite://PATH
    #[arg(
        long,
        global = true,
        env = "NOVA_PURGE_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less log output on stderr (-q errors only, -qq nothing)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Permanently delete soft-deleted instances and all their rows (try --dry-run first)
    #[command(
        visible_alias = "purge-deleted-instances",
        long_about = PURGE_WARNING,
        after_help = EXIT_CODES
    )]
    Purge(PurgeArgs),
    /// Compare the database with the registered targets and count what a purge would remove; deletes nothing
    #[command(after_help = CHECK_EXIT_CODES)]
    Check(CheckArgs),
    /// List the registered purge targets in execution order
    Targets(TargetsArgs),
    /// Create a throwaway SQLite database with sample Nova data and purge it
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Only instances deleted more than DAYS days ago (UTC), 0 to 36500
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 90,
        value_parser = clap::value_parser!(u32).range(0..=36_500)
    )]
    pub older_than: u32,

    /// Report what would be deleted; delete nothing and take no write locks
    #[arg(long, visible_alias = "dry")]
    pub dry_run: bool,

    /// Purge at most N instances in this run (exit code 3 if more remain)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_number: Option<u64>,

    /// Instances per transaction, 1 to 10000
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_BATCH_SIZE,
        value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH_SIZE as u64)
    )]
    pub batch_size: u64,

    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(short, long)]
    pub yes: bool,

    /// Report format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Count instances deleted more than DAYS days ago, as `purge` would
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 90,
        value_parser = clap::value_parser!(u32).range(0..=36_500)
    )]
    pub older_than: u32,

    /// Report format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo database at PATH (must not exist) instead of a temporary file
    #[arg(long, value_name = "PATH")]
    pub keep: Option<std::path::PathBuf>,
}
