//! Golden fixtures: Daraja's sample bodies (`fixtures/`, as Daraja documents and sends them;
//! see `docs/daraja.md` at the repository root), parsed by the client's types.

use daraja::wire::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn oauth_expires_in_as_string_or_number() {
    for f in ["oauth_token.json", "oauth_token_number.json"] {
        let t: TokenResponse = serde_json::from_slice(&fixture(f)).unwrap();
        assert_eq!(t.access_token.len(), 28);
        assert_eq!(t.expires_in_secs(), Some(3599), "{f}");
    }
}

#[test]
fn push_request_sample_reads_mixed_types() {
    let v: serde_json::Value = serde_json::from_slice(&fixture("stk_push_request.json")).unwrap();
    let pw = daraja::validate::password(
        "174379",
        "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
        "20210628092408",
    );
    assert_eq!(v["Password"], pw);
    assert!(v["BusinessShortCode"].is_number() && v["Amount"].is_string());
}

#[test]
fn push_response_and_error_envelope() {
    let r: StkPushResponse = serde_json::from_slice(&fixture("stk_push_response.json")).unwrap();
    assert!(r.response_code.is_zero());
    assert!(r.checkout_request_id.starts_with("ws_CO_"));
    let e: ErrorBody = serde_json::from_slice(&fixture("error_envelope.json")).unwrap();
    assert_eq!(e.error_code.as_deref(), Some("400.002.02"));
}

#[test]
fn callbacks_read_items_by_name() {
    for f in [
        "stk_callback_success.json",
        "stk_callback_success_balance.json",
    ] {
        let cb = parse_stk_callback(&fixture(f)).unwrap();
        assert!(cb.result_code.is_zero());
        assert_eq!(cb.amount(), Some(1), "{f}");
        assert_eq!(cb.receipt().as_deref(), Some("NLJ7RT61SV"));
        assert_eq!(cb.transaction_date(), Some(20191219102115));
        assert_eq!(cb.phone().as_deref(), Some("254708374149"));
    }
    let cb = parse_stk_callback(&fixture("stk_callback_cancelled.json")).unwrap();
    assert_eq!(cb.result_code.as_str(), "1032");
    assert!(cb.callback_metadata.is_none());
    assert_eq!(cb.receipt(), None);
}

#[test]
fn query_answers() {
    let q: StkQueryResponse = serde_json::from_slice(&fixture("stk_query_completed.json")).unwrap();
    assert_eq!(q.result_code.unwrap().as_str(), "0");
    let q: StkQueryResponse =
        serde_json::from_slice(&fixture("stk_query_pending_4999.json")).unwrap();
    assert_eq!(q.result_code.unwrap().as_str(), "4999");
    let e: ErrorBody = serde_json::from_slice(&fixture("stk_query_pending_500.json")).unwrap();
    assert_eq!(e.error_code.as_deref(), Some("500.001.1001"));
}

#[test]
fn c2b_and_status() {
    let r: RegisterUrlResponse =
        serde_json::from_slice(&fixture("c2b_register_response.json")).unwrap();
    assert_eq!(
        r.originator_conversation_id.as_deref(),
        Some("7619-37765134-1")
    );
    let p = parse_c2b(&fixture("c2b_confirmation.json")).unwrap();
    assert_eq!(p.amount(), Some(10));
    assert_eq!(p.trans_id.as_deref(), Some("RKTQDM7W6S"));
    let a: AsyncAck = serde_json::from_slice(&fixture("transaction_status_ack.json")).unwrap();
    assert_eq!(
        a.conversation_id.as_deref(),
        Some("AG_20210709_1234409f86436c583e3f")
    );
    let r = parse_result(&fixture("transaction_status_result.json")).unwrap();
    assert_eq!(r.receipt().as_deref(), Some("TAH5J2K991"));
    assert!(r.result_code.is_zero());
    assert_eq!(r.reference_data.unwrap().reference_item.as_slice().len(), 1);
}

#[test]
fn parsers_never_panic_on_garbage() {
    let samples: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"<html>".to_vec(),
        b"{\"Body\":{}}".to_vec(),
        b"{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":1,\"ResultCode\":[1]}}}".to_vec(),
        b"{\"Result\":{\"ResultCode\":0,\"ResultParameters\":{\"ResultParameter\":7}}}".to_vec(),
        vec![0xff, 0xfe, 0x00],
        "{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"x\",\"ResultCode\":0,\"CallbackMetadata\":{\"Item\":[{\"Name\":\"Amount\",\"Value\":-1e308}]}}}}".as_bytes().to_vec(),
    ];
    for s in samples {
        if let Ok(cb) = parse_stk_callback(&s) {
            let _ = (cb.amount(), cb.receipt(), cb.phone(), cb.transaction_date());
        }
        let _ = parse_result(&s);
        let _ = parse_c2b(&s);
    }
}
