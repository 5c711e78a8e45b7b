//! Faults: nova-purge killed (SIGKILL) at random moments, or its connection
//! ended by the server, on SQLite, MariaDB and PostgreSQL.
//!
//! A batch is one transaction, so whatever happens every instance must be
//! either whole (all its rows in every table exactly as before) or entirely
//! gone, no row may reference a vanished instance (live PCI inventory
//! excepted: it is host data and stays), nothing outside the purge set may
//! change, and no row may change or appear. A rerun must then finish the
//! job: every candidate gone but the blocked ones, everything else as it was.
//!
//! Modes:
//! - CI (default): 15 kill points and 3 lost connections per backend.
//! - Full: `NOVA_PURGE_KILL_POINTS=60` (any count) sets the kill points per
//!   backend, with one lost connection per 6 kill points, and twice the
//!   candidates per fill.
//!
//! `NOVA_PURGE_TEST_SEED` replays a run; every test prints its seed, and
//! the kill tests print where their kills landed (the last statement the
//! child had completed, from its sqlx debug log).
//!
//! Lost connections are tested on MariaDB and PostgreSQL only: SQLite has
//! no server to end a session. After a kill or a cut, the tests wait until
//! the server has let go of the child's sessions before they look: a COMMIT
//! the child had sent may still be landing, and the harness's snapshot reads
//! table by table (READ COMMITTED on PostgreSQL).
//!
//! Not covered: restarting the database server. The MariaDB and PostgreSQL
//! servers here are shared with the rest of the suite and with other work
//! on the machine; restarting them would fail unrelated tests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use nova_purge_tests::{
    nova_purge, populate, spawn_nova_purge, Admin, InstanceRows, Population, Presence, Rng, Run,
    Snapshot, Spawned, TestDb,
};
use purge_api::Backend;
use purge_fixture::Fixture;

const KILL_POINTS_VAR: &str = "NOVA_PURGE_KILL_POINTS";
const CI_KILL_POINTS: usize = 15;
const CI_LOST_CONNECTIONS: usize = 3;

/// Every statement the child runs, and the engine's batch events, go to its
/// stderr: the last one says where the kill landed.
const TRACE_STATEMENTS: (&str, &str) = ("RUST_LOG", "warn,purge_cli=debug,sqlx::query=debug");

/// Longer than any run here can take; a child still running then is hung.
const HANG: Duration = Duration::from_secs(120);

/// Kill points and lost connections per backend, and candidates per fill.
struct Mode {
    kill_points: usize,
    lost_connections: usize,
    candidates: u32,
}

impl Mode {
    fn from_env() -> Mode {
        match std::env::var(KILL_POINTS_VAR) {
            Ok(_) => {
                let kill_points = nova_purge_tests::env_count(KILL_POINTS_VAR, 0);
                Mode {
                    kill_points,
                    lost_connections: (kill_points / 6).max(CI_LOST_CONNECTIONS),
                    candidates: 400,
                }
            }
            Err(_) => Mode {
                kill_points: CI_KILL_POINTS,
                lost_connections: CI_LOST_CONNECTIONS,
                candidates: 200,
            },
        }
    }
}

// ---------------------------------------------------------------------------
// The database under test and its invariants
// ---------------------------------------------------------------------------

/// A test database full of purge candidates, and what a purge may do to it.
struct World {
    test_db: TestDb,
    fixture: Fixture,
    population: Population,
    next_label: u32,
    /// The database at the last (re)fill: every later state is checked
    /// against it.
    before: Snapshot,
    /// Which rows of `before` belong to which instance.
    rows: InstanceRows,
    purgeable: BTreeSet<String>,
}

impl World {
    async fn new(backend: Backend) -> World {
        let fixture = Fixture::full();
        let test_db = TestDb::with_fixture(backend, &fixture).await;
        let before = test_db.snapshot().await;
        World {
            test_db,
            fixture,
            population: Population::default(),
            next_label: 0,
            rows: InstanceRows::of(&before),
            before,
            purgeable: BTreeSet::new(),
        }
    }

