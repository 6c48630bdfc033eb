//! The PostgreSQL backend, for several relay processes on one database.
//!
//! - Writes from the relay (callbacks, acks, claims, releases, bumps, expiry) go to one
//!   committer task per process, which commits whatever is waiting in one transaction
//!   (group commit; see `committer`). Exactness between processes comes from the database:
//!   a till's seq from `UPDATE tills SET last_seq = last_seq + n … RETURNING`, a receipt's
//!   owner from the `claims` primary key, a shop's held messages from a lock on its row. A
//!   batch that meets a deadlock or a serialization failure is run again.
//! - The transaction that stores messages also `NOTIFY`s `duka_relay` with `till:seq` pairs;
//!   every serving process `LISTEN`s (see `listen`) and wakes the sessions of its tills.
//! - Reads share a few pipelined connections (`Pool`), each with its prepared statements.
//! - Admin writes (`add_till`, `revoke_till`, `set_c2b_default`) run on a connection of their
//!   own, in a transaction where it matters.
//!
//! Connections are made without TLS (`NoTls`): the database belongs on localhost or a private
//! network (see docs/relay-operations.md).

mod committer;
mod listen;
pub use listen::LISTENER_NAME;
mod migrate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use duka_relay_proto::Kind;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, NoTls, Statement};

use super::{ClaimOutcome, Shop, Storage, Stored, Till, Wake, now_ms, random_hex};
use crate::error::{Error, Result};
use committer::Write;
pub use migrate::PG_SCHEMA_VERSION;

/// The channel every process listens on.
pub(crate) const CHANNEL: &str = "duka_relay";

/// The channel for what processes tell each other without storing it (`Shared`).
pub(crate) const SHARED_CHANNEL: &str = "duka_relay_shared";

/// Largest NOTIFY payload PostgreSQL takes (bytes), a little under its 8,000.
const PAYLOAD_MAX: usize = 7_900;

/// How many read connections each process keeps.
const READERS: usize = 4;

/// The PostgreSQL store of one relay process.
pub struct PgStore {
    config: tokio_postgres::Config,
    /// The database as logs and errors name it: host, port and name, never the password.
    name: String,
    readers: Pool,
    writer: mpsc::UnboundedSender<Write>,
    wakes: Mutex<Option<mpsc::UnboundedReceiver<Wake>>>,
    wake_tx: mpsc::UnboundedSender<Wake>,
    /// The backend process of this process's committer connection: its notifications are
    /// this process's own, already handed to the sessions, and the listener skips them.
    committer_pid: Arc<AtomicI32>,
    /// This process among those sharing the database: what it publishes carries it, and its
    /// listener skips its own.
    tag: String,
}

/// `postgres://user@host:port/db` without the password, for messages.
pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// Parses a `postgres://…` URL (or key=value string) into a connection config.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
    url.parse::<tokio_postgres::Config>().map_err(|e| {
        // The error never repeats the URL: it may hold a password.
        Error::Config(format!("--database: not a PostgreSQL URL ({e})"))
    })
}

/// One new connection, driven by a task of its own until it closes.
pub(crate) async fn connect_one(config: &tokio_postgres::Config) -> Result<Client> {
    let (client, conn) = config.connect(NoTls).await.map_err(|e| {
        Error::Db(format!(
            "connecting to {}: {}",
            describe(config),
            crate::error::pg_message(&e)
        ))
    })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!("a PostgreSQL connection closed: {e}");
        }
    });
    Ok(client)
}

/// One read connection with the statements prepared on it.
struct Conn {
    client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
}

impl Conn {
    async fn statement(&self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self
            .statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
        {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sql, s.clone());
        Ok(s)
    }

    async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let st = self.statement(sql).await?;
        Ok(self.client.query(&st, params).await?)
    }

    async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>> {
        let st = self.statement(sql).await?;
        Ok(self.client.query_opt(&st, params).await?)
    }
}

/// A few shared connections: a query takes the next one round the ring (tokio-postgres
/// pipelines concurrent queries on one connection); a closed one is replaced on next use.
struct Pool {
    config: tokio_postgres::Config,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Conn>>>>,
    next: AtomicUsize,
}

impl Pool {
    fn new(config: tokio_postgres::Config, n: usize) -> Pool {
        Pool {
            config,
            slots: (0..n).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    async fn get(&self) -> Result<Arc<Conn>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(c) = &*slot
            && !c.client.is_closed()
        {
            return Ok(c.clone());
        }
        let c = Arc::new(Conn {
            client: connect_one(&self.config).await?,
            statements: Mutex::new(HashMap::new()),
        });
        *slot = Some(c.clone());
        Ok(c)
    }
}

/// Deadlock (40P01) or serialization failure (40001): the transaction was rolled back and may
/// simply be run again.
pub(crate) fn retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            || *c == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
    })
}

