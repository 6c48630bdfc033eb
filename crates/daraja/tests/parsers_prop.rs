//! Property tests of every parser of what Daraja (or anyone posing as Daraja) sends: callback,
//! C2B and result bodies, and the answers the client reads. None may panic on any input; what
//! parses must say what was sent. The same parsers are fuzzed by `fuzz/` (scripts/fuzz.sh).

use daraja::client::answers;
use daraja::wire::{self, Code};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Names Daraja uses, so generated objects reach the fields the parsers read.
const KEYS: &[&str] = &[
    "Body",
    "stkCallback",
    "MerchantRequestID",
    "CheckoutRequestID",
    "ResultCode",
    "ResultDesc",
    "CallbackMetadata",
    "Item",
    "Name",
    "Value",
    "Amount",
    "MpesaReceiptNumber",
    "TransactionDate",
    "PhoneNumber",
    "Result",
    "ResultType",
    "OriginatorConversationID",
    "ConversationID",
    "TransactionID",
    "ResultParameters",
    "ResultParameter",
    "ReferenceData",
    "ReferenceItem",
    "Key",
    "ReceiptNo",
    "Occasion",
    "TransAmount",
    "TransID",
    "MSISDN",
    "FirstName",
    "access_token",
    "expires_in",
    "errorCode",
    "errorMessage",
    "requestId",
    "ResponseCode",
    "ResponseDescription",
    "CustomerMessage",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0u64..1_000_000, 0u32..4).prop_map(|(n, d)| Value::from(n as f64 / 10f64.powi(d as i32))),
        ".{0,24}".prop_map(Value::String),
        "[0-9]{0,16}(\\.[0-9]{0,3})?".prop_map(Value::String),
    ]
}

/// Any JSON, nested a few levels, with Daraja's keys more often than not.
fn json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An STK callback with every field any JSON.
fn callback() -> impl Strategy<Value = Value> {
    (
        json(),
        json(),
        json(),
        json(),
        proptest::collection::vec((key(), json()), 0..6),
    )
        .prop_map(|(m, c, code, desc, items)| {
            let items: Vec<Value> = items
                .into_iter()
                .map(|(n, v)| json!({"Name": n, "Value": v}))
                .collect();
            json!({"Body": {"stkCallback": {
                "MerchantRequestID": m, "CheckoutRequestID": c, "ResultCode": code,
                "ResultDesc": desc, "CallbackMetadata": {"Item": items}}}})
        })
}

fn result_body() -> impl Strategy<Value = Value> {
    (
        json(),
        json(),
        proptest::collection::vec((key(), json()), 0..5),
        prop_oneof![json(), Just(json!({"Key": "Occasion", "Value": "ab12"}))],
    )
        .prop_map(|(code, tid, params, reference)| {
            let params: Vec<Value> = params
                .into_iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            json!({"Result": {"ResultType": 0, "ResultCode": code, "ResultDesc": "x",
                "TransactionID": tid, "ResultParameters": {"ResultParameter": params},
                "ReferenceData": {"ReferenceItem": reference}}})
        })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..256)
}

/// Reads everything a caller of the wire types reads.
fn read_callback(body: &[u8]) {
    if let Ok(cb) = wire::parse_stk_callback(body) {
        let _ = (cb.amount(), cb.receipt(), cb.transaction_date(), cb.phone());
        let _ = cb.result_code.is_zero();
        let _ = daraja::codes::lookup(cb.result_code.as_str());
        serde_json::to_vec(&cb).expect("a parsed callback serialises");
    }
}

fn read_result(body: &[u8]) {
    if let Ok(r) = wire::parse_result(body) {
        let _ = (r.receipt(), r.parameter("Amount"), r.result_code.is_zero());
        if let Some(d) = &r.reference_data {
            let _ = d.reference_item.as_slice().len();
        }
        serde_json::to_vec(&r).expect("a parsed result serialises");
    }
}

fn read_c2b(body: &[u8]) {
    if let Ok(p) = wire::parse_c2b(body) {
        let _ = p.amount();
        serde_json::to_vec(&p).expect("a parsed payload serialises");
    }
}

fn read_answers(status: u16, body: &[u8]) {
    let _ = answers::token(status, body);
    let _ = answers::stk_push(status, body);
    let _ = answers::stk_query(status, body);
    let _ = answers::register_c2b(status, body);
    let _ = answers::ack(status, body);
    let _ = answers::is_invalid_token(status, body);
    let _ = daraja::client::parse_error_body(body);
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(400),
        Just(401),
        Just(404),
        Just(500),
        Just(503),
        any::<u16>()
    ]
}