    /// Adds `candidates` more old deleted instances (and their live, young,
    /// restorable and blocked neighbours), then takes a new reference
    /// snapshot.
    async fn fill(&mut self, candidates: u32) {
        let added = populate(&self.test_db, &self.fixture, candidates, self.next_label).await;
        self.next_label += candidates * 2;
        self.purgeable.extend(added.purgeable.iter().cloned());
        self.population.extend(added);
        self.before = self.test_db.snapshot().await;
        self.rows = InstanceRows::of(&self.before);
    }

    /// `purge --yes --format json --batch-size N`, plus `extra` arguments
    /// before the subcommand.
    fn purge_args(&self, extra: &[&str], batch_size: u64) -> Vec<String> {
        let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        args.extend(
            [
                "--database-url",
                &self.test_db.url,
                "purge",
                "--yes",
                "--format",
                "json",
                "--batch-size",
                &batch_size.to_string(),
            ]
            .map(str::to_owned),
        );
        args
    }

    /// Checks the invariants that must hold at any moment against the
    /// reference snapshot, and returns how many candidates are left.
    fn check(&self, after: &Snapshot, context: &str) -> usize {
        let added = self.before.added_in(after);
        assert!(
            added.is_empty(),
            "{context}: rows changed or appeared: {added:#?}"
        );
        let lost = self.rows.lost_permanent_rows(after);
        assert!(
            lost.is_empty(),
            "{context}: shared rows or live PCI inventory removed: {lost:#?}"
        );
        let mut remaining = 0;
        for uuid in self.rows.owned.keys() {
            match self.rows.presence(uuid, after) {
                Presence::Whole => remaining += usize::from(self.purgeable.contains(uuid)),
                Presence::Gone => assert!(
                    self.purgeable.contains(uuid),
                    "{context}: instance {uuid} is gone but was not a purge candidate"
                ),
                Presence::Partial { present, total } => panic!(
                    "{context}: instance {uuid} is half purged: {present} of its {total} rows \
                     left; missing: {:#?}",
                    self.missing_rows(uuid, after)
                ),
            }
        }
        let orphans = nova_purge_tests::orphans(after);
        assert!(orphans.is_empty(), "{context}: orphans: {orphans:#?}");
        remaining
    }

    fn missing_rows(&self, uuid: &str, after: &Snapshot) -> Vec<String> {
        self.rows.owned[uuid]
            .iter()
            .filter(|(table, row)| !after.rows(table).contains(row))
            .map(|(table, row)| format!("{table}: {row:?}"))
            .collect()
    }

    /// After a run to completion: exactly the reference snapshot without
    /// the rows of its purgeable instances, and a report that skipped
    /// exactly the blocked ones.
    fn assert_final(&self, after: &Snapshot, report: &serde_json::Value) {
        let mut expected = self.before.clone();
        for uuid in self
            .purgeable
            .iter()
            .filter(|u| self.rows.owned.contains_key(*u))
        {
            for (table, row) in &self.rows.owned[uuid] {
                expected.tables.get_mut(table).expect("table").remove(row);
            }
        }
        if *after != expected {
            panic!(
                "final state differs from the expected one.\nmissing: {:#?}\nunexpected: {:#?}",
                expected.removed_in(after),
                expected.added_in(after)
            );
        }
        let skipped: BTreeSet<String> = report["skipped_instances"]
            .as_array()
            .expect("skipped_instances")
            .iter()
            .map(|s| s["uuid"].as_str().expect("uuid").to_owned())
            .collect();
        let blocked: BTreeSet<String> = self.population.blocked.iter().cloned().collect();
        assert_eq!(skipped, blocked, "skipped instances: {report}");
    }

    /// Runs the purge to completion and checks the final state.
    async fn finish(&self, rng: &mut Rng) {
        let args = self.purge_args(&[], rng.between(1, 5));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = nova_purge(&args, &[]);
        assert_eq!(run.code, 0, "final run: {run:?}");
        let after = self.test_db.snapshot().await;
        self.assert_final(&after, &run.json());
    }
}

