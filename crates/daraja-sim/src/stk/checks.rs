//! The checks Daraja makes on an STK push (and, for the signed shortcode, on a query): field
//! syntax, the shortcode and its Password, the product the shortcode is set up for. Each
//! failure is answered as Daraja does, naming the field.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::Value;

use super::{bad_field, daraja_error};
use crate::Shared;

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

/// The check push and query share: a known BusinessShortCode, a valid Timestamp, and
/// `Password = base64(shortcode ‖ passkey ‖ timestamp)`. Returns the shortcode's config.
pub(super) fn signed_shortcode<'a>(
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

/// An STK push request that passed every check, before the phone's lock is looked at.
pub(super) struct PushRequest {
    pub shortcode: String,
    pub party_b: String,
    pub phone: String,
    pub amount: u64,
    pub account_reference: String,
    pub callback_url: String,
    /// False when the shortcode is not set up for this TransactionType and PartyB: Daraja
    /// still accepts the push, and the customer's prompt then fails with 2028.
    pub product_ok: bool,
}

/// Checks a push's fields in Daraja's order; the first that fails is the answer.
pub(super) fn push_request(app: &Shared, path: &str, v: &Value) -> Result<PushRequest, Response> {
    let cfg = &app.cfg;
    let sc = signed_shortcode(app, path, v)?;
    let shortcode = sc.shortcode.clone();
    let tx_type = text(v, "TransactionType").unwrap_or_default();
    if tx_type != "CustomerPayBillOnline" && tx_type != "CustomerBuyGoodsOnline" {
        return Err(bad_field(app, path, "TransactionType"));
    }
    let amount = match v.get("Amount") {
        Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
        Some(Value::String(s)) if digits(s.trim(), 1..=9) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(amount) = amount.filter(|a| (1..=250_000).contains(a)) else {
        return Err(bad_field(app, path, "Amount"));
    };
    let Some(_party_a) = text(v, "PartyA").filter(|p| is_msisdn(p)) else {
        return Err(bad_field(app, path, "PartyA"));
    };
    let Some(party_b) = text(v, "PartyB").filter(|p| digits(p, 5..=7)) else {
        return Err(bad_field(app, path, "PartyB"));
    };
    let Some(phone) = text(v, "PhoneNumber").filter(|p| is_msisdn(p)) else {
        return Err(bad_field(app, path, "PhoneNumber"));
    };
    let Some(callback_url) =
        text(v, "CallBackURL").filter(|u| valid_callback_url(u, cfg.stk_callback_banned_words))
    else {
        return Err(bad_field(app, path, "CallBackURL"));
    };
    let Some(account_reference) = text(v, "AccountReference")
        .filter(|a| !a.trim().is_empty() && a.chars().count() <= cfg.max_account_reference)
    else {
        return Err(bad_field(app, path, "AccountReference"));
    };
    // Leaving TransactionDesc out is answered "Invalid Remarks" (observed in the sandbox).
    if !text(v, "TransactionDesc")
        .is_some_and(|d| !d.trim().is_empty() && d.chars().count() <= cfg.max_transaction_desc)
    {
        return Err(bad_field(app, path, "Remarks"));
    }
    // PayBill: PartyB is the shortcode. Till: PartyB is one of the store's tills.
    let product_ok = if sc.tills.is_empty() {
        tx_type == "CustomerPayBillOnline" && party_b == shortcode
    } else {
        tx_type == "CustomerBuyGoodsOnline" && sc.tills.contains(&party_b)
    };
    Ok(PushRequest {
        shortcode,
        party_b,
        phone,
        amount,
        account_reference,
        callback_url,
        product_ok,
    })
}
