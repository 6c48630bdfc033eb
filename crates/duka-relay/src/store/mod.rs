//! The relay's store, behind one trait: [`Storage`] is everything the relay, its admin
//! commands and its tests ask of a database; [`Store`] is the cheap-to-clone handle the relay
//! holds (an `Arc<dyn Storage>`; it derefs to the trait, so `store.till(id).await` reads as a
//! method call).
//!
//! Two implementations:
//! - `sqlite` (the default): `relay.db` in the data directory. Writes go through one thread
//!   that commits whatever is waiting in one transaction (group commit, fsync on), so each
//!   callback is durable before Daraja hears "Accepted" and thousands per second still fit in
//!   a few fsyncs. `migrate` holds its numbered migrations, `writer` the thread.
//! - `pg`: PostgreSQL, shared by several relay processes. Seqs and claims are exact by
//!   transactions and constraints; a callback stored by one process wakes the till's session
//!   in another by `NOTIFY` (see [`Wake`]).

mod migrate;
pub mod pg;
mod sqlite;
mod writer;

use std::path::Path;
use std::sync::Arc;

use duka_relay_proto::Kind;
use tokio::sync::mpsc;

use crate::error::Result;
pub use migrate::SCHEMA_VERSION;
pub use sqlite::SqliteStore;

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

/// Who holds a receipt after a claim, and the `claimed` notices stored for the other tills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimOutcome {
    pub won: bool,
    pub till: String,
    pub till_name: String,
    pub sale: String,
    pub notices: Vec<Stored>,
}

/// Something another process stored (or may have): the relay wakes the sessions concerned,
/// which replay from the store after what they have sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// Till `till` has messages up to `seq`.
    Till { till: String, seq: u64 },
    /// Anything may have been missed (the listening connection was lost and is back): every
    /// connected till replays.
    All,
    /// Another process asks the shop's tills a C2B validation question (`Shared::Validate`).
    Validate {
        shop: String,
        id: String,
        body: String,
    },
    /// A till answered another process's validation question (`Shared::Validation`).
    Validation {
        id: String,
        result_code: String,
        result_desc: String,
    },
}

/// What one process tells the others sharing its database, not stored: C2B validation
/// questions and their answers, which must be answered within Daraja's few seconds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Shared {
    Validate {
        shop: String,
        id: String,
        body: String,
    },
    Validation {
        id: String,
        result_code: String,
        result_desc: String,
    },
}