// ---------------------------------------------------------------------------
// Timing: when to kill
// ---------------------------------------------------------------------------

/// How long the binary takes here: start-up (process, connection, schema
/// inspection, first candidate read) and one batch transaction. From these,
/// the length of a full run is `startup + batches × per_batch`.
struct Pace {
    startup: Duration,
    per_batch: Duration,
}

impl Pace {
    /// Times a run with nothing to purge, then a real run over a small
    /// calibration set of candidates (which it purges, before the reference
    /// snapshot is taken).
    async fn measure(world: &mut World) -> Pace {
        let nothing = world.purge_args(&[], 3);
        let mut nothing: Vec<&str> = nothing.iter().map(String::as_str).collect();
        nothing.extend(["--older-than", "36500"]);
        let started = Instant::now();
        let run = nova_purge(&nothing, &[TRACE_STATEMENTS]);
        let startup = started.elapsed();
        assert_eq!(run.code, 0, "{run:?}");

        world.fill(30).await;
        let args = world.purge_args(&[], 3);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let run = nova_purge(&args, &[TRACE_STATEMENTS]);
        let elapsed = started.elapsed();
        assert_eq!(run.code, 0, "calibration run: {run:?}");
        let batches = run.json()["batches"].as_u64().expect("batches").max(1);
        let per_batch = elapsed.saturating_sub(startup) / batches as u32;
        Pace {
            startup,
            per_batch: per_batch.max(Duration::from_millis(1)),
        }
    }

    fn full_run(&self, candidates: u32, batch_size: u64) -> Duration {
        self.startup + self.per_batch * candidates.div_ceil(batch_size as u32)
    }

    /// Corrects the time per batch from what a killed run got done: the
    /// calibration runs while other tests load the machine, or don't.
    fn observe(&mut self, delay: Duration, batches_done: u32) {
        if batches_done > 0 && delay > self.startup {
            let sample = (delay - self.startup) / batches_done;
            self.per_batch = (self.per_batch * 3 + sample) / 4;
        }
    }

    /// A random moment to kill a run of `batch_size` that should purge
    /// about `instances` candidates on average: one time in six during
    /// start-up, otherwise anywhere up to twice that much work into it.
    fn kill_delay(&self, rng: &mut Rng, batch_size: u64, instances: u32) -> Duration {
        if rng.chance(1.0 / 6.0) {
            return rng.duration_below(self.startup);
        }
        let batches = f64::from(instances) / batch_size as f64;
        self.startup + rng.duration_below(self.per_batch.mul_f64(2.0 * batches))
    }
}

/// Where a kill landed: the last statement the child had completed (sqlx
/// logs each one when it finishes), or start-up if no candidate had been
/// read yet.
fn kill_phase(stderr: &str) -> String {
    let statements: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("summary=\""))
        .collect();
    let Some(first_candidates) = statements.iter().position(|s| s.contains(" LIMIT ")) else {
        return "start-up (connect, inspect)".to_owned();
    };
    let last = statements[first_candidates..]
        .last()
        .expect("at least the candidate read");
    // summary="DELETE FROM \"tags\" WHERE …" db.statement=...
    let summary = last
        .split("summary=\"")
        .nth(1)
        .and_then(|rest| rest.split(" db.statement=").next())
        .unwrap_or("?")
        .replace(['`', '"', '\\'], "");
    let words: Vec<&str> = summary.split_whitespace().collect();
    match words.as_slice() {
        // The last statement of a batch: the kill landed during COMMIT.
        ["DELETE", "FROM", "instances", ..] => {
            "after DELETE FROM instances (committing)".to_owned()
        }
        ["DELETE", "FROM", table, ..] => format!("after DELETE FROM {table}"),
        ["BEGIN", ..] => "after BEGIN".to_owned(),
        ["COMMIT", ..] => "after COMMIT".to_owned(),
        ["ROLLBACK", ..] => "after the candidate read's ROLLBACK".to_owned(),
        _ if last.contains(" LIMIT ") => "after reading candidates".to_owned(),
        _ if last.contains("fixed_ips") => "after checking blockers".to_owned(),
        _ if last.contains(" IN (") || last.contains("ANY(") => {
            "after locking the batch".to_owned()
        }
        _ => format!("after {summary}"),
    }
}

