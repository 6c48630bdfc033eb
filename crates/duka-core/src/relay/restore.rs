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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreSummary {
    pub records: u64,
    /// The relay's position after the last record: this till's next change is numbered after.
    pub sync_seq: u64,
    pub sales: i64,
    /// The number the next sale gets.
    pub next_sale: i64,
}

fn relay_err(what: impl std::fmt::Display) -> Error {
    Error::Config(format!("restoring from the relay: {what}"))
}

/// Restores the database at `db` from the relay of `pairing`; `progress` hears the records
/// written so far.
pub async fn restore(
    db: &Path,
    pairing: &Pairing,
    mut progress: impl FnMut(u64),
) -> Result<RestoreSummary> {
    let mut store = Store::open(db)?;
    let mut after = store.restore_begin()?;
    let wait = Duration::from_secs(30);
    let (ws, _) =
        tokio::time::timeout(wait, tokio_tungstenite::connect_async(ws_url(&pairing.url)))
            .await
            .map_err(|_| relay_err("no answer"))?
            .map_err(relay_err)?;
    let (mut sink, mut stream) = ws.split();
    let mut next = async || -> Result<ToTill> {
        loop {
            let frame = tokio::time::timeout(wait, stream.next())
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
    };
    let nonce = match next().await? {
        ToTill::Challenge { nonce } => nonce,
        other => return Err(relay_err(format!("expected a challenge, got {other:?}"))),
    };
    let hello = FromTill::Hello {
        till: pairing.till.clone(),
        mac: duka_relay_proto::sign(&pairing.key_bytes(), &duka_relay_proto::ws_message(&nonce)),
        proto: duka_relay_proto::PROTOCOL,
        resume_after: 0,
        epoch: None,
    };
    let text =
        |f: &FromTill| Message::Text(serde_json::to_string(f).expect("frames serialise").into());
    sink.send(text(&hello)).await.map_err(relay_err)?;
    loop {
        match next().await? {
            ToTill::Ready { proto, .. } => {
                if let Some((code, message)) =
                    duka_relay_proto::protocol_mismatch(duka_relay_proto::PROTOCOL, proto)
                {
                    return Err(relay_err(format!("refused ({code}): {message}")));
                }
                break;
            }
            ToTill::Error { code, message } => {
                return Err(relay_err(format!(
                    "refused by the relay ({code}): {message}"
                )));
            }
            _ => continue,
        }
    }
    sink.send(text(&FromTill::Restore { after }))
        .await
        .map_err(relay_err)?;
    let mut written = 0u64;
    let sync_seq = loop {
        match next().await? {
            ToTill::Records {
                records,
                upto,
                done,
                sync_seq,
            } => {
                if records.iter().any(|r| !r.is_valid()) {
                    return Err(relay_err("a malformed record"));
                }
                let rows: Vec<OutboxRow> = records
                    .into_iter()
                    .map(|r| OutboxRow {
                        seq: r.seq,
                        tbl: r.table,
                        pk: r.pk,
                        body: r.body,
                        at: r.at,
                    })
                    .collect();
                written += store.restore_page(&rows, upto)? as u64;
                progress(written);
                if done {
                    break sync_seq;
                }
                if upto <= after {
                    return Err(relay_err("the relay's pages do not move on"));
                }
                after = upto;
                sink.send(text(&FromTill::Restore { after }))
                    .await
                    .map_err(relay_err)?;
            }
            ToTill::Error { code, message } => {
                return Err(relay_err(format!("({code}) {message}")));
            }
            // Messages for this till (callbacks) are the running till's business: not
            // acknowledged here, so they come again to it.
            _ => continue,
        }
    };
    let _ = sink.send(Message::Close(None)).await;
    store.restore_finish(&pairing.till, sync_seq)?;
    let (sales, next_sale) = store.sales_count_and_next()?;
    Ok(RestoreSummary {
        records: written,
        sync_seq,
        sales,
        next_sale,
    })
}
