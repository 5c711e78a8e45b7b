//! The only schema changes nova-purge knows: the indexes `create-indexes`
//! adds for lookups that `check` finds no index serving. Their names and
//! statements live here, below both, so that `check`'s suggestion and
//! `create-indexes` speak of the same index. `purge` never runs them.

use purge_api::{Backend, Stmt};

/// Every index nova-purge creates is named with this prefix, so that an
/// operator (and a later run) can tell it from Nova's own.
pub const INDEX_PREFIX: &str = "nova_purge_";

/// PostgreSQL cuts identifiers at 63 bytes, MariaDB/MySQL refuse index
/// names over 64 characters; 63 bytes fit both (and SQLite).
const MAX_NAME_BYTES: usize = 63;

/// `nova_purge_<table>_<column>`: the same name on every run, so that a
/// rerun recognises its own index. A name too long for PostgreSQL keeps
/// its first bytes and ends with a hash of the table and column, so that
/// two long names that share a beginning stay apart.
pub fn index_name(table: &str, column: &str) -> String {
    let name = format!("{INDEX_PREFIX}{table}_{column}");
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let hash = format!("_{:08x}", fnv1a(&[table, "\0", column].concat()));
    let mut cut = MAX_NAME_BYTES - hash.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{hash}", &name[..cut])
}

/// 32-bit FNV-1a: stable across Rust releases and platforms, unlike
/// `std`'s hashers, which a name that must be found again needs.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The statement that creates the index `name` on `table (column)` without
/// blocking writes: `CREATE INDEX CONCURRENTLY` on PostgreSQL (never inside
/// a transaction), `ALTER TABLE ... ADD INDEX ..., ALGORITHM=INPLACE,
/// LOCK=NONE` on MariaDB/MySQL (the server refuses, rather than locking,
/// when it cannot build it online), a plain `CREATE INDEX` on SQLite (a
/// local file, which writers wait for anyway).
pub fn create_index(backend: Backend, name: &str, table: &str, column: &str) -> Stmt {
    let mut stmt = Stmt::new(backend);
    match backend {
        Backend::MySql => {
            stmt.push("ALTER TABLE ")
                .ident(table)
                .push(" ADD INDEX ")
                .ident(name)
                .push(" (")
                .ident(column)
                .push("), ALGORITHM=INPLACE, LOCK=NONE");
        }
        Backend::Postgres | Backend::Sqlite => {
            stmt.push(if backend == Backend::Postgres {
                "CREATE INDEX CONCURRENTLY "
            } else {
                "CREATE INDEX "
            })
            .ident(name)
            .push(" ON ")
            .ident(table)
            .push(" (")
            .ident(column)
            .push(")");
        }
    }
    stmt
}

/// Drops what a failed `CREATE INDEX CONCURRENTLY` left of `name` (an
/// INVALID index), without blocking writes either. PostgreSQL only: the
/// other backends leave nothing behind.
pub fn drop_invalid_index(name: &str) -> Stmt {
    let mut stmt = Stmt::new(Backend::Postgres);
    stmt.push("DROP INDEX CONCURRENTLY IF EXISTS ").ident(name);
    stmt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ours_deterministic_and_short_enough() {
        assert_eq!(
            index_name("migrations", "instance_uuid"),
            "nova_purge_migrations_instance_uuid"
        );
        let long = index_name(&"t".repeat(60), "instance_uuid");
        assert!(long.len() <= 63 && long.starts_with(INDEX_PREFIX), "{long}");
        assert_eq!(long, index_name(&"t".repeat(60), "instance_uuid"));
        assert_ne!(long, index_name(&"t".repeat(60), "instance_uuie"));
        // Cut on a character boundary, whatever the bytes.
        let wide = index_name(&"é".repeat(40), "c");
        assert!(wide.len() <= 63, "{wide}");
    }

    #[test]
    fn identifiers_are_quoted_for_each_backend() {
        let name = index_name("we\"ird`", "k\"ey");
        assert_eq!(
            create_index(Backend::Postgres, &name, "we\"ird`", "k\"ey").sql(),
            r#"CREATE INDEX CONCURRENTLY "nova_purge_we""ird`_k""ey" ON "we""ird`" ("k""ey")"#
        );
        assert_eq!(
            create_index(Backend::MySql, &name, "we\"ird`", "key").sql(),
            "ALTER TABLE `we\"ird``` ADD INDEX `nova_purge_we\"ird``_k\"ey` (`key`), ALGORITHM=INPLACE, LOCK=NONE"
        );
        assert_eq!(
            drop_invalid_index("nova_purge_a_b").sql(),
            r#"DROP INDEX CONCURRENTLY IF EXISTS "nova_purge_a_b""#
        );
    }
}
