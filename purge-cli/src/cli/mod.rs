//! The command line, defined once: parsing, `--help`, the man pages and the
//! shell completions all come from these types. Options shared by several
//! commands are `#[command(flatten)]` groups, so each is written once.

pub mod exit;

use std::path::PathBuf;

pub use clap_complete::Shell;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use purge_engine::limits::{
    DEFAULT_BATCH_SIZE, DEFAULT_JOBS, DEFAULT_OLDER_THAN_DAYS, MAX_BATCH_SIZE, MAX_BATCH_TIME,
    MAX_JOBS, MAX_LOCK_TIMEOUT, MAX_OLDER_THAN_DAYS, MAX_SLEEP,
};

use exit::{ExitStatus, Outcomes};

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

const CREATE_INDEXES_ABOUT: &str = "\
Create the indexes whose absence `nova-purge check` reports (its
missing-index findings), so that each purge batch finds its rows by index
instead of scanning a table. Opt-in: `purge` never changes the schema.

Each index is named nova_purge_<table>_<column> and built without blocking
Nova's writes: CREATE INDEX CONCURRENTLY on PostgreSQL; ALTER TABLE ... ADD
INDEX ..., ALGORITHM=INPLACE, LOCK=NONE on MariaDB/MySQL (the server refuses
rather than lock the table); a plain CREATE INDEX on SQLite. --lock-timeout
bounds every wait for a lock, so that Nova's statements never queue behind a
build for long. A Galera node is refused unless --galera-rsu is given. A
rerun finds nothing to do. Run --dry-run first: it prints every statement.";

#[derive(Debug, Parser)]
#[command(
    name = "nova-purge",
    bin_name = "nova-purge",
    version,
    about = "Purge long-deleted instances from OpenStack Nova databases",
    after_help = ExitStatus::help(Outcomes::Any)
)]
pub struct Cli {
    #[command(flatten)]
    pub databases: DatabaseArgs,

    #[command(flatten)]
    pub logging: LogArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Where the databases are: URLs, or nova.conf.
#[derive(Debug, Args)]
#[command(next_help_heading = "Databases (any command)")]
pub struct DatabaseArgs {
    /// Nova cell database: mysql://USER:PASS@HOST/DB, postgresql://USER:PASS@HOST/DB or sqlite://PATH (overrides nova.conf)
    #[arg(
        long,
        global = true,
        env = "NOVA_PURGE_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// Nova API database (cell_mappings, instance_mappings, ...), same URL forms
    #[arg(
        long,
        global = true,
        env = "NOVA_PURGE_API_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub api_database_url: Option<String>,

    /// A MariaDB/MySQL replica of the cell database, whose lag a purge watches (see --max-replication-lag; repeatable; overrides [database]/slave_connection)
    #[arg(long, global = true, value_name = "URL")]
    pub replica_url: Vec<String>,

    /// Read [database]/connection and [api_database]/connection from this nova.conf (repeatable; later files win)
    #[arg(long, global = true, value_name = "PATH")]
    pub config_file: Vec<PathBuf>,

    /// Also read every *.conf file of DIR, in name order, after the --config-file files (repeatable)
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Vec<PathBuf>,
}

impl DatabaseArgs {
    /// The same, as the engine takes it.
    pub fn sources(&self) -> purge_engine::Sources {
        purge_engine::Sources {
            database_url: self.database_url.clone(),
            api_database_url: self.api_database_url.clone(),
            config_files: self.config_file.clone(),
            config_dirs: self.config_dir.clone(),
            replica_urls: self.replica_url.clone(),
        }
    }
}

/// How much is logged on stderr.
#[derive(Debug, Args)]
#[command(next_help_heading = "Logging (any command)")]
pub struct LogArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less log output on stderr (-q errors only, -qq nothing)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Log lines on stderr as text, or as one JSON object per line (progress too; never prompts)
    #[arg(long, global = true, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `--log-format`: how log lines on stderr look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Permanently delete soft-deleted instances and all their rows (try --dry-run first)
    #[command(
        visible_alias = "purge-deleted-instances",
        long_about = PURGE_WARNING,
        after_help = ExitStatus::help(Outcomes::Purge)
    )]
    Purge(PurgeArgs),
    /// Compare the database with the registered targets and count what a purge would remove; deletes nothing
    #[command(after_help = ExitStatus::help(Outcomes::Check))]
    Check(CheckArgs),
    /// Create the indexes `check` reports missing, without blocking Nova's writes (try --dry-run first)
    #[command(
        long_about = CREATE_INDEXES_ABOUT,
        after_help = ExitStatus::help(Outcomes::CreateIndexes)
    )]
    CreateIndexes(CreateIndexesArgs),
    /// Put back the rows a `purge --export` recorded (parents first, one transaction per batch)
    #[command(after_help = ExitStatus::help(Outcomes::Restore))]
    Restore(RestoreArgs),
    /// List the registered purge targets in execution order
    Targets(TargetsArgs),
    /// Create a throwaway SQLite database with sample Nova data and purge it
    Demo(DemoArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Print the man page (or write one per subcommand with --output-dir)
    Man(ManArgs),
}

