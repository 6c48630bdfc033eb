//! The committer: one task per process takes every write waiting (up to 1,024) and commits
//! them in one PostgreSQL transaction (group commit: one WAL flush for the lot), then answers
//! them all. A batch rolled back by a deadlock or a serialization failure is run again; one
//! that fails otherwise is answered with the error (and the connection made again if it is
//! gone). In the transaction, in this order:
//!
//! 1. bumps (before inserts, so no new message can reuse a seq the till applied);
//! 2. acks, one statement for the batch;
//! 3. messages held for a shop: under a lock on the shop's row, which `add_till` also takes,
//!    so a till added meanwhile gets it either way;
//! 4. claims and releases, in order, arbitrated by the `claims` primary key;
//! 5. expiry (and of the tills' records);
//! 6. inserts for tills: one statement numbers them (`UPDATE tills … RETURNING`, each till of
//!    the batch once) and stores them, last, so the till rows it locks are held the shortest
//!    (a till's seqs are handed out in commit order: what a session replays after is final);
//! 7. `NOTIFY duka_relay` with `till:seq` (the highest per till), for the other processes.

use std::collections::HashMap;
use std::sync::Arc;

use duka_relay_proto::Kind;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Row, Statement, Transaction};

use super::{CHANNEL, connect_one, retryable};
use crate::error::{Error, Result};
use crate::store::{ClaimOutcome, Stored, now_ms};

/// A request to the committer; each carries its own reply channel (but `Ack`).
pub(super) enum Write {
    Insert {
        tills: Vec<String>,
        kind: Kind,
        attempt_id: Option<String>,
        body: Arc<str>,
        hold_for: Option<String>,
        reply: oneshot::Sender<Result<Vec<Stored>>>,
    },
    Ack {
        till: String,
        seq: u64,
    },
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
    /// A till's records (sync): kept by highest seq, the till's position moved.
    Sync {
        till: String,
        records: Vec<crate::store::Record>,
        upto: u64,
        reply: oneshot::Sender<Result<u64>>,
    },
    ExpireRecords {
        before_ms: i64,
        reply: oneshot::Sender<Result<usize>>,
    },
}

/// What one write came to, before it is sent back.
enum Done {
    Stored(Result<Vec<Stored>>),
    Bumped(u64),
    Expired(usize),
    Claimed(ClaimOutcome),
    Acked,
}

pub(super) async fn run(
    config: tokio_postgres::Config,
    mut rx: mpsc::UnboundedReceiver<Write>,
    backend_pid: Arc<std::sync::atomic::AtomicI32>,
) {
    let mut client: Option<Client> = None;
    let prepared: Prepared = std::sync::Mutex::new(HashMap::new());
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            // Statements belong to the connection they were prepared on.
            prepared.lock().unwrap_or_else(|p| p.into_inner()).clear();
            client = match connect_one(&config).await {
                Ok(c) => {
                    // Which backend sends this process's notifications (0: unknown, none
                    // skipped).
                    let pid = match c.query_one("SELECT pg_backend_pid()", &[]).await {
                        Ok(r) => r.get::<_, i32>(0),
                        Err(_) => 0,
                    };
                    backend_pid.store(pid, std::sync::atomic::Ordering::Relaxed);
                    Some(c)
                }
                Err(e) => {
                    tracing::error!("store: {e}");
                    answer_err(batch, &e.to_string());
                    continue;
                }
            };
        }
        let Some(c) = client.as_mut() else { continue };
        match commit_retrying(c, &prepared, &batch).await {
            Ok(done) => answer(batch, done),
            // The server refused something in the batch (not the connection failing): one
            // write must not cost the others, so each is committed on its own and only the
            // one at fault is refused.
            Err(e) if e.as_db_error().is_some() && batch.len() > 1 && !c.is_closed() => {
                tracing::warn!(
                    "store: a batch of {} was refused ({}); committing them one by one",
                    batch.len(),
                    Error::from(e)
                );
                for w in batch {
                    let one = std::slice::from_ref(&w);
                    match commit_retrying(c, &prepared, one).await {
                        Ok(done) => answer(vec![w], done),
                        Err(e) => {
                            let e = Error::from(e).to_string();
                            tracing::error!("store: {e}");
                            answer_err(vec![w], &e);
                        }
                    }
                }
            }
            Err(e) => {
                let e = Error::from(e).to_string();
                tracing::error!("store: {e}");
                answer_err(batch, &e);
            }
        }
    }
}

