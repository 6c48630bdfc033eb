//! What a client is built from: the environment, credentials, a token store, the payee.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::mask::mask;

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
pub(super) struct Token {
    pub(super) value: String,
    pub(super) refresh_at: Instant,
    pub(super) expires_at: SystemTime,
}

impl Token {
    /// A token another process kept: used until `TOKEN_MARGIN` before it expires.
    pub(super) fn kept((value, expires_at): (String, SystemTime)) -> Option<Token> {
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
