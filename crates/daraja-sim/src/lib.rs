//! # daraja-sim
//!
//! A simulator of Safaricom's M-Pesa Daraja API, faithful enough that third-party Daraja
//! clients run against it unchanged but for the base URL. Duka's tests and demo mode stand on
//! it; it depends on nothing of Duka's.
//!
//! # Layout
//! - [`config`] — `SimConfig` (scenario files are this as JSON), the phone-number scenario table.
//! - `state` — tokens, pushes, per-MSISDN locks, request and callback logs; seeded RNG.
//! - `stk` — OAuth and STK push; inside it `checks` (every Daraja check on a push),
//!   `customers` (the simulated customer behind each push), `callbacks` (the `stkCallback`
//!   and its delivery) and `query` (STK query).
//! - `c2b` — URL registration (v1, v2, misspelled field) and simulate → validation/confirmation.
//! - `status` — Transaction Status: acknowledgement, then the `Result` POSTed to `ResultURL`.
//! - `reversal` — Transaction Reversal: the same shape; one reversal per receipt of the shortcode.
//! - `control` — `/sim/...`: the phone (approve/cancel prompts), logs, state, fault injection.
//! - [`Sim`] — `Sim::spawn(cfg)` on `127.0.0.1:0`; [`run`] serves a bound listener until shutdown.

// Handler steps return Daraja's HTTP answer as their error: that is what they have to say.
#![allow(clippy::result_large_err)]

mod c2b;
pub mod config;
mod control;
mod reversal;
mod state;
mod status;
mod stk;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

pub use config::{Behaviour, CallbackMode, Faults, MsisdnMode, PhoneRule, SimConfig};
pub use state::{CallbackRecord, LogEntry, PushState, Receipt, Reversal};

pub(crate) type App = Arc<Shared>;

/// A test initiator certificate (not Safaricom's): clients encrypt the initiator password with
/// it; `TEST_INITIATOR_KEY` lets the simulator decrypt and check it.
pub const TEST_INITIATOR_CERT: &str = include_str!("../fixtures/test-initiator.crt");
pub const TEST_INITIATOR_KEY: &str = include_str!("../fixtures/test-initiator.key");

pub(crate) struct Shared {
    pub cfg: SimConfig,
    state: Mutex<State>,
    pub http: reqwest::Client,
    /// Woken after every callback delivery attempt, so tests can await one instead of sleeping.
    pub callback_sent: tokio::sync::Notify,
    /// What arrives at `/sim/sink/...` (a callback receiver for demo mode).
    pub sink: tokio::sync::broadcast::Sender<SinkMessage>,
}

/// A POST received at `/sim/sink/{path}`: demo mode points callback URLs here and forwards
/// what arrives to the till, so a till without a relay still sees callbacks.
#[derive(Debug, Clone)]
pub struct SinkMessage {
    /// The path after `/sim/sink/`.
    pub path: String,
    pub body: Vec<u8>,
}

use state::State;

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self, method: &str, path: &str, status: StatusCode, code: Option<&str>) {
        let mut st = self.state();
        let seq = st.log.len() as u64 + 1;
        st.log.push(state::LogEntry {
            seq,
            at_ms: state::now_ms(),
            method: method.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            code: code.map(str::to_string),
        });
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/oauth/v1/generate", get(stk::oauth))
        .route("/mpesa/stkpush/v1/processrequest", post(stk::stk_push))
        .route("/mpesa/stkpushquery/v1/query", post(stk::stk_query))
        .route("/mpesa/c2b/v1/registerurl", post(c2b::register_v1))
        .route("/mpesa/c2b/v2/registerurl", post(c2b::register_v2))
        .route("/mpesa/c2b/v1/simulate", post(c2b::simulate_v1))
        .route("/mpesa/c2b/v2/simulate", post(c2b::simulate_v2))
        .route(
            "/mpesa/transactionstatus/v1/query",
            post(status::transaction_status),
        )
        .route("/mpesa/reversal/v1/request", post(reversal::reversal))
        .merge(control::routes())
        .fallback(control::not_found)
        .method_not_allowed_fallback(control::method_not_allowed)
        .with_state(app)
}

