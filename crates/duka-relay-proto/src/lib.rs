//! # duka-relay-proto
//!
//! What the relay and the till must agree on, with no server code: the signatures in callback
//! URLs, the pairing string, and the websocket frames. Both `duka-relay` and `duka-core`
//! depend on this crate; the till never pulls in the server.
//!
//! ## URLs (all path segments lowercase hex, so Daraja's URL rules hold)
//! - STK callback: `{relay}/v1/cb/{till}/{attempt}/{exp}/{sig}`,
//!   `sig = sign(key, "stk|" + attempt + "|" + exp)`; `exp` is the Unix second (hex) after which
//!   the relay refuses the URL (`URL_VALIDITY` after the push).
//! - Transaction Status result: `{relay}/v1/status/{till}/{attempt}/{exp}/{sig}`, `"status|"`.
//! - C2B (per shop, registered once, so not expiring): `{relay}/v1/c2b/{shop}/{sig}/confirm`
//!   and `/validate`, `"c2b|" + shop` signed with the shop's key.
//!
//! ## Websocket `/v1/ws` (protocol `PROTOCOL`)
//! relay → `Challenge{nonce}`; till → `Hello{till, mac = sign(key, "ws|" + nonce), proto,
//! resume_after, epoch}`; relay → `Ready{last_seq, epoch, resume_from}` then
//! `Message{seq, kind, attempt_id, body}` frames in `seq` order; till → `Ack{seq}` after its own
//! commit. `epoch` names one run of a till's message numbering on the relay: when the till's
//! watermark is not from the relay's epoch, or is above the relay's `last_seq` (a restored
//! backup, a new relay, a re-pairing race), the relay acknowledges nothing on the till's word,
//! moves its numbering past the watermark and replays everything it holds (`resume_from` 0);
//! the till applies idempotently. An older till (no `proto`) is refused with `Error{code:
//! "till_outdated"}`. C2B validation: relay → `Validate{id, body}`, till →
//! `Validation{id, result_code, result_desc}` (within Daraja's 8 s). The till pings; a
//! connection with nothing read for a while is dead (see the till's relay client).
//!
//! ## Versions
//! `Hello.proto` and `Ready.proto` carry each side's `PROTOCOL`; see [`protocol_mismatch`]
//! for who refuses whom. A refusal is an `Error{code, message}` frame naming both versions.
//!
//! ## Sync (protocol 4)
//! A till sends its own records — every change to its sales, tenders, M-Pesa requests,
//! refunds, shifts, drawer and stock, written to its outbox in the change's own transaction —
//! as `Sync{records}` in `seq` order; the relay commits them (keeping the latest version of each
//! `(table, pk)`, replays idempotent) and only then answers `Synced{seq}`; the till deletes what
//! was acknowledged and resends the rest after a reconnect. `Ready.sync_seq` tells the till
//! where the relay stands. A till also syncs its own figures of each day it changed
//! (`table = "day"`): a manager's `ShopDay{id, date}` is answered with every till's latest
//! figures, so the shop's day adds up exactly the tills' own. A replacement till (a new PC
//! paired as the old till) sends `Restore{after}` and gets its records back page by page
//! (`Records{records, upto, done, sync_seq}`), then numbers its changes after `sync_seq`.
//!
//! ## Shop-wide claims (protocol 3)
//! An M-Pesa receipt (a C2B TransID, a code typed from the SMS) pays one sale in the whole
//! shop. Before a till attaches one it sends `Claim{id, key, sale, amount_cents}`; the relay
//! commits the first claim of `(shop, key)` and only then answers `ClaimResult{id, key, won,
//! till, till_name, sale}` (the winner's till and sale; a till's own earlier claim is its own
//! and moves to the new sale). A new claim is also stored as a `claimed` message (body
//! `Claimed`) for every other till of the shop, so each learns the receipt is taken. A till
//! that could not reach the relay attaches provisionally and sends the claim when it connects;
//! a lost race comes back as `won: false`. A till that won a claim but could not use the
//! receipt after all sends `Release{key, sale}`; the others get a `claimed` notice with
//! `released: true`.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Length of a URL signature in hex characters (128 bits).
pub const SIG_HEX: usize = 32;

