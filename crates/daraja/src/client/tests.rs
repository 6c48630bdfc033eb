use super::answers::*;
use super::*;

fn body(code: &str, msg: &str) -> ErrorBody {
    ErrorBody {
        request_id: None,
        error_code: Some(code.into()),
        error_message: Some(msg.into()),
    }
}

#[test]
fn error_classes() {
    let s500 = StatusCode::INTERNAL_SERVER_ERROR;
    let e = classify(
        StatusCode::BAD_REQUEST,
        body("400.002.02", "Bad Request - Invalid PhoneNumber"),
    );
    assert_eq!(
        e,
        Error::BadRequest {
            field: Some("PhoneNumber".into()),
            code: "400.002.02".into(),
            message: "Bad Request - Invalid PhoneNumber".into()
        }
    );
    assert_eq!(classify(s500, body("500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber")).code(), "subscriber_locked");
    assert_eq!(
        classify(s500, body("500.001.1001", "Wrong credentials")).code(),
        "merchant_config"
    );
    assert_eq!(
        classify(
            s500,
            body("500.001.1001", "The transaction is being processed")
        )
        .code(),
        "in_progress"
    );
    assert_eq!(
        classify(s500, body("500.003.02", "Spike Arrest Violation")).code(),
        "rate_limited"
    );
    assert_eq!(
        classify(
            StatusCode::NOT_FOUND,
            body("404.001.03", "Invalid Access Token")
        )
        .code(),
        "auth"
    );
    assert_eq!(
        classify(StatusCode::FORBIDDEN, ErrorBody::default()).code(),
        "server_error"
    );
    assert_eq!(
        classify(StatusCode::BAD_REQUEST, ErrorBody::default()).code(),
        "bad_request"
    );
    assert_eq!(
        classify(StatusCode::BAD_GATEWAY, ErrorBody::default()).code(),
        "server_error"
    );
}

#[test]
fn error_bodies_never_fail_to_parse() {
    for b in [
        &b""[..],
        b"<html style=\"height:100%\"><head><META NAME=\"ROBOTS\">",
        b"{\"errorCode\":500}",
        b"[1,2]",
        b"\xff\xfe",
    ] {
        let _ = parse_error_body(b);
    }
    assert_eq!(
        parse_error_body(b"{\"errorCode\":500}")
            .error_code
            .as_deref(),
        Some("500")
    );
}

#[test]
fn masks_phones() {
    assert_eq!(mask("0708374149"), "2547****149");
    assert_eq!(mask("garbage"), "****");
}

#[test]
fn long_digit_runs_are_masked_and_receipts_kept() {
    assert_eq!(
        redact_digits("phone 254708374149 paid"),
        "phone 254******149 paid"
    );
    assert_eq!(
        redact_digits("ws_CO_02122026101010123254708374149"),
        "ws_CO_02122026101010123254******149"
    );
    assert_eq!(redact_digits("0708374149"), "0******149");
    assert_eq!(
        redact_digits("receipt QKM0FXE6RK, 12345678 KES"),
        "receipt QKM0FXE6RK, 12345678 KES"
    );
    assert_eq!(redact_digits("é254708374149é"), "é254******149é");
    assert_eq!(redact_digits(""), "");
    assert_eq!(
        redact_digits("attempt=b3f834e123456789263b3bf"),
        "attempt=b3f834e123456789263b3bf",
        "a lowercase hex id is kept whole"
    );
}

#[test]
fn an_unreadable_token_answer_never_shows_its_body() {
    let token = "SECRETTOKENabc123";
    for body in [
        format!(r#"{{"access_token":"{token}","expires_in":"soon"}}"#),
        format!(r#"{{"access_token":"{token}""#),
        format!("<html>{token}</html>"),
    ] {
        let e = answers::token(200, body.as_bytes()).unwrap_err();
        assert_eq!(e.code(), "unparseable");
        assert!(!e.to_string().contains(token), "{e}");
        assert!(!format!("{e:?}").contains(token), "{e:?}");
    }
}
