//! The pairing string a manager pastes (`duka relay pair`, the Settings screen), and the
//! websocket URL the till derives from it. The first byte chooses: 0 the input as typed,
//! 1 the rest base64-encoded behind the prefix (so the JSON inside is fuzzed too).
#![no_main]

use base64::Engine;
use duka_relay_proto::Pairing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let s = if mode & 1 == 1 {
        format!(
            "dukarelay1:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rest)
        )
    } else {
        String::from_utf8_lossy(rest).into_owned()
    };
    match Pairing::decode(&s) {
        Ok(p) => {
            assert_eq!(Pairing::decode(&p.encode()).unwrap(), p);
            assert_eq!(p.key_bytes().len(), 32);
            let _ = duka_core::relay::ws_url(&p.url);
        }
        Err(e) => {
            let shown = e.0.trim_end_matches('…');
            assert!(s.starts_with(shown));
        }
    }
    let _ = duka_core::relay::ws_url(&s);
});
