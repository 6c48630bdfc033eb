//! The writer thread: every write to the store goes through it, and it commits whatever is
//! waiting in one transaction (group commit).

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use duka_relay_proto::Kind;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{ClaimOutcome, Stored, now_ms};
use crate::error::{Error, Result};

/// A request to the writer thread; each carries its own reply channel (but `Ack`).
pub(super) enum Write {
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
    /// A till's records (sync): kept by highest seq, the till's position moved.
    Sync {
        till: String,
        records: Vec<super::Record>,
        upto: u64,
        reply: oneshot::Sender<Result<u64>>,
    },
    ExpireRecords {
        before_ms: i64,
        reply: oneshot::Sender<Result<usize>>,
    },
}

/// The writer thread: blocks for one request, takes every other one waiting (up to 1,024),
/// commits them in one transaction, then answers them all.
pub(super) fn writer(mut c: Connection, rx: std_mpsc::Receiver<Write>) {
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
                (Write::Sync { reply, .. }, Done::Bumped(res)) => {
                    let _ = reply.send(res);
                }
                (Write::ExpireRecords { reply, .. }, Done::Expired(res)) => {
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
                    Write::Sync {
                        till,
                        records,
                        upto,
                        ..
                    } => {
                        out.push(Done::Bumped(Ok(sync_put(&tx, till, records, *upto, now)?)));
                    }
                    Write::ExpireRecords { before_ms, .. } => {
                        let kept: Vec<String> = super::KEPT_TABLES
                            .iter()
                            .map(|t| format!("'{t}'"))
                            .collect();
                        let n = tx.execute(
                            &format!(
                                "DELETE FROM records WHERE received_at < ?1 AND tbl NOT IN ({})",
                                kept.join(", ")
                            ),
                            [before_ms],
                        )?;
                        out.push(Done::Expired(Ok(n)));
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
                Write::Sync { .. } => Done::Bumped(Err(Error::Db(e.to_string()))),
                Write::ExpireRecords { .. } => Done::Expired(Err(Error::Db(e.to_string()))),
                Write::Ack { .. } => Done::Acked,
            })
            .collect(),
    }
}

/// One till's records in the writer's transaction: the version with the higher seq wins.
fn sync_put(
    tx: &rusqlite::Transaction<'_>,
    till: &str,
    records: &[super::Record],
    upto: u64,
    now: i64,
) -> rusqlite::Result<u64> {
    let mut up = tx.prepare_cached(
        "INSERT INTO records (till_id, tbl, pk, seq, body, at, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (till_id, tbl, pk) DO UPDATE SET
           seq = excluded.seq, body = excluded.body, at = excluded.at, received_at = excluded.received_at
         WHERE excluded.seq > records.seq",
    )?;
    let mut top = upto;
    for r in records {
        up.execute(params![
            till,
            r.table,
            r.pk,
            r.seq as i64,
            r.body,
            r.at,
            now
        ])?;
        top = top.max(r.seq);
    }
    let seq: Option<i64> = tx
        .query_row(
            "UPDATE tills SET sync_seq = max(sync_seq, ?2) WHERE id = ?1 RETURNING sync_seq",
            params![till, top as i64],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seq.unwrap_or(0) as u64)
}
