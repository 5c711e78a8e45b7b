//! The audit export's lines, as one serde type that both the writer and
//! `restore` use, so that the file format is defined in one place.
//!
//! Lines, in order:
//!
//! ```text
//! {"nova_purge_export":1,"created":"2026-11-29T16:00:00Z"}
//! {"batch":1,"database":"cell","cell":"cell1","table":"instances","row":{"id":7,"uuid":"...",...}}
//! {"batch":1,"database":"cell","cell":"cell1","committed":["<instance uuid>",...]}
//! {"batch":1,"database":"api","cell":"cell1","table":"instance_mappings","row":{...}}
//! {"batch":1,"database":"api","cell":"cell1","committed":["<instance uuid>",...]}
//! ```
//!
//! A batch's rows are written before its commit, the `committed` line
//! after. Each `row` is the database's own JSON rendering of the whole row
//! (`row_to_json` on PostgreSQL, `JSON_OBJECT`/`json_object` of every column
//! on MariaDB/MySQL and SQLite): timestamps, NULLs, large text and numbers
//! come back exactly as they went in.

use purge_api::DatabaseKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The format version written in the header line.
pub const FORMAT_VERSION: u32 = 1;

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// The first line: what the file is.
    Header(Header),
    /// A row about to be deleted.
    Row(RowRecord),
    /// The transaction that deleted a batch's rows in one database committed.
    Committed(CommitRecord),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub nova_purge_export: u32,
    /// RFC 3339, UTC.
    pub created: String,
}

/// Which database a batch part was deleted from.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRecord {
    pub batch: u64,
    pub database: Database,
    /// The cell's name (or uuid) when the run knew it.
    pub cell: Option<String>,
    pub table: String,
    pub row: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRecord {
    pub batch: u64,
    pub database: Database,
    pub cell: Option<String>,
    /// The uuids of the instances whose rows the batch deleted.
    pub committed: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_line_reads_back_as_itself() {
        let lines = [
            r#"{"nova_purge_export":1,"created":"2026-11-29T16:00:00Z"}"#,
            r#"{"batch":1,"database":"cell","cell":"cell1","table":"instances","row":{"id":7}}"#,
            r#"{"batch":1,"database":"api","cell":null,"committed":["u1"]}"#,
        ];
        let records: Vec<Record> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(matches!(records[0], Record::Header(_)));
        assert!(matches!(records[1], Record::Row(_)));
        assert!(matches!(records[2], Record::Committed(_)));
        for (line, record) in lines.iter().zip(&records) {
            assert_eq!(serde_json::to_string(record).unwrap(), *line);
        }
    }
}
