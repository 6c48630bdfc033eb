//! The SQLite store: one file, WAL, `synchronous=FULL` (a till must survive a power cut),
//! numbered migrations embedded in the binary and applied in one transaction on open.

mod c2b;
mod catalog;
mod claims;
mod discounts;
mod payments;
mod refunds;
mod reports;
mod sales;
mod shifts;
mod stock;
pub mod sync;
mod verify;

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

pub use c2b::IncomingPayment;
pub use catalog::{Cashier, ImportSummary, PIN_FREE_TRIES, PIN_HARD_LOCK, PinLock, pin_lock};
pub use claims::{Claim, LostClaim, PendingClaim, TakenBy};
pub use discounts::DiscountBy;
pub use payments::{Applied, Attempt, MAX_PUSH, PaymentEventRow};
pub use refunds::{MpesaPayment, Refund, RefundLine, RefundLineInput};
pub use reports::{
    CashierTotal, DayReport, ExportRow, HourTotal, ReceiptRow, TenderTotal, write_export_csv,
};
pub use sales::{LineEdit, SaleEdit};
pub use shifts::{DayClose, DrawerKind, DrawerMove, Shift, Tally, ZReport};
pub use stock::StockMove;
pub use verify::Verification;

use crate::error::{Error, Result};

/// `PRAGMA application_id` of a Duka database: "DUKA" in ASCII.
pub const APPLICATION_ID: i64 = 0x4455_4B41;

/// Migrations in order; migration N (1-based) brings the schema to `user_version = N`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_c2b_inbox.sql"),
    include_str!("../../migrations/0003_follow_given_up.sql"),
    include_str!("../../migrations/0004_pin_lockout.sql"),
    include_str!("../../migrations/0005_shop_claims.sql"),
    include_str!("../../migrations/0006_sale_edits.sql"),
    include_str!("../../migrations/0007_shop_day.sql"),
    include_str!("../../migrations/0008_voided_by.sql"),
    include_str!("../../migrations/0009_sync_outbox.sql"),
];

/// How long a write waits for another process's transaction before it fails as busy.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path`. Refuses, changing nothing, a file
    /// that is not a Duka database or that a newer Duka wrote.
    pub fn open(path: &Path) -> Result<Store> {
        check_header(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Store::init(conn, path.to_path_buf())
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Store> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let not_duka = |reason: String| Error::NotDukaDb {
            path: path.clone(),
            reason,
        };
        // Read-only checks first: nothing is written to a file we will refuse.
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| not_duka(e.to_string()))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        if app_id != 0 && app_id != APPLICATION_ID {
            return Err(not_duka(format!("application_id is {app_id:#x}")));
        }
        if app_id == 0 && (version != 0 || tables != 0) {
            return Err(not_duka("an SQLite database of another program".into()));
        }
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if path.as_os_str() != ":memory:" {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::Config(format!(
                    "{}: could not switch to WAL (got {mode})",
                    path.display()
                )));
            }
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        let mut store = Store { conn, path };
        store.migrate(version)?;
        Ok(store)
    }

    fn migrate(&mut self, from: i64) -> Result<()> {
        if from == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)?;
        // Re-read under the lock: another process may have migrated meanwhile.
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        }
        // The outbox triggers follow the tables' columns, so they are made again after any
        // migration (one that adds a column gets it synced).
        sync::install_triggers(&tx)?;
        tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
        tx.commit()?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// A write transaction that takes the lock at once (no upgrade deadlock between the
    /// desktop app and the CLI on one file).
    fn write(&mut self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    // ---- settings (never secrets) ----

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Several settings in one transaction: all are written or none. `None` removes one.
    pub fn set_settings(&mut self, values: &[(&str, Option<&str>)]) -> Result<()> {
        let tx = self.write()?;
        for (key, value) in values {
            match value {
                Some(v) => tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![key, v],
                )?,
                None => tx.execute("DELETE FROM settings WHERE key = ?1", [key])?,
            };
        }
        tx.commit()?;
        Ok(())
    }

    pub fn settings(&self) -> Result<Vec<(String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT key, value FROM settings ORDER BY key")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A stored value that breaks a domain rule (cannot happen through this API).
pub(crate) fn bad_column(e: Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
}

/// Refuses a non-empty file that is not SQLite before SQLite touches it.
pub(crate) fn check_header(path: &Path) -> Result<()> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    if n == 0 {
        return Ok(());
    }
    if n < 16 || &head != b"SQLite format 3\0" {
        return Err(Error::NotDukaDb {
            path: path.to_path_buf(),
            reason: "the file is not an SQLite database (corrupt or another kind of file)".into(),
        });
    }
    Ok(())
}

/// A database as an older Duka left it: only the first `n` migrations applied, in WAL mode like
/// a real till's. The upgrade tests fill it with rows that release's schema had, then open it
/// with the current `Store`.
#[cfg(test)]
pub(crate) fn create_at_version(path: &Path, n: usize) -> Result<Connection> {
    assert!(
        n <= MIGRATIONS.len(),
        "there are only {} migrations",
        MIGRATIONS.len()
    );
    let mut conn = Connection::open(path)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    let tx = conn.transaction()?;
    for (i, sql) in MIGRATIONS[..n].iter().enumerate() {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
    tx.commit()?;
    Ok(conn)
}

#[cfg(test)]
mod day_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrade_tests;
