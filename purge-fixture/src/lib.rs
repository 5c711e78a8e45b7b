//! Sample Nova data for `nova-purge demo`, the test suite and the benchmark:
//! [`Fixture`] creates a Nova-shaped cell schema ([`schema`]) and writes
//! instances with a row in every related table, left the way Nova leaves
//! them ([`InstanceSpec`]); [`ApiFixture`] does the same for the API
//! database. [`insert`] and [`Value`] write any other row.
//!
//! Modules: `schema` (the tables, as data), `rows` (an instance's rows, as
//! data), `nova` (what Nova's delete does, as data), `api` (the API
//! database), `sql` (the statements).

mod api;
mod nova;
mod rows;
pub mod schema;
mod sql;

use chrono::{NaiveDateTime, Utc};
use purge_api::{Db, Tx};

pub use api::ApiFixture;
pub use nova::{HARD_DELETED_WITH_INSTANCE, SOFT_DELETED_WITH_INSTANCE};
pub use sql::{insert, Value};

/// What a sample instance looks like in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Running: `deleted = 0`.
    Live,
    /// Nova's restorable soft delete: `vm_state = 'soft-delete'`, still
    /// `deleted = 0`, here with an old `deleted_at` to tempt a careless purge.
    SoftDelete,
    /// Deleted `days_ago` days ago: `deleted = id` on the instance and on
    /// every row Nova soft-deletes with it. Its tags and console auth token
    /// stay (unlike [`Fixture::destroy_instance`]), and one PCI device row of
    /// its own is soft-deleted too.
    Deleted { days_ago: i64 },
}

/// One sample instance and the extra rows that make it interesting.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub uuid: String,
    pub state: InstanceState,
    /// Also give it a legacy `fixed_ips` row, which no target purges.
    pub fixed_ip: bool,
}

impl InstanceSpec {
    /// An instance in `state`, without a `fixed_ips` row.
    pub fn new(uuid: impl Into<String>, state: InstanceState) -> Self {
        InstanceSpec {
            uuid: uuid.into(),
            state,
            fixed_ip: false,
        }
    }
}

/// The fixture schema, possibly without some tables (an older or newer
/// Nova). Rows for a table it lacks are not written.
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    /// The tables left out.
    pub without: Vec<&'static str>,
}

impl Fixture {
    /// The full schema.
    pub fn full() -> Fixture {
        Fixture::default()
    }

    /// The schema without `tables`.
    pub fn without(tables: &[&'static str]) -> Fixture {
        Fixture {
            without: tables.to_vec(),
        }
    }

    fn has(&self, table: &str) -> bool {
        !self.without.contains(&table)
    }

    /// Creates the tables and the shared parent rows (a security group, a
    /// console pool, a compute node).
    pub async fn create(&self, db: &Db) -> Result<(), sqlx::Error> {
        schema::create(db, &self.without).await?;
        let mut tx = db.begin_write().await?;
        let now = now();
        insert(
            &mut tx,
            "security_groups",
            &[
                ("id", Value::Int(1)),
                ("name", Value::Text("default")),
                ("project_id", Value::Text("p1")),
                ("deleted", Value::Int(0)),
                ("created_at", Value::Time(now)),
            ],
        )
        .await?;
        if self.has("console_pools") {
            insert(
                &mut tx,
                "console_pools",
                &[
                    ("id", Value::Int(1)),
                    ("address", Value::Text("10.0.0.1")),
                    ("console_type", Value::Text("xvp")),
                    ("host", Value::Text("console1")),
                    ("deleted", Value::Int(0)),
                ],
            )
            .await?;
        }
        insert(
            &mut tx,
            "compute_nodes",
            &[
                ("id", Value::Int(1)),
                ("host", Value::Text("compute1")),
                ("vcpus", Value::Int(64)),
                ("memory_mb", Value::Int(262_144)),
                ("deleted", Value::Int(0)),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Inserts one instance with a row in every related table (see
    /// `rows.rs`), then puts it in `spec.state`; returns its id.
    pub async fn insert_instance(&self, db: &Db, spec: &InstanceSpec) -> Result<i64, sqlx::Error> {
        let mut tx = db.begin_write().await?;
        let id = rows::insert_instance(&mut tx, self, spec).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// What Nova's instance_destroy does to a live instance, now, in one
    /// transaction: soft-deletes it and its rows in
    /// [`SOFT_DELETED_WITH_INSTANCE`], hard-deletes its rows in
    /// [`HARD_DELETED_WITH_INSTANCE`].
    pub async fn destroy_instance(&self, db: &Db, uuid: &str) -> Result<(), sqlx::Error> {
        let mut tx = db.begin_write().await?;
        self.soft_delete_instance(&mut tx, uuid, now()).await?;
        for &(table, column) in HARD_DELETED_WITH_INSTANCE {
            if self.has(table) {
                sql::hard_delete(&mut tx, table, column, uuid).await?;
            }
        }
        tx.commit().await
    }

    /// Soft-deletes the instance `uuid` and its rows in
    /// [`SOFT_DELETED_WITH_INSTANCE`], as deleted at `when`.
    async fn soft_delete_instance(
        &self,
        tx: &mut Tx,
        uuid: &str,
        when: NaiveDateTime,
    ) -> Result<(), sqlx::Error> {
        for &(table, column) in SOFT_DELETED_WITH_INSTANCE {
            if self.has(table) {
                sql::soft_delete(tx, table, column, uuid, when).await?;
            }
        }
        Ok(())
    }
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}
