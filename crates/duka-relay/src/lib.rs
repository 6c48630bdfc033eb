//! # duka-relay
//!
//! Daraja cannot call a desktop till back, so the relay takes Daraja's callbacks on the
//! internet, commits each to SQLite before answering "Accepted", and forwards it to the right
//! till over a websocket, keeping it until the till acknowledges it (or its TTL passes).
//! Never depends on duka-core; the protocol is in `duka-relay-proto`.
//!
//! # Layout
//! - `store` — SQLite: shops, tills and their keys, per-till messages with a rising `seq`;
//!   one writer thread group-commits.
//! - this file — the HTTP endpoints (signed STK / status / C2B URLs), the websocket sessions,
//!   limits (body size, per-IP rate, optional IP allow-list), `/healthz`, `/metrics`.
//! - `metrics` — Prometheus counters.
//! - `main.rs` — `duka-relay serve`, `till add|list|revoke`, `shop urls`.

// Handler steps return the HTTP answer as their error: that is what they have to say.
#![allow(clippy::result_large_err)]

pub mod error;
pub mod metrics;
pub mod store;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use duka_relay_proto::{FromTill, Kind, ToTill};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

pub use error::{Error, Result};
use metrics::Metrics;
pub use store::Store;
use store::Stored;

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Largest callback body accepted, in bytes.
    pub max_body: usize,
    /// Requests per second per client IP on the callback URLs (`None`: no limit).
    pub rate_limit_per_ip: Option<u32>,
    /// When not empty, only these addresses may POST callbacks (Safaricom's published list).
    pub allow_ips: Vec<IpAddr>,
    /// Proxies whose `X-Forwarded-For` is believed (e.g. the local Caddy or nginx).
    pub trusted_proxies: Vec<IpAddr>,
    /// Undelivered messages are dropped after this long.
    pub ttl: Duration,
    /// How long a C2B validation waits for a till before the shop's default answer (Daraja
    /// allows about 8 s in all).
    pub validation_timeout: Duration,
    /// How often the relay looks for tills revoked by another process, to close them.
    pub revocation_check: Duration,
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            max_body: 64 * 1024,
            // Daraja calls back from a handful of addresses: the limit guards against floods,
            // not against a busy fleet of tills.
            rate_limit_per_ip: Some(1000),
            allow_ips: Vec::new(),
            trusted_proxies: Vec::new(),
            ttl: Duration::from_secs(7 * 24 * 3600),
            validation_timeout: Duration::from_secs(6),
            revocation_check: Duration::from_secs(1),
        }
    }
}

enum ToSession {
    Msg(Stored),
    Validate {
        id: String,
        body: String,
    },
    /// Close the connection now, telling the till why.
    Close {
        code: &'static str,
        message: String,
    },
}

struct Session {
    id: u64,
    shop_id: String,
    tx: mpsc::UnboundedSender<ToSession>,
}

pub struct Relay {
    store: Store,
    cfg: Config,
    pub metrics: Metrics,
    sessions: Mutex<HashMap<String, Session>>,
    rates: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    rates_pruned: Mutex<Instant>,
    validations: Mutex<HashMap<String, oneshot::Sender<(String, String)>>>,
    next_session: AtomicU64,
}

type App = Arc<Relay>;

