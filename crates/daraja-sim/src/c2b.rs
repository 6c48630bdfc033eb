//! C2B: URL registration (v1, v2) and the sandbox-only simulate, which drives validation and
//! confirmation POSTs to the registered URLs.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::Digest;

use crate::config::MsisdnMode;
use crate::state::{C2bRegistration, CallbackRecord, Receipt, now_ms};
use crate::stk::{bad_field, check_bearer, daraja_error, text, valid_callback_url};
use crate::{App, Shared};

fn json_body(
    app: &Shared,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Box<Response>> {
    check_bearer(app, path, headers).map_err(Box::new)?;
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Box::new(daraja_error(
            app,
            path,
            "POST",
            StatusCode::BAD_REQUEST,
            "400.002.05",
            "Invalid Request Payload",
        ))),
    }
}

fn ok(app: &Shared, path: &str, body: Value) -> Response {
    app.log("POST", path, StatusCode::OK, Some("0"));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn register(app: App, version: &str, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/mpesa/c2b/{version}/registerurl");
    let v = match json_body(&app, &path, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(shortcode) = text(&v, "ShortCode")
        .filter(|s| (5..=7).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
    else {
        return bad_field(&app, &path, "ShortCode");
    };
    let Some(response_type) =
        text(&v, "ResponseType").filter(|r| r == "Completed" || r == "Cancelled")
    else {
        return bad_field(&app, &path, "ResponseType");
    };
    // C2B registration refuses the banned words whatever the STK setting.
    let Some(confirmation_url) =
        text(&v, "ConfirmationURL").filter(|u| valid_callback_url(u, true))
    else {
        return bad_field(&app, &path, "ConfirmationURL");
    };
    let Some(validation_url) = text(&v, "ValidationURL").filter(|u| valid_callback_url(u, true))
    else {
        return bad_field(&app, &path, "ValidationURL");
    };
    let mut st = app.state();
    if app.cfg.c2b.register_once && st.c2b.contains_key(&shortcode) {
        drop(st);
        return daraja_error(
            &app,
            &path,
            "POST",
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.003.1001",
            "Urls are already registered",
        );
    }
    let conv = format!(
        "{}-{}-{}",
        st.rng.below(9000) + 1000,
        st.rng.below(90_000_000) + 10_000_000,
        st.rng.below(9) + 1
    );
    st.c2b.insert(
        shortcode.clone(),
        C2bRegistration {
            shortcode,
            response_type,
            confirmation_url,
            validation_url,
            version: version.into(),
        },
    );
    drop(st);
    // The misspelling "OriginatorCoversationID" is Daraja's own.
    ok(
        &app,
        &path,
        json!({"OriginatorCoversationID": conv, "ResponseCode": "0", "ResponseDescription": "success"}),
    )
}

pub(crate) async fn register_v1(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    register(app, "v1", headers, body).await
}

pub(crate) async fn register_v2(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    register(app, "v2", headers, body).await
}

fn msisdn_as(mode: MsisdnMode, msisdn: &str) -> String {
    match mode {
        MsisdnMode::Plain => msisdn.to_string(),
        MsisdnMode::Masked => format!("{} ***** {}", &msisdn[..4], &msisdn[msisdn.len() - 3..]),
        MsisdnMode::Hashed => format!("{:x}", sha2::Sha256::digest(msisdn.as_bytes())),
    }
}

async fn simulate(app: App, version: &str, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/mpesa/c2b/{version}/simulate");
    let v = match json_body(&app, &path, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(shortcode) = text(&v, "ShortCode").filter(|s| (5..=7).contains(&s.len())) else {
        return bad_field(&app, &path, "ShortCode");
    };
    let Some(command) = text(&v, "CommandID")
        .filter(|c| c == "CustomerPayBillOnline" || c == "CustomerBuyGoodsOnline")
    else {
        return bad_field(&app, &path, "CommandID");
    };
    let amount = match v.get("Amount") {
        Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(amount) = amount.filter(|a| (1..=250_000).contains(a)) else {
        return bad_field(&app, &path, "Amount");
    };
    // Note the lowercase "sdn": Daraja's spelling.
    let Some(msisdn) = text(&v, "Msisdn")
        .filter(|m| m.len() == 12 && (m.starts_with("2547") || m.starts_with("2541")))
    else {
        return bad_field(&app, &path, "Msisdn");
    };
    let bill_ref = text(&v, "BillRefNumber").unwrap_or_default();
    let (conv, trans_id, registration) = {
        let mut st = app.state();
        let conv = format!("{}-{}-{}", st.rng.hex(4), st.rng.hex(4), st.rng.hex(24));
        let trans_id = st.receipt();
        st.receipts.insert(
            trans_id.clone(),
            Receipt {
                receipt: trans_id.clone(),
                checkout_request_id: None,
                amount,
                phone: msisdn.clone(),
                shortcode: shortcode.clone(),
                at_ms: now_ms(),
            },
        );
        (conv, trans_id, st.c2b.get(&shortcode).cloned())
    };
    if let Some(reg) = registration {
        let payload = json!({
            "TransactionType": if command == "CustomerPayBillOnline" { "Pay Bill" } else { "Buy Goods" },
            "TransID": trans_id,
            "TransTime": chrono::Utc::now().with_timezone(&chrono_tz::Africa::Nairobi).format("%Y%m%d%H%M%S").to_string(),
            "TransAmount": format!("{amount}.00"),
            "BusinessShortCode": shortcode,
            "BillRefNumber": if command == "CustomerPayBillOnline" { bill_ref } else { String::new() },
            "InvoiceNumber": "",
            "OrgAccountBalance": "",
            "ThirdPartyTransID": "",
            "MSISDN": msisdn_as(app.cfg.c2b.msisdn, &msisdn),
            "FirstName": "John",
            "MiddleName": "",
            "LastName": "Doe",
        });
        tokio::spawn(deliver(app.clone(), reg, payload));
    }
    ok(
        &app,
        &path,
        json!({"OriginatorCoversationID": conv, "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully."}),
    )
}

/// Validation (when enabled; `ResponseType` applies when it fails or is late), then confirmation.
async fn deliver(app: App, reg: C2bRegistration, mut payload: Value) {
    let trans_id = payload["TransID"].as_str().unwrap_or_default().to_string();
    let record = |url: &str, code: &str, outcome: String| {
        app.state().callbacks.push(CallbackRecord {
            checkout_request_id: trans_id.clone(),
            url: url.to_string(),
            result_code: code.to_string(),
            outcome,
            at_ms: now_ms(),
        });
        app.callback_sent.notify_waiters();
    };
    if app.cfg.c2b.external_validation {
        let answer = app
            .http
            .post(&reg.validation_url)
            .timeout(Duration::from_millis(app.cfg.c2b.validation_timeout_ms))
            .json(&payload)
            .send()
            .await;
        let accepted = match answer {
            Ok(r) => match r.json::<Value>().await {
                Ok(v) => {
                    let code = v
                        .get("ResultCode")
                        .map(|c| c.to_string().trim_matches('"').to_string())
                        .unwrap_or_default();
                    record(&reg.validation_url, &code, "validation answered".into());
                    code == "0"
                }
                Err(e) => {
                    record(
                        &reg.validation_url,
                        "",
                        format!("unreadable validation answer: {e}"),
                    );
                    reg.response_type == "Completed"
                }
            },
            Err(e) => {
                record(
                    &reg.validation_url,
                    "",
                    format!(
                        "validation failed ({e}); ResponseType {}",
                        reg.response_type
                    ),
                );
                reg.response_type == "Completed"
            }
        };
        if !accepted {
            return;
        }
    }
    let balance = 41_880_264.8_f64
        + payload["TransAmount"]
            .as_str()
            .and_then(|a| a.parse::<f64>().ok())
            .unwrap_or(0.0);
    payload["OrgAccountBalance"] = format!("{balance:.2}").into();
    let outcome = match app
        .http
        .post(&reg.confirmation_url)
        .json(&payload)
        .send()
        .await
    {
        Ok(r) => r.status().as_u16().to_string(),
        Err(e) => format!("error: {e}"),
    };
    record(&reg.confirmation_url, "confirmation", outcome);
}

pub(crate) async fn simulate_v1(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    simulate(app, "v1", headers, body).await
}

pub(crate) async fn simulate_v2(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    simulate(app, "v2", headers, body).await
}
