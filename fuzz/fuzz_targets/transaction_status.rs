//! Transaction Status results (Daraja's async Result, via the relay or the till's URL).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = daraja::wire::parse_result(data) {
        let _ = (r.receipt(), r.parameter("Amount"), r.result_code.is_zero());
        let _ = duka_core::payment::classify(r.result_code.as_str());
        // The engine finds its attempt by the Occasion reference item.
        let _ = r
            .reference_data
            .as_ref()
            .and_then(|d| {
                d.reference_item
                    .as_slice()
                    .iter()
                    .find(|kv| kv.key == "Occasion")
                    .and_then(|kv| kv.value.as_ref())
            })
            .and_then(daraja::wire::value_string);
        let _ = serde_json::to_string(&r).expect("a parsed result serialises");
    }
});
