//! Compatibility with the real thing: nova-purge on the schema that
//! OpenStack Nova 34.0.0's own migrations create and on rows written through
//! Nova's own DB API (tests/nova-compat), on MariaDB, PostgreSQL and SQLite.
//!
//! The hand-written fixture (purge-cli/src/fixture) is what the rest of the
//! suite uses; this file proves that the assumptions it encodes hold for
//! what Nova really writes, and that Nova's own archiver still works on a
//! database nova-purge has been through.
//!
//! Needs Python 3.11 and network access the first time (tests/nova-compat/
//! venv.sh installs Nova into a cached venv, ~30 s once, then instant).
//! Each test takes 12-20 s: Nova's schema sync alone is ~5 s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nova_purge_tests::registered::targets_without_their_table;
use nova_purge_tests::{nova_purge, purge_json, Row, Snapshot, TestDb};
use purge_api::{Backend, DatabaseKind};
use serde_json::Value;

#[tokio::test]
async fn nova_compat_sqlite() {
    nova_compat(Backend::Sqlite).await;
}

#[tokio::test]
async fn nova_compat_mariadb() {
    nova_compat(Backend::MySql).await;
}

#[tokio::test]
async fn nova_compat_postgresql() {
    nova_compat(Backend::Postgres).await;
}

/// Old deleted instances that nothing holds back. `blocked_share_mapping`
/// is one of them: its dangling share_mapping row points at a deleted
/// instance, and share_mapping is a purge target, so the row goes with it
/// (it is Nova's own archiver that trips over such a row, not a purge).
const PURGED_FIRST: [&str; 5] = [
    "old_deleted_1",
    "old_deleted_2",
    "old_deleted_3",
    "old_deleted_4",
    "blocked_share_mapping",
];
/// Old and deleted, but a live legacy fixed_ips row references it, and no
/// target covers fixed_ips: skipped until an operator removes that row.
const BLOCKED: &str = "blocked_fixed_ip";
/// Never candidates: not deleted, restorable (vm_state soft-delete with
/// deleted = 0) or deleted too recently.
const NEVER_PURGED: [&str; 4] = ["live_1", "live_2", "soft_deleted", "young_deleted"];

async fn nova_compat(backend: Backend) {
    let mut clock = StepClock::new(backend);
    let venv = nova_venv();
    clock.step("venv.sh");
    let nova = NovaDatabases::create(backend, &venv, &mut clock).await;
    let cell = &nova.cell;

    let api_before = nova.api.snapshot().await;
    let report = first_purge(&nova).await;
    clock.step("dry run + purge + checks");

    let unchanged = cell.snapshot().await;
    let rerun = purge(cell, &["--yes"]);
    assert_eq!(rerun["instances"], 0, "a rerun purged more: {rerun}");
    assert_eq!(skipped_uuids(&rerun), [nova.uuid(BLOCKED)], "{rerun}");
    assert_eq!(
        cell.snapshot().await,
        unchanged,
        "a rerun changed something"
    );
    clock.step("rerun");

    purge_after_unblocking(&nova).await;
    clock.step("unblock + purge");

    // nova-purge is given the cell database only; the API database is
    // Nova's, with mappings and request specs that outlive the instances.
    assert_eq!(
        nova.api.snapshot().await,
        api_before,
        "nova-purge changed the API database"
    );

    api_rows_cleaned_through_nova_conf(&nova).await;
    clock.step("purge --config-file nova.conf --all-cells");

    nova_archive_after_purge(&nova, &venv, &report).await;
    clock.step("nova-manage db archive_deleted_rows");
    clock.finish();
}