/// `hex(HMAC-SHA256(key, message))[..32]`.
pub fn sign(key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    let full = hex::encode(mac.finalize().into_bytes());
    full[..SIG_HEX].to_string()
}

/// Constant-time check of a signature.
pub fn verify(key: &[u8], message: &str, sig: &str) -> bool {
    let want = sign(key, message);
    want.len() == sig.len()
        && want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// What the websocket speaks. Each side refuses a peer outside what it understands with a
/// clear message (never a misread frame): the relay refuses a till below `MIN_PROTOCOL`
/// (`till_outdated`) or above `PROTOCOL` (`relay_outdated`), and says its own protocol in
/// `Ready`; a till refuses a relay below `MIN_PROTOCOL` (a relay before version 4 says none).
pub const PROTOCOL: u32 = 4;

/// The oldest protocol either side still speaks to.
pub const MIN_PROTOCOL: u32 = 4;

/// Why a peer of protocol `theirs` cannot be spoken to, from the side of protocol `PROTOCOL`
/// (`None`: it can). The code is `till_outdated` or `relay_outdated`.
pub fn protocol_mismatch(till: u32, relay: u32) -> Option<(&'static str, String)> {
    if till < MIN_PROTOCOL {
        return Some((
            "till_outdated",
            format!(
                "the relay speaks protocol {relay} and this till {till}: update Duka on this till"
            ),
        ));
    }
    if relay < MIN_PROTOCOL || till > relay {
        return Some((
            "relay_outdated",
            format!(
                "the till speaks protocol {till} and the relay {relay}: ask the relay's operator to update duka-relay"
            ),
        ));
    }
    None
}

/// One record of a till's own (a row of one of its tables, or its figures of a day), as it
/// syncs them to the relay: the relay keeps the latest version of each `(table, pk)` (the one
/// with the highest `seq`), for shop-wide views and for restoring a replaced till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The till's own numbering of its changes: rising, never reused.
    pub seq: u64,
    pub table: String,
    /// The record's key within its table (JSON array text).
    pub pk: String,
    /// JSON object text; `None`: the record was deleted.
    pub body: Option<String>,
    /// When the till made the change (UTC ms).
    pub at: i64,
}

/// Largest record body the relay keeps, in bytes (a frame of one such record stays under the
/// websocket's 1 MiB message limit).
pub const MAX_RECORD_BODY: usize = 768 * 1024;

/// Highest record `seq` either side accepts: 2^53, exact in every JSON reader. A position
/// above it is a forgery, never a till's count of its changes.
pub const MAX_RECORD_SEQ: u64 = 1 << 53;

impl Record {
    /// Whether the record is well formed: a table name of 1–32 `a-z`, `0-9` or `_`, a key of
    /// 1–256 characters, a body of at most `MAX_RECORD_BODY` bytes that is a JSON object's
    /// text, no NUL character anywhere (PostgreSQL refuses it in text), and a seq from 1 to
    /// `MAX_RECORD_SEQ`.
    pub fn is_valid(&self) -> bool {
        (1..=32).contains(&self.table.len())
            && self
                .table
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && (1..=256).contains(&self.pk.len())
            && !self.pk.contains('\0')
            && self.body.as_ref().is_none_or(|b| {
                b.len() <= MAX_RECORD_BODY
                    && b.starts_with('{')
                    && b.ends_with('}')
                    && !b.contains('\0')
            })
            && (1..=MAX_RECORD_SEQ).contains(&self.seq)
    }
}

/// The record table naming a till database's history (key `[]`, body `{"id": …}`), sent
/// first in every full sync; `Ready.history` says which history the relay holds.
pub const HISTORY_TABLE: &str = "history";

/// The record table of a till's figures of one day (key `["YYYY-MM-DD"]`).
pub const DAY_TABLE: &str = "day";

/// A calendar day as the protocol writes it: `YYYY-MM-DD`.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// One till of a shop in a shop-wide answer: its name and the latest figures it synced for the
/// day asked (none when it synced nothing of that day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TillDay {
    pub till: String,
    pub name: String,
    /// When the relay got the figures (UTC ms).
    pub synced_at: Option<i64>,
    /// The till's `day` record (JSON text).
    pub body: Option<String>,
}