/// A `--scope` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    Instances,
    Rows,
    TaskLog,
    Shadow,
    All,
}

impl ScopeArg {
    /// The scopes this value names.
    pub fn scopes(self) -> &'static [purge_api::Scope] {
        use purge_api::Scope;
        match self {
            ScopeArg::Instances => &[Scope::Instances],
            ScopeArg::Rows => &[Scope::Rows],
            ScopeArg::TaskLog => &[Scope::TaskLog],
            ScopeArg::Shadow => &[Scope::Shadow],
            ScopeArg::All => &Scope::ALL,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `--format`: the report on stdout.
#[derive(Debug, Args)]
pub struct FormatArg {
    /// Report format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `--older-than`: which deleted instances are old enough.
#[derive(Debug, Args)]
pub struct CutoffArg {
    /// Only instances deleted more than DAYS days ago (UTC), 0 to 36500
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = DEFAULT_OLDER_THAN_DAYS,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_OLDER_THAN_DAYS))
    )]
    pub older_than: u32,
}

/// `--all-cells` and `--cell`: which cells of the API database, instead of
/// the local cell database.
#[derive(Debug, Args)]
pub struct CellsArg {
    /// Every cell listed in the API database's cell_mappings, cell0 included
    #[arg(long, conflicts_with = "cell")]
    pub all_cells: bool,

    /// This cell of the API database (name or uuid; repeatable)
    #[arg(long, value_name = "NAME_OR_UUID")]
    pub cell: Vec<String>,
}

/// `--dry-run`: look, change nothing.
#[derive(Debug, Args)]
pub struct DryRunArg {
    /// Report what would be done; change nothing and take no write locks
    #[arg(long, visible_alias = "dry")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub cutoff: CutoffArg,

    #[command(flatten)]
    pub dry_run: DryRunArg,

    /// What to purge, a comma list: instances (the default: deleted instances with all their rows), rows (every other row Nova soft-deleted: metadata keys, services, compute nodes, aggregates, legacy tables...), task-log (task_log rows whose period ended before the cutoff), shadow (rows of the shadow_* tables nova-manage db archive_deleted_rows filled), all
    #[arg(
        long,
        value_name = "SCOPE,...",
        value_delimiter = ',',
        default_value = "instances"
    )]
    pub scope: Vec<ScopeArg>,

    /// With the shadow scope, also rows without a date (deleted_at empty; created_at or updated_at for the tables nova-manage db purge dates by those), which nova-manage db purge --all takes too
    #[arg(long)]
    pub undated_shadow_rows: bool,

    /// Purge at most N instances in this run, and at most N rows in each other scope (exit code 3 if more remain)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_number: Option<u64>,

    /// At most N instances per transaction (rows, in the other scopes), 1 to 10000; with --batch-time the size adapts below it
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_BATCH_SIZE as u64,
        value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH_SIZE as u64)
    )]
    pub batch_size: u64,

    /// How long one transaction should take, e.g. 500ms, 2s (at most 1m): the batch size follows the server's pace, smaller when it is busy and up to --batch-size when quiet, so that locks are held about that long; 0 keeps every batch at --batch-size
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "500ms",
        value_parser = parse_batch_time
    )]
    pub batch_time: Duration,

    #[command(flatten)]
    pub cells: CellsArg,

    /// With --all-cells or --cell, purge up to N cells at once, 1 to 64, each on its own connections. Two cells on the same database server (host and port) are never purged at the same time, as they would only double its load: N helps when cells live on separate servers. 1 purges them one after another
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_JOBS as u64,
        value_parser = clap::value_parser!(u64).range(1..=MAX_JOBS as u64)
    )]
    pub jobs: u64,

    /// Pause between batches, e.g. 500ms, 2s, 1m (at most 1h), to let replication and a busy cloud breathe
    #[arg(long, value_name = "DURATION", value_parser = parse_pause)]
    pub sleep: Option<Duration>,

    /// Before each batch, wait while a replica is further behind than this, e.g. 5s (at most 1h): MariaDB/MySQL replicas given by --replica-url or [database]/slave_connection (watched at 10s unless this says otherwise), PostgreSQL standbys as the primary sees them (watched only with this option)
    #[arg(long, value_name = "DURATION", value_parser = parse_pause)]
    pub max_replication_lag: Option<Duration>,

    /// Purge on without watching a replica or standby that cannot be reached, instead of stopping with an error
    #[arg(long)]
    pub ignore_unreachable_replicas: bool,

    /// Write every deleted row to PATH (JSON Lines, synced before each commit; never overwritten) for audits and `restore`; a directory gets a new nova-purge-<UTC time>.jsonl
    #[arg(long, value_name = "PATH", conflicts_with = "dry_run")]
    pub export: Option<PathBuf>,

    /// Write the run's Prometheus metrics to PATH for node_exporter's textfile collector (atomically; also when the run fails, not after bad usage)
    #[arg(long, value_name = "PATH", conflicts_with = "dry_run")]
    pub metrics_file: Option<PathBuf>,

    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(short, long)]
    pub yes: bool,

    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `purge --export`
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    #[command(flatten)]
    pub dry_run: DryRunArg,

    /// Also restore into a database of another backend or name than the one the rows were deleted from (a copy, say)
    #[arg(long)]
    pub allow_other_source: bool,

    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub cutoff: CutoffArg,

    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct CreateIndexesArgs {
    #[command(flatten)]
    pub dry_run: DryRunArg,

    #[command(flatten)]
    pub cells: CellsArg,

    /// How long a statement may wait for a lock before it gives up, e.g. 500ms, 3s (at most 1m; whole seconds on MariaDB/MySQL): Nova's statements on a table queue behind a build that waits
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "3s",
        value_parser = parse_lock_timeout
    )]
    pub lock_timeout: Duration,

    /// On a Galera node, build with wsrep_OSU_method=RSU: on this node only, which applies the others' writes once done; run it against each node in turn (without it, a Galera node is refused)
    #[arg(long)]
    pub galera_rsu: bool,

    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(short, long)]
    pub yes: bool,

    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo database at PATH (must not exist) instead of a temporary file
    #[arg(long, value_name = "PATH")]
    pub keep: Option<PathBuf>,
}

