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

mod poller;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use daraja::{Client, Payee, QueryStatus, StkPush};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::error::{Error, Result};
use crate::payment::{self, AttemptState, PaymentEvent};
use crate::phone::Msisdn;
use crate::secrets::Secret;
use crate::store::{Applied, Attempt, Store};
use crate::time::{Millis, now_ms};

pub use poller::PollPolicy;

/// What the UI and other listeners hear from the core.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CoreEvent {
    AttemptChanged {
        attempt: Attempt,
    },
    /// A sale was rung up, paid (in part or whole, by any tender) or voided.
    SaleChanged {
        sale: crate::sale::Sale,
    },
    /// A sale is paid in full (after its `SaleChanged`).
    SalePaid {
        sale_id: i64,
    },
    /// Settings were saved (they take effect when the till starts again).
    SettingsChanged {
        keys: Vec<String>,
    },
    /// Staff were added, or a PIN set or unlocked.
    StaffChanged,
    /// An incoming payment left the inbox: it is now a tender of `sale_id`.
    IncomingAttached {
        trans_id: String,
        sale_id: i64,
    },
    Health {
        health: Health,
    },
    /// The relay connection changed (connected, backlog, last error).
    Relay {
        status: crate::relay::RelayStatus,
    },
    /// M-Pesa confirmed an attempt the cashier had given up on ("no prompt reached the
    /// phone"): the customer may have paid twice. The attempt is flagged for the manager, who
    /// refunds it or keeps it against the sale.
    PossibleDoublePayment {
        attempt: Attempt,
        receipt: Option<String>,
    },
    /// A customer paid the shortcode directly (C2B): the incoming-payments inbox grew.
    IncomingPayment {
        payment: crate::store::IncomingPayment,
    },
    /// A receipt attached here while the relay was out of reach had been claimed by another
    /// till of the shop first: it no longer counts for its sale, which is due again. Flagged
    /// for the manager (`Store::lost_claims`).
    ClaimLost {
        claim: crate::store::LostClaim,
    },
    /// The receipt of an STK payment this till received had been used first on another till
    /// (a code typed there from the customer's SMS): that till's sale is counted on a receipt
    /// that is this till's. Flagged for the manager.
    StkReceiptUsedElsewhere {
        receipt: String,
        by: crate::store::TakenBy,
    },
    /// Another till of the shop took a receipt: it cannot be attached here.
    ReceiptTaken {
        receipt: String,
        by: crate::store::TakenBy,
    },
}

/// One glance at whether payments can flow.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct Health {
    /// Seconds since the epoch at which the cached Daraja token expires.
    pub token_valid_until: Option<u64>,
    pub last_daraja_ok: Option<Millis>,
    pub last_daraja_error: Option<(Millis, String)>,
    pub open_attempts: usize,
    pub poller_backlog: usize,
    /// The relay connection, when this till is paired with one.
    pub relay: Option<crate::relay::RelayStatus>,
}

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
}

impl EngineConfig {
    /// The callback URL for an unpaired till: syntactically valid for Daraja, reaching nobody.
    pub fn placeholder_callback(attempt_id: &str) -> String {
        format!("https://callbacks.duka.invalid/v1/cb/{attempt_id}")
    }
}

/// How a reconcile settled (or surfaced) one attempt.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Reconciled {
    pub attempt_id: String,
    pub sale_id: i64,
    pub before: String,
    pub after: String,
    /// `query`, `poller` (still pending: handed to the poller), `cashier` (needs a person).
    pub how: String,
    pub note: String,
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