fn shared(cfg: SimConfig) -> App {
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("HTTP client for callbacks");
    Arc::new(Shared {
        state: Mutex::new(State::new(&cfg)),
        cfg,
        http,
        callback_sent: tokio::sync::Notify::new(),
        sink: tokio::sync::broadcast::channel(1024).0,
    })
}

/// Serves the simulator on an already bound listener until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    cfg: SimConfig,
) -> std::io::Result<()> {
    axum::serve(listener, router(shared(cfg)))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A running simulator, for tests and demo mode. Dropping it stops the server.
pub struct Sim {
    app: App,
    addr: SocketAddr,
    base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Sim {
    /// Starts a simulator on `127.0.0.1:0`.
    pub async fn spawn(cfg: SimConfig) -> std::io::Result<Sim> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Sim::serve(listener, cfg)
    }

    /// Starts a simulator on a listener the caller bound.
    pub fn serve(listener: tokio::net::TcpListener, cfg: SimConfig) -> std::io::Result<Sim> {
        let addr = listener.local_addr()?;
        let app = shared(cfg);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let svc = router(app.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, svc)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Sim {
            app,
            addr,
            base_url: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SimConfig {
        &self.app.cfg
    }

    /// Makes the simulated M-Pesa know a payment made before it started (demo mode: the
    /// till's earlier payments, so they can be looked up and reversed).
    pub fn remember_payment(&self, receipt: state::Receipt) {
        self.app
            .state()
            .receipts
            .entry(receipt.receipt.clone())
            .or_insert(receipt);
    }

    /// Base URL of the callback sink: `{base_url}/sim/sink`.
    pub fn sink_url(&self) -> String {
        format!("{}/sim/sink", self.base_url)
    }

    /// Everything POSTed to the sink from now on.
    pub fn subscribe_sink(&self) -> tokio::sync::broadcast::Receiver<SinkMessage> {
        self.app.sink.subscribe()
    }

    /// Every request answered so far, in order.
    pub fn log(&self) -> Vec<LogEntry> {
        self.app.state().log.clone()
    }

    /// OAuth requests received (good or bad).
    pub fn token_requests(&self) -> u64 {
        self.app.state().token_requests
    }

    /// Payments given back by Transaction Reversal, by the receipt reversed.
    pub fn reversals(&self) -> Vec<state::Reversal> {
        self.app.state().reversals.values().cloned().collect()
    }

    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.app.state().callbacks.clone()
    }

    /// Waits until at least `n` callback deliveries have been attempted, or 30 s have passed;
    /// returns the deliveries so far either way (the caller asserts on them).
    pub async fn wait_callbacks(&self, n: usize) -> Vec<CallbackRecord> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let notified = self.app.callback_sent.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.callbacks();
            if got.len() >= n || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.callbacks();
            }
        }
    }

    /// A push's state by CheckoutRequestID.
    pub fn push_state(&self, checkout_request_id: &str) -> Option<PushState> {
        self.app
            .state()
            .pushes
            .get(checkout_request_id)
            .map(|p| p.state.clone())
    }

    /// CheckoutRequestIDs of prompts open on phones.
    pub fn pending_prompts(&self) -> Vec<String> {
        control::pending(&self.app)
            .into_iter()
            .map(|p| p.checkout_request_id)
            .collect()
    }

    /// The customer enters their PIN.
    pub fn approve(&self, checkout_request_id: &str) -> bool {
        stk::decide(&self.app, checkout_request_id, "0", None)
    }

    /// The customer answers with any ResultCode (1032 cancel, 2001 wrong PIN, …).
    pub fn decide(&self, checkout_request_id: &str, result_code: &str) -> bool {
        stk::decide(&self.app, checkout_request_id, result_code, None)
    }

    pub fn set_faults(&self, faults: Faults) {
        self.app.state().faults = faults;
    }

    /// Faults for the next push only.
    pub fn next_push_faults(&self, faults: Faults) {
        self.app.state().next_push_faults = Some(faults);
    }

    /// Expires every token issued so far (a token running out mid-flow).
    pub fn expire_tokens(&self) {
        let now = std::time::Instant::now();
        for exp in self.app.state().tokens.values_mut() {
            *exp = now;
        }
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
