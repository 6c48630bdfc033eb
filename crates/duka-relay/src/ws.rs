//! The till's websocket session: a challenge the till answers with its key, then resume from
//! the till's watermark (or a re-sync when it is from another numbering run), delivery of
//! every stored message in `seq` order, acks, C2B validation questions and receipt claims.
//! One session per till: a newer connection replaces the older one.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use duka_relay_proto::{FromTill, ToTill};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use crate::store::{self, Stored};
use crate::{App, Relay, lock};

/// What the rest of the relay hands an open session.
pub(crate) enum ToSession {
    Msg(Stored),
    Validate {
        id: String,
        body: String,
    },
    /// Another process stored messages for this till up to `seq` (0: maybe, replay anyway).
    Wake {
        seq: u64,
    },
    /// Close the connection now, telling the till why.
    Close {
        code: &'static str,
        message: String,
    },
}

/// An open session, by till id in `Relay::sessions`.
pub(crate) struct Session {
    pub(crate) id: u64,
    pub(crate) shop_id: String,
    pub(crate) tx: mpsc::UnboundedSender<ToSession>,
    /// The key it authenticated with (a till given a new key keeps only new sessions).
    pub(crate) key: Vec<u8>,
}

impl Relay {
    /// Hands freshly stored messages to their tills' open sessions (others get them on
    /// their next connection).
    pub(crate) fn notify(&self, shop: &str, stored: Vec<Stored>) {
        self.metrics.shop_stored(shop, stored.len() as u64);
        let sessions = lock(&self.sessions);
        for m in stored {
            if let Some(s) = sessions.get(&m.till_id) {
                let _ = s.tx.send(ToSession::Msg(m));
            }
        }
    }

    /// Wakes the sessions another process stored messages for: each replays from the store
    /// after what it has sent.
    pub(crate) fn wake(&self, w: store::Wake) {
        let sessions = lock(&self.sessions);
        match w {
            store::Wake::Till { till, seq } => {
                if let Some(s) = sessions.get(&till) {
                    let _ = s.tx.send(ToSession::Wake { seq });
                }
            }
            store::Wake::All => {
                for s in sessions.values() {
                    let _ = s.tx.send(ToSession::Wake { seq: 0 });
                }
            }
            // Another process's C2B validation question: asked of this process's tills of
            // the shop too; their answer goes back through the database.
            store::Wake::Validate { shop, id, body } => {
                for s in sessions.values().filter(|s| s.shop_id == shop) {
                    let _ = s.tx.send(ToSession::Validate {
                        id: id.clone(),
                        body: body.clone(),
                    });
                }
            }
            store::Wake::Validation {
                id,
                result_code,
                result_desc,
            } => {
                drop(sessions);
                if let Some(tx) = lock(&self.validations).remove(&id) {
                    let _ = tx.send((result_code, result_desc));
                }
            }
        }
    }

    /// Closes the sessions of tills revoked (by this process or by `duka-relay till revoke`).
    /// Closes the sessions of `till` opened with another key than `current` (it was given a
    /// new one: the replacement's session stays).
    pub(crate) fn disconnect_stale_key(&self, till: &str, current: &[u8]) {
        lock(&self.till_cache).remove(till);
        let mut sessions = lock(&self.sessions);
        if sessions.get(till).is_some_and(|s| s.key != current)
            && let Some(s) = sessions.remove(till)
        {
            tracing::warn!(till = %till, "given a new key: closing the connection made with the old one");
            let _ = s.tx.send(ToSession::Close {
                code: "revoked",
                message: "this till was given a new key by the relay's operator".into(),
            });
        }
    }

    pub(crate) fn disconnect_revoked(&self, tills: &[String]) {
        {
            let mut cache = lock(&self.till_cache);
            for t in tills {
                cache.remove(t);
            }
        }
        let mut sessions = lock(&self.sessions);
        for t in tills {
            if let Some(s) = sessions.remove(t) {
                tracing::warn!(till = %t, "revoked: closing its connection");
                let _ = s.tx.send(ToSession::Close {
                    code: "revoked",
                    message: "this till was revoked by the relay's operator".into(),
                });
            }
        }
    }
}

