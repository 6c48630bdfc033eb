//! The SQLite backend: `relay.db` in the data directory, one group-committing writer thread
//! for every write, and one connection of its own for reads.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use duka_relay_proto::Kind;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::migrate::{migrate, open_conn};
use super::writer::{Write, writer};
use super::{ClaimOutcome, Shop, Storage, Stored, Till, now_ms, random_hex};
use crate::error::{Error, Result};

/// The SQLite store: group-committing writer plus a read connection.
pub struct SqliteStore {
    writer: std_mpsc::Sender<Write>,
    reader: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) `relay.db` in `dir` and brings its schema up to date.
    /// Refuses, changing nothing, a database a newer relay wrote (`db_schema_too_new`).
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        let path = dir.join("relay.db");
        let mut w = open_conn(&path)?;
        migrate(&mut w, &path)?;
        let reader = open_conn(&path)?;
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("relay-writer".into())
            .spawn(move || writer(w, rx))
            .map_err(|e| Error::Io(e.to_string()))?;
        Ok(SqliteStore {
            writer: tx,
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// `add_till` in one IMMEDIATE transaction on the read connection; returns the new id.
    fn add_till_sync(&self, shop_name: &str, till_name: &str) -> Result<String> {
        let c = self.read();
        // IMMEDIATE: the write lock is taken first, so the busy timeout waits for the writer
        // thread instead of failing "database is locked" when a read would have to upgrade.
        let tx =
            rusqlite::Transaction::new_unchecked(&c, rusqlite::TransactionBehavior::Immediate)?;
        let shop: Option<String> = tx
            .query_row("SELECT id FROM shops WHERE name = ?1", [shop_name], |r| {
                r.get(0)
            })
            .optional()?;
        let shop = match shop {
            Some(id) => id,
            None => {
                let id = random_hex(6);
                tx.execute(
                    "INSERT INTO shops (id, name, key, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, shop_name, random_hex(32), now_ms()],
                )?;
                id
            }
        };
        let id = random_hex(8);
        tx.execute(
            "INSERT INTO tills (id, shop_id, name, key, created_at, epoch) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, shop, till_name, random_hex(32), now_ms(), random_hex(8)],
        )?;
        // What came for the shop while it had no live till goes to this one, in order.
        let held = tx.execute(
            "INSERT INTO messages (till_id, seq, kind, attempt_id, body, received_at)
             SELECT ?1, row_number() OVER (ORDER BY id), kind, NULL, body, received_at
             FROM shop_held WHERE shop_id = ?2",
            params![id, shop],
        )?;
        tx.execute(
            "UPDATE tills SET last_seq = ?2 WHERE id = ?1",
            params![id, held as i64],
        )?;
        tx.execute("DELETE FROM shop_held WHERE shop_id = ?1", [&shop])?;
        tx.commit()?;
        Ok(id)
    }

    fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Storage for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// `insert`; with no till given, the message is held for `hold_for` (a shop) durably and
    /// handed to the next till added to it.
    async fn insert_or_hold(
        &self,
        tills: Vec<String>,
        kind: Kind,
        attempt_id: Option<String>,
        body: Arc<str>,
        hold_for: Option<String>,
    ) -> Result<Vec<Stored>> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Write::Insert {
                tills,
                kind,
                attempt_id,
                body,
                hold_for,
                reply,
            })
            .map_err(|_| Error::Io("the store's writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Io("the store's writer stopped".into()))?
    }

    async fn ack(&self, till: &str, seq: u64) {
        let _ = self.writer.send(Write::Ack {
            till: till.into(),
            seq,
        });
    }

    async fn expire(&self, before_ms: i64) -> Result<usize> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Write::Expire { before_ms, reply })
            .map_err(|_| Error::Io("the store's writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Io("the store's writer stopped".into()))?
    }

    /// Claims receipt `key` of `shop` for `till`'s `sale`: the first claim wins (a till's own
    /// claim is its own and moves to the new sale). Committed before it returns, together with
    /// a `claimed` message for each other live till of the shop when the claim is new.
    async fn claim(
        &self,
        shop: &str,
        key: &str,
        till: &str,
        sale: &str,
        amount_cents: Option<i64>,
    ) -> Result<ClaimOutcome> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Write::Claim {
                shop: shop.into(),
                key: key.into(),
                till: till.into(),
                sale: sale.into(),
                amount_cents,
                reply,
            })
            .map_err(|_| Error::Io("the store's writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Io("the store's writer stopped".into()))?
    }

    /// Gives receipt `key` back if `till` holds it for `sale`; returns the `claimed` notices
    /// (`released: true`) stored for the shop's other tills (none when nothing was released).
    async fn release(&self, shop: &str, key: &str, till: &str, sale: &str) -> Result<Vec<Stored>> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Write::Release {
                shop: shop.into(),
                key: key.into(),
                till: till.into(),
                sale: sale.into(),
                reply,
            })
            .map_err(|_| Error::Io("the store's writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Io("the store's writer stopped".into()))?
    }

    /// Which till (and sale) holds receipt `key` in `shop`, if any.
    async fn claim_owner(&self, shop: &str, key: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .read()
            .query_row(
                "SELECT till_id, sale FROM claims WHERE shop_id = ?1 AND key = ?2",
                params![shop, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Messages for a till after `after`, in order, at most `limit`.
    async fn pending(&self, till: &str, after: u64, limit: usize) -> Result<Vec<Stored>> {
        let c = self.read();
        let mut st = c.prepare_cached(
            "SELECT seq, kind, attempt_id, body FROM messages WHERE till_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = st.query_map(params![till, after as i64, limit as i64], |r| {
            Ok(Stored {
                till_id: till.to_string(),
                seq: r.get::<_, i64>(0)? as u64,
                kind: Kind::parse(&r.get::<_, String>(1)?).unwrap_or(Kind::Stk),
                attempt_id: r.get(2)?,
                body: Arc::from(r.get::<_, String>(3)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn unacked(&self, till: &str) -> Result<u64> {
        Ok(self.read().query_row(
            "SELECT count(*) FROM messages WHERE till_id = ?1",
            [till],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    async fn till(&self, id: &str) -> Result<Option<Till>> {
        let c = self.read();
        Ok(c.query_row(
            "SELECT t.id, t.shop_id, s.name, t.name, t.key, t.last_seq, t.revoked_at IS NOT NULL, t.epoch
             FROM tills t JOIN shops s ON s.id = t.shop_id WHERE t.id = ?1",
            [id],
            till_row,
        )
        .optional()?)
    }

    async fn tills(&self) -> Result<Vec<Till>> {
        let c = self.read();
        let mut st = c.prepare(
            "SELECT t.id, t.shop_id, s.name, t.name, t.key, t.last_seq, t.revoked_at IS NOT NULL, t.epoch
             FROM tills t JOIN shops s ON s.id = t.shop_id ORDER BY s.name, t.name",
        )?;
        let rows = st.query_map([], till_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Live (not revoked) tills of a shop.
    async fn shop_tills(&self, shop: &str) -> Result<Vec<String>> {
        let c = self.read();
        let mut st = c.prepare_cached(
            "SELECT id FROM tills WHERE shop_id = ?1 AND revoked_at IS NULL ORDER BY id",
        )?;
        let rows = st.query_map([shop], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn shop(&self, id_or_name: &str) -> Result<Option<Shop>> {
        let c = self.read();
        Ok(c.query_row(
            "SELECT id, name, key, c2b_default FROM shops WHERE id = ?1 OR name = ?1",
            [id_or_name],
            |r| {
                Ok(Shop {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    key: hex::decode(r.get::<_, String>(2)?).unwrap_or_default(),
                    c2b_default: r.get(3)?,
                })
            },
        )
        .optional()?)
    }

    /// Admin: a new till (and its shop, if new). Returns the till with its key.
    async fn add_till(&self, shop_name: &str, till_name: &str) -> Result<Till> {
        let (shop_name, till_name) = super::check_names(shop_name, till_name)?;
        let id = self.add_till_sync(shop_name, till_name)?;
        self.till(&id)
            .await?
            .ok_or_else(|| Error::Io("till vanished".into()))
    }

    /// Unacknowledged messages by shop.
    async fn unacked_by_shop(&self) -> Result<Vec<(String, u64)>> {
        let c = self.read();
        let mut st = c.prepare_cached(
            "SELECT s.id, count(m.seq) FROM shops s
             LEFT JOIN tills t ON t.shop_id = s.id LEFT JOIN messages m ON m.till_id = t.id
             GROUP BY s.id ORDER BY s.id",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Messages held for a shop that has no live till.
    async fn held_for_shop(&self, shop: &str) -> Result<u64> {
        Ok(self.read().query_row(
            "SELECT count(*) FROM shop_held WHERE shop_id = ?1",
            [shop],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Tills revoked at or after `since_ms`.
    async fn revoked_since(&self, since_ms: i64) -> Result<Vec<String>> {
        let c = self.read();
        let mut st =
            c.prepare_cached("SELECT id FROM tills WHERE revoked_at >= ?1 OR rekeyed_at >= ?1")?;
        let rows = st.query_map([since_ms], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves a till's numbering past `at_least` (a till's watermark from before a restored
    /// backup), so a new message never reuses a seq the till has already applied. Ordered with
    /// inserts by the writer.
    async fn bump_seq(&self, till: &str, at_least: u64) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Write::Bump {
                till: till.into(),
                at_least,
                reply,
            })
            .map_err(|_| Error::Io("the store's writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Io("the store's writer stopped".into()))?
    }

    async fn revoke_till(&self, id: &str) -> Result<bool> {
        let n = self.read().execute(
            "UPDATE tills SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, now_ms()],
        )?;
        Ok(n == 1)
    }

    async fn rekey_till(&self, id: &str) -> Result<Option<Till>> {
        let n = self.read().execute(
            "UPDATE tills SET key = ?2, rekeyed_at = ?3 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, random_hex(32), now_ms()],
        )?;
        if n == 0 {
            return Ok(None);
        }
        self.till(id).await
    }

    async fn sync_put(&self, till: &str, records: Vec<super::Record>, upto: u64) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Write::Sync {
                till: till.into(),
                records,
                upto,
                reply,
            })
            .map_err(|_| Error::Io("the store's writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Io("the store's writer stopped".into()))?
    }

    async fn sync_position(&self, till: &str) -> Result<u64> {
        let seq: i64 = self
            .read()
            .query_row("SELECT sync_seq FROM tills WHERE id = ?1", [till], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        Ok(seq as u64)
    }

    async fn records_after(
        &self,
        till: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<super::Record>> {
        let c = self.read();
        let mut st = c.prepare_cached(
            "SELECT seq, tbl, pk, body, at FROM records
             WHERE till_id = ?1 AND seq > ?2 AND body IS NOT NULL AND tbl != 'day'
             ORDER BY seq LIMIT ?3",
        )?;
        let rows = st.query_map(params![till, after as i64, limit as i64], |r| {
            Ok(super::Record {
                seq: r.get::<_, i64>(0)? as u64,
                table: r.get(1)?,
                pk: r.get(2)?,
                body: r.get(3)?,
                at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn history_of(&self, till: &str) -> Result<Option<String>> {
        let body: Option<Option<String>> = self
            .read()
            .query_row(
                "SELECT body FROM records WHERE till_id = ?1 AND tbl = 'history' AND pk = '[]'",
                [till],
                |r| r.get(0),
            )
            .optional()?;
        Ok(super::history_id(body.flatten().as_deref()))
    }

    async fn shop_days(&self, shop: &str, date: &str) -> Result<Vec<super::TillDay>> {
        let pk = serde_json::to_string(&[date]).expect("serialisable");
        let c = self.read();
        let mut st = c.prepare_cached(
            "SELECT t.id, t.name, r.received_at, r.body FROM tills t
             LEFT JOIN records r ON r.till_id = t.id AND r.tbl = 'day' AND r.pk = ?2
             WHERE t.shop_id = ?1 AND (t.revoked_at IS NULL OR r.body IS NOT NULL)
             ORDER BY t.name, t.id",
        )?;
        let rows = st.query_map(params![shop, pk], |r| {
            Ok(super::TillDay {
                till: r.get(0)?,
                name: r.get(1)?,
                synced_at: r.get(2)?,
                body: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn expire_records(&self, before_ms: i64) -> Result<usize> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Write::ExpireRecords { before_ms, reply })
            .map_err(|_| Error::Io("the store's writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Io("the store's writer stopped".into()))?
    }

    async fn set_c2b_default(&self, shop: &str, default: &str) -> Result<()> {
        super::check_c2b_default(default)?;
        self.read().execute(
            "UPDATE shops SET c2b_default = ?2 WHERE id = ?1 OR name = ?1",
            params![shop, default],
        )?;
        Ok(())
    }
}

fn till_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Till> {
    Ok(Till {
        id: r.get(0)?,
        shop_id: r.get(1)?,
        shop_name: r.get(2)?,
        name: r.get(3)?,
        key: hex::decode(r.get::<_, String>(4)?).unwrap_or_default(),
        last_seq: r.get::<_, i64>(5)? as u64,
        revoked: r.get(6)?,
        epoch: r.get(7)?,
    })
}
