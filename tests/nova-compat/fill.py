#!/usr/bin/env python3
"""Fill a freshly synced Nova 34.0.0 cell + API database with test instances.

Run with the Python of the venv made by venv.sh:

    $VENV/bin/python fill.py --config-file nova.conf [--config-file more.conf]

The rows are written through Nova's own DB API (nova.db.main.api) and
versioned objects, so they look exactly like what a real deployment holds.
Only what Nova 34 has no API for (legacy fixed_ips / consoles / aggregates,
the age of the deletions, leftovers of older releases, archived instance
actions) is written with plain SQL. The shadow tables are filled by Nova's
own archiver, except for those archived instance actions.

--archivable leaves out the rows that make Nova's own
`nova-manage db archive_deleted_rows` fail on MariaDB (legacy consoles and
fixed_ips rows, a dangling share_mapping) and the instances that carry them.

Prints a JSON summary on stdout (see README.md). Run it once per fresh
database pair: instance uuids are fixed, so a second run fails on duplicates.
"""

import datetime
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
import warnings

# Nova's imports pull in eventlet, which warns about its own deprecation.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import sqlalchemy as sa  # noqa: E402

from nova import config  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova.db.api import api as api_db  # noqa: E402
from nova.db.main import api as db  # noqa: E402
from nova import objects  # noqa: E402
from oslo_utils import timeutils  # noqa: E402

NS = uuid.uuid5(uuid.NAMESPACE_URL, "nova-purge:test")
PROJECT = "7d9a0d6c-0000-4000-8000-70726f6a6563"
USER = "7d9a0d6c-0000-4000-8000-757365720000"
OLD_DAYS, YOUNG_DAYS = 200, 10

# label -> (destroy it?, age of deleted_at in days or None)
INSTANCES = {
    **{f"old_deleted_{n}": (True, OLD_DAYS) for n in range(1, 5)},
    "young_deleted": (True, YOUNG_DAYS),
    "live_1": (False, None),
    "live_2": (False, None),
    # Nova's restorable "soft delete": vm_state only, deleted stays 0. Its
    # deleted_at is made old on purpose: a purge must still leave it alone.
    "soft_deleted": (False, OLD_DAYS),
    "blocked_fixed_ip": (True, OLD_DAYS),
    # Compute normally deletes an instance's share_mapping rows before
    # destroying it; when unmounting fails it leaves them dangling.
    "blocked_share_mapping": (True, OLD_DAYS),
}
BLOCKED = ["blocked_fixed_ip", "blocked_share_mapping"]
LATE_ACTION = "old_deleted_1"    # action + event recorded after destroy
PCI = "old_deleted_2"            # one soft-deleted + one live pci_devices row
CONSOLE = "old_deleted_3"        # legacy consoles row (+ console_pools parent)
LEFTOVERS = "old_deleted_4"      # stray build_request, old tag + console token
GROUP_MEMBERS = ["old_deleted_1", "young_deleted", "live_1"]
# nova-compute hosts whose service was deleted (service_destroy also
# soft-deletes their compute nodes), by age of the deletion. Those of
# ARCHIVED_HOSTS are then moved to the shadow tables by Nova's archiver.
DELETED_HOSTS = {"cmp-old": OLD_DAYS, "cmp-young": YOUNG_DAYS}
ARCHIVED_HOSTS = {"cmp-archived-old": OLD_DAYS, "cmp-archived-young": YOUNG_DAYS}
AUDIT = "instance_usage_audit"   # the task nova-compute logs in task_log

# Cell tables that instance_destroy soft-deletes, and their link column.
SOFT_DELETED_WITH_INSTANCE = {
    "security_group_instance_association": "instance_uuid",
    "instance_info_caches": "instance_uuid",
    "instance_metadata": "instance_uuid",
    "instance_faults": "instance_uuid",
    "instance_extra": "instance_uuid",
    "instance_system_metadata": "instance_uuid",
    "block_device_mapping": "instance_uuid",
    "migrations": "instance_uuid",
    "virtual_interfaces": "instance_uuid",
    "instance_id_mappings": "uuid",
}


def uid(label):
    return str(uuid.uuid5(NS, label))


def mac(label):
    h = hashlib.sha256(label.encode()).hexdigest()
    return "fa:16:3e:%s:%s:%s" % (h[0:2], h[2:4], h[4:6])


