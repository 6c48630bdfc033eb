//! The relay's SQLite store. Writes go through one thread that commits whatever is waiting in
//! one transaction (group commit, fsync on), so each callback is durable before Daraja hears
//! "Accepted" and thousands per second still fit in a few fsyncs.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use duka_relay_proto::Kind;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS shops (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, key TEXT NOT NULL,
    c2b_default TEXT NOT NULL DEFAULT 'Completed' CHECK (c2b_default IN ('Completed', 'Cancelled')),
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tills (
    id TEXT PRIMARY KEY, shop_id TEXT NOT NULL REFERENCES shops (id), name TEXT NOT NULL,
    key TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    till_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, attempt_id TEXT,
    body TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (till_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_received ON messages (received_at);
";

/// Version 2: each till's numbering run has an epoch (a till whose watermark is from another
/// run re-syncs); C2B confirmations for a shop with no live till are held for the shop and
/// handed to the next till added; shop-wide claims on M-Pesa receipts (first claim wins).
const SCHEMA_V2: &str = "
ALTER TABLE tills ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
UPDATE tills SET epoch = lower(hex(randomblob(8))) WHERE epoch = '';
CREATE TABLE IF NOT EXISTS shop_held (
    id INTEGER PRIMARY KEY, shop_id TEXT NOT NULL REFERENCES shops (id), kind TEXT NOT NULL,
    body TEXT NOT NULL, received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    shop_id TEXT NOT NULL, key TEXT NOT NULL, till_id TEXT NOT NULL, sale TEXT NOT NULL,
    amount_cents INTEGER, claimed_at INTEGER NOT NULL,
    PRIMARY KEY (shop_id, key)
) WITHOUT ROWID;
";

const SCHEMA_VERSION: i64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Till {
    pub id: String,
    pub shop_id: String,
    pub shop_name: String,
    pub name: String,
    #[serde(skip)]
    pub key: Vec<u8>,
    pub last_seq: u64,
    pub revoked: bool,
    /// This till's numbering run (changes only with a new till row).
    pub epoch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shop {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub key: Vec<u8>,
    pub c2b_default: String,
}

/// A stored message for one till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub till_id: String,
    pub seq: u64,
    pub kind: Kind,
    pub attempt_id: Option<String>,
    pub body: Arc<str>,
}

enum Write {
    Insert {
        tills: Vec<String>,
        kind: Kind,
        attempt_id: Option<String>,
        body: Arc<str>,
        /// With no till to store it for: hold it for this shop.
        hold_for: Option<String>,
        reply: oneshot::Sender<Result<Vec<Stored>>>,
    },
    /// The till has applied everything up to `seq`.
    Ack { till: String, seq: u64 },
    Bump {
        till: String,
        at_least: u64,
        reply: oneshot::Sender<Result<u64>>,
    },
    Expire {
        before_ms: i64,
        reply: oneshot::Sender<Result<usize>>,
    },
    Claim {
        shop: String,
        key: String,
        till: String,
        sale: String,
        amount_cents: Option<i64>,
        reply: oneshot::Sender<Result<ClaimOutcome>>,
    },
    Release {
        shop: String,
        key: String,
        till: String,
        sale: String,
        reply: oneshot::Sender<Result<Vec<Stored>>>,
    },
}

/// Who holds a receipt after a claim, and the `claimed` notices stored for the other tills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimOutcome {
    pub won: bool,
    pub till: String,
    pub till_name: String,
    pub sale: String,
    pub notices: Vec<Stored>,
}

/// Handle to the store: group-committing writer plus a read connection.
#[derive(Clone)]
pub struct Store {
    writer: std_mpsc::Sender<Write>,
    reader: Arc<Mutex<Connection>>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn open_conn(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    c.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(c)
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        let path = dir.join("relay.db");
        let w = open_conn(&path)?;
        let version: i64 = w.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Config(format!(
                "{}: schema {version} is newer than this relay",
                path.display()
            )));
        }
        if version < SCHEMA_VERSION {
            let mut batch = String::from("BEGIN IMMEDIATE;");
            if version < 1 {
                batch.push_str(SCHEMA_V1);
            }
            batch.push_str(SCHEMA_V2);
            batch.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"));
            w.execute_batch(&batch)?;
        }
        let reader = open_conn(&path)?;
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("relay-writer".into())
            .spawn(move || writer(w, rx))
            .map_err(|e| Error::Io(e.to_string()))?;
        Ok(Store {
            writer: tx,
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores one message for each till, durably, and returns them with their `seq`.
    pub async fn insert(
        &self,
        tills: Vec<String>,
        kind: Kind,
        attempt_id: Option<String>,
        body: Arc<str>,
    ) -> Result<Vec<Stored>> {
        self.insert_or_hold(tills, kind, attempt_id, body, None)
            .await
    }

    /// `insert`; with no till given, the message is held for `hold_for` (a shop) durably and
    /// handed to the next till added to it.
    pub async fn insert_or_hold(
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

    pub fn ack(&self, till: &str, seq: u64) {
        let _ = self.writer.send(Write::Ack {
            till: till.into(),
            seq,
        });
    }

    pub async fn expire(&self, before_ms: i64) -> Result<usize> {
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
    pub async fn claim(
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
    pub async fn release(
        &self,
        shop: &str,
        key: &str,
        till: &str,
        sale: &str,
    ) -> Result<Vec<Stored>> {
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
    pub fn claim_owner(&self, shop: &str, key: &str) -> Result<Option<(String, String)>> {
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
    pub fn pending(&self, till: &str, after: u64, limit: usize) -> Result<Vec<Stored>> {
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

    pub fn unacked(&self, till: &str) -> Result<u64> {
        Ok(self.read().query_row(
            "SELECT count(*) FROM messages WHERE till_id = ?1",
            [till],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    pub fn till(&self, id: &str) -> Result<Option<Till>> {
        let c = self.read();
        Ok(c.query_row(
            "SELECT t.id, t.shop_id, s.name, t.name, t.key, t.last_seq, t.revoked_at IS NOT NULL, t.epoch
             FROM tills t JOIN shops s ON s.id = t.shop_id WHERE t.id = ?1",
            [id],
            till_row,
        )
        .optional()?)
    }

    pub fn tills(&self) -> Result<Vec<Till>> {
        let c = self.read();
        let mut st = c.prepare(
            "SELECT t.id, t.shop_id, s.name, t.name, t.key, t.last_seq, t.revoked_at IS NOT NULL, t.epoch
             FROM tills t JOIN shops s ON s.id = t.shop_id ORDER BY s.name, t.name",
        )?;
        let rows = st.query_map([], till_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Live (not revoked) tills of a shop.
    pub fn shop_tills(&self, shop: &str) -> Result<Vec<String>> {
        let c = self.read();
        let mut st = c.prepare_cached(
            "SELECT id FROM tills WHERE shop_id = ?1 AND revoked_at IS NULL ORDER BY id",
        )?;
        let rows = st.query_map([shop], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn shop(&self, id_or_name: &str) -> Result<Option<Shop>> {
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
    pub fn add_till(&self, shop_name: &str, till_name: &str) -> Result<Till> {
        let shop_name = shop_name.trim();
        let till_name = till_name.trim();
        if shop_name.is_empty() || till_name.is_empty() {
            return Err(Error::Invalid(
                "shop and name: expected non-empty names".into(),
            ));
        }
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
        drop(c);
        self.till(&id)?
            .ok_or_else(|| Error::Io("till vanished".into()))
    }

    /// Messages held for a shop that has no live till.
    pub fn held_for_shop(&self, shop: &str) -> Result<u64> {
        Ok(self.read().query_row(
            "SELECT count(*) FROM shop_held WHERE shop_id = ?1",
            [shop],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Tills revoked at or after `since_ms`.
    pub fn revoked_since(&self, since_ms: i64) -> Result<Vec<String>> {
        let c = self.read();
        let mut st = c.prepare_cached("SELECT id FROM tills WHERE revoked_at >= ?1")?;
        let rows = st.query_map([since_ms], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves a till's numbering past `at_least` (a till's watermark from before a restored
    /// backup), so a new message never reuses a seq the till has already applied. Ordered with
    /// inserts by the writer.
    pub async fn bump_seq(&self, till: &str, at_least: u64) -> Result<u64> {
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

    pub fn revoke_till(&self, id: &str) -> Result<bool> {
        let n = self.read().execute(
            "UPDATE tills SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, now_ms()],
        )?;
        Ok(n == 1)
    }

    pub fn set_c2b_default(&self, shop: &str, default: &str) -> Result<()> {
        if default != "Completed" && default != "Cancelled" {
            return Err(Error::Invalid(format!(
                "c2b default: expected Completed or Cancelled, got {default:?}"
            )));
        }
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

pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The writer thread: blocks for one request, takes every other one waiting (up to 1,024),
/// commits them in one transaction, then answers them all.
fn writer(mut c: Connection, rx: std_mpsc::Receiver<Write>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let result = commit(&mut c, &batch);
        for (w, r) in batch.into_iter().zip(result) {
            match (w, r) {
                (Write::Insert { reply, .. }, Done::Inserted(res)) => {
                    let _ = reply.send(res);
                }
                (Write::Expire { reply, .. }, Done::Expired(res)) => {
                    let _ = reply.send(res);
                }
                (Write::Bump { reply, .. }, Done::Bumped(res)) => {
                    let _ = reply.send(res);
                }
                (Write::Claim { reply, .. }, Done::Claimed(res)) => {
                    let _ = reply.send(res);
                }
                (Write::Release { reply, .. }, Done::Inserted(res)) => {
                    let _ = reply.send(res);
                }
                _ => {}
            }
        }
    }
}

enum Done {
    Inserted(Result<Vec<Stored>>),
    Expired(Result<usize>),
    Bumped(Result<u64>),
    Claimed(Result<ClaimOutcome>),
    Acked,
}

/// Stores a `claimed` notice for every live till of `shop` but `till`, in the writer's
/// transaction; returns them to hand to the connected sessions.
fn tell_others(
    tx: &rusqlite::Transaction<'_>,
    next: &mut rusqlite::CachedStatement<'_>,
    ins: &mut rusqlite::CachedStatement<'_>,
    shop: &str,
    till: &str,
    notice: &duka_relay_proto::Claimed,
    now: i64,
) -> rusqlite::Result<Vec<Stored>> {
    let body: Arc<str> = Arc::from(serde_json::to_string(notice).expect("serialisable"));
    let others: Vec<String> = {
        let mut st = tx.prepare_cached(
            "SELECT id FROM tills WHERE shop_id = ?1 AND id != ?2 AND revoked_at IS NULL ORDER BY id",
        )?;
        st.query_map(params![shop, till], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut stored = Vec::with_capacity(others.len());
    for t in others {
        let seq: i64 = next.query_row([&t], |r| r.get(0))?;
        ins.execute(params![
            t,
            seq,
            Kind::Claimed.as_str(),
            Option::<String>::None,
            &*body,
            now
        ])?;
        stored.push(Stored {
            till_id: t,
            seq: seq as u64,
            kind: Kind::Claimed,
            attempt_id: None,
            body: body.clone(),
        });
    }
    Ok(stored)
}

fn commit(c: &mut Connection, batch: &[Write]) -> Vec<Done> {
    let run = |c: &mut Connection| -> rusqlite::Result<Vec<Done>> {
        let tx = c.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut next = tx.prepare_cached(
                "UPDATE tills SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
            )?;
            let mut ins = tx.prepare_cached(
                "INSERT INTO messages (till_id, seq, kind, attempt_id, body, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut ack =
                tx.prepare_cached("DELETE FROM messages WHERE till_id = ?1 AND seq <= ?2")?;
            let now = now_ms();
            for w in batch {
                match w {
                    Write::Bump { till, at_least, .. } => {
                        let seq: Option<i64> = tx
                            .query_row(
                                "UPDATE tills SET last_seq = max(last_seq, ?2) WHERE id = ?1 RETURNING last_seq",
                                params![till, *at_least as i64],
                                |r| r.get(0),
                            )
                            .optional()?;
                        out.push(Done::Bumped(Ok(seq.unwrap_or(0) as u64)));
                    }
                    Write::Insert {
                        tills,
                        kind,
                        hold_for,
                        body,
                        ..
                    } if tills.is_empty() => {
                        if let Some(shop) = hold_for {
                            tx.execute(
                                "INSERT INTO shop_held (shop_id, kind, body, received_at) VALUES (?1, ?2, ?3, ?4)",
                                params![shop, kind.as_str(), &**body, now],
                            )?;
                        }
                        out.push(Done::Inserted(Ok(Vec::new())));
                    }
                    Write::Insert {
                        tills,
                        kind,
                        attempt_id,
                        body,
                        ..
                    } => {
                        let mut stored = Vec::with_capacity(tills.len());
                        for t in tills {
                            let seq: i64 = next.query_row([t], |r| r.get(0))?;
                            ins.execute(params![t, seq, kind.as_str(), attempt_id, &**body, now])?;
                            stored.push(Stored {
                                till_id: t.clone(),
                                seq: seq as u64,
                                kind: *kind,
                                attempt_id: attempt_id.clone(),
                                body: body.clone(),
                            });
                        }
                        out.push(Done::Inserted(Ok(stored)));
                    }
                    Write::Ack { till, seq } => {
                        ack.execute(params![till, *seq as i64])?;
                        out.push(Done::Acked);
                    }
                    Write::Release {
                        shop,
                        key,
                        till,
                        sale,
                        ..
                    } => {
                        let freed = tx.execute(
                            "DELETE FROM claims WHERE shop_id = ?1 AND key = ?2 AND till_id = ?3 AND sale = ?4",
                            params![shop, key, till, sale],
                        )?;
                        let notices = if freed == 1 {
                            let notice = duka_relay_proto::Claimed {
                                key: key.clone(),
                                till: till.clone(),
                                till_name: String::new(),
                                sale: sale.clone(),
                                released: true,
                            };
                            tell_others(&tx, &mut next, &mut ins, shop, till, &notice, now)?
                        } else {
                            Vec::new()
                        };
                        out.push(Done::Inserted(Ok(notices)));
                    }
                    Write::Claim {
                        shop,
                        key,
                        till,
                        sale,
                        amount_cents,
                        ..
                    } => {
                        let held: Option<(String, String)> = tx
                            .query_row(
                                "SELECT till_id, sale FROM claims WHERE shop_id = ?1 AND key = ?2",
                                params![shop, key],
                                |r| Ok((r.get(0)?, r.get(1)?)),
                            )
                            .optional()?;
                        let (won, owner, owner_sale, new) = match held {
                            None => {
                                tx.execute(
                                    "INSERT INTO claims (shop_id, key, till_id, sale, amount_cents, claimed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                    params![shop, key, till, sale, amount_cents, now],
                                )?;
                                (true, till.clone(), sale.clone(), true)
                            }
                            Some((t, s)) if t == *till => {
                                if s != *sale {
                                    tx.execute(
                                        "UPDATE claims SET sale = ?3, amount_cents = ?4, claimed_at = ?5 WHERE shop_id = ?1 AND key = ?2",
                                        params![shop, key, sale, amount_cents, now],
                                    )?;
                                }
                                (true, t, sale.clone(), s != *sale)
                            }
                            Some((t, s)) => (false, t, s, false),
                        };
                        let till_name: String = tx
                            .query_row("SELECT name FROM tills WHERE id = ?1", [&owner], |r| {
                                r.get(0)
                            })
                            .optional()?
                            .unwrap_or_default();
                        let notices = if new {
                            let notice = duka_relay_proto::Claimed {
                                key: key.clone(),
                                till: owner.clone(),
                                till_name: till_name.clone(),
                                sale: owner_sale.clone(),
                                released: false,
                            };
                            tell_others(&tx, &mut next, &mut ins, shop, till, &notice, now)?
                        } else {
                            Vec::new()
                        };
                        out.push(Done::Claimed(Ok(ClaimOutcome {
                            won,
                            till: owner,
                            till_name,
                            sale: owner_sale,
                            notices,
                        })));
                    }
                    Write::Expire { before_ms, .. } => {
                        let n = tx
                            .execute("DELETE FROM messages WHERE received_at < ?1", [before_ms])?
                            + tx.execute(
                                "DELETE FROM shop_held WHERE received_at < ?1",
                                [before_ms],
                            )?;
                        out.push(Done::Expired(Ok(n)));
                    }
                }
            }
        }
        tx.commit()?;
        Ok(out)
    };
    match run(c) {
        Ok(out) => out,
        Err(e) => batch
            .iter()
            .map(|w| match w {
                Write::Insert { .. } => Done::Inserted(Err(Error::Db(e.to_string()))),
                Write::Expire { .. } => Done::Expired(Err(Error::Db(e.to_string()))),
                Write::Bump { .. } => Done::Bumped(Err(Error::Db(e.to_string()))),
                Write::Claim { .. } => Done::Claimed(Err(Error::Db(e.to_string()))),
                Write::Release { .. } => Done::Inserted(Err(Error::Db(e.to_string()))),
                Write::Ack { .. } => Done::Acked,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insert_replay_ack_expire_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let t1 = s.add_till("Mama Mboga", "Front").unwrap();
        let t2 = s.add_till("Mama Mboga", "Back").unwrap();
        assert_eq!(t1.shop_id, t2.shop_id);
        assert_eq!(t1.key.len(), 32);
        let a = s
            .insert(
                vec![t1.id.clone()],
                Kind::Stk,
                Some("ab".into()),
                Arc::from("{}"),
            )
            .await
            .unwrap();
        let b = s
            .insert(
                vec![t1.id.clone(), t2.id.clone()],
                Kind::C2bConfirm,
                None,
                Arc::from("{\"x\":1}"),
            )
            .await
            .unwrap();
        assert_eq!((a[0].seq, b[0].seq, b[1].seq), (1, 2, 1));
        assert_eq!(s.pending(&t1.id, 0, 10).unwrap().len(), 2);
        s.ack(&t1.id, 1);
        // The ack goes through the writer; an insert after it is ordered after it.
        s.insert(vec![t2.id.clone()], Kind::Stk, None, Arc::from("{}"))
            .await
            .unwrap();
        let left = s.pending(&t1.id, 0, 10).unwrap();
        assert_eq!(left.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2]);
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.pending(&t1.id, 0, 10).unwrap().len(),
            1,
            "durable across reopen"
        );
        let c = s
            .insert(vec![t1.id.clone()], Kind::Stk, None, Arc::from("{}"))
            .await
            .unwrap();
        assert_eq!(c[0].seq, 3, "seq keeps rising after acks and restarts");
        assert_eq!(s.expire(now_ms() + 1).await.unwrap(), 4);
        assert!(s.pending(&t1.id, 0, 10).unwrap().is_empty());
        assert!(s.revoke_till(&t2.id).unwrap());
        assert_eq!(s.shop_tills(&t1.shop_id).unwrap(), vec![t1.id.clone()]);
    }

    #[tokio::test]
    async fn the_first_claim_on_a_receipt_wins_shop_wide_and_the_other_tills_are_told() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let front = s.add_till("Mama Mboga", "Front").unwrap();
        let back = s.add_till("Mama Mboga", "Back").unwrap();
        let side = s.add_till("Mama Mboga", "Side").unwrap();
        let other_shop = s.add_till("Kiosk", "Only").unwrap();
        let won = s
            .claim(&front.shop_id, "UKN7777777", &front.id, "12", Some(15_000))
            .await
            .unwrap();
        assert!(won.won);
        assert_eq!((won.till_name.as_str(), won.sale.as_str()), ("Front", "12"));
        let told: Vec<&str> = won.notices.iter().map(|n| n.till_id.as_str()).collect();
        let mut others = vec![back.id.as_str(), side.id.as_str()];
        others.sort();
        assert_eq!(
            told, others,
            "every other till of the shop, not the claimer"
        );
        let notice: duka_relay_proto::Claimed =
            serde_json::from_str(&s.pending(&back.id, 0, 10).unwrap()[0].body).unwrap();
        assert_eq!(
            (notice.key.as_str(), notice.till.as_str()),
            ("UKN7777777", front.id.as_str())
        );
        // The second till is refused, naming the first; nobody is told again.
        let lost = s
            .claim(&back.shop_id, "UKN7777777", &back.id, "40", Some(15_000))
            .await
            .unwrap();
        assert!(!lost.won);
        assert_eq!(
            (lost.till.as_str(), lost.sale.as_str()),
            (front.id.as_str(), "12")
        );
        assert!(lost.notices.is_empty());
        // The first till asking again wins again (its own claim), and survives a reopen.
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert!(
            s.claim(&front.shop_id, "UKN7777777", &front.id, "12", None)
                .await
                .unwrap()
                .won
        );
        // Another shop's receipt space is its own.
        assert!(
            s.claim(&other_shop.shop_id, "UKN7777777", &other_shop.id, "1", None)
                .await
                .unwrap()
                .won
        );
    }
}
