//! The payment engine: charge, poll, ingest callbacks, reconcile. Never lose a payment, never
//! charge twice.
//!
//! - `charge` commits the attempt (`created`) **before** the push, then records what Daraja
//!   answered: `pending`, `failed` (nothing was sent or Daraja refused), or `unknown` (sent,
//!   no answer). It never sends a second push for an attempt.
//! - One poller task queries every pending attempt on a schedule (`PollPolicy`) until a final
//!   fact arrives by any route or the deadline moves it to `unknown`.
//! - `apply_callback` takes Daraja's callback body from any source (relay, tests); facts are
//!   idempotent and contradictions are flagged, never applied.
//! - `reconcile` settles what a crash or a power cut left open.

mod callbacks;
mod connect;
mod events;
mod inner;
mod poller;
mod push;
mod reconcile;
mod reversal;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use daraja::{Client, Payee, StkPush};
use tokio::sync::{broadcast, mpsc};

use crate::error::{Error, Result};
use crate::payment::{self, AttemptState, PaymentEvent};
use crate::phone::Msisdn;
use crate::secrets::Secret;
use crate::store::{Applied, Attempt, Store};
use crate::time::{Millis, now_ms};

pub use connect::{connect, demo};
pub use events::{CoreEvent, Health, Reconciled};
pub use poller::PollPolicy;

/// Where and how the shop is paid.
#[derive(Clone)]
pub struct EngineConfig {
    /// `BusinessShortCode` (the store number for a till).
    pub shortcode: String,
    pub passkey: Secret,
    pub payee: Payee,
    /// The relay's base URL when paired (`https://relay.example.com`): callbacks then come to
    /// `{base}/v1/cb/{till}/{attempt}/{sig}` (see `callback_url`). `None`: a placeholder URL that
    /// Daraja accepts, and polling alone carries the payment.
    pub callback_url: Arc<dyn Fn(&str) -> String + Send + Sync>,
    pub poll: PollPolicy,
    /// A `created` attempt younger than this may still be on its way to Daraja in another
    /// process: reconcile and resend leave it alone. `None` (the default): derived from the
    /// client's own timeouts, see `Engine::in_flight_grace`. Tests after a kill set 0.
    pub in_flight_grace: Option<Duration>,
    /// Transaction Status, to fetch the receipt of a payment confirmed by the query alone.
    pub status: Option<StatusConfig>,
}

/// What Transaction Status needs. The result comes back to `result_url(attempt_id)` (through
/// the relay, or the simulator's sink in demo mode) and is fed to `apply_status_result`.
#[derive(Clone)]
pub struct StatusConfig {
    pub initiator: String,
    /// base64(RSA(initiator password)), from `daraja::security::security_credential`.
    pub security_credential: Secret,
    pub result_url: Arc<dyn Fn(&str) -> String + Send + Sync>,
    /// Where a Transaction Reversal's result comes back, by refund id (the relay, or the
    /// simulator's sink in demo mode); fed to `apply_reversal_result`.
    pub reversal_url: Arc<dyn Fn(&str) -> String + Send + Sync>,
}

impl EngineConfig {
    /// The callback URL for an unpaired till: syntactically valid for Daraja, reaching nobody.
    pub fn placeholder_callback(attempt_id: &str) -> String {
        format!("https://callbacks.duka.invalid/v1/cb/{attempt_id}")
    }
}