proptest! {
    #[test]
    fn no_body_parser_panics_on_any_bytes(body in bytes(), status in status()) {
        read_callback(&body);
        read_result(&body);
        read_c2b(&body);
        read_answers(status, &body);
    }

    #[test]
    fn no_body_parser_panics_on_any_json(v in json(), status in status()) {
        let body = serde_json::to_vec(&v).unwrap();
        read_callback(&body);
        read_result(&body);
        read_c2b(&body);
        read_answers(status, &body);
    }

    #[test]
    fn stk_callbacks_with_any_field_values_never_panic(v in callback()) {
        read_callback(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn transaction_status_results_with_any_values_never_panic(v in result_body()) {
        read_result(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn c2b_payloads_with_any_values_never_panic(
        fields in proptest::collection::vec((key(), json()), 0..8)
    ) {
        let v = Value::Object(fields.into_iter().collect());
        read_c2b(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn a_callback_says_what_was_sent(
        amount in 1u64..=250_000,
        as_string in any::<bool>(),
        receipt in "[A-Z0-9]{10}",
        checkout in "ws_CO_[0-9]{20}",
        code in prop_oneof![Just("0"), Just("1032"), Just("1037"), Just("2001")],
        date in 20_200_101_000_000u64..20_991_231_235_959,
    ) {
        let amount_v = if as_string { json!(format!("{amount}.00")) } else { json!(amount) };
        let code_v = if as_string { json!(code) } else { json!(code.parse::<u64>().unwrap()) };
        let body = json!({"Body": {"stkCallback": {
            "MerchantRequestID": "m", "CheckoutRequestID": checkout, "ResultCode": code_v,
            "ResultDesc": "d", "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": amount_v},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": date},
                {"Name": "PhoneNumber", "Value": 254708374149u64}]}}}});
        let cb = wire::parse_stk_callback(&serde_json::to_vec(&body).unwrap()).unwrap();
        prop_assert_eq!(&cb.checkout_request_id, &checkout);
        prop_assert_eq!(cb.result_code.as_str(), code);
        prop_assert_eq!(cb.amount(), Some(amount));
        prop_assert_eq!(cb.receipt(), Some(receipt));
        prop_assert_eq!(cb.transaction_date(), Some(date));
        prop_assert_eq!(cb.phone(), Some("254708374149".to_string()));
    }

    #[test]
    fn codes_read_the_same_as_numbers_or_strings(n in any::<u32>()) {
        let a: Code = serde_json::from_value(json!(n)).unwrap();
        let b: Code = serde_json::from_value(json!(n.to_string())).unwrap();
        let c: Code = serde_json::from_value(json!(f64::from(n))).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
        prop_assert_eq!(a.is_zero(), n == 0);
    }

    #[test]
    fn a_query_answer_says_what_was_sent(code in "[0-9]{1,5}", desc in ".{0,30}", as_number in any::<bool>()) {
        let code_v = if as_number { json!(code.parse::<u64>().unwrap()) } else { json!(code) };
        let body = serde_json::to_vec(&json!({"ResponseCode": "0", "ResultCode": code_v, "ResultDesc": desc})).unwrap();
        let want = code.parse::<u64>().unwrap().to_string();
        let want = if as_number { want } else { code.clone() };
        match answers::stk_query(200, &body).unwrap() {
            daraja::QueryStatus::Pending { code, .. } => prop_assert_eq!(code, "4999"),
            daraja::QueryStatus::Done { result_code, result_desc } => {
                prop_assert_eq!(result_code.as_str(), want);
                prop_assert_eq!(result_desc, desc);
            }
        }
    }

    #[test]
    fn a_token_answer_gives_its_lifetime(token in "[A-Za-z0-9]{1,40}", secs in 0u64..100_000, as_number in any::<bool>()) {
        let exp = if as_number { json!(secs) } else { json!(secs.to_string()) };
        let body = serde_json::to_vec(&json!({"access_token": token, "expires_in": exp})).unwrap();
        prop_assert_eq!(answers::token(200, &body).unwrap(), (token, secs));
        prop_assert_eq!(answers::token(400, &body).unwrap_err().code(), "auth");
    }

    #[test]
    fn phone_normalisation_is_idempotent(s in prop_oneof![".{0,20}", "[+]?[0-9 ().-]{0,16}"]) {
        if let Some(n) = daraja::validate::normalize_msisdn(&s) {
            prop_assert_eq!(n.len(), 12);
            prop_assert!(n.starts_with("2547") || n.starts_with("2541"), "{}", n);
            prop_assert_eq!(daraja::validate::normalize_msisdn(&n), Some(n.clone()));
            prop_assert_eq!(daraja::client::mask(&n).len(), 11);
        }
    }

    #[test]
    fn callback_url_checks_never_panic(s in prop_oneof![".{0,40}", "https?://[a-zA-Z0-9.:/?é€-]{0,30}"], http in any::<bool>()) {
        if let Ok(u) = daraja::validate::callback_url("CallBackURL", &s, http) {
            prop_assert_eq!(&u, &s);
        }
        let _ = daraja::validate::account_reference(&s);
        let _ = daraja::validate::transaction_desc(&s);
        let _ = daraja::codes::lookup(&s);
    }
}

proptest! {
    /// What goes to logs: never panics on any text, hides a phone number wherever it sits
    /// between words, changes nothing else's length, and redacting twice changes nothing more.
    #[test]
    fn redacted_text_keeps_no_phone_number(text in "\\PC{0,80}", phone in "(2547|07)[0-9]{8}") {
        let _ = daraja::redact_digits(&text);
        let line = format!("{text} {phone} {text}");
        let out = daraja::redact_digits(&line);
        prop_assert_eq!(out.chars().count(), line.chars().count());
        prop_assert!(!out.contains(&phone), "{}", out);
        prop_assert_eq!(daraja::redact_digits(&out), out.clone());
    }
}