// ---------------------------------------------------------------------------
// Kills
// ---------------------------------------------------------------------------

/// What the kills hit, for the summary.
#[derive(Default)]
struct Tally {
    kills: usize,
    phases: BTreeMap<String, usize>,
    finished_before_kill: usize,
    fills: usize,
}

/// SIGKILLs purges at random moments, checks the invariants after each
/// kill, restarts, and at the end runs to completion.
async fn kill_at_random_moments(backend: Backend) {
    let mode = Mode::from_env();
    let mut rng = Rng::from_env(&format!(
        "faults::kill_at_random_moments {}",
        backend.name()
    ));
    let started = Instant::now();
    let mut world = World::new(backend).await;
    let mut pace = Pace::measure(&mut world).await;
    world.fill(mode.candidates).await;
    let setup = started.elapsed();
    // To see when the server has finished with a killed child's sessions.
    let mut admin = match backend {
        Backend::Sqlite => None,
        _ => Some(Admin::connect(backend).await),
    };
    eprintln!(
        "{}: start-up {:?}, {:?} per batch: a full run of {} candidates at batch size 3 ≈ {:?}",
        backend.name(),
        pace.startup,
        pace.per_batch,
        mode.candidates,
        pace.full_run(mode.candidates, 3),
    );
    // Spread the kills over the whole purge: each run should purge about
    // this many candidates before its kill, so that the kills walk through
    // the set from its first batch to its last.
    let per_kill = (mode.candidates / (mode.kill_points as u32 + 1)).max(2);
    let mut remaining = world.purgeable.len();
    let mut tally = Tally::default();
    let mut attempts = 0;
    while tally.kills < mode.kill_points {
        attempts += 1;
        assert!(
            attempts <= 4 * mode.kill_points,
            "too many runs finished before their kill"
        );
        if remaining < per_kill as usize * 2 {
            world.fill(mode.candidates / 2).await;
            tally.fills += 1;
        }
        let batch_size = rng.between(1, 5);
        let delay = pace.kill_delay(&mut rng, batch_size, per_kill);
        let harness_sessions = match admin.as_mut() {
            Some(admin) => admin.sessions(&world.test_db.name).await,
            None => Vec::new(),
        };
        let args = world.purge_args(&[], batch_size);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = spawn_nova_purge(&args, &[TRACE_STATEMENTS]);
        tokio::time::sleep(delay).await;
        let (run, killed) = child.kill();
        if let Some(admin) = admin.as_mut() {
            admin
                .wait_for_others_to_leave(&world.test_db.name, &harness_sessions)
                .await;
        }
        let context = format!(
            "{} kill {} (batch size {batch_size}, after {delay:?})",
            backend.name(),
            tally.kills + 1
        );
        let after = world.test_db.snapshot().await;
        let before_run = remaining;
        remaining = world.check(&after, &context);
        let purged = before_run.saturating_sub(remaining) as u32;
        pace.observe(delay, purged.div_ceil(batch_size as u32));
        if killed {
            tally.kills += 1;
            *tally.phases.entry(kill_phase(&run.stderr)).or_default() += 1;
        } else {
            assert_eq!(run.code, 0, "{context}: finished by itself, but: {run:?}");
            tally.finished_before_kill += 1;
        }
    }
    world.finish(&mut rng).await;
    eprintln!(
        "{}: {} kill points in {:?} (setup {setup:?}); {} runs finished before their kill; \
         {} refills; where the kills landed: {:#?}",
        backend.name(),
        tally.kills,
        started.elapsed(),
        tally.finished_before_kill,
        tally.fills,
        tally.phases
    );
}

// ---------------------------------------------------------------------------
// Lost connections
// ---------------------------------------------------------------------------

