//! Compatibility with the real thing: nova-purge on the schema that
//! OpenStack Nova 34.0.0's own migrations create and on rows written through
//! Nova's own DB API (tests/nova-compat), on MariaDB, PostgreSQL and SQLite.
//!
//! The hand-written fixture (purge-cli/src/fixture) is what the rest of the
//! suite uses; this file proves that the assumptions it encodes hold for
//! what Nova really writes, and that after `purge --scope all` Nova's own
//! `nova-manage db archive_deleted_rows --task-log` and `db purge --before`
//! (same cutoff) find nothing left to do. `create-indexes` creates what
//! `check` finds missing on that schema.
//!
//! Needs Python 3.11 and network access the first time (tests/nova-compat/
//! venv.sh installs Nova into a cached venv, ~30 s once, then instant).
//! Each test takes 18-25 s: Nova's schema sync alone is ~5 s, and each
//! nova-manage run ~3 s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDateTime;

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
    let first = first_purge(&nova).await;
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

    let unblocked = purge_after_unblocking(&nova).await;
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

    let all = purge_scope_all(&nova).await;
    clock.step("purge --all-cells --scope all: dry run + run + checks");

    let nova_runs = nova_finds_nothing(&nova, &venv, &all).await;
    clock.step("nova-manage db archive_deleted_rows + db purge");

    let undated = purge_undated_shadow_rows(&nova, &all).await;
    clock.step("purge --scope shadow --undated-shadow-rows");

    create_indexes_on_novas_schema(cell);
    clock.step("create-indexes");

    eprintln!(
        "{}",
        summary(backend, &[&first, &unblocked], &all, &nova_runs, &undated)
    );
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
async fn purge_after_unblocking(nova: &NovaDatabases) -> Value {
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
    report
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

/// Step 6: `purge --scope all`, the way operators run it (nova.conf, every
/// cell), after the instance purges above. The dry run changes nothing and
/// predicts every scope's figures; the run removes, row by row, only what
/// one of Nova's own rules takes at the cutoff (see [`scope_taking`]), all
/// of it but the soft-deleted aggregate that a live aggregate_hosts row
/// still references (kept and reported), and changes nothing else.
async fn purge_scope_all(nova: &NovaDatabases) -> Value {
    let cell = &nova.cell;
    let before = cell.snapshot().await;
    let api_before = nova.api.snapshot().await;

    let dry = purge_all_cells(nova, &["--scope", "all", "--dry-run"]);
    assert_eq!(
        cell.snapshot().await,
        before,
        "the dry run changed the cell"
    );
    assert_eq!(
        nova.api.snapshot().await,
        api_before,
        "the dry run changed the API database"
    );
    let report = purge_all_cells(nova, &["--scope", "all", "--yes"]);
    assert_same_prediction(&dry, &report);
    assert_eq!(
        report["purged_scopes"],
        serde_json::json!(["instances", "rows", "task-log", "shadow"]),
        "{report}"
    );
    assert_eq!(report["more_remaining"], false, "{report}");
    // The steps above purged every old deleted instance: this run's
    // instance scope has nothing left, so no API row goes either. (Not by
    // chance: with instances still to purge, the dry run's rows scope counts
    // their soft-deleted rows again, which the real run's instance scope
    // has removed by the time its rows scope runs; the dry run then
    // over-predicts the rows scope.)
    assert_eq!(report["instances"], 0, "{report}");
    assert!(skipped_uuids(&report).is_empty(), "{report}");

    let after = cell.snapshot().await;
    let cutoff = cutoff_of(&report);
    assert!(
        before.added_in(&after).is_empty(),
        "rows changed or appeared: {:#?}",
        before.added_in(&after)
    );
    assert_removed_by_nova_rules(&before, &after, cutoff, false, &report);
    assert_nothing_left(&after, cutoff, &report);
    assert_scope_all_rows(nova, &before, &after, &report);
    assert_eq!(
        nova.api.snapshot().await,
        api_before,
        "the API database changed"
    );
    report
}

/// The fill's own rows of the scopes, by id: exactly these went, the young
/// and the undated ones stayed, and the aggregate a live host row still
/// references stayed and was reported.
fn assert_scope_all_rows(
    nova: &NovaDatabases,
    before: &Snapshot,
    after: &Snapshot,
    report: &Value,
) {
    let x = &nova.fill["extras"];
    let id = |v: &Value| v.to_string();
    let (old_host, archived_old) = (
        &x["deleted_hosts"]["cmp-old"],
        &x["archived"]["hosts"]["cmp-archived-old"],
    );
    let aggregates = &x["aggregates"];
    let legacy = &x["legacy_deleted"];
    let removed = before.removed_in(after);
    let removed_ids: BTreeMap<&str, Vec<String>> = removed
        .iter()
        .filter(|(table, _)| *table != "instance_metadata")
        .map(|(table, rows)| {
            let mut ids: Vec<String> = rows.iter().filter_map(row_key).collect();
            ids.sort();
            (table.as_str(), ids)
        })
        .collect();
    let expected: BTreeMap<&str, Vec<String>> = [
        // rows: cmp-old's deleted service, its compute node and the PCI
        // device removed before it; agg-old with its host and metadata.
        ("services", vec![id(&old_host["service_id"])]),
        ("compute_nodes", vec![id(&old_host["compute_node_id"])]),
        ("pci_devices", vec![id(&old_host["pci_device_id"])]),
        ("aggregates", vec![id(&aggregates["deleted_id"])]),
        (
            "aggregate_hosts",
            ids_where(
                before,
                "aggregate_hosts",
                "aggregate_id",
                &aggregates["deleted_id"],
            ),
        ),
        (
            "aggregate_metadata",
            ids_where(
                before,
                "aggregate_metadata",
                "aggregate_id",
                &aggregates["deleted_id"],
            ),
        ),
        // task-log: the audit period that ended 200 days ago.
        ("task_log", vec![id(&x["task_log"]["old"])]),
        // shadow: what Nova's archiver moved 200 days ago, and the old
        // archived action and event (dated by created_at, as Nova does).
        ("shadow_services", vec![id(&archived_old["service_id"])]),
        (
            "shadow_compute_nodes",
            vec![id(&archived_old["compute_node_id"])],
        ),
        ("shadow_task_log", vec![id(&x["archived"]["task_log_id"])]),
        (
            "shadow_instance_actions",
            vec![id(&x["archived_actions"]["old"]["action_id"])],
        ),
        (
            "shadow_instance_actions_events",
            vec![id(&x["archived_actions"]["old"]["event_id"])],
        ),
        // rows: legacy tables whose `deleted` is a boolean, and a string.
        ("dns_domains", vec![text(&legacy["dns_domains"]["deleted"])]),
        ("snapshots", vec![text(&legacy["snapshots"]["deleted"])]),
    ]
    .into();
    assert_eq!(removed_ids, expected, "other rows went");
    // rows: the old dropped metadata keys of the instances that are still
    // there (live_1, live_2, soft_deleted).
    let old_dropped = nova.uuids(&labels(&x["old_dropped_metadata"]["instances"]));
    let metadata = removed
        .get("instance_metadata")
        .cloned()
        .unwrap_or_default();
    assert_eq!(metadata.len(), old_dropped.len(), "{metadata:#?}");
    assert!(
        metadata.iter().all(|row| mentions(row, &old_dropped)),
        "{metadata:#?}"
    );

    // Kept: the aggregate the live aggregate_hosts row references, with the
    // reason; the young deleted host, audit period and shadow rows, and the
    // live PCI device Nova's archiver dragged into shadow_pci_devices.
    let rows = &report["scopes"]["rows"];
    assert_eq!(rows["skipped_rows"], 1, "{rows}");
    let skipped = &rows["skipped"][0];
    assert_eq!(skipped["table"], "aggregates", "{rows}");
    assert_eq!(skipped["key"], id(&aggregates["referenced_id"]), "{rows}");
    assert!(
        skipped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("aggregate_hosts.aggregate_id")),
        "the reason does not name aggregate_hosts.aggregate_id: {rows}"
    );
    let young_host = &x["deleted_hosts"]["cmp-young"];
    let archived_young = &x["archived"]["hosts"]["cmp-archived-young"];
    for (table, row_id) in [
        ("aggregates", &aggregates["referenced_id"]),
        ("aggregate_hosts", &aggregates["live_host_id"]),
        ("services", &young_host["service_id"]),
        ("compute_nodes", &young_host["compute_node_id"]),
        ("task_log", &x["task_log"]["young"]),
        ("shadow_services", &archived_young["service_id"]),
        ("shadow_compute_nodes", &archived_young["compute_node_id"]),
        ("shadow_pci_devices", &archived_old["pci_device_id"]),
        (
            "shadow_instance_actions",
            &x["archived_actions"]["young"]["action_id"],
        ),
        (
            "shadow_instance_actions_events",
            &x["archived_actions"]["young"]["event_id"],
        ),
        ("snapshots", &legacy["snapshots"]["live"]),
    ] {
        let key = row_id.as_str().map_or_else(|| id(row_id), str::to_owned);
        assert_eq!(
            after.rows_where(table, "id", &key).len(),
            1,
            "{table} {row_id} is gone"
        );
    }
    let live_domain = text(&legacy["dns_domains"]["live"]);
    assert_eq!(
        after
            .rows_where("dns_domains", "domain", &live_domain)
            .len(),
        1,
        "dns_domains {live_domain} is gone"
    );
}