/// The rate limiter drops idle (full) buckets once it tracks this many addresses.
const RATE_PRUNE_AT: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Relay {
    pub fn new(store: Store, cfg: Config) -> App {
        Arc::new(Relay {
            store,
            cfg,
            metrics: Metrics::default(),
            sessions: Mutex::new(HashMap::new()),
            rates: Mutex::new(HashMap::new()),
            rates_pruned: Mutex::new(Instant::now()),
            validations: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn connected(&self) -> usize {
        lock(&self.sessions).len()
    }

    fn notify(&self, stored: Vec<Stored>) {
        let sessions = lock(&self.sessions);
        for m in stored {
            if let Some(s) = sessions.get(&m.till_id) {
                let _ = s.tx.send(ToSession::Msg(m));
            }
        }
    }

    /// Revokes a till and closes its open websocket at once.
    pub fn revoke(&self, till: &str) -> Result<bool> {
        let revoked = self.store.revoke_till(till)?;
        self.disconnect_revoked(&[till.to_string()]);
        Ok(revoked)
    }

    /// Closes the sessions of tills revoked (by this process or by `duka-relay till revoke`).
    fn disconnect_revoked(&self, tills: &[String]) {
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

    /// The caller's address: the socket's, or `X-Forwarded-For`'s last hop from a trusted proxy.
    fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let ip = peer.ip();
        if self.cfg.trusted_proxies.contains(&ip)
            && let Some(fwd) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
            && let Some(last) = fwd.rsplit(',').next().and_then(|s| s.trim().parse().ok())
        {
            return last;
        }
        ip
    }

    /// Allow-list and per-IP token bucket. `Err` is the answer to send.
    fn admit(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<(), Response> {
        let ip = self.client_ip(peer, headers);
        if !self.cfg.allow_ips.is_empty() && !self.cfg.allow_ips.contains(&ip) {
            return Err(self.refuse("ip_not_allowed", StatusCode::FORBIDDEN));
        }
        if !self.take_token(ip, Instant::now()) {
            return Err(self.refuse("rate_limited", StatusCode::TOO_MANY_REQUESTS));
        }
        Ok(())
    }

    /// Addresses the rate limiter tracks now.
    pub fn rate_tracked(&self) -> usize {
        lock(&self.rates).len()
    }

    /// The per-IP token bucket (capacity 2 s of the rate). A bucket idle long enough to be full
    /// again is the same as no bucket, so such entries are dropped once the map grows: memory
    /// follows the addresses seen in the last two seconds, not all addresses ever seen.
    fn take_token(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(rate) = self.cfg.rate_limit_per_ip else {
            return true;
        };
        let refill = Duration::from_secs(2);
        {
            let mut rates = lock(&self.rates);
            // At most every 100 ms, so a flood of new addresses costs no scan per request.
            let mut pruned = lock(&self.rates_pruned);
            if rates.len() >= RATE_PRUNE_AT
                && now.saturating_duration_since(*pruned) >= Duration::from_millis(100)
            {
                rates.retain(|_, (_, last)| now.saturating_duration_since(*last) < refill);
                *pruned = now;
            }
            drop(pruned);
            let (tokens, last) = rates.entry(ip).or_insert((f64::from(rate) * 2.0, now));
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * f64::from(rate))
                .min(f64::from(rate) * 2.0);
            *last = now;
            if *tokens < 1.0 {
                return false;
            }
            *tokens -= 1.0;
        }
        true
    }

    fn refuse(&self, reason: &'static str, status: StatusCode) -> Response {
        self.metrics.reject(reason);
        tracing::warn!(reason, status = status.as_u16(), "refused a request");
        (
            status,
            axum::Json(json!({"ResultCode": 1, "ResultDesc": reason})),
        )
            .into_response()
    }

    fn body(
        &self,
        body: std::result::Result<Bytes, BytesRejection>,
        top_key: &str,
    ) -> Result<Arc<str>, Response> {
        let bytes = body.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                self.refuse("too_large", StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                self.refuse("unreadable", StatusCode::BAD_REQUEST)
            }
        })?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| self.refuse("malformed", StatusCode::BAD_REQUEST))?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) if top_key.is_empty() || m.contains_key(top_key) => {
                Ok(Arc::from(text))
            }
            _ => Err(self.refuse("malformed", StatusCode::BAD_REQUEST)),
        }
    }

    /// The till named in a signed URL, if the signature holds.
    fn signed_till(&self, till: &str, message: &str, sig: &str) -> Result<store::Till, Response> {
        if !duka_relay_proto::is_segment(till) || !duka_relay_proto::is_segment(sig) {
            return Err(self.refuse("bad_path", StatusCode::NOT_FOUND));
        }
        match self.store.till(till) {
            Ok(Some(t)) if !t.revoked => {
                if duka_relay_proto::verify(&t.key, message, sig) {
                    Ok(t)
                } else {
                    Err(self.refuse("bad_signature", StatusCode::FORBIDDEN))
                }
            }
            Ok(Some(_)) => Err(self.refuse("revoked_till", StatusCode::FORBIDDEN)),
            Ok(None) => Err(self.refuse("unknown_till", StatusCode::NOT_FOUND)),
            Err(e) => {
                tracing::error!("store: {e}");
                Err(self.refuse("store_failed", StatusCode::SERVICE_UNAVAILABLE))
            }
        }
    }

    async fn store_and_forward(
        &self,
        tills: Vec<String>,
        kind: Kind,
        attempt: Option<String>,
        body: Arc<str>,
    ) -> Result<(), Response> {
        self.store_and_forward_or_hold(tills, kind, attempt, body, None)
            .await
    }

    async fn store_and_forward_or_hold(
        &self,
        tills: Vec<String>,
        kind: Kind,
        attempt: Option<String>,
        body: Arc<str>,
        hold_for: Option<String>,
    ) -> Result<(), Response> {
        self.metrics.received.fetch_add(1, Ordering::Relaxed);
        if hold_for.is_some() {
            tracing::info!(kind = kind.as_str(), "no live till: held for the shop");
        }
        match self
            .store
            .insert_or_hold(tills, kind, attempt, body, hold_for)
            .await
        {
            Ok(stored) => {
                self.metrics
                    .stored
                    .fetch_add(stored.len() as u64, Ordering::Relaxed);
                self.notify(stored);
                Ok(())
            }
            Err(e) => {
                tracing::error!("store: {e}");
                Err(self.refuse("store_failed", StatusCode::SERVICE_UNAVAILABLE))
            }
        }
    }
}

