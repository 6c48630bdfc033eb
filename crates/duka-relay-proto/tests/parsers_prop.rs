//! Property tests of what the relay and the till read from each other and from whoever pastes
//! or posts: pairing strings, websocket frames, URL signatures. None may panic on any input;
//! a pairing string decodes to what was encoded; a frame that parses re-encodes to itself.
//! The same parsers are fuzzed by `fuzz/` (scripts/fuzz.sh).

use base64::Engine;
use duka_relay_proto::{FromTill, Kind, Pairing, ToTill, is_segment, sign, verify};
use proptest::prelude::*;
use serde_json::{Value, json};

fn hex(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9a-f]{{{min},{max}}}")).unwrap()
}

fn pairing() -> impl Strategy<Value = Pairing> {
    (
        "https?://[a-z0-9.-]{1,20}(:[0-9]{1,5})?",
        hex(1, 64),
        hex(1, 64),
        hex(64, 64),
    )
        .prop_map(|(url, shop, till, key)| Pairing {
            url,
            shop,
            till,
            key,
        })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,16}".prop_map(Value::String),
    ]
}

const FIELDS: &[&str] = &[
    "type",
    "nonce",
    "last_seq",
    "seq",
    "kind",
    "attempt_id",
    "body",
    "id",
    "code",
    "message",
    "till",
    "mac",
    "resume_after",
    "result_code",
    "result_desc",
    "epoch",
    "resume_from",
    "proto",
    "url",
    "shop",
    "key",
    "records",
    "sync_seq",
    "upto",
    "done",
    "after",
    "date",
    "tills",
];
const TYPES: &[&str] = &[
    "challenge",
    "ready",
    "message",
    "validate",
    "error",
    "hello",
    "ack",
    "validation",
    "stk",
    "status",
    "c2b_confirm",
    "sync",
    "synced",
    "restore",
    "records",
    "shop_day",
];

/// A JSON object shaped like a frame: a known `type`, known fields, any values.
fn frame_like() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(TYPES),
        proptest::collection::vec(
            (
                proptest::sample::select(FIELDS),
                prop_oneof![
                    scalar(),
                    proptest::sample::select(TYPES).prop_map(Value::from)
                ],
            ),
            0..8,
        ),
    )
        .prop_map(|(t, fields)| {
            let mut m: serde_json::Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            m.insert("type".into(), json!(t));
            Value::Object(m).to_string()
        })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), frame_like()]
}

proptest! {
    #[test]
    fn pairing_strings_round_trip(p in pairing()) {
        prop_assert_eq!(Pairing::decode(&p.encode()).unwrap(), p.clone());
        prop_assert_eq!(Pairing::decode(&format!("  {}\n", p.encode())).unwrap(), p.clone());
        prop_assert_eq!(p.key_bytes().len(), 32);
    }

    #[test]
    fn pairing_decode_never_panics(
        s in prop_oneof![
            any::<String>(),
            any::<String>().prop_map(|s| format!("dukarelay1:{s}")),
            proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| format!("dukarelay1:{}", b64(&b))),
            (".{0,30}", ".{0,70}", ".{0,70}", ".{0,70}").prop_map(|(url, shop, till, key)| {
                format!("dukarelay1:{}", b64(json!({"url": url, "shop": shop, "till": till, "key": key}).to_string().as_bytes()))
            }),
        ]
    ) {
        match Pairing::decode(&s) {
            Ok(p) => {
                prop_assert!(is_segment(&p.shop) && is_segment(&p.till) && p.key.len() == 64);
                prop_assert_eq!(Pairing::decode(&p.encode()).unwrap(), p);
            }
            Err(e) => {
                let shown = e.0.trim_end_matches('…');
                prop_assert!(shown.chars().count() <= 16);
                prop_assert!(s.starts_with(shown));
            }
        }
    }

    #[test]
    fn frames_never_panic_and_reencode_to_themselves(s in text()) {
        if let Ok(f) = serde_json::from_str::<ToTill>(&s) {
            let again = serde_json::to_string(&f).unwrap();
            prop_assert_eq!(serde_json::from_str::<ToTill>(&again).unwrap(), f);
        }
        if let Ok(f) = serde_json::from_str::<FromTill>(&s) {
            let again = serde_json::to_string(&f).unwrap();
            prop_assert_eq!(serde_json::from_str::<FromTill>(&again).unwrap(), f);
        }
    }

    #[test]
    fn signatures_and_segments_never_panic(
        key in proptest::collection::vec(any::<u8>(), 0..64),
        message in any::<String>(),
        sig in prop_oneof![any::<String>(), hex(0, 40)],
    ) {
        let good = sign(&key, &message);
        prop_assert!(is_segment(&good));
        prop_assert!(verify(&key, &message, &good));
        prop_assert_eq!(verify(&key, &message, &sig), sig == good);
        let _ = is_segment(&sig);
        if let Some(k) = Kind::parse(&sig) {
            prop_assert_eq!(k.as_str(), sig.as_str());
        }
    }
}
