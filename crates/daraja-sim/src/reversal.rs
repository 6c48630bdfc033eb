//! Transaction Reversal: an acknowledgement now, the `Result` POSTed to `ResultURL` after
//! (or to `QueueTimeOutURL` when M-Pesa's queue times out).
//!
//! What the simulator checks, as Daraja does: the request's fields (the misspelled
//! `RecieverIdentifierType` must be there, spelled so, with `11`); then, in the asynchronous
//! `Result`, the receipt (`R000002` when it is not a payment to `ReceiverParty`), a second
//! reversal of the same receipt (`R000001`), the initiator and its credential (`2001`), and
//! the utility account's balance (`1`). Partial amounts are accepted up to the payment's
//! amount; a receipt is reversed at most once whatever the amount (real Daraja's handling of
//! partial reversals is not documented; once per receipt is the conservative reading).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use crate::App;
use crate::state::{Reversal, now_ms};
use crate::status::{accepted, conversation_ids, credential_ok, deliver_result, object_body};
use crate::stk::{bad_field, check_bearer, text, valid_callback_url};

const PATH: &str = "/mpesa/reversal/v1/request";

/// The request's fields once they passed the synchronous checks.
struct Request {
    initiator: String,
    credential: String,
    receipt: String,
    amount: u64,
    receiver: String,
    result_url: String,
    timeout_url: String,
}

fn whole(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The synchronous checks; `Err` is Daraja's 400 answer naming the field.
fn check(app: &App, v: &Value) -> Result<Request, Response> {
    let bad = |field: &str| bad_field(app, PATH, field);
    if text(v, "CommandID").as_deref() != Some("TransactionReversal") {
        return Err(bad("CommandID"));
    }
    let initiator = text(v, "Initiator").filter(|i| !i.is_empty());
    let credential = text(v, "SecurityCredential").filter(|c| !c.is_empty());
    let receipt = text(v, "TransactionID")
        .filter(|t| (1..=20).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()));
    let amount = whole(v, "Amount").filter(|a| *a > 0);
    let receiver = text(v, "ReceiverParty")
        .filter(|r| (5..=7).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_digit()));
    // Daraja's own spelling; the correct one is refused.
    let kind = text(v, "RecieverIdentifierType").filter(|k| k == "11");
    let result_url = text(v, "ResultURL").filter(|u| valid_callback_url(u, false));
    let timeout_url = text(v, "QueueTimeOutURL").filter(|u| valid_callback_url(u, false));
    let remarks_ok = text(v, "Remarks").is_some_and(|r| (2..=100).contains(&r.chars().count()));
    let fields = [
        ("Initiator", initiator.is_some()),
        ("SecurityCredential", credential.is_some()),
        ("TransactionID", receipt.is_some()),
        ("Amount", amount.is_some()),
        ("ReceiverParty", receiver.is_some()),
        ("RecieverIdentifierType", kind.is_some()),
        ("ResultURL", result_url.is_some()),
        ("QueueTimeOutURL", timeout_url.is_some()),
        ("Remarks", remarks_ok),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, ok)| !ok) {
        return Err(bad(field));
    }
    Ok(Request {
        initiator: initiator.unwrap_or_default(),
        credential: credential.unwrap_or_default(),
        receipt: receipt.unwrap_or_default().to_ascii_uppercase(),
        amount: amount.unwrap_or_default(),
        receiver: receiver.unwrap_or_default(),
        result_url: result_url.unwrap_or_default(),
        timeout_url: timeout_url.unwrap_or_default(),
    })
}

pub(crate) async fn reversal(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_bearer(&app, PATH, &headers) {
        return r;
    }
    let v = match object_body(&app, PATH, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let req = match check(&app, &v) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (originator, conversation) = conversation_ids(&app);
    let head = |code: Value, desc: &str, transaction: &str| {
        json!({"ResultType": 0, "ResultCode": code, "ResultDesc": desc,
            "OriginatorConversationID": originator, "ConversationID": conversation,
            "TransactionID": transaction,
            "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL",
                "Value": "https://internalsandbox.safaricom.co.ke/mpesa/reversalresults/v1/submit"}}})
    };
    let (url, result) = if app.state().faults.reversal_queue_timeout {
        let mut r = head(json!("1"), "The service request timed out.", "");
        r["ResultType"] = json!(1);
        (req.timeout_url.clone(), r)
    } else {
        let ids = (originator.clone(), conversation.clone());
        (req.result_url.clone(), decide(&app, &req, ids, head))
    };
    if !app.state().faults.reversal_result_lost {
        deliver_result(&app, url, json!({"Result": result}), req.receipt.clone());
    }
    accepted(&app, PATH, &originator, &conversation)
}

/// The `Result` of a reversal, and the reversal itself when it succeeds.
fn decide(
    app: &App,
    req: &Request,
    (originator, conversation): (String, String),
    head: impl Fn(Value, &str, &str) -> Value,
) -> Value {
    let authorised = req.initiator == app.cfg.initiator && credential_ok(app, &req.credential);
    let mut st = app.state();
    let paid = st.receipts.get(&req.receipt).cloned().filter(|r| {
        r.shortcode == req.receiver
            || app
                .cfg
                .shortcodes
                .iter()
                .any(|s| s.shortcode == r.shortcode && s.tills.contains(&req.receiver))
    });
    let Some(paid) = paid else {
        return head(
            json!("R000002"),
            "The OriginalTransactionID is invalid.",
            "SKE0000000",
        );
    };
    if st.reversals.contains_key(&req.receipt) {
        return head(
            json!("R000001"),
            "The transaction has already been reversed.",
            "SKE0000000",
        );
    }
    if !authorised {
        return head(
            json!("2001"),
            "The initiator information is invalid.",
            "SKE0000000",
        );
    }
    if req.amount > paid.amount || app.cfg.utility_balance.is_some_and(|b| req.amount > b) {
        return head(
            json!("1"),
            "The balance is insufficient for the transaction.",
            "SKE0000000",
        );
    }
    let receipt = st.receipt();
    let at = chrono::Utc::now().with_timezone(&chrono_tz::Africa::Nairobi);
    st.reversals.insert(
        req.receipt.clone(),
        Reversal {
            original: req.receipt.clone(),
            receipt: receipt.clone(),
            amount: req.amount,
            at_ms: now_ms(),
            originator_conversation_id: originator,
            conversation_id: conversation,
        },
    );
    let mut r = head(
        json!(0),
        "The service request is processed successfully.",
        &receipt,
    );
    r["ResultParameters"] = json!({"ResultParameter": [
        {"Key": "DebitAccountBalance", "Value": "Utility Account|KES|7722179.62|7722179.62|0.00|0.00"},
        {"Key": "Amount", "Value": req.amount as f64},
        {"Key": "TransCompletedTime", "Value": at.format("%Y%m%d%H%M%S").to_string().parse::<u64>().unwrap_or(0)},
        {"Key": "OriginalTransactionID", "Value": req.receipt},
        {"Key": "Charge", "Value": 0.0},
        {"Key": "CreditPartyPublicName", "Value": format!("{} - John Doe", paid.phone)},
        {"Key": "DebitPartyPublicName", "Value": format!("{} - Duka Demo Shop", paid.shortcode)},
    ]});
    r
}
