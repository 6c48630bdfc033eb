//! Amounts as people type them (`duka sale new --price`, the till's fields, CSV cells).
#![no_main]

use duka_core::money::{MAX_CENTS, Money};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    match Money::parse_field(&s, "price") {
        Ok(m) => {
            assert!((0..=MAX_CENTS).contains(&m.cents()));
            // What parses prints as something that parses to the same amount.
            assert_eq!(m.plain().parse::<Money>().unwrap(), m);
            assert_eq!(m.to_string().parse::<Money>().unwrap(), m);
        }
        Err(e) => assert_eq!(e.code(), "invalid_input"),
    }
});
