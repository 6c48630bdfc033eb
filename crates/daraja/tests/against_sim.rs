//! The client against daraja-sim over real HTTP on 127.0.0.1:0: every error class, the
//! customer outcomes, token expiry, single-flight, and the shapes of the simulator's bodies
//! against the golden fixtures.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use daraja::wire::{StkCallback, parse_stk_callback};
use daraja::{Client, Config, Environment, Error, Payee, QueryStatus, StkPush};
use daraja_sim::{Faults, PushState, Sim, SimConfig};
use serde_json::Value;
use tokio::sync::mpsc;

const PASSKEY: &str = daraja_sim::config::SANDBOX_PASSKEY;

fn fast() -> SimConfig {
    SimConfig {
        time_unit_ms: 20,
        prompt_timeout_units: 50,
        ..SimConfig::default()
    }
}

fn client(sim: &Sim) -> Client {
    let cfg = sim.config();
    let mut c = Config::new(
        Environment::Custom(sim.base_url().into()),
        &cfg.consumer_key,
        &cfg.consumer_secret,
    );
    c.request_timeout = Duration::from_secs(3);
    Client::new(c).unwrap()
}

/// A callback receiver on 127.0.0.1:0 that hands over every POST.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
}

async fn receiver() -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/cb/{id}",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                axum::Json(serde_json::json!({"ResultCode": 0, "ResultDesc": "Accepted"}))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb/a1", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    Receiver { url, rx }
}

impl Receiver {
    async fn next(&mut self) -> (HeaderMap, StkCallback, Value) {
        let (h, b) = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("a callback")
            .unwrap();
        (
            h,
            parse_stk_callback(&b).expect("callback parses"),
            serde_json::from_slice(&b).unwrap(),
        )
    }
}

fn push(phone: &str, url: &str) -> StkPush {
    StkPush {
        shortcode: "174379".into(),
        passkey: PASSKEY.into(),
        payee: Payee::Paybill,
        amount: 150,
        phone: phone.into(),
        callback_url: url.into(),
        account_reference: "Sale 42".into(),
        description: "Duka sale 42".into(),
    }
}

