//! # duka-relay
//!
//! Daraja cannot call a desktop till back, so the relay takes Daraja's callbacks on the
//! internet, commits each to SQLite before answering "Accepted", and forwards it to the right
//! till over a websocket, keeping it until the till acknowledges it (or its TTL passes).
//! Never depends on duka-core; the protocol is in `duka-relay-proto`.
//!
//! This file holds the public API: [`Config`], [`Relay`], [`router`], and the servers
//! [`run`], [`run_tls`] and [`serve`] (which also expire old messages and close revoked tills).
//!
//! # Layout
//! - [`store`] — SQLite: shops, tills and their keys, per-till messages with a rising `seq`,
//!   C2B held for a shop, receipt claims; numbered migrations; one writer thread group-commits.
//! - `http` — the HTTP endpoints: signed STK and Transaction Status callbacks, C2B
//!   validation and confirmation, `/healthz`, `/metrics`, and the refusals.
//! - `ws` — the till's websocket session: challenge and hello, resume or re-sync, delivery
//!   and acks, C2B validation questions, receipt claims.
//! - `limits` — who may post and how much: optional IP allow-list, per-IP rate, body size.
//! - [`metrics`] — Prometheus counters.
//! - [`error`] — the crate's error type, with stable codes.
//! - `main.rs` — `duka-relay serve`, `till add|list|revoke`, `shop urls`.

// Handler steps return the HTTP answer as their error: that is what they have to say.
#![allow(clippy::result_large_err)]

pub mod error;
mod http;
mod limits;
pub mod metrics;
pub mod store;
#[doc(hidden)]
pub mod testing;
mod ws;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::oneshot;

pub use error::{Error, Result};
use metrics::Metrics;
pub use store::Store;

/// How a relay server runs; [`Config::new`] gives the defaults for a data directory.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://…`): the store is that database, which several relay
    /// processes may share. `None`: SQLite, `relay.db` in `data_dir`.
    pub database: Option<String>,
    /// Largest callback body accepted, in bytes.
    pub max_body: usize,
    /// Requests per second per client IP on the callback URLs (`None`: no limit).
    pub rate_limit_per_ip: Option<u32>,
    /// When not empty, only these addresses may POST callbacks (Safaricom's published list).
    pub allow_ips: Vec<IpAddr>,
    /// Proxies whose `X-Forwarded-For` is believed (e.g. the local Caddy or nginx).
    pub trusted_proxies: Vec<IpAddr>,
    /// Undelivered messages are dropped after this long.
    pub ttl: Duration,
    /// Tills' own records (sync) not changed for this long are dropped — history only, never
    /// staff, products or shifts (`None`: kept for good, the default).
    pub keep_records: Option<Duration>,
    /// How long a C2B validation waits for a till before the shop's default answer (Daraja
    /// allows about 8 s in all).
    pub validation_timeout: Duration,
    /// How often the relay looks for tills revoked by another process, to close them.
    pub revocation_check: Duration,
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            database: None,
            max_body: 64 * 1024,
            // Daraja calls back from a handful of addresses: the limit guards against floods,
            // not against a busy fleet of tills.
            rate_limit_per_ip: Some(1000),
            allow_ips: Vec::new(),
            trusted_proxies: Vec::new(),
            ttl: Duration::from_secs(7 * 24 * 3600),
            keep_records: None,
            validation_timeout: Duration::from_secs(6),
            revocation_check: Duration::from_secs(1),
        }
    }
}

/// The running relay: its store and configuration, its counters, the open till sessions and
/// the per-IP rate buckets. Shared by every request as an `Arc`.
pub struct Relay {
    store: Store,
    cfg: Config,
    pub metrics: Metrics,
    sessions: Mutex<HashMap<String, ws::Session>>,
    rates: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    rates_pruned: Mutex<Instant>,
    validations: Mutex<HashMap<String, oneshot::Sender<(String, String)>>>,
    next_session: AtomicU64,
    /// Live tills whose signatures were checked lately, for a database across the network
    /// (PostgreSQL): kept `revocation_check` long, dropped at once when a revocation is seen.
    till_cache: Mutex<HashMap<String, (store::Till, Instant)>>,
}

