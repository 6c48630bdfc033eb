//! Crash test: `duka charge` is killed with SIGKILL at many points (or aborts itself at named
//! points: after the attempt is committed, after Daraja answered, after the answer is stored),
//! then `duka reconcile` runs. Checked against the simulator's own record of every push:
//! no attempt lost, never a second push for a sale, nothing paid that Daraja did not pay, every
//! attempt final or surfaced as unknown, and the money counted once.
//!
//! `DUKA_CRASH_POINTS` (default 200) sets how many kill points; 1,000+ runs the same way.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use daraja_sim::{Behaviour, PhoneRule, Sim, SimConfig};
use duka_core::Store;
use duka_core::sale::NewLine;
use duka_tests::Till;
use serde_json::Value;

const WORKERS: usize = 4;
const NAMED: [&str; 3] = ["after_commit", "after_push_answer", "after_push_stored"];

struct Outcome {
    phone: String,
    sale: i64,
    db_path: std::path::PathBuf,
}

fn worker(w: usize, points: usize, base_url: String) -> Vec<Outcome> {
    let till = Till::new()
        .with_env("DUKA_ENVIRONMENT", "custom")
        .with_env("DUKA_DARAJA_BASE_URL", &base_url)
        .with_env("DUKA_CONSUMER_KEY", "duka-demo-key")
        .with_env("DUKA_CONSUMER_SECRET", "duka-demo-secret")
        .with_env("DUKA_PASSKEY", daraja_sim::config::SANDBOX_PASSKEY)
        .with_env("DUKA_SHORTCODE", "174379")
        .with_env("DUKA_POLL_SCALE", "50")
        // Each charge process is dead before reconcile runs: nothing else can be sending.
        .with_env("DUKA_INFLIGHT_GRACE_MS", "0");
    till.run(&["init"]).ok();
    let mut out = Vec::new();
    for i in 0..points {
        let sale = {
            let mut s = Store::open(&till.db()).unwrap();
            let line = NewLine::free(
                "Sugar 1kg",
                duka_core::Money::from_shillings(100).unwrap(),
                1,
            )
            .unwrap();
            s.create_sale("Owner", &[line]).unwrap().id
        };
        // Every fifth customer cancels (25479…); the rest pay after 200 ms (25478…).
        let phone = if i % 5 == 4 {
            format!("25479{w}{i:06}")
        } else {
            format!("25478{w}{i:06}")
        };
        let sale_s = sale.to_string();
        let args = [
            "charge",
            "--sale",
            sale_s.as_str(),
            "--phone",
            phone.as_str(),
        ];
        let mut child = if i % 4 == 3 {
            till.spawn(&args, &[("DUKA_CRASH_AT", NAMED[(i / 4) % NAMED.len()])])
        } else {
            let c = till.spawn(&args, &[]);
            // Kill points spread over the charge's life: start-up, commit, push, polling.
            let delay = Duration::from_millis(((i * 7919 + w * 131) % 700) as u64);
            let started = Instant::now();
            let mut c = c;
            while started.elapsed() < delay {
                if c.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = c.kill();
            c
        };
        child.wait().unwrap();
        let r = till.run(&["reconcile"]);
        assert!(r.code == 0 || r.code == 3, "reconcile failed: {r:?}");
        out.push(Outcome {
            phone,
            sale,
            db_path: till.db(),
        });
    }
    // Keep the directory for the checks.
    std::mem::forget(till);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_charge_anywhere_then_reconcile_loses_and_doubles_nothing() {
    let points: usize = std::env::var("DUKA_CRASH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut cfg = SimConfig {
        time_unit_ms: 10,
        default_behaviour: Behaviour::Pay { after_units: 20 },
        ..SimConfig::default()
    };
    cfg.prompt_timeout_units = 100;
    cfg.phone_rules = vec![PhoneRule {
        prefix: "25479".into(),
        behaviour: Behaviour::Fail {
            code: "1032".into(),
            after_units: 20,
        },
    }];
    let sim = Sim::spawn(cfg).await.unwrap();
    let base = sim.base_url().to_string();
    let mut handles = Vec::new();
    for w in 0..WORKERS {
        let base = base.clone();
        let n = points / WORKERS + usize::from(w < points % WORKERS);
        handles.push(tokio::task::spawn_blocking(move || worker(w, n, base)));
    }
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.extend(h.await.unwrap());
    }
    assert_eq!(outcomes.len(), points);

    let state: Value = reqwest::get(format!("{base}/sim/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut pushes: HashMap<String, Vec<&Value>> = HashMap::new();
    for p in state["pushes"].as_array().unwrap() {
        pushes
            .entry(p["phone"].as_str().unwrap().to_string())
            .or_default()
            .push(p);
    }
    let (mut paid, mut failed, mut unknown, mut never_sent) = (0, 0, 0, 0);
    for o in &outcomes {
        let store = Store::open(&o.db_path).unwrap();
        let attempts: Vec<_> = store
            .attempts(false, 100_000)
            .unwrap()
            .into_iter()
            .filter(|a| a.sale_id == o.sale)
            .collect();
        let sim_pushes = pushes.get(&o.phone).map(Vec::as_slice).unwrap_or(&[]);
        let ctx = format!(
            "sale {} phone {}: db {:?} sim {:?}",
            o.sale, o.phone, attempts, sim_pushes
        );
        // Never a second push for a sale.
        assert!(sim_pushes.len() <= 1, "{ctx}");
        assert!(attempts.len() <= 1, "{ctx}");
        // No attempt lost: a push Daraja saw has its attempt on disk (written before sending).
        if sim_pushes.len() == 1 {
            assert_eq!(attempts.len(), 1, "lost attempt: {ctx}");
        }
        let Some(a) = attempts.first() else {
            never_sent += 1;
            continue;
        };
        let sim_result = sim_pushes
            .first()
            .and_then(|p| p["state"]["result_code"].as_str());
        match a.state.name() {
            "paid" => {
                paid += 1;
                assert_eq!(sim_result, Some("0"), "paid without Daraja's word: {ctx}");
            }
            "failed" => {
                failed += 1;
                assert_ne!(sim_result, Some("0"), "failed but the customer paid: {ctx}");
            }
            "unknown" => {
                unknown += 1;
                // Only when the push answer was lost, so nothing can be queried: surfaced.
                assert!(
                    a.checkout_request_id.is_none(),
                    "unknown although it could be queried: {ctx}"
                );
            }
            other => panic!("left {other} after reconcile: {ctx}"),
        }
        if a.checkout_request_id.is_some() && sim_result == Some("0") {
            assert_eq!(a.state.name(), "paid", "{ctx}");
        }
        let sale = store.sale(o.sale).unwrap();
        let mpesa: i64 = sale.tenders.iter().map(|t| t.amount.cents()).sum();
        assert_eq!(
            mpesa,
            if a.state.name() == "paid" { 10_000 } else { 0 },
            "money counted once: {ctx}"
        );
        let events = store.attempt_events(&a.id).unwrap();
        assert_eq!(events[0].event, "created", "{ctx}");
    }
    println!(
        "crash points: {points}: {paid} paid, {failed} failed, {unknown} unknown (surfaced), {never_sent} killed before the commit"
    );
    assert!(
        paid > 0 && failed > 0,
        "the kill points must cover whole charges too"
    );
    assert!(
        never_sent + unknown > 0,
        "the kill points must cover early crashes too"
    );
}

/// `duka refund --mpesa` is killed at named points (after the refund is committed, after
/// Daraja answered) and at random moments, then `duka reconcile` runs. Checked against the
/// simulator's record: a refund is sent at most once, every reversal Daraja made has its
/// refund on disk, and nothing is left `requested`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_a_refund_to_mpesa_anywhere_and_it_is_never_sent_twice() {
    let points: usize = std::env::var("DUKA_REVERSAL_CRASH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let sim = Sim::spawn(SimConfig {
        time_unit_ms: 10,
        default_behaviour: Behaviour::Pay { after_units: 5 },
        initiator_private_key_pem: Some(daraja_sim::TEST_INITIATOR_KEY.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let relay = duka_tests::relay::start().await;
    let pairing = relay.pair("Mama Mboga", "Front").encode();
    let certs = tempfile::tempdir().unwrap();
    let cert = certs.path().join("mpesa.pem");
    std::fs::write(&cert, daraja_sim::TEST_INITIATOR_CERT).unwrap();
    let base = sim.base_url().to_string();
    let cert_s = cert.display().to_string();
    let outcomes = tokio::task::spawn_blocking(move || {
        let till = Till::new()
            .with_env("DUKA_ENVIRONMENT", "custom")
            .with_env("DUKA_DARAJA_BASE_URL", &base)
            .with_env("DUKA_CONSUMER_KEY", "duka-demo-key")
            .with_env("DUKA_CONSUMER_SECRET", "duka-demo-secret")
            .with_env("DUKA_PASSKEY", daraja_sim::config::SANDBOX_PASSKEY)
            .with_env("DUKA_SHORTCODE", "174379")
            .with_env("DUKA_INITIATOR", "testapi")
            .with_env("DUKA_CERTIFICATE", &cert_s)
            .with_env("DUKA_INITIATOR_PASSWORD", "Safaricom999!*!")
            .with_env("DUKA_POLL_SCALE", "50")
            .with_env("DUKA_INFLIGHT_GRACE_MS", "0");
        till.run(&["init"]).ok();
        till.run_with_stdin(&["relay", "pair"], &format!("{pairing}\n"))
            .ok();
        let mut sales = Vec::new();
        for i in 0..points {
            let sale = {
                let mut s = Store::open(&till.db()).unwrap();
                let line = NewLine::free(
                    "Sugar 1kg",
                    duka_core::Money::from_shillings(100).unwrap(),
                    1,
                )
                .unwrap();
                s.create_sale("Owner", &[line]).unwrap().id
            };
            let sale_s = sale.to_string();
            let phone = format!("2547800{i:05}");
            till.run(&["charge", "--sale", &sale_s, "--phone", &phone])
                .ok();
            let args = ["refund", sale_s.as_str(), "--mpesa", "--reason", "returned"];
            let mut child = match i % 3 {
                0 => till.spawn(&args, &[("DUKA_CRASH_AT", "reversal_after_commit")]),
                1 => till.spawn(&args, &[("DUKA_CRASH_AT", "reversal_after_answer")]),
                _ => {
                    let mut c = till.spawn(&args, &[]);
                    let delay = Duration::from_millis(((i * 7919) % 900) as u64);
                    let started = Instant::now();
                    while started.elapsed() < delay && c.try_wait().unwrap().is_none() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    let _ = c.kill();
                    c
                }
            };
            child.wait().unwrap();
            let r = till.run(&["reconcile"]);
            assert!(r.code == 0 || r.code == 3, "reconcile failed: {r:?}");
            sales.push(sale);
        }
        let db = till.db();
        std::mem::forget(till);
        (db, sales)
    })
    .await
    .unwrap();
    let (db, sales) = outcomes;
    let store = Store::open(&db).unwrap();
    let sent = sim
        .log()
        .iter()
        .filter(|l| l.path.contains("/mpesa/reversal"))
        .count();
    let reversed: HashMap<String, daraja_sim::Reversal> = sim
        .reversals()
        .into_iter()
        .map(|r| (r.original.clone(), r))
        .collect();
    let mut rows = 0;
    let mut states: HashMap<String, usize> = HashMap::new();
    let mut paid_sales = 0;
    for sale in &sales {
        let s = store.sale(*sale).unwrap();
        let Some(receipt) = s.tenders.first().and_then(|t| t.receipt.clone()) else {
            continue;
        };
        paid_sales += 1;
        let refunds = store.refunds_of(*sale).unwrap();
        let ctx = format!("sale {sale}: {refunds:?}");
        assert!(refunds.len() <= 1, "one refund per sale: {ctx}");
        rows += refunds.len();
        if reversed.contains_key(&receipt) {
            assert_eq!(
                refunds.len(),
                1,
                "a reversal Daraja made has its refund: {ctx}"
            );
        }
        if let Some(r) = refunds.first() {
            *states.entry(r.state.as_str().to_string()).or_default() += 1;
            assert_ne!(
                r.state.as_str(),
                "requested",
                "surfaced after reconcile: {ctx}"
            );
            if r.state.as_str() == "reversed" {
                assert!(
                    reversed.contains_key(&receipt),
                    "reversed without Daraja: {ctx}"
                );
            }
            let sends = store
                .refund(r.id)
                .map(|r| r.conversation_id.is_some() as usize)
                .unwrap();
            assert!(sends <= 1);
        }
    }
    println!(
        "reversal crash points: {points}: {paid_sales} paid sales, {rows} refunds, {sent} reversal requests, {} reversed by Daraja, states {states:?}",
        reversed.len()
    );
    assert!(
        sent <= rows,
        "a refund was sent twice: {sent} requests for {rows} refunds"
    );
    assert_eq!(sent, reversed.len(), "every request Daraja got was a first");
    assert!(paid_sales > 0 && rows > 0);
    assert!(
        states.get("unknown").copied().unwrap_or(0) > 0
            && states.get("reversed").copied().unwrap_or(0) > 0,
        "the crash points must cover both early crashes and whole refunds: {states:?}"
    );
}