/// `commit`, run again (up to 10 times) while PostgreSQL rolls it back for a deadlock or a
/// serialization failure.
async fn commit_retrying(
    c: &mut Client,
    prepared: &Prepared,
    batch: &[Write],
) -> PgResult<Vec<Done>> {
    let mut tries = 0;
    loop {
        match commit(c, prepared, batch).await {
            Err(e) if retryable(&e) && tries < 10 => {
                tries += 1;
                tracing::info!("store: batch rolled back ({e}); running it again");
            }
            other => return other,
        }
    }
}

fn answer(batch: Vec<Write>, done: Vec<Done>) {
    for (w, d) in batch.into_iter().zip(done) {
        match (w, d) {
            (Write::Insert { reply, .. }, Done::Stored(r))
            | (Write::Release { reply, .. }, Done::Stored(r)) => {
                let _ = reply.send(r);
            }
            (Write::Bump { reply, .. }, Done::Bumped(s))
            | (Write::Sync { reply, .. }, Done::Bumped(s)) => {
                let _ = reply.send(Ok(s));
            }
            (Write::Expire { reply, .. }, Done::Expired(n))
            | (Write::ExpireRecords { reply, .. }, Done::Expired(n)) => {
                let _ = reply.send(Ok(n));
            }
            (Write::Claim { reply, .. }, Done::Claimed(o)) => {
                let _ = reply.send(Ok(o));
            }
            _ => {}
        }
    }
}

