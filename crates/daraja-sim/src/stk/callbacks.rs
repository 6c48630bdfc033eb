//! The `stkCallback` a push's result is told with, and its delivery to the push's
//! `CallBackURL`: once, twice (a duplicate) or never, after an optional delay, as the push's
//! faults say. Every delivery attempt is recorded.

use std::time::Duration;

use axum::http::header;
use serde_json::{Value, json};

use crate::App;
use crate::config::{CallbackMode, Faults};
use crate::state::now_ms;

/// What a successful push's callback reports in its metadata.
pub(super) struct Paid<'a> {
    pub receipt: &'a str,
    pub amount: u64,
    pub phone: &'a str,
}

/// The callback body, as Daraja sends it. A successful push has `CallbackMetadata` items
/// (a `Balance` without a value when `include_balance`), in an order shuffled from
/// `items_seed`: clients must read items by name.
pub(super) fn stk_callback(
    merchant: &str,
    checkout: &str,
    code: &str,
    desc: &str,
    paid: Option<Paid<'_>>,
    mut items_seed: u64,
    include_balance: bool,
) -> Value {
    let mut cb = json!({
        "MerchantRequestID": merchant,
        "CheckoutRequestID": checkout,
        "ResultCode": code.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(code)),
        "ResultDesc": desc,
    });
    if let Some(Paid {
        receipt: r,
        amount,
        phone,
    }) = paid
    {
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
    json!({"Body": {"stkCallback": cb}})
}

/// POSTs `body` to `url` in the background as the push's `faults` say, recording each
/// attempt and waking whoever waits for callbacks.
pub(super) fn deliver(
    app: &App,
    url: String,
    body: Value,
    shortcode: String,
    faults: Faults,
    checkout: &str,
    code: &str,
) {
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