def setup(argv):
    """Initialise CONF and both DB APIs the way nova-manage does."""
    # Overlay (read last, so it wins): no message bus here, and objects that
    # emit notifications (InstanceGroup) must not try to reach one.
    fd, overlay = tempfile.mkstemp(prefix="nova-fill-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("[DEFAULT]\ntransport_url = fake:/\n"
                "[oslo_messaging_notifications]\ndriver = noop\n"
                "[notifications]\nnotification_format = unversioned\n")
    try:
        # parse_args reads the config, inits rpc and calls
        # nova.db.main.api.configure / nova.db.api.api.configure.
        config.parse_args([argv[0]] + argv[1:] + ["--config-file", overlay])
    finally:
        os.unlink(overlay)
    objects.register_all()
    # Admin like get_admin_context(), but scoped to a project the way
    # nova-api's requests are (the 'default' security group gets its owner).
    return nova_context.RequestContext(user_id=USER, project_id=PROJECT,
                                       is_admin=True)


def full_set(ctx, label, sg_id, now):
    """One instance plus a row in every table Nova links to an instance."""
    u = uid(label)
    db.instance_create(ctx, {
        "uuid": u, "project_id": PROJECT, "user_id": USER,
        "display_name": label, "hostname": label.replace("_", "-"),
        "host": "cmp1", "node": "cmp1.example", "launched_on": "cmp1",
        "vm_state": "active", "power_state": 1, "image_ref": uid("image"),
        "memory_mb": 512, "vcpus": 1, "root_gb": 1, "ephemeral_gb": 0,
        "instance_type_id": 1, "launched_at": now, "availability_zone": "nova",
    })  # also creates instance_info_caches, instance_extra and, through
    # ec2_instance_create, the instance_id_mappings row
    # Two keys then a replace: Nova soft-deletes the dropped key, so even a
    # live instance has a metadata row with deleted <> 0.
    db.instance_metadata_update(ctx, u, {"role": "web", "tier": "1"}, False)
    db.instance_metadata_update(ctx, u, {"role": "web"}, True)
    db.instance_system_metadata_update(
        ctx, u, {"image_base_image_ref": uid("image"),
                 "owner_user_name": "demo"}, False)
    db.instance_info_cache_update(ctx, u, {"network_info": "[]"})
    db.instance_extra_update_by_uuid(
        ctx, u, {"flavor": '{"cur": null, "old": null, "new": null}'})
    db.instance_add_security_group(ctx, u, sg_id)
    db.block_device_mapping_create(ctx, {
        "uuid": uid(label + "/bdm0"), "instance_uuid": u,
        "source_type": "image", "destination_type": "local",
        "image_id": uid("image"), "boot_index": 0, "device_name": "/dev/vda",
        "device_type": "disk", "delete_on_termination": True}, legacy=False)
    db.block_device_mapping_create(ctx, {
        "uuid": uid(label + "/bdm1"), "instance_uuid": u,
        "source_type": "volume", "destination_type": "volume",
        "volume_id": uid(label + "/vol"), "boot_index": None,
        "device_name": "/dev/vdb", "connection_info": "{}",
        "delete_on_termination": False}, legacy=False)
    db.instance_fault_create(ctx, {
        "instance_uuid": u, "code": 500, "message": "test fault",
        "details": "Traceback: none", "host": "cmp1"})
    record_action(ctx, u, "create", "compute__do_build_and_run_instance", now)
    db.migration_create(ctx, {
        "uuid": uid(label + "/migration"), "instance_uuid": u,
        "source_compute": "cmp1", "dest_compute": "cmp2",
        "source_node": "cmp1.example", "dest_node": "cmp2.example",
        "dest_host": "192.0.2.2", "status": "confirmed",
        "migration_type": "resize", "old_instance_type_id": 1,
        "new_instance_type_id": 2, "hidden": False, "cross_cell_move": False,
        "user_id": USER, "project_id": PROJECT})
    db.virtual_interface_create(ctx, {
        "uuid": uid(label + "/vif"), "instance_uuid": u,
        "address": mac(label), "tag": "nic0"})
    db.instance_tag_set(ctx, u, ["purge-test", label.split("_")[0]])
    db.instance_tag_add(ctx, u, "extra")
    # What compute's share attach writes (Manila shares, share_mapping table).
    share = objects.ShareMapping(
        ctx, uuid=uid(label + "/share-map"), instance_uuid=u,
        share_id=uid(label + "/share"), status="active", tag="share0",
        export_location="192.0.2.9:/export/" + label, share_proto="NFS")
    share.create()
    db.console_auth_token_create(ctx, {
        "instance_uuid": u, "console_type": "novnc", "host": "cmp1",
        "port": 5900, "token_hash": hashlib.sha256(label.encode()).hexdigest(),
        "expires": int(time.time()) + 600,
        "access_url_base": "http://192.0.2.1:6080/vnc_auto.html"})
    return u, share