/// Step 3: dry run (changes nothing), real run (removes exactly the rows of
/// the purgeable instances). Returns the real run's report.
async fn first_purge(nova: &NovaDatabases) -> Value {
    let cell = &nova.cell;
    let before = cell.snapshot().await;

    let dry = purge(cell, &["--dry-run"]);
    assert_eq!(
        cell.snapshot().await,
        before,
        "the dry run changed the database"
    );
    let report = purge(cell, &["--yes"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(report["dry_run"], false);
    for field in ["instances", "tables", "skipped_instances"] {
        assert_eq!(
            dry[field], report[field],
            "the dry run predicted another {field}"
        );
    }

    let purged = nova.uuids(&PURGED_FIRST);
    assert_eq!(report["instances"], purged.len(), "{report}");
    assert_eq!(report["more_remaining"], false);
    // Every table of Nova 34 that a target names exists in the real schema:
    // only a target a developer added for a table Nova 34 lacks is skipped.
    assert_eq!(
        report["skipped_targets"],
        serde_json::json!(targets_without_their_table(cell, DatabaseKind::Cell).await),
        "{report}"
    );
    // Nova's rows reach every target: each one deleted something.
    for (table, rows) in report["tables"].as_object().expect("tables") {
        assert!(rows.as_u64() > Some(0), "{table}: nothing purged: {report}");
    }
    assert_blocked_by_fixed_ip(nova, &report);

    let after = cell.snapshot().await;
    assert_purged_exactly(&before, &after, &purged, &report);
    assert_untouched(&before, &after, &nova.uuids(&kept_labels()));
    assert_special_rows(nova, &before, &after);
    report
}

/// The blocked instance is reported, with the table.column that holds it.
fn assert_blocked_by_fixed_ip(nova: &NovaDatabases, report: &Value) {
    assert_eq!(skipped_uuids(report), [nova.uuid(BLOCKED)], "{report}");
    let reason = report["skipped_instances"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("fixed_ips.instance_uuid"),
        "the reason does not name fixed_ips.instance_uuid: {reason}"
    );
}

/// What only Nova's data has: the exact rows of the legacy and leftover
/// tables, and the PCI inventory that must survive its instance.
fn assert_special_rows(nova: &NovaDatabases, before: &Snapshot, after: &Snapshot) {
    let removed = before.removed_in(after);
    let removed_ids = |table: &str, column: &str| -> Vec<String> {
        let mut ids: Vec<String> = removed
            .get(table)
            .into_iter()
            .flatten()
            .filter_map(|row| row[column].clone())
            .collect();
        ids.sort();
        ids
    };
    // The dangling share_mapping of blocked_share_mapping, and no mapping of
    // an instance that is still there.
    assert_eq!(
        removed_ids("share_mapping", "instance_uuid"),
        [nova.uuid("blocked_share_mapping")]
    );
    // The legacy console goes; its pool is shared and stays (no change
    // anywhere else is checked by assert_purged_exactly).
    let console = &nova.fill["extras"]["console"];
    assert_eq!(
        removed_ids("consoles", "id"),
        [console["console_id"].to_string()]
    );
    // Leftovers of older releases: the tag and the console token.
    let leftovers = nova.uuid("old_deleted_4");
    assert!(removed["tags"]
        .iter()
        .any(|row| row["tag"].as_deref() == Some("left-over")
            && row["resource_id"].as_deref() == Some(leftovers.as_str())));
    assert_eq!(
        removed_ids("console_auth_tokens", "instance_uuid"),
        [leftovers]
    );
    // PCI: the soft-deleted device goes, the live one naming the same
    // instance is host inventory and stays.
    let pci = &nova.fill["extras"]["pci"];
    assert_eq!(
        removed_ids("pci_devices", "id"),
        [pci["deleted_device_id"].to_string()]
    );
    let purged = nova.uuids(&PURGED_FIRST);
    let survivors: Vec<String> = surviving_mentions(after, &purged)
        .into_iter()
        .filter_map(|(table, row)| {
            assert_eq!(table, "pci_devices");
            row["id"].clone()
        })
        .collect();
    assert_eq!(survivors, [pci["live_device_id"].to_string()]);
}

/// Step 5: the operator removes the legacy row that blocks an instance (as
/// after checking that nova-network is long gone); the next run purges it.
async fn purge_after_unblocking(nova: &NovaDatabases) {
    let cell = &nova.cell;
    let fixed_ip = &nova.fill["extras"]["fixed_ip"]["fixed_ip_id"];
    cell.execute(&format!("DELETE FROM fixed_ips WHERE id = {fixed_ip}"))
        .await;
    let before = cell.snapshot().await;
    let report = purge(cell, &["--yes"]);
    let unblocked = nova.uuids(&[BLOCKED]);
    assert_eq!(report["instances"], 1, "{report}");
    assert!(skipped_uuids(&report).is_empty(), "{report}");
    let after = cell.snapshot().await;
    assert_purged_exactly(&before, &after, &unblocked, &report);
    assert!(surviving_mentions(&after, &unblocked).is_empty());
    assert_untouched(&before, &after, &nova.uuids(&NEVER_PURGED));
    for label in PURGED_FIRST.iter().chain([&BLOCKED]) {
        assert!(
            after
                .rows_where("instances", "uuid", &nova.uuid(label))
                .is_empty(),
            "{label} is still there"
        );
    }
}

/// Step 5b, the way operators run it: Nova's own nova.conf (SQLAlchemy
/// URLs), every cell the API database lists. The cell was purged without
/// the API database, exactly what a run that died between its cell and API
/// commits leaves: the API rows of the purged instances (mappings queued for
/// delete by nova-api, request specs, group membership, the stray build
/// request) must go now, and every API row of an instance that still exists
/// must stay.
async fn api_rows_cleaned_through_nova_conf(nova: &NovaDatabases) {
    let before = nova.api.snapshot().await;
    let conf = nova.conf.display().to_string();
    let dry = nova_purge(
        &[
            "--config-file",
            &conf,
            "purge",
            "--all-cells",
            "--dry-run",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(
        nova.api.snapshot().await,
        before,
        "the dry run changed the API database"
    );
    let run = nova_purge(
        &[
            "--config-file",
            &conf,
            "purge",
            "--all-cells",
            "--yes",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(
        report["tables"],
        dry.json()["tables"],
        "the dry run predicted other counts"
    );
    assert_eq!(
        report["instances"], 0,
        "the cell was already purged: {report}"
    );
    assert_eq!(report["cells"][0]["name"], "cell1", "{report}");
    let gone: Vec<&str> = PURGED_FIRST.iter().copied().chain([BLOCKED]).collect();
    assert_eq!(report["api_leftovers"], gone.len(), "{report}");
    let after = nova.api.snapshot().await;
    assert!(
        before.added_in(&after).is_empty(),
        "API rows changed or appeared"
    );
    const API_TABLES: [&str; 4] = [
        "instance_mappings",
        "request_specs",
        "instance_group_member",
        "build_requests",
    ];
    for uuid in nova.uuids(&gone) {
        for table in API_TABLES {
            assert!(
                after.rows_where(table, "instance_uuid", &uuid).is_empty(),
                "{table} still holds {uuid}"
            );
        }
    }
    for uuid in nova.uuids(&NEVER_PURGED) {
        for table in ["instance_mappings", "request_specs"] {
            assert_eq!(
                after.rows_where(table, "instance_uuid", &uuid).len(),
                1,
                "{table} lost {uuid}"
            );
        }
    }
    let removed: usize = before.removed_in(&after).values().map(Vec::len).sum();
    let reported: u64 = API_TABLES
        .iter()
        .filter_map(|t| report["tables"][t].as_u64())
        .sum();
    assert_eq!(removed as u64, reported, "{report}");
}

/// Step 6: Nova's own archiver, with the purge's cutoff, must still run on
/// the purged database. No deleted instance older than the cutoff is left,
/// so all it may move are the old soft-deleted rows of instances that are
/// not deleted (fill.py's old_dropped_metadata): Nova moves them to their
/// shadow table, and nothing else may change.
///
/// The failures Nova 34 has of its own (tests/nova-compat/README.md) are not
/// reached here: on PostgreSQL it fails only when it has an *instance* to
/// archive (shadow_instances.locked_by enum type mismatch), on MariaDB only
/// when a consoles, fixed_ips or share_mapping row references an instance it
/// archives. After a full purge neither is the case, on every backend.
async fn nova_archive_after_purge(nova: &NovaDatabases, venv: &Path, report: &Value) {
    let before = nova.cell.snapshot().await;
    let api_before = nova.api.snapshot().await;
    let cutoff = nova_manage_date(report["cutoff"].as_str().expect("cutoff"));
    let out = run(
        Command::new(compat_dir().join("archive.sh"))
            .arg(&nova.conf)
            .arg(&cutoff)
            .env("NOVA_VENV", venv),
        "archive.sh (nova-manage db archive_deleted_rows)",
    );
    let after = nova.cell.snapshot().await;

    let old_dropped = nova.uuids(&labels(
        &nova.fill["extras"]["old_dropped_metadata"]["instances"],
    ));
    let removed = before.removed_in(&after);
    let added = before.added_in(&after);
    let moved = removed
        .get("instance_metadata")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        removed.keys().collect::<Vec<_>>(),
        ["instance_metadata"],
        "the archive removed other rows: {removed:#?}\n{out}"
    );
    assert_eq!(moved.len(), old_dropped.len(), "{moved:#?}\n{out}");
    for row in &moved {
        assert_ne!(row["deleted"].as_deref(), Some("0"), "{row:?}");
        assert!(mentions(row, &old_dropped), "{row:?}");
    }
    assert_eq!(
        added.keys().collect::<Vec<_>>(),
        ["shadow_instance_metadata"],
        "the archive added other rows: {added:#?}"
    );
    assert_eq!(added["shadow_instance_metadata"], moved);
    // No instance archived, so none of their API rows deleted either.
    assert_eq!(nova.api.snapshot().await, api_before);
}

/// Checks that exactly the rows of `purged` went: no row changed or
/// appeared; every removed row belonged to a purged instance (directly, or
/// as an event of a removed action); no row still references a purged
/// instance except live pci_devices inventory; and the per-table counts
/// equal the report's. (After tests/tests/it/purge.rs.)
fn assert_purged_exactly(before: &Snapshot, after: &Snapshot, purged: &[String], report: &Value) {
    let added = before.added_in(after);
    assert!(added.is_empty(), "rows changed or appeared: {added:#?}");
    let removed = before.removed_in(after);
    let removed_actions: Vec<String> = removed
        .get("instance_actions")
        .into_iter()
        .flatten()
        .filter_map(|row| row["id"].clone())
        .collect();
    for (table, rows) in &removed {
        for row in rows {
            let belongs = mentions(row, purged)
                || (table == "instance_actions_events"
                    && row["action_id"]
                        .as_ref()
                        .is_some_and(|id| removed_actions.contains(id)));
            assert!(
                belongs,
                "{table}: removed a row of no purged instance: {row:?}"
            );
            if table == "pci_devices" {
                assert_ne!(
                    row["deleted"].as_deref(),
                    Some("0"),
                    "removed live pci inventory: {row:?}"
                );
            }
        }
    }
    for (table, reported) in report["tables"].as_object().expect("tables") {
        let gone = removed.get(table).map_or(0, Vec::len);
        assert_eq!(
            reported.as_u64(),
            Some(gone as u64),
            "{table}: the report says {reported}, {gone} rows went"
        );
    }
    for table in removed.keys() {
        assert!(
            report["tables"].get(table).is_some(),
            "{table} lost rows the report does not count"
        );
    }
    for uuid in purged {
        assert!(after.rows_where("instances", "uuid", uuid).is_empty());
    }
    for (table, row) in surviving_mentions(after, purged) {
        assert!(
            table == "pci_devices" && row["deleted"].as_deref() == Some("0"),
            "{table} still holds a row of a purged instance: {row:?}"
        );
    }
}

/// Every row that names one of `kept` (and every event of their actions)
/// is exactly as it was.
fn assert_untouched(before: &Snapshot, after: &Snapshot, kept: &[String]) {
    for uuid in kept {
        assert_eq!(
            after.rows_where("instances", "uuid", uuid).len(),
            1,
            "instance {uuid} is gone"
        );
    }
    let theirs = |snapshot: &Snapshot| -> Vec<(String, Row)> {
        let actions: Vec<String> = snapshot
            .rows("instance_actions")
            .iter()
            .filter(|row| mentions(row, kept))
            .filter_map(|row| row["id"].clone())
            .collect();
        snapshot
            .tables
            .iter()
            .flat_map(|(table, rows)| rows.iter().map(move |row| (table, row)))
            .filter(|(table, row)| {
                mentions(row, kept)
                    || (*table == "instance_actions_events"
                        && row["action_id"]
                            .as_ref()
                            .is_some_and(|id| actions.contains(id)))
            })
            .map(|(table, row)| (table.clone(), row.clone()))
            .collect()
    };
    assert_eq!(
        theirs(before),
        theirs(after),
        "rows of kept instances changed"
    );
}

/// Rows anywhere in `snapshot` that name one of `uuids`.
fn surviving_mentions<'a>(snapshot: &'a Snapshot, uuids: &[String]) -> Vec<(&'a str, &'a Row)> {
    snapshot
        .tables
        .iter()
        .flat_map(|(table, rows)| rows.iter().map(move |row| (table.as_str(), row)))
        .filter(|(_, row)| mentions(row, uuids))
        .collect()
}

/// A row names an instance when one of its values is the instance's uuid.
fn mentions(row: &Row, uuids: &[String]) -> bool {
    row.values().flatten().any(|value| uuids.contains(value))
}

fn kept_labels() -> Vec<&'static str> {
    NEVER_PURGED.iter().copied().chain([BLOCKED]).collect()
}

fn labels(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list of labels")
        .iter()
        .map(|v| v.as_str().expect("a label"))
        .collect()
}

fn skipped_uuids(report: &Value) -> Vec<String> {
    report["skipped_instances"]
        .as_array()
        .expect("skipped_instances")
        .iter()
        .map(|s| s["uuid"].as_str().expect("uuid").to_owned())
        .collect()
}

/// Runs nova-purge on the cell database, requires exit 0, returns the report.
fn purge(cell: &TestDb, args: &[&str]) -> Value {
    let run = purge_json(cell, args);
    assert_eq!(run.code, 0, "nova-purge {args:?} failed: {run:?}");
    run.json()
}

/// The report's RFC 3339 cutoff as nova-manage's `--before` takes it
/// (`YYYY-MM-DD HH:MM:SS`, naive UTC like Nova's deleted_at).
fn nova_manage_date(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("cutoff {rfc3339}: {e}"))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A cell and an API database with Nova's schema and fill.py's rows, and
/// the nova.conf that names them.
struct NovaDatabases {
    cell: TestDb,
    api: TestDb,
    conf: PathBuf,
    /// fill.py's JSON summary.
    fill: Value,
}

impl NovaDatabases {
    async fn create(backend: Backend, venv: &Path, clock: &mut StepClock) -> NovaDatabases {
        let cell = TestDb::empty(backend).await;
        let api = TestDb::empty(backend).await;
        let (cell_url, api_url) = (sqlalchemy_url(&cell), sqlalchemy_url(&api));
        let conf = std::env::temp_dir().join(format!("{}.nova.conf", cell.name));
        let text = run(
            Command::new(compat_dir().join("conf.sh"))
                .arg(&cell_url)
                .arg(&api_url),
            "conf.sh",
        );
        std::fs::write(&conf, text).expect("write nova.conf");
        let mut nova = NovaDatabases {
            cell,
            api,
            conf,
            fill: Value::Null,
        };
        run(
            Command::new(compat_dir().join("sync.sh"))
                .args([backend.name(), &cell_url, &api_url])
                .env("NOVA_VENV", venv),
            "sync.sh (nova-manage api_db sync, db sync)",
        );
        clock.step("sync.sh");
        let summary = run(
            Command::new(venv.join("bin/python"))
                .arg(compat_dir().join("fill.py"))
                .arg("--config-file")
                .arg(&nova.conf),
            "fill.py",
        );
        nova.fill = serde_json::from_str(&summary)
            .unwrap_or_else(|e| panic!("fill.py printed no JSON ({e}):\n{summary}"));
        assert_eq!(nova.fill["backend"], backend.name(), "{summary}");
        clock.step("fill.py");
        nova
    }

    fn uuid(&self, label: &str) -> String {
        self.fill["instances"][label]
            .as_str()
            .unwrap_or_else(|| panic!("fill.py made no instance {label}"))
            .to_owned()
    }

    fn uuids(&self, labels: &[&str]) -> Vec<String> {
        labels.iter().map(|label| self.uuid(label)).collect()
    }
}

impl Drop for NovaDatabases {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.conf);
    }
}

/// The SQLAlchemy URL Nova needs for a test database: the harness's URL
/// (user, password and host from NOVA_PURGE_TEST_*, percent-encoding kept,
/// which SQLAlchemy decodes as well) with Nova's driver in the scheme.
fn sqlalchemy_url(db: &TestDb) -> String {
    let (scheme, rest) = db.url.split_once("://").expect("a URL");
    match db.backend {
        Backend::MySql => format!("mysql+pymysql://{rest}?charset=utf8"),
        Backend::Postgres => format!("postgresql+psycopg2://{rest}"),
        Backend::Sqlite => {
            assert!(rest.starts_with('/'), "{scheme}://{rest}: not absolute");
            format!("sqlite:///{rest}")
        }
    }
}

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("nova-compat")
}