const TILL_COLUMNS: &str =
    "SELECT t.id, t.shop_id, s.name, t.name, t.key, t.last_seq, t.revoked_at IS NOT NULL, t.epoch
     FROM tills t JOIN shops s ON s.id = t.shop_id";

fn till_row(r: &tokio_postgres::Row) -> Till {
    Till {
        id: r.get(0),
        shop_id: r.get(1),
        shop_name: r.get(2),
        name: r.get(3),
        key: hex::decode(r.get::<_, String>(4)).unwrap_or_default(),
        last_seq: r.get::<_, i64>(5) as u64,
        revoked: r.get(6),
        epoch: r.get(7),
    }
}

fn stopped() -> Error {
    Error::Io("the store's committer stopped".into())
}

impl PgStore {
    /// Connects, brings the schema up to date (refusing a newer one), and starts this
    /// process's committer.
    pub async fn connect(url: &str) -> Result<PgStore> {
        let mut config = parse_url(url)?;
        if config.get_application_name().is_none() {
            config.application_name("duka-relay");
        }
        let name = describe(&config);
        let mut c = connect_one(&config).await?;
        migrate::migrate(&mut c, &name).await?;
        drop(c);
        let (writer, rx) = mpsc::unbounded_channel();
        let committer_pid = Arc::new(AtomicI32::new(0));
        tokio::spawn(committer::run(config.clone(), rx, committer_pid.clone()));
        let (wake_tx, wakes) = mpsc::unbounded_channel();
        Ok(PgStore {
            readers: Pool::new(config.clone(), READERS),
            config,
            name,
            writer,
            wakes: Mutex::new(Some(wakes)),
            wake_tx,
            committer_pid,
            tag: random_hex(8),
        })
    }

