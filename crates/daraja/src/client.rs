//! The async Daraja client: OAuth with a single-flight token cache, STK push and query, C2B URL
//! registration and Transaction Status.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::validate;
use crate::wire::*;

pub const SANDBOX_URL: &str = "https://sandbox.safaricom.co.ke";
pub const PRODUCTION_URL: &str = "https://api.safaricom.co.ke";

/// Refresh this long before the token's `expires_in` runs out.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    Sandbox,
    Production,
    /// Any Daraja-compatible server (daraja-sim), e.g. `http://127.0.0.1:8090`.
    Custom(String),
}

impl Environment {
    pub fn base_url(&self) -> &str {
        match self {
            Environment::Sandbox => SANDBOX_URL,
            Environment::Production => PRODUCTION_URL,
            Environment::Custom(u) => u.trim_end_matches('/'),
        }
    }
    /// Production demands https callbacks; the sandbox and test servers accept http.
    pub fn allows_http_callbacks(&self) -> bool {
        !matches!(self, Environment::Production)
    }
}

#[derive(Clone)]
pub struct Config {
    pub environment: Environment,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub connect_timeout: Duration,
    /// The whole request, connect included.
    pub request_timeout: Duration,
    /// Where a token outlives this process (the OS keyring), so the next process (a CLI
    /// command, the desktop after a restart) reuses it instead of asking Daraja again.
    pub token_store: Option<Arc<dyn TokenStore>>,
}

/// A token kept across processes. `scope` names the environment and consumer key the token
/// belongs to: a token of other credentials is never used.
pub trait TokenStore: Send + Sync {
    fn load(&self, scope: &str) -> Option<(String, SystemTime)>;
    fn save(&self, scope: &str, token: &str, expires_at: SystemTime);
    /// Daraja refused `token`: forget it (if it is still the one kept).
    fn forget(&self, scope: &str, token: &str);
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("consumer_key", &"***")
            .field("consumer_secret", &"***")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("token_store", &self.token_store.is_some())
            .finish()
    }
}

impl Config {
    pub fn new(environment: Environment, consumer_key: &str, consumer_secret: &str) -> Config {
        Config {
            environment,
            consumer_key: consumer_key.to_string(),
            consumer_secret: consumer_secret.to_string(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            token_store: None,
        }
    }

    /// What a kept token is for: the environment's base URL and the consumer key.
    pub fn token_scope(&self) -> String {
        format!("{}|{}", self.environment.base_url(), self.consumer_key)
    }
}

#[derive(Clone)]
struct Token {
    value: String,
    refresh_at: Instant,
    expires_at: SystemTime,
}

impl Token {
    /// A token another process kept: used until `TOKEN_MARGIN` before it expires.
    fn kept((value, expires_at): (String, SystemTime)) -> Option<Token> {
        let left = expires_at.duration_since(SystemTime::now()).ok()?;
        let usable = left.checked_sub(TOKEN_MARGIN)?;
        (!value.is_empty() && !usable.is_zero()).then(|| Token {
            value,
            refresh_at: Instant::now() + usable,
            expires_at,
        })
    }
}

/// How the money reaches the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payee {
    /// `CustomerPayBillOnline`; PartyB = BusinessShortCode.
    Paybill,
    /// `CustomerBuyGoodsOnline`; PartyB = the till number, BusinessShortCode = the store number.
    Till { till_number: String },
}

/// An STK push as the caller states it; the client validates, timestamps and signs it.
#[derive(Clone)]
pub struct StkPush {
    pub shortcode: String,
    pub passkey: String,
    pub payee: Payee,
    /// Whole shillings, 1..=250,000.
    pub amount: u64,
    /// Any accepted phone form; normalised before sending.
    pub phone: String,
    pub callback_url: String,
    pub account_reference: String,
    pub description: String,
}

impl fmt::Debug for StkPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StkPush")
            .field("shortcode", &self.shortcode)
            .field("payee", &self.payee)
            .field("amount", &self.amount)
            .field("phone", &mask(&self.phone))
            .finish_non_exhaustive()
    }
}

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