/// The venv holding Nova 34.0.0, made once by venv.sh. No Nova, no test:
/// this fails rather than skips, so that a broken setup cannot pass.
fn nova_venv() -> PathBuf {
    let out = run(
        &mut Command::new(compat_dir().join("venv.sh")),
        "venv.sh (the Nova 34.0.0 venv these tests need; Python 3.11 and PyPI access required once)",
    );
    let venv = PathBuf::from(out.lines().last().unwrap_or_default().trim());
    assert!(
        venv.join("bin/python").is_file(),
        "venv.sh printed no usable venv path: {out}"
    );
    venv
}

/// Runs a helper to completion and returns its stdout; fails the test with
/// its output (passwords masked) when it does not exit 0.
fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        panic!(
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            mask_passwords(&stdout),
            mask_passwords(&stderr)
        );
    }
    stdout
}

/// Hides the test servers' passwords, should a helper echo a URL.
fn mask_passwords(text: &str) -> String {
    let mut text = text.to_owned();
    for var in ["NOVA_PURGE_TEST_MYSQL", "NOVA_PURGE_TEST_POSTGRES"] {
        let Ok(url) = std::env::var(var) else {
            continue;
        };
        let user_info = url
            .split_once("://")
            .and_then(|(_, rest)| rest.rsplit_once('@'))
            .map(|(user_info, _)| user_info.to_owned());
        if let Some((_, password)) = user_info.as_deref().and_then(|u| u.split_once(':')) {
            if !password.is_empty() {
                text = text.replace(password, "***");
            }
        }
    }
    text
}

/// Wall-clock time per step, printed at the end (visible with
/// `--nocapture` / `--no-capture`, and on failure).
struct StepClock {
    backend: Backend,
    started: Instant,
    last: Instant,
    steps: Vec<(&'static str, f64)>,
}

impl StepClock {
    fn new(backend: Backend) -> StepClock {
        let now = Instant::now();
        StepClock {
            backend,
            started: now,
            last: now,
            steps: Vec::new(),
        }
    }

    fn step(&mut self, name: &'static str) {
        let now = Instant::now();
        self.steps
            .push((name, now.duration_since(self.last).as_secs_f64()));
        self.last = now;
    }

    fn finish(&self) {
        println!(
            "nova_compat on {}: {:.1} s",
            self.backend.name(),
            self.started.elapsed().as_secs_f64()
        );
        for (name, seconds) in &self.steps {
            println!("  {seconds:6.2} s  {name}");
        }
    }
}
