//! PostgreSQL's schema: numbered migrations from `migrations/pg/`, embedded in the binary,
//! applied in one transaction under an advisory lock (two processes starting at once never
//! apply one twice) and recorded in `relay_schema`. A database from a newer relay is refused
//! before anything is written.

use tokio_postgres::Client;

use crate::error::{Error, Result};

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/pg/0001_init.sql"),
    include_str!("../../../migrations/pg/0002_records.sql"),
    include_str!("../../../migrations/pg/0003_rekey.sql"),
];

/// The schema version this build creates and knows; a database above it is refused.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Any number, the same in every relay process: the key of the migration lock.
const LOCK: i64 = 0x6475_6b61_7265_6c61;

async fn version(c: &impl tokio_postgres::GenericClient) -> Result<Option<i64>> {
    let exists: bool = c
        .query_one("SELECT to_regclass('relay_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let v: Option<i32> = c
        .query_one("SELECT max(version) FROM relay_schema", &[])
        .await?
        .get(0);
    Ok(Some(i64::from(v.unwrap_or(0))))
}

fn too_new(database: &str, found: i64) -> Error {
    Error::DatabaseTooNew {
        database: database.to_string(),
        found,
        supported: PG_SCHEMA_VERSION,
    }
}

/// Brings the schema up to date; `database` names it in errors.
pub(super) async fn migrate(c: &mut Client, database: &str) -> Result<()> {
    // Read first, outside any transaction that writes: a newer schema is refused untouched.
    if let Some(v) = version(&*c).await?
        && v > PG_SCHEMA_VERSION
    {
        return Err(too_new(database, v));
    }
    let tx = c.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await?;
    let current = match version(&tx).await? {
        Some(v) => v,
        None => {
            tx.batch_execute(
                "CREATE TABLE relay_schema (version integer PRIMARY KEY, applied_at bigint NOT NULL)",
            )
            .await?;
            0
        }
    };
    if current > PG_SCHEMA_VERSION {
        return Err(too_new(database, current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let v = i as i32 + 1;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO relay_schema (version, applied_at) VALUES ($1, $2)",
            &[&v, &super::super::now_ms()],
        )
        .await?;
        tracing::info!("{database}: schema version {v} applied");
    }
    tx.commit().await?;
    Ok(())
}
