//! Phone numbers as cashiers type them, and as the Daraja crate normalises them.
#![no_main]

use duka_core::phone::Msisdn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let normalised = daraja::validate::normalize_msisdn(&s);
    let _ = daraja::client::mask(&s);
    match Msisdn::parse(&s) {
        Ok(m) => {
            assert_eq!(normalised.as_deref(), Some(m.as_str()));
            assert_eq!(Msisdn::parse(m.as_str()).unwrap(), m);
            assert_eq!(Msisdn::parse(&m.local()).unwrap(), m);
            assert_eq!(m.masked().len(), 11);
        }
        Err(e) => {
            assert_eq!(e.code(), "invalid_input");
            assert!(normalised.is_none());
        }
    }
});