/// A JSON string's text.
fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

/// A row's primary key: `id`, or `domain` for dns_domains.
fn row_key(row: &Row) -> Option<String> {
    row.get("id")
        .or_else(|| row.get("domain"))
        .cloned()
        .flatten()
}

/// Ids of the rows of `table` whose `column` is `value`.
fn ids_where(snapshot: &Snapshot, table: &str, column: &str, value: &Value) -> Vec<String> {
    let mut ids: Vec<String> = snapshot
        .rows_where(table, column, &value.to_string())
        .into_iter()
        .filter_map(|row| row["id"].clone())
        .collect();
    ids.sort();
    ids
}

/// Step 7: Nova's own archive and purge, with the same cutoff, on every
/// cell: the archive (`--task-log` too) archives nothing and says so (exit
/// 0; 1 would mean it archived rows), the purge deletes nothing from the
/// shadow tables (exit 3), and neither database changes. On PostgreSQL this
/// also means the archive runs at all: Nova 34 fails there only when it has
/// an instance to archive (shadow_instances.locked_by's enum type).
///
/// The aggregate nova-purge kept is not Nova's either: aggregates are among
/// the tables Nova 34 no longer has models for (REMOVED_TABLES), which its
/// archiver skips.
async fn nova_finds_nothing(nova: &NovaDatabases, venv: &Path, report: &Value) -> Vec<NovaManage> {
    let before = nova.cell.snapshot().await;
    let api_before = nova.api.snapshot().await;
    let date = nova_manage_date(report["cutoff"].as_str().expect("cutoff"));
    let archive = nova_manage(
        venv,
        &nova.conf,
        &[
            "db",
            "archive_deleted_rows",
            "--before",
            &date,
            "--task-log",
            "--all-cells",
            "--until-complete",
            "--verbose",
        ],
    );
    assert_eq!(
        archive.code, 0,
        "Nova's archive archived rows (1) or failed: {archive}"
    );
    assert!(
        archive.stdout.contains("Nothing was archived."),
        "{archive}"
    );
    let purge = nova_manage(
        venv,
        &nova.conf,
        &["db", "purge", "--before", &date, "--all-cells", "--verbose"],
    );
    assert_eq!(
        purge.code, 3,
        "Nova's purge deleted shadow rows (0) or failed: {purge}"
    );
    assert!(!purge.stdout.contains("Deleted"), "{purge}");
    assert_eq!(nova.cell.snapshot().await, before, "Nova changed the cell");
    assert_eq!(
        nova.api.snapshot().await,
        api_before,
        "Nova changed the API database"
    );
    vec![archive, purge]
}

