//! C2B registration and notifications, and Transaction Status, against daraja-sim.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use daraja::wire::{
    C2bSimulateRequest, RegisterUrlRequest, ResponseType, TransactionStatusRequest, TransactionType,
};
use daraja::{C2bVersion, Client, Config, Environment, Payee, QueryStatus, StkPush};
use daraja_sim::{MsisdnMode, Sim, SimConfig};
use serde_json::Value;
use tokio::sync::mpsc;

const CERT: &str = include_str!("../../daraja-sim/fixtures/test-initiator.crt");
const KEY: &str = include_str!("../../daraja-sim/fixtures/test-initiator.key");

fn client(sim: &Sim) -> Client {
    let cfg = sim.config();
    Client::new(Config::new(
        Environment::Custom(sim.base_url().into()),
        &cfg.consumer_key,
        &cfg.consumer_secret,
    ))
    .unwrap()
}

/// Receives POSTs on any path; `/validate/slow` answers after 2 s, `/validate/no` rejects.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(String, Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/{*rest}",
        axum::routing::post(move |Path(rest): Path<String>, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((
                    rest.clone(),
                    serde_json::from_slice(&body).unwrap_or(Value::Null),
                ));
                if rest == "validate/slow" {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                let code = if rest == "validate/no" {
                    "C2B00012"
                } else {
                    "0"
                };
                axum::Json(serde_json::json!({"ResultCode": code, "ResultDesc": "Accepted"}))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(String, Value)>) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a POST")
        .unwrap()
}

fn register(base: &str, validation: &str) -> RegisterUrlRequest {
    RegisterUrlRequest {
        short_code: "600984".into(),
        response_type: ResponseType::Completed,
        confirmation_url: format!("{base}/confirm"),
        validation_url: format!("{base}/{validation}"),
    }
}

fn pay(amount: u64) -> C2bSimulateRequest {
    C2bSimulateRequest {
        short_code: "600984".into(),
        command_id: TransactionType::CustomerPayBillOnline,
        amount,
        msisdn: "254708374149".into(),
        bill_ref_number: "Sale 7".into(),
    }
}

#[tokio::test]
async fn register_v1_v2_and_confirmations_with_masked_or_hashed_msisdn() {
    for (mode, version, want_msisdn) in [
        (
            MsisdnMode::Masked,
            C2bVersion::V2,
            "2547 ***** 149".to_string(),
        ),
        (MsisdnMode::Hashed, C2bVersion::V1, "bbff37ce".to_string()),
    ] {
        let mut cfg = SimConfig::default();
        cfg.c2b.msisdn = mode;
        let sim = Sim::spawn(cfg).await.unwrap();
        let c = client(&sim);
        let (base, mut rx) = receiver().await;
        let r = c
            .register_c2b_urls(version, &register(&base, "validate/ok"))
            .await
            .unwrap();
        assert!(
            r.originator_conversation_id.is_some(),
            "the misspelled field is read"
        );
        c.c2b_simulate(version, &pay(10)).await.unwrap();
        let (path, body) = next(&mut rx).await;
        assert_eq!(path, "confirm", "validation is off by default");
        let p = daraja::wire::parse_c2b(body.to_string().as_bytes()).unwrap();
        assert_eq!(p.amount(), Some(10));
        assert_eq!(p.transaction_type.as_deref(), Some("Pay Bill"));
        assert_eq!(p.bill_ref_number.as_deref(), Some("Sale 7"));
        assert!(
            p.msisdn.as_deref().unwrap().starts_with(&want_msisdn),
            "{:?}",
            p.msisdn
        );
        assert!(
            body.as_object().unwrap().values().all(Value::is_string),
            "all values are strings: {body}"
        );
        assert_ne!(p.org_account_balance.as_deref(), Some(""));
    }
}

#[tokio::test]
async fn validation_rejects_or_times_out_to_the_response_type() {
    let mut cfg = SimConfig::default();
    cfg.c2b.external_validation = true;
    cfg.c2b.validation_timeout_ms = 300;
    let sim = Sim::spawn(cfg).await.unwrap();
    let c = client(&sim);
    let (base, mut rx) = receiver().await;

    c.register_c2b_urls(C2bVersion::V1, &register(&base, "validate/no"))
        .await
        .unwrap();
    c.c2b_simulate(C2bVersion::V1, &pay(5)).await.unwrap();
    let (path, body) = next(&mut rx).await;
    assert_eq!(path, "validate/no");
    assert_eq!(body["OrgAccountBalance"], "", "blank on validation");
    sim.wait_callbacks(1).await;
    assert!(
        rx.try_recv().is_err(),
        "a rejected payment is never confirmed"
    );

    c.register_c2b_urls(C2bVersion::V1, &register(&base, "validate/slow"))
        .await
        .unwrap();
    c.c2b_simulate(C2bVersion::V1, &pay(6)).await.unwrap();
    assert_eq!(next(&mut rx).await.0, "validate/slow");
    let (path, body) = next(&mut rx).await;
    assert_eq!(
        path, "confirm",
        "late validation: ResponseType Completed applies"
    );
    assert_eq!(body["TransAmount"], "6.00");
}