fn accepted() -> Response {
    axum::Json(json!({"ResultCode": 0, "ResultDesc": "Accepted"})).into_response()
}

async fn stk_callback(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((till, attempt, exp, sig)): Path<(String, String, String, String)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let url = SignedUrl {
        till,
        attempt,
        exp,
        sig,
    };
    signed_post(app, peer, headers, url, body, Kind::Stk).await
}

async fn status_result(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((till, attempt, exp, sig)): Path<(String, String, String, String)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let url = SignedUrl {
        till,
        attempt,
        exp,
        sig,
    };
    signed_post(app, peer, headers, url, body, Kind::Status).await
}

/// A callback URL of a Duka before URL expiry: refused, saying why.
async fn legacy_url(State(app): State<App>) -> Response {
    app.refuse("legacy_url_update_the_till", StatusCode::GONE)
}

/// The segments of a per-attempt callback URL.
struct SignedUrl {
    till: String,
    attempt: String,
    exp: String,
    sig: String,
}

async fn signed_post(
    app: App,
    peer: SocketAddr,
    headers: HeaderMap,
    url: SignedUrl,
    body: std::result::Result<Bytes, BytesRejection>,
    kind: Kind,
) -> Response {
    let SignedUrl {
        till,
        attempt,
        exp,
        sig,
    } = url;
    if let Err(r) = app.admit(peer, &headers) {
        return r;
    }
    if !duka_relay_proto::is_segment(&attempt) || duka_relay_proto::parse_exp(&exp).is_none() {
        return app.refuse("bad_path", StatusCode::NOT_FOUND);
    }
    let message = match kind {
        Kind::Status => duka_relay_proto::status_message(&attempt, &exp),
        _ => duka_relay_proto::stk_message(&attempt, &exp),
    };
    if let Err(r) = app.signed_till(&till, &message, &sig) {
        return r;
    }
    // Checked after the signature, so only a URL this relay's till made can be "expired".
    if !duka_relay_proto::exp_valid_now(&exp) {
        return app.refuse("expired_url", StatusCode::GONE);
    }
    let top = if kind == Kind::Status {
        "Result"
    } else {
        "Body"
    };
    let body = match app.body(body, top) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match app
        .store_and_forward(vec![till], kind, Some(attempt), body)
        .await
    {
        Ok(()) => accepted(),
        Err(r) => r,
    }
}

async fn c2b(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((shop, sig, what)): Path<(String, String, String)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = app.admit(peer, &headers) {
        return r;
    }
    if !duka_relay_proto::is_segment(&shop) || !duka_relay_proto::is_segment(&sig) {
        return app.refuse("bad_path", StatusCode::NOT_FOUND);
    }
    let shop = match app.store.shop(&shop) {
        Ok(Some(s)) if s.id == shop => s,
        _ => return app.refuse("unknown_shop", StatusCode::NOT_FOUND),
    };
    if !duka_relay_proto::verify(&shop.key, &duka_relay_proto::c2b_message(&shop.id), &sig) {
        return app.refuse("bad_signature", StatusCode::FORBIDDEN);
    }
    let body = match app.body(body, "") {
        Ok(b) => b,
        Err(r) => return r,
    };
    match what.as_str() {
        "confirm" => {
            let tills = match app.store.shop_tills(&shop.id) {
                Ok(t) => t,
                Err(_) => return app.refuse("store_failed", StatusCode::SERVICE_UNAVAILABLE),
            };
            // With no live till, the confirmation is held for the shop (and handed to the next
            // till added): "Success" is only ever said for what is stored.
            let hold = tills.is_empty().then(|| shop.id.clone());
            match app
                .store_and_forward_or_hold(tills, Kind::C2bConfirm, None, body, hold)
                .await
            {
                Ok(()) => {
                    axum::Json(json!({"ResultCode": 0, "ResultDesc": "Success"})).into_response()
                }
                Err(r) => r,
            }
        }
        "validate" => {
            app.metrics.validations.fetch_add(1, Ordering::Relaxed);
            let (code, desc) = validate(&app, &shop, &body).await;
            axum::Json(json!({"ResultCode": code, "ResultDesc": desc})).into_response()
        }
        _ => app.refuse("bad_path", StatusCode::NOT_FOUND),
    }
}

