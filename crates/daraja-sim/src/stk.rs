//! OAuth, STK push, STK query, and the simulated customer behind each push.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use crate::config::{Behaviour, CallbackMode, Faults};
use crate::state::{ALNUM, Push, PushState, Receipt, now_ms};
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

fn ok_json(app: &Shared, path: &str, code: Option<&str>, body: Value) -> Response {
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
async fn front(
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

/// A field Daraja accepts as a JSON string or integer.
pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_msisdn(s: &str) -> bool {
    digits(s, 12..=12) && (s.starts_with("2547") || s.starts_with("2541"))
}

fn valid_timestamp(ts: &str) -> bool {
    digits(ts, 14..=14) && chrono::NaiveDateTime::parse_from_str(ts, "%Y%m%d%H%M%S").is_ok()
}

const BANNED: &[&str] = &[
    "mpesa",
    "m-pesa",
    "safaricom",
    "exe",
    "exec",
    "cmd",
    "sql",
    "query",
];

/// Syntax only: Daraja does not check that the host resolves.
pub(crate) fn valid_callback_url(url: &str, banned_words: bool) -> bool {
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if scheme != "https" && scheme != "http" {
        return false;
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_only = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    if host_only.is_empty()
        || host_only.chars().any(|c| c.is_ascii_uppercase())
        || reqwest::Url::parse(url).is_err()
    {
        return false;
    }
    !(banned_words && BANNED.iter().any(|w| url.to_ascii_lowercase().contains(w)))
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

/// The check push and query share: a known BusinessShortCode, a valid Timestamp, and
/// `Password = base64(shortcode ‖ passkey ‖ timestamp)`. Returns the shortcode's config.
fn signed_shortcode<'a>(
    app: &'a Shared,
    path: &str,
    v: &Value,
) -> Result<&'a crate::config::ShortcodeConfig, Response> {
    let Some(shortcode) = text(v, "BusinessShortCode").filter(|s| digits(s, 5..=7)) else {
        return Err(bad_field(app, path, "BusinessShortCode"));
    };
    let Some(timestamp) = text(v, "Timestamp").filter(|t| valid_timestamp(t)) else {
        return Err(bad_field(app, path, "Timestamp"));
    };
    let Some(password) = text(v, "Password").filter(|p| !p.is_empty()) else {
        return Err(bad_field(app, path, "Password"));
    };
    let error = |message| {
        daraja_error(
            app,
            path,
            "POST",
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            message,
        )
    };
    let Some(sc) = app.cfg.shortcodes.iter().find(|s| s.shortcode == shortcode) else {
        return Err(error("Merchant does not exist"));
    };
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{shortcode}{}{timestamp}", sc.passkey));
    if password != expected {
        return Err(error("Wrong credentials"));
    }
    Ok(sc)
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
    let sc = match signed_shortcode(&app, path, &v) {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let shortcode = sc.shortcode.clone();
    let tx_type = text(&v, "TransactionType").unwrap_or_default();
    if tx_type != "CustomerPayBillOnline" && tx_type != "CustomerBuyGoodsOnline" {
        return bad_field(&app, path, "TransactionType");
    }
    let amount = match v.get("Amount") {
        Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
        Some(Value::String(s)) if digits(s.trim(), 1..=9) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(amount) = amount.filter(|a| (1..=250_000).contains(a)) else {
        return bad_field(&app, path, "Amount");
    };
    let Some(_party_a) = text(&v, "PartyA").filter(|p| is_msisdn(p)) else {
        return bad_field(&app, path, "PartyA");
    };
    let Some(party_b) = text(&v, "PartyB").filter(|p| digits(p, 5..=7)) else {
        return bad_field(&app, path, "PartyB");
    };
    let Some(phone) = text(&v, "PhoneNumber").filter(|p| is_msisdn(p)) else {
        return bad_field(&app, path, "PhoneNumber");
    };
    let Some(callback_url) =
        text(&v, "CallBackURL").filter(|u| valid_callback_url(u, cfg.stk_callback_banned_words))
    else {
        return bad_field(&app, path, "CallBackURL");
    };
    let Some(account_reference) = text(&v, "AccountReference")
        .filter(|a| !a.trim().is_empty() && a.chars().count() <= cfg.max_account_reference)
    else {
        return bad_field(&app, path, "AccountReference");
    };
    // Leaving TransactionDesc out is answered "Invalid Remarks" (observed in the sandbox).
    if !text(&v, "TransactionDesc")
        .is_some_and(|d| !d.trim().is_empty() && d.chars().count() <= cfg.max_transaction_desc)
    {
        return bad_field(&app, path, "Remarks");
    }
    // PayBill: PartyB is the shortcode. Till: PartyB is one of the store's tills.
    let product_ok = if sc.tills.is_empty() {
        tx_type == "CustomerPayBillOnline" && party_b == shortcode
    } else {
        tx_type == "CustomerBuyGoodsOnline" && sc.tills.contains(&party_b)
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
    tokio::spawn(customer(app.clone(), checkout.clone(), behaviour, rx));

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

/// The simulated customer: waits for its scenario's timer or a decision from the control API.
async fn customer(
    app: App,
    checkout: String,
    behaviour: Behaviour,
    rx: tokio::sync::oneshot::Receiver<(String, String)>,
) {
    let unit = Duration::from_millis(app.cfg.time_unit_ms);
    let timer = match &behaviour {
        Behaviour::Interactive => Some((
            unit * app.cfg.prompt_timeout_units as u32,
            "1037".to_string(),
        )),
        Behaviour::Pay { after_units } => Some((unit * *after_units as u32, "0".to_string())),
        Behaviour::Fail { code, after_units } => Some((unit * *after_units as u32, code.clone())),
        Behaviour::Silent => None,
    };
    let decision = match timer {
        Some((after, code)) => tokio::select! {
            d = rx => d.ok(),
            _ = tokio::time::sleep(after) => Some((code.clone(), result_desc(&code, false).to_string())),
        },
        None => rx.await.ok(),
    };
    if let Some((code, desc)) = decision {
        resolve(&app, &checkout, &code, &desc).await;
    }
}

/// Decides a pending prompt from the control API. False if it is not pending.
pub(crate) fn decide(app: &Shared, checkout: &str, code: &str, desc: Option<&str>) -> bool {
    let mut st = app.state();
    let Some(p) = st.pushes.get_mut(checkout) else {
        return false;
    };
    if p.state != PushState::Pending {
        return false;
    }
    match p.decide.take() {
        Some(tx) => tx
            .send((
                code.to_string(),
                desc.unwrap_or(result_desc(code, false)).to_string(),
            ))
            .is_ok(),
        None => false,
    }
}

/// Ends a push: records the result, frees the phone, delivers the callback(s).
async fn resolve(app: &App, checkout: &str, code: &str, desc: &str) {
    let (url, body, shortcode, faults) = {
        let mut st = app.state();
        let receipt = (code == "0").then(|| st.receipt());
        let mut items_seed = st.rng.next_u64();
        let include_balance = st.rng.percent(50);
        let Some(p) = st.pushes.get_mut(checkout) else {
            return;
        };
        if p.state != PushState::Pending {
            return;
        }
        let at_ms = now_ms();
        p.state = PushState::Done {
            result_code: code.to_string(),
            result_desc: desc.to_string(),
            receipt: receipt.clone(),
            at_ms,
        };
        p.decided_at = Some(Instant::now());
        p.decide = None;
        let (phone, amount, shortcode) = (p.phone.clone(), p.amount, p.shortcode.clone());
        let (url, merchant, faults) = (
            p.callback_url.clone(),
            p.merchant_request_id.clone(),
            p.faults.clone(),
        );
        if st.locks.get(&phone).is_some_and(|c| c == checkout) {
            st.locks.remove(&phone);
        }
        let mut cb = json!({
            "MerchantRequestID": merchant,
            "CheckoutRequestID": checkout,
            "ResultCode": code.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(code)),
            "ResultDesc": desc,
        });
        if let Some(r) = &receipt {
            st.receipts.insert(
                r.clone(),
                Receipt {
                    receipt: r.clone(),
                    checkout_request_id: Some(checkout.to_string()),
                    amount,
                    phone: phone.clone(),
                    shortcode: shortcode.clone(),
                    at_ms,
                },
            );
            let date: u64 = chrono::Utc::now()
                .with_timezone(&chrono_tz::Africa::Nairobi)
                .format("%Y%m%d%H%M%S")
                .to_string()
                .parse()
                .unwrap_or(0);
            let mut items = vec![
                json!({"Name": "Amount", "Value": amount as f64}),
                json!({"Name": "MpesaReceiptNumber", "Value": r}),
                json!({"Name": "TransactionDate", "Value": date}),
                json!({"Name": "PhoneNumber", "Value": phone.parse::<u64>().unwrap_or(0)}),
            ];
            if include_balance {
                items.push(json!({"Name": "Balance"}));
            }
            // Shuffled: clients must read items by name.
            for i in (1..items.len()).rev() {
                items_seed = items_seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                items.swap(i, (items_seed >> 33) as usize % (i + 1));
            }
            cb["CallbackMetadata"] = json!({"Item": items});
        }
        (url, json!({"Body": {"stkCallback": cb}}), shortcode, faults)
    };
    let times = match faults.callback {
        CallbackMode::None => 0,
        CallbackMode::Once => 1,
        CallbackMode::Duplicate => 2,
    };
    if times == 0 {
        return;
    }
    let app = app.clone();
    let checkout = checkout.to_string();
    let code = code.to_string();
    tokio::spawn(async move {
        if faults.callback_delay_units > 0 {
            tokio::time::sleep(Duration::from_millis(
                app.cfg.time_unit_ms * faults.callback_delay_units,
            ))
            .await;
        }
        for _ in 0..times {
            let outcome = match app
                .http
                .post(&url)
                .header(header::CONTENT_TYPE, "application/json;charset=UTF-8")
                .header("BusinessShortCode", &shortcode)
                .body(body.to_string())
                .send()
                .await
            {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) => format!("error: {e}"),
            };
            app.state().callbacks.push(crate::state::CallbackRecord {
                checkout_request_id: checkout.clone(),
                url: url.clone(),
                result_code: code.clone(),
                outcome,
                at_ms: now_ms(),
            });
            app.callback_sent.notify_waiters();
        }
    });
}

// ---- STK query ----

pub(crate) async fn stk_query(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let path = "/mpesa/stkpushquery/v1/query";
    let faults = app.state().faults.clone();
    let v = match front(&app, path, &headers, &body, &faults).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = signed_shortcode(&app, path, &v) {
        return r;
    }
    let Some(checkout) = text(&v, "CheckoutRequestID").filter(|c| !c.is_empty()) else {
        return bad_field(&app, path, "CheckoutRequestID");
    };
    let unit = app.cfg.time_unit_ms;
    let mut st = app.state();
    let Some(p) = st.pushes.get(&checkout) else {
        drop(st);
        return daraja_error_with_id(
            &app,
            path,
            "POST",
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "The transaction does not Exist",
            &checkout,
        );
    };
    let lagging = p
        .decided_at
        .is_some_and(|at| at.elapsed() < Duration::from_millis(unit * p.faults.query_lag_units));
    let spurious_pct = p.faults.query_spurious_500_pct;
    let done = match &p.state {
        PushState::Done { result_code, .. } if !lagging => {
            Some((result_code.clone(), p.merchant_request_id.clone()))
        }
        _ => None,
    };
    let spurious = done.is_some() && st.rng.percent(spurious_pct);
    let pending_as_500 = st.rng.percent(50);
    drop(st);
    match done {
        Some((code, merchant)) if !spurious => ok_json(
            &app,
            path,
            Some(&code),
            json!({
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": merchant,
                "CheckoutRequestID": checkout,
                "ResultCode": code,
                "ResultDesc": result_desc(&code, true),
            }),
        ),
        _ if pending_as_500 || spurious => daraja_error_with_id(
            &app,
            path,
            "POST",
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "The transaction is being processed",
            &checkout,
        ),
        _ => {
            let merchant = app
                .state()
                .pushes
                .get(&checkout)
                .map(|p| p.merchant_request_id.clone())
                .unwrap_or_default();
            ok_json(
                &app,
                path,
                Some("4999"),
                json!({
                    "ResponseCode": "0",
                    "ResponseDescription": "The service request has been accepted successsfully",
                    "MerchantRequestID": merchant,
                    "CheckoutRequestID": checkout,
                    "ResultCode": "4999",
                    "ResultDesc": "The transaction is still under processing",
                }),
            )
        }
    }
}