#[tokio::test]
async fn registration_refuses_banned_words_and_a_second_registration_when_configured() {
    let mut cfg = SimConfig::default();
    cfg.c2b.register_once = true;
    let sim = Sim::spawn(cfg).await.unwrap();
    let c = client(&sim);
    let mut bad = register("https://shop.example.com", "validate");
    bad.confirmation_url = "https://shop.example.com/mpesa/confirm".into();
    assert_eq!(
        c.register_c2b_urls(C2bVersion::V1, &bad)
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    let token = c.access_token().await.unwrap();
    let raw = reqwest::Client::new()
        .post(format!("{}/mpesa/c2b/v1/registerurl", sim.base_url()))
        .bearer_auth(token)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw.json::<Value>().await.unwrap()["errorMessage"],
        "Bad Request - Invalid ConfirmationURL"
    );
    let good = register("https://shop.example.com", "validate");
    c.register_c2b_urls(C2bVersion::V1, &good).await.unwrap();
    let e = c
        .register_c2b_urls(C2bVersion::V1, &good)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("500.003.1001"), "{e}");
}

#[tokio::test]
async fn transaction_status_returns_the_receipt_of_a_paid_push() {
    let cfg = SimConfig {
        time_unit_ms: 10,
        initiator_private_key_pem: Some(KEY.into()),
        ..SimConfig::default()
    };
    let sim = Sim::spawn(cfg).await.unwrap();
    let c = client(&sim);
    let (base, mut rx) = receiver().await;
    let push = StkPush {
        shortcode: "174379".into(),
        passkey: daraja_sim::config::SANDBOX_PASSKEY.into(),
        payee: Payee::Paybill,
        amount: 250,
        phone: "254700000000".into(),
        callback_url: format!("{base}/stk"),
        account_reference: "Sale 9".into(),
        description: "Duka sale 9".into(),
    };
    let r = c.stk_push(&push).await.unwrap();
    let (_, cb) = next(&mut rx).await;
    let receipt = cb["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["Name"] == "MpesaReceiptNumber")
        .unwrap()["Value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(matches!(
        c.stk_query(
            "174379",
            daraja_sim::config::SANDBOX_PASSKEY,
            &r.checkout_request_id
        )
        .await
        .unwrap(),
        QueryStatus::Done { .. }
    ));

    let req = |password: &str, receipt: &str| TransactionStatusRequest {
        initiator: "testapi".into(),
        security_credential: daraja::security::security_credential(password, CERT).unwrap(),
        command_id: "TransactionStatusQuery".into(),
        transaction_id: Some(receipt.into()),
        original_conversation_id: None,
        party_a: "174379".into(),
        identifier_type: "4".into(),
        result_url: format!("{base}/result"),
        queue_timeout_url: format!("{base}/timeout"),
        remarks: "Duka receipt check".into(),
        occasion: Some("Query".into()),
    };
    let ack = c
        .transaction_status(&req("Safaricom999!*!", &receipt))
        .await
        .unwrap();
    assert!(ack.conversation_id.as_deref().unwrap().starts_with("AG_"));
    let (path, body) = next(&mut rx).await;
    assert_eq!(path, "result");
    let result = daraja::wire::parse_result(body.to_string().as_bytes()).unwrap();
    assert!(result.result_code.is_zero());
    assert_eq!(result.receipt().as_deref(), Some(receipt.as_str()));
    assert_eq!(
        result
            .parameter("Amount")
            .and_then(daraja::wire::value_whole),
        Some(250)
    );

    c.transaction_status(&req("wrong password", &receipt))
        .await
        .unwrap();
    let (_, body) = next(&mut rx).await;
    assert_eq!(
        daraja::wire::parse_result(body.to_string().as_bytes())
            .unwrap()
            .result_code
            .as_str(),
        "2001"
    );

    c.transaction_status(&req("Safaricom999!*!", "ZZZ0000000"))
        .await
        .unwrap();
    let (_, body) = next(&mut rx).await;
    let unknown = daraja::wire::parse_result(body.to_string().as_bytes()).unwrap();
    assert_eq!(unknown.receipt(), None);
    assert!(!unknown.result_code.is_zero());
}
