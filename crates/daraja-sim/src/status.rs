//! Transaction Status: an acknowledgement now, the `Result` POSTed to `ResultURL` after.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};

use crate::state::{CallbackRecord, now_ms};
use crate::stk::{bad_field, check_bearer, daraja_error, text, valid_callback_url};
use crate::{App, Shared};

/// Whether the SecurityCredential seals the initiator's password.
pub(crate) fn credential_ok(app: &Shared, credential: &str) -> bool {
    let Ok(sealed) = base64::engine::general_purpose::STANDARD.decode(credential.trim()) else {
        return false;
    };
    match &app.cfg.initiator_private_key_pem {
        None => sealed.len() == 256,
        Some(pem) => rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .ok()
            .and_then(|k| k.decrypt(rsa::Pkcs1v15Encrypt, &sealed).ok())
            .is_some_and(|pw| pw == app.cfg.initiator_password.as_bytes()),
    }
}

pub(crate) async fn transaction_status(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = "/mpesa/transactionstatus/v1/query";
    if let Err(r) = check_bearer(&app, path, &headers) {
        return r;
    }
    let v = match object_body(&app, path, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if text(&v, "CommandID").as_deref() != Some("TransactionStatusQuery") {
        return bad_field(&app, path, "CommandID");
    }
    let Some(initiator) = text(&v, "Initiator").filter(|i| !i.is_empty()) else {
        return bad_field(&app, path, "Initiator");
    };
    let Some(credential) = text(&v, "SecurityCredential").filter(|c| !c.is_empty()) else {
        return bad_field(&app, path, "SecurityCredential");
    };
    let transaction_id = text(&v, "TransactionID").filter(|t| !t.is_empty());
    let original = text(&v, "OriginalConversationID").filter(|t| !t.is_empty());
    if transaction_id.is_none() && original.is_none() {
        return bad_field(&app, path, "TransactionID");
    }
    let Some(_party_a) = text(&v, "PartyA").filter(|p| !p.is_empty()) else {
        return bad_field(&app, path, "PartyA");
    };
    if !matches!(text(&v, "IdentifierType").as_deref(), Some("1" | "2" | "4")) {
        return bad_field(&app, path, "IdentifierType");
    }
    let Some(result_url) = text(&v, "ResultURL").filter(|u| valid_callback_url(u, false)) else {
        return bad_field(&app, path, "ResultURL");
    };
    if !text(&v, "QueueTimeOutURL").is_some_and(|u| valid_callback_url(&u, false)) {
        return bad_field(&app, path, "QueueTimeOutURL");
    }
    if !text(&v, "Remarks").is_some_and(|r| !r.is_empty() && r.chars().count() <= 100) {
        return bad_field(&app, path, "Remarks");
    }
    let occasion = text(&v, "Occasion").unwrap_or_default();
    let (originator, conversation) = conversation_ids(&app);
    // A reversal, asked about by its receipt or by the ids of the request that made it.
    let reversal = {
        let st = app.state();
        st.reversals
            .values()
            .find(|r| match (&transaction_id, &original) {
                (Some(t), _) => &r.receipt == t,
                (None, Some(o)) => &r.conversation_id == o || &r.originator_conversation_id == o,
                (None, None) => false,
            })
            .cloned()
    };
    let receipt = {
        let st = app.state();
        // By receipt, or by the original request's id (an STK push's CheckoutRequestID or
        // MerchantRequestID) when the receipt is what the caller is looking for.
        match (&transaction_id, &original) {
            (Some(t), _) => st.receipts.get(t).cloned(),
            (None, Some(o)) => st
                .pushes
                .values()
                .find(|p| &p.checkout_request_id == o || &p.merchant_request_id == o)
                .and_then(|p| match &p.state {
                    crate::state::PushState::Done {
                        receipt: Some(r), ..
                    } => st.receipts.get(r).cloned(),
                    _ => None,
                }),
            (None, None) => None,
        }
    };
    let authorised = initiator == app.cfg.initiator && credential_ok(&app, &credential);
    let result = if !authorised {
        json!({"Result": {"ResultType": 0, "ResultCode": 2001, "ResultDesc": "The initiator information is invalid.",
            "OriginatorConversationID": originator, "ConversationID": conversation, "TransactionID": "OA90000000",
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": occasion}}}})
    } else if let Some(rv) = reversal {
        let at = nairobi_stamp(rv.at_ms);
        json!({"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": originator, "ConversationID": conversation, "TransactionID": "TAH0000000",
            "ResultParameters": {"ResultParameter": [
                {"Key": "DebitPartyName", "Value": "600000 - Duka Demo Shop"},
                {"Key": "OriginatorConversationID", "Value": rv.originator_conversation_id},
                {"Key": "InitiatedTime", "Value": at},
                {"Key": "DebitAccountType", "Value": "Utility Account"},
                {"Key": "ReasonType", "Value": "Reversal"},
                {"Key": "TransactionStatus", "Value": "Completed"},
                {"Key": "FinalisedTime", "Value": at},
                {"Key": "Amount", "Value": rv.amount as f64},
                {"Key": "ConversationID", "Value": rv.conversation_id},
                {"Key": "ReceiptNo", "Value": rv.receipt},
            ]},
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": occasion}}}})
    } else if let Some(r) = receipt {
        let at = nairobi_stamp(r.at_ms);
        let masked = format!("{}****{}", &r.phone[..4], &r.phone[9..]);
        json!({"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": originator, "ConversationID": conversation, "TransactionID": "TAH0000000",
            "ResultParameters": {"ResultParameter": [
                {"Key": "DebitPartyName", "Value": format!("{masked} - John Doe")},
                {"Key": "CreditPartyName", "Value": format!("{} - Duka Demo Shop", r.shortcode)},
                {"Key": "OriginatorConversationID", "Value": originator},
                {"Key": "InitiatedTime", "Value": at},
                {"Key": "CreditPartyCharges"},
                {"Key": "DebitAccountType", "Value": "MMF Account For Customer"},
                {"Key": "TransactionReason"},
                {"Key": "ReasonType", "Value": if r.checkout_request_id.is_some() { "Pay Bill Online" } else { "Pay Bill" }},
                {"Key": "TransactionStatus", "Value": "Completed"},
                {"Key": "FinalisedTime", "Value": at},
                {"Key": "Amount", "Value": r.amount as f64},
                {"Key": "ConversationID", "Value": conversation},
                {"Key": "ReceiptNo", "Value": r.receipt},
            ]},
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": occasion}}}})
    } else {
        // Daraja's answer for an unknown receipt is not documented; this uses the reversal
        // API's "invalid transaction" code.
        json!({"Result": {"ResultType": 0, "ResultCode": "R000002", "ResultDesc": "The OriginalTransactionID is invalid.",
            "OriginatorConversationID": originator, "ConversationID": conversation, "TransactionID": "OA90000000",
            "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": occasion}}}})
    };
    let id = transaction_id.or(original).unwrap_or_default();
    deliver_result(&app, result_url, result, id);
    accepted(&app, path, &originator, &conversation)
}

/// POSTs an asynchronous `Result` to the caller's URL in the background, and records the
/// delivery (`id`: what the result is about).
pub(crate) fn deliver_result(app: &App, url: String, result: Value, id: String) {
    let code = result["Result"]["ResultCode"].to_string();
    let app2 = app.clone();
    tokio::spawn(async move {
        let outcome = match app2.http.post(&url).json(&result).send().await {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("error: {e}"),
        };
        app2.state().callbacks.push(CallbackRecord {
            checkout_request_id: id,
            url,
            result_code: code.trim_matches('"').to_string(),
            outcome,
            at_ms: now_ms(),
        });
        app2.callback_sent.notify_waiters();
    });
}

/// New ids for an asynchronous request: `(OriginatorConversationID, ConversationID)`.
pub(crate) fn conversation_ids(app: &App) -> (String, String) {
    let mut st = app.state();
    let originator = format!("{}-{}-{}", st.rng.hex(4), st.rng.hex(4), st.rng.hex(24));
    let conversation = format!(
        "AG_{}_{}",
        chrono::Utc::now()
            .with_timezone(&chrono_tz::Africa::Nairobi)
            .format("%Y%m%d"),
        st.rng.hex(20)
    );
    (originator, conversation)
}

/// The synchronous "queued" answer of every asynchronous API.
pub(crate) fn accepted(app: &App, path: &str, originator: &str, conversation: &str) -> Response {
    app.log("POST", path, StatusCode::OK, Some("0"));
    let ack = json!({"OriginatorConversationID": originator, "ConversationID": conversation, "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully."});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        ack.to_string(),
    )
        .into_response()
}

/// A JSON object body, or Daraja's `400.002.05` answer.
pub(crate) fn object_body(app: &App, path: &str, body: &[u8]) -> Result<Value, Response> {
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

/// `yyyyMMddHHmmss` in Nairobi time, as a number (Daraja's result timestamps).
fn nairobi_stamp(at_ms: i64) -> u64 {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .with_timezone(&chrono_tz::Africa::Nairobi)
        .format("%Y%m%d%H%M%S")
        .to_string()
        .parse::<u64>()
        .unwrap_or(0)
}
