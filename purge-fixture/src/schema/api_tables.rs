//! The API database's tables a purge reads or cleans, parents first.

use super::{col, req, Table, Ty, ID, TIMESTAMPS};

pub(super) const API_TABLES: &[Table] = &[
    Table {
        name: "cell_mappings",
        common: &TIMESTAMPS,
        columns: &[
            ID,
            req("uuid", Ty::Str(36)),
            col("name", Ty::Str(255)),
            col("transport_url", Ty::Text),
            col("database_connection", Ty::Text),
            col("disabled", Ty::Bool),
        ],
        primary_key: &["id"],
        unique: &[&["uuid"]],
        indexes: &[],
        foreign_keys: &[],
    },
    Table {
        name: "instance_mappings",
        common: &TIMESTAMPS,
        columns: &[
            ID,
            req("instance_uuid", Ty::Str(36)),
            col("cell_id", Ty::Int),
            req("project_id", Ty::Str(255)),
            col("queued_for_delete", Ty::Bool),
            col("user_id", Ty::Str(255)),
        ],
        primary_key: &["id"],
        unique: &[&["instance_uuid"]],
        indexes: &[&["cell_id"], &["project_id"]],
        foreign_keys: &[("cell_id", "cell_mappings", "id")],
    },
    Table {
        name: "request_specs",
        common: &TIMESTAMPS,
        columns: &[
            ID,
            req("instance_uuid", Ty::Str(36)),
            req("spec", Ty::MediumText),
        ],
        primary_key: &["id"],
        unique: &[&["instance_uuid"]],
        indexes: &[],
        foreign_keys: &[],
    },
    Table {
        name: "build_requests",
        common: &TIMESTAMPS,
        columns: &[
            ID,
            req("project_id", Ty::Str(255)),
            col("instance_uuid", Ty::Str(36)),
            col("instance", Ty::MediumText),
        ],
        primary_key: &["id"],
        unique: &[&["instance_uuid"]],
        indexes: &[&["project_id"]],
        foreign_keys: &[],
    },
    Table {
        name: "instance_groups",
        common: &TIMESTAMPS,
        columns: &[
            ID,
            col("user_id", Ty::Str(255)),
            col("project_id", Ty::Str(255)),
            req("uuid", Ty::Str(36)),
            col("name", Ty::Str(255)),
        ],
        primary_key: &["id"],
        unique: &[&["uuid"]],
        indexes: &[],
        foreign_keys: &[],
    },
    Table {
        name: "instance_group_member",
        common: &TIMESTAMPS,
        columns: &[
            ID,
            col("instance_uuid", Ty::Str(255)),
            req("group_id", Ty::Int),
        ],
        primary_key: &["id"],
        unique: &[],
        indexes: &[&["instance_uuid"]],
        foreign_keys: &[("group_id", "instance_groups", "id")],
    },
];