/// `nova-purge completions SHELL`
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// `nova-purge man [--output-dir DIR]`
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write nova-purge.1 and a page per subcommand (nova-purge-purge.1, ...) into DIR instead of printing nova-purge.1
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// Parses `500ms`, `2s`, `1.5s`, `1m`: a number and a unit, at most an hour.
fn parse_pause(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or("give a unit: ms, s or m (for example 500ms)")?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a number followed by ms, s or m (for example 500ms)".to_owned())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("unknown unit `{unit}`; use ms, s or m")),
    };
    if !(0.0..=MAX_SLEEP.as_secs_f64()).contains(&seconds) {
        return Err("the pause must be between 0 and 1h".to_owned());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `--batch-time`: a duration as for `--sleep`, at most a minute.
fn parse_batch_time(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let time = parse_pause(text)?;
    if time > MAX_BATCH_TIME {
        return Err("the batch time must be at most 1m (0 turns it off)".to_owned());
    }
    Ok(time)
}

/// `--lock-timeout`: a duration as for `--sleep`, more than 0 (which means
/// "wait for ever" to PostgreSQL) and at most a minute.
fn parse_lock_timeout(text: &str) -> Result<Duration, String> {
    let out_of_range = || "the lock timeout must be more than 0 and at most 1m".to_owned();
    if text == "0" {
        return Err(out_of_range());
    }
    let time = parse_pause(text)?;
    if time.is_zero() || time > MAX_LOCK_TIMEOUT {
        return Err(out_of_range());
    }
    Ok(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_take_a_number_and_a_unit() {
        assert_eq!(parse_pause("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_pause("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_pause("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_pause("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "5", "ms", "2h", "-1s", "1e9s", "9999m", "1..2s"] {
            assert!(parse_pause(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn batch_times_are_durations_up_to_a_minute_or_zero() {
        assert_eq!(parse_batch_time("0"), Ok(Duration::ZERO));
        assert_eq!(parse_batch_time("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_batch_time("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "500", "61s", "2m", "-1s", "fast"] {
            assert!(parse_batch_time(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from(["nova-purge", "purge"]).expect("parses");
        let Command::Purge(args) = cli.command else {
            panic!("not a purge")
        };
        assert_eq!(args.batch_time, purge_engine::limits::DEFAULT_BATCH_TIME);
    }

    #[test]
    fn lock_timeouts_are_short_durations() {
        assert_eq!(parse_lock_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_lock_timeout("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "0", "0s", "3", "61s", "1h"] {
            assert!(parse_lock_timeout(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from(["nova-purge", "create-indexes"]).expect("parses");
        let Command::CreateIndexes(args) = cli.command else {
            panic!("not create-indexes")
        };
        assert_eq!(
            args.lock_timeout,
            purge_engine::limits::DEFAULT_LOCK_TIMEOUT
        );
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
