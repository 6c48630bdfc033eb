//! STK query: a push's result once it is decided (and the query lag has passed), else
//! "still under processing", sometimes as Daraja's 500 instead; optional spurious 500s.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::checks::{signed_shortcode, text};
use super::{bad_field, daraja_error_with_id, front, ok_json, result_desc};
use crate::App;
use crate::state::PushState;

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
