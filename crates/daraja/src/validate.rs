//! Checks made before anything is sent, and the password/timestamp rule.

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// M-Pesa's per-transaction limit in whole shillings.
pub const MAX_AMOUNT: u64 = 250_000;
pub const MAX_ACCOUNT_REFERENCE: usize = 12;
pub const MAX_TRANSACTION_DESC: usize = 13;

/// Words Daraja rejects anywhere in a callback URL (case-insensitive).
pub const BANNED_URL_WORDS: &[&str] = &[
    "mpesa",
    "m-pesa",
    "safaricom",
    "exe",
    "exec",
    "cmd",
    "sql",
    "query",
];

/// Normalises a Kenyan mobile number to `2547XXXXXXXX` / `2541XXXXXXXX`. Accepts `07…`/`01…`,
/// `+254…`, `254…` and the 9-digit `7…`/`1…` forms with spaces, dashes, dots or brackets.
pub fn normalize_msisdn(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(12);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let national = match digits.len() {
        12 if digits.starts_with("254") => &digits[3..],
        10 if !plus && digits.starts_with('0') => &digits[1..],
        9 if !plus => &digits[..],
        _ => return None,
    };
    (national.starts_with('7') || national.starts_with('1')).then(|| format!("254{national}"))
}

pub fn phone(field: &'static str, input: &str) -> Result<String> {
    normalize_msisdn(input).ok_or_else(|| {
        Error::invalid(
            field,
            "a Kenyan mobile number 2547XXXXXXXX or 2541XXXXXXXX",
            input,
        )
    })
}

pub fn amount(a: u64) -> Result<u64> {
    if (1..=MAX_AMOUNT).contains(&a) {
        Ok(a)
    } else {
        Err(Error::invalid(
            "Amount",
            format!("whole shillings from 1 to {MAX_AMOUNT}"),
            a.to_string(),
        ))
    }
}

fn short_text(field: &'static str, s: &str, max: usize) -> Result<String> {
    let ok = !s.trim().is_empty()
        && s.chars().count() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " -_.#/".contains(c));
    if ok {
        Ok(s.to_string())
    } else {
        Err(Error::invalid(
            field,
            format!("1 to {max} letters, digits, spaces or - _ . # /"),
            s,
        ))
    }
}

pub fn account_reference(s: &str) -> Result<String> {
    short_text("AccountReference", s, MAX_ACCOUNT_REFERENCE)
}

pub fn transaction_desc(s: &str) -> Result<String> {
    short_text("TransactionDesc", s, MAX_TRANSACTION_DESC)
}

/// A callback URL Daraja will accept: https (http only when `allow_http`, for the sandbox and
/// test servers), a lowercase host, no spaces, none of the banned words.
/// An M-Pesa receipt (TransactionID): 10 letters and digits as M-Pesa issues them; Daraja
/// accepts 1 to 20, so anything in that range of letters and digits passes.
pub fn receipt(field: &'static str, s: &str) -> Result<String> {
    let t = s.trim();
    if (1..=20).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(t.to_ascii_uppercase())
    } else {
        Err(Error::invalid(
            field,
            "an M-Pesa receipt such as QKM0FXE6RK",
            s,
        ))
    }
}

pub fn callback_url(field: &'static str, url: &str, allow_http: bool) -> Result<String> {
    let bad = |why: &str| {
        Error::invalid(
            field,
            format!(
                "a public {} URL ({why})",
                if allow_http { "http(s)" } else { "https" }
            ),
            url,
        )
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("no spaces"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| bad("not a URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(bad("https only")),
    }
    // Url lowercases the host it stores, so compare with what was typed.
    let typed_host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':', '?'])
        .next()
        .unwrap_or("");
    if typed_host.is_empty() || typed_host.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(bad("lowercase host"));
    }
    let lower = url.to_ascii_lowercase();
    if let Some(w) = BANNED_URL_WORDS.iter().find(|w| lower.contains(*w)) {
        return Err(bad(&format!("Daraja refuses URLs containing {w:?}")));
    }
    Ok(url.to_string())
}

/// `yyyyMMddHHmmss` in Africa/Nairobi, whatever the machine's zone.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Africa::Nairobi)
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// `base64(shortcode ‖ passkey ‖ timestamp)`.
pub fn password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{shortcode}{passkey}{timestamp}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_the_documented_sample() {
        let p = password(
            "174379",
            "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
            "20210628092408",
        );
        assert_eq!(
            p,
            "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
        );
    }

    #[test]
    fn timestamp_is_nairobi() {
        let at = DateTime::parse_from_rfc3339("2021-06-28T06:24:08Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(at), "20210628092408");
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_msisdn("0712 345-678").as_deref(),
            Some("254712345678")
        );
        assert_eq!(
            normalize_msisdn("+254110123456").as_deref(),
            Some("254110123456")
        );
        assert_eq!(normalize_msisdn("0812345678"), None);
        assert!(
            phone("PhoneNumber", "12")
                .unwrap_err()
                .to_string()
                .starts_with("PhoneNumber: expected")
        );
    }

    #[test]
    fn limits() {
        assert!(amount(0).is_err() && amount(250_001).is_err());
        assert_eq!(amount(250_000).unwrap(), 250_000);
        assert!(account_reference("Sale 1234567").is_ok());
        assert!(account_reference("Sale 12345678").is_err());
        assert!(account_reference("").is_err());
        assert!(transaction_desc("Duka sale 123").is_ok());
        assert!(transaction_desc("Duka sale 1234").is_err());
        assert!(transaction_desc("sale;drop").is_err());
    }

    #[test]
    fn callback_urls() {
        assert!(
            callback_url(
                "CallBackURL",
                "https://relay.example.com/v1/cb/t1/abc/0123",
                false
            )
            .is_ok()
        );
        assert!(callback_url("CallBackURL", "http://127.0.0.1:8080/cb", true).is_ok());
        for (u, http) in [
            ("http://relay.example.com/cb", false),
            ("https://relay.example.com/mpesa/cb", false),
            ("https://relay.example.com/cb?x=QUERY", false),
            ("https://Relay.example.com/cb", false),
            ("https://relay.example.com/cb ", false),
            ("ftp://relay.example.com/cb", true),
            ("not a url", true),
            ("https://safaricom-callbacks.example.com/", false),
        ] {
            assert!(callback_url("CallBackURL", u, http).is_err(), "{u}");
        }
    }
}