/// Step 8: `--undated-shadow-rows` (as `nova-manage db purge --all` takes
/// them) removes the one shadow row without a date, the live PCI device
/// Nova's archiver moved with its compute node, which every run before left
/// (Nova's `db purge --before` too); nothing else.
async fn purge_undated_shadow_rows(nova: &NovaDatabases, all: &Value) -> Value {
    let cell = &nova.cell;
    let before = cell.snapshot().await;
    let args = ["--scope", "shadow", "--undated-shadow-rows"];
    let dry = purge_all_cells(nova, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(
        cell.snapshot().await,
        before,
        "the dry run changed the cell"
    );
    let report = purge_all_cells(nova, &[&args[..], &["--yes"]].concat());
    assert_same_prediction(&dry, &report);
    let after = cell.snapshot().await;
    assert!(
        before.added_in(&after).is_empty(),
        "rows changed or appeared"
    );
    assert_removed_by_nova_rules(&before, &after, cutoff_of(&report), true, &report);
    let removed = before.removed_in(&after);
    let device =
        nova.fill["extras"]["archived"]["hosts"]["cmp-archived-old"]["pci_device_id"].to_string();
    assert_eq!(
        removed.keys().collect::<Vec<_>>(),
        ["shadow_pci_devices"],
        "{removed:#?}"
    );
    let rows = &removed["shadow_pci_devices"];
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["id"].as_deref(), Some(device.as_str()), "{rows:#?}");
    assert_eq!(rows[0]["deleted_at"], None, "{rows:#?}");
    assert_eq!(report["scopes"]["shadow"]["rows"], 1, "{report}");
    // The same cutoff, give or take the seconds between the runs.
    let gap = cutoff_of(&report) - cutoff_of(all);
    assert!(gap < chrono::Duration::minutes(5), "{gap}");
    report
}

