//! One error type that tells the caller what to do next.

/// Daraja's or the network's answer, sorted by what it means for a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Rejected locally before sending: nothing left this machine.
    #[error("{field}: expected {expected}, got {got:?}")]
    Invalid {
        field: &'static str,
        expected: String,
        got: String,
    },
    /// Daraja refused the request as malformed (`400.002.02 Bad Request - Invalid <Field>`).
    #[error("Daraja rejected {}: {code} {message}", field.as_deref().unwrap_or("the request"))]
    BadRequest {
        field: Option<String>,
        code: String,
        message: String,
    },
    /// Bad consumer key/secret, wrong auth scheme, or a token refused even after a refresh.
    #[error("Daraja authentication failed (HTTP {status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Auth {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The shortcode/passkey pair or the merchant is wrong (`500.001.1001 Wrong credentials`,
    /// `Merchant does not exist`): a configuration problem, nothing was charged.
    #[error("Daraja refused the merchant credentials: {message}")]
    Merchant { message: String },
    /// Still being processed (`500.001.1001` on a query, `4999`): ask again later.
    #[error("still being processed ({code}): {message}")]
    InProgress { code: String, message: String },
    /// Another prompt is open on this phone (`Unable to lock subscriber`): wait ≥ 1 minute.
    #[error("the customer's phone has another M-Pesa request open: {message}")]
    SubscriberLocked { message: String },
    /// Spike arrest (`500.003.02`) or quota (`500.003.03`): back off.
    #[error("Daraja is rate limiting ({code}): {message}")]
    RateLimited { code: String, message: String },
    /// Daraja failed (5xx, HTML error pages from the gateway, `500.003.1001`).
    #[error("Daraja server error (HTTP {status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Server {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The request never reached Daraja (could not connect): safe to send again.
    #[error("could not reach Daraja (nothing was sent): {0}")]
    NotSent(String),
    /// The request may have reached Daraja but no answer came back (timeout, connection cut):
    /// the outcome is unknown — for a push, query it, never blindly resend.
    #[error("no answer from Daraja after sending (outcome unknown): {0}")]
    OutcomeUnknown(String),
    /// An answer we cannot read.
    #[error("unreadable answer from Daraja (HTTP {status}): {snippet}")]
    Unparseable { status: u16, snippet: String },
}

impl Error {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The code as a value (its JSON and TypeScript form is the string `code()` returns).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::Invalid { .. } => ErrorCode::InvalidRequest,
            Error::BadRequest { .. } => ErrorCode::BadRequest,
            Error::Auth { .. } => ErrorCode::Auth,
            Error::Merchant { .. } => ErrorCode::MerchantConfig,
            Error::InProgress { .. } => ErrorCode::InProgress,
            Error::SubscriberLocked { .. } => ErrorCode::SubscriberLocked,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Server { .. } => ErrorCode::ServerError,
            Error::NotSent(_) => ErrorCode::NotSent,
            Error::OutcomeUnknown(_) => ErrorCode::OutcomeUnknown,
            Error::Unparseable { .. } => ErrorCode::Unparseable,
        }
    }

    /// True when Daraja certainly did not act on the request (so a push created no prompt).
    pub fn nothing_happened(&self) -> bool {
        matches!(
            self,
            Error::Invalid { .. }
                | Error::BadRequest { .. }
                | Error::Auth { .. }
                | Error::Merchant { .. }
                | Error::SubscriberLocked { .. }
                | Error::RateLimited { .. }
                | Error::NotSent(_)
        )
    }

    /// True when the same request may succeed later without any change.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Error::InProgress { .. }
                | Error::SubscriberLocked { .. }
                | Error::RateLimited { .. }
                | Error::Server { .. }
                | Error::NotSent(_)
                | Error::OutcomeUnknown(_)
        )
    }

    pub(crate) fn invalid(
        field: &'static str,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Error {
        Error::Invalid {
            field,
            expected: expected.into(),
            got: got.into(),
        }
    }
}

/// Every code `Error::code` gives. Never change one once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(rename = "DarajaErrorCode")]
pub enum ErrorCode {
    InvalidRequest,
    BadRequest,
    Auth,
    MerchantConfig,
    InProgress,
    SubscriberLocked,
    RateLimited,
    ServerError,
    NotSent,
    OutcomeUnknown,
    Unparseable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidRequest,
        ErrorCode::BadRequest,
        ErrorCode::Auth,
        ErrorCode::MerchantConfig,
        ErrorCode::InProgress,
        ErrorCode::SubscriberLocked,
        ErrorCode::RateLimited,
        ErrorCode::ServerError,
        ErrorCode::NotSent,
        ErrorCode::OutcomeUnknown,
        ErrorCode::Unparseable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Auth => "auth",
            ErrorCode::MerchantConfig => "merchant_config",
            ErrorCode::InProgress => "in_progress",
            ErrorCode::SubscriberLocked => "subscriber_locked",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServerError => "server_error",
            ErrorCode::NotSent => "not_sent",
            ErrorCode::OutcomeUnknown => "outcome_unknown",
            ErrorCode::Unparseable => "unparseable",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serialises_as_its_string() {
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }
}