async fn settle(c: &Client, checkout: &str) -> (String, Vec<String>) {
    let mut seen = Vec::new();
    for _ in 0..400 {
        match c.stk_query("174379", PASSKEY, checkout).await.unwrap() {
            QueryStatus::Pending { code, .. } => seen.push(code),
            QueryStatus::Done { result_code, .. } => return (result_code.0, seen),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never settled");
}

#[tokio::test]
async fn paybill_push_paid_by_query_and_callback() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let mut rx = receiver().await;
    let c = client(&sim);
    // 2547000001NN pays after NN units: 25 x 20 ms leaves time for a first, pending query.
    let r = c.stk_push(&push("0700 000 125", &rx.url)).await.unwrap();
    assert!(
        r.checkout_request_id.starts_with("ws_CO_") && r.checkout_request_id.ends_with("700000125")
    );
    let (code, pending) = settle(&c, &r.checkout_request_id).await;
    assert_eq!(code, "0");
    assert!(
        !pending.is_empty(),
        "a query before the customer answered is pending"
    );
    assert!(pending.iter().all(|p| p == "4999" || p == "500.001.1001"));

    let (headers, cb, raw) = rx.next().await;
    assert_eq!(headers.get("BusinessShortCode").unwrap(), "174379");
    assert_eq!(cb.checkout_request_id, r.checkout_request_id);
    assert_eq!(cb.amount(), Some(150));
    assert_eq!(cb.phone().as_deref(), Some("254700000125"));
    let receipt = cb.receipt().unwrap();
    assert_eq!(receipt.len(), 10);
    // The callback's ResultCode is a number; the query's is a string.
    assert!(raw["Body"]["stkCallback"]["ResultCode"].is_number());
    assert_eq!(
        c.stats()
            .token_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn till_push_uses_buy_goods_and_a_wrong_party_b_ends_2028() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let mut rx = receiver().await;
    let c = client(&sim);
    let mut p = push("254700000000", &rx.url);
    p.shortcode = "174380".into();
    p.payee = Payee::Till {
        till_number: "5001234".into(),
    };
    let req = c.stk_push_request(&p, chrono::Utc::now()).unwrap();
    assert_eq!(
        req.transaction_type,
        daraja::wire::TransactionType::CustomerBuyGoodsOnline
    );
    assert_eq!(
        (req.business_short_code.as_str(), req.party_b.as_str()),
        ("174380", "5001234")
    );
    let r = c.stk_push_query_ok(&p).await;
    let (_, cb, _) = rx.next().await;
    assert_eq!(cb.checkout_request_id, r);
    assert!(cb.result_code.is_zero());

    p.payee = Payee::Till {
        till_number: "5009999".into(),
    };
    let r = c.stk_push(&p).await.unwrap();
    let (_, cb, _) = rx.next().await;
    assert_eq!(cb.checkout_request_id, r.checkout_request_id);
    assert_eq!(cb.result_code.as_str(), "2028");
}

trait PushOk {
    async fn stk_push_query_ok(&self, p: &StkPush) -> String;
}
impl PushOk for Client {
    async fn stk_push_query_ok(&self, p: &StkPush) -> String {
        self.stk_push(p).await.unwrap().checkout_request_id
    }
}

#[tokio::test]
async fn every_customer_in_the_scenario_table() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    let url = "https://till.example.com/cb/x";
    for (phone, want) in [
        ("254700000200", "1032"),
        ("254700000201", "1"),
        ("254700000202", "2001"),
        ("254700000203", "1037"),
        ("254700000204", "1019"),
        ("254700000206", "9998"),
        ("254700000103", "0"),
    ] {
        let r = c.stk_push(&push(phone, url)).await.unwrap();
        let (code, _) = settle(&c, &r.checkout_request_id).await;
        assert_eq!(code, want, "{phone}");
        assert_eq!(
            daraja::codes::lookup(&code).class == daraja::codes::Class::Unknown,
            want == "9998"
        );
    }
    // The silent customer never settles; the control API can still answer for them.
    let r = c.stk_push(&push("254700000205", url)).await.unwrap();
    for _ in 0..5 {
        assert!(matches!(
            c.stk_query("174379", PASSKEY, &r.checkout_request_id)
                .await
                .unwrap(),
            QueryStatus::Pending { .. }
        ));
    }
    assert_eq!(sim.pending_prompts(), vec![r.checkout_request_id.clone()]);
    assert!(sim.decide(&r.checkout_request_id, "1032"));
    assert_eq!(settle(&c, &r.checkout_request_id).await.0, "1032");
}

#[tokio::test]
async fn interactive_prompt_approved_through_the_control_api() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    let r = c
        .stk_push(&push("0712345678", "https://till.example.com/cb/x"))
        .await
        .unwrap();
    // The phone panel of demo mode reads the open prompts over HTTP.
    let prompts: Value = reqwest::get(format!("{}/sim/prompts", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        prompts[0]["checkout_request_id"],
        r.checkout_request_id.as_str()
    );
    assert_eq!(prompts[0]["phone"], "2547****678");
    let ok = reqwest::Client::new()
        .post(format!(
            "{}/sim/prompts/{}/approve",
            sim.base_url(),
            r.checkout_request_id
        ))
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success());
    assert_eq!(settle(&c, &r.checkout_request_id).await.0, "0");
    assert!(matches!(
        sim.push_state(&r.checkout_request_id),
        Some(PushState::Done {
            receipt: Some(_),
            ..
        })
    ));
    let again = reqwest::Client::new()
        .post(format!(
            "{}/sim/prompts/{}/cancel",
            sim.base_url(),
            r.checkout_request_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        404,
        "a settled prompt cannot be answered again"
    );
}

#[tokio::test]
async fn second_push_to_a_busy_phone_is_locked() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    let url = "https://till.example.com/cb/x";
    let first = c.stk_push(&push("0712345678", url)).await.unwrap();
    let e = c.stk_push(&push("0712345678", url)).await.unwrap_err();
    assert_eq!(e.code(), "subscriber_locked", "{e}");
    assert!(e.nothing_happened());
    sim.decide(&first.checkout_request_id, "1032");
    settle(&c, &first.checkout_request_id).await;
    c.stk_push(&push("0712345678", url))
        .await
        .expect("free again once settled");
}

