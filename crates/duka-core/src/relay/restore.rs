//! A replacement till takes its history back from the relay: a new PC, paired as the till it
//! replaces, gets every record that till synced, page by page (each page one transaction;
//! a restore cut off resumes where it stopped), then numbers its own changes after them.
//! Only into a database with no sales or shifts of its own; the till is not started meanwhile.

use std::path::Path;
use std::time::Duration;

use duka_relay_proto::{FromTill, Pairing, ToTill};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use super::ws_url;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::sync::OutboxRow;

/// What a restore brought back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct RestoreSummary {
    pub records: u64,
    /// The relay's position after the last record: this till's next change is numbered after.
    pub sync_seq: u64,
    pub sales: i64,
    /// The number the next sale gets.
    pub next_sale: i64,
    /// Records left out because what they refer to is no longer on the relay (its retention).
    pub left_out: u64,
}

fn relay_err(what: impl std::fmt::Display) -> Error {
    Error::Config(format!("restoring from the relay: {what}"))
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;
type Stream = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

const WAIT: Duration = Duration::from_secs(30);

/// A question-only connection to the relay (`Hello.query`): authenticated like the till's
/// session, but it replaces no session and gets no messages.
pub(super) struct Query {
    sink: Sink,
    stream: Stream,
    /// What the relay said in `Ready`: its position in this till's records, and whose
    /// history they are.
    sync_seq: u64,
    history: Option<String>,
}

impl Query {
    pub(super) async fn open(pairing: &Pairing) -> Result<Query> {
        let (ws, _) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(ws_url(&pairing.url)))
                .await
                .map_err(|_| relay_err("no answer"))?
                .map_err(relay_err)?;
        let (sink, stream) = ws.split();
        let mut q = Query {
            sink,
            stream,
            sync_seq: 0,
            history: None,
        };
        let nonce = match q.next().await? {
            ToTill::Challenge { nonce } => nonce,
            other => return Err(relay_err(format!("expected a challenge, got {other:?}"))),
        };
        let hello = FromTill::Hello {
            till: pairing.till.clone(),
            mac: duka_relay_proto::sign(
                &pairing.key_bytes(),
                &duka_relay_proto::ws_message(&nonce),
            ),
            proto: duka_relay_proto::PROTOCOL,
            resume_after: 0,
            epoch: None,
            query: true,
        };
        q.send(&hello).await?;
        loop {
            match q.next().await? {
                ToTill::Ready {
                    proto,
                    sync_seq,
                    history,
                    ..
                } => {
                    if let Some((code, message)) =
                        duka_relay_proto::protocol_mismatch(duka_relay_proto::PROTOCOL, proto)
                    {
                        return Err(relay_err(format!("refused ({code}): {message}")));
                    }
                    q.sync_seq = sync_seq;
                    q.history = history;
                    return Ok(q);
                }
                ToTill::Error { code, message } => {
                    return Err(relay_err(format!(
                        "refused by the relay ({code}): {message}"
                    )));
                }
                _ => continue,
            }
        }
    }

    pub(super) async fn send(&mut self, f: &FromTill) -> Result<()> {
        let text = serde_json::to_string(f).expect("frames serialise");
        self.sink
            .send(Message::Text(text.into()))
            .await
            .map_err(relay_err)
    }

    pub(super) async fn next(&mut self) -> Result<ToTill> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .map_err(|_| relay_err("no answer"))?;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(&t)
                        .map_err(|e| relay_err(format!("bad frame: {e}")));
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err(relay_err("the relay closed the connection"));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(relay_err(e)),
            }
        }
    }

    async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
    }
}

/// What a one-off sync sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    /// Records the relay committed now.
    pub sent: u64,
    /// The relay's position in this till's records after it.
    pub relay_seq: u64,
}

