//! The async Daraja client: OAuth with a single-flight token cache, STK push and query, C2B URL
//! registration and Transaction Status.

#[doc(hidden)]
pub mod answers;
mod config;
mod mask;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use reqwest::StatusCode;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::validate;
use crate::wire::*;

pub use answers::parse_error_body;
use answers::*;
pub use config::*;
pub use mask::{mask, mask_checkout, redact_digits};

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
            if status != StatusCode::OK && invalid_token_answer(status, &parse_error_body(&bytes)) {
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

    /// Transaction Reversal: gives the customer back a payment by its receipt. The `"0"`
    /// acknowledgement means only that Daraja queued it; the answer comes to `ResultURL`.
    pub async fn reversal(&self, req: &ReversalRequest) -> Result<AsyncAck> {
        validate::receipt("TransactionID", &req.transaction_id)?;
        if req.amount == 0 {
            return Err(Error::invalid("Amount", "whole shillings above zero", "0"));
        }
        let remarks = req.remarks.chars().count();
        if !(2..=100).contains(&remarks) {
            return Err(Error::invalid(
                "Remarks",
                "2 to 100 characters",
                req.remarks.clone(),
            ));
        }
        shortcode("ReceiverParty", &req.receiver_party)?;
        let http = self.environment().allows_http_callbacks();
        validate::callback_url("ResultURL", &req.result_url, http)?;
        validate::callback_url("QueueTimeOutURL", &req.queue_timeout_url, http)?;
        let (status, body) = self.post("/mpesa/reversal/v1/request", req).await?;
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

#[cfg(test)]
mod tests;
