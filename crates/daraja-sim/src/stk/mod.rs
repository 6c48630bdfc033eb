//! OAuth, STK push and STK query, as Daraja answers them.
//!
//! This file has the answers every handler shares (Daraja's error bodies, the gateway's block
//! page, result descriptions), OAuth and the bearer check, the common front of push and
//! query, and the push handler itself. The rest:
//! - `checks` — the checks on a push's fields, shortcode and Password.
//! - `customers` — the simulated customer behind each push, and decisions from the phone.
//! - `callbacks` — the `stkCallback` body and its delivery to `CallBackURL`.
//! - `query` — STK query.

mod callbacks;
mod checks;
mod customers;
mod query;

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

pub(crate) use checks::{text, valid_callback_url};
pub(crate) use customers::decide;
pub(crate) use query::stk_query;

use crate::config::{Behaviour, Faults};
use crate::state::{ALNUM, Push, PushState, now_ms};
use crate::{App, Shared};

// ---- responses ----

pub(crate) fn daraja_error(
    app: &Shared,
    path: &str,
    method: &str,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    let request_id = app.state().request_id();
    daraja_error_with_id(app, path, method, status, code, message, &request_id)
}

pub(crate) fn daraja_error_with_id(
    app: &Shared,
    path: &str,
    method: &str,
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    app.log(method, path, status, Some(code));
    let body = json!({"requestId": request_id, "errorCode": code, "errorMessage": message});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(super) fn ok_json(app: &Shared, path: &str, code: Option<&str>, body: Value) -> Response {
    app.log("POST", path, StatusCode::OK, code);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(crate) fn bad_field(app: &Shared, path: &str, field: &str) -> Response {
    daraja_error(
        app,
        path,
        "POST",
        StatusCode::BAD_REQUEST,
        "400.002.02",
        &format!("Bad Request - Invalid {field}"),
    )
}

/// The gateway's HTML block page (WAF/Apigee), as clients sometimes receive.
fn html_block(app: &Shared, path: &str) -> Response {
    app.log("POST", path, StatusCode::FORBIDDEN, None);
    let page = "<html style=\"height:100%\"><head><META NAME=\"ROBOTS\" CONTENT=\"NOINDEX, NOFOLLOW\"></head><body>Request Rejected</body></html>";
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html")],
        page,
    )
        .into_response()
}

// ---- OAuth ----

pub(crate) async fn oauth(
    State(app): State<App>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let path = "/oauth/v1/generate";
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(basic) = auth.strip_prefix("Basic ") else {
        return daraja_error(
            &app,
            path,
            "GET",
            StatusCode::BAD_REQUEST,
            "400.008.01",
            "Invalid Authentication passed",
        );
    };
    if !q
        .iter()
        .any(|(k, v)| k == "grant_type" && v == "client_credentials")
    {
        return daraja_error(
            &app,
            path,
            "GET",
            StatusCode::BAD_REQUEST,
            "400.008.02",
            "Invalid grant type passed",
        );
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let expected = format!("{}:{}", app.cfg.consumer_key, app.cfg.consumer_secret);
    let mut st = app.state();
    st.token_requests += 1;
    if decoded != expected {
        drop(st);
        app.log("GET", path, StatusCode::BAD_REQUEST, None);
        // Daraja answers bad credentials with an empty 400.
        return StatusCode::BAD_REQUEST.into_response();
    }
    let token = st.rng.chars(ALNUM, 28);
    if app.cfg.invalidate_previous_token {
        st.tokens.clear();
    }
    st.tokens.insert(
        token.clone(),
        Instant::now() + Duration::from_secs(app.cfg.token_ttl_secs),
    );
    drop(st);
    app.log("GET", path, StatusCode::OK, None);
    let ttl = app.cfg.token_ttl_secs;
    let expires_in = if app.cfg.expires_in_as_number {
        json!(ttl)
    } else {
        json!(ttl.to_string())
    };
    let body = json!({"access_token": token, "expires_in": expires_in});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Checks the bearer token of a product API call.
pub(crate) fn check_bearer(app: &Shared, path: &str, headers: &HeaderMap) -> Result<(), Response> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Err(daraja_error(
            app,
            path,
            "POST",
            StatusCode::NOT_FOUND,
            "404.001.04",
            "Invalid Authentication Header",
        ));
    };
    let valid = app
        .state()
        .tokens
        .get(token.trim())
        .is_some_and(|exp| Instant::now() < *exp);
    if !valid {
        return Err(daraja_error(
            app,
            path,
            "POST",
            StatusCode::NOT_FOUND,
            "404.001.03",
            "Invalid Access Token",
        ));
    }
    Ok(())
}

/// Common front of push and query: latency, gateway faults, spike arrest, auth, JSON body.
pub(super) async fn front(
    app: &Shared,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    faults: &Faults,
) -> Result<Value, Response> {
    if faults.slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.slow_ms)).await;
    }
    if faults.html_error {
        return Err(html_block(app, path));
    }
    if let Some(limit) = faults.spike_arrest_per_sec {
        let mut st = app.state();
        let sec = now_ms() / 1000;
        if st.window.0 != sec {
            st.window = (sec, 0);
        }
        st.window.1 += 1;
        let over = st.window.1 > limit;
        drop(st);
        if over {
            return Err(daraja_error(
                app,
                path,
                "POST",
                StatusCode::INTERNAL_SERVER_ERROR,
                "500.003.02",
                "Error Occurred: Spike Arrest Violation",
            ));
        }
    }
    check_bearer(app, path, headers)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("application/json"));
    if !is_json {
        // A documented quirk: a missing JSON content type surfaces as this.
        return Err(bad_field(app, path, "BusinessShortCode"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(daraja_error(
            app,
            path,
            "POST",
            StatusCode::BAD_REQUEST,
            "400.002.05",
            "Invalid Request Payload",
        )),
    }
}

/// Daraja's wording for the result codes the simulator produces.
pub(crate) fn result_desc(code: &str, for_query: bool) -> &'static str {
    match code {
        "0" => "The service request is processed successfully.",
        "1" => "The balance is insufficient for the transaction.",
        "1019" => "Transaction has expired.",
        "1032" => "Request cancelled by user",
        "1037" if for_query => "DS timeout user cannot be reached",
        "1037" => "No response from user.",
        "2001" => "The initiator information is invalid.",
        "2028" => "The request is not permitted according to product assignment.",
        _ => "An error occurred while processing the request.",
    }
}