/// Sends this till's outbox (and its figures of the days it touched) over a connection of its
/// own, waiting for each acknowledgement: for a till run from the command line, which keeps
/// no relay session. A till the relay has another history for is refused, changing nothing.
pub async fn sync_once(db: &Path, pairing: &Pairing) -> Result<SyncSummary> {
    let mut q = Query::open(pairing).await?;
    let mut store = Store::open(db)?;
    // A till already syncing to this pairing carries on after what it knows was acknowledged:
    // the position read at connect may be overtaken by the desktop's session on the same
    // database, so this connection never decides a reset on it (the session does).
    let state = store.sync_state()?;
    let start = if state.enabled && state.till.as_deref() == Some(pairing.till.as_str()) {
        crate::store::sync::SyncStart::Send { after: state.acked }
    } else {
        store.sync_start(&pairing.till, q.sync_seq, q.history.as_deref())?
    };
    let mut after = match start {
        crate::store::sync::SyncStart::Send { after } => after,
        crate::store::sync::SyncStart::Restorable => {
            return Err(relay_err(
                "the relay holds this till's history and this database has none: restore it first (duka relay restore)",
            ));
        }
        crate::store::sync::SyncStart::Conflict => {
            return Err(relay_err(
                "the relay holds another history under this pairing and this till has sales of its own: nothing was sent (pair this till as a new one)",
            ));
        }
    };
    let mut days = store.outbox_days()?;
    days.insert(crate::time::today());
    let mut sent = 0u64;
    let mut relay_seq = after;
    let mut days_done = false;
    loop {
        let rows = store.outbox_after(
            after,
            super::session::SYNC_BATCH,
            super::session::SYNC_BATCH_BYTES,
        )?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            if days_done {
                break;
            }
            for d in std::mem::take(&mut days) {
                store.enqueue_day(d)?;
            }
            days_done = true;
            continue;
        };
        let n = rows.len() as u64;
        q.send(&FromTill::Sync {
            records: super::session::frame_records(rows, last),
        })
        .await?;
        let seq = loop {
            match q.next().await? {
                ToTill::Synced { seq } => break seq,
                ToTill::Error { code, message } => {
                    return Err(relay_err(format!("({code}) {message}")));
                }
                _ => continue,
            }
        };
        store.sync_acked(&pairing.till, seq.min(last))?;
        sent += n;
        relay_seq = seq;
        after = last;
    }
    q.close().await;
    Ok(SyncSummary { sent, relay_seq })
}

/// The shop's day from the relay over a question-only connection (the command line, which
/// runs no relay session).
pub async fn ask_shop_day(
    pairing: &Pairing,
    date: chrono::NaiveDate,
) -> Result<Vec<duka_relay_proto::TillDay>> {
    let mut q = Query::open(pairing).await?;
    q.send(&FromTill::ShopDay {
        id: "q".into(),
        date: date.to_string(),
    })
    .await?;
    loop {
        match q.next().await? {
            ToTill::ShopDay { id, tills, .. } if id == "q" => {
                q.close().await;
                return Ok(tills);
            }
            ToTill::Error { code, message } => {
                return Err(relay_err(format!("({code}) {message}")));
            }
            _ => continue,
        }
    }
}

/// Restores the database at `db` from the relay of `pairing`; `progress` hears the records
/// fetched so far. Every page is fetched first, then written in one transaction: a restore cut
/// off or refused leaves the till as it was.
pub async fn restore(
    db: &Path,
    pairing: &Pairing,
    mut progress: impl FnMut(u64),
) -> Result<RestoreSummary> {
    Store::open(db)?.restore_allowed()?;
    let mut q = Query::open(pairing).await?;
    let mut after = 0;
    let mut rows: Vec<OutboxRow> = Vec::new();
    q.send(&FromTill::Restore { after }).await?;
    let sync_seq = loop {
        match q.next().await? {
            ToTill::Records {
                records,
                upto,
                done,
                sync_seq,
            } => {
                if records.iter().any(|r| !r.is_valid()) {
                    return Err(relay_err("a malformed record"));
                }
                rows.extend(records.into_iter().map(|r| OutboxRow {
                    seq: r.seq,
                    tbl: r.table,
                    pk: r.pk,
                    body: r.body,
                    at: r.at,
                }));
                progress(rows.len() as u64);
                if done {
                    break sync_seq;
                }
                if upto <= after {
                    return Err(relay_err("the relay's pages do not move on"));
                }
                after = upto;
                q.send(&FromTill::Restore { after }).await?;
            }
            ToTill::Error { code, message } => {
                return Err(relay_err(format!("({code}) {message}")));
            }
            _ => continue,
        }
    };
    q.close().await;
    if sync_seq > duka_relay_proto::MAX_RECORD_SEQ {
        return Err(relay_err(format!(
            "a position beyond any till's numbering ({sync_seq})"
        )));
    }
    let mut store = Store::open(db)?;
    let left_out = store.restore_records(&rows, &pairing.till, sync_seq)?;
    let (sales, next_sale) = store.sales_count_and_next()?;
    Ok(RestoreSummary {
        records: rows.len() as u64,
        sync_seq,
        sales,
        next_sale,
        left_out,
    })
}
