//! Websocket frames between the relay and the till (each side reads the other's), and the
//! signed path segments the relay checks on every callback.
#![no_main]

use duka_relay_proto::{FromTill, Kind, ToTill};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        // The relay refuses non-UTF-8 bodies and text frames are UTF-8 by construction.
        let _ = serde_json::from_slice::<ToTill>(data);
        let _ = serde_json::from_slice::<FromTill>(data);
        return;
    };
    if let Ok(f) = serde_json::from_str::<ToTill>(text) {
        let again = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<ToTill>(&again).unwrap(), f);
    }
    if let Ok(f) = serde_json::from_str::<FromTill>(text) {
        let again = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<FromTill>(&again).unwrap(), f);
    }
    // A callback path: till / attempt / sig, checked with a key the path does not know.
    let mut parts = text.splitn(3, '/');
    let (till, attempt, sig) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if duka_relay_proto::is_segment(till) && duka_relay_proto::is_segment(sig) {
        let _ = duka_relay_proto::verify(till.as_bytes(), attempt, sig);
    }
    if let Some(k) = Kind::parse(text) {
        assert_eq!(k.as_str(), text);
    }
    // The expiry segment of a callback URL: what parses prints back the same.
    if let Some(exp) = duka_relay_proto::parse_exp(text) {
        assert_eq!(duka_relay_proto::exp_segment(exp), text.trim_start_matches('0').max("0"));
        let _ = duka_relay_proto::exp_valid(text, exp);
    }
    // A claimed notice, and the claim fields the relay checks.
    if let Ok(c) = serde_json::from_str::<duka_relay_proto::Claimed>(text) {
        let _ = duka_relay_proto::is_claim_key(&c.key) && duka_relay_proto::is_claim_sale(&c.sale);
    }
});