/// `GET /v1/ws`: the websocket upgrade, with small buffers.
pub(crate) async fn upgrade(State(app): State<App>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        // A sync frame may carry one record of up to 768 KiB, escaped again inside the frame.
        .max_message_size(4 << 20)
        // An idle till costs its buffers: small ones keep 10,000 tills in a few hundred MB
        // (tungstenite's default is 128 KiB each way). Writes go out at once.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| session(app, socket))
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    frame: &ToTill,
) -> bool {
    let text = serde_json::to_string(frame).expect("frames serialise");
    sink.send(Message::Text(text.into())).await.is_ok()
}

async fn session(app: App, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let nonce = store::random_hex(16);
    if !send(
        &mut sink,
        &ToTill::Challenge {
            nonce: nonce.clone(),
        },
    )
    .await
    {
        return;
    }
    let hello = match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<FromTill>(&t).ok(),
        _ => None,
    };
    let Some(FromTill::Hello {
        till,
        mac,
        proto,
        resume_after,
        epoch,
        query,
    }) = hello
    else {
        app.metrics.reject("ws_no_hello");
        return;
    };
    if let Some((code, message)) =
        duka_relay_proto::protocol_mismatch(proto, duka_relay_proto::PROTOCOL)
    {
        app.metrics.reject(if code == "till_outdated" {
            "ws_till_outdated"
        } else {
            "ws_relay_outdated"
        });
        let _ = send(
            &mut sink,
            &ToTill::Error {
                code: code.into(),
                message,
            },
        )
        .await;
        return;
    }
    let t = match app.store.till(&till).await {
        Ok(Some(t))
            if !t.revoked
                && duka_relay_proto::verify(
                    &t.key,
                    &duka_relay_proto::ws_message(&nonce),
                    &mac,
                ) =>
        {
            t
        }
        _ => {
            app.metrics.reject("ws_auth");
            let _ = send(
                &mut sink,
                &ToTill::Error {
                    code: "auth".into(),
                    message: "unknown till or bad key".into(),
                },
            )
            .await;
            return;
        }
    };
    if query {
        questions(&app, &t, sink, stream).await;
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let my_id = app.next_session.fetch_add(1, Ordering::Relaxed);
    // A newer connection of the same till replaces the old one (whose channel then closes).
    lock(&app.sessions).insert(
        t.id.clone(),
        Session {
            id: my_id,
            shop_id: t.shop_id.clone(),
            tx,
            key: t.key.clone(),
        },
    );
    app.metrics.connected.fetch_add(1, Ordering::Relaxed);
    let last_seq = app
        .store
        .till(&t.id)
        .await
        .ok()
        .flatten()
        .map(|x| x.last_seq)
        .unwrap_or(0);
    // The till's watermark counts only if it is from this numbering run and not above it;
    // otherwise (a restored backup, a new relay, a re-pairing race) nothing is acknowledged on
    // its word, the numbering moves past the watermark, and everything held is replayed.
    let (last_seq, resume_from) = if epoch.as_deref() == Some(t.epoch.as_str())
        && resume_after <= last_seq
    {
        if resume_after > 0 {
            app.store.ack(&t.id, resume_after).await;
        }
        (last_seq, resume_after)
    } else {
        app.metrics.reject("ws_resync");
        tracing::warn!(till = %t.id, resume_after, last_seq, "the till's watermark is not from this relay's run: re-syncing");
        let bumped = if resume_after > last_seq {
            match app.store.bump_seq(&t.id, resume_after).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("bump: {e}");
                    return;
                }
            }
        } else {
            last_seq
        };
        (bumped, 0)
    };
    let mut last_sent = resume_from;
    let history = app.store.history_of(&t.id).await.ok().flatten();
    let sync_seq = match app.store.sync_position(&t.id).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("sync position: {e}");
            return;
        }
    };
    let ready = ToTill::Ready {
        last_seq,
        epoch: t.epoch.clone(),
        resume_from,
        proto: duka_relay_proto::PROTOCOL,
        sync_seq,
        history: history.clone(),
    };
    let mut ok = send(&mut sink, &ready).await && replay(&app, &t, &mut last_sent, &mut sink).await;
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    ping.tick().await;
    // Serve until the till goes away, the socket fails, or a newer connection replaces this one.
    while ok {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<FromTill>(&text) {
                    Ok(FromTill::Ack { seq }) => {
                        app.store.ack(&t.id, seq).await;
                        app.metrics.acked.fetch_add(1, Ordering::Relaxed);
                        app.metrics.shop_acked(&t.shop_id);
                    }
                    Ok(FromTill::Validation { id, result_code, result_desc }) => {
                        let local = lock(&app.validations).remove(&id);
                        match local {
                            Some(tx) => {
                                let _ = tx.send((result_code, result_desc));
                            }
                            // Not asked here: another process's question (or one already
                            // answered); the answer goes back to whoever asked.
                            None if app.store.shared() && id.len() <= 64 => {
                                let answer = store::Shared::Validation { id, result_code, result_desc };
                                if let Err(e) = app.store.publish(answer).await {
                                    tracing::warn!("validation answer for another process: {e}");
                                }
                            }
                            None => {}
                        }
                    }
                    Ok(FromTill::Release { key, sale }) => {
                        if duka_relay_proto::is_claim_key(&key) && duka_relay_proto::is_claim_sale(&sale) {
                            match app.store.release(&t.shop_id, &key, &t.id, &sale).await {
                                Ok(notices) => app.notify(&t.shop_id, notices),
                                Err(e) => tracing::error!("release: {e}"),
                            }
                        } else {
                            app.metrics.reject("ws_bad_claim");
                        }
                    }
                    Ok(FromTill::Sync { records }) => match sync(&app, &t, records).await {
                        Some(answer) => {
                            if !send(&mut sink, &answer).await {
                                ok = false;
                            }
                        }
                        None => ok = false,
                    },
                    Ok(q @ (FromTill::Restore { .. } | FromTill::ShopDay { .. })) => {
                        if !answer(&app, &t, q, &mut sink).await {
                            ok = false;
                        }
                    }
                    Ok(FromTill::Claim { id, key, sale, amount_cents }) => {
                        if let Some(answer) = claim(&app, &t, id, key, sale, amount_cents).await
                            && !send(&mut sink, &answer).await
                        {
                            ok = false;
                        }
                    }
                    _ => app.metrics.reject("ws_bad_frame"),
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => ok = false,
            },
            pushed = rx.recv() => match pushed {
                Some(ToSession::Msg(m)) => {
                    if m.seq <= last_sent {
                        continue;
                    }
                    let sent = if m.seq == last_sent + 1 {
                        last_sent = m.seq;
                        app.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                        app.metrics.shop_delivered(&t.shop_id, 1);
                        send(&mut sink, &frame(&m)).await
                    } else {
                        replay(&app, &t, &mut last_sent, &mut sink).await
                    };
                    if !sent {
                        ok = false;
                    }
                }
                Some(ToSession::Wake { seq }) => {
                    if (seq == 0 || seq > last_sent)
                        && !replay(&app, &t, &mut last_sent, &mut sink).await
                    {
                        ok = false;
                    }
                }
                Some(ToSession::Validate { id, body }) => {
                    if !send(&mut sink, &ToTill::Validate { id, body }).await {
                        ok = false;
                    }
                }
                Some(ToSession::Close { code, message }) => {
                    let _ = send(&mut sink, &ToTill::Error { code: code.into(), message }).await;
                    let _ = sink.send(Message::Close(None)).await;
                    ok = false;
                }
                None => ok = false,
            },
            _ = ping.tick() => {
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    ok = false;
                }
            }
        }
    }
    let mut sessions = lock(&app.sessions);
    if sessions.get(&t.id).is_some_and(|s| s.id == my_id) {
        sessions.remove(&t.id);
    }
    app.metrics.connected.fetch_sub(1, Ordering::Relaxed);
}