/// The scope whose rule takes `row` of `table` at `cutoff`, by Nova's own
/// rules: `rows`, a row Nova soft-deleted (`deleted <> 0`, NULL is live)
/// before the cutoff, what `archive_deleted_rows --before` moves;
/// `task-log`, a task_log row whose period ended before it (Nova's archive
/// `--task-log` goes by updated_at, the end of the task, which comes after
/// the end of its period); `shadow`, a shadow row dated before it by the
/// column `db purge --before` uses (`undated`: or not dated, as `db purge
/// --all` takes it). None for a row no scope may take.
fn scope_taking(
    table: &str,
    row: &Row,
    cutoff: NaiveDateTime,
    undated: bool,
) -> Option<&'static str> {
    if table == "task_log" {
        return (date(row, "period_ending")? < cutoff).then_some("task-log");
    }
    if table.starts_with("shadow_") {
        let column = nova_purge_date_column(table);
        row.get(column)?;
        return match date(row, column) {
            Some(dated) => (dated < cutoff).then_some("shadow"),
            None => undated.then_some("shadow"),
        };
    }
    // Live is NULL or 0; false and '' in the legacy tables whose `deleted`
    // is a boolean (dns_domains) or a string (snapshots).
    let deleted = row.get("deleted")?.as_deref();
    let soft_deleted = !matches!(deleted, None | Some("0" | "false" | ""));
    (soft_deleted && date(row, "deleted_at")? < cutoff).then_some("rows")
}

/// The column `nova-manage db purge --before` dates a shadow table's rows
/// by (nova/db/main/api.py, purge_shadow_tables).
fn nova_purge_date_column(table: &str) -> &'static str {
    match table {
        "shadow_instance_actions" | "shadow_instance_actions_events" => "created_at",
        "shadow_task_log" => "updated_at",
        _ => "deleted_at",
    }
}

/// Every removed row is one a scope of the run takes: a row of an instance
/// the run purged (or an event of its action), else one [`scope_taking`]
/// gives; and each scope's per-table counts are the report's.
fn assert_removed_by_nova_rules(
    before: &Snapshot,
    after: &Snapshot,
    cutoff: NaiveDateTime,
    undated: bool,
    report: &Value,
) {
    let removed = before.removed_in(after);
    let purged: Vec<String> = removed
        .get("instances")
        .into_iter()
        .flatten()
        .filter_map(|row| row["uuid"].clone())
        .collect();
    let removed_actions: Vec<String> = removed
        .get("instance_actions")
        .into_iter()
        .flatten()
        .filter(|row| mentions(row, &purged))
        .filter_map(|row| row["id"].clone())
        .collect();
    let mut by_scope: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for (table, rows) in &removed {
        for row in rows {
            let of_instance = mentions(row, &purged)
                || (table == "instance_actions_events"
                    && row["action_id"]
                        .as_ref()
                        .is_some_and(|id| removed_actions.contains(id)));
            let scope = if of_instance {
                "instances"
            } else {
                scope_taking(table, row, cutoff, undated).unwrap_or_else(|| {
                    panic!("{table}: removed a row no scope takes at {cutoff}: {row:?}")
                })
            };
            *by_scope
                .entry(scope)
                .or_default()
                .entry(table.clone())
                .or_default() += 1;
        }
    }
    let nonzero = |tables: &Value| -> BTreeMap<String, u64> {
        tables
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(t, n)| Some((t.clone(), n.as_u64()?)))
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    // Instances: the report's tables include the API database's.
    let mut reported = nonzero(&report["tables"]);
    reported.retain(|table, _| before.tables.contains_key(table));
    assert_eq!(
        by_scope.remove("instances").unwrap_or_default(),
        reported,
        "instances scope: removed rows and the report differ"
    );
    for (scope, figures) in report["scopes"].as_object().expect("scopes") {
        let tables = by_scope.remove(scope.as_str()).unwrap_or_default();
        assert_eq!(
            figures["rows"].as_u64(),
            Some(tables.values().sum()),
            "{scope}: {figures}"
        );
        assert_eq!(
            tables,
            nonzero(&figures["tables"]),
            "{scope}: removed rows and the report differ"
        );
    }
    assert!(
        by_scope.is_empty(),
        "rows of scopes the run did not report went: {by_scope:?}"
    );
}

