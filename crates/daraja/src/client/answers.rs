//! How the client reads each Daraja answer, callable without a network: the same functions
//! the client uses, for fuzzing and property tests. `status` is the HTTP status; one no
//! server can send (outside 100–999) is read as an unparseable answer.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::QueryStatus;
use super::mask::redact_digits;
use crate::error::{Error, Result};
use crate::wire::*;

pub(crate) fn parse_ok<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|_| unparseable(status, body))
}

// ---- reading answers: no network, any status and body (fuzzed: `answers`) ----

/// An OAuth answer: the token and its lifetime in seconds.
pub(crate) fn token_answer(status: StatusCode, body: &[u8]) -> Result<(String, u64)> {
    if status != StatusCode::OK {
        let err = parse_error_body(body);
        return Err(Error::Auth {
            status: status.as_u16(),
            code: err.error_code,
            message: err
                .error_message
                .unwrap_or_else(|| "bad consumer key or secret (empty answer)".into()),
        });
    }
    // An OAuth body may hold a token even when it cannot be read: never shown (errors reach
    // the health panel, events and logs).
    let hidden = || Error::Unparseable {
        status: status.as_u16(),
        snippet: format!(
            "{} bytes, not shown: a token answer may hold the token",
            body.len()
        ),
    };
    let t: TokenResponse = serde_json::from_slice(body).map_err(|_| hidden())?;
    let secs = t.expires_in_secs().ok_or_else(hidden)?;
    Ok((t.access_token, secs))
}

pub(crate) fn push_answer(status: StatusCode, body: &[u8]) -> Result<StkPushResponse> {
    if status == StatusCode::OK {
        if let Ok(r) = serde_json::from_slice::<StkPushResponse>(body)
            && r.response_code.is_zero()
        {
            return Ok(r);
        }
        let e = parse_error_body(body);
        if e.error_code.is_some() {
            return Err(classify(status, e));
        }
        return Err(unparseable(status, body));
    }
    Err(classify(status, parse_error_body(body)))
}

pub(crate) fn query_answer(status: StatusCode, body: &[u8]) -> Result<QueryStatus> {
    let err = parse_error_body(body);
    if let Some(code) = err.error_code.as_deref()
        && code == "500.001.1001"
    {
        let message = err.error_message.unwrap_or_default();
        if is_merchant_error(&message) {
            return Err(Error::Merchant { message });
        }
        return Ok(QueryStatus::Pending {
            code: code.to_string(),
            message,
        });
    }
    if status != StatusCode::OK {
        return Err(classify(status, err));
    }
    let r: StkQueryResponse =
        serde_json::from_slice(body).map_err(|_| unparseable(status, body))?;
    match r.result_code {
        Some(c) if c.as_str() == "4999" => Ok(QueryStatus::Pending {
            code: c.0,
            message: r.result_desc.unwrap_or_default(),
        }),
        Some(c) => Ok(QueryStatus::Done {
            result_code: c,
            result_desc: r.result_desc.unwrap_or_default(),
        }),
        None => Err(unparseable(status, body)),
    }
}

pub(crate) fn register_answer(status: StatusCode, body: &[u8]) -> Result<RegisterUrlResponse> {
    if status != StatusCode::OK {
        return Err(classify(status, parse_error_body(body)));
    }
    let r: RegisterUrlResponse = parse_ok(status, body)?;
    match r.response_code.as_ref() {
        None => Ok(r),
        Some(c) if c.is_zero() => Ok(r),
        Some(c) => Err(Error::Server {
            status: status.as_u16(),
            code: Some(c.0.clone()),
            message: r.response_description.clone().unwrap_or_default(),
        }),
    }
}

/// The acknowledgement of an async request (C2B simulate, Transaction Status).
pub(crate) fn ack_answer(status: StatusCode, body: &[u8]) -> Result<AsyncAck> {
    if status != StatusCode::OK {
        return Err(classify(status, parse_error_body(body)));
    }
    parse_ok(status, body)
}