/// A till's claim on a receipt: committed (first claim wins) before the answer, and the shop's
/// other tills told. `None` (no answer: the till attaches provisionally and asks again later)
/// for a malformed claim or a store failure.
async fn claim(
    app: &Relay,
    t: &store::Till,
    id: String,
    key: String,
    sale: String,
    amount_cents: Option<i64>,
) -> Option<ToTill> {
    if !duka_relay_proto::is_claim_key(&key)
        || !duka_relay_proto::is_claim_sale(&sale)
        || id.len() > 64
        || amount_cents.is_some_and(|a| a < 0)
    {
        app.metrics.reject("ws_bad_claim");
        return None;
    }
    match app
        .store
        .claim(&t.shop_id, &key, &t.id, &sale, amount_cents)
        .await
    {
        Ok(outcome) => {
            app.metrics.claims.fetch_add(1, Ordering::Relaxed);
            if !outcome.won {
                app.metrics.claims_lost.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(till = %t.id, owner = %outcome.till, "a receipt claimed by another till first");
            }
            app.notify(&t.shop_id, outcome.notices);
            Some(ToTill::ClaimResult {
                id,
                key,
                won: outcome.won,
                till: outcome.till,
                till_name: outcome.till_name,
                sale: outcome.sale,
            })
        }
        Err(e) => {
            tracing::error!("claim: {e}");
            None
        }
    }
}

