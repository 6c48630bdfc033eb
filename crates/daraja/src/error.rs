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
        match self {
            Error::Invalid { .. } => "invalid_request",
            Error::BadRequest { .. } => "bad_request",
            Error::Auth { .. } => "auth",
            Error::Merchant { .. } => "merchant_config",
            Error::InProgress { .. } => "in_progress",
            Error::SubscriberLocked { .. } => "subscriber_locked",
            Error::RateLimited { .. } => "rate_limited",
            Error::Server { .. } => "server_error",
            Error::NotSent(_) => "not_sent",
            Error::OutcomeUnknown(_) => "outcome_unknown",
            Error::Unparseable { .. } => "unparseable",
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
