//! The simulator's configuration. Every field has a default, so a scenario file
//! (`daraja-sim --scenario FILE`, JSON) names only what it changes.

use serde::{Deserialize, Serialize};

/// Safaricom's public sandbox passkey for shortcode 174379 (Daraja's published sandbox values).
pub const SANDBOX_PASSKEY: &str =
    "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    pub consumer_key: String,
    pub consumer_secret: String,
    /// Token lifetime in seconds; Daraja grants 3599.
    pub token_ttl_secs: u64,
    /// Send `expires_in` as a number (current docs) instead of a string (most live answers).
    pub expires_in_as_number: bool,
    /// Issuing a token invalidates the previous ones (the docs' unverified claim).
    pub invalidate_previous_token: bool,
    pub shortcodes: Vec<ShortcodeConfig>,
    /// Seed for every random choice (IDs, receipts, item order, injected faults).
    pub seed: u64,
    /// Length of one scenario "unit" in milliseconds ("pays after 5 units"); 1000 = real seconds.
    pub time_unit_ms: u64,
    /// Units before an unanswered interactive prompt times out with 1037.
    pub prompt_timeout_units: u64,
    /// Customers by phone prefix, checked before the built-in table (first match wins).
    pub phone_rules: Vec<PhoneRule>,
    /// What a phone outside the rules and the scenario table does.
    pub default_behaviour: Behaviour,
    /// Longest `AccountReference` accepted (docs: 12; the sandbox took 15 once).
    pub max_account_reference: usize,
    /// Longest `TransactionDesc` accepted (docs: 13).
    pub max_transaction_desc: usize,
    /// Refuse STK `CallBackURL`s containing "mpesa", "safaricom", "query", … The evidence
    /// conflicts (the Daraja evidence: a first-hand 2026 run had "mpesa" in the path
    /// accepted), so this is off by default; C2B URL registration always refuses them.
    pub stk_callback_banned_words: bool,
    pub faults: Faults,
    pub c2b: C2bConfig,
    /// Initiator name accepted by Transaction Status.
    pub initiator: String,
    /// The initiator's password. Checked only when `initiator_private_key_pem` is set (the
    /// simulator then decrypts the SecurityCredential); otherwise any RSA-2048-sized
    /// credential passes.
    pub initiator_password: String,
    /// PKCS#8 PEM private key matching the certificate clients encrypt with.
    pub initiator_private_key_pem: Option<String>,
    /// What the shortcode's utility account holds, in whole shillings, for reversals
    /// (`None`: always enough). A reversal above it fails with ResultCode `1`.
    pub utility_balance: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            consumer_key: "duka-demo-key".into(),
            consumer_secret: "duka-demo-secret".into(),
            token_ttl_secs: 3599,
            expires_in_as_number: false,
            invalidate_previous_token: false,
            shortcodes: vec![
                ShortcodeConfig {
                    shortcode: "174379".into(),
                    passkey: SANDBOX_PASSKEY.into(),
                    tills: vec![],
                },
                ShortcodeConfig {
                    shortcode: "174380".into(),
                    passkey: SANDBOX_PASSKEY.into(),
                    tills: vec!["5001234".into()],
                },
            ],
            seed: 7,
            time_unit_ms: 1000,
            prompt_timeout_units: 60,
            phone_rules: Vec::new(),
            default_behaviour: Behaviour::Interactive,
            max_account_reference: 12,
            max_transaction_desc: 13,
            stk_callback_banned_words: false,
            faults: Faults::default(),
            c2b: C2bConfig::default(),
            initiator: "testapi".into(),
            initiator_password: "Safaricom999!*!".into(),
            initiator_private_key_pem: None,
            utility_balance: None,
        }
    }
}

/// A shortcode the simulator knows. With `tills` empty it is a PayBill (PartyB = shortcode,
/// `CustomerPayBillOnline`); otherwise it is a store number whose tills take
/// `CustomerBuyGoodsOnline` with PartyB = one of `tills`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShortcodeConfig {
    pub shortcode: String,
    pub passkey: String,
    #[serde(default)]
    pub tills: Vec<String>,
}

/// A scenario rule: phones starting with `prefix` behave as `behaviour`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneRule {
    pub prefix: String,
    pub behaviour: Behaviour,
}

