//! Relay load tool and benchmarks; prints its figures.
//! `cargo bench -p duka-tests --bench relay` (`DUKA_BENCH_CALLBACKS`, `DUKA_BENCH_SENDERS`,
//! `DUKA_BENCH_TILLS`, `DUKA_BENCH_IDLE_TILLS`; `DUKA_TEST_POSTGRES` adds the PostgreSQL
//! figures: a fresh database on that server for each run).
//!
//! The relay runs as its own process (release build) on 127.0.0.1:
//! 1. Durable callbacks per second from many concurrent HTTP senders to connected tills, each
//!    POST's time to "Accepted" (committed) and each message's latency from the start of its
//!    POST to its arrival at the till's socket: on SQLite, and with `DUKA_TEST_POSTGRES` on
//!    PostgreSQL with one process and with two processes on one database (callbacks and
//!    tills spread over both, so half the messages cross from one process to the other).
//! 2. Resident memory of the relay with many idle tills connected.
//! 3. Confirmation latency on the relay path: the simulated customer approves → the till's row
//!    is paid (daraja-sim → relay → websocket → engine → SQLite).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use daraja_sim::{Behaviour, PushState, SimConfig};
use duka_core::Msisdn;
use duka_core::engine::PollPolicy;
use duka_relay_proto::{FromTill, Pairing, ToTill};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct RelayProc {
    child: std::process::Child,
    url: String,
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RelayProc {
    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

/// Relay processes on one store, and the tills registered on it.
struct Relays {
    procs: Vec<RelayProc>,
    backend: &'static str,
    _store: duka_tests::relay::ProcessStore,
}

impl Relays {
    fn rss_mb(&self) -> f64 {
        self.procs.iter().map(RelayProc::rss_mb).sum()
    }
}

/// Registers `tills` tills (the i-th paired with process i mod `processes`), then starts the
/// relay processes: on SQLite, or on a fresh PostgreSQL database when `postgres`.
async fn start_relays(tills: usize, processes: usize, postgres: bool) -> (Relays, Vec<Pairing>) {
    let store = if postgres {
        duka_tests::relay::ProcessStore::new().await
    } else {
        duka_tests::relay::ProcessStore::sqlite()
    };
    let ports: Vec<u16> = (0..processes)
        .map(|_| duka_tests::relay::free_port())
        .collect();
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let s = store.store.store.clone();
    let mut pairings = Vec::new();
    for i in 0..tills {
        let t = s
            .add_till("Bench Shop", &format!("till {i}"))
            .await
            .unwrap();
        pairings.push(Pairing {
            url: urls[i % processes].clone(),
            shop: t.shop_id,
            till: t.id,
            key: t.key.iter().map(|b| format!("{b:02x}")).collect(),
        });
    }
    let config = store.dir.path().join("relay.json");
    std::fs::write(&config, r#"{"no_rate_limit": true}"#).unwrap();
    let procs = ports
        .iter()
        .zip(&urls)
        .map(|(port, url)| RelayProc {
            child: store
                .spawn(*port, &["--config", config.to_str().unwrap()])
                .0,
            url: url.clone(),
        })
        .collect();
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    (
        Relays {
            procs,
            backend,
            _store: store,
        },
        pairings,
    )
}

/// One relay process on SQLite with `tills` tills.
async fn start_relay(tills: usize) -> (Relays, Vec<Pairing>) {
    start_relays(tills, 1, false).await
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects and authenticates a bare till (no engine: this measures the relay).
async fn connect(p: &Pairing) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(duka_core::relay::ws_url(&p.url))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no challenge")
    };
    let ToTill::Challenge { nonce } = serde_json::from_str(&t).unwrap() else {
        panic!()
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

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn throughput(total: usize, senders: usize, tills: usize, processes: usize, postgres: bool) {
    let (relays, pairings) = start_relays(tills, processes, postgres).await;
    let start = Instant::now();
    let received = Arc::new(AtomicUsize::new(0));
    let (lat_tx, mut lat_rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
    for p in &pairings {
        let mut ws = connect(p).await;
        let (received, lat_tx) = (received.clone(), lat_tx.clone());
        tokio::spawn(async move {
            while let Some(Ok(Message::Text(t))) = ws.next().await {
                if let Ok(ToTill::Message { seq, body, .. }) = serde_json::from_str::<ToTill>(&t) {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    let sent_us = v["t"].as_u64().unwrap();
                    let now_us = start.elapsed().as_micros() as u64;
                    let _ = lat_tx.send((now_us - sent_us) as f64 / 1000.0);
                    received.fetch_add(1, Ordering::Relaxed);
                    let ack = FromTill::Ack { seq };
                    if ws
                        .send(Message::Text(serde_json::to_string(&ack).unwrap().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
    }
    let urls: Arc<Vec<String>> = Arc::new(relays.procs.iter().map(|p| p.url.clone()).collect());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(senders)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (http, next, pairings, urls) =
            (http.clone(), next.clone(), pairings.clone(), urls.clone());
        tasks.push(tokio::spawn(async move {
            let mut accept_ms = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return accept_ms;
                }
                let p = &pairings[i % pairings.len()];
                // Spread over the processes independently of where the till is connected.
                let relay = &urls[(i / pairings.len()) % urls.len()];
                let attempt = format!("{i:032x}");
                let url = duka_relay_proto::stk_callback_url(relay, &p.till, &p.key_bytes(), &attempt);
                let body = serde_json::json!({"Body": {"stkCallback": {"CheckoutRequestID": format!("ws_CO_{i}"), "ResultCode": 1032, "ResultDesc": "Request cancelled by user"}},
                    "t": start.elapsed().as_micros() as u64});
                let sent = Instant::now();
                let r = http.post(url).json(&body).send().await.unwrap();
                assert_eq!(r.status(), 200);
                accept_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut accept = Vec::new();
    for t in tasks {
        accept.extend(t.await.unwrap());
    }
    let accepted_in = t0.elapsed();
    // Delivery is awaited for what it is: every message at a till (no event tells us sooner).
    while received.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered_in = t0.elapsed();
    drop(lat_tx);
    let mut lat = Vec::new();
    while let Some(l) = lat_rx.recv().await {
        lat.push(l);
    }
    println!(
        "durable callbacks ({}, {processes} relay process{}): {total} from {senders} concurrent senders to {tills} connected tills: accepted (committed, fsync on) at {:.0}/s, POST→Accepted p50 {:.1} ms, p99 {:.1} ms; delivered to tills at {:.0}/s, POST→till p50 {:.1} ms, p99 {:.1} ms; relay RSS {:.0} MB",
        relays.backend,
        if processes == 1 {
            ""
        } else {
            "es on one database"
        },
        total as f64 / accepted_in.as_secs_f64(),
        pct(&mut accept, 0.5),
        pct(&mut accept, 0.99),
        total as f64 / delivered_in.as_secs_f64(),
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        relays.rss_mb()
    );
}

/// The same load on SQLite and, when a server is named, on PostgreSQL with one process and
/// with two on one database.
async fn throughput_all(total: usize, senders: usize, tills: usize) {
    throughput(total, senders, tills, 1, false).await;
    if duka_relay::testing::postgres_url().is_some() {
        throughput(total, senders, tills, 1, true).await;
        throughput(total, senders, tills, 2, true).await;
    } else {
        println!(
            "durable callbacks on PostgreSQL: not measured (set {} to a server's URL)",
            duka_relay::testing::ENV
        );
    }
}

async fn idle_tills(n: usize) {
    let (relay, pairings) = start_relay(n).await;
    let before = relay.rss_mb();
    let pairings = Arc::new(pairings);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let (keep_tx, mut keep_rx) = tokio::sync::mpsc::unbounded_channel::<Ws>();
    for _ in 0..100 {
        let (pairings, next, keep_tx) = (pairings.clone(), next.clone(), keep_tx.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pairings.len() {
                    return;
                }
                let _ = keep_tx.send(connect(&pairings[i]).await);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(keep_tx);
    let mut kept = Vec::new();
    while let Some(ws) = keep_rx.recv().await {
        kept.push(ws);
    }
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", relay.procs[0].url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["tills_connected"].as_u64().unwrap() as usize, n);
    println!(
        "idle tills: {n} connected and authenticated: relay RSS {:.0} MB (before connections {:.0} MB)",
        relay.rss_mb(),
        before
    );
}

async fn relay_path_latency(payments: usize) {
    let (relay, pairings) = start_relay(1).await;
    let pairing = pairings[0].clone();
    let cfg = SimConfig {
        time_unit_ms: 1,
        default_behaviour: Behaviour::Pay { after_units: 200 },
        ..SimConfig::default()
    };
    let r = duka_tests::engine::rig_full(cfg, PollPolicy::default(), false, false, Some(&pairing))
        .await;
    let client = duka_core::relay::spawn(r.engine.clone(), pairing);
    while !client.status().connected {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut lat = Vec::new();
    for i in 0..payments {
        let a = r
            .engine
            .charge(
                r.sale(100),
                &Msisdn::parse(&format!("25473{i:07}")).unwrap(),
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
        let Some(PushState::Done { at_ms, .. }) =
            r.sim.push_state(a.checkout_request_id.as_deref().unwrap())
        else {
            panic!()
        };
        lat.push((a.updated_at - at_ms) as f64);
    }
    assert!(
        r.sim.log().iter().all(|l| !l.path.contains("query")),
        "the relay, not the poller, settled them"
    );
    println!(
        "relay path: simulated customer approves → till row paid ({payments} payments, polling 5 s away): p50 {:.0} ms, p99 {:.0} ms",
        pct(&mut lat.clone(), 0.5),
        pct(&mut lat, 0.99)
    );
    drop(relay);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        throughput_all(200, 8, 2).await;
        idle_tills(50).await;
        relay_path_latency(3).await;
        return;
    }
    throughput_all(
        env("DUKA_BENCH_CALLBACKS", 50_000),
        env("DUKA_BENCH_SENDERS", 64),
        env("DUKA_BENCH_TILLS", 20),
    )
    .await;
    relay_path_latency(env("DUKA_BENCH_PAYMENTS", 100)).await;
    idle_tills(env("DUKA_BENCH_IDLE_TILLS", 10_000)).await;
}