/// After `--scope all`, no row any scope takes is left (whether Nova's
/// archiver would look at its table or not), but the rows the report says
/// it kept, and no old deleted instance.
fn assert_nothing_left(after: &Snapshot, cutoff: NaiveDateTime, report: &Value) {
    let kept: Vec<(String, String)> = report["scopes"]["rows"]["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            (
                s["table"].as_str().unwrap_or_default().to_owned(),
                s["key"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (table, rows) in &after.tables {
        for row in rows {
            let Some(scope) = scope_taking(table, row, cutoff, false) else {
                continue;
            };
            if table == "instances" {
                panic!("an old deleted instance is left: {row:?}");
            }
            let key = row_key(row).unwrap_or_default();
            assert!(
                kept.contains(&(table.clone(), key)),
                "{table}: the {scope} scope left a row: {row:?}"
            );
        }
    }
}

/// The dry run's figures are the run's: instances, their tables and
/// skipped instances, and each scope's rows, tables and skipped rows.
fn assert_same_prediction(dry: &Value, report: &Value) {
    assert_eq!(dry["dry_run"], true);
    assert_eq!(report["dry_run"], false);
    for field in ["instances", "tables", "skipped_instances", "purged_scopes"] {
        assert_eq!(
            dry[field], report[field],
            "the dry run predicted another {field}"
        );
    }
    let names = |r: &Value| -> Vec<String> {
        r["scopes"]
            .as_object()
            .expect("scopes")
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(names(dry), names(report));
    for (scope, figures) in report["scopes"].as_object().expect("scopes") {
        for field in ["rows", "tables", "skipped_rows", "skipped"] {
            assert_eq!(
                dry["scopes"][scope][field], figures[field],
                "the dry run predicted another {scope} {field}"
            );
        }
    }
}

/// `nova-purge --config-file nova.conf purge --all-cells --format json ARGS`;
/// requires exit 0 and returns the report.
fn purge_all_cells(nova: &NovaDatabases, args: &[&str]) -> Value {
    let conf = nova.conf.display().to_string();
    let mut all = vec![
        "--config-file",
        &conf,
        "purge",
        "--all-cells",
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let run = nova_purge(&all, &[]);
    assert_eq!(run.code, 0, "nova-purge {args:?} failed: {run:?}");
    run.json()
}

/// A row's date column, parsed (naive UTC; None when NULL).
fn date(row: &Row, column: &str) -> Option<NaiveDateTime> {
    let text = row.get(column)?.as_deref()?;
    let parsed = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok());
    Some(parsed.unwrap_or_else(|| panic!("{column}: not a date: {text}")))
}

fn cutoff_of(report: &Value) -> NaiveDateTime {
    let cutoff = report["cutoff"].as_str().expect("cutoff");
    chrono::DateTime::parse_from_rfc3339(cutoff)
        .unwrap_or_else(|e| panic!("cutoff {cutoff}: {e}"))
        .naive_utc()
}

/// What a nova-manage run printed, and its exit status.
struct NovaManage {
    command: String,
    code: i32,
    stdout: String,
}

impl std::fmt::Display for NovaManage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "nova-manage {}: exit {}", self.command, self.code)?;
        for line in self.stdout.lines().filter(|l| !l.trim().is_empty()) {
            writeln!(f, "    | {}", mask_passwords(line))?;
        }
        Ok(())
    }
}

