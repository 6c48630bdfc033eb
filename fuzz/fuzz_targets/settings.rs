//! Settings values (`duka config set`, the Settings screen, DUKA_* variables) and the other
//! short fields people type: report dates, M-Pesa codes, secret names.
//! The first byte picks the setting (or an arbitrary name); the rest is the value.
#![no_main]

use duka_core::config::{Environment, TillType, check_setting, setting_names};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let names: Vec<&str> = setting_names().collect();
    let (name, value) = match names.get(usize::from(pick)) {
        Some(n) => (n.to_string(), text.to_string()),
        None => match text.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (text.to_string(), String::new()),
        },
    };
    match check_setting(&name, &value) {
        // A stored value is checked again when read: it must pass as it is.
        Ok(v) => assert_eq!(check_setting(&name, &v).unwrap(), v),
        Err(e) => assert_eq!(e.code(), "invalid_input"),
    }
    let _ = Environment::parse(&text);
    let _ = TillType::parse(&text);
    let _ = duka_core::secrets::SecretKey::parse(&text);
    if let Ok(d) = duka_core::time::parse_date(&text, "date") {
        assert_eq!(
            duka_core::time::parse_date(&d.to_string(), "date").unwrap(),
            d
        );
    }
    if let Ok(c) = duka_core::sale::parse_receipt(&text) {
        assert_eq!(duka_core::sale::parse_receipt(&c).unwrap(), c);
    }
});