def record_action(ctx, u, action, event, now):
    req = "req-" + uid(u + action + event)
    db.action_start(ctx, {
        "instance_uuid": u, "request_id": req, "action": action,
        "user_id": USER, "project_id": PROJECT, "start_time": now})
    ev = {"instance_uuid": u, "request_id": req, "event": event,
          "host": "cmp1", "start_time": now}
    db.action_event_start(ctx, dict(ev))
    db.action_event_finish(ctx, dict(ev, finish_time=now, result="Success"))
    return req


def table(conn, name):
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def insert(conn, name, values):
    """Plain INSERT into a table Nova 34 has no model for; returns the id."""
    res = conn.execute(table(conn, name).insert().values(**values))
    return res.inserted_primary_key[0] if res.inserted_primary_key else None


def pci_device(ctx, node_id, addr, inst=None):
    """A PCI device of a compute node, as the resource tracker records it:
    allocated to `inst`, or available."""
    return db.pci_device_update(ctx, node_id, addr, {
        "compute_node_id": node_id, "address": addr,
        "uuid": uid("pci/" + addr), "vendor_id": "8086",
        "product_id": "154d", "dev_type": "type-PF",
        "dev_id": "pci_" + addr.replace(":", "_").replace(".", "_"),
        "label": "label_8086_154d",
        "status": "allocated" if inst else "available",
        "instance_uuid": inst, "numa_node": 0, "extra_info": "{}"})["id"]


def add_pci_devices(ctx, uuids):
    """PCI inventory of one compute node: a device allocated to a live
    instance, and for PCI both a removed (soft-deleted) device and a live
    one whose allocation still names the instance (Nova bug 1899541)."""
    node = db.compute_node_create(ctx, {
        "uuid": uid("cmp1"), "host": "cmp1",
        "hypervisor_hostname": "cmp1.example", "vcpus": 8, "memory_mb": 8192,
        "local_gb": 100, "vcpus_used": 0, "memory_mb_used": 0,
        "local_gb_used": 0, "hypervisor_type": "QEMU",
        "hypervisor_version": 8002000, "cpu_info": "{}"})

    def pci(addr, inst):
        return pci_device(ctx, node["id"], addr, inst)

    pci("0000:81:00.0", uuids["live_1"])
    gone = pci("0000:81:00.1", uuids[PCI])
    db.pci_device_destroy(ctx, node["id"], "0000:81:00.1")  # soft delete
    return {"instance": PCI, "compute_node_id": node["id"],
            "deleted_device_id": gone,
            "live_device_id": pci("0000:81:00.2", uuids[PCI])}


def destroy(ctx, label, u, share, now):
    """What compute does on delete: record it, drop the share mapping
    (unmount + deny_share), mark the instance, destroy it."""
    record_action(ctx, u, "delete", "compute_terminate_instance", now)
    if label != "blocked_share_mapping":
        share.delete()
    db.instance_update(ctx, u, {"vm_state": "deleted", "task_state": None,
                                "power_state": 0, "terminated_at": now})
    db.instance_destroy(ctx, u)


def age(conn, u, when, destroyed):
    """Move a deletion back in time: the instance and the rows destroy
    soft-deleted with it, as if all of it had happened then."""
    conn.execute(sa.text(
        "UPDATE instances SET deleted_at = :t, terminated_at = :t, "
        "updated_at = :t, created_at = :c, launched_at = :c WHERE uuid = :u"),
        {"t": when, "c": when - datetime.timedelta(days=30), "u": u})
    if destroyed:
        for t, col in SOFT_DELETED_WITH_INSTANCE.items():
            conn.execute(sa.text(f"UPDATE {t} SET deleted_at = :t "
                                 f"WHERE {col} = :u AND deleted <> 0"),
                         {"t": when, "u": u})