fn frame(m: &Stored) -> ToTill {
    ToTill::Message {
        seq: m.seq,
        kind: m.kind,
        attempt_id: m.attempt_id.clone(),
        body: m.body.to_string(),
    }
}

/// Sends everything stored after `last_sent`, in order.
async fn replay(
    app: &Relay,
    t: &store::Till,
    last_sent: &mut u64,
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
) -> bool {
    loop {
        let batch = match app.store.pending(&t.id, *last_sent, 500).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("replay: {e}");
                return false;
            }
        };
        if batch.is_empty() {
            return true;
        }
        for m in batch {
            *last_sent = m.seq;
            app.metrics.delivered.fetch_add(1, Ordering::Relaxed);
            app.metrics.shop_delivered(&t.shop_id, 1);
            if !send(sink, &frame(&m)).await {
                return false;
            }
        }
    }
}

/// Most records in one `Sync` frame.
const MAX_SYNC_RECORDS: usize = 2_000;

/// Records per page of a restore.
const RESTORE_PAGE: usize = 2_000;

/// Commits a till's records, then says so. A malformed record is left out (logged and
/// counted) and the rest committed and acknowledged: one bad record must not stop the till's
/// sync, nor its callbacks by a connection closed again and again. `None` (the connection is
/// closed: the till resends after reconnecting) for a frame over the limit or a store failure.
async fn sync(app: &Relay, t: &store::Till, mut records: Vec<store::Record>) -> Option<ToTill> {
    if records.is_empty() || records.len() > MAX_SYNC_RECORDS {
        app.metrics.reject("ws_bad_records");
        tracing::warn!(till = %t.id, n = records.len(), "a sync frame over the limit: closing the connection");
        return None;
    }
    // The frame's own top, within the till's numbering (a seq above 2^53 is a forgery and
    // moves nothing): the till's position moves to it, malformed records included, so the
    // till can drop those too and never resends them for ever.
    let Some(top) = records
        .iter()
        .map(|r| r.seq)
        .filter(|s| (1..=duka_relay_proto::MAX_RECORD_SEQ).contains(s))
        .max()
    else {
        app.metrics.reject("ws_bad_records");
        tracing::warn!(till = %t.id, "a sync frame with no record of the till's numbering: closing the connection");
        return None;
    };
    let before = records.len();
    records.retain(|r| r.is_valid());
    // The till's position moves only with records it could have written (a real till never
    // sends a malformed one but one too large, which it replaces by a placeholder); the
    // answer still covers the whole frame, so the till drops what was left out.
    let position = records.iter().map(|r| r.seq).max().unwrap_or(0);
    if records.len() < before {
        app.metrics.reject("ws_bad_records");
        tracing::warn!(till = %t.id, left_out = before - records.len(), "malformed records left out");
    }
    let n = records.len() as u64;
    match app.store.sync_put(&t.id, records, position).await {
        Ok(_) => {
            app.metrics.records.fetch_add(n, Ordering::Relaxed);
            // This frame's top, not the till's highest position: an acknowledgement never
            // covers what this frame did not carry.
            Some(ToTill::Synced { seq: top })
        }
        Err(e) => {
            tracing::error!("sync: {e}");
            None
        }
    }
}

