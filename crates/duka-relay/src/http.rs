//! The HTTP endpoints: the signed per-attempt STK and Transaction Status callback URLs, the
//! shop's C2B validation and confirmation URLs, `/healthz` and `/metrics`. Each callback is
//! committed to the store before Daraja is answered, then handed to the till's session.
//! Every refusal is counted by reason and answered in Daraja's shape.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duka_relay_proto::Kind;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::ws::ToSession;
use crate::{App, Relay, lock, store};

impl Relay {
    pub(crate) fn refuse(&self, reason: &'static str, status: StatusCode) -> Response {
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
    async fn signed_till(
        &self,
        till: &str,
        message: &str,
        sig: &str,
    ) -> Result<store::Till, Response> {
        if !duka_relay_proto::is_segment(till) || !duka_relay_proto::is_segment(sig) {
            return Err(self.refuse("bad_path", StatusCode::NOT_FOUND));
        }
        match self.till_for_signature(till).await {
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

    /// The till, for checking a callback's signature. On SQLite straight from the store; on
    /// PostgreSQL from a cache of live tills kept as long as revocations take to be seen
    /// anyway (`revocation_check`), which saves a database round trip per callback.
    async fn till_for_signature(&self, till: &str) -> crate::Result<Option<store::Till>> {
        if self.store.backend() == "sqlite" {
            return self.store.till(till).await;
        }
        let now = std::time::Instant::now();
        if let Some((t, at)) = lock(&self.till_cache).get(till)
            && now.duration_since(*at) < self.cfg.revocation_check
        {
            return Ok(Some(t.clone()));
        }
        let t = self.store.till(till).await?;
        let mut cache = lock(&self.till_cache);
        if cache.len() > 10_000 {
            let ttl = self.cfg.revocation_check;
            cache.retain(|_, (_, at)| now.duration_since(*at) < ttl);
        }
        match &t {
            Some(live) if !live.revoked => {
                cache.insert(till.to_string(), (live.clone(), now));
            }
            _ => {
                cache.remove(till);
            }
        }
        Ok(t)
    }

    async fn store_and_forward(
        self: &Arc<Self>,
        shop: &str,
        tills: Vec<String>,
        kind: Kind,
        attempt: Option<String>,
        body: Arc<str>,
    ) -> Result<(), Response> {
        self.store_and_forward_or_hold(shop, tills, kind, attempt, body, None)
            .await
    }

    async fn store_and_forward_or_hold(
        self: &Arc<Self>,
        shop: &str,
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
        // In a task of its own: once the store has the message, the tills' sessions hear of
        // it even if Daraja hangs up (and this request's future is dropped) meanwhile.
        let (app, shop) = (self.clone(), shop.to_string());
        let stored = tokio::spawn(async move {
            let stored = app
                .store
                .insert_or_hold(tills, kind, attempt, body, hold_for)
                .await?;
            app.metrics
                .stored
                .fetch_add(stored.len() as u64, Ordering::Relaxed);
            app.notify(&shop, stored);
            crate::Result::Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(crate::Error::Io(format!("storing: {e}"))));
        match stored {
            Ok(()) => Ok(()),
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

pub(crate) async fn stk_callback(
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

pub(crate) async fn status_result(
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

pub(crate) async fn reversal_result(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((till, refund, exp, sig)): Path<(String, String, String, String)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let url = SignedUrl {
        till,
        attempt: refund,
        exp,
        sig,
    };
    signed_post(app, peer, headers, url, body, Kind::Reversal).await
}

/// A callback URL of a Duka before URL expiry: refused, saying why.
pub(crate) async fn legacy_url(State(app): State<App>) -> Response {
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
        Kind::Reversal => duka_relay_proto::reversal_message(&attempt, &exp),
        _ => duka_relay_proto::stk_message(&attempt, &exp),
    };
    let t = match app.signed_till(&till, &message, &sig).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    // Checked after the signature, so only a URL this relay's till made can be "expired".
    if !duka_relay_proto::exp_valid_now(&exp) {
        return app.refuse("expired_url", StatusCode::GONE);
    }
    let top = if matches!(kind, Kind::Status | Kind::Reversal) {
        "Result"
    } else {
        "Body"
    };
    let body = match app.body(body, top) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match app
        .store_and_forward(&t.shop_id, vec![till], kind, Some(attempt), body)
        .await
    {
        Ok(()) => accepted(),
        Err(r) => r,
    }
}

pub(crate) async fn c2b(
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
    let shop = match app.store.shop(&shop).await {
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
            let tills = match app.store.shop_tills(&shop.id).await {
                Ok(t) => t,
                Err(_) => return app.refuse("store_failed", StatusCode::SERVICE_UNAVAILABLE),
            };
            // With no live till, the confirmation is held for the shop (and handed to the next
            // till added): "Success" is only ever said for what is stored.
            let hold = tills.is_empty().then(|| shop.id.clone());
            match app
                .store_and_forward_or_hold(&shop.id, tills, Kind::C2bConfirm, None, body, hold)
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
    // With other processes on the database, the shop's tills connected to them are asked
    // too (through it); worth waiting for only if the shop has a live till at all.
    let shared = app.store.shared()
        && app
            .store
            .shop_tills(&shop.id)
            .await
            .is_ok_and(|t| !t.is_empty())
        && app
            .store
            .publish(store::Shared::Validate {
                shop: shop.id.clone(),
                id: id.clone(),
                body: body.to_string(),
            })
            .await
            .inspect_err(|e| tracing::warn!("validation for the other processes: {e}"))
            .is_ok();
    let answer = if asked > 0 || shared {
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

pub(crate) async fn healthz(State(app): State<App>) -> Response {
    axum::Json(json!({"ok": true, "tills_connected": app.connected()})).into_response()
}

pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let mut text = app.metrics.render();
    // What waits in the store is the database's to say (the same from every process).
    match app.store.unacked_by_shop().await {
        Ok(pending) => text += &app.metrics.render_shops(&pending),
        Err(e) => {
            tracing::error!("metrics: {e}");
            text += &app.metrics.render_shops(&[]);
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

pub(crate) async fn not_found(State(app): State<App>) -> Response {
    app.refuse("not_found", StatusCode::NOT_FOUND)
}

pub(crate) async fn method_not_allowed(State(app): State<App>) -> Response {
    app.refuse("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED)
}
