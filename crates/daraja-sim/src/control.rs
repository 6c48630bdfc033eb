//! The control API under `/sim/`: the simulated phone, logs, state and fault injection. Not
//! part of Daraja; used by demo mode (the phone panel) and by tests.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Faults;
use crate::state::{PushState, now_ms};
use crate::stk::{daraja_error, decide};
use crate::{App, Shared};

#[derive(Debug, Clone, Serialize)]
pub struct Prompt {
    pub checkout_request_id: String,
    /// Masked, as a shop screen would show it.
    pub phone: String,
    pub amount: u64,
    pub account_reference: String,
    pub shortcode: String,
    pub age_ms: i64,
}

pub(crate) fn pending(app: &Shared) -> Vec<Prompt> {
    let now = now_ms();
    app.state()
        .pushes
        .values()
        .filter(|p| p.state == PushState::Pending)
        .map(|p| Prompt {
            checkout_request_id: p.checkout_request_id.clone(),
            phone: format!("{}****{}", &p.phone[..4], &p.phone[9..]),
            amount: p.amount,
            account_reference: p.account_reference.clone(),
            shortcode: p.shortcode.clone(),
            age_ms: now - p.created_ms,
        })
        .collect()
}

#[derive(Deserialize)]
struct Decision {
    result_code: String,
    #[serde(default)]
    result_desc: Option<String>,
}

async fn prompts(State(app): State<App>) -> Json<Vec<Prompt>> {
    Json(pending(&app))
}

fn decided(ok: bool) -> Response {
    if ok {
        Json(json!({"ok": true})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"ok": false, "error": "no such pending prompt"})),
        )
            .into_response()
    }
}

async fn approve(State(app): State<App>, Path(id): Path<String>) -> Response {
    decided(decide(&app, &id, "0", None))
}

async fn cancel(State(app): State<App>, Path(id): Path<String>) -> Response {
    decided(decide(&app, &id, "1032", None))
}

async fn timeout(State(app): State<App>, Path(id): Path<String>) -> Response {
    decided(decide(&app, &id, "1037", None))
}

async fn result(
    State(app): State<App>,
    Path(id): Path<String>,
    Json(d): Json<Decision>,
) -> Response {
    decided(decide(&app, &id, &d.result_code, d.result_desc.as_deref()))
}

async fn log(State(app): State<App>) -> Response {
    Json(app.state().log.clone()).into_response()
}

async fn callbacks(State(app): State<App>) -> Response {
    Json(app.state().callbacks.clone()).into_response()
}

async fn state(State(app): State<App>) -> Response {
    let st = app.state();
    let body = json!({
        "token_requests": st.token_requests,
        "tokens": st.tokens.len(),
        "pushes": st.pushes.values().collect::<Vec<_>>(),
        "receipts": st.receipts.values().collect::<Vec<_>>(),
        "c2b_registrations": st.c2b.values().collect::<Vec<_>>(),
        "faults": st.faults,
    });
    Json(body).into_response()
}

async fn set_faults(State(app): State<App>, Json(f): Json<Faults>) -> Response {
    app.state().faults = f;
    Json(json!({"ok": true})).into_response()
}

async fn next_push_faults(State(app): State<App>, Json(f): Json<Faults>) -> Response {
    app.state().next_push_faults = Some(f);
    Json(json!({"ok": true})).into_response()
}

async fn expire_tokens(State(app): State<App>) -> Response {
    let now = std::time::Instant::now();
    for exp in app.state().tokens.values_mut() {
        *exp = now;
    }
    Json(json!({"ok": true})).into_response()
}

async fn sink(
    State(app): State<App>,
    Path(path): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let _ = app.sink.send(crate::SinkMessage {
        path,
        body: body.to_vec(),
    });
    Json(json!({"ResultCode": 0, "ResultDesc": "Accepted"})).into_response()
}

pub(crate) fn routes() -> axum::Router<App> {
    axum::Router::new()
        .route("/sim/prompts", get(prompts))
        .route("/sim/prompts/{id}/approve", post(approve))
        .route("/sim/prompts/{id}/cancel", post(cancel))
        .route("/sim/prompts/{id}/timeout", post(timeout))
        .route("/sim/prompts/{id}/result", post(result))
        .route("/sim/log", get(log))
        .route("/sim/callbacks", get(callbacks))
        .route("/sim/state", get(state))
        .route("/sim/faults", post(set_faults))
        .route("/sim/faults/next-push", post(next_push_faults))
        .route("/sim/tokens/expire", post(expire_tokens))
        .route("/sim/sink/{*path}", post(sink))
}

pub(crate) async fn not_found(State(app): State<App>, uri: Uri) -> Response {
    daraja_error(
        &app,
        uri.path(),
        "?",
        StatusCode::NOT_FOUND,
        "404.001.01",
        "Resource not found",
    )
}

pub(crate) async fn method_not_allowed(State(app): State<App>, uri: Uri) -> Response {
    daraja_error(
        &app,
        uri.path(),
        "?",
        StatusCode::METHOD_NOT_ALLOWED,
        "405.001",
        "Method Not Allowed",
    )
}
