//! [`ApiFixture`]: the API database (`nova_api`) of a sample deployment,
//! with its cells and the API rows of its instances.

use purge_api::Db;

use crate::schema;
use crate::sql::{insert, Value};

/// The API database of a deployment: its cells and the API rows of its
/// instances.
pub struct ApiFixture;

impl ApiFixture {
    /// Creates the API schema and a server group (id 1) for members.
    pub async fn create(db: &Db) -> Result<(), sqlx::Error> {
        schema::create_api(db).await?;
        let mut tx = db.begin_write().await?;
        insert(
            &mut tx,
            "instance_groups",
            &[
                ("id", Value::Int(1)),
                ("uuid", Value::Text("11111111-0000-4000-8000-000000000001")),
                ("name", Value::Text("anti-affinity")),
                ("project_id", Value::Text("p1")),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Adds a cell to `cell_mappings`.
    pub async fn add_cell(
        db: &Db,
        id: i64,
        uuid: &str,
        name: &str,
        database_connection: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = db.begin_write().await?;
        insert(
            &mut tx,
            "cell_mappings",
            &[
                ("id", Value::Int(id)),
                ("uuid", Value::Text(uuid)),
                ("name", Value::Text(name)),
                ("transport_url", Value::Text("none:///")),
                ("database_connection", Value::Text(database_connection)),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// The API rows Nova keeps for an instance in cell `cell_id`: its
    /// mapping (queued for delete once deleted), request spec, group
    /// membership, and a stray build request as Nova sometimes leaves.
    pub async fn add_instance(
        db: &Db,
        uuid: &str,
        cell_id: i64,
        queued_for_delete: bool,
    ) -> Result<(), sqlx::Error> {
        let mut tx = db.begin_write().await?;
        insert(
            &mut tx,
            "instance_mappings",
            &[
                ("instance_uuid", Value::Text(uuid)),
                ("cell_id", Value::Int(cell_id)),
                ("project_id", Value::Text("p1")),
            ],
        )
        .await?;
        if queued_for_delete {
            // Booleans are bound as text-free SQL so that the one statement
            // works on every backend.
            let mut stmt = tx.stmt();
            stmt.push("UPDATE ")
                .ident("instance_mappings")
                .push(" SET ")
                .ident("queued_for_delete")
                .push(" = TRUE WHERE ")
                .ident("instance_uuid")
                .push(" = ")
                .bind_text(uuid);
            tx.execute(&stmt).await?;
        }
        insert(
            &mut tx,
            "request_specs",
            &[
                ("instance_uuid", Value::Text(uuid)),
                ("spec", Value::Text("{}")),
            ],
        )
        .await?;
        insert(
            &mut tx,
            "instance_group_member",
            &[
                ("instance_uuid", Value::Text(uuid)),
                ("group_id", Value::Int(1)),
            ],
        )
        .await?;
        insert(
            &mut tx,
            "build_requests",
            &[
                ("instance_uuid", Value::Text(uuid)),
                ("project_id", Value::Text("p1")),
            ],
        )
        .await?;
        tx.commit().await
    }
}