/// Asks the shop's connected tills; the first answer within the timeout wins, else the
/// shop's default (`Completed` accepts, `Cancelled` rejects).
async fn validate(app: &Relay, shop: &store::Shop, body: &str) -> (String, String) {
    let id = store::random_hex(8);
    let (tx, rx) = oneshot::channel();
    lock(&app.validations).insert(id.clone(), tx);
    let asked = {
        let sessions = lock(&app.sessions);
        sessions
            .values()
            .filter(|s| s.shop_id == shop.id)
            .filter(|s| {
                s.tx.send(ToSession::Validate {
                    id: id.clone(),
                    body: body.to_string(),
                })
                .is_ok()
            })
            .count()
    };
    let answer = if asked > 0 {
        tokio::time::timeout(app.cfg.validation_timeout, rx)
            .await
            .ok()
            .and_then(|r| r.ok())
    } else {
        None
    };
    lock(&app.validations).remove(&id);
    match answer {
        Some(a) => a,
        None if shop.c2b_default == "Completed" => ("0".into(), "Accepted".into()),
        None => ("C2B00016".into(), "Rejected".into()),
    }
}

async fn ws(State(app): State<App>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(1 << 20)
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
    }) = hello
    else {
        app.metrics.reject("ws_no_hello");
        return;
    };
    if proto < duka_relay_proto::PROTOCOL {
        app.metrics.reject("ws_till_outdated");
        let _ = send(
            &mut sink,
            &ToTill::Error {
                code: "till_outdated".into(),
                message: format!(
                    "this relay speaks protocol {} and the till {proto}: update Duka on this till",
                    duka_relay_proto::PROTOCOL
                ),
            },
        )
        .await;
        return;
    }
    let t = match app.store.till(&till) {
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
    let (tx, mut rx) = mpsc::unbounded_channel();
    let my_id = app.next_session.fetch_add(1, Ordering::Relaxed);
    // A newer connection of the same till replaces the old one (whose channel then closes).
    lock(&app.sessions).insert(
        t.id.clone(),
        Session {
            id: my_id,
            shop_id: t.shop_id.clone(),
            tx,
        },
    );
    app.metrics.connected.fetch_add(1, Ordering::Relaxed);
    let last_seq = app
        .store
        .till(&t.id)
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
            app.store.ack(&t.id, resume_after);
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
    let ready = ToTill::Ready {
        last_seq,
        epoch: t.epoch.clone(),
        resume_from,
    };
    let mut ok =
        send(&mut sink, &ready).await && replay(&app, &t.id, &mut last_sent, &mut sink).await;
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    ping.tick().await;
    // Serve until the till goes away, the socket fails, or a newer connection replaces this one.
    while ok {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<FromTill>(&text) {
                    Ok(FromTill::Ack { seq }) => {
                        app.store.ack(&t.id, seq);
                        app.metrics.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(FromTill::Validation { id, result_code, result_desc }) => {
                        if let Some(tx) = lock(&app.validations).remove(&id) {
                            let _ = tx.send((result_code, result_desc));
                        }
                    }
                    Ok(FromTill::Release { key, sale }) => {
                        if duka_relay_proto::is_claim_key(&key) && duka_relay_proto::is_claim_sale(&sale) {
                            match app.store.release(&t.shop_id, &key, &t.id, &sale).await {
                                Ok(notices) => app.notify(notices),
                                Err(e) => tracing::error!("release: {e}"),
                            }
                        } else {
                            app.metrics.reject("ws_bad_claim");
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
                        send(&mut sink, &frame(&m)).await
                    } else {
                        replay(&app, &t.id, &mut last_sent, &mut sink).await
                    };
                    if !sent {
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
            app.notify(outcome.notices);
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
    till: &str,
    last_sent: &mut u64,
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
) -> bool {
    loop {
        let batch = match app.store.pending(till, *last_sent, 500) {
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
            if !send(sink, &frame(&m)).await {
                return false;
            }
        }
    }
}

async fn healthz(State(app): State<App>) -> Response {
    axum::Json(json!({"ok": true, "tills_connected": app.connected()})).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

async fn not_found(State(app): State<App>) -> Response {
    app.refuse("not_found", StatusCode::NOT_FOUND)
}

async fn method_not_allowed(State(app): State<App>) -> Response {
    app.refuse("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED)
}

pub fn router(app: App) -> Router {
    let max = app.cfg.max_body;
    Router::new()
        .route("/v1/cb/{till}/{attempt}/{exp}/{sig}", post(stk_callback))
        .route(
            "/v1/status/{till}/{attempt}/{exp}/{sig}",
            post(status_result),
        )
        .route("/v1/cb/{till}/{attempt}/{sig}", post(legacy_url))
        .route("/v1/status/{till}/{attempt}/{sig}", post(legacy_url))
        .route("/v1/c2b/{shop}/{sig}/{what}", post(c2b))
        .route("/v1/ws", get(ws))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max))
        .with_state(app)
}

/// Serves the relay on an already bound listener until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    cfg: Config,
) -> std::io::Result<()> {
    let store = Store::open(&cfg.data_dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    let app = Relay::new(store, cfg);
    serve(listener, shutdown, app).await
}

/// TLS from PEM files (a certificate chain and its private key), served with rustls.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Serves the relay over TLS on an already bound listener until `shutdown` completes.
pub async fn run_tls(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    cfg: Config,
    tls: Tls,
) -> std::io::Result<()> {
    let store = Store::open(&cfg.data_dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
        .await
        .map_err(|e| {
            std::io::Error::other(format!(
                "TLS from {} and {}: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })?;
    let app = Relay::new(store, cfg);
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, rustls)?
        .handle(handle)
        .serve(router(app).into_make_service_with_connect_info::<SocketAddr>())
        .await
}

/// Serves an existing `Relay` (tests keep a handle to read its metrics).
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    app: App,
) -> std::io::Result<()> {
    let expiry = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600).min(app.cfg.ttl));
            loop {
                tick.tick().await;
                let before = std::time::SystemTime::now()
                    .checked_sub(app.cfg.ttl)
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                match app.store.expire(before).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(expired = n, "dropped messages past their TTL")
                    }
                    Err(e) => tracing::error!("expiry: {e}"),
                    _ => {}
                }
            }
        })
    };
    // A till revoked from the command line (another process, the same database) loses its
    // connection within `revocation_check`.
    let revocations = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(app.cfg.revocation_check);
            let mut since = store::now_ms() - 1;
            loop {
                tick.tick().await;
                let now = store::now_ms();
                match app.store.revoked_since(since) {
                    Ok(ids) if !ids.is_empty() => app.disconnect_revoked(&ids),
                    Err(e) => tracing::error!("revocations: {e}"),
                    _ => {}
                }
                // Overlapping windows: a revocation stamped before this read but committed
                // after it is still seen next time (closing a closed session is harmless).
                since = now - 5_000;
            }
        })
    };
    let result = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    expiry.abort();
    revocations.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_forgets_idle_addresses_so_many_sources_cannot_grow_it_without_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path().to_path_buf());
        cfg.rate_limit_per_ip = Some(10);
        let relay = Relay::new(Store::open(dir.path()).unwrap(), cfg);
        let start = Instant::now();
        let mut most = 0;
        // 100,000 distinct addresses, one request each, 1 ms apart.
        for i in 0..100_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(relay.take_token(ip, start + Duration::from_millis(u64::from(i))));
            most = most.max(relay.rate_tracked());
        }
        // Idle buckets go every 100 ms once 4,096 are tracked: at most 4,096 + 2.1 s of new ones.
        assert!(
            most <= RATE_PRUNE_AT + 2_100,
            "tracked at most {most} addresses"
        );
        // Still a limit: one address sending fast is held to its bucket.
        let one = IpAddr::from([192, 0, 2, 1]);
        let t = start + Duration::from_secs(200);
        let taken = (0..100).filter(|_| relay.take_token(one, t)).count();
        assert_eq!(taken, 20, "two seconds of the rate, then refused");
    }
}
