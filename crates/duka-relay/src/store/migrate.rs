//! Opening the database file and bringing its schema up to date: numbered migrations from
//! `migrations/`, embedded in the binary, each applied in one transaction and recorded in
//! `PRAGMA user_version`. A database from a newer relay is refused before anything is written.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// One numbered migration: its SQL, embedded from `migrations/`, and, when the SQL cannot
/// safely run twice, a query that answers 1 if a database never stamped with this version
/// already has its changes (the first relays wrote tables without recording a version).
struct Migration {
    sql: &'static str,
    present: Option<&'static str>,
}

/// Migrations in order; migration N (1-based) brings the schema to `user_version = N`. The
/// numbers are those the relay has always written (1, then 2), so existing databases keep
/// theirs.
const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: include_str!("../../migrations/0001_init.sql"),
        // CREATE ... IF NOT EXISTS: correct whether or not the tables are there.
        present: None,
    },
    Migration {
        sql: include_str!("../../migrations/0002_epochs_held_claims.sql"),
        present: Some(
            "SELECT (SELECT count(*) FROM pragma_table_info('tills') WHERE name = 'epoch')
                  + (SELECT count(*) FROM sqlite_schema
                     WHERE type = 'table' AND name IN ('shop_held', 'claims')) = 3",
        ),
    },
    Migration {
        sql: include_str!("../../migrations/0003_records.sql"),
        present: None,
    },
    Migration {
        sql: include_str!("../../migrations/0004_rekey.sql"),
        present: None,
    },
];

/// The schema version this build creates and knows; a database above it is refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens a connection to `path`, refusing (before anything is written to the file) a
/// database whose schema is newer than this build knows.
pub(super) fn open_conn(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    c.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(c)
}

/// Applies the migrations `c`'s database lacks, each in its own transaction together with
/// its `user_version` stamp. The version is read again under the write lock, so two
/// processes opening one file never apply a migration twice.
pub(super) fn migrate(c: &mut Connection, path: &Path) -> Result<()> {
    let start: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(start.max(0) as usize) {
        let version = i as i64 + 1;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: path.to_path_buf(),
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        if current >= version {
            continue;
        }
        let present = match m.present {
            Some(q) => tx.query_row(q, [], |r| r.get::<_, bool>(0))?,
            None => false,
        };
        if present {
            tracing::info!(
                "{}: schema version {version} is already there (never recorded): recorded now",
                path.display()
            );
        } else {
            tx.execute_batch(m.sql)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        tx.commit()?;
    }
    Ok(())
}