def age_dropped_metadata(conn, u, when):
    """The metadata key a surviving instance dropped (see full_set) is made
    old: Nova's archiver then has rows to move that belong to no deleted
    instance, and a purge, which works by deleted instance, must keep them."""
    conn.execute(sa.text(
        "UPDATE instance_metadata SET deleted_at = :t "
        "WHERE instance_uuid = :u AND deleted <> 0"), {"t": when, "u": u})


def add_legacy_rows(conn, uuids, when):
    """Tables whose models Nova removed (REMOVED_TABLES) but which still
    exist with their FK to instances.uuid: plain SQL."""
    # nova-network fixed IP still allocated to a deleted instance;
    # network_id / virtual_interface_id are plain columns, not FKs.
    net = insert(conn, "networks", {
        "created_at": when, "deleted": 0, "uuid": uid("net"),
        "label": "legacy-net", "cidr": "192.0.2.0/24",
        "netmask": "255.255.255.0", "bridge": "br100",
        "gateway": "192.0.2.1", "project_id": PROJECT})
    vif = conn.execute(sa.text(
        "SELECT id FROM virtual_interfaces WHERE instance_uuid = :u"),
        {"u": uuids["blocked_fixed_ip"]}).scalar_one()
    fixed_ip = insert(conn, "fixed_ips", {
        "created_at": when, "deleted": 0, "address": "192.0.2.10",
        "network_id": net, "allocated": True, "leased": True,
        "reserved": False, "virtual_interface_id": vif, "host": "cmp1",
        "instance_uuid": uuids["blocked_fixed_ip"]})
    # XenAPI-era console and its pool.
    pool = insert(conn, "console_pools", {
        "created_at": when, "deleted": 0, "address": "192.0.2.3",
        "username": "console", "password": "not-a-secret",
        "console_type": "novnc", "public_hostname": "console.example",
        "host": "cons1", "compute_host": "cmp1"})
    console = insert(conn, "consoles", {
        "created_at": when, "deleted": 0, "instance_name": CONSOLE,
        "password": "not-a-secret", "port": 5901, "pool_id": pool,
        "instance_uuid": uuids[CONSOLE]})
    return ({"instance": "blocked_fixed_ip", "fixed_ip_id": fixed_ip,
             "network_id": net},
            {"instance": CONSOLE, "console_id": console, "pool_id": pool})


def add_leftovers(conn, u, when):
    """Rows an older release left behind: Nova 34's destroy hard-deletes
    tags and console tokens, earlier releases did not."""
    insert(conn, "tags", {"resource_id": u, "tag": "left-over"})
    insert(conn, "console_auth_tokens", {
        "created_at": when, "token_hash": "left-over-" + LEFTOVERS,
        "console_type": "novnc", "host": "cmp1", "port": 5900,
        "instance_uuid": u, "expires": int(time.time()) - OLD_DAYS * 86400})


def add_host(ctx, host, pci_address=None):
    """A nova-compute service with its compute node (and maybe a PCI device
    on it), as the service registers itself and the resource tracker
    reports the node."""
    service = db.service_create(ctx, {
        "uuid": uid("service/" + host), "host": host,
        "binary": "nova-compute", "topic": "compute", "report_count": 1})
    node = db.compute_node_create(ctx, {
        "uuid": uid(host), "service_id": service["id"], "host": host,
        "hypervisor_hostname": host + ".example", "vcpus": 8,
        "memory_mb": 8192, "local_gb": 100, "vcpus_used": 0,
        "memory_mb_used": 0, "local_gb_used": 0, "hypervisor_type": "QEMU",
        "hypervisor_version": 8002000, "cpu_info": "{}"})
    device = pci_device(ctx, node["id"], pci_address) if pci_address else None
    return {"service_id": service["id"], "compute_node_id": node["id"],
            "pci_device_id": device, "pci_address": pci_address}


def delete_host(ctx, added, pci_deleted=False):
    """The service deleted as `DELETE /os-services/{id}` does it:
    service_destroy soft-deletes the service and the host's compute nodes,
    and leaves the node's PCI devices as they are. `pci_deleted` first
    removes the device the way the resource tracker does (soft delete)."""
    if pci_deleted and added["pci_address"]:
        db.pci_device_destroy(ctx, added["compute_node_id"], added["pci_address"])
    db.service_destroy(ctx, added["service_id"])
    return {k: v for k, v in added.items() if k != "pci_address"}