/// What an STK query says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryStatus {
    /// Still being processed (`4999`, or `500.001.1001` in any of its shapes).
    Pending { code: String, message: String },
    /// A ResultCode: `0` paid, others per `codes::class` (unknown codes are not failures).
    Done {
        result_code: Code,
        result_desc: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C2bVersion {
    V1,
    V2,
}

/// Counters for health screens and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub token_requests: AtomicU64,
    pub requests: AtomicU64,
}

/// A Daraja client. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    cfg: Config,
    token: tokio::sync::Mutex<Option<Token>>,
    stats: Stats,
}

impl Client {
    pub fn new(cfg: Config) -> Result<Client> {
        let base = cfg.environment.base_url();
        reqwest::Url::parse(base)
            .map_err(|_| Error::invalid("base_url", "an http(s) URL", base))?;
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("duka/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::NotSent(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                cfg,
                token: tokio::sync::Mutex::new(None),
                stats: Stats::default(),
            }),
        })
    }

    pub fn environment(&self) -> &Environment {
        &self.inner.cfg.environment
    }

    /// The longest a push can take before `stk_push` returns, by this client's own timeouts:
    /// a token request and the push, then, on an invalid-token answer, a second token request
    /// and a second push (see `post`). Until then an unanswered push may still reach Daraja.
    pub fn push_worst_case(&self) -> Duration {
        self.inner.cfg.request_timeout * 4
    }

    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// When the cached token expires, if there is one.
    pub async fn token_valid_until(&self) -> Option<SystemTime> {
        self.inner.token.lock().await.as_ref().map(|t| t.expires_at)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.cfg.environment.base_url())
    }

    /// A valid access token. Single-flight: concurrent callers wait for one token request.
    pub async fn access_token(&self) -> Result<String> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.value.clone());
        }
        let cfg = &self.inner.cfg;
        if let Some(kept) = cfg
            .token_store
            .as_ref()
            .and_then(|s| s.load(&cfg.token_scope()))
            && let Some(t) = Token::kept(kept)
        {
            let value = t.value.clone();
            *slot = Some(t);
            return Ok(value);
        }
        let fresh = self.fetch_token().await?;
        if let Some(store) = &cfg.token_store {
            store.save(&cfg.token_scope(), &fresh.value, fresh.expires_at);
        }
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    /// Forgets `used` if it is still the cached token (another caller may have refreshed it),
    /// here and in the token store.
    async fn invalidate(&self, used: &str) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value == used) {
            *slot = None;
        }
        let cfg = &self.inner.cfg;
        if let Some(store) = &cfg.token_store {
            store.forget(&cfg.token_scope(), used);
        }
    }

    async fn fetch_token(&self) -> Result<Token> {
        self.inner
            .stats
            .token_requests
            .fetch_add(1, Ordering::Relaxed);
        let cfg = &self.inner.cfg;
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", cfg.consumer_key, cfg.consumer_secret));
        let sent_at = Instant::now();
        let resp = self
            .inner
            .http
            .get(self.url("/oauth/v1/generate?grant_type=client_credentials"))
            .header("Authorization", format!("Basic {basic}"))
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        let (value, secs) = token_answer(status, &body)?;
        let life = Duration::from_secs(secs);
        Ok(Token {
            value,
            refresh_at: sent_at + life.saturating_sub(TOKEN_MARGIN).max(life / 2),
            expires_at: SystemTime::now() + life,
        })
    }

    /// POSTs JSON with a bearer token; on an invalid-token answer refreshes once and retries once.
    async fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<(StatusCode, bytes::Bytes)> {
        let mut retried = false;
        loop {
            // Nothing of the request itself has left yet: a token failure means "not sent".
            let token = self.access_token().await.map_err(|e| match e {
                Error::OutcomeUnknown(m) => Error::NotSent(format!("getting a token: {m}")),
                other => other,
            })?;
            self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            let resp = self
                .inner
                .http
                .post(self.url(path))
                .bearer_auth(&token)
                .json(body)
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(transport)?;
            if status != StatusCode::OK && is_invalid_token(status, &parse_error_body(&bytes)) {
                self.invalidate(&token).await;
                if !retried {
                    retried = true;
                    continue;
                }
            }
            return Ok((status, bytes));
        }
    }

    /// Sends an STK push. One Nairobi timestamp signs the password and fills `Timestamp`.
    pub async fn stk_push(&self, p: &StkPush) -> Result<StkPushResponse> {
        let req = self.stk_push_request(p, chrono::Utc::now())?;
        tracing::debug!(shortcode = %p.shortcode, amount = p.amount, phone = %mask(&p.phone), "stk push");
        let (status, body) = self.post("/mpesa/stkpush/v1/processrequest", &req).await?;
        push_answer(status, &body)
    }

    /// Builds and validates the push body (no network); `now` decides the timestamp.
    pub fn stk_push_request(
        &self,
        p: &StkPush,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<StkPushRequest> {
        let shortcode = shortcode("BusinessShortCode", &p.shortcode)?;
        let amount = validate::amount(p.amount)?;
        let phone = validate::phone("PhoneNumber", &p.phone)?;
        let call_back_url = validate::callback_url(
            "CallBackURL",
            &p.callback_url,
            self.environment().allows_http_callbacks(),
        )?;
        let account_reference = validate::account_reference(&p.account_reference)?;
        let transaction_desc = validate::transaction_desc(&p.description)?;
        if p.passkey.trim().is_empty() {
            return Err(Error::invalid("Passkey", "the Lipa na M-Pesa passkey", ""));
        }
        let (transaction_type, party_b) = match &p.payee {
            Payee::Paybill => (TransactionType::CustomerPayBillOnline, shortcode.clone()),
            Payee::Till { till_number } => (
                TransactionType::CustomerBuyGoodsOnline,
                shortcode_field("PartyB", till_number)?,
            ),
        };
        let timestamp = validate::timestamp(now);
        Ok(StkPushRequest {
            password: validate::password(&shortcode, &p.passkey, &timestamp),
            business_short_code: shortcode,
            timestamp,
            transaction_type,
            amount,
            party_a: phone.clone(),
            party_b,
            phone_number: phone,
            call_back_url,
            account_reference,
            transaction_desc,
        })
    }

    /// Asks Daraja how a push ended. Pending answers (HTTP 500 `500.001.1001`, HTTP 200 `4999`,
    /// HTTP 200 with `errorCode 500.001.1001`) are `Ok(Pending)`; spike arrest is `Err(RateLimited)`.
    pub async fn stk_query(
        &self,
        shortcode_: &str,
        passkey: &str,
        checkout_request_id: &str,
    ) -> Result<QueryStatus> {
        let code = shortcode("BusinessShortCode", shortcode_)?;
        if checkout_request_id.trim().is_empty() {
            return Err(Error::invalid(
                "CheckoutRequestID",
                "the CheckoutRequestID of the push",
                "",
            ));
        }
        let timestamp = validate::timestamp(chrono::Utc::now());
        let req = StkQueryRequest {
            password: validate::password(&code, passkey, &timestamp),
            business_short_code: code,
            timestamp,
            checkout_request_id: checkout_request_id.to_string(),
        };
        let (status, body) = self.post("/mpesa/stkpushquery/v1/query", &req).await?;
        query_answer(status, &body)
    }

    /// Registers C2B confirmation and validation URLs.
    pub async fn register_c2b_urls(
        &self,
        version: C2bVersion,
        req: &RegisterUrlRequest,
    ) -> Result<RegisterUrlResponse> {
        shortcode("ShortCode", &req.short_code)?;
        let http = self.environment().allows_http_callbacks();
        validate::callback_url("ConfirmationURL", &req.confirmation_url, http)?;
        validate::callback_url("ValidationURL", &req.validation_url, http)?;
        let path = match version {
            C2bVersion::V1 => "/mpesa/c2b/v1/registerurl",
            C2bVersion::V2 => "/mpesa/c2b/v2/registerurl",
        };
        let (status, body) = self.post(path, req).await?;
        register_answer(status, &body)
    }

    /// Sandbox only: a customer pays the shortcode directly (drives validation/confirmation).
    pub async fn c2b_simulate(
        &self,
        version: C2bVersion,
        req: &C2bSimulateRequest,
    ) -> Result<AsyncAck> {
        shortcode("ShortCode", &req.short_code)?;
        validate::amount(req.amount)?;
        validate::phone("Msisdn", &req.msisdn)?;
        let path = match version {
            C2bVersion::V1 => "/mpesa/c2b/v1/simulate",
            C2bVersion::V2 => "/mpesa/c2b/v2/simulate",
        };
        let (status, body) = self.post(path, req).await?;
        ack_answer(status, &body)
    }

    /// Asks for a transaction's status; the result arrives later at `ResultURL`.
    pub async fn transaction_status(&self, req: &TransactionStatusRequest) -> Result<AsyncAck> {
        if req.transaction_id.is_none() && req.original_conversation_id.is_none() {
            return Err(Error::invalid(
                "TransactionID",
                "a receipt or an OriginalConversationID",
                "",
            ));
        }
        let http = self.environment().allows_http_callbacks();
        validate::callback_url("ResultURL", &req.result_url, http)?;
        validate::callback_url("QueueTimeOutURL", &req.queue_timeout_url, http)?;
        let (status, body) = self.post("/mpesa/transactionstatus/v1/query", req).await?;
        ack_answer(status, &body)
    }
}