pub(crate) struct Inner {
    store: Mutex<Store>,
    client: Client,
    cfg: EngineConfig,
    events: broadcast::Sender<CoreEvent>,
    poll_tx: mpsc::UnboundedSender<poller::Cmd>,
    health: Mutex<Health>,
    /// Attempts whose push Daraja answered but whose answer the disk did not take (full, read
    /// only): kept here and written as soon as it can be (`keep_unrecorded`), never forgotten.
    unrecorded: Mutex<std::collections::HashSet<String>>,
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Starts the engine and its poller on the current tokio runtime.
    pub fn start(store: Store, client: Client, cfg: EngineConfig) -> Engine {
        let (events, _) = broadcast::channel(1024);
        let (poll_tx, poll_rx) = mpsc::unbounded_channel();
        let engine = Engine {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                client,
                cfg,
                events,
                poll_tx,
                health: Mutex::new(Health::default()),
                unrecorded: Mutex::new(std::collections::HashSet::new()),
            }),
        };
        tokio::spawn(poller::run(Arc::downgrade(&engine.inner), poll_rx));
        engine
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.inner.events.subscribe()
    }

    /// The store. Crate-private: shells reach it through the Till service (`crate::till`).
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store()
    }

    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    pub async fn health(&self) -> Health {
        let mut h = self
            .inner
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        h.token_valid_until = self
            .inner
            .client
            .token_valid_until()
            .await
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        h.open_attempts = self
            .store()
            .attempts(true, 10_000)
            .map(|a| a.len())
            .unwrap_or(0);
        h
    }

    /// Sends an event to every listener (the relay client reports through this).
    pub fn publish(&self, event: CoreEvent) {
        if let CoreEvent::Relay { status } = &event {
            self.inner
                .health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .relay = Some(status.clone());
        }
        let _ = self.inner.events.send(event);
    }

    /// Answers a C2B validation the relay forwards: accept any well-formed payment of a
    /// positive whole amount (a shop with stricter rules would check BillRefNumber here).
    pub fn validate_c2b(&self, body: &str) -> (String, String) {
        match daraja::wire::parse_c2b(body.as_bytes()) {
            Ok(p) if p.amount().is_some_and(|a| a > 0) => ("0".into(), "Accepted".into()),
            Ok(_) => ("C2B00013".into(), "Rejected".into()),
            Err(_) => ("C2B00016".into(), "Rejected".into()),
        }
    }

    /// Records a C2B confirmation in the inbox (idempotent) and tells the UI.
    pub fn record_incoming(
        &self,
        p: &daraja::wire::C2bPayload,
        raw: &str,
    ) -> Result<crate::store::IncomingPayment> {
        let payment = self.store().record_c2b(p, raw)?;
        self.publish(CoreEvent::IncomingPayment {
            payment: payment.clone(),
        });
        Ok(payment)
    }

    /// Attempts the poller is watching.
    pub fn poller_backlog(&self) -> usize {
        self.inner
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .poller_backlog
    }

    /// Resumes what a previous run left open, in the background (the desktop and the CLI call
    /// this on start).
    pub fn resume(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.reconcile().await {
                tracing::warn!("resume: {e}");
            }
        });
    }

    /// How long after its commit a `created` attempt may still be on its way to Daraja: the
    /// client's worst case for a push (token, push, and the invalid-token retry of both) plus
    /// the time `send_push` may spend recording the answer on a busy database.
    pub fn in_flight_grace(&self) -> Duration {
        self.inner
            .cfg
            .in_flight_grace
            .unwrap_or_else(|| self.inner.client.push_worst_case() + push::record_budget())
    }

    /// Push answers Daraja gave that the disk has not taken yet (kept in memory; see
    /// `send_push`). A shell must not replace this engine while any are held.
    pub fn unsaved_answers(&self) -> usize {
        self.inner
            .unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn in_flight(&self, a: &Attempt) -> bool {
        payment::in_flight(
            &a.state,
            now_ms().saturating_sub(a.created_at),
            self.in_flight_grace().as_millis() as i64,
            self.inner.is_unrecorded(&a.id),
        )
    }

    /// Waits until the attempt is final or `unknown` (or `timeout` passes) and returns it.
    pub async fn wait_settled(&self, attempt_id: &str, timeout: Duration) -> Result<Attempt> {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let a = self.store().attempt(attempt_id)?;
            if !a.state.is_in_progress() {
                return Ok(a);
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => return Ok(a),
                Ok(Err(broadcast::error::RecvError::Closed)) => return Ok(a),
                Ok(_) => {}
            }
        }
    }

    /// Stops the poller. Open attempts stay open on disk for the next start's reconcile.
    pub fn shutdown(&self) {
        let _ = self.inner.poll_tx.send(poller::Cmd::Shutdown);
    }
}
