//! STK callbacks (POSTed by Daraja to the till or the relay; anyone can post).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cb) = daraja::wire::parse_stk_callback(data) {
        let _ = (cb.amount(), cb.receipt(), cb.transaction_date(), cb.phone());
        let _ = cb.result_code.is_zero();
        let _ = daraja::codes::lookup(cb.result_code.as_str());
        let _ = duka_core::payment::classify(cb.result_code.as_str());
        let _ = daraja::client::mask(&cb.phone().unwrap_or_default());
        // The engine stores a flagged callback as JSON.
        let v = serde_json::to_value(&cb).expect("a parsed callback serialises");
        let _ = v.to_string();
    }
});