fn shortcode(field: &'static str, s: &str) -> Result<String> {
    shortcode_field(field, s)
}

fn shortcode_field(field: &'static str, s: &str) -> Result<String> {
    let s = s.trim();
    if (5..=7).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(Error::invalid(field, "5 to 7 digits", s))
    }
}

fn parse_ok<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|_| unparseable(status, body))
}

// ---- reading answers: no network, any status and body (fuzzed: `answers`) ----

/// An OAuth answer: the token and its lifetime in seconds.
fn token_answer(status: StatusCode, body: &[u8]) -> Result<(String, u64)> {
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

fn push_answer(status: StatusCode, body: &[u8]) -> Result<StkPushResponse> {
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

fn query_answer(status: StatusCode, body: &[u8]) -> Result<QueryStatus> {
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

fn register_answer(status: StatusCode, body: &[u8]) -> Result<RegisterUrlResponse> {
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
fn ack_answer(status: StatusCode, body: &[u8]) -> Result<AsyncAck> {
    if status != StatusCode::OK {
        return Err(classify(status, parse_error_body(body)));
    }
    parse_ok(status, body)
}

/// How the client reads each Daraja answer, callable without a network: the same functions
/// the client uses, for fuzzing and property tests. `status` is the HTTP status; one no
/// server can send (outside 100–999) is read as an unparseable answer.
#[doc(hidden)]
pub mod answers {
    use super::*;

    fn status(code: u16, body: &[u8]) -> Result<StatusCode> {
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
        status(code, body).is_ok_and(|s| super::is_invalid_token(s, &parse_error_body(body)))
    }
}

/// Reads an error envelope from any body: JSON, empty, HTML. Never fails.
pub fn parse_error_body(body: &[u8]) -> ErrorBody {
    serde_json::from_slice::<ErrorBody>(body).unwrap_or_default()
}

fn is_invalid_token(status: StatusCode, e: &ErrorBody) -> bool {
    status == StatusCode::UNAUTHORIZED
        || matches!(
            e.error_code.as_deref(),
            Some("404.001.03" | "400.003.01" | "401.002.01")
        )
}

fn is_merchant_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("wrong credentials") || m.contains("merchant does not exist")
}

/// Maps a non-success answer to what the caller should do.
fn classify(status: StatusCode, e: ErrorBody) -> Error {
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
        c if c.starts_with("400.008.") || is_invalid_token(status, &e) => Error::Auth {
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

fn unparseable(status: StatusCode, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    // A CheckoutRequestID or a phone number in the body: its digits are hidden.
    let snippet: String = redact_digits(&text).chars().take(120).collect();
    Error::Unparseable {
        status: status.as_u16(),
        snippet,
    }
}

/// Connect failures never reached Daraja; anything after may have.
fn transport(e: reqwest::Error) -> Error {
    if e.is_connect() || e.is_builder() {
        Error::NotSent(e.to_string())
    } else {
        Error::OutcomeUnknown(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, msg: &str) -> ErrorBody {
        ErrorBody {
            request_id: None,
            error_code: Some(code.into()),
            error_message: Some(msg.into()),
        }
    }

    #[test]
    fn error_classes() {
        let s500 = StatusCode::INTERNAL_SERVER_ERROR;
        let e = classify(
            StatusCode::BAD_REQUEST,
            body("400.002.02", "Bad Request - Invalid PhoneNumber"),
        );
        assert_eq!(
            e,
            Error::BadRequest {
                field: Some("PhoneNumber".into()),
                code: "400.002.02".into(),
                message: "Bad Request - Invalid PhoneNumber".into()
            }
        );
        assert_eq!(classify(s500, body("500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber")).code(), "subscriber_locked");
        assert_eq!(
            classify(s500, body("500.001.1001", "Wrong credentials")).code(),
            "merchant_config"
        );
        assert_eq!(
            classify(
                s500,
                body("500.001.1001", "The transaction is being processed")
            )
            .code(),
            "in_progress"
        );
        assert_eq!(
            classify(s500, body("500.003.02", "Spike Arrest Violation")).code(),
            "rate_limited"
        );
        assert_eq!(
            classify(
                StatusCode::NOT_FOUND,
                body("404.001.03", "Invalid Access Token")
            )
            .code(),
            "auth"
        );
        assert_eq!(
            classify(StatusCode::FORBIDDEN, ErrorBody::default()).code(),
            "server_error"
        );
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, ErrorBody::default()).code(),
            "bad_request"
        );
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, ErrorBody::default()).code(),
            "server_error"
        );
    }

    #[test]
    fn error_bodies_never_fail_to_parse() {
        for b in [
            &b""[..],
            b"<html style=\"height:100%\"><head><META NAME=\"ROBOTS\">",
            b"{\"errorCode\":500}",
            b"[1,2]",
            b"\xff\xfe",
        ] {
            let _ = parse_error_body(b);
        }
        assert_eq!(
            parse_error_body(b"{\"errorCode\":500}")
                .error_code
                .as_deref(),
            Some("500")
        );
    }

    #[test]
    fn masks_phones() {
        assert_eq!(mask("0708374149"), "2547****149");
        assert_eq!(mask("garbage"), "****");
    }

    #[test]
    fn long_digit_runs_are_masked_and_receipts_kept() {
        assert_eq!(
            redact_digits("phone 254708374149 paid"),
            "phone 254******149 paid"
        );
        assert_eq!(
            redact_digits("ws_CO_02122026101010123254708374149"),
            "ws_CO_02122026101010123254******149"
        );
        assert_eq!(redact_digits("0708374149"), "0******149");
        assert_eq!(
            redact_digits("receipt QKM0FXE6RK, 12345678 KES"),
            "receipt QKM0FXE6RK, 12345678 KES"
        );
        assert_eq!(redact_digits("é254708374149é"), "é254******149é");
        assert_eq!(redact_digits(""), "");
        assert_eq!(
            redact_digits("attempt=b3f834e123456789263b3bf"),
            "attempt=b3f834e123456789263b3bf",
            "a lowercase hex id is kept whole"
        );
    }

    #[test]
    fn an_unreadable_token_answer_never_shows_its_body() {
        let token = "SECRETTOKENabc123";
        for body in [
            format!(r#"{{"access_token":"{token}","expires_in":"soon"}}"#),
            format!(r#"{{"access_token":"{token}""#),
            format!("<html>{token}</html>"),
        ] {
            let e = answers::token(200, body.as_bytes()).unwrap_err();
            assert_eq!(e.code(), "unparseable");
            assert!(!e.to_string().contains(token), "{e}");
            assert!(!format!("{e:?}").contains(token), "{e:?}");
        }
    }
}