/// A claim key: an M-Pesa receipt as the till normalised it (1–32 of `A-Z`, `0-9`).
pub fn is_claim_key(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// A till's sale id in a claim: 1–20 ASCII digits.
pub fn is_claim_sale(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The body of a `claimed` message: another till of the shop took this receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimed {
    pub key: String,
    pub till: String,
    pub till_name: String,
    pub sale: String,
    /// The till gave the receipt back (`FromTill::Release`): it is free again.
    #[serde(default)]
    pub released: bool,
}

/// How long a callback or result URL is accepted after it was made: Daraja calls back within
/// seconds or minutes of a push, so a day covers every retry and late delivery.
pub const URL_VALIDITY_SECS: u64 = 24 * 3600;

pub fn stk_message(attempt: &str, exp: &str) -> String {
    format!("stk|{attempt}|{exp}")
}
pub fn status_message(attempt: &str, exp: &str) -> String {
    format!("status|{attempt}|{exp}")
}
pub fn reversal_message(refund: &str, exp: &str) -> String {
    format!("reversal|{refund}|{exp}")
}
pub fn c2b_message(shop: &str) -> String {
    format!("c2b|{shop}")
}
pub fn ws_message(nonce: &str) -> String {
    format!("ws|{nonce}")
}

/// An id or signature segment: 1–64 lowercase hex characters.
pub fn is_segment(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The expiry segment: a Unix second in lowercase hex.
pub fn exp_segment(expires_at: u64) -> String {
    format!("{expires_at:x}")
}

/// Reads an expiry segment; `None` for anything that is not 1–16 lowercase hex digits.
pub fn parse_exp(segment: &str) -> Option<u64> {
    if segment.len() > 16 || !is_segment(segment) {
        return None;
    }
    u64::from_str_radix(segment, 16).ok()
}

/// Whether an expiry segment is well formed and not past `now` (Unix seconds).
pub fn exp_valid(segment: &str, now: u64) -> bool {
    parse_exp(segment).is_some_and(|exp| now <= exp)
}

/// Whether an expiry segment is well formed and not past (now).
pub fn exp_valid_now(segment: &str) -> bool {
    exp_valid(segment, unix_now())
}

/// The STK callback URL for an attempt, valid for `URL_VALIDITY_SECS` from now.
pub fn stk_callback_url(relay: &str, till: &str, key: &[u8], attempt: &str) -> String {
    stk_callback_url_until(relay, till, key, attempt, unix_now() + URL_VALIDITY_SECS)
}

pub fn stk_callback_url_until(
    relay: &str,
    till: &str,
    key: &[u8],
    attempt: &str,
    expires_at: u64,
) -> String {
    let exp = exp_segment(expires_at);
    format!(
        "{}/v1/cb/{till}/{attempt}/{exp}/{}",
        relay.trim_end_matches('/'),
        sign(key, &stk_message(attempt, &exp))
    )
}

/// The Transaction Status result URL for an attempt, valid for `URL_VALIDITY_SECS` from now.
pub fn status_result_url(relay: &str, till: &str, key: &[u8], attempt: &str) -> String {
    let exp = exp_segment(unix_now() + URL_VALIDITY_SECS);
    format!(
        "{}/v1/status/{till}/{attempt}/{exp}/{}",
        relay.trim_end_matches('/'),
        sign(key, &status_message(attempt, &exp))
    )
}

/// The Transaction Reversal result URL for a refund, valid for `URL_VALIDITY_SECS` from now.
pub fn reversal_result_url(relay: &str, till: &str, key: &[u8], refund: &str) -> String {
    let exp = exp_segment(unix_now() + URL_VALIDITY_SECS);
    format!(
        "{}/v1/reversal/{till}/{refund}/{exp}/{}",
        relay.trim_end_matches('/'),
        sign(key, &reversal_message(refund, &exp))
    )
}

pub fn c2b_urls(relay: &str, shop: &str, shop_key: &[u8]) -> (String, String) {
    let base = format!(
        "{}/v1/c2b/{shop}/{}",
        relay.trim_end_matches('/'),
        sign(shop_key, &c2b_message(shop))
    );
    (format!("{base}/confirm"), format!("{base}/validate"))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("pairing: expected the string `duka-relay till add` printed (dukarelay1:…), got {0}")]
pub struct BadPairing(pub String);

/// What a till needs to talk to its relay, as one string to paste.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairing {
    /// The relay's public base URL, e.g. `https://relay.example.com`.
    pub url: String,
    pub shop: String,
    pub till: String,
    /// 32 bytes, hex.
    pub key: String,
}

const PAIRING_PREFIX: &str = "dukarelay1:";

impl Pairing {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("serialisable");
        format!(
            "{PAIRING_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        )
    }

    pub fn decode(s: &str) -> Result<Pairing, BadPairing> {
        // The first 16 characters (not bytes: a byte cut may split a character).
        let what = || {
            let mut shown: String = s.chars().take(16).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            BadPairing(shown)
        };
        let b64 = s.trim().strip_prefix(PAIRING_PREFIX).ok_or_else(what)?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| what())?;
        let p: Pairing = serde_json::from_slice(&json).map_err(|_| what())?;
        let key_ok = p.key.len() == 64 && is_segment(&p.key);
        let url_ok = p.url.starts_with("https://") || p.url.starts_with("http://");
        if !key_ok || !url_ok || !is_segment(&p.till) || !is_segment(&p.shop) {
            return Err(what());
        }
        Ok(p)
    }

    pub fn key_bytes(&self) -> Vec<u8> {
        hex::decode(&self.key).unwrap_or_default()
    }
}

/// What a stored message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An STK callback for `attempt_id`.
    Stk,
    /// A Transaction Status result (or timeout) for `attempt_id`.
    Status,
    /// A Transaction Reversal result (or queue timeout) for the refund in `attempt_id`.
    Reversal,
    /// A C2B confirmation (fanned out to every till of the shop).
    C2bConfirm,
    /// Another till of the shop claimed a receipt (body: `Claimed`).
    Claimed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Stk => "stk",
            Kind::Status => "status",
            Kind::Reversal => "reversal",
            Kind::C2bConfirm => "c2b_confirm",
            Kind::Claimed => "claimed",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "stk" => Kind::Stk,
            "status" => Kind::Status,
            "reversal" => Kind::Reversal,
            "c2b_confirm" => Kind::C2bConfirm,
            "claimed" => Kind::Claimed,
            _ => return None,
        })
    }
}