/// Everything the relay asks of its database. One implementation per backend; every method
/// is async (a database across the network is), and every write is durable when it returns
/// (but `ack`, which is queued).
#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Which backend this is, for logs and benchmarks: `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Wakes for sessions from other processes sharing the database; taken once by the
    /// server (`None` afterwards, and always for a backend only one process uses).
    fn take_wakes(&self) -> Option<mpsc::UnboundedReceiver<Wake>> {
        None
    }

    /// Whether other processes may share this database (and so hold sessions of its tills).
    fn shared(&self) -> bool {
        false
    }

    /// Tells the other processes sharing the database (they see it as a [`Wake`]); nothing
    /// for a backend only one process uses.
    async fn publish(&self, event: Shared) -> Result<()> {
        let _ = event;
        Ok(())
    }

    /// Stores one message for each till, durably, and returns them with their `seq`.
    async fn insert(
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
    async fn insert_or_hold(
        &self,
        tills: Vec<String>,
        kind: Kind,
        attempt_id: Option<String>,
        body: Arc<str>,
        hold_for: Option<String>,
    ) -> Result<Vec<Stored>>;

    /// The till has applied everything up to `seq`: those messages go. Queued, not awaited:
    /// an ack lost in a crash only means the till sees the message again.
    async fn ack(&self, till: &str, seq: u64);

    /// Drops messages (and messages held for shops) received before `before_ms`.
    async fn expire(&self, before_ms: i64) -> Result<usize>;

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
    ) -> Result<ClaimOutcome>;

    /// Gives receipt `key` back if `till` holds it for `sale`; returns the `claimed` notices
    /// (`released: true`) stored for the shop's other tills (none when nothing was released).
    async fn release(&self, shop: &str, key: &str, till: &str, sale: &str) -> Result<Vec<Stored>>;

    /// Which till (and sale) holds receipt `key` in `shop`, if any.
    async fn claim_owner(&self, shop: &str, key: &str) -> Result<Option<(String, String)>>;

    /// Messages for a till after `after`, in order, at most `limit`.
    async fn pending(&self, till: &str, after: u64, limit: usize) -> Result<Vec<Stored>>;

    /// How many messages the till has not acknowledged.
    async fn unacked(&self, till: &str) -> Result<u64>;

    /// Unacknowledged messages by shop id, every shop (0 for none), for `/metrics`.
    async fn unacked_by_shop(&self) -> Result<Vec<(String, u64)>>;

    async fn till(&self, id: &str) -> Result<Option<Till>>;

    /// Every till, by shop name then till name.
    async fn tills(&self) -> Result<Vec<Till>>;

    /// Live (not revoked) tills of a shop.
    async fn shop_tills(&self, shop: &str) -> Result<Vec<String>>;

    async fn shop(&self, id_or_name: &str) -> Result<Option<Shop>>;

    /// Admin: a new till (and its shop, if new), which takes what is held for the shop, in
    /// order, as its first messages. Returns the till with its key.
    async fn add_till(&self, shop_name: &str, till_name: &str) -> Result<Till>;

    /// Messages held for a shop that has no live till.
    async fn held_for_shop(&self, shop: &str) -> Result<u64>;

    /// Tills revoked, or given a new key, at or after `since_ms`: their connections close.
    async fn revoked_since(&self, since_ms: i64) -> Result<Vec<String>>;

    /// Moves a till's numbering past `at_least` (a till's watermark from before a restored
    /// backup), so a new message never reuses a seq the till has already applied. Ordered with
    /// inserts.
    async fn bump_seq(&self, till: &str, at_least: u64) -> Result<u64>;

    /// Marks a till revoked; false if there is no such live till.
    async fn revoke_till(&self, id: &str) -> Result<bool>;

    /// Gives a live till a new key (a stolen or replaced PC: its history stays, the old key
    /// stops working); `None` if there is no such live till. Its connections close within
    /// `revocation_check` in every process (`revoked_since` lists it).
    async fn rekey_till(&self, id: &str) -> Result<Option<Till>>;

    /// What a C2B validation gets when no till answers: `Completed` or `Cancelled`.
    async fn set_c2b_default(&self, shop: &str, default: &str) -> Result<()>;

    // ---- a till's own records (sync, protocol 4) ----

    /// Commits `till`'s records: each `(table, pk)` keeps the version with the highest `seq`
    /// (a replay or an older version changes nothing), and the till's sync position moves to
    /// `upto` (the highest `seq` of the frame, records left out included). Returns the
    /// position. Durable when it returns.
    async fn sync_put(&self, till: &str, records: Vec<Record>, upto: u64) -> Result<u64> {
        let _ = (till, records, upto);
        Err(no_records(self.backend()))
    }

    /// The till's sync position: the highest record `seq` committed (read at every
    /// connection, so it is one row, never a count of the records).
    async fn sync_position(&self, till: &str) -> Result<u64> {
        let _ = till;
        Ok(0)
    }

    /// The till's kept records (not deletions, not its day figures) with `seq` above
    /// `after`, in `seq` order, at most `limit`: what a replacement till restores.
    async fn records_after(&self, till: &str, after: u64, limit: usize) -> Result<Vec<Record>> {
        let _ = (till, after, limit);
        Err(no_records(self.backend()))
    }

    /// The history the till's records are of (its `history` record's id), if any.
    async fn history_of(&self, till: &str) -> Result<Option<String>> {
        let _ = till;
        Ok(None)
    }

    /// Every live till of `shop` with its figures of `date` (its `day` record), and every
    /// revoked one that has figures of that day (it sold before it was revoked), by name.
    async fn shop_days(&self, shop: &str, date: &str) -> Result<Vec<TillDay>> {
        let _ = (shop, date);
        Err(no_records(self.backend()))
    }

    /// Retention: drops history records (sales, payments, refunds, moves, day figures; never
    /// staff, products or shifts) last changed before `before_ms`.
    async fn expire_records(&self, before_ms: i64) -> Result<usize> {
        let _ = before_ms;
        Ok(0)
    }
}

pub use duka_relay_proto::{Record, TillDay};

/// Tables whose records retention never drops: what later records refer to for as long as
/// the till runs.
pub const KEPT_TABLES: &[&str] = &["cashiers", "products", "shifts", "history"];

/// The id in a `history` record's body.
fn history_id(body: Option<&str>) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body?).ok()?;
    v["id"].as_str().map(str::to_string)
}

fn no_records(backend: &str) -> crate::Error {
    crate::Error::Config(format!("the {backend} store does not keep till records"))
}

/// Handle to the store: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store(Arc<dyn Storage>);

impl std::ops::Deref for Store {
    type Target = dyn Storage;
    fn deref(&self) -> &(dyn Storage + 'static) {
        &*self.0
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite `relay.db` in `dir` and brings its schema up to
    /// date. Refuses, changing nothing, a database a newer relay wrote (`db_schema_too_new`).
    pub fn open(dir: &Path) -> Result<Store> {
        Ok(Store(Arc::new(SqliteStore::open(dir)?)))
    }

    /// Connects to PostgreSQL (`postgres://…`), bringing its schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        Ok(Store(Arc::new(pg::PgStore::connect(url).await?)))
    }

    /// PostgreSQL when `database` names one, else SQLite in `dir`.
    pub async fn open_or_connect(dir: &Path, database: Option<&str>) -> Result<Store> {
        match database {
            Some(url) => Store::connect(url).await,
            None => Store::open(dir),
        }
    }

    /// Any other implementation of the trait.
    pub fn new(storage: Arc<dyn Storage>) -> Store {
        Store(storage)
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Checks a shop's C2B default before either backend writes it.
fn check_c2b_default(default: &str) -> Result<()> {
    if default != "Completed" && default != "Cancelled" {
        return Err(crate::Error::Invalid(format!(
            "c2b default: expected Completed or Cancelled, got {default:?}"
        )));
    }
    Ok(())
}

/// Trims and checks the names of a new till and its shop.
fn check_names<'a>(shop: &'a str, till: &'a str) -> Result<(&'a str, &'a str)> {
    let (shop, till) = (shop.trim(), till.trim());
    if shop.is_empty() || till.is_empty() {
        return Err(crate::Error::Invalid(
            "shop and name: expected non-empty names".into(),
        ));
    }
    Ok((shop, till))
}

#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