    /// The database, named without its password.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn write<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Write) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.writer.send(make(reply)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// `add_till`'s transaction, run again after a deadlock; the new till's id.
    async fn add_till_tx(
        &self,
        c: &mut Client,
        shop_name: &str,
        till_name: &str,
    ) -> Result<String> {
        let mut tries = 0;
        loop {
            match add_till_once(c, shop_name, till_name).await {
                Ok(id) => return Ok(id),
                Err(e) if tries < 5 && retryable(&e) => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// `add_till`'s transaction, once; the new till's id.
async fn add_till_once(
    c: &mut Client,
    shop_name: &str,
    till_name: &str,
) -> std::result::Result<String, tokio_postgres::Error> {
    let tx = c.transaction().await?;
    tx.execute(
            "INSERT INTO shops (id, name, key, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            &[&random_hex(6), &shop_name, &random_hex(32), &now_ms()],
        )
        .await?;
    // The shop's row is locked: a C2B confirmation deciding to hold (committer) waits
    // for this till, or this till waits for it and takes what it held.
    let shop: String = tx
        .query_one(
            "SELECT id FROM shops WHERE name = $1 FOR UPDATE",
            &[&shop_name],
        )
        .await?
        .get(0);
    let id = random_hex(8);
    tx.execute(
            "INSERT INTO tills (id, shop_id, name, key, created_at, epoch) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&id, &shop, &till_name, &random_hex(32), &now_ms(), &random_hex(8)],
        )
        .await?;
    // What came for the shop while it had no live till goes to this one, in order.
    let held = tx
            .execute(
                "WITH h AS (DELETE FROM shop_held WHERE shop_id = $2 RETURNING id, kind, body, received_at)
                 INSERT INTO messages (till_id, seq, kind, attempt_id, body, received_at)
                 SELECT $1, row_number() OVER (ORDER BY id), kind, NULL, body, received_at FROM h",
                &[&id, &shop],
            )
            .await? as i64;
    tx.execute(
        "UPDATE tills SET last_seq = $2 WHERE id = $1",
        &[&id, &held],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[async_trait::async_trait]
impl Storage for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn shared(&self) -> bool {
        true
    }

    async fn publish(&self, event: super::Shared) -> Result<()> {
        let payload = serde_json::to_string(&listen::Envelope {
            from: self.tag.clone(),
            event,
        })
        .expect("serialisable");
        if payload.len() > PAYLOAD_MAX {
            return Err(Error::Invalid(format!(
                "a message for the other processes of {} bytes (at most {PAYLOAD_MAX})",
                payload.len()
            )));
        }
        let c = self.readers.get().await?;
        c.query("SELECT pg_notify($1, $2)", &[&SHARED_CHANNEL, &payload])
            .await?;
        Ok(())
    }

    fn take_wakes(&self) -> Option<mpsc::UnboundedReceiver<Wake>> {
        let rx = self
            .wakes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        tokio::spawn(listen::run(
            self.config.clone(),
            self.tag.clone(),
            self.wake_tx.clone(),
            self.committer_pid.clone(),
        ));
        Some(rx)
    }

    async fn insert_or_hold(
        &self,
        tills: Vec<String>,
        kind: Kind,
        attempt_id: Option<String>,
        body: Arc<str>,
        hold_for: Option<String>,
    ) -> Result<Vec<Stored>> {
        self.write(|reply| Write::Insert {
            tills,
            kind,
            attempt_id,
            body,
            hold_for,
            reply,
        })
        .await
    }

    async fn ack(&self, till: &str, seq: u64) {
        let _ = self.writer.send(Write::Ack {
            till: till.into(),
            seq,
        });
    }

    async fn expire(&self, before_ms: i64) -> Result<usize> {
        self.write(|reply| Write::Expire { before_ms, reply }).await
    }

    async fn claim(
        &self,
        shop: &str,
        key: &str,
        till: &str,
        sale: &str,
        amount_cents: Option<i64>,
    ) -> Result<ClaimOutcome> {
        self.write(|reply| Write::Claim {
            shop: shop.into(),
            key: key.into(),
            till: till.into(),
            sale: sale.into(),
            amount_cents,
            reply,
        })
        .await
    }

    async fn release(&self, shop: &str, key: &str, till: &str, sale: &str) -> Result<Vec<Stored>> {
        self.write(|reply| Write::Release {
            shop: shop.into(),
            key: key.into(),
            till: till.into(),
            sale: sale.into(),
            reply,
        })
        .await
    }

    async fn claim_owner(&self, shop: &str, key: &str) -> Result<Option<(String, String)>> {
        let c = self.readers.get().await?;
        Ok(c.query_opt(
            "SELECT till_id, sale FROM claims WHERE shop_id = $1 AND key = $2",
            &[&shop, &key],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
    }

    async fn pending(&self, till: &str, after: u64, limit: usize) -> Result<Vec<Stored>> {
        let c = self.readers.get().await?;
        let rows = c
            .query(
                "SELECT seq, kind, attempt_id, body FROM messages WHERE till_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&till, &(after as i64), &(limit as i64)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Stored {
                till_id: till.to_string(),
                seq: r.get::<_, i64>(0) as u64,
                kind: Kind::parse(r.get(1)).unwrap_or(Kind::Stk),
                attempt_id: r.get(2),
                body: Arc::from(r.get::<_, &str>(3)),
            })
            .collect())
    }

    async fn unacked(&self, till: &str) -> Result<u64> {
        let c = self.readers.get().await?;
        let rows = c
            .query("SELECT count(*) FROM messages WHERE till_id = $1", &[&till])
            .await?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0) as u64)
    }

    async fn unacked_by_shop(&self) -> Result<Vec<(String, u64)>> {
        let c = self.readers.get().await?;
        let rows = c
            .query(
                "SELECT s.id, count(m.seq) FROM shops s
                 LEFT JOIN tills t ON t.shop_id = s.id LEFT JOIN messages m ON m.till_id = t.id
                 GROUP BY s.id ORDER BY s.id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    async fn till(&self, id: &str) -> Result<Option<Till>> {
        const SQL: &str = "SELECT t.id, t.shop_id, s.name, t.name, t.key, t.last_seq, t.revoked_at IS NOT NULL, t.epoch
             FROM tills t JOIN shops s ON s.id = t.shop_id WHERE t.id = $1";
        let c = self.readers.get().await?;
        Ok(c.query_opt(SQL, &[&id]).await?.as_ref().map(till_row))
    }

    async fn tills(&self) -> Result<Vec<Till>> {
        let c = self.readers.get().await?;
        let sql = format!("{TILL_COLUMNS} ORDER BY s.name, t.name");
        Ok(c.client
            .query(&sql, &[])
            .await?
            .iter()
            .map(till_row)
            .collect())
    }

    async fn shop_tills(&self, shop: &str) -> Result<Vec<String>> {
        let c = self.readers.get().await?;
        Ok(c.query(
            "SELECT id FROM tills WHERE shop_id = $1 AND revoked_at IS NULL ORDER BY id",
            &[&shop],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    async fn shop(&self, id_or_name: &str) -> Result<Option<Shop>> {
        let c = self.readers.get().await?;
        Ok(c.query_opt(
            "SELECT id, name, key, c2b_default FROM shops WHERE id = $1 OR name = $1",
            &[&id_or_name],
        )
        .await?
        .map(|r| Shop {
            id: r.get(0),
            name: r.get(1),
            key: hex::decode(r.get::<_, String>(2)).unwrap_or_default(),
            c2b_default: r.get(3),
        }))
    }

    async fn add_till(&self, shop_name: &str, till_name: &str) -> Result<Till> {
        let (shop_name, till_name) = super::check_names(shop_name, till_name)?;
        let mut c = connect_one(&self.config).await?;
        let id = self.add_till_tx(&mut c, shop_name, till_name).await?;
        self.till(&id)
            .await?
            .ok_or_else(|| Error::Io("till vanished".into()))
    }

    async fn held_for_shop(&self, shop: &str) -> Result<u64> {
        let c = self.readers.get().await?;
        let rows = c
            .query(
                "SELECT count(*) FROM shop_held WHERE shop_id = $1",
                &[&shop],
            )
            .await?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0) as u64)
    }

    async fn revoked_since(&self, since_ms: i64) -> Result<Vec<String>> {
        let c = self.readers.get().await?;
        Ok(c.query(
            "SELECT id FROM tills WHERE revoked_at >= $1 OR rekeyed_at >= $1",
            &[&since_ms],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    async fn bump_seq(&self, till: &str, at_least: u64) -> Result<u64> {
        self.write(|reply| Write::Bump {
            till: till.into(),
            at_least,
            reply,
        })
        .await
    }

    async fn revoke_till(&self, id: &str) -> Result<bool> {
        let c = self.readers.get().await?;
        let n = c
            .client
            .execute(
                "UPDATE tills SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &now_ms()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn rekey_till(&self, id: &str) -> Result<Option<Till>> {
        let c = self.readers.get().await?;
        let n = c
            .client
            .execute(
                "UPDATE tills SET key = $2, rekeyed_at = $3 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &random_hex(32), &now_ms()],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        self.till(id).await
    }

    async fn sync_put(&self, till: &str, records: Vec<super::Record>, upto: u64) -> Result<u64> {
        self.write(|reply| Write::Sync {
            till: till.into(),
            records,
            upto,
            reply,
        })
        .await
    }

    async fn sync_position(&self, till: &str) -> Result<u64> {
        let c = self.readers.get().await?;
        let row = c
            .query_opt("SELECT sync_seq FROM tills WHERE id = $1", &[&till])
            .await?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64).unwrap_or(0))
    }

    async fn records_after(
        &self,
        till: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<super::Record>> {
        let c = self.readers.get().await?;
        Ok(c.query(
            "SELECT seq, tbl, pk, body, at FROM records
             WHERE till_id = $1 AND seq > $2 AND body IS NOT NULL AND tbl != 'day'
             ORDER BY seq LIMIT $3",
            &[&till, &(after as i64), &(limit as i64)],
        )
        .await?
        .iter()
        .map(|r| super::Record {
            seq: r.get::<_, i64>(0) as u64,
            table: r.get(1),
            pk: r.get(2),
            body: r.get(3),
            at: r.get(4),
        })
        .collect())
    }

    async fn history_of(&self, till: &str) -> Result<Option<String>> {
        let c = self.readers.get().await?;
        let row = c
            .query_opt(
                "SELECT body FROM records WHERE till_id = $1 AND tbl = 'history' AND pk = '[]'",
                &[&till],
            )
            .await?;
        let body: Option<String> = row.and_then(|r| r.get(0));
        Ok(super::history_id(body.as_deref()))
    }

    async fn shop_days(&self, shop: &str, date: &str) -> Result<Vec<super::TillDay>> {
        let pk = serde_json::to_string(&[date]).expect("serialisable");
        let c = self.readers.get().await?;
        Ok(c.query(
            "SELECT t.id, t.name, r.received_at, r.body FROM tills t
             LEFT JOIN records r ON r.till_id = t.id AND r.tbl = 'day' AND r.pk = $2
             WHERE t.shop_id = $1 AND (t.revoked_at IS NULL OR r.body IS NOT NULL)
             ORDER BY t.name, t.id",
            &[&shop, &pk],
        )
        .await?
        .iter()
        .map(|r| super::TillDay {
            till: r.get(0),
            name: r.get(1),
            synced_at: r.get(2),
            body: r.get(3),
        })
        .collect())
    }

    async fn expire_records(&self, before_ms: i64) -> Result<usize> {
        self.write(|reply| Write::ExpireRecords { before_ms, reply })
            .await
    }

    async fn set_c2b_default(&self, shop: &str, default: &str) -> Result<()> {
        super::check_c2b_default(default)?;
        let c = self.readers.get().await?;
        c.client
            .execute(
                "UPDATE shops SET c2b_default = $2 WHERE id = $1 OR name = $1",
                &[&shop, &default],
            )
            .await?;
        Ok(())
    }
}