/// What the simulated customer does with a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    /// Waits for the control API (`/sim/prompts/{id}/approve` …), else times out with 1037.
    Interactive,
    /// Enters the PIN after `after_units`: ResultCode 0.
    Pay { after_units: u64 },
    /// Ends with `code` after `after_units` (1032 cancel, 1 no funds, 2001 wrong PIN, …).
    Fail { code: String, after_units: u64 },
    /// Never answers: the query stays pending and no callback is ever sent.
    Silent,
}

/// How callbacks are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackMode {
    /// One POST (the sandbox's observed behaviour).
    #[default]
    Once,
    /// Lost: never sent.
    None,
    /// Sent twice.
    Duplicate,
}

/// Injected faults; globally through the config or `POST /sim/faults`, or for one push
/// through `POST /sim/faults/next-push`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub callback: CallbackMode,
    /// Delay before the callback is sent, in units.
    pub callback_delay_units: u64,
    /// The query keeps answering "pending" for this many units after the result is known
    /// (so the callback arrives before the query knows: out of order).
    pub query_lag_units: u64,
    /// Percentage of queries answered with a spurious HTTP 500 `500.001.1001`.
    pub query_spurious_500_pct: u8,
    /// Requests per second (push + query) above which `500.003.02` Spike Arrest is answered.
    pub spike_arrest_per_sec: Option<u32>,
    /// Extra latency, in milliseconds: a push is acted on first and answered late (the
    /// prompt goes out even if the caller gives up); a query is answered late.
    pub slow_ms: u64,
    /// Accept the push (the prompt reaches the phone) but cut the connection before answering.
    pub drop_push_response: bool,
    /// Answer pushes and queries with a gateway HTML page (HTTP 403).
    pub html_error: bool,
    /// Reversals time out in M-Pesa's queue: the `Result` (ResultType 1) goes to the
    /// QueueTimeOutURL and nothing is reversed.
    pub reversal_queue_timeout: bool,
    /// Reversals are processed but their `Result` is never delivered (Transaction Status by
    /// the request's ConversationID still finds them).
    pub reversal_result_lost: bool,
}

/// How the MSISDN appears in C2B notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsisdnMode {
    /// `2547 ***** 149` (Daraja v2 docs).
    #[default]
    Masked,
    /// SHA-256 hex of `2547XXXXXXXX` (seen from mid-2024).
    Hashed,
    Plain,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct C2bConfig {
    pub msisdn: MsisdnMode,
    /// Whether validation URLs are called (off by default on real Daraja).
    pub external_validation: bool,
    /// How long validation may take before `ResponseType` applies, in milliseconds.
    pub validation_timeout_ms: u64,
    /// Refuse a second registration (`500.003.1001 Urls are already registered`), as production.
    pub register_once: bool,
}

impl Default for C2bConfig {
    fn default() -> Self {
        C2bConfig {
            msisdn: MsisdnMode::Masked,
            external_validation: false,
            validation_timeout_ms: 8000,
            register_once: false,
        }
    }
}

/// The simulated customer for a phone: the configured rules, then the built-in table.
pub fn customer_for(cfg: &SimConfig, phone: &str) -> Behaviour {
    cfg.phone_rules
        .iter()
        .find(|r| phone.starts_with(&r.prefix))
        .map(|r| r.behaviour.clone())
        .unwrap_or_else(|| scenario_for(phone, &cfg.default_behaviour))
}

/// The simulated customers chosen by phone number. Documented in the README.
pub fn scenario_for(phone: &str, default: &Behaviour) -> Behaviour {
    let fail = |code: &str, after_units| Behaviour::Fail {
        code: code.into(),
        after_units,
    };
    match phone {
        "254700000000" => Behaviour::Pay { after_units: 2 },
        "254700000200" => fail("1032", 2),
        "254700000201" => fail("1", 2),
        "254700000202" => fail("2001", 3),
        "254700000203" => fail("1037", 30),
        "254700000204" => fail("1019", 5),
        "254700000205" => Behaviour::Silent,
        "254700000206" => fail("9998", 2),
        // Safaricom's sandbox test number: as observed in 2026, it never answers.
        "254708374149" => fail("1037", 14),
        p if p.starts_with("2547000001") => Behaviour::Pay {
            after_units: p[10..].parse().unwrap_or(2),
        },
        _ => default.clone(),
    }
}