fn answer_err(batch: Vec<Write>, e: &str) {
    let err = || Error::Db(e.to_string());
    for w in batch {
        match w {
            Write::Insert { reply, .. } | Write::Release { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Write::Bump { reply, .. } | Write::Sync { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Write::Expire { reply, .. } | Write::ExpireRecords { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Write::Claim { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Write::Ack { .. } => {}
        }
    }
}

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

type Params<'p> = &'p [&'p (dyn tokio_postgres::types::ToSql + Sync)];

/// Statements prepared on the committer's connection, by their SQL.
type Prepared = std::sync::Mutex<HashMap<&'static str, Statement>>;

/// The batch's transaction, with each statement prepared once per connection (a statement
/// sent as text is parsed and planned every time, and costs a round trip more).
struct Tx<'a, 'c> {
    tx: &'a Transaction<'c>,
    prepared: &'a Prepared,
}

impl Tx<'_, '_> {
    async fn statement(&self, sql: &'static str) -> PgResult<Statement> {
        if let Some(s) = self
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
        {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).await?;
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sql, s.clone());
        Ok(s)
    }

    async fn query(&self, sql: &'static str, params: Params<'_>) -> PgResult<Vec<Row>> {
        let st = self.statement(sql).await?;
        self.tx.query(&st, params).await
    }

    async fn query_opt(&self, sql: &'static str, params: Params<'_>) -> PgResult<Option<Row>> {
        let st = self.statement(sql).await?;
        self.tx.query_opt(&st, params).await
    }

    async fn execute(&self, sql: &'static str, params: Params<'_>) -> PgResult<u64> {
        let st = self.statement(sql).await?;
        self.tx.execute(&st, params).await
    }
}

/// Stores one message for each till of `tills` (seq from `UPDATE … RETURNING`, one
/// statement), returning them in the order given.
async fn store_for(
    tx: &Tx<'_, '_>,
    tills: &[String],
    kind: Kind,
    attempt_id: Option<&str>,
    body: &Arc<str>,
    now: i64,
) -> PgResult<Vec<Stored>> {
    let rows = tx
        .query(
            "WITH t AS (UPDATE tills SET last_seq = last_seq + 1 WHERE id = ANY($1) RETURNING id, last_seq)
             INSERT INTO messages (till_id, seq, kind, attempt_id, body, received_at)
             SELECT id, last_seq, $2, $3, $4, $5 FROM t RETURNING till_id, seq",
            &[&tills, &kind.as_str(), &attempt_id, &&**body, &now],
        )
        .await?;
    let by_till: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(tills
        .iter()
        .filter_map(|t| {
            by_till.get(t).map(|seq| Stored {
                till_id: t.clone(),
                seq: *seq as u64,
                kind,
                attempt_id: attempt_id.map(str::to_string),
                body: body.clone(),
            })
        })
        .collect())
}

/// A `claimed` notice for every live till of `shop` but `till`, in the batch's transaction.
async fn tell_others(
    tx: &Tx<'_, '_>,
    shop: &str,
    till: &str,
    notice: &duka_relay_proto::Claimed,
    now: i64,
) -> PgResult<Vec<Stored>> {
    let body: Arc<str> = Arc::from(serde_json::to_string(notice).expect("serialisable"));
    let rows = tx
        .query(
            "WITH t AS (UPDATE tills SET last_seq = last_seq + 1
                        WHERE shop_id = $1 AND id <> $2 AND revoked_at IS NULL RETURNING id, last_seq)
             INSERT INTO messages (till_id, seq, kind, attempt_id, body, received_at)
             SELECT id, last_seq, $3, NULL, $4, $5 FROM t RETURNING till_id, seq",
            &[&shop, &till, &Kind::Claimed.as_str(), &&*body, &now],
        )
        .await?;
    let mut stored: Vec<Stored> = rows
        .iter()
        .map(|r| Stored {
            till_id: r.get(0),
            seq: r.get::<_, i64>(1) as u64,
            kind: Kind::Claimed,
            attempt_id: None,
            body: body.clone(),
        })
        .collect();
    stored.sort_by(|a, b| a.till_id.cmp(&b.till_id));
    Ok(stored)
}

/// The claim's rules (see the trait): first claim wins, a till's own claim moves to its new
/// sale, the others are told of a new or moved claim.
async fn claim(
    tx: &Tx<'_, '_>,
    shop: &str,
    key: &str,
    till: &str,
    sale: &str,
    amount_cents: Option<i64>,
    now: i64,
) -> PgResult<ClaimOutcome> {
    let mut won_new = None;
    // At most a few rounds: a row released between the insert and the read is gone, and the
    // claim is tried again.
    for _ in 0..3 {
        let inserted = tx
            .execute(
                "INSERT INTO claims (shop_id, key, till_id, sale, amount_cents, claimed_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (shop_id, key) DO NOTHING",
                &[&shop, &key, &till, &sale, &amount_cents, &now],
            )
            .await?;
        if inserted == 1 {
            won_new = Some((true, till.to_string(), sale.to_string(), true));
            break;
        }
        let held = tx
            .query_opt(
                "SELECT till_id, sale FROM claims WHERE shop_id = $1 AND key = $2 FOR UPDATE",
                &[&shop, &key],
            )
            .await?;
        let Some(row) = held else { continue };
        let (t, s): (String, String) = (row.get(0), row.get(1));
        won_new = Some(if t == till {
            if s != sale {
                tx.execute(
                    "UPDATE claims SET sale = $3, amount_cents = $4, claimed_at = $5 WHERE shop_id = $1 AND key = $2",
                    &[&shop, &key, &sale, &amount_cents, &now],
                )
                .await?;
            }
            let moved = s != sale;
            (true, t, sale.to_string(), moved)
        } else {
            (false, t, s, false)
        });
        break;
    }
    // Three releases in a row between insert and read: answered as the till's own, which the
    // next claim settles (the row is this till's if nobody else's).
    let (won, owner, owner_sale, new) =
        won_new.unwrap_or((true, till.to_string(), sale.to_string(), false));
    let till_name: String = tx
        .query_opt("SELECT name FROM tills WHERE id = $1", &[&owner])
        .await?
        .map(|r| r.get(0))
        .unwrap_or_default();
    let notices = if new {
        let notice = duka_relay_proto::Claimed {
            key: key.to_string(),
            till: owner.clone(),
            till_name: till_name.clone(),
            sale: owner_sale.clone(),
            released: false,
        };
        tell_others(tx, shop, till, &notice, now).await?
    } else {
        Vec::new()
    };
    Ok(ClaimOutcome {
        won,
        till: owner,
        till_name,
        sale: owner_sale,
        notices,
    })
}

/// One till's records in the batch's transaction: the version with the higher seq wins; one
/// statement for the lot.
async fn sync_put(
    tx: &Tx<'_, '_>,
    till: &str,
    records: &[crate::store::Record],
    upto: u64,
    now: i64,
) -> PgResult<u64> {
    // A (table, pk) twice in one frame: the highest seq only (ON CONFLICT cannot touch a row
    // twice in one statement).
    let mut latest: HashMap<(&str, &str), &crate::store::Record> = HashMap::new();
    let mut top = upto;
    for r in records {
        top = top.max(r.seq);
        let e = latest.entry((r.table.as_str(), r.pk.as_str())).or_insert(r);
        if r.seq > e.seq {
            *e = r;
        }
    }
    if !latest.is_empty() {
        let (mut tbl, mut pk, mut seq, mut body, mut at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in latest.values() {
            tbl.push(r.table.as_str());
            pk.push(r.pk.as_str());
            seq.push(r.seq as i64);
            body.push(r.body.as_deref());
            at.push(r.at);
        }
        tx.execute(
            "INSERT INTO records (till_id, tbl, pk, seq, body, at, received_at)
             SELECT $1, t, p, s, b, a, $7
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[]) AS r(t, p, s, b, a)
             ON CONFLICT (till_id, tbl, pk) DO UPDATE SET
               seq = excluded.seq, body = excluded.body, at = excluded.at, received_at = excluded.received_at
             WHERE excluded.seq > records.seq",
            &[&till, &tbl, &pk, &seq, &body, &at, &now],
        )
        .await?;
    }
    let seq = tx
        .query_opt(
            "UPDATE tills SET sync_seq = GREATEST(sync_seq, $2) WHERE id = $1 RETURNING sync_seq",
            &[&till, &(top as i64)],
        )
        .await?
        .map(|r| r.get::<_, i64>(0))
        .unwrap_or(0);
    Ok(seq as u64)
}

async fn commit(c: &mut Client, prepared: &Prepared, batch: &[Write]) -> PgResult<Vec<Done>> {
    let txn = c.transaction().await?;
    let tx = Tx { tx: &txn, prepared };
    let now = now_ms();
    let mut done: Vec<Option<Done>> = batch.iter().map(|_| None).collect();

    // 1. Bumps.
    for (i, w) in batch.iter().enumerate() {
        if let Write::Bump { till, at_least, .. } = w {
            let seq = tx
                .query_opt(
                    "UPDATE tills SET last_seq = GREATEST(last_seq, $2) WHERE id = $1 RETURNING last_seq",
                    &[till, &(*at_least as i64)],
                )
                .await?
                .map(|r| r.get::<_, i64>(0))
                .unwrap_or(0);
            done[i] = Some(Done::Bumped(seq as u64));
        }
    }

    // 2. Acks: the highest per till, one statement.
    let mut acks: HashMap<&str, i64> = HashMap::new();
    for (i, w) in batch.iter().enumerate() {
        if let Write::Ack { till, seq } = w {
            let e = acks.entry(till.as_str()).or_insert(0);
            *e = (*e).max(*seq as i64);
            done[i] = Some(Done::Acked);
        }
    }
    if !acks.is_empty() {
        let (tills, seqs): (Vec<&str>, Vec<i64>) = acks.into_iter().unzip();
        tx.execute(
            "DELETE FROM messages m USING unnest($1::text[], $2::bigint[]) AS a(till, seq)
             WHERE m.till_id = a.till AND m.seq <= a.seq",
            &[&tills, &seqs],
        )
        .await?;
    }

    // 3-5. Held for a shop, claims, releases, expiry: in order.
    for (i, w) in batch.iter().enumerate() {
        match w {
            Write::Insert {
                tills,
                kind,
                attempt_id,
                body,
                hold_for,
                ..
            } if tills.is_empty() => {
                let Some(shop) = hold_for else {
                    done[i] = Some(Done::Stored(Ok(Vec::new())));
                    continue;
                };
                tx.execute("SELECT 1 FROM shops WHERE id = $1 FOR UPDATE", &[shop])
                    .await?;
                let live: Vec<String> = tx
                    .query(
                        "SELECT id FROM tills WHERE shop_id = $1 AND revoked_at IS NULL ORDER BY id",
                        &[shop],
                    )
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                if live.is_empty() {
                    tx.execute(
                        "INSERT INTO shop_held (shop_id, kind, body, received_at) VALUES ($1, $2, $3, $4)",
                        &[shop, &kind.as_str(), &&**body, &now],
                    )
                    .await?;
                    done[i] = Some(Done::Stored(Ok(Vec::new())));
                } else {
                    // A till was added since the caller looked: it gets the message now.
                    let stored =
                        store_for(&tx, &live, *kind, attempt_id.as_deref(), body, now).await?;
                    done[i] = Some(Done::Stored(Ok(stored)));
                }
            }
            Write::Claim {
                shop,
                key,
                till,
                sale,
                amount_cents,
                ..
            } => {
                let o = claim(&tx, shop, key, till, sale, *amount_cents, now).await?;
                done[i] = Some(Done::Claimed(o));
            }
            Write::Release {
                shop,
                key,
                till,
                sale,
                ..
            } => {
                let freed = tx
                    .execute(
                        "DELETE FROM claims WHERE shop_id = $1 AND key = $2 AND till_id = $3 AND sale = $4",
                        &[shop, key, till, sale],
                    )
                    .await?;
                let notices = if freed == 1 {
                    let notice = duka_relay_proto::Claimed {
                        key: key.clone(),
                        till: till.clone(),
                        till_name: String::new(),
                        sale: sale.clone(),
                        released: true,
                    };
                    tell_others(&tx, shop, till, &notice, now).await?
                } else {
                    Vec::new()
                };
                done[i] = Some(Done::Stored(Ok(notices)));
            }
            Write::Sync {
                till,
                records,
                upto,
                ..
            } => {
                done[i] = Some(Done::Bumped(
                    sync_put(&tx, till, records, *upto, now).await?,
                ));
            }
            Write::ExpireRecords { before_ms, .. } => {
                let kept: Vec<&str> = crate::store::KEPT_TABLES.to_vec();
                let n = tx
                    .execute(
                        "DELETE FROM records WHERE received_at < $1 AND NOT (tbl = ANY($2))",
                        &[before_ms, &kept],
                    )
                    .await?;
                done[i] = Some(Done::Expired(n as usize));
            }
            Write::Expire { before_ms, .. } => {
                let n = tx
                    .execute("DELETE FROM messages WHERE received_at < $1", &[before_ms])
                    .await?
                    + tx.execute("DELETE FROM shop_held WHERE received_at < $1", &[before_ms])
                        .await?;
                done[i] = Some(Done::Expired(n as usize));
            }
            _ => {}
        }
    }

    // 6. Inserts for tills, last (the till rows it locks are held the shortest): one
    // statement numbers every till's messages of the batch (`UPDATE … RETURNING`, each till
    // once) and stores them.
    let (mut t_col, mut k_col, mut a_col, mut b_col) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Row i of the statement: message `slot[i].1` of write `slot[i].0`.
    let mut slot: Vec<(usize, usize)> = Vec::new();
    for (i, w) in batch.iter().enumerate() {
        if let Write::Insert {
            tills,
            kind,
            attempt_id,
            body,
            ..
        } = w
            && !tills.is_empty()
        {
            for (j, t) in tills.iter().enumerate() {
                t_col.push(t.as_str());
                k_col.push(kind.as_str());
                a_col.push(attempt_id.as_deref());
                b_col.push(&**body);
                slot.push((i, j));
            }
        }
    }
    if !slot.is_empty() {
        let rows = tx
            .query(
                "WITH m AS (
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                        WITH ORDINALITY AS m(till, kind, attempt, body, ord)
                 ), c AS (
                    SELECT till, count(*) AS n FROM m GROUP BY till ORDER BY till
                 ), u AS (
                    UPDATE tills SET last_seq = tills.last_seq + c.n FROM c WHERE tills.id = c.till
                    RETURNING tills.id, tills.last_seq, c.n
                 ), a AS (
                    SELECT m.ord, m.till,
                           u.last_seq - u.n + row_number() OVER (PARTITION BY m.till ORDER BY m.ord) AS seq,
                           m.kind, m.attempt, m.body
                    FROM m JOIN u ON u.id = m.till
                 ), ins AS (
                    INSERT INTO messages (till_id, seq, kind, attempt_id, body, received_at)
                    SELECT till, seq, kind, attempt, body, $5 FROM a
                 )
                 SELECT ord, seq FROM a",
                &[&t_col, &k_col, &a_col, &b_col, &now],
            )
            .await?;
        // Seq by row (ORDINALITY counts from 1); a till that does not exist has none.
        let mut seqs: Vec<Option<i64>> = vec![None; slot.len()];
        for r in &rows {
            let ord: i64 = r.get(0);
            if let Some(x) = seqs.get_mut((ord - 1) as usize) {
                *x = Some(r.get(1));
            }
        }
        let mut stored: HashMap<usize, Vec<Stored>> = HashMap::new();
        for ((i, j), seq) in slot.iter().zip(seqs) {
            let Write::Insert {
                tills,
                kind,
                attempt_id,
                body,
                ..
            } = &batch[*i]
            else {
                continue;
            };
            let list = stored.entry(*i).or_default();
            // Tills are never deleted: only a caller's mistake names one that is not there,
            // and it is left out.
            if let Some(seq) = seq {
                list.push(Stored {
                    till_id: tills[*j].clone(),
                    seq: seq as u64,
                    kind: *kind,
                    attempt_id: attempt_id.clone(),
                    body: body.clone(),
                });
            }
        }
        for (i, list) in stored {
            done[i] = Some(Done::Stored(if list.is_empty() {
                Err(Error::Invalid("insert: no such till".into()))
            } else {
                Ok(list)
            }));
        }
    }

    // 7. Tell the other processes, in this transaction (delivered on commit, never before):
    // one notification per till, its highest seq.
    let mut highest: HashMap<&str, i64> = HashMap::new();
    for d in done.iter().flatten() {
        let stored: &[Stored] = match d {
            Done::Stored(Ok(s)) => s,
            Done::Claimed(o) => &o.notices,
            _ => &[],
        };
        for m in stored {
            let e = highest.entry(m.till_id.as_str()).or_insert(0);
            *e = (*e).max(m.seq as i64);
        }
    }
    if !highest.is_empty() {
        let (tills, seqs): (Vec<&str>, Vec<i64>) = highest.into_iter().unzip();
        tx.execute(
            "SELECT pg_notify($1, t || ':' || s) FROM unnest($2::text[], $3::bigint[]) AS x(t, s)",
            &[&CHANNEL, &tills, &seqs],
        )
        .await?;
    }
    txn.commit().await?;
    Ok(done.into_iter().map(|d| d.unwrap_or(Done::Acked)).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use duka_relay_proto::Kind;

    use crate::testing::TestStore;

    /// A write the server refuses (text with a NUL byte) in a batch with good ones: only it
    /// is refused, the others are stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_refused_write_does_not_cost_the_rest_of_its_batch() {
        if crate::testing::postgres_url().is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ts = TestStore::new(dir.path()).await;
        let s = ts.store.clone();
        let till = s.add_till("Duka", "T").await.unwrap();
        // Polled together, they are all queued before the committer takes its next batch.
        let writes = (0..21).map(|i| {
            let body: Arc<str> = if i == 10 {
                Arc::from("{\"bad\":\"\0\"}")
            } else {
                Arc::from(format!("{{\"i\":{i}}}"))
            };
            s.insert(vec![till.id.clone()], Kind::Stk, None, body)
        });
        let results = futures_util::future::join_all(writes).await;
        assert!(results[10].is_err(), "{:?}", results[10]);
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            20,
            "{results:?}"
        );
        assert_eq!(s.unacked(&till.id).await.unwrap(), 20);
    }
}