/// Ends every session of the child from the server side, again and again,
/// until the child exits: its pool may replace an idle connection that was
/// ended, but not the one holding its transaction. Returns the sessions
/// ended and the child's output.
async fn end_sessions_until_exit(
    admin: &mut Admin,
    database: &str,
    harness_sessions: &[i64],
    mut child: Spawned,
) -> (usize, Run) {
    let mut ended = 0;
    while !child.has_exited() {
        assert!(child.started.elapsed() < HANG, "nova-purge hung");
        for id in admin.sessions(database).await {
            if !harness_sessions.contains(&id) {
                admin.end_session(id).await;
                ended += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (ended, child.wait())
}

/// Ends the purge's connections from the server side mid-run: a clean
/// one-line error, exit code 1, invariants intact; a rerun then finishes.
async fn lose_the_connection_mid_run(backend: Backend) {
    let mode = Mode::from_env();
    let mut rng = Rng::from_env(&format!(
        "faults::lose_the_connection_mid_run {}",
        backend.name()
    ));
    let started = Instant::now();
    let mut world = World::new(backend).await;
    let pace = Pace::measure(&mut world).await;
    let candidates = mode.candidates / 2;
    world.fill(candidates).await;
    let mut admin = Admin::connect(backend).await;
    let mut remaining = world.purgeable.len();
    let mut messages = BTreeMap::<String, usize>::new();
    let (mut cuts, mut finished_first) = (0, 0);
    while cuts < mode.lost_connections {
        assert!(
            finished_first <= 2 * mode.lost_connections,
            "too many runs finished before their connection was cut"
        );
        if remaining < 20 {
            world.fill(candidates).await;
            remaining = world.purgeable.len();
        }
        // The harness's own pool is idle while the child runs: any other
        // session on the test database is the child's.
        let harness_sessions = admin.sessions(&world.test_db.name).await;
        let batch_size = rng.between(1, 3);
        let args = world.purge_args(&["-q"], batch_size);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = spawn_nova_purge(&args, &[]);
        // Somewhere in its first few batches, well before its end.
        let batches = (remaining as u64 / batch_size / 2).clamp(1, 10) as u32;
        let delay = pace.startup + rng.duration_below(pace.per_batch * batches);
        tokio::time::sleep(delay).await;
        let (ended, run) =
            end_sessions_until_exit(&mut admin, &world.test_db.name, &harness_sessions, child)
                .await;
        admin
            .wait_for_others_to_leave(&world.test_db.name, &harness_sessions)
            .await;
        let context = format!(
            "{} lost connection {} (batch size {batch_size}, after {delay:?}, {ended} sessions ended)",
            backend.name(),
            cuts + 1
        );
        let after = world.test_db.snapshot().await;
        remaining = world.check(&after, &context);
        if run.code == 0 {
            // It finished first (or only lost an idle connection, which its
            // pool replaced): nothing to learn here, try again.
            assert_eq!(
                remaining, 0,
                "{context}: exit 0 with candidates left: {run:?}"
            );
            finished_first += 1;
            continue;
        }
        assert_eq!(run.code, 1, "{context}: exit code: {run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("error: "),
            "{context}: stderr is not one `error: ` line: {:?}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{context}: a report after an error");
        *messages.entry(lines[0].to_owned()).or_default() += 1;
        cuts += 1;
    }
    world.finish(&mut rng).await;
    eprintln!(
        "{}: {cuts} lost connections in {:?} ({finished_first} runs finished before the cut); \
         messages: {messages:#?}",
        backend.name(),
        started.elapsed()
    );
}

#[tokio::test]
async fn kill_at_random_moments_sqlite() {
    kill_at_random_moments(Backend::Sqlite).await;
}

#[tokio::test]
async fn kill_at_random_moments_mariadb() {
    kill_at_random_moments(Backend::MySql).await;
}

#[tokio::test]
async fn kill_at_random_moments_postgresql() {
    kill_at_random_moments(Backend::Postgres).await;
}

#[tokio::test]
async fn lose_the_connection_mid_run_mariadb() {
    lose_the_connection_mid_run(Backend::MySql).await;
}

#[tokio::test]
async fn lose_the_connection_mid_run_postgresql() {
    lose_the_connection_mid_run(Backend::Postgres).await;
}
