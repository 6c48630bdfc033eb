//! C2B validation and confirmation bodies (Daraja → relay → till), read as the till reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = daraja::wire::parse_c2b(data) {
        // Validation: the till accepts a whole positive amount.
        let amount = p.amount();
        // Confirmation: the inbox needs a receipt and an amount in shillings.
        if let Some(id) = p.trans_id.as_deref() {
            let _ = duka_core::sale::parse_receipt(id);
        }
        if let Some(a) = amount.filter(|a| *a > 0) {
            let _ = duka_core::Money::from_shillings(a as i64);
        }
        let _ = serde_json::to_string(&p).expect("a parsed payload serialises");
    }
});
