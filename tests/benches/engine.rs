//! Engine benchmarks; prints its figures. `cargo bench -p duka-tests --bench engine`
//!
//! 1. Confirmation latency by polling alone: simulated customers approve 10–20 s after the
//!    push (real time, the production poll schedule, no callbacks); latency is from the
//!    customer's approval (the simulator's clock) to the till's row turning paid. Also STK
//!    queries per payment and OAuth requests.
//! 2. Engine overhead per charge, push excluded: `charge()` end to end against the simulator
//!    minus the same push sent by the bare client, and the two commits it makes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use daraja_sim::{Behaviour, PhoneRule, PushState, SimConfig};
use duka_core::Msisdn;
use duka_core::engine::PollPolicy;
use duka_core::payment::AttemptState;
use duka_tests::engine::rig;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn confirmation_latency(payments: usize) {
    // Prefix 25478{kk}: the customer approves 10.0 + 0.5·kk seconds after the push (10–19.5 s).
    let rules = (0..20u64)
        .map(|k| PhoneRule {
            prefix: format!("25478{k:02}"),
            behaviour: Behaviour::Pay {
                after_units: 100 + 5 * k,
            },
        })
        .collect();
    let cfg = SimConfig {
        time_unit_ms: 100,
        phone_rules: rules,
        ..SimConfig::default()
    };
    let r = rig(cfg, PollPolicy::default(), false).await;
    let mut ids = Vec::new();
    for i in 0..payments {
        let sale = r.sale(100);
        let phone = Msisdn::parse(&format!("25478{:02}{:05}", i % 20, i)).unwrap();
        ids.push(r.engine.charge(sale, &phone, 100, "Wanjiku").await.unwrap());
    }
    let mut latency = Vec::new();
    let mut queries: HashMap<String, usize> = HashMap::new();
    for a in &ids {
        let settled = r
            .engine
            .wait_settled(&a.id, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            matches!(settled.state, AttemptState::Paid { .. }),
            "{settled:?}"
        );
        let checkout = a.checkout_request_id.clone().unwrap();
        let Some(PushState::Done { at_ms, .. }) = r.sim.push_state(&checkout) else {
            panic!()
        };
        latency.push((settled.updated_at - at_ms) as f64 / 1000.0);
        queries.insert(checkout, 0);
    }
    // The sim logs each query; the engine queries each attempt on its own schedule, so the
    // count per payment is the total over the number of payments.
    let total_queries = r
        .sim
        .log()
        .iter()
        .filter(|l| l.path.contains("stkpushquery"))
        .count();
    let per_payment = total_queries as f64 / payments as f64;
    println!(
        "confirmation by polling alone ({payments} payments, approval 10–20 s after the push): latency after approval p50 {:.2} s, p90 {:.2} s, max {:.2} s; STK queries per payment {:.1}; OAuth requests {} (tokens last 3599 s, refreshed 60 s early: 1 per ~59 min)",
        pct(&mut latency.clone(), 0.5),
        pct(&mut latency.clone(), 0.9),
        pct(&mut latency, 1.0),
        per_payment,
        r.sim.token_requests()
    );
}

async fn engine_overhead(n: usize) {
    let cfg = SimConfig {
        default_behaviour: Behaviour::Silent,
        ..SimConfig::default()
    };
    let r = rig(cfg, PollPolicy::default(), false).await;
    let client = r.engine.client().clone();
    client.access_token().await.unwrap();
    let (mut with_engine, mut bare) = (Vec::new(), Vec::new());
    for i in 0..n {
        // The bare client's push, to a phone of its own.
        let p = daraja::StkPush {
            shortcode: "174379".into(),
            passkey: daraja_sim::config::SANDBOX_PASSKEY.into(),
            payee: daraja::Payee::Paybill,
            amount: 100,
            phone: format!("254791{i:06}"),
            callback_url: duka_core::engine::EngineConfig::placeholder_callback("x"),
            account_reference: "Sale 1".into(),
            description: "Duka sale".into(),
        };
        let t = Instant::now();
        client.stk_push(&p).await.unwrap();
        bare.push(t.elapsed().as_secs_f64() * 1e3);
        let sale = r.sale(100);
        let phone = Msisdn::parse(&format!("254792{i:06}")).unwrap();
        let t = Instant::now();
        r.engine.charge(sale, &phone, 100, "Wanjiku").await.unwrap();
        with_engine.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (e50, e99) = (
        pct(&mut with_engine.clone(), 0.5),
        pct(&mut with_engine, 0.99),
    );
    let (b50, b99) = (pct(&mut bare.clone(), 0.5), pct(&mut bare, 0.99));
    println!(
        "engine overhead per charge ({n} charges, fsync on): charge() p50 {e50:.2} ms p99 {e99:.2} ms; bare push p50 {b50:.2} ms p99 {b99:.2} ms; overhead (push excluded) p50 {:.2} ms, p99 {:.2} ms",
        e50 - b50,
        e99 - b99
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        println!("quick run (use `cargo bench` for figures)");
        engine_overhead(5).await;
        return;
    }
    engine_overhead(500).await;
    let payments = std::env::var("DUKA_BENCH_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    confirmation_latency(payments).await;
}