/// Runs `nova-manage --config-file CONF ARGS` from the venv; its exit
/// status is the answer (archive: 0 nothing archived, 1 rows archived;
/// purge: 0 rows deleted, 3 nothing deleted), so any is returned.
fn nova_manage(venv: &Path, conf: &Path, args: &[&str]) -> NovaManage {
    let output = Command::new(venv.join("bin/nova-manage"))
        .arg("--config-file")
        .arg(conf)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run nova-manage: {e}"));
    let run = NovaManage {
        command: args.join(" "),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    };
    if run.code > 4 || run.code < 0 {
        panic!(
            "{run}--- stderr\n{}",
            mask_passwords(&String::from_utf8_lossy(&output.stderr))
        );
    }
    run
}

/// What the test removed, scope by scope, and what Nova said afterwards:
/// printed (stderr) for each backend.
fn summary(
    backend: Backend,
    instance_runs: &[&Value],
    all: &Value,
    nova_runs: &[NovaManage],
    undated: &Value,
) -> String {
    use std::fmt::Write as _;
    let tables = |tables: &Value| -> String {
        let parts: Vec<String> = tables
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_u64() > Some(0))
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        parts.join(", ")
    };
    let mut out = format!(
        "nova_compat on {}: rows removed per scope\n",
        backend.name()
    );
    let instances: u64 = instance_runs
        .iter()
        .filter_map(|r| r["instances"].as_u64())
        .sum();
    let rows: u64 = instance_runs
        .iter()
        .flat_map(|r| r["tables"].as_object().into_iter().flatten())
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    let _ = writeln!(
        out,
        "  instances (purge, then purge after unblocking; cell): {instances} instances, {rows} rows"
    );
    let _ = writeln!(
        out,
        "  purge --all-cells --scope all (cutoff {}): instances {}, {} rows [{}]",
        all["cutoff"].as_str().unwrap_or_default(),
        all["instances"],
        all["tables"]
            .as_object()
            .map_or(0, |t| t.values().filter_map(Value::as_u64).sum::<u64>()),
        tables(&all["tables"])
    );
    for (scope, figures) in all["scopes"].as_object().into_iter().flatten() {
        let _ = writeln!(
            out,
            "    {scope}: {} rows [{}], skipped {}{}",
            figures["rows"],
            tables(&figures["tables"]),
            figures["skipped_rows"],
            figures["skipped"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| format!(
                    " ({} {}: {})",
                    s["table"].as_str().unwrap_or_default(),
                    s["key"].as_str().unwrap_or_default(),
                    s["reason"].as_str().unwrap_or_default()
                ))
                .collect::<String>()
        );
    }
    let _ = writeln!(out, "  then Nova, with that cutoff:");
    for run in nova_runs {
        let _ = write!(out, "  {run}");
    }
    let _ = writeln!(
        out,
        "  then purge --all-cells --scope shadow --undated-shadow-rows: {} rows [{}]",
        undated["scopes"]["shadow"]["rows"],
        tables(&undated["scopes"]["shadow"]["tables"])
    );
    out
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
/// `create-indexes` on Nova's own schema: it creates what `check` reports
/// missing (on PostgreSQL and SQLite, the two lookups Nova leaves without
/// an index; MariaDB indexes every foreign key itself), after which `check`
/// reports none and a rerun has nothing to do.
fn create_indexes_on_novas_schema(cell: &TestDb) {
    let missing = || -> Vec<String> {
        let check = nova_purge(
            &["--database-url", &cell.url, "check", "--format", "json"],
            &[],
        );
        let mut missing: Vec<String> = check.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "missing-index")
            .map(|f| format!("{}.{}", text(&f["table"]), text(&f["column"])))
            .collect();
        missing.sort();
        missing
    };
    let expected: &[&str] = match cell.backend {
        Backend::MySql => &[],
        _ => &[
            "instance_actions_events.action_id",
            "migrations.instance_uuid",
        ],
    };
    assert_eq!(missing(), expected, "what Nova leaves unindexed");
    let run = nova_purge(
        &[
            "--database-url",
            &cell.url,
            "create-indexes",
            "--yes",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let created: Vec<String> = report["databases"][0]["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["outcome"], "created", "{i}");
            format!("{}.{}", text(&i["table"]), text(&i["column"]))
        })
        .collect();
    assert_eq!(created, expected, "{report}");
    assert!(missing().is_empty());
    let rerun = nova_purge(
        &["--database-url", &cell.url, "create-indexes", "--yes"],
        &[],
    );
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert!(rerun.stdout.contains("nothing to do"), "{rerun:?}");
}

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