/// Test hook: `DUKA_CRASH_AT=<point>` aborts the process there, as a power cut would. Only in
/// builds with the `test-hooks` feature (the crash test's `duka`): a shop's build never reads it.
#[cfg(feature = "test-hooks")]
fn crash_point(name: &str) {
    if std::env::var("DUKA_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

#[cfg(not(feature = "test-hooks"))]
fn crash_point(_: &str) {}

/// What the cashier sees for a failed push that never reached Daraja's customer.
fn rejection_code(e: &daraja::Error) -> String {
    match e {
        daraja::Error::BadRequest { code, .. } => code.clone(),
        daraja::Error::RateLimited { code, .. } => code.clone(),
        daraja::Error::SubscriberLocked { .. } => "1001".into(),
        other => other.code().to_string(),
    }
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

    /// Charges a sale by STK push. The attempt is on disk before anything is sent; a second
    /// charge while one is in flight is refused by the store.
    pub async fn charge(
        &self,
        sale_id: i64,
        phone: &Msisdn,
        amount: i64,
        cashier: &str,
    ) -> Result<Attempt> {
        let attempt = self
            .store()
            .create_attempt(sale_id, phone, amount, cashier)?;
        self.inner.emit_attempt(&attempt);
        crash_point("after_commit");
        // Its own task: if the caller goes away mid-push, the answer is still recorded.
        let engine = self.clone();
        tokio::spawn(async move { engine.send_push(attempt).await })
            .await
            .map_err(|e| Error::Conflict(format!("the push task failed: {e}")))?
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
            .unwrap_or_else(|| self.inner.client.push_worst_case() + record_budget())
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

    /// A new push for a sale whose previous attempt is `unknown` (or `created` after a crash),
    /// only on the cashier's word that no prompt reached the customer's phone.
    ///
    /// When Daraja accepted the old push (it has a CheckoutRequestID), M-Pesa is asked first:
    /// still processing or paid → refused (the customer may be paying right now); a final
    /// failure → recorded, and the new push goes out. Without an answer from M-Pesa, nothing is
    /// sent. The old attempt is then given up on (`failed(NOT_REACHED)`) but stays followed
    /// until M-Pesa answers finally; a late success on it is flagged at once as "customer may
    /// have paid twice".
    pub async fn resend_after_unknown(
        &self,
        attempt_id: &str,
        cashier_confirms_no_prompt: bool,
        cashier: &str,
    ) -> Result<Attempt> {
        let old = self.store().attempt(attempt_id)?;
        let guard = payment::resend_guard(
            attempt_id,
            &old.state,
            old.checkout_request_id.as_deref(),
            self.in_flight(&old),
            cashier_confirms_no_prompt,
        );
        match guard {
            payment::ResendGuard::Refuse(reason) => return Err(Error::Conflict(reason)),
            payment::ResendGuard::GiveUpThenPush => {}
            payment::ResendGuard::AskMpesa { checkout_id } => {
                let applied;
                let asked = self.inner.query(&checkout_id).await;
                let answer = match &asked {
                    Ok(QueryStatus::Pending { .. }) => payment::ResendAnswer::StillProcessing,
                    Ok(QueryStatus::Done {
                        result_code,
                        result_desc,
                    }) => {
                        applied = self.inner.apply(
                            attempt_id,
                            &PaymentEvent::Result {
                                code: result_code.0.clone(),
                                receipt: None,
                            },
                            "resend_check",
                            Some(result_desc),
                        )?;
                        payment::ResendAnswer::Settled(&applied.attempt().state)
                    }
                    Err(e) => payment::ResendAnswer::NoAnswer(e.code()),
                };
                match payment::resend_after_answer(attempt_id, &answer) {
                    payment::ResendNext::Refuse { reason, paid } => {
                        if paid && let Err(e) = self.inner.request_receipt(attempt_id).await {
                            tracing::warn!(attempt = %attempt_id, "receipt lookup: {e}");
                        }
                        return Err(Error::Conflict(reason));
                    }
                    payment::ResendNext::Push => {
                        return self
                            .charge(old.sale_id, &old.phone, old.amount, cashier)
                            .await;
                    }
                    payment::ResendNext::GiveUpThenPush => {}
                }
            }
        }
        let given_up = self.inner.apply(
            attempt_id,
            &PaymentEvent::NeverReached,
            "cashier",
            Some("cashier: no prompt reached the phone"),
        )?;
        self.inner.follow(given_up.attempt());
        self.charge(old.sale_id, &old.phone, old.amount, cashier)
            .await
    }

    async fn send_push(&self, attempt: Attempt) -> Result<Attempt> {
        let cfg = &self.inner.cfg;
        let push = StkPush {
            shortcode: cfg.shortcode.clone(),
            passkey: cfg.passkey.expose().to_string(),
            payee: cfg.payee.clone(),
            amount: attempt.amount as u64,
            phone: attempt.phone.as_str().to_string(),
            callback_url: (cfg.callback_url)(&attempt.id),
            account_reference: account_reference(attempt.sale_id),
            description: "Duka sale".into(),
        };
        tracing::info!(attempt = %attempt.id, sale = attempt.sale_id, phone = %attempt.phone.masked(), amount = attempt.amount, "stk push");
        let answer = self.inner.client.stk_push(&push).await;
        crash_point("after_push_answer");
        let (event, desc) = match &answer {
            Ok(r) => {
                self.inner.daraja_ok();
                (
                    PaymentEvent::PushAccepted {
                        checkout_id: r.checkout_request_id.clone(),
                    },
                    Some(r.customer_message.clone()),
                )
            }
            Err(e) if e.nothing_happened() => {
                self.inner.daraja_err(e);
                (
                    PaymentEvent::PushRejected {
                        code: rejection_code(e),
                    },
                    Some(e.to_string()),
                )
            }
            Err(e) => {
                self.inner.daraja_err(e);
                (PaymentEvent::PushNoAnswer, Some(e.to_string()))
            }
        };
        if let PaymentEvent::PushAccepted { checkout_id } = &event {
            let checkout = crate::phone::mask_checkout(checkout_id);
            tracing::info!(attempt = %attempt.id, %checkout, "push accepted");
        }
        let checkout = match &event {
            PaymentEvent::PushAccepted { checkout_id } => Some(checkout_id.as_str()),
            _ => None,
        };
        // Daraja has acted: this answer must reach the disk. A busy database is retried; a
        // full or read-only one is not going to take it soon: the answer is kept in memory and
        // written as soon as the disk takes it (then followed), and the cashier told now.
        let mut tries = 0;
        let applied = loop {
            match self.inner.apply_learning(
                &attempt.id,
                &event,
                "engine",
                desc.as_deref(),
                checkout,
            ) {
                Err(Error::Db(e)) if tries < RECORD_TRIES && is_busy(&e) => {
                    tries += 1;
                    tracing::warn!(attempt = %attempt.id, "recording the push answer (try {tries}): {e}");
                    tokio::time::sleep(record_pause(tries)).await;
                }
                Err(Error::Db(e)) => {
                    tracing::error!(attempt = %attempt.id, "the push answer could not be saved, kept until it can be: {e}");
                    Inner::keep_unrecorded(
                        &self.inner,
                        attempt.clone(),
                        event.clone(),
                        desc.clone(),
                    );
                    return Err(Error::Db(e));
                }
                other => break other?,
            }
        };
        crash_point("after_push_stored");
        let a = applied.attempt().clone();
        if let AttemptState::Pending { checkout_id } = &a.state {
            self.inner.watch(&a.id, checkout_id, a.created_at);
        }
        Ok(a)
    }

    /// Daraja's STK callback body, from the relay or anywhere else. `attempt_hint` is the
    /// attempt id carried in the callback URL, which the relay has checked against the URL's
    /// signature: that attempt, and no other, is the one the callback may settle. A body whose
    /// CheckoutRequestID belongs to another attempt is refused as forged (and recorded on the
    /// named attempt for the manager). Without a hint (tests, tools) the attempt is found by
    /// the CheckoutRequestID.
    ///
    /// A success without what a real one carries (Amount, MpesaReceiptNumber, PhoneNumber) is
    /// not believed: M-Pesa is asked (`verify_by_query`) before anything is marked paid.
    pub fn apply_callback(
        &self,
        body: &[u8],
        attempt_hint: Option<&str>,
        source: &str,
    ) -> Result<Applied> {
        let cb = daraja::wire::parse_stk_callback(body)
            .map_err(|e| Error::invalid("callback", "Daraja's STK callback JSON", e.to_string()))?;
        let mut learned: Option<String> = None;
        let attempt = match attempt_hint {
            None => self.store().attempt_by_checkout(&cb.checkout_request_id)?,
            Some(hint) => {
                let a = self.store().attempt(hint)?;
                let owner = match self.store().attempt_by_checkout(&cb.checkout_request_id) {
                    Ok(o) => Some(o.id),
                    Err(Error::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                match payment::route_signed_callback(
                    &a.id,
                    a.checkout_request_id.as_deref(),
                    &cb.checkout_request_id,
                    owner.as_deref(),
                ) {
                    payment::CallbackRoute::Settle { learn } => learned = learn,
                    payment::CallbackRoute::Forged => {
                        let masked = crate::phone::mask_checkout(&cb.checkout_request_id);
                        let reason = format!(
                            "forged callback? a callback signed for this attempt carried CheckoutRequestID {masked}, which is not this attempt's; refused"
                        );
                        tracing::warn!(attempt = %a.id, checkout = %masked, source, "callback refused as forged: its signed URL names another attempt");
                        let flagged = self.store().flag_attempt(
                            &a.id,
                            &reason,
                            source,
                            serde_json::json!({"forged_checkout": masked, "result_code": cb.result_code.0}),
                        )?;
                        self.inner.emit_attempt(&flagged);
                        return Err(Error::Forged(format!(
                            "callback for attempt {} carries another attempt's CheckoutRequestID",
                            a.id
                        )));
                    }
                }
                a
            }
        };
        let receipt = cb.receipt();
        let phone = cb.phone();
        let facts = payment::CallbackFacts {
            success: cb.result_code.is_zero(),
            code: &cb.result_code.0,
            amount: cb.amount(),
            receipt: receipt.as_deref(),
            phone: phone.as_deref(),
        };
        let event = match payment::judge_callback(attempt.amount, &attempt.phone, &facts) {
            payment::CallbackVerdict::Apply(event) => event,
            payment::CallbackVerdict::VerifyFirst => {
                tracing::warn!(attempt = %attempt.id, source, "a success callback without its metadata: asking M-Pesa before believing it");
                if let Some(c) = &learned {
                    // Recorded so the query can be made; the state does not change.
                    self.store().learn_checkout(&attempt.id, c)?;
                }
                let engine = self.clone();
                let id = attempt.id.clone();
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move { engine.verify_by_query(&id).await });
                }
                return Ok(Applied::Same(self.store().attempt(&attempt.id)?));
            }
            payment::CallbackVerdict::Mismatch(reason) => {
                let flagged = self.store().flag_attempt(
                    &attempt.id,
                    &reason,
                    source,
                    serde_json::json!({"receipt": receipt}),
                )?;
                self.inner.emit_attempt(&flagged);
                return Ok(Applied::Conflict(flagged));
            }
        };
        self.inner.apply_learning(
            &attempt.id,
            &event,
            source,
            Some(&cb.result_desc),
            learned.as_deref(),
        )
    }

    /// Asks M-Pesa how an attempt ended and applies a final answer (a doubtful callback, a
    /// check before a resend). Still processing: the poller goes on following it.
    pub async fn verify_by_query(&self, attempt_id: &str) -> Option<Applied> {
        let a = self.store().attempt(attempt_id).ok()?;
        let checkout = a.checkout_request_id.clone()?;
        match self.inner.query(&checkout).await {
            Ok(QueryStatus::Done {
                result_code,
                result_desc,
            }) => {
                let event = PaymentEvent::Result {
                    code: result_code.0,
                    receipt: None,
                };
                match self
                    .inner
                    .apply(attempt_id, &event, "query", Some(&result_desc))
                {
                    Ok(applied) => {
                        if matches!(
                            applied.attempt().state,
                            AttemptState::Paid { receipt: None }
                        ) && let Err(e) = self.inner.request_receipt(attempt_id).await
                        {
                            tracing::warn!(attempt = %attempt_id, "receipt lookup: {e}");
                        }
                        Some(applied)
                    }
                    Err(e) => {
                        tracing::warn!(attempt = %attempt_id, "applying a query result: {e}");
                        None
                    }
                }
            }
            // Still processing, or no answer: the poller follows it.
            Ok(QueryStatus::Pending { .. }) | Err(_) => {
                if let AttemptState::Pending { checkout_id } = &a.state {
                    self.inner.watch(&a.id, checkout_id, a.created_at);
                }
                None
            }
        }
    }

    /// Asks Transaction Status for the receipt of a payment the query confirmed without one.
    /// Does nothing when Transaction Status is not configured or the receipt is known.
    pub async fn request_receipt(&self, attempt_id: &str) -> Result<bool> {
        self.inner.request_receipt(attempt_id).await
    }

    /// A Transaction Status `Result` (from the relay or the demo sink). The attempt is found by
    /// the hint in the result URL or the `Occasion` Duka sent; the receipt is applied when the
    /// amount matches.
    pub fn apply_status_result(
        &self,
        body: &[u8],
        attempt_hint: Option<&str>,
    ) -> Result<Option<Applied>> {
        let r = daraja::wire::parse_result(body).map_err(|e| {
            Error::invalid(
                "result",
                "Daraja's Transaction Status Result JSON",
                e.to_string(),
            )
        })?;
        let occasion = r
            .reference_data
            .as_ref()
            .and_then(|d| {
                d.reference_item
                    .as_slice()
                    .iter()
                    .find(|kv| kv.key == "Occasion")
                    .and_then(|kv| kv.value.as_ref())
            })
            .and_then(daraja::wire::value_string);
        let Some(id) = attempt_hint.map(str::to_string).or(occasion) else {
            return Err(Error::invalid(
                "result",
                "a result for an attempt of this till (Occasion)",
                "none",
            ));
        };
        let attempt = self.store().attempt(&id)?;
        let receipt = r.receipt();
        let amount = r.parameter("Amount").and_then(daraja::wire::value_whole);
        let event = match payment::judge_status_result(
            attempt.amount,
            r.result_code.is_zero(),
            receipt.as_deref(),
            amount,
        ) {
            payment::StatusVerdict::Apply(event) => event,
            payment::StatusVerdict::Ignore => {
                tracing::info!(attempt = %id, code = %r.result_code, "transaction status without a receipt");
                return Ok(None);
            }
            payment::StatusVerdict::Mismatch(reason) => {
                let flagged = self.store().flag_attempt(
                    &id,
                    &reason,
                    "status",
                    serde_json::json!({"receipt": receipt}),
                )?;
                self.inner.emit_attempt(&flagged);
                return Ok(Some(Applied::Conflict(flagged)));
            }
        };
        self.inner
            .apply(&id, &event, "status", Some(&r.result_desc))
            .map(Some)
    }

    /// Settles what is open: `pending` and `unknown` attempts with a CheckoutRequestID are
    /// queried now (still pending: handed to the poller); `created` ones (the push may or may
    /// not have gone out) become `unknown` and, like unknown ones without a CheckoutRequestID,
    /// are surfaced to the cashier. Nothing is deleted and nothing is pushed again.
    pub async fn reconcile(&self) -> Result<Vec<Reconciled>> {
        let open = self.store().attempts(true, 100_000)?;
        let mut out = Vec::new();
        for a in open {
            let before = a.state.name().to_string();
            let (after, how, note) = match (&a.state, a.checkout_request_id.clone()) {
                (AttemptState::Created, None) if self.in_flight(&a) => {
                    // Not left unfollowed: when its grace ends, it is looked at again.
                    let left = self.in_flight_grace().saturating_sub(Duration::from_millis(
                        now_ms().saturating_sub(a.created_at).max(0) as u64,
                    ));
                    let _ = self.inner.poll_tx.send(poller::Cmd::Recheck {
                        attempt_id: a.id.clone(),
                        at: tokio::time::Instant::now() + left,
                    });
                    (
                        before.clone(),
                        "in_flight",
                        "another process may still be sending it: it is checked again when its push must have ended"
                            .to_string(),
                    )
                }
                (AttemptState::Created, None) => {
                    let r = self.inner.apply(
                        &a.id,
                        &PaymentEvent::PushNoAnswer,
                        "reconcile",
                        Some("interrupted before the push answer was stored"),
                    )?;
                    (r.attempt().state.name().to_string(), "cashier", "the push may have reached the phone: ask the customer, or wait for the callback".to_string())
                }
                (_, Some(checkout)) => match self.inner.query(&checkout).await {
                    Ok(QueryStatus::Done {
                        result_code,
                        result_desc,
                    }) => {
                        let r = self.inner.apply(
                            &a.id,
                            &PaymentEvent::Result {
                                code: result_code.0.clone(),
                                receipt: None,
                            },
                            "reconcile",
                            Some(&result_desc),
                        )?;
                        (
                            r.attempt().state.name().to_string(),
                            "query",
                            format!("ResultCode {result_code}"),
                        )
                    }
                    Ok(QueryStatus::Pending { .. }) => {
                        if matches!(a.state, AttemptState::Pending { .. }) {
                            self.inner.watch(&a.id, &checkout, a.created_at);
                        }
                        (
                            before.clone(),
                            "poller",
                            "Daraja is still processing it".to_string(),
                        )
                    }
                    Err(e) => {
                        if matches!(a.state, AttemptState::Pending { .. }) {
                            self.inner.watch(&a.id, &checkout, a.created_at);
                        }
                        (before.clone(), "poller", format!("query failed: {e}"))
                    }
                },
                (_, None) => (
                    before.clone(),
                    "cashier",
                    "no CheckoutRequestID: ask the customer, or wait for the callback".to_string(),
                ),
            };
            out.push(Reconciled {
                attempt_id: a.id.clone(),
                sale_id: a.sale_id,
                before,
                after,
                how: how.to_string(),
                note,
            });
        }
        // Given up on by a cashier, not yet answered by M-Pesa: followed again.
        for a in self.store().followed_attempts()? {
            self.inner.follow(&a);
            out.push(Reconciled {
                attempt_id: a.id.clone(),
                sale_id: a.sale_id,
                before: a.state.name().to_string(),
                after: a.state.name().to_string(),
                how: "followed".into(),
                note: "given up on by the cashier; followed until M-Pesa answers".into(),
            });
        }
        Ok(out)
    }

    /// A `created` attempt whose in-flight grace has ended (the poller calls this): if its push
    /// answer was recorded meanwhile it is followed, otherwise it becomes `unknown` for the
    /// cashier to see.
    pub(crate) async fn recheck_created(&self, attempt_id: &str) {
        let a = match self.store().attempt(attempt_id) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(attempt = %attempt_id, "recheck: {e}");
                return;
            }
        };
        match &a.state {
            AttemptState::Created if self.in_flight(&a) => {
                let _ = self.inner.poll_tx.send(poller::Cmd::Recheck {
                    attempt_id: a.id.clone(),
                    at: tokio::time::Instant::now() + Duration::from_secs(1),
                });
            }
            AttemptState::Created => {
                if let Err(e) = self.inner.apply(
                    &a.id,
                    &PaymentEvent::PushNoAnswer,
                    "reconcile",
                    Some("the push's answer was never recorded"),
                ) {
                    tracing::warn!(attempt = %attempt_id, "recheck: {e}");
                }
            }
            AttemptState::Pending { checkout_id } => {
                self.inner.watch(&a.id, checkout_id, a.created_at)
            }
            _ => {}
        }
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

fn event_code(e: &PaymentEvent) -> &str {
    match e {
        PaymentEvent::Result { code, .. } => code,
        _ => "",
    }
}

/// How often `send_push` retries recording Daraja's answer on a busy database.
const RECORD_TRIES: u32 = 6;

/// Another connection holds the database (a second till process): worth a retry soon.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn record_pause(try_no: u32) -> Duration {
    Duration::from_millis(100 << try_no)
}

/// The longest `send_push` may spend recording the answer: every try waits up to the store's
/// busy timeout, with the pauses between them.
fn record_budget() -> Duration {
    (1..=RECORD_TRIES)
        .map(record_pause)
        .fold(crate::store::BUSY_TIMEOUT * (RECORD_TRIES + 1), |a, b| {
            a + b
        })
}

/// `Sale 1234567` (at most 12 characters, shown on the prompt and in the customer's SMS).
fn account_reference(sale_id: i64) -> String {
    let r = format!("Sale {sale_id}");
    if r.len() <= daraja::validate::MAX_ACCOUNT_REFERENCE {
        r
    } else {
        let s = sale_id.to_string();
        s[s.len()
            .saturating_sub(daraja::validate::MAX_ACCOUNT_REFERENCE)..]
            .to_string()
    }
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit_attempt(&self, a: &Attempt) {
        let _ = self
            .events
            .send(CoreEvent::AttemptChanged { attempt: a.clone() });
    }

    /// Applies a fact, emits what changed, and stops polling an attempt that became final.
    pub(crate) fn apply(
        &self,
        attempt_id: &str,
        event: &PaymentEvent,
        source: &str,
        desc: Option<&str>,
    ) -> Result<Applied> {
        self.apply_learning(attempt_id, event, source, desc, None)
    }

    pub(crate) fn apply_learning(
        &self,
        attempt_id: &str,
        event: &PaymentEvent,
        source: &str,
        desc: Option<&str>,
        checkout: Option<&str>,
    ) -> Result<Applied> {
        let sale_was_paid = {
            let store = self.store();
            store
                .attempt(attempt_id)
                .and_then(|a| store.sale(a.sale_id))
                .is_ok_and(|s| s.status == crate::sale::SaleStatus::Paid)
        };
        let applied = self
            .store()
            .apply_event_learning(attempt_id, event, source, desc, checkout)?;
        if let (Applied::Conflict(a), PaymentEvent::Result { receipt, .. }) = (&applied, event)
            && matches!(&a.state, AttemptState::Failed { code } if code == crate::payment::NOT_REACHED)
            && crate::payment::classify(event_code(event)) == crate::payment::CodeClass::Success
        {
            tracing::warn!(attempt = %a.id, sale = a.sale_id, "the customer may have paid twice");
            let _ = self.events.send(CoreEvent::PossibleDoublePayment {
                attempt: a.clone(),
                receipt: receipt.clone(),
            });
        }
        if !matches!(applied, Applied::Same(_)) {
            let a = applied.attempt();
            self.emit_attempt(a);
            if a.state.is_final() {
                let _ = self.poll_tx.send(poller::Cmd::Forget(a.id.clone()));
            }
            if matches!(a.state, AttemptState::Paid { .. })
                && let Ok(sale) = self.store().sale(a.sale_id)
            {
                let paid = sale.status == crate::sale::SaleStatus::Paid;
                let sale_id = sale.id;
                let _ = self.events.send(CoreEvent::SaleChanged { sale });
                if paid && !sale_was_paid {
                    let _ = self.events.send(CoreEvent::SalePaid { sale_id });
                }
            }
        }
        Ok(applied)
    }

    async fn request_receipt(&self, attempt_id: &str) -> Result<bool> {
        let Some(status) = &self.cfg.status else {
            return Ok(false);
        };
        let a = self.store().attempt(attempt_id)?;
        let (AttemptState::Paid { receipt: None }, Some(checkout)) =
            (&a.state, &a.checkout_request_id)
        else {
            return Ok(false);
        };
        let req = daraja::wire::TransactionStatusRequest {
            initiator: status.initiator.clone(),
            security_credential: status.security_credential.expose().to_string(),
            command_id: "TransactionStatusQuery".into(),
            transaction_id: None,
            original_conversation_id: Some(checkout.clone()),
            party_a: self.cfg.shortcode.clone(),
            identifier_type: "4".into(),
            result_url: (status.result_url)(attempt_id),
            queue_timeout_url: (status.result_url)(attempt_id),
            remarks: "Duka receipt lookup".into(),
            occasion: Some(attempt_id.to_string()),
        };
        match self.client.transaction_status(&req).await {
            Ok(_) => {
                self.daraja_ok();
                Ok(true)
            }
            Err(e) => {
                self.daraja_err(&e);
                Err(Error::Config(format!("Transaction Status: {e}")))
            }
        }
    }

    /// An STK query for a CheckoutRequestID of this till, with the health bookkeeping.
    async fn query(&self, checkout: &str) -> daraja::Result<QueryStatus> {
        let answer = self
            .client
            .stk_query(&self.cfg.shortcode, self.cfg.passkey.expose(), checkout)
            .await;
        match &answer {
            Ok(_) => self.daraja_ok(),
            Err(e) => self.daraja_err(e),
        }
        answer
    }

    /// Hands an attempt the cashier gave up on to the poller, when M-Pesa can be asked about it.
    fn follow(&self, a: &Attempt) {
        if let (true, Some(checkout)) = (a.followed, &a.checkout_request_id) {
            let _ = self.poll_tx.send(poller::Cmd::Follow {
                attempt_id: a.id.clone(),
                checkout_id: checkout.clone(),
            });
        }
    }

    fn is_unrecorded(&self, attempt_id: &str) -> bool {
        self.unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(attempt_id)
    }

    /// Writes a push answer the disk refused, retrying (0.5 s doubling to 10 s) until it is
    /// saved or the engine stops; then the attempt is followed as usual. Meanwhile the attempt
    /// counts as in flight: no resend, no "answer never recorded".
    fn keep_unrecorded(
        this: &Arc<Inner>,
        attempt: Attempt,
        event: PaymentEvent,
        desc: Option<String>,
    ) {
        this.unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(attempt.id.clone());
        let weak = Arc::downgrade(this);
        tokio::spawn(async move {
            let checkout = match &event {
                PaymentEvent::PushAccepted { checkout_id } => Some(checkout_id.clone()),
                _ => None,
            };
            let mut pause = Duration::from_millis(500);
            loop {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
                let Some(inner) = weak.upgrade() else { return };
                match inner.apply_learning(
                    &attempt.id,
                    &event,
                    "engine",
                    desc.as_deref(),
                    checkout.as_deref(),
                ) {
                    Err(Error::Db(e)) => {
                        tracing::warn!(attempt = %attempt.id, "the push answer is still not saved: {e}");
                        continue;
                    }
                    Ok(applied) => {
                        tracing::info!(attempt = %attempt.id, "the push answer is saved now");
                        if let AttemptState::Pending { checkout_id } = &applied.attempt().state {
                            inner.watch(&attempt.id, checkout_id, attempt.created_at);
                        }
                    }
                    Err(e) => {
                        // A callback settled it meanwhile, or the transition no longer applies.
                        tracing::warn!(attempt = %attempt.id, "the kept push answer no longer applies: {e}");
                    }
                }
                inner
                    .unrecorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&attempt.id);
                return;
            }
        });
    }

    fn watch(&self, attempt_id: &str, checkout_id: &str, created_at: Millis) {
        let _ = self.poll_tx.send(poller::Cmd::Watch {
            attempt_id: attempt_id.to_string(),
            checkout_id: checkout_id.to_string(),
            created_at,
        });
    }

    fn daraja_ok(&self) {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_daraja_ok = Some(now_ms());
    }

    fn daraja_err(&self, e: &daraja::Error) {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_daraja_error = Some((now_ms(), format!("{}: {e}", e.code())));
    }
}

/// The public sandbox-style defaults daraja-sim runs with, used in demo mode.
pub mod demo {
    pub const CONSUMER_KEY: &str = "duka-demo-key";
    pub const CONSUMER_SECRET: &str = "duka-demo-secret";
    pub const SHORTCODE: &str = "174379";
    /// Safaricom's public sandbox passkey for 174379 (not a secret).
    pub const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
}

/// Builds the Daraja client and engine configuration from settings and credentials.
/// `demo_base_url` is the in-process simulator's URL in demo mode (the caller starts it).
pub fn connect(
    settings: &crate::config::Settings,
    credentials: Option<&crate::config::Credentials>,
    demo_base_url: Option<&str>,
    poll: PollPolicy,
    relay: Option<&duka_relay_proto::Pairing>,
    token_store: Option<Arc<dyn daraja::TokenStore>>,
) -> Result<(Client, EngineConfig)> {
    use crate::config::Environment as Env;
    let demo = settings.environment == Env::Demo;
    let (environment, key, secret, passkey, shortcode, payee) = match settings.environment {
        Env::Demo => {
            let base = demo_base_url
                .ok_or_else(|| Error::Config("demo mode needs the simulator running".into()))?;
            (
                daraja::Environment::Custom(base.to_string()),
                demo::CONSUMER_KEY.to_string(),
                demo::CONSUMER_SECRET.to_string(),
                Secret::new(demo::PASSKEY),
                demo::SHORTCODE.to_string(),
                Payee::Paybill,
            )
        }
        env => {
            crate::config::check_ready(settings, &|_| credentials.is_some())
                .map_err(|e| Error::Config(e.to_string()))?;
            let c = credentials.ok_or_else(|| Error::Config("credentials".into()))?;
            let shortcode = settings.required_shortcode()?.to_string();
            let payee = match settings.required_party_b()? {
                None => Payee::Paybill,
                Some(t) => Payee::Till {
                    till_number: t.to_string(),
                },
            };
            let environment = match env {
                Env::Sandbox => daraja::Environment::Sandbox,
                Env::Production => daraja::Environment::Production,
                _ => daraja::Environment::Custom(
                    settings.daraja_base_url.clone().unwrap_or_default(),
                ),
            };
            (
                environment,
                c.consumer_key.expose().to_string(),
                c.consumer_secret.expose().to_string(),
                c.passkey.clone(),
                shortcode,
                payee,
            )
        }
    };
    let mut daraja_cfg = daraja::Config::new(environment, &key, &secret);
    // Demo mode's simulator restarts with every till: its tokens are worth nothing after.
    if !demo {
        daraja_cfg.token_store = token_store;
    }
    let client = Client::new(daraja_cfg).map_err(|e| Error::Config(e.to_string()))?;
    Ok((
        client,
        EngineConfig {
            shortcode,
            passkey,
            payee,
            callback_url: match relay {
                Some(p) => {
                    let (url, till, key) = (p.url.clone(), p.till.clone(), p.key_bytes());
                    Arc::new(move |attempt: &str| {
                        duka_relay_proto::stk_callback_url(&url, &till, &key, attempt)
                    })
                }
                None => Arc::new(EngineConfig::placeholder_callback),
            },
            poll,
            in_flight_grace: None,
            status: match (demo, relay) {
                (false, Some(p)) => status_config(settings, credentials, p),
                _ => None,
            },
        },
    ))
}

/// Transaction Status for a shop till: an initiator, its password and Safaricom's certificate,
/// and a relay to bring the result back (a till has no public URL of its own). Anything
/// missing leaves it off (logged): the till sells without it, and a receipt the query did not
/// give arrives with the callback or the customer's SMS.
fn status_config(
    settings: &crate::config::Settings,
    credentials: Option<&crate::config::Credentials>,
    relay: &duka_relay_proto::Pairing,
) -> Option<StatusConfig> {
    let password = credentials.and_then(|c| c.initiator_password.as_ref());
    let (Some(initiator), Some(cert_path), Some(password)) =
        (&settings.initiator, &settings.certificate, password)
    else {
        if settings.initiator.is_some() {
            tracing::warn!(
                "Transaction Status is off: the initiator needs its password (secret initiator_password) and Safaricom's certificate (setting certificate)"
            );
        }
        return None;
    };
    let sealed = std::fs::read_to_string(cert_path)
        .map_err(|e| e.to_string())
        .and_then(|pem| {
            daraja::security::security_credential(password.expose(), &pem)
                .map_err(|e| e.to_string())
        });
    match sealed {
        Ok(credential) => {
            let (url, till, key) = (relay.url.clone(), relay.till.clone(), relay.key_bytes());
            Some(StatusConfig {
                initiator: initiator.clone(),
                security_credential: Secret::new(credential),
                result_url: Arc::new(move |attempt: &str| {
                    duka_relay_proto::status_result_url(&url, &till, &key, attempt)
                }),
            })
        }
        Err(e) => {
            tracing::warn!("Transaction Status is off: certificate {cert_path}: {e}");
            None
        }
    }
}