def age_host(conn, host, when):
    """Move a deleted host back in time: its service, compute node and
    removed PCI devices, as if deleted then (and created a month before)."""
    times = {"t": when, "c": when - datetime.timedelta(days=30), "h": host}
    for t in ("services", "compute_nodes"):
        conn.execute(sa.text(
            f"UPDATE {t} SET deleted_at = :t, updated_at = :t, "
            f"created_at = :c WHERE host = :h AND deleted <> 0"), times)
    conn.execute(sa.text(
        "UPDATE pci_devices SET deleted_at = :t, updated_at = :t, "
        "created_at = :c WHERE deleted <> 0 AND compute_node_id IN "
        "(SELECT id FROM compute_nodes WHERE host = :h)"), times)


def audit(ctx, host, ending):
    """One period of nova-compute's instance usage audit, logged in task_log
    as compute's _instance_usage_audit does (begin, then end)."""
    beginning = ending - datetime.timedelta(days=30)
    db.task_log_begin_task(ctx, AUDIT, beginning, ending, host,
                           task_items=3, message="Instance usage audit started")
    db.task_log_end_task(ctx, AUDIT, beginning, ending, host, 0,
                         message="Instance usage audit ran for host")
    return db.task_log_get(ctx, AUDIT, beginning, ending, host)["id"]


def age_audit(conn, task_id, ending):
    """Move an audit back in time: it ran an hour after its period ended."""
    conn.execute(sa.text(
        "UPDATE task_log SET created_at = :r, updated_at = :r WHERE id = :i"),
        {"r": ending + datetime.timedelta(hours=1), "i": task_id})


def add_archived(ctx, engine, now, ago):
    """Rows in the shadow tables, moved there by Nova's own archiver
    (`archive_deleted_rows(task_log=True)`, what `nova-manage db
    archive_deleted_rows --task-log` runs): the deleted hosts of
    ARCHIVED_HOSTS, whose live PCI device the archiver drags along with its
    compute node (a shadow row with no deleted_at), and an old audit period
    of task_log (no deleted_at either: `db purge --before` dates
    shadow_task_log by updated_at). Runs before anything else is deleted or
    made old, with a cutoff of a day ago, so the archive takes exactly this
    set; and after every other row of these tables is created, as SQLite
    hands a freed id out again and Nova's archiver would then meet its own
    rows in the shadow tables."""
    hosts = {host: add_host(ctx, host, "0000:82:00.0" if days == OLD_DAYS else None)
             for host, days in ARCHIVED_HOSTS.items()}
    hosts = {host: delete_host(ctx, added) for host, added in hosts.items()}
    task_log = audit(ctx, "cmp-archived-old", ago[OLD_DAYS])
    with engine.begin() as conn:
        for host, days in ARCHIVED_HOSTS.items():
            age_host(conn, host, ago[days])
        age_audit(conn, task_log, ago[OLD_DAYS])
    moved, _, _ = db.archive_deleted_rows(
        ctx, max_rows=1000, before=now - datetime.timedelta(days=1),
        task_log=True)
    moved = dict(moved)
    expected = {"services": 2, "compute_nodes": 2, "pci_devices": 1, "task_log": 1}
    if moved != expected:
        sys.exit(f"fill.py: Nova's archiver moved {moved}, expected {expected}")
    return {"hosts": hosts, "task_log_id": task_log, "moved": moved}


def add_archived_actions(conn, ago):
    """What the archiver leaves in shadow_instance_actions and
    shadow_instance_actions_events when it archives a deleted instance: the
    action and its event keep deleted = 0 and no deleted_at (Nova never
    soft-deletes them), and `db purge --before` dates them by created_at.
    An old and a young one. Plain SQL: on PostgreSQL Nova 34 cannot archive
    an instance at all (see README.md)."""
    ids = {}
    for label, days in (("archived_old", OLD_DAYS), ("archived_young", YOUNG_DAYS)):
        t = ago[days]
        action = insert(conn, "shadow_instance_actions", {
            "id": 900001 + len(ids), "created_at": t, "updated_at": t,
            "deleted": 0, "action": "delete", "instance_uuid": uid(label),
            "request_id": "req-" + uid(label + "/delete"), "user_id": USER,
            "project_id": PROJECT, "start_time": t, "finish_time": t})
        event = insert(conn, "shadow_instance_actions_events", {
            "id": 900001 + len(ids), "created_at": t, "updated_at": t,
            "deleted": 0, "event": "compute_terminate_instance",
            "action_id": action, "start_time": t, "finish_time": t,
            "result": "Success", "host": "cmp1"})
        ids["old" if days == OLD_DAYS else "young"] = {
            "action_id": action, "event_id": event}
    return ids


