//! The simulator's memory: tokens, pushes, locks, registrations, logs. One mutex, never held
//! across an await.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{Datelike, Utc};
use serde::Serialize;

use crate::config::{Behaviour, Faults, SimConfig};

/// SplitMix64: small, fast, and deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
    pub fn hex(&mut self, n: usize) -> String {
        self.chars(b"0123456789abcdef", n)
    }
    pub fn percent(&mut self, pct: u8) -> bool {
        self.below(100) < u64::from(pct)
    }
}

pub const ALNUM_UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Daraja's `errorCode`, or the `ResultCode` of a query answer.
    pub code: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallbackRecord {
    pub checkout_request_id: String,
    pub url: String,
    pub result_code: String,
    /// HTTP status of the receiver, or the transport error.
    pub outcome: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PushState {
    /// The prompt is on the phone.
    Pending,
    Done {
        result_code: String,
        result_desc: String,
        receipt: Option<String>,
        /// Milliseconds since the epoch.
        at_ms: i64,
    },
}

#[derive(Debug, Serialize)]
pub struct Push {
    pub checkout_request_id: String,
    pub merchant_request_id: String,
    pub shortcode: String,
    pub party_b: String,
    pub phone: String,
    pub amount: u64,
    pub account_reference: String,
    pub callback_url: String,
    pub created_ms: i64,
    pub behaviour: Behaviour,
    pub state: PushState,
    #[serde(skip)]
    pub faults: Faults,
    #[serde(skip)]
    pub decided_at: Option<Instant>,
    #[serde(skip)]
    pub decide: Option<tokio::sync::oneshot::Sender<(String, String)>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct C2bRegistration {
    pub shortcode: String,
    pub response_type: String,
    pub confirmation_url: String,
    pub validation_url: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub receipt: String,
    pub checkout_request_id: Option<String>,
    pub amount: u64,
    pub phone: String,
    pub shortcode: String,
    pub at_ms: i64,
}

/// A payment given back by Transaction Reversal.
#[derive(Debug, Clone, Serialize)]
pub struct Reversal {
    /// The receipt reversed.
    pub original: String,
    /// The reversal's own receipt.
    pub receipt: String,
    pub amount: u64,
    pub at_ms: i64,
    /// The ids Daraja gave the request that made it (Transaction Status finds it by either).
    pub originator_conversation_id: String,
    pub conversation_id: String,
}

pub struct State {
    pub rng: Rng,
    pub tokens: HashMap<String, Instant>,
    pub token_requests: u64,
    pub pushes: BTreeMap<String, Push>,
    /// Phone → checkout id of the prompt open on it.
    pub locks: HashMap<String, String>,
    pub log: Vec<LogEntry>,
    pub callbacks: Vec<CallbackRecord>,
    pub faults: Faults,
    pub next_push_faults: Option<Faults>,
    pub c2b: BTreeMap<String, C2bRegistration>,
    pub receipts: BTreeMap<String, Receipt>,
    /// Reversals done, by the receipt reversed.
    pub reversals: BTreeMap<String, Reversal>,
    /// Requests counted in the current second, for spike arrest.
    pub window: (i64, u32),
    pub counter: u64,
}

impl State {
    pub fn new(cfg: &SimConfig) -> State {
        State {
            rng: Rng::new(cfg.seed),
            tokens: HashMap::new(),
            token_requests: 0,
            pushes: BTreeMap::new(),
            locks: HashMap::new(),
            log: Vec::new(),
            callbacks: Vec::new(),
            faults: cfg.faults.clone(),
            next_push_faults: None,
            c2b: BTreeMap::new(),
            receipts: BTreeMap::new(),
            reversals: BTreeMap::new(),
            window: (0, 0),
            counter: 0,
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// `2654-4b64-97ff-b827b542881d3130`
    pub fn merchant_request_id(&mut self) -> String {
        let n = self.next_seq();
        format!(
            "{}-{}-{}-{}{}",
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(12),
            1000 + n
        )
    }

    /// `ws_CO_` + DDMMYYYYHHmmss (Nairobi) + milliseconds + the 9 local digits of the MSISDN.
    pub fn checkout_request_id(&mut self, phone: &str) -> String {
        let now = Utc::now().with_timezone(&chrono_tz::Africa::Nairobi);
        let local = &phone[phone.len().saturating_sub(9)..];
        let mut ms = now.timestamp_subsec_millis() as u64;
        loop {
            let id = format!("ws_CO_{}{ms:03}{local}", now.format("%d%m%Y%H%M%S"));
            if !self.pushes.contains_key(&id) {
                return id;
            }
            ms += 1000; // "not always 3 digits"
        }
    }

    /// A receipt whose first three characters encode the date (year U=2026, month A=Jan, day).
    pub fn receipt(&mut self) -> String {
        let now = Utc::now().with_timezone(&chrono_tz::Africa::Nairobi);
        let year =
            (b'L' as i32 + (now.year() - 2017)).clamp(b'A' as i32, b'Z' as i32) as u8 as char;
        let month = (b'A' + now.month0() as u8) as char;
        let day = now.day();
        let day = if day < 10 {
            char::from(b'0' + day as u8)
        } else {
            char::from(b'A' + (day - 10) as u8)
        };
        loop {
            let r = format!("{year}{month}{day}{}", self.rng.chars(ALNUM_UPPER, 7));
            if !self.receipts.contains_key(&r) {
                return r;
            }
        }
    }

    pub fn request_id(&mut self) -> String {
        format!(
            "{}-{}-{}",
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(24)
        )
    }
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_daraja_shapes_and_are_deterministic() {
        let cfg = SimConfig::default();
        let mut a = State::new(&cfg);
        let mut b = State::new(&cfg);
        assert_eq!(a.merchant_request_id(), b.merchant_request_id());
        let m = a.merchant_request_id();
        let parts: Vec<&str> = m.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!((parts[0].len(), parts[1].len(), parts[2].len()), (4, 4, 4));
        let c = a.checkout_request_id("254708374149");
        assert!(
            c.starts_with("ws_CO_") && c.ends_with("708374149") && c.len() == 6 + 14 + 3 + 9,
            "{c}"
        );
        let r = a.receipt();
        assert_eq!(r.len(), 10);
        assert!(
            r.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{r}"
        );
    }
}
