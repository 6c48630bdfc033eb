//! Push+query pairs per second through the client against daraja-sim on loopback; prints its
//! figures. `cargo bench -p daraja --bench push_query` (`DUKA_BENCH_PAIRS`, `DUKA_BENCH_CONCURRENCY`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use daraja::{Client, Config, Environment, Payee, QueryStatus, StkPush};
use daraja_sim::{Behaviour, Sim, SimConfig};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let pairs = if quick {
        200
    } else {
        env("DUKA_BENCH_PAIRS", 20_000)
    };
    let concurrency = env("DUKA_BENCH_CONCURRENCY", 64);
    let sim = Sim::spawn(SimConfig {
        time_unit_ms: 1,
        default_behaviour: Behaviour::Pay { after_units: 0 },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim.config();
    let client = Client::new(Config::new(
        Environment::Custom(sim.base_url().into()),
        &cfg.consumer_key,
        &cfg.consumer_secret,
    ))
    .unwrap();
    client.access_token().await.unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next) = (client.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= pairs {
                    return lat;
                }
                let t0 = Instant::now();
                let p = StkPush {
                    shortcode: "174379".into(),
                    passkey: daraja_sim::config::SANDBOX_PASSKEY.into(),
                    payee: Payee::Paybill,
                    amount: 1 + (i as u64 % 1000),
                    phone: format!("2547{:08}", 20_000_000 + i),
                    callback_url: "http://127.0.0.1:9/cb".into(),
                    account_reference: "Bench".into(),
                    description: "Bench".into(),
                };
                let r = client.stk_push(&p).await.expect("push");
                let q = client
                    .stk_query(
                        "174379",
                        daraja_sim::config::SANDBOX_PASSKEY,
                        &r.checkout_request_id,
                    )
                    .await
                    .expect("query");
                assert!(matches!(
                    q,
                    QueryStatus::Pending { .. } | QueryStatus::Done { .. }
                ));
                lat.push(t0.elapsed());
            }
        }));
    }
    let mut lat: Vec<Duration> = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    lat.sort();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "push+query pairs: {pairs} with {concurrency} concurrent callers in {:.2} s = {:.0} pairs/s; pair latency p50 {:.2} ms, p99 {:.2} ms; OAuth requests {}",
        elapsed.as_secs_f64(),
        pairs as f64 / elapsed.as_secs_f64(),
        p(0.5),
        p(0.99),
        sim.token_requests()
    );
    assert_eq!(sim.token_requests(), 1);
}