def soft_deleted_row(conn, name, values, when):
    """Plain INSERT of a row Nova soft-deleted at `when` (deleted = its id)."""
    row_id = insert(conn, name, dict(values, deleted=0))
    conn.execute(sa.text(f"UPDATE {name} SET deleted = id, deleted_at = :t "
                         "WHERE id = :i"), {"t": when, "i": row_id})
    return row_id


def add_aggregates(conn, ago):
    """Host aggregates as the cell database held them before Newton moved
    them to the API database (Nova 34 keeps the tables and their foreign
    keys, has no model for them, and its archiver skips them: plain SQL),
    deleted long ago. `agg-old` went with its host and metadata rows;
    `agg-referenced` kept a live aggregate_hosts row, which its foreign key
    still points at: the rows scope must keep the aggregate, and say so."""
    t, c = ago[OLD_DAYS], ago[OLD_DAYS] - datetime.timedelta(days=30)
    gone = soft_deleted_row(conn, "aggregates", {
        "created_at": c, "name": "agg-old", "uuid": uid("agg-old")}, t)
    soft_deleted_row(conn, "aggregate_hosts", {
        "created_at": c, "host": "cmp-old", "aggregate_id": gone}, t)
    soft_deleted_row(conn, "aggregate_metadata", {
        "created_at": c, "aggregate_id": gone, "key": "availability_zone",
        "value": "az-old"}, t)
    kept = soft_deleted_row(conn, "aggregates", {
        "created_at": c, "name": "agg-referenced",
        "uuid": uid("agg-referenced")}, t)
    live_host = insert(conn, "aggregate_hosts", {
        "created_at": c, "deleted": 0, "host": "cmp1", "aggregate_id": kept})
    return {"deleted_id": gone, "referenced_id": kept,
            "live_host_id": live_host}


def add_legacy_deleted(conn, ago):
    """Soft-deleted rows of two long-removed features whose tables kept an
    older type of `deleted` (plain SQL, no model): nova-network's
    dns_domains (a boolean, keyed by `domain`) and the EC2-era snapshots (a
    string: the uuid id when deleted, '' when live). One deleted 200 days
    ago and one live row each."""
    t = ago[OLD_DAYS]
    insert(conn, "dns_domains", {"created_at": t, "deleted_at": t,
                                 "deleted": True, "domain": "old.example.org",
                                 "scope": "public", "project_id": PROJECT})
    insert(conn, "dns_domains", {"created_at": t, "deleted": False,
                                 "domain": "live.example.org",
                                 "scope": "public", "project_id": PROJECT})
    old, live = uid("snapshot/old"), uid("snapshot/live")
    for sid, deleted, deleted_at in ((old, old, t), (live, "", None)):
        insert(conn, "snapshots", {
            "created_at": t, "deleted_at": deleted_at, "deleted": deleted,
            "id": sid, "volume_id": uid("vol/" + sid), "user_id": USER,
            "project_id": PROJECT, "status": "available", "volume_size": 1})
    return {"dns_domains": {"deleted": "old.example.org",
                            "live": "live.example.org"},
            "snapshots": {"deleted": old, "live": live}}


def fill_api_db(ctx, uuids):
    """The cell, a mapping + request spec per instance, a stray build
    request and a server group, all through Nova's objects."""
    cell = objects.CellMapping(
        ctx, uuid=uid("cell1"), name="cell1", transport_url="fake:/",
        database_connection=config.CONF.database.connection, disabled=False)
    cell.create()
    for label, u in uuids.items():
        objects.InstanceMapping(
            ctx, instance_uuid=u, cell_mapping=cell, project_id=PROJECT,
            user_id=USER,
            # set by nova-api on delete and on soft delete
            queued_for_delete=INSTANCES[label][0] or label == "soft_deleted",
        ).create()
        objects.RequestSpec(
            ctx, instance_uuid=u, project_id=PROJECT, user_id=USER,
            num_instances=1, availability_zone="nova", is_bfv=False).create()
    objects.BuildRequest(
        ctx, instance_uuid=uuids[LEFTOVERS], project_id=PROJECT,
        instance=objects.Instance(ctx, uuid=uuids[LEFTOVERS],
                                  project_id=PROJECT, user_id=USER),
        block_device_mappings=objects.BlockDeviceMappingList(objects=[]),
        tags=objects.TagList(objects=[])).create()
    group = objects.InstanceGroup(
        ctx, uuid=uid("server-group"), name="purge-test", project_id=PROJECT,
        user_id=USER, policy="anti-affinity",
        members=[uuids[m] for m in GROUP_MEMBERS])
    group.create()
    return {"build_request": {"instance": LEFTOVERS},
            "cell_mapping": {"uuid": cell.uuid, "name": cell.name},
            "instance_group": {"uuid": group.uuid, "members": GROUP_MEMBERS}}