/// Relay → till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToTill {
    Challenge {
        nonce: String,
    },
    Ready {
        last_seq: u64,
        /// The relay's numbering run for this till (see the module docs).
        epoch: String,
        /// Messages after this seq follow; below the till's watermark means "re-sync".
        resume_from: u64,
        /// The protocol the relay speaks (absent before protocol 4: the till refuses it).
        #[serde(default)]
        proto: u32,
        /// The highest record `seq` of this till the relay has committed (see "Sync").
        #[serde(default)]
        sync_seq: u64,
        /// The history the relay holds for this till (its `history` record), if any.
        #[serde(default)]
        history: Option<String>,
    },
    /// The relay committed the till's records up to `seq` (after a `FromTill::Sync`).
    Synced {
        seq: u64,
    },
    /// A page of this till's records for a restore (after `FromTill::Restore`), in the
    /// relay's order; `upto` is where the next page starts; `done` with the last page.
    Records {
        records: Vec<Record>,
        upto: u64,
        done: bool,
        sync_seq: u64,
    },
    /// The answer to `FromTill::ShopDay`: every till of the shop with its figures of `date`.
    ShopDay {
        id: String,
        date: String,
        tills: Vec<TillDay>,
    },
    Message {
        seq: u64,
        kind: Kind,
        attempt_id: Option<String>,
        body: String,
    },
    Validate {
        id: String,
        body: String,
    },
    /// The relay's answer to `FromTill::Claim`, sent after its commit.
    ClaimResult {
        id: String,
        key: String,
        /// The claim is this till's (now for `sale`).
        won: bool,
        /// The till and sale the receipt belongs to.
        till: String,
        till_name: String,
        sale: String,
    },
    Error {
        code: String,
        message: String,
    },
}

