//! Phone digits kept out of logs.

use crate::validate;

/// `2547****149`, for logs.
pub fn mask(phone: &str) -> String {
    match validate::normalize_msisdn(phone) {
        Some(p) => format!("{}****{}", &p[..4], &p[9..]),
        None => "****".into(),
    }
}

/// A CheckoutRequestID for logs and error messages. Daraja ends it with the customer's nine
/// local phone digits (`ws_CO_…254708374149` → `ws_CO_…254******149`): the six before the last
/// three are hidden, as `mask` does for a phone. Anything shorter than nine characters is
/// hidden whole.
pub fn mask_checkout(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 9 {
        return "*".repeat(chars.len());
    }
    let cut = chars.len() - 9;
    let mut out: String = chars[..cut].iter().collect();
    out.push_str("******");
    out.extend(&chars[chars.len() - 3..]);
    out
}

/// Text for logs and error messages with every run of nine or more digits masked as
/// `mask_checkout` does (the six before the last three hidden): phone numbers, in any form, and
/// the phone digits that end a CheckoutRequestID. Receipts (letters and digits) stay readable.
pub fn redact_digits(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    // A run inside a lowercase hex id (an attempt id) is not a phone number: kept.
    let hex = |c: Option<&char>| c.is_some_and(|c| ('a'..='f').contains(c));
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let run = &chars[start..i];
        let in_hex = hex(start.checked_sub(1).and_then(|p| chars.get(p))) || hex(chars.get(i));
        if run.len() >= 9 && !in_hex {
            out.extend(&run[..run.len() - 9]);
            out.push_str("******");
            out.extend(&run[run.len() - 3..]);
        } else {
            out.extend(run);
        }
    }
    out
}
