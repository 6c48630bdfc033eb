//! Several `duka-relay` processes on one PostgreSQL database (`DUKA_TEST_POSTGRES` names the
//! server; `scripts/test.sh` starts one): a callback taken by one process reaches a till
//! connected to another; one process killed with -9 mid-stream, its tills move to the other
//! and every callback is applied once; tills on two processes claiming one receipt at once,
//! one wins. Without the variable (the SQLite pass) each test says so and returns: these are
//! about sharing one database, which SQLite does not do.

use std::time::Duration;

use duka_core::engine::PollPolicy;
use duka_core::payment::AttemptState;
use duka_relay_proto::{FromTill, Pairing, ToTill};
use duka_tests::engine::rig_full;
use duka_tests::relay;
use duka_tests::stk_callback as callback;
use duka_tests::{eventually, fast_sim};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn on_postgres(test: &str) -> bool {
    if duka_relay::testing::postgres_url().is_some() {
        return true;
    }
    eprintln!(
        "{test}: not run in this pass (it needs PostgreSQL: set {}; scripts/test.sh runs it)",
        duka_relay::testing::ENV
    );
    false
}

/// A relay process on `backend`, on a port of its own; its address.
fn process(backend: &relay::ProcessStore) -> (std::process::Child, std::net::SocketAddr) {
    let port = relay::free_port();
    let config = backend.dir.path().join("relay.json");
    std::fs::write(&config, r#"{"no_rate_limit": true}"#).unwrap();
    let child = backend
        .spawn(port, &["--config", config.to_str().unwrap()])
        .0;
    (child, format!("127.0.0.1:{port}").parse().unwrap())
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn results(r: &duka_tests::engine::Rig, id: &str) -> usize {
    r.db()
        .attempt_events(id)
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "result")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_taken_by_one_process_reaches_a_till_connected_to_another() {
    if !on_postgres("a_callback_taken_by_one_process_reaches_a_till_connected_to_another") {
        return;
    }
    let backend = relay::ProcessStore::new().await;
    let (a, a_addr) = process(&backend);
    let _a = Killed(a);
    let (b, b_addr) = process(&backend);
    let _b = Killed(b);
    let (a_url, b_url) = (format!("http://{a_addr}"), format!("http://{b_addr}"));
    // The till is paired with B's URL and connects there; Daraja calls A.
    let pairing = backend.till_add("Mama Mboga", "Front", &b_url);
    let r = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    let client = duka_core::relay::spawn(r.engine.clone(), pairing.clone());
    eventually("connected to B", || client.status().connected).await;
    let attempts = r.pending_attempts(50, "25474", "cross");
    let http = reqwest::Client::new();
    let key = pairing.key_bytes();
    for (i, (id, checkout, phone)) in attempts.iter().enumerate() {
        let url = duka_relay_proto::stk_callback_url(&a_url, &pairing.till, &key, id);
        let body = callback(checkout, 0, 50, &format!("UKX{i:07}"), phone);
        let resp = http.post(url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    eventually("every callback taken by A applied by the till on B", || {
        attempts
            .iter()
            .all(|(id, ..)| matches!(r.db().attempt(id).unwrap().state, AttemptState::Paid { .. }))
    })
    .await;
    eventually("acknowledged through B", || {
        relay::block(backend.store.store.unacked(&pairing.till)).unwrap() == 0
    })
    .await;
    assert!(attempts.iter().all(|(id, ..)| results(&r, id) == 1));
    // B's LISTEN connection is cut (a database restart, a network blip): B listens again and
    // has its tills replay, so callbacks A takes meanwhile still arrive.
    backend
        .store
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'duka-relay listen'",
        )
        .await;
    let more = r.pending_attempts(20, "25476", "relisten");
    for (i, (id, checkout, phone)) in more.iter().enumerate() {
        let url = duka_relay_proto::stk_callback_url(&a_url, &pairing.till, &key, id);
        let body = callback(checkout, 0, 50, &format!("UKY{i:07}"), phone);
        let resp = http.post(url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    eventually("callbacks taken while B was not listening applied", || {
        more.iter()
            .all(|(id, ..)| matches!(r.db().attempt(id).unwrap().state, AttemptState::Paid { .. }))
    })
    .await;
    assert!(more.iter().all(|(id, ..)| results(&r, id) == 1));
    // A C2B confirmation to A reaches the till on B too.
    let shop = relay::block(backend.store.store.shop(&pairing.shop))
        .unwrap()
        .unwrap();
    let (confirm, _) = duka_relay_proto::c2b_urls(&a_url, &shop.id, &shop.key);
    let payload = json!({"TransactionType": "Pay Bill", "TransID": "UKX7777777", "TransTime": "20261123101010",
        "TransAmount": "150.00", "BusinessShortCode": "174379", "BillRefNumber": "", "InvoiceNumber": "",
        "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 149", "FirstName": "John", "MiddleName": "", "LastName": "Doe"});
    let v: Value = http
        .post(&confirm)
        .json(&payload)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ResultDesc"], "Success");
    eventually("the C2B payment in the inbox of the till on B", || {
        r.db().inbox(10).unwrap().len() == 1
    })
    .await;
    // A C2B validation Daraja asks of A is answered by the till on B (the shop's default,
    // Cancelled, would have rejected it).
    relay::block(backend.store.store.set_c2b_default(&shop.id, "Cancelled")).unwrap();
    let (_, validate) = duka_relay_proto::c2b_urls(&a_url, &shop.id, &shop.key);
    let v: Value = http
        .post(&validate)
        .json(&payload)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["ResultCode"].as_str(), v["ResultDesc"].as_str()),
        (Some("0"), Some("Accepted")),
        "answered by the till on the other process"
    );
    // A revocation made by A's operator closes the till's session on B.
    assert!(relay::block(backend.store.store.revoke_till(&pairing.till)).unwrap());
    eventually("the revoked till is disconnected by B", || {
        !client.status().connected
    })
    .await;
    client.stop();
}

/// A post that Daraja would retry: until the relay answers 200 (or 30 s pass).
async fn post_until_accepted(http: &reqwest::Client, url: &str, body: &Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.post(url).json(body).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never accepted: {url}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_killed_mid_stream_its_tills_move_to_the_other_and_every_callback_applies_once()
{
    if !on_postgres("one_process_killed_mid_stream") {
        return;
    }
    let backend = relay::ProcessStore::new().await;
    let (a, a_addr) = process(&backend);
    let mut a = Some(a);
    let (b, b_addr) = process(&backend);
    let _b = Killed(b);
    // The load balancer: every connection to the first live process (A, then B).
    let front = relay::front(vec![a_addr, b_addr]).await;
    let front_url = format!("http://{front}");
    let b_url = format!("http://{b_addr}");
    let pairing = backend.till_add("Mama Mboga", "Front", &front_url);
    let r = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    let client = duka_core::relay::spawn(r.engine.clone(), pairing.clone());
    eventually("connected (to A, through the front)", || {
        client.status().connected
    })
    .await;
    let n = 300;
    let attempts = r.pending_attempts(n, "25475", "failover");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let key = pairing.key_bytes();
    for (i, (id, checkout, phone)) in attempts.iter().enumerate() {
        if i == n / 3 {
            // kill -9 A mid-stream: its connections drop, the front sends new ones to B.
            let mut child = a.take().unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let body = callback(checkout, 0, 50, &format!("UKF{i:07}"), phone);
        // Each callback twice at once, through the front and straight to B: two processes
        // store it, the till applies it once.
        let via_front = duka_relay_proto::stk_callback_url(&front_url, &pairing.till, &key, id);
        let to_b = duka_relay_proto::stk_callback_url(&b_url, &pairing.till, &key, id);
        tokio::join!(
            post_until_accepted(&http, &via_front, &body),
            post_until_accepted(&http, &to_b, &body)
        );
    }
    eventually("every callback applied after the failover", || {
        attempts
            .iter()
            .all(|(id, ..)| matches!(r.db().attempt(id).unwrap().state, AttemptState::Paid { .. }))
    })
    .await;
    for (id, ..) in &attempts {
        assert_eq!(results(&r, id), 1, "applied once: {id}");
    }
    let report = r.db().day_report(duka_core::time::today()).unwrap();
    assert_eq!(report.taken.cents(), n as i64 * 5_000, "money counted once");
    eventually("everything acknowledged through B", || {
        relay::block(backend.store.store.unacked(&pairing.till)).unwrap() == 0
    })
    .await;
    client.stop();
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A bare till on the websocket (no engine): challenge, hello, ready.
async fn connect(p: &Pairing, url: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(duka_core::relay::ws_url(url))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no challenge")
    };
    let Ok(ToTill::Challenge { nonce }) = serde_json::from_str(&t) else {
        panic!("not a challenge: {t}")
    };
    let hello = FromTill::Hello {
        till: p.till.clone(),
        mac: duka_relay_proto::sign(&p.key_bytes(), &duka_relay_proto::ws_message(&nonce)),
        proto: duka_relay_proto::PROTOCOL,
        resume_after: 0,
        epoch: None,
        query: false,
    };
    ws.send(Message::Text(serde_json::to_string(&hello).unwrap().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no ready")
    };
    assert!(t.contains("ready"), "{t}");
    ws
}

/// Sends a claim and reads frames until its answer; `claimed` notices seen on the way are
/// counted into `notices`.
async fn claim(ws: &mut Ws, id: &str, key: &str, sale: &str, notices: &mut Vec<String>) -> bool {
    let frame = FromTill::Claim {
        id: id.into(),
        key: key.into(),
        sale: sale.into(),
        amount_cents: Some(10_000),
    };
    ws.send(Message::Text(serde_json::to_string(&frame).unwrap().into()))
        .await
        .unwrap();
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("connection lost before the claim's answer")
        };
        match serde_json::from_str::<ToTill>(&t) {
            Ok(ToTill::ClaimResult { id: got, won, .. }) if got == id => return won,
            Ok(ToTill::Message { body, .. }) => notices.push(body),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tills_on_two_processes_claiming_one_receipt_at_once_exactly_one_wins() {
    if !on_postgres("tills_on_two_processes_claiming_one_receipt_at_once_exactly_one_wins") {
        return;
    }
    let backend = relay::ProcessStore::new().await;
    let (a, a_addr) = process(&backend);
    let _a = Killed(a);
    let (b, b_addr) = process(&backend);
    let _b = Killed(b);
    let (a_url, b_url) = (format!("http://{a_addr}"), format!("http://{b_addr}"));
    let front = backend.till_add("Mama Mboga", "Front", &a_url);
    let back = backend.till_add("Mama Mboga", "Back", &b_url);
    let mut on_a = connect(&front, &a_url).await;
    let mut on_b = connect(&back, &b_url).await;
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    let rounds = 30;
    let mut wins = (0, 0);
    for n in 0..rounds {
        let key = format!("UKC{n:07}");
        let (ida, idb) = (format!("a{n}"), format!("b{n}"));
        let (wa, wb) = tokio::join!(
            claim(&mut on_a, &ida, &key, "1", &mut seen_a),
            claim(&mut on_b, &idb, &key, "2", &mut seen_b)
        );
        assert!(
            wa ^ wb,
            "{key}: exactly one of the two wins (A {wa}, B {wb})"
        );
        wins.0 += usize::from(wa);
        wins.1 += usize::from(wb);
        let owner = relay::block(backend.store.store.claim_owner(&front.shop, &key))
            .unwrap()
            .unwrap();
        let winner = if wa { &front.till } else { &back.till };
        assert_eq!(&owner.0, winner, "the store names the winner");
    }
    assert_eq!(wins.0 + wins.1, rounds);
    // Each loser is told who took it (a `claimed` message, through its own process).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen_a.len() < wins.1 || seen_b.len() < wins.0 {
        let (ws, seen) = if seen_a.len() < wins.1 {
            (&mut on_a, &mut seen_a)
        } else {
            (&mut on_b, &mut seen_b)
        };
        let t = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the loser's `claimed` notices never all came");
        if let Some(Ok(Message::Text(t))) = t
            && let Ok(ToTill::Message { body, .. }) = serde_json::from_str::<ToTill>(&t)
        {
            seen.push(body);
        }
    }
    assert_eq!((seen_a.len(), seen_b.len()), (wins.1, wins.0));
}