// ---- STK push ----

pub(crate) async fn stk_push(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let path = "/mpesa/stkpush/v1/processrequest";
    // A push's faults: the one-off set for the next push, else the global ones.
    let faults = {
        let mut st = app.state();
        st.next_push_faults
            .take()
            .unwrap_or_else(|| st.faults.clone())
    };
    // A slow push answers late *after* acting on it: the prompt goes out, the caller may give up.
    let front_faults = Faults {
        slow_ms: 0,
        ..faults.clone()
    };
    let v = match front(&app, path, &headers, &body, &front_faults).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let cfg = &app.cfg;
    let checks::PushRequest {
        shortcode,
        party_b,
        phone,
        amount,
        account_reference,
        callback_url,
        product_ok,
    } = match checks::push_request(&app, path, &v) {
        Ok(req) => req,
        Err(r) => return r,
    };

    // Check the phone's lock and take it in one critical section.
    let created = {
        let mut st = app.state();
        let busy = st
            .locks
            .get(&phone)
            .and_then(|open| st.pushes.get(open))
            .is_some_and(|p| p.state == PushState::Pending);
        if busy {
            None
        } else {
            let checkout = st.checkout_request_id(&phone);
            let merchant = st.merchant_request_id();
            let behaviour = if product_ok {
                crate::config::customer_for(cfg, &phone)
            } else {
                Behaviour::Fail {
                    code: "2028".into(),
                    after_units: 0,
                }
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            st.locks.insert(phone.clone(), checkout.clone());
            st.pushes.insert(
                checkout.clone(),
                Push {
                    checkout_request_id: checkout.clone(),
                    merchant_request_id: merchant.clone(),
                    shortcode: shortcode.clone(),
                    party_b,
                    phone,
                    amount,
                    account_reference,
                    callback_url,
                    created_ms: now_ms(),
                    behaviour: behaviour.clone(),
                    state: PushState::Pending,
                    faults: faults.clone(),
                    decided_at: None,
                    decide: Some(tx),
                },
            );
            Some((checkout, merchant, behaviour, rx))
        }
    };
    let Some((checkout, merchant, behaviour, rx)) = created else {
        return daraja_error(
            &app,
            path,
            "POST",
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        );
    };
    tokio::spawn(customers::customer(
        app.clone(),
        checkout.clone(),
        behaviour,
        rx,
    ));

    if faults.drop_push_response {
        // The prompt is on its way, but the caller never learns: headers, then a cut.
        app.log("POST", path, StatusCode::OK, Some("dropped"));
        let cut = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("connection cut"))
        });
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(cut),
        )
            .into_response();
    }
    if faults.slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.slow_ms)).await;
    }
    ok_json(
        &app,
        path,
        Some("0"),
        json!({
            "MerchantRequestID": merchant,
            "CheckoutRequestID": checkout,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }),
    )
}