type App = Arc<Relay>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Relay {
    pub fn new(store: Store, cfg: Config) -> App {
        Arc::new(Relay {
            store,
            cfg,
            metrics: Metrics::default(),
            sessions: Mutex::new(HashMap::new()),
            rates: Mutex::new(HashMap::new()),
            rates_pruned: Mutex::new(Instant::now()),
            validations: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            till_cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn connected(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Gives a till a new key and closes the connections opened with the old one at once
    /// (other processes close theirs within `revocation_check`).
    pub async fn rekey(&self, till: &str) -> Result<Option<store::Till>> {
        let t = self.store.rekey_till(till).await?;
        if let Some(t) = &t {
            self.disconnect_stale_key(&t.id, &t.key);
        }
        Ok(t)
    }

    /// Revokes a till and closes its open websocket at once.
    pub async fn revoke(&self, till: &str) -> Result<bool> {
        let revoked = self.store.revoke_till(till).await?;
        self.disconnect_revoked(&[till.to_string()]);
        Ok(revoked)
    }
}

/// The relay's routes, served over `app`. Every route shares one body size limit.
pub fn router(app: App) -> Router {
    let body_limit = app.body_limit();
    Router::new()
        .route(
            "/v1/cb/{till}/{attempt}/{exp}/{sig}",
            post(http::stk_callback),
        )
        .route(
            "/v1/status/{till}/{attempt}/{exp}/{sig}",
            post(http::status_result),
        )
        .route(
            "/v1/reversal/{till}/{refund}/{exp}/{sig}",
            post(http::reversal_result),
        )
        .route("/v1/cb/{till}/{attempt}/{sig}", post(http::legacy_url))
        .route("/v1/status/{till}/{attempt}/{sig}", post(http::legacy_url))
        .route("/v1/c2b/{shop}/{sig}/{what}", post(http::c2b))
        .route("/v1/ws", get(ws::upgrade))
        .route("/healthz", get(http::healthz))
        .route("/metrics", get(http::metrics))
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(body_limit)
        .with_state(app)
}

/// Serves the relay on an already bound listener until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    cfg: Config,
) -> std::io::Result<()> {
    let store = open_store(&cfg).await?;
    let app = Relay::new(store, cfg);
    serve(listener, shutdown, app).await
}

async fn open_store(cfg: &Config) -> std::io::Result<Store> {
    Store::open_or_connect(&cfg.data_dir, cfg.database.as_deref())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// TLS from PEM files (a certificate chain and its private key), served with rustls.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Serves the relay over TLS on an already bound listener until `shutdown` completes.
pub async fn run_tls(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    cfg: Config,
    tls: Tls,
) -> std::io::Result<()> {
    let store = open_store(&cfg).await?;
    let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
        .await
        .map_err(|e| {
            std::io::Error::other(format!(
                "TLS from {} and {}: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })?;
    let app = Relay::new(store, cfg);
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, rustls)?
        .handle(handle)
        .serve(router(app).into_make_service_with_connect_info::<SocketAddr>())
        .await
}

/// Serves an existing `Relay` (tests keep a handle to read its metrics).
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    app: App,
) -> std::io::Result<()> {
    let expiry = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600).min(app.cfg.ttl));
            loop {
                tick.tick().await;
                let before = std::time::SystemTime::now()
                    .checked_sub(app.cfg.ttl)
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                match app.store.expire(before).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(expired = n, "dropped messages past their TTL")
                    }
                    Err(e) => tracing::error!("expiry: {e}"),
                    _ => {}
                }
                if let Some(keep) = app.cfg.keep_records {
                    let before = store::now_ms().saturating_sub(keep.as_millis() as i64);
                    match app.store.expire_records(before).await {
                        Ok(n) if n > 0 => {
                            tracing::info!(
                                dropped = n,
                                "dropped tills' records past their retention"
                            )
                        }
                        Err(e) => tracing::error!("record retention: {e}"),
                        _ => {}
                    }
                }
            }
        })
    };
    // A till revoked from the command line (another process, the same database) loses its
    // connection within `revocation_check`.
    let revocations = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(app.cfg.revocation_check);
            let mut since = store::now_ms() - 1;
            loop {
                tick.tick().await;
                let now = store::now_ms();
                match app.store.revoked_since(since).await {
                    Ok(ids) => {
                        for id in ids {
                            // Revoked: every session goes. Given a new key: those made with
                            // the old one go, the replacement's stays.
                            match app.store.till(&id).await {
                                Ok(Some(t)) if !t.revoked => app.disconnect_stale_key(&id, &t.key),
                                Ok(_) => app.disconnect_revoked(&[id]),
                                Err(e) => tracing::error!("revocations: {e}"),
                            }
                        }
                    }
                    Err(e) => tracing::error!("revocations: {e}"),
                }
                // Overlapping windows: a revocation stamped before this read but committed
                // after it is still seen next time (closing a closed session is harmless).
                since = now - 5_000;
            }
        })
    };
    // Messages another process stored for a till connected here (PostgreSQL's NOTIFY).
    let wakes = app.store.take_wakes().map(|mut rx| {
        let app = app.clone();
        tokio::spawn(async move {
            while let Some(w) = rx.recv().await {
                app.wake(w);
            }
        })
    });
    let result = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    expiry.abort();
    revocations.abort();
    if let Some(w) = wakes {
        w.abort();
    }
    result
}