/// A restore page or the shop's day; false when the connection failed.
async fn answer(
    app: &Relay,
    t: &store::Till,
    q: FromTill,
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
) -> bool {
    let reply = match q {
        FromTill::Restore { after } => {
            let page = app.store.records_after(&t.id, after, RESTORE_PAGE).await;
            let position = app.store.sync_position(&t.id).await;
            match (page, position) {
                (Ok(records), Ok(sync_seq)) => ToTill::Records {
                    upto: records.last().map_or(after, |r| r.seq),
                    done: records.len() < RESTORE_PAGE,
                    records,
                    sync_seq,
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!("restore: {e}");
                    ToTill::Error {
                        code: "store".into(),
                        message: "the relay could not read its records".into(),
                    }
                }
            }
        }
        FromTill::ShopDay { id, date } => {
            if !duka_relay_proto::is_date(&date) || id.len() > 64 {
                app.metrics.reject("ws_bad_frame");
                return true;
            }
            match app.store.shop_days(&t.shop_id, &date).await {
                Ok(tills) => ToTill::ShopDay { id, date, tills },
                Err(e) => {
                    tracing::error!("shop day: {e}");
                    ToTill::Error {
                        code: "store".into(),
                        message: "the relay could not read the shop's records".into(),
                    }
                }
            }
        }
        _ => return true,
    };
    send(sink, &reply).await
}

/// A question-only connection (`Hello.query`): restore pages, the shop's day and a command
/// line's one-off sync; nothing delivered, no session replaced.
async fn questions(
    app: &Relay,
    t: &store::Till,
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut stream: futures_util::stream::SplitStream<WebSocket>,
) {
    let Ok(sync_seq) = app.store.sync_position(&t.id).await else {
        return;
    };
    let history = app.store.history_of(&t.id).await.ok().flatten();
    let ready = ToTill::Ready {
        last_seq: 0,
        epoch: t.epoch.clone(),
        resume_from: 0,
        proto: duka_relay_proto::PROTOCOL,
        sync_seq,
        history: history.clone(),
    };
    if !send(&mut sink, &ready).await {
        return;
    }
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(60), stream.next()).await
    {
        // Not a session, so a revocation cannot close it: each question checks the till's key
        // again (revoked, or given a new key since: the connection ends).
        if matches!(msg, Message::Text(_)) {
            let current = app.store.till(&t.id).await.ok().flatten();
            if !current.is_some_and(|c| !c.revoked && c.key == t.key) {
                app.metrics.reject("ws_auth");
                let _ = send(
                    &mut sink,
                    &ToTill::Error {
                        code: "revoked".into(),
                        message: "this till was revoked or given a new key by the relay's operator"
                            .into(),
                    },
                )
                .await;
                return;
            }
        }
        match msg {
            Message::Text(text) => match serde_json::from_str::<FromTill>(&text) {
                Ok(q @ (FromTill::Restore { .. } | FromTill::ShopDay { .. })) => {
                    if !answer(app, t, q, &mut sink).await {
                        return;
                    }
                }
                // A till run from the command line syncs over a connection of this kind.
                Ok(FromTill::Sync { records }) => match sync(app, t, records).await {
                    Some(reply) => {
                        if !send(&mut sink, &reply).await {
                            return;
                        }
                    }
                    None => return,
                },
                _ => app.metrics.reject("ws_bad_frame"),
            },
            Message::Close(_) => return,
            _ => {}
        }
    }
}