/// Till → relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromTill {
    Hello {
        till: String,
        mac: String,
        /// The protocol the till speaks (`PROTOCOL`); absent from tills before it.
        #[serde(default)]
        proto: u32,
        resume_after: u64,
        /// The relay epoch `resume_after` belongs to (`None`: never connected).
        #[serde(default)]
        epoch: Option<String>,
        /// A connection for questions only (a restore, the shop's day or a one-off sync from
        /// the command line):
        /// not the till's session, so it replaces none and nothing is delivered to it.
        #[serde(default)]
        query: bool,
    },
    Ack {
        seq: u64,
    },
    Validation {
        id: String,
        result_code: String,
        result_desc: String,
    },
    /// This till gives back a receipt the relay gave it for `sale` but that it could not use
    /// after all (the sale changed meanwhile): the other tills are told it is free again.
    Release {
        key: String,
        sale: String,
    },
    /// This till wants receipt `key` for its sale `sale` (see "Shop-wide claims").
    Claim {
        id: String,
        key: String,
        sale: String,
        #[serde(default)]
        amount_cents: Option<i64>,
    },
    /// This till's changes, in `seq` order (see "Sync").
    Sync {
        records: Vec<Record>,
    },
    /// A replacement till asks for its records after the relay position `after`.
    Restore {
        after: u64,
    },
    /// A manager's till asks for the shop's day: every till's own figures of `date`.
    ShopDay {
        id: String,
        date: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_lowercase_hex_and_key_bound() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let s = sign(&k1, &stk_message("abc", "1f"));
        assert_eq!(s.len(), SIG_HEX);
        assert!(is_segment(&s));
        assert!(verify(&k1, &stk_message("abc", "1f"), &s));
        assert!(
            !verify(&k2, &stk_message("abc", "1f"), &s),
            "another till's key"
        );
        assert!(
            !verify(&k1, &stk_message("abd", "1f"), &s),
            "another attempt"
        );
        assert!(
            !verify(&k1, &stk_message("abc", "20"), &s),
            "another expiry"
        );
        assert!(
            !verify(&k1, &status_message("abc", "1f"), &s),
            "another kind"
        );
        assert!(!verify(&k1, &stk_message("abc", "1f"), &s[..31]));
        let url = stk_callback_url("https://relay.example.com/", "0a1b", &k1, "ff00");
        assert!(url.starts_with("https://relay.example.com/v1/cb/0a1b/ff00/"));
        let exp = url.split('/').nth(7).unwrap();
        assert!(exp_valid_now(exp), "{url}");
        assert!(
            !exp_valid(exp, parse_exp(exp).unwrap() + 1),
            "expired a second later"
        );
        for bad in ["", "G1", "1F", "-1", "12345678901234567", "é"] {
            assert_eq!(parse_exp(bad), None, "{bad}");
        }
        let lower = url.to_ascii_lowercase();
        for banned in ["mpesa", "safaricom", "query", "sql", "exe", "cmd"] {
            assert!(!lower.contains(banned));
        }
    }

    #[test]
    fn pairing_round_trips_and_refuses_garbage() {
        let p = Pairing {
            url: "https://relay.example.com".into(),
            shop: "5a0b".into(),
            till: "0a1b2c".into(),
            key: "ab".repeat(32),
        };
        let s = p.encode();
        assert!(s.starts_with("dukarelay1:"));
        assert_eq!(Pairing::decode(&s).unwrap(), p);
        assert_eq!(p.key_bytes().len(), 32);
        for bad in [
            "",
            "dukarelay1:",
            "dukarelay1:!!!!",
            "hello",
            &s.replace("dukarelay1:", "dukarelay2:"),
        ] {
            assert!(Pairing::decode(bad).is_err(), "{bad}");
        }
        let short = Pairing {
            key: "ab".into(),
            ..p
        };
        assert!(Pairing::decode(&short.encode()).is_err());
    }

    #[test]
    fn a_long_non_ascii_pairing_string_is_an_error_not_a_panic() {
        // The 16th byte falls inside a two-byte "é" (11 ASCII bytes, then 2 per "é").
        for bad in [
            format!("dukarelay1:{}", "é".repeat(20)),
            format!("duka1:{}", "é".repeat(20)),
            format!("x{}", "€".repeat(20)),
            "🦀".repeat(20),
        ] {
            let err = Pairing::decode(&bad).unwrap_err();
            assert!(err.0.ends_with('…'), "long input is shortened: {err}");
            assert!(bad.starts_with(err.0.trim_end_matches('…')), "{err}");
        }
        let short = Pairing::decode("é").unwrap_err();
        assert_eq!(short.0, "é");
    }

    #[test]
    fn versions_refuse_each_other_by_name_and_records_are_checked() {
        assert_eq!(protocol_mismatch(PROTOCOL, PROTOCOL), None);
        // A relay newer than the till speaks down to it; a till newer than the relay is refused.
        assert_eq!(protocol_mismatch(PROTOCOL, PROTOCOL + 1), None);
        let (code, msg) = protocol_mismatch(PROTOCOL + 1, PROTOCOL).unwrap();
        assert_eq!(code, "relay_outdated");
        assert!(
            msg.contains(&PROTOCOL.to_string()) && msg.contains("relay"),
            "{msg}"
        );
        assert_eq!(protocol_mismatch(3, PROTOCOL).unwrap().0, "till_outdated");
        assert_eq!(protocol_mismatch(0, PROTOCOL).unwrap().0, "till_outdated");
        // A relay before protocol 4 says none in Ready (0).
        assert_eq!(protocol_mismatch(PROTOCOL, 0).unwrap().0, "relay_outdated");
        let old_ready = r#"{"type":"ready","last_seq":3,"epoch":"ab","resume_from":3}"#;
        match serde_json::from_str::<ToTill>(old_ready).unwrap() {
            ToTill::Ready {
                proto, sync_seq, ..
            } => assert_eq!((proto, sync_seq), (0, 0)),
            other => panic!("{other:?}"),
        }

        let r = Record {
            seq: 1,
            table: "sales".into(),
            pk: "[1]".into(),
            body: Some("{}".into()),
            at: 0,
        };
        assert!(r.is_valid());
        assert!(
            Record {
                table: "c2b_payments".into(),
                ..r.clone()
            }
            .is_valid()
        );
        for bad in [
            Record {
                seq: 0,
                ..r.clone()
            },
            Record {
                table: "".into(),
                ..r.clone()
            },
            Record {
                table: "Sales".into(),
                ..r.clone()
            },
            Record {
                table: "sales; drop".into(),
                ..r.clone()
            },
            Record {
                table: "a".repeat(33),
                ..r.clone()
            },
            Record {
                pk: "".into(),
                ..r.clone()
            },
            Record {
                pk: "1".repeat(257),
                ..r.clone()
            },
            Record {
                body: Some(format!("{{{}}}", "x".repeat(MAX_RECORD_BODY))),
                ..r.clone()
            },
            Record {
                body: Some("[1]".into()),
                ..r.clone()
            },
            Record {
                body: Some("{\"a\":\"\u{0}\"}".into()),
                ..r.clone()
            },
            Record {
                pk: "[\"\u{0}\"]".into(),
                ..r.clone()
            },
            Record {
                seq: MAX_RECORD_SEQ + 1,
                ..r.clone()
            },
            Record {
                seq: u64::MAX,
                ..r.clone()
            },
        ] {
            assert!(!bad.is_valid(), "{bad:?}");
        }
        assert!(
            Record {
                body: None,
                ..r.clone()
            }
            .is_valid(),
            "a deletion"
        );
        assert!(is_date("2026-12-03"));
        for bad in [
            "",
            "2026-1-03",
            "2026/12/03",
            "2026-12-0x",
            "20261203xx",
            "２０２６-12-03",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        let f = FromTill::Sync { records: vec![r] };
        let j = serde_json::to_string(&f).unwrap();
        assert!(j.contains("\"type\":\"sync\""), "{j}");
        assert_eq!(serde_json::from_str::<FromTill>(&j).unwrap(), f);
    }

    #[test]
    fn frames_are_tagged_json() {
        let f = ToTill::Message {
            seq: 3,
            kind: Kind::Stk,
            attempt_id: Some("ab".into()),
            body: "{}".into(),
        };
        let j = serde_json::to_string(&f).unwrap();
        assert!(j.contains("\"type\":\"message\"") && j.contains("\"kind\":\"stk\""));
        assert_eq!(serde_json::from_str::<ToTill>(&j).unwrap(), f);
        assert!(serde_json::from_str::<FromTill>("{\"type\":\"ack\"}").is_err());
    }
}
