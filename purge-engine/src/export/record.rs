//! The audit export's lines, as one serde type that both the writer and
//! `restore` use, so that the file format is defined in one place.
//!
//! Lines of format 2, in order:
//!
//! ```text
//! {"nova_purge_export":2,"created":"2026-11-29T16:00:00Z"}
//! {"source":1,"database":"cell","cell":"cell1","cell_uuid":"…","backend":"mysql","name":"nova_cell1"}
//! {"batch":1,"source":1,"table":"instances","row":{"id":7,"uuid":"…",…}}
//! {"batch":1,"source":1,"committed":["<instance uuid>",…]}
//! {"source":2,"database":"api","cell":null,"cell_uuid":null,"backend":"mysql","name":"nova_api"}
//! {"batch":1,"source":2,"table":"instance_mappings","row":{…}}
//! {"batch":1,"source":2,"committed":["<instance uuid>",…]}
//! ```
//!
//! A `source` line says, once, where the parts that name it were deleted:
//! which database (a cell, with its name and uuid from `cell_mappings` when
//! the run knew them, or the API database), on which backend, under which
//! database name; `restore` puts them back only there. A batch's rows are
//! written before its commit, the `committed` line after. Each `row` is the
//! database's own JSON rendering of the whole row (`row_to_json` on
//! PostgreSQL, `JSON_OBJECT`/`json_object` of every column on MariaDB/MySQL
//! and SQLite): timestamps, NULLs, large text and numbers come back exactly
//! as they went in.
//!
//! Format 1 (nova-purge 0.1) had no `source` lines: each row and commit
//! named its `database` and `cell` itself. `restore` still reads it.

use purge_api::DatabaseKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The format version written in the header line.
pub const FORMAT_VERSION: u32 = 2;

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// The first line: what the file is.
    Header(Header),
    /// Where the parts that name this source were deleted.
    Source(Source),
    /// A row that was deleted.
    Row(RowRecord),
    /// The transaction that deleted a batch's rows in one database committed.
    Committed(CommitRecord),
    /// Format 1: a row, naming its database itself.
    RowV1(RowRecordV1),
    /// Format 1: a commit, naming its database itself.
    CommittedV1(CommitRecordV1),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub nova_purge_export: u32,
    /// RFC 3339, UTC.
    pub created: String,
}

/// Which kind of Nova database a part was deleted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    Cell,
    Api,
}

impl From<DatabaseKind> for Database {
    fn from(kind: DatabaseKind) -> Self {
        match kind {
            DatabaseKind::Cell => Database::Cell,
            DatabaseKind::Api => Database::Api,
        }
    }
}

impl From<Database> for DatabaseKind {
    fn from(database: Database) -> Self {
        match database {
            Database::Cell => DatabaseKind::Cell,
            Database::Api => DatabaseKind::Api,
        }
    }
}

/// A database the export holds rows of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Its number, which rows and commits name.
    pub source: u32,
    pub database: Database,
    /// The cell's name in `cell_mappings`, when the run knew it.
    pub cell: Option<String>,
    /// The cell's uuid in `cell_mappings`, when the run knew it.
    pub cell_uuid: Option<String>,
    /// `mysql`, `postgresql` or `sqlite`; `None` in a format 1 file.
    pub backend: Option<String>,
    /// The database's name on its server (the file for SQLite); `None` in
    /// a format 1 file.
    pub name: Option<String>,
}

impl Source {
    /// Where its parts were deleted, without its number.
    pub fn place(&self) -> Place {
        Place {
            database: self.database,
            cell: self.cell.clone(),
            cell_uuid: self.cell_uuid.clone(),
            backend: self.backend.clone(),
            name: self.name.clone(),
        }
    }
}

/// Where a part was deleted: a [`Source`] without its number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    pub database: Database,
    pub cell: Option<String>,
    pub cell_uuid: Option<String>,
    pub backend: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRecord {
    pub batch: u64,
    pub source: u32,
    pub table: String,
    pub row: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRecord {
    pub batch: u64,
    pub source: u32,
    /// The uuids of the instances whose rows the batch deleted.
    pub committed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRecordV1 {
    pub batch: u64,
    pub database: Database,
    pub cell: Option<String>,
    pub table: String,
    pub row: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRecordV1 {
    pub batch: u64,
    pub database: Database,
    pub cell: Option<String>,
    pub committed: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_line_reads_back_as_itself() {
        let lines = [
            r#"{"nova_purge_export":2,"created":"2026-11-29T16:00:00Z"}"#,
            r#"{"source":1,"database":"cell","cell":"cell1","cell_uuid":"c1","backend":"mysql","name":"nova"}"#,
            r#"{"batch":1,"source":1,"table":"instances","row":{"id":7}}"#,
            r#"{"batch":1,"source":1,"committed":["u1"]}"#,
            r#"{"batch":1,"database":"cell","cell":"cell1","table":"instances","row":{"id":7}}"#,
            r#"{"batch":1,"database":"api","cell":null,"committed":["u1"]}"#,
        ];
        let records: Vec<Record> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(matches!(records[0], Record::Header(_)));
        assert!(matches!(records[1], Record::Source(_)));
        assert!(matches!(records[2], Record::Row(_)));
        assert!(matches!(records[3], Record::Committed(_)));
        assert!(matches!(records[4], Record::RowV1(_)));
        assert!(matches!(records[5], Record::CommittedV1(_)));
        for (line, record) in lines.iter().zip(&records) {
            assert_eq!(serde_json::to_string(record).unwrap(), *line);
        }
    }

    #[test]
    fn a_commit_that_is_not_a_list_of_uuids_is_not_a_commit() {
        for line in [
            r#"{"batch":1,"source":1,"committed":false}"#,
            r#"{"batch":1,"source":1,"committed":"yes"}"#,
            r#"{"batch":1,"database":"cell","cell":null,"committed":false}"#,
        ] {
            assert!(serde_json::from_str::<Record>(line).is_err(), "{line}");
        }
    }
}
