//! Transaction Reversal against daraja-sim: once per receipt of the shortcode, the initiator
//! checked, the result asynchronous, the misspelled field Daraja insists on.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use daraja::wire::{AsyncResult, ReversalRequest, parse_result};
use daraja::{Client, Config, Environment, Payee, StkPush};
use daraja_sim::{Faults, Sim, SimConfig};
use serde_json::Value;
use tokio::sync::mpsc;

const CERT: &str = include_str!("../../daraja-sim/fixtures/test-initiator.crt");
const KEY: &str = include_str!("../../daraja-sim/fixtures/test-initiator.key");
const PASSWORD: &str = "Safaricom999!*!";

type Posts = mpsc::UnboundedReceiver<(String, Value)>;

async fn receiver() -> (String, Posts) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/{*rest}",
        axum::routing::post(move |Path(rest): Path<String>, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((rest, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                axum::Json(serde_json::json!({"ResultCode": 0, "ResultDesc": "Accepted"}))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, rx)
}

async fn next(rx: &mut Posts) -> (String, AsyncResult) {
    let (path, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a POST")
        .unwrap();
    let r = parse_result(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
    (path, r)
}

struct Rig {
    sim: Sim,
    client: Client,
    base: String,
    rx: Posts,
}

async fn rig(cfg: SimConfig) -> Rig {
    let sim = Sim::spawn(SimConfig {
        time_unit_ms: 10,
        initiator_private_key_pem: Some(KEY.into()),
        ..cfg
    })
    .await
    .unwrap();
    let c = sim.config();
    let client = Client::new(Config::new(
        Environment::Custom(sim.base_url().into()),
        &c.consumer_key,
        &c.consumer_secret,
    ))
    .unwrap();
    let (base, rx) = receiver().await;
    Rig {
        sim,
        client,
        base,
        rx,
    }
}

impl Rig {
    /// A paid STK push of `amount`; its receipt.
    async fn paid(&mut self, amount: u64) -> String {
        let push = StkPush {
            shortcode: "174379".into(),
            passkey: daraja_sim::config::SANDBOX_PASSKEY.into(),
            payee: Payee::Paybill,
            amount,
            phone: "254700000000".into(),
            callback_url: format!("{}/stk", self.base),
            account_reference: "Sale 9".into(),
            description: "Duka sale 9".into(),
        };
        self.client.stk_push(&push).await.unwrap();
        let (_, cb) = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .unwrap()
            .unwrap();
        cb["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["Name"] == "MpesaReceiptNumber")
            .unwrap()["Value"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn request(&self, receipt: &str, amount: u64, password: &str) -> ReversalRequest {
        ReversalRequest {
            initiator: "testapi".into(),
            security_credential: daraja::security::security_credential(password, CERT).unwrap(),
            command_id: "TransactionReversal".into(),
            transaction_id: receipt.into(),
            amount,
            receiver_party: "174379".into(),
            receiver_identifier_type: "11".into(),
            result_url: format!("{}/reversal/result", self.base),
            queue_timeout_url: format!("{}/reversal/timeout", self.base),
            remarks: "Refund of sale 9".into(),
            occasion: Some("refund-1".into()),
        }
    }

    async fn reverse(&mut self, req: &ReversalRequest) -> (String, AsyncResult) {
        let ack = self.client.reversal(req).await.unwrap();
        assert_eq!(ack.response_code.as_ref().map(|c| c.as_str()), Some("0"));
        assert!(ack.conversation_id.as_deref().unwrap().starts_with("AG_"));
        next(&mut self.rx).await
    }
}

#[tokio::test]
async fn a_paid_receipt_is_reversed_once_with_a_new_receipt() {
    let mut r = rig(SimConfig::default()).await;
    let receipt = r.paid(250).await;
    let (path, res) = r.reverse(&r.request(&receipt, 250, PASSWORD)).await;
    assert_eq!(path, "reversal/result");
    assert!(res.result_code.is_zero(), "{res:?}");
    let own = res.transaction_id.clone().unwrap();
    assert_ne!(own, receipt, "the reversal has its own receipt");
    assert_eq!(
        res.original_transaction().as_deref(),
        Some(receipt.as_str())
    );
    assert_eq!(
        res.parameter("Amount").and_then(daraja::wire::value_whole),
        Some(250)
    );
    let done = r.sim.reversals();
    assert_eq!((done.len(), done[0].amount), (1, 250));

    // Not twice, whatever the amount.
    let (_, again) = r.reverse(&r.request(&receipt, 1, PASSWORD)).await;
    assert_eq!(again.result_code.as_str(), "R000001");
    assert_eq!(r.sim.reversals().len(), 1);
}

#[tokio::test]
async fn unknown_receipts_bad_initiators_and_amounts_fail_in_the_result_and_move_nothing() {
    let mut r = rig(SimConfig {
        utility_balance: Some(100),
        ..SimConfig::default()
    })
    .await;
    let receipt = r.paid(250).await;
    let (_, res) = r.reverse(&r.request("QKM0FXE6RK", 250, PASSWORD)).await;
    assert_eq!(
        res.result_code.as_str(),
        "R000002",
        "not a payment to 174379"
    );
    let mut other = r.request(&receipt, 250, PASSWORD);
    other.receiver_party = "600984".into();
    let (_, res) = r.reverse(&other).await;
    assert_eq!(
        res.result_code.as_str(),
        "R000002",
        "another shortcode's payment"
    );
    let (_, res) = r.reverse(&r.request(&receipt, 250, "wrong")).await;
    assert_eq!(res.result_code.as_str(), "2001");
    let (_, res) = r.reverse(&r.request(&receipt, 150, PASSWORD)).await;
    assert_eq!(
        res.result_code.as_str(),
        "1",
        "the utility account holds 100"
    );
    let (_, res) = r.reverse(&r.request(&receipt, 251, PASSWORD)).await;
    assert_eq!(res.result_code.as_str(), "1", "more than was paid");
    assert!(r.sim.reversals().is_empty());
    // A part of it, within the balance, goes.
    let (_, res) = r.reverse(&r.request(&receipt, 100, PASSWORD)).await;
    assert!(res.result_code.is_zero(), "{res:?}");
}

#[tokio::test]
async fn a_queue_timeout_goes_to_the_timeout_url() {
    let mut r = rig(SimConfig {
        faults: Faults {
            reversal_queue_timeout: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    // The push's callback must not time out: only reversals are faulted.
    let receipt = r.paid(100).await;
    let (path, res) = r.reverse(&r.request(&receipt, 100, PASSWORD)).await;
    assert_eq!(path, "reversal/timeout");
    assert_eq!(res.result_type.as_ref().map(|c| c.as_str()), Some("1"));
    assert!(r.sim.reversals().is_empty());
}

#[tokio::test]
async fn the_client_checks_before_sending_and_the_sim_wants_daraja_spelling() {
    let r = rig(SimConfig::default()).await;
    let mut bad = r.request("QKM0FXE6RK", 100, PASSWORD);
    bad.remarks = "x".into();
    let e = r.client.reversal(&bad).await.unwrap_err();
    assert!(e.to_string().starts_with("Remarks: expected"), "{e}");
    let mut bad = r.request("QKM 0FX", 100, PASSWORD);
    bad.amount = 1;
    let e = r.client.reversal(&bad).await.unwrap_err();
    assert!(e.to_string().starts_with("TransactionID: expected"), "{e}");
    assert!(
        r.sim.log().iter().all(|l| !l.path.contains("reversal")),
        "nothing sent"
    );

    // The correct spelling is refused, as Daraja does.
    let token = r.client.access_token().await.unwrap();
    let mut body = serde_json::to_value(r.request("QKM0FXE6RK", 100, PASSWORD)).unwrap();
    let kind = body
        .as_object_mut()
        .unwrap()
        .remove("RecieverIdentifierType")
        .unwrap();
    body["ReceiverIdentifierType"] = kind;
    let answer = reqwest::Client::new()
        .post(format!("{}/mpesa/reversal/v1/request", r.sim.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let v: Value = answer.json().await.unwrap();
    assert_eq!(
        v["errorMessage"],
        "Bad Request - Invalid RecieverIdentifierType"
    );
}
