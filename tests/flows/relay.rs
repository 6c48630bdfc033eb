//! daraja-sim → duka-relay → till, over real HTTP and a real websocket on 127.0.0.1:0.

use std::time::Duration;

use daraja_sim::SimConfig;
use duka_core::Msisdn;
use duka_core::engine::PollPolicy;
use duka_core::payment::{AttemptState, PaymentEvent};
use duka_tests::engine::rig_full;
use duka_tests::relay;
use duka_tests::stk_callback as callback;
use duka_tests::{eventually, fast_sim};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_reaches_the_till_through_the_relay_before_any_query() {
    let relay = relay::start().await;
    let pairing = relay.pair("Mama Mboga", "Front");
    // The production poll schedule: the first query would come 5 s after the push.
    let r = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    let client = duka_core::relay::spawn(r.engine.clone(), pairing.clone());
    eventually("connected", || client.status().connected).await;
    let a = r
        .engine
        .charge(
            r.sale(100),
            &Msisdn::parse("0700000000").unwrap(),
            100,
            "Wanjiku",
        )
        .await
        .unwrap();
    let a = r
        .engine
        .wait_settled(&a.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        matches!(a.state, AttemptState::Paid { receipt: Some(_) }),
        "{a:?}"
    );
    let events = r.db().attempt_events(&a.id).unwrap();
    assert_eq!(events.last().unwrap().source, "relay");
    assert!(
        r.sim.log().iter().all(|l| !l.path.contains("query")),
        "paid before the poller's first query"
    );
    let cb = &r.sim.wait_callbacks(1).await[0];
    assert_eq!(cb.outcome, "200", "the relay answered Daraja");
    assert!(
        cb.url
            .starts_with(&format!("{}/v1/cb/{}/{}/", relay.url, pairing.till, a.id))
    );
    eventually("acknowledged", || {
        relay.relay.store().unacked(&pairing.till).unwrap() == 0
    })
    .await;
    assert_eq!(client.status().applied_seq, 1);
    // Per shop: stored, delivered and acknowledged by this process, and nothing pending.
    let metrics = reqwest::get(format!("{}/metrics", relay.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        format!(
            "duka_relay_shop_stored_total{{shop=\"{}\"}} 1",
            pairing.shop
        ),
        format!(
            "duka_relay_shop_delivered_total{{shop=\"{}\"}} 1",
            pairing.shop
        ),
        format!("duka_relay_shop_acked_total{{shop=\"{}\"}} 1", pairing.shop),
        format!("duka_relay_shop_pending{{shop=\"{}\"}} 0", pairing.shop),
    ] {
        assert!(metrics.contains(&series), "{series} in\n{metrics}");
    }
    let health = r.engine.health().await.relay.unwrap();
    assert!(
        health.connected && health.last_message_at.is_some(),
        "{health:?}"
    );
    client.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_callbacks_while_the_till_is_offline_are_applied_once_each() {
    let relay = relay::start().await;
    let pairing = relay.pair("Mama Mboga", "Front");
    let r = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    // 1,000 pending attempts.
    let attempts = r.pending_attempts(1000, "25471", "offline");
    // Daraja calls back while the till is off; a few callbacks come twice.
    let http = reqwest::Client::new();
    let key = pairing.key_bytes();
    let mut posts = Vec::new();
    for (i, (id, checkout, phone)) in attempts.iter().enumerate() {
        let url = duka_relay_proto::stk_callback_url(&relay.url, &pairing.till, &key, id);
        let body = callback(checkout, 0, 50, &format!("UKN{i:07}"), phone);
        for _ in 0..(1 + usize::from(i % 100 == 0)) {
            posts.push((url.clone(), body.clone()));
        }
    }
    let mut accepted = 0;
    for chunk in posts.chunks(50) {
        let sends = chunk.iter().map(|(u, b)| http.post(u).json(b).send());
        for resp in futures_util::future::join_all(sends).await {
            let resp = resp.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(
                resp.json::<Value>().await.unwrap()["ResultDesc"],
                "Accepted"
            );
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1010);
    assert_eq!(relay.relay.store().unacked(&pairing.till).unwrap(), 1010);

    let client = duka_core::relay::spawn(r.engine.clone(), pairing.clone());
    eventually("all applied", || {
        r.db().attempts(true, 2000).unwrap().is_empty()
    })
    .await;
    eventually("all acknowledged", || {
        relay.relay.store().unacked(&pairing.till).unwrap() == 0
    })
    .await;
    for (id, ..) in &attempts {
        let a = r.db().attempt(id).unwrap();
        assert!(
            matches!(a.state, AttemptState::Paid { receipt: Some(_) }),
            "{a:?}"
        );
        let results = r
            .db()
            .attempt_events(id)
            .unwrap()
            .into_iter()
            .filter(|e| e.event == "result")
            .count();
        assert_eq!(results, 1, "applied once");
    }
    let report = r.db().day_report(duka_core::time::today()).unwrap();
    assert_eq!(report.taken.cents(), 1000 * 5_000, "money counted once");
    assert_eq!(client.status().applied_seq, 1010);
    client.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_malformed_and_oversized_callbacks_are_refused() {
    let relay = relay::start().await;
    let front = relay.pair("Mama Mboga", "Front");
    let other = relay.pair("Other Shop", "Till");
    let r = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    let client = duka_core::relay::spawn(r.engine.clone(), front.clone());
    eventually("connected", || client.status().connected).await;
    let sale = r.sale(100);
    let a = r
        .db()
        .create_attempt(sale, &Msisdn::parse("0712345678").unwrap(), 100, "Wanjiku")
        .unwrap();
    r.db()
        .apply_event(
            &a.id,
            &PaymentEvent::PushAccepted {
                checkout_id: "ws_CO_f".into(),
            },
            "engine",
            None,
        )
        .unwrap();
    let http = reqwest::Client::new();
    let body = callback("ws_CO_f", 0, 100, "UKN0000001", "254712345678");
    let good =
        duka_relay_proto::stk_callback_url(&relay.url, &front.till, &front.key_bytes(), &a.id);
    let post = |url: String, body: String| {
        let http = http.clone();
        async move {
            http.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Another till's key signing this till's URL; a made-up signature; an unknown till.
    let forged =
        duka_relay_proto::stk_callback_url(&relay.url, &front.till, &other.key_bytes(), &a.id);
    assert_eq!(post(forged, body.to_string()).await, 403);
    let exp = good.split('/').nth(7).unwrap().to_string();
    let made_up = format!(
        "{}/v1/cb/{}/{}/{exp}/{}",
        relay.url,
        front.till,
        a.id,
        "0".repeat(32)
    );
    assert_eq!(post(made_up, body.to_string()).await, 403);
    // A URL of a Duka before expiring URLs: refused, saying so.
    let legacy = format!(
        "{}/v1/cb/{}/{}/{}",
        relay.url,
        front.till,
        a.id,
        duka_relay_proto::sign(&front.key_bytes(), &format!("stk|{}", a.id))
    );
    assert_eq!(post(legacy, body.to_string()).await, 410);
    let unknown =
        duka_relay_proto::stk_callback_url(&relay.url, "abcdef0123", &front.key_bytes(), &a.id);
    assert_eq!(post(unknown, body.to_string()).await, 404);
    assert_eq!(post(good.clone(), "{not json".into()).await, 400);
    assert_eq!(post(good.clone(), "[1,2,3]".into()).await, 400);
    assert_eq!(
        post(
            good.clone(),
            format!("{{\"Body\":\"{}\"}}", "x".repeat(100_000))
        )
        .await,
        413
    );
    assert_eq!(http.get(&good).send().await.unwrap().status(), 405);
    assert_eq!(
        relay.relay.store().unacked(&front.till).unwrap(),
        0,
        "nothing refused was stored"
    );
    let m = &relay.relay.metrics;
    assert_eq!(
        (
            m.rejected("bad_signature"),
            m.rejected("unknown_till"),
            m.rejected("malformed"),
            m.rejected("too_large")
        ),
        (2, 1, 2, 1)
    );

    // A signed callback with the wrong amount is delivered and flagged at the till.
    let wrong = callback("ws_CO_f", 0, 1, "UKN0000001", "254712345678");
    assert_eq!(post(good.clone(), wrong.to_string()).await, 200);
    eventually("flagged", || r.db().attempt(&a.id).unwrap().flag.is_some()).await;
    assert!(matches!(
        r.db().attempt(&a.id).unwrap().state,
        AttemptState::Pending { .. }
    ));
    // The right one, then a replay of it: applied once.
    assert_eq!(post(good.clone(), body.to_string()).await, 200);
    assert_eq!(post(good, body.to_string()).await, 200);
    eventually("paid", || {
        matches!(
            r.db().attempt(&a.id).unwrap().state,
            AttemptState::Paid { .. }
        )
    })
    .await;
    eventually("acknowledged", || {
        relay.relay.store().unacked(&front.till).unwrap() == 0
    })
    .await;
    let results = r
        .db()
        .attempt_events(&a.id)
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "result")
        .count();
    assert_eq!(results, 1);
    let metrics = reqwest::get(format!("{}/metrics", relay.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("duka_relay_rejected_total{reason=\"bad_signature\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("duka_relay_connected_tills 1"),
        "{metrics}"
    );
    client.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_tills_of_a_shop_receive_a_c2b_confirmation_and_validation_is_answered() {
    let relay = relay::start().await;
    let front = relay.pair("Mama Mboga", "Front");
    let back = relay.pair("Mama Mboga", "Back");
    let r1 = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    let r2 = rig_full(fast_sim(), PollPolicy::default(), false, false, Some(&back)).await;
    let c1 = duka_core::relay::spawn(r1.engine.clone(), front.clone());
    let c2 = duka_core::relay::spawn(r2.engine.clone(), back.clone());
    eventually("both connected", || {
        c1.status().connected && c2.status().connected
    })
    .await;
    let shop = relay.relay.store().shop(&front.shop).unwrap().unwrap();
    let (confirm, validate) = duka_relay_proto::c2b_urls(&relay.url, &shop.id, &shop.key);
    let payload = json!({"TransactionType": "Pay Bill", "TransID": "UKN7777777", "TransTime": "20261123101010",
        "TransAmount": "150.00", "BusinessShortCode": "174379", "BillRefNumber": "Sale 3", "InvoiceNumber": "",
        "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 149", "FirstName": "John", "MiddleName": "", "LastName": "Doe"});
    let http = reqwest::Client::new();
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
        (Some("0"), Some("Accepted"))
    );
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
    for r in [&r1, &r2] {
        eventually("in the inbox", || r.db().inbox(10).unwrap().len() == 1).await;
        let p = &r.db().inbox(10).unwrap()[0];
        assert_eq!(
            (p.trans_id.as_str(), p.amount.cents()),
            ("UKN7777777", 15_000)
        );
    }
    // The cashier attaches it to a sale; the other till still sees it in its own inbox.
    let sale = r1.sale(150);
    let s = r1
        .db()
        .attach_incoming(
            "UKN7777777",
            sale,
            "Wanjiku",
            duka_core::store::Claim::Local,
        )
        .unwrap();
    assert_eq!(s.status, duka_core::sale::SaleStatus::Paid);
    assert!(r1.db().inbox(10).unwrap().is_empty());
    // A forged C2B URL is refused.
    let bad = confirm.replace(
        &confirm[confirm.len() - 40..confirm.len() - 8],
        &"0".repeat(32),
    );
    assert_eq!(
        http.post(&bad)
            .json(&payload)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    c1.stop();
    c2.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_mid_stream_loses_nothing_it_accepted_and_applies_nothing_twice() {
    let backend = relay::ProcessStore::new().await;
    let port = relay::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let pairing = backend.till_add("Mama Mboga", "Front", &url);
    let mut relay = backend.spawn(port, &[]).0;

    let r = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    let client = duka_core::relay::spawn(r.engine.clone(), pairing.clone());
    eventually("connected", || client.status().connected).await;
    let n = 300;
    let attempts = r.pending_attempts(n, "25472", "kill");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let key = pairing.key_bytes();
    let mut accepted = Vec::new();
    for (i, (id, checkout, phone)) in attempts.iter().enumerate() {
        if i == n / 3 {
            // kill -9 in the middle of the stream, then start it again on the same port.
            relay.kill().unwrap();
            relay.wait().unwrap();
            relay = backend.spawn(port, &[]).0;
        }
        let body = callback(checkout, 0, 50, &format!("UKK{i:07}"), phone);
        let sends = (0..2).map(|_| {
            http.post(duka_relay_proto::stk_callback_url(
                &url,
                &pairing.till,
                &key,
                id,
            ))
            .json(&body)
            .send()
        });
        // Each callback twice, concurrently: duplicates must apply once.
        for resp in futures_util::future::join_all(sends).await {
            if let Ok(resp) = resp
                && resp.status() == 200
            {
                accepted.push(id.clone());
            }
        }
    }
    accepted.sort();
    accepted.dedup();
    assert_eq!(
        accepted.len(),
        n,
        "the relay accepted every callback sent while it was up"
    );
    eventually("every accepted callback applied", || {
        accepted
            .iter()
            .all(|id| matches!(r.db().attempt(id).unwrap().state, AttemptState::Paid { .. }))
    })
    .await;
    for (id, ..) in &attempts {
        let results = r
            .db()
            .attempt_events(id)
            .unwrap()
            .into_iter()
            .filter(|e| e.event == "result")
            .count();
        assert!(results <= 1, "applied twice: {id}");
    }
    let report = r.db().day_report(duka_core::time::today()).unwrap();
    assert_eq!(report.taken.cents(), n as i64 * 5_000, "money counted once");
    client.stop();
    relay.kill().unwrap();
    relay.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duka_relay_pair_stores_the_key_in_the_secret_store_and_status_reaches_the_relay() {
    let relay = relay::start().await;
    let pairing = relay.pair("Mama Mboga", "Front").encode();
    let out = tokio::task::spawn_blocking(move || {
        let till = duka_tests::Till::new();
        // Demo mode pairs only with a relay on this machine: one on the internet would bring
        // the shop's payments into demo's database.
        till.run(&["init"]).ok();
        let mut internet = duka_relay_proto::Pairing::decode(&pairing).unwrap();
        internet.url = "https://relay.example.com".into();
        let demo = till.run_with_stdin(&["relay", "pair"], &format!("{}\n", internet.encode()));
        assert_eq!(demo.code, 1);
        assert!(
            demo.stderr
                .contains("in demo mode, a relay on this machine"),
            "{}",
            demo.stderr
        );
        assert!(
            !till.data_dir().join("secrets.json").exists(),
            "nothing stored"
        );
        till.run(&["init", "--environment", "sandbox", "--shortcode", "174379"])
            .ok();
        let bad = till.run_with_stdin(&["relay", "pair"], "dukarelay1:nonsense\n");
        // On the command line it is refused before anything is read or stored.
        let argv = till.run(&["relay", "pair", &pairing]);
        assert_eq!(argv.code, 1);
        assert!(argv.stderr.contains("on standard input"), "{}", argv.stderr);
        assert!(!argv.stderr.contains(&pairing), "the key is not echoed");
        assert!(
            !till.data_dir().join("secrets.json").exists(),
            "nothing stored"
        );
        let paired = till
            .run_with_stdin(&["--json", "relay", "pair"], &format!("{pairing}\n"))
            .ok()
            .json();
        let status = till.json(&["relay", "status"]);
        let key = pairing_key(&pairing);
        let secrets = std::fs::read_to_string(till.data_dir().join("secrets.json")).unwrap();
        let db = std::fs::read(till.db()).unwrap();
        (
            bad,
            paired,
            status,
            secrets.contains(&key),
            db.windows(key.len()).any(|w| w == key.as_bytes()),
        )
    })
    .await
    .unwrap();
    let (bad, paired, status, key_in_secrets, key_in_db) = out;
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .starts_with("error: pairing: expected the string"),
        "{}",
        bad.stderr
    );
    assert_eq!(paired["key_stored_in"], "file");
    assert!(
        key_in_secrets && !key_in_db,
        "the relay key lives in the secret store, not SQLite"
    );
    assert_eq!(status["applied_seq"], 0);
    assert!(
        status["healthz"].as_str().unwrap().contains("\"ok\":true"),
        "{status}"
    );
}

fn pairing_key(s: &str) -> String {
    duka_relay_proto::Pairing::decode(s).unwrap().key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_serves_https_from_pem_files() {
    let backend = relay::ProcessStore::new().await;
    let fixtures = format!(
        "{}/../crates/daraja-sim/fixtures",
        env!("CARGO_MANIFEST_DIR")
    );
    let port = relay::free_port();
    let url = format!("https://127.0.0.1:{port}");
    let pairing = backend.till_add("S", "T", &url);
    let (cert, key) = (
        format!("{fixtures}/test-initiator.crt"),
        format!("{fixtures}/test-initiator.key"),
    );
    let (mut relay, line) = backend.spawn(port, &["--tls-cert", &cert, "--tls-key", &key]);
    assert!(line.contains("listening on https://"), "{line}");
    // The test certificate is self-signed: this client trusts it knowingly.
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let health: Value = http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ok"], true);
    let cb = duka_relay_proto::stk_callback_url(&url, &pairing.till, &pairing.key_bytes(), "ab12");
    let r = http
        .post(cb)
        .json(&callback("ws_CO_tls", 1032, 0, "", "254712345678"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err(),
        "no plain HTTP on a TLS port"
    );
    relay.kill().unwrap();
    relay.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_allow_list_behind_a_proxy_and_the_c2b_validation_default() {
    let body = callback("ws_CO_x", 1032, 0, "", "254712345678");
    let http = reqwest::Client::new();

    // Two requests a second (burst of four), then 429.
    let limited = relay::start_with(|c| c.rate_limit_per_ip = Some(2)).await;
    let p = limited.pair("S", "T");
    let url = duka_relay_proto::stk_callback_url(&limited.url, &p.till, &p.key_bytes(), "ab");
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(
            http.post(&url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(codes, vec![200, 200, 200, 200, 429, 429]);
    assert_eq!(limited.relay.metrics.rejected("rate_limited"), 2);

    // Only Safaricom's addresses; the local proxy's X-Forwarded-For is believed.
    let listed = relay::start_with(|c| {
        c.rate_limit_per_ip = None;
        c.allow_ips = vec!["196.201.214.200".parse().unwrap()];
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let p = listed.pair("S", "T");
    let url = duka_relay_proto::stk_callback_url(&listed.url, &p.till, &p.key_bytes(), "ab");
    let from = |ip: &'static str| {
        http.post(&url)
            .header("x-forwarded-for", ip)
            .json(&body)
            .send()
    };
    assert_eq!(from("196.201.214.200").await.unwrap().status(), 200);
    assert_eq!(from("41.90.1.2").await.unwrap().status(), 403);
    assert_eq!(
        http.post(&url).json(&body).send().await.unwrap().status(),
        403,
        "the proxy itself is not Safaricom"
    );
    assert_eq!(listed.relay.metrics.rejected("ip_not_allowed"), 2);

    // No till connected: the shop's default answers validation.
    let shop = listed.relay.store().shop(&p.shop).unwrap().unwrap();
    let (_, validate) = duka_relay_proto::c2b_urls(&listed.url, &shop.id, &shop.key);
    let payload = json!({"TransID": "UKN1", "TransAmount": "10"});
    let ask = || {
        http.post(&validate)
            .header("x-forwarded-for", "196.201.214.200")
            .json(&payload)
            .send()
    };
    let v: Value = ask().await.unwrap().json().await.unwrap();
    assert_eq!(v["ResultCode"], "0", "Completed by default");
    listed
        .relay
        .store()
        .set_c2b_default(&shop.id, "Cancelled")
        .unwrap();
    let v: Value = ask().await.unwrap().json().await.unwrap();
    assert_eq!(v["ResultCode"], "C2B00016");
}

/// A shop till (not the test rig: started from its settings and secrets as the apps start
/// it) that is paired and has an initiator fetches the receipt of a payment whose callback
/// never came by Transaction Status, and the result comes back through the relay; a refund to
/// M-Pesa of the same payment is reversed and its Result comes back the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paired_shop_till_gets_a_lost_receipt_by_transaction_status_and_reverses_it_through_the_relay()
 {
    use daraja_sim::{CallbackMode, Faults, Sim};
    use duka_core::config::Mode;
    use duka_core::secrets::{MemorySecrets, Secret, SecretKey, SecretStore};
    use std::sync::Arc;

    let relay = relay::start().await;
    let pairing = relay.pair("Mama Mboga", "Front");
    let sim = Sim::spawn(SimConfig {
        initiator_private_key_pem: Some(daraja_sim::TEST_INITIATOR_KEY.into()),
        faults: Faults {
            callback: CallbackMode::None,
            ..Faults::default()
        },
        ..fast_sim()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let cert = data.join("mpesa-cert.pem");
    std::fs::write(&cert, daraja_sim::TEST_INITIATOR_CERT).unwrap();
    let secrets: Arc<dyn SecretStore> = Arc::new(MemorySecrets::default());
    let cfg = sim.config();
    for (k, v) in [
        (SecretKey::ConsumerKey, cfg.consumer_key.as_str()),
        (SecretKey::ConsumerSecret, cfg.consumer_secret.as_str()),
        (SecretKey::Passkey, daraja_sim::config::SANDBOX_PASSKEY),
        (SecretKey::InitiatorPassword, "Safaricom999!*!"),
    ] {
        secrets.set(k, &Secret::new(v)).unwrap();
    }
    let db = Mode::Shop.db_path(data);
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    {
        let till = duka_app::offline(duka_core::Store::open(&db).unwrap(), Mode::Shop).unwrap();
        till.ensure_owner("Owner").unwrap();
        let cert = cert.display().to_string();
        till.save_settings(&[
            ("environment", Some("custom")),
            ("daraja_base_url", Some(sim.base_url())),
            ("shortcode", Some("174379")),
            ("initiator", Some("testapi")),
            ("certificate", Some(&cert)),
        ])
        .unwrap();
        till.pair_relay(secrets.as_ref(), &pairing.encode())
            .unwrap();
    }
    Mode::Shop.choose(data).unwrap();
    let (store, mode) = duka_app::open_till(data, secrets.as_ref()).unwrap();
    assert_eq!(mode, Mode::Shop);
    let opts = duka_app::Options {
        demo_customer: duka_app::DemoCustomer::PaysAfter(1),
    };
    let till = duka_app::start_with_secrets(store, mode, secrets, opts)
        .await
        .unwrap();
    assert!(
        till.relay()
            .unwrap()
            .wait_connected(Duration::from_secs(10))
            .await
    );
    let line = duka_core::till::LineInput {
        description: Some("Sugar 1kg".into()),
        price: Some("100".into()),
        quantity: 1,
        ..Default::default()
    };
    let sale = till.create_sale("Owner", &[line]).unwrap();
    let phone = Msisdn::parse("0700000110").unwrap();
    let a = till.charge(sale.id, &phone, None, "Owner").await.unwrap();
    let mut events = till.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = till.attempt(&a.id).unwrap();
        if matches!(now.state, AttemptState::Paid { receipt: Some(_) }) {
            break;
        }
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the receipt never came")
            .unwrap();
    }
    let sources: Vec<String> = till
        .attempt_events(&a.id)
        .unwrap()
        .into_iter()
        .map(|e| e.source)
        .collect();
    assert_eq!(
        sources.last().map(String::as_str),
        Some("status"),
        "{sources:?}"
    );
    let status_calls = sim
        .log()
        .iter()
        .filter(|l| l.path.contains("transactionstatus"))
        .count();
    assert_eq!(status_calls, 1, "one Transaction Status request");
    assert!(till.sale(sale.id).unwrap().tenders[0].verified);

    // The same initiator reverses it, and the Result comes back through the relay too.
    let refund = till
        .refund_to_mpesa(sale.id, None, "customer returned it", "Owner")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let done = loop {
        let now = till
            .refunds_of(sale.id)
            .unwrap()
            .into_iter()
            .find(|r| r.id == refund.id)
            .unwrap();
        if now.state.is_final() {
            break now;
        }
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the reversal's result never came")
            .unwrap();
    };
    assert_eq!(
        done.state,
        duka_core::refund::RefundState::Reversed,
        "{done:?}"
    );
    assert_eq!(sim.reversals().len(), 1);
    let cb = sim.callbacks();
    assert!(
        cb.iter().any(|c| c
            .url
            .contains(&format!("/v1/reversal/{}/{}/", pairing.till, refund.id))),
        "the result went to the relay's signed URL: {cb:?}"
    );
    till.stop();
}