def main(argv):
    archivable = "--archivable" in argv
    if archivable:  # ours, not an oslo.config option
        argv = [a for a in argv if a != "--archivable"]
        for label in BLOCKED:
            del INSTANCES[label]
    ctx = setup(argv)
    engine = db.get_engine()
    now = timeutils.utcnow().replace(microsecond=0)
    ago = {d: now - datetime.timedelta(days=d) for d in (OLD_DAYS, YOUNG_DAYS)}

    sg = db.security_group_create(ctx, {
        "name": "purge-test", "description": "shared, never purged",
        "project_id": PROJECT, "user_id": USER})
    uuids, shares = {}, {}
    for label in INSTANCES:
        uuids[label], shares[label] = full_set(ctx, label, sg["id"], now)
    extras = {"security_group_id": sg["id"], "pci": add_pci_devices(ctx, uuids)}
    # Hosts deleted below (cmp-old's removed PCI device must go before its
    # compute node: foreign key) and two audit periods, then the rows Nova's
    # archiver moves (see add_archived for the order).
    hosts = {host: add_host(ctx, host, "0000:83:00.0" if days == OLD_DAYS else None)
             for host, days in DELETED_HOSTS.items()}
    periods = {"old": OLD_DAYS, "young": YOUNG_DAYS}
    audits = {which: audit(ctx, "cmp1", ago[days]) for which, days in periods.items()}
    extras["archived"] = add_archived(ctx, engine, now, ago)
    extras["deleted_hosts"] = {host: delete_host(ctx, added, pci_deleted=True)
                               for host, added in hosts.items()}

    for label, (gone, _) in INSTANCES.items():
        if gone:
            destroy(ctx, label, uuids[label], shares[label], now)
    db.instance_update(ctx, uuids["soft_deleted"],
                       {"vm_state": "soft-delete", "task_state": None})
    # Nova still records events for an instance after it is gone.
    extras["late_action"] = {"instance": LATE_ACTION, "request_id": record_action(
        ctx, uuids[LATE_ACTION], "delete", "compute_terminate_instance", now)}

    with engine.begin() as conn:
        for label, (gone, days) in INSTANCES.items():
            if days is not None:
                age(conn, uuids[label], ago[days], gone)
            if not gone:
                age_dropped_metadata(conn, uuids[label], ago[OLD_DAYS])
        if not archivable:
            extras["fixed_ip"], extras["console"] = add_legacy_rows(
                conn, uuids, ago[OLD_DAYS])
        add_leftovers(conn, uuids[LEFTOVERS], ago[OLD_DAYS])
        extras["leftover_tag_and_token"] = {"instance": LEFTOVERS}
        extras["old_dropped_metadata"] = {
            "instances": [lb for lb, (gone, _) in INSTANCES.items() if not gone],
            "deleted_at": ago[OLD_DAYS].isoformat()}
        for host, days in DELETED_HOSTS.items():
            age_host(conn, host, ago[days])
        for which, task_id in audits.items():
            age_audit(conn, task_id, ago[periods[which]])
        extras["task_log"] = audits
        extras["aggregates"] = add_aggregates(conn, ago)
        extras["archived_actions"] = add_archived_actions(conn, ago)
        extras["legacy_deleted"] = add_legacy_deleted(conn, ago)
    extras.update(fill_api_db(ctx, uuids))

    json.dump({
        "nova_version": "34.0.0",
        "archivable": archivable,
        "backend": engine.dialect.name,
        "api_backend": api_db.get_engine().dialect.name,
        "now": now.isoformat(),
        "deleted_at": {"old": ago[OLD_DAYS].isoformat(),
                       "young": ago[YOUNG_DAYS].isoformat()},
        "uuid_namespace": str(NS),
        "project_id": PROJECT, "user_id": USER,
        "instances": uuids,
        "destroyed": [lb for lb, (gone, _) in INSTANCES.items() if gone],
        "extras": extras,
    }, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv)