#[tokio::test]
async fn local_validation_sends_nothing() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    let good = push("0712345678", "https://till.example.com/cb/x");
    let cases: Vec<(StkPush, &str)> = vec![
        (
            StkPush {
                amount: 0,
                ..good.clone()
            },
            "Amount",
        ),
        (
            StkPush {
                amount: 250_001,
                ..good.clone()
            },
            "Amount",
        ),
        (
            StkPush {
                phone: "0812345678".into(),
                ..good.clone()
            },
            "PhoneNumber",
        ),
        (
            StkPush {
                account_reference: "ABCDEFGHIJKLM".into(),
                ..good.clone()
            },
            "AccountReference",
        ),
        (
            StkPush {
                description: "".into(),
                ..good.clone()
            },
            "TransactionDesc",
        ),
        (
            StkPush {
                description: "fourteen chars".into(),
                ..good.clone()
            },
            "TransactionDesc",
        ),
        (
            StkPush {
                callback_url: "https://x.example.com/mpesa/cb".into(),
                ..good.clone()
            },
            "CallBackURL",
        ),
        (
            StkPush {
                shortcode: "12".into(),
                ..good.clone()
            },
            "BusinessShortCode",
        ),
    ];
    for (p, field) in cases {
        match c.stk_push(&p).await {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(
        sim.log().is_empty(),
        "nothing reached the simulator: {:?}",
        sim.log()
    );
}

#[tokio::test]
async fn wrong_passkey_is_a_merchant_error() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    let mut p = push("0712345678", "https://till.example.com/cb/x");
    p.passkey = "not-the-passkey".into();
    let e = c.stk_push(&p).await.unwrap_err();
    assert_eq!(e.code(), "merchant_config", "{e}");
    p.passkey = PASSKEY.into();
    p.shortcode = "999999".into();
    assert_eq!(c.stk_push(&p).await.unwrap_err().code(), "merchant_config");
}

#[tokio::test]
async fn bad_consumer_secret_is_auth_with_an_empty_400() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let cfg = Config::new(
        Environment::Custom(sim.base_url().into()),
        "duka-demo-key",
        "wrong",
    );
    let c = Client::new(cfg).unwrap();
    let e = c.access_token().await.unwrap_err();
    assert!(matches!(e, Error::Auth { status: 400, .. }), "{e:?}");
    assert!(e.nothing_happened());
}

#[tokio::test]
async fn token_expiry_mid_flow_refreshes_once_and_retries() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    let url = "https://till.example.com/cb/x";
    let r = c.stk_push(&push("254700000000", url)).await.unwrap();
    sim.expire_tokens();
    settle(&c, &r.checkout_request_id).await;
    assert_eq!(sim.token_requests(), 2);
    let codes: Vec<Option<String>> = sim.log().into_iter().map(|l| l.code).collect();
    assert!(codes.contains(&Some("404.001.03".into())), "{codes:?}");
}

#[tokio::test]
async fn fifty_concurrent_callers_cause_one_token_request() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.stk_query("174379", PASSKEY, &format!("ws_CO_unknown{i}"))
                .await
        }));
    }
    for t in tasks {
        // An unknown CheckoutRequestID is answered "does not Exist" under 500.001.1001,
        // which Daraja also uses for "being processed": the client reports pending.
        assert!(matches!(
            t.await.unwrap().unwrap(),
            QueryStatus::Pending { .. }
        ));
    }
    assert_eq!(sim.token_requests(), 1);
    let log = sim.log();
    assert_eq!(
        log.iter().filter(|l| l.path.starts_with("/oauth")).count(),
        1
    );
    assert!(
        log.iter()
            .filter(|l| l.path.contains("query"))
            .all(|l| l.status == 500 && l.code.as_deref() == Some("500.001.1001"))
    );
}

