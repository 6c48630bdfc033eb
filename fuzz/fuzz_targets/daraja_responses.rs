//! Every answer the Daraja client reads (OAuth, STK push, STK query, C2B register, async
//! acknowledgements, error envelopes), with the client's own code.
//! Input: an optional three-digit HTTP status, then the body (`200{"access_token":…}`);
//! without the digits the status is 200.
#![no_main]

use daraja::client::answers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data.get(..3) {
        Some(d) if d.iter().all(u8::is_ascii_digit) => (
            d.iter().fold(0u16, |n, b| n * 10 + u16::from(b - b'0')),
            &data[3..],
        ),
        _ => (200, data),
    };
    let _ = daraja::client::parse_error_body(body);
    let _ = answers::is_invalid_token(status, body);
    if let Ok((token, _secs)) = answers::token(status, body) {
        assert_eq!(status, 200);
        let _ = token;
    }
    if let Ok(r) = answers::stk_push(status, body) {
        assert!(r.response_code.is_zero());
    }
    match answers::stk_query(status, body) {
        Ok(daraja::QueryStatus::Done { result_code, .. }) => {
            let _ = daraja::codes::lookup(result_code.as_str());
        }
        Ok(daraja::QueryStatus::Pending { .. }) => {}
        Err(e) => {
            let _ = (e.code(), e.to_string());
        }
    }
    let _ = answers::register_c2b(status, body);
    let _ = answers::ack(status, body);
});