pub(crate) fn status(code: u16, body: &[u8]) -> Result<StatusCode> {
    StatusCode::from_u16(code).map_err(|_| Error::Unparseable {
        status: code,
        snippet: String::from_utf8_lossy(body).chars().take(120).collect(),
    })
}
/// OAuth: `(access_token, expires_in seconds)`.
pub fn token(code: u16, body: &[u8]) -> Result<(String, u64)> {
    token_answer(status(code, body)?, body)
}
pub fn stk_push(code: u16, body: &[u8]) -> Result<StkPushResponse> {
    push_answer(status(code, body)?, body)
}
pub fn stk_query(code: u16, body: &[u8]) -> Result<QueryStatus> {
    query_answer(status(code, body)?, body)
}
pub fn register_c2b(code: u16, body: &[u8]) -> Result<RegisterUrlResponse> {
    register_answer(status(code, body)?, body)
}
/// C2B simulate and Transaction Status acknowledgements.
pub fn ack(code: u16, body: &[u8]) -> Result<AsyncAck> {
    ack_answer(status(code, body)?, body)
}
/// Whether the answer asks for a fresh token (the client then retries once).
pub fn is_invalid_token(code: u16, body: &[u8]) -> bool {
    status(code, body).is_ok_and(|s| invalid_token_answer(s, &parse_error_body(body)))
}

/// Reads an error envelope from any body: JSON, empty, HTML. Never fails.
pub fn parse_error_body(body: &[u8]) -> ErrorBody {
    serde_json::from_slice::<ErrorBody>(body).unwrap_or_default()
}

pub(crate) fn invalid_token_answer(status: StatusCode, e: &ErrorBody) -> bool {
    status == StatusCode::UNAUTHORIZED
        || matches!(
            e.error_code.as_deref(),
            Some("404.001.03" | "400.003.01" | "401.002.01")
        )
}

pub(crate) fn is_merchant_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("wrong credentials") || m.contains("merchant does not exist")
}

/// Maps a non-success answer to what the caller should do.
pub(crate) fn classify(status: StatusCode, e: ErrorBody) -> Error {
    let code = e.error_code.clone().unwrap_or_default();
    let message = e.error_message.clone().unwrap_or_default();
    match code.as_str() {
        "400.002.02" | "400.002.05" | "400.003.02" => Error::BadRequest {
            field: message
                .rsplit_once("Invalid ")
                .map(|(_, f)| f.trim().to_string())
                .filter(|f| !f.is_empty()),
            code,
            message,
        },
        c if c.starts_with("400.008.") || invalid_token_answer(status, &e) => Error::Auth {
            status: status.as_u16(),
            code: Some(code),
            message,
        },
        "500.001.1001" if message.to_ascii_lowercase().contains("lock subscriber") => {
            Error::SubscriberLocked { message }
        }
        "500.001.1001" if is_merchant_error(&message) => Error::Merchant { message },
        "500.001.1001" => Error::InProgress { code, message },
        "500.003.02" | "500.003.03" => Error::RateLimited { code, message },
        _ if status.is_client_error() && !code.is_empty() => Error::BadRequest {
            field: None,
            code,
            message,
        },
        _ if status == StatusCode::BAD_REQUEST => Error::BadRequest {
            field: None,
            code: "400".into(),
            message: "rejected with an empty answer".into(),
        },
        _ => Error::Server {
            status: status.as_u16(),
            code: e.error_code,
            message: if message.is_empty() {
                format!("HTTP {status} with no Daraja error body")
            } else {
                message
            },
        },
    }
}

pub(crate) fn unparseable(status: StatusCode, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    // A CheckoutRequestID or a phone number in the body: its digits are hidden.
    let snippet: String = redact_digits(&text).chars().take(120).collect();
    Error::Unparseable {
        status: status.as_u16(),
        snippet,
    }
}

/// Connect failures never reached Daraja; anything after may have.
pub(crate) fn transport(e: reqwest::Error) -> Error {
    if e.is_connect() || e.is_builder() {
        Error::NotSent(e.to_string())
    } else {
        Error::OutcomeUnknown(e.to_string())
    }
}