#[tokio::test]
async fn spike_arrest_html_and_5xx() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    c.access_token().await.unwrap();
    sim.set_faults(Faults {
        spike_arrest_per_sec: Some(0),
        ..Faults::default()
    });
    let e = c
        .stk_push(&push("0712345678", "https://till.example.com/cb/x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "rate_limited", "{e}");
    let e = c.stk_query("174379", PASSKEY, "ws_CO_1").await.unwrap_err();
    assert_eq!(e.code(), "rate_limited");
    sim.set_faults(Faults {
        html_error: true,
        ..Faults::default()
    });
    let e = c
        .stk_push(&push("0712345678", "https://till.example.com/cb/x"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Server { status: 403, .. }), "{e:?}");
}

#[tokio::test]
async fn dropped_push_response_is_outcome_unknown_but_the_prompt_went_out() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    sim.next_push_faults(Faults {
        drop_push_response: true,
        ..Faults::default()
    });
    let e = c
        .stk_push(&push("0712345678", "https://till.example.com/cb/x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "outcome_unknown", "{e}");
    assert!(!e.nothing_happened());
    assert_eq!(
        sim.pending_prompts().len(),
        1,
        "the customer has the prompt"
    );
    // The next push is unaffected.
    sim.decide(&sim.pending_prompts()[0], "1032");
    c.stk_push(&push("0722000000", "https://till.example.com/cb/x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn slow_answer_times_out_as_outcome_unknown_and_refused_connection_as_not_sent() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let cfg = sim.config();
    let mut cc = Config::new(
        Environment::Custom(sim.base_url().into()),
        &cfg.consumer_key,
        &cfg.consumer_secret,
    );
    cc.request_timeout = Duration::from_millis(300);
    let c = Client::new(cc).unwrap();
    c.access_token().await.unwrap();
    sim.set_faults(Faults {
        slow_ms: 2_000,
        ..Faults::default()
    });
    let e = c
        .stk_push(&push("0712345678", "https://till.example.com/cb/x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "outcome_unknown", "{e}");

    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let c = Client::new(Config::new(
        Environment::Custom(format!("http://{addr}")),
        "k",
        "s",
    ))
    .unwrap();
    let e = c.access_token().await.unwrap_err();
    assert_eq!(e.code(), "not_sent", "{e}");
}

#[tokio::test]
async fn callback_faults_none_duplicate_and_out_of_order() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let mut rx = receiver().await;
    let c = client(&sim);
    sim.next_push_faults(Faults {
        callback: daraja_sim::CallbackMode::Duplicate,
        ..Faults::default()
    });
    let r = c.stk_push(&push("254700000000", &rx.url)).await.unwrap();
    let (_, a, _) = rx.next().await;
    let (_, b, _) = rx.next().await;
    assert_eq!(
        (
            a.checkout_request_id.as_str(),
            b.checkout_request_id.as_str()
        ),
        (
            r.checkout_request_id.as_str(),
            r.checkout_request_id.as_str()
        )
    );
    assert_eq!(a.receipt(), b.receipt());

    sim.next_push_faults(Faults {
        callback: daraja_sim::CallbackMode::None,
        ..Faults::default()
    });
    let r = c.stk_push(&push("254700000000", &rx.url)).await.unwrap();
    assert_eq!(
        settle(&c, &r.checkout_request_id).await.0,
        "0",
        "the query recovers a lost callback"
    );
    assert!(rx.rx.try_recv().is_err());

    // The callback arrives while the query still says pending.
    sim.next_push_faults(Faults {
        query_lag_units: 1_000,
        ..Faults::default()
    });
    let r = c.stk_push(&push("254700000000", &rx.url)).await.unwrap();
    let (_, cb, _) = rx.next().await;
    assert!(cb.result_code.is_zero());
    assert!(matches!(
        c.stk_query("174379", PASSKEY, &r.checkout_request_id)
            .await
            .unwrap(),
        QueryStatus::Pending { .. }
    ));
    assert_eq!(sim.wait_callbacks(3).await.len(), 3);
}

#[tokio::test]
async fn simulator_bodies_match_the_fixtures_field_for_field() {
    fn shape(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
            Value::String(_) => "string".into(),
            Value::Number(_) => "number".into(),
            Value::Bool(_) => "bool".into(),
            Value::Null => "null".into(),
        }
    }
    fn fixture(name: &str) -> Value {
        serde_json::from_slice(
            &std::fs::read(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        )
        .unwrap()
    }
    fn items_by_name(v: &Value) -> Vec<(String, Value)> {
        let mut items: Vec<(String, Value)> = v["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["Name"] != "Balance")
            .map(|i| (i["Name"].as_str().unwrap().to_string(), shape(&i["Value"])))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
    }
    let sim = Sim::spawn(fast()).await.unwrap();
    let mut rx = receiver().await;
    let c = client(&sim);
    let http = reqwest::Client::new();
    let token = c.access_token().await.unwrap();

    let tok: Value = http
        .get(format!(
            "{}/oauth/v1/generate?grant_type=client_credentials",
            sim.base_url()
        ))
        .basic_auth("duka-demo-key", Some("duka-demo-secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shape(&tok), shape(&fixture("oauth_token.json")));

    let req = c
        .stk_push_request(&push("254700000000", &rx.url), chrono::Utc::now())
        .unwrap();
    let resp = http
        .post(format!(
            "{}/mpesa/stkpush/v1/processrequest",
            sim.base_url()
        ))
        .bearer_auth(&token)
        .json(&req)
        .send()
        .await
        .unwrap();
    let push_body: Value = resp.json().await.unwrap();
    assert_eq!(shape(&push_body), shape(&fixture("stk_push_response.json")));
    let (_, _, cb) = rx.next().await;
    let want = fixture("stk_callback_success.json");
    let strip = |mut v: Value| {
        v["Body"]["stkCallback"]
            .as_object_mut()
            .unwrap()
            .remove("CallbackMetadata");
        shape(&v)
    };
    assert_eq!(strip(cb.clone()), strip(want.clone()));
    assert_eq!(items_by_name(&cb), items_by_name(&want));

    let checkout = push_body["CheckoutRequestID"].as_str().unwrap();
    let ts = daraja::validate::timestamp(chrono::Utc::now());
    let q = serde_json::json!({"BusinessShortCode": "174379", "Password": daraja::validate::password("174379", PASSKEY, &ts), "Timestamp": ts, "CheckoutRequestID": checkout});
    let done: Value = http
        .post(format!("{}/mpesa/stkpushquery/v1/query", sim.base_url()))
        .bearer_auth(&token)
        .json(&q)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shape(&done), shape(&fixture("stk_query_completed.json")));
    assert_eq!(
        done["ResponseDescription"],
        "The service request has been accepted successsfully"
    );

    // Cancelled: no CallbackMetadata at all.
    let r = c.stk_push(&push("254700000200", &rx.url)).await.unwrap();
    let (_, _, cb) = rx.next().await;
    assert_eq!(
        cb["Body"]["stkCallback"]["CheckoutRequestID"],
        r.checkout_request_id.as_str()
    );
    assert_eq!(shape(&cb), shape(&fixture("stk_callback_cancelled.json")));
}

#[tokio::test]
async fn raw_requests_get_daraja_exact_errors() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let c = client(&sim);
    let token = c.access_token().await.unwrap();
    let http = reqwest::Client::new();
    let ts = daraja::validate::timestamp(chrono::Utc::now());
    let base = serde_json::json!({
        "BusinessShortCode": 174379, "Password": daraja::validate::password("174379", PASSKEY, &ts), "Timestamp": ts,
        "TransactionType": "CustomerPayBillOnline", "Amount": "1", "PartyA": "254712345678", "PartyB": "174379",
        "PhoneNumber": "254712345678", "CallBackURL": "https://till.example.com/cb", "AccountReference": "ref",
        "TransactionDesc": "desc", "Passkey": "extra fields are ignored",
    });
    let send = |body: Value| {
        let http = http.clone();
        let token = token.clone();
        let url = format!("{}/mpesa/stkpush/v1/processrequest", sim.base_url());
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut with = |k: &str, v: Value, msg: &'static str| {
        let mut b = base.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        cases.push((b, msg));
    };
    with("Amount", "4.99".into(), "Bad Request - Invalid Amount");
    with("Amount", Value::from(4.99), "Bad Request - Invalid Amount");
    with(
        "PhoneNumber",
        "0712345678".into(),
        "Bad Request - Invalid PhoneNumber",
    );
    with(
        "PartyA",
        "+254712345678".into(),
        "Bad Request - Invalid PartyA",
    );
    with(
        "CallBackURL",
        "https://Till.example.com/cb".into(),
        "Bad Request - Invalid CallBackURL",
    );
    with(
        "CallBackURL",
        "https://till.example.com/cb ".into(),
        "Bad Request - Invalid CallBackURL",
    );
    with(
        "TransactionDesc",
        Value::Null,
        "Bad Request - Invalid Remarks",
    );
    with(
        "TransactionType",
        "BusinessBuyGoods".into(),
        "Bad Request - Invalid TransactionType",
    );
    with(
        "Timestamp",
        "2021-06-28".into(),
        "Bad Request - Invalid Timestamp",
    );
    for (body, msg) in cases {
        let (status, v) = send(body).await;
        assert_eq!(
            (status, v["errorCode"].as_str(), v["errorMessage"].as_str()),
            (400, Some("400.002.02"), Some(msg))
        );
        assert!(v["requestId"].is_string());
    }
    let (status, v) = send(base.clone()).await;
    assert_eq!(
        (status, v["ResponseCode"].as_str()),
        (200, Some("0")),
        "{v}"
    );

    let r = http
        .get(format!(
            "{}/mpesa/stkpush/v1/processrequest",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "405.001");
    let r = http
        .post(format!("{}/mpesa/nothing", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "404.001.01");
    let r = http
        .post(format!(
            "{}/mpesa/stkpush/v1/processrequest",
            sim.base_url()
        ))
        .bearer_auth(&token)
        .body(base.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorMessage"],
        "Bad Request - Invalid BusinessShortCode",
        "no JSON content type"
    );
    let r = http
        .get(format!(
            "{}/oauth/v1/generate?grant_type=password",
            sim.base_url()
        ))
        .basic_auth("duka-demo-key", Some("duka-demo-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "400.008.02");
}

/// Run by `nairobi_timestamps_whatever_the_machine_zone` in a child process with
/// `TZ=America/New_York`.
#[test]
#[ignore = "run in a child process by nairobi_timestamps_whatever_the_machine_zone"]
fn child_timestamp_in_new_york() {
    use chrono::{Local, Offset, Utc};
    assert_eq!(std::env::var("TZ").as_deref(), Ok("America/New_York"));
    let offset = Local::now().offset().fix().local_minus_utc();
    assert!(
        offset == -5 * 3600 || offset == -4 * 3600,
        "TZ did not take effect: {offset}"
    );
    let c = Client::new(Config::new(
        Environment::Custom("http://127.0.0.1:9".into()),
        "k",
        "s",
    ))
    .unwrap();
    let now = Utc::now();
    let req = c
        .stk_push_request(&push("0712345678", "https://till.example.com/cb"), now)
        .unwrap();
    let nairobi = (now + chrono::Duration::hours(3))
        .format("%Y%m%d%H%M%S")
        .to_string();
    assert_eq!(req.timestamp, nairobi);
    assert_eq!(
        req.password,
        daraja::validate::password("174379", PASSKEY, &req.timestamp)
    );
}

#[test]
fn nairobi_timestamps_whatever_the_machine_zone() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_timestamp_in_new_york",
            "--test-threads=1",
        ])
        .env("TZ", "America/New_York")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn spurious_query_500s_delayed_callbacks_and_the_state_dump() {
    let sim = Sim::spawn(fast()).await.unwrap();
    let mut rx = receiver().await;
    let c = client(&sim);
    sim.next_push_faults(Faults {
        query_spurious_500_pct: 50,
        callback_delay_units: 10,
        ..Faults::default()
    });
    let r = c.stk_push(&push("254700000000", &rx.url)).await.unwrap();
    let (code, _) = settle(&c, &r.checkout_request_id).await;
    assert_eq!(code, "0");
    let settled_at = std::time::Instant::now();
    // After the result is known, half the queries still answer the pending 500.
    let mut shapes = std::collections::HashSet::new();
    for _ in 0..40 {
        match c
            .stk_query("174379", PASSKEY, &r.checkout_request_id)
            .await
            .unwrap()
        {
            QueryStatus::Pending { code, .. } => shapes.insert(code),
            QueryStatus::Done { result_code, .. } => shapes.insert(result_code.0),
        };
    }
    assert_eq!(
        shapes,
        ["0".to_string(), "500.001.1001".to_string()]
            .into_iter()
            .collect()
    );
    let (_, cb, _) = rx.next().await;
    assert_eq!(cb.checkout_request_id, r.checkout_request_id);
    let record = &sim.wait_callbacks(1).await[0];
    let PushState::Done { at_ms, .. } = sim.push_state(&r.checkout_request_id).unwrap() else {
        panic!()
    };
    assert!(
        record.at_ms - at_ms >= 10 * 20,
        "callback delayed by 10 units of 20 ms: {}",
        record.at_ms - at_ms
    );
    assert!(settled_at.elapsed() < Duration::from_secs(10));

    let state: Value = reqwest::get(format!("{}/sim/state", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["token_requests"], 1);
    assert_eq!(
        state["pushes"][0]["checkout_request_id"],
        r.checkout_request_id.as_str()
    );
    assert_eq!(state["pushes"][0]["state"]["state"], "done");
    assert_eq!(state["receipts"].as_array().unwrap().len(), 1);
    let log: Value = reqwest::get(format!("{}/sim/log", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(log.as_array().unwrap().len() >= 42);
}
