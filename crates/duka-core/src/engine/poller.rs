//! One task queries every pending attempt on a schedule measured from its push, stops at the
//! first final fact from any route, backs off on spike arrest, and moves an attempt to
//! `unknown` at the deadline. Daraja being down only delays queries.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use daraja::QueryStatus;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Inner;
use crate::payment::{AttemptState, PaymentEvent};
use crate::time::{Millis, now_ms};

/// When to query, counted from the push.
#[derive(Debug, Clone)]
pub struct PollPolicy {
    /// Query times after the push. Dense where customers answer (most within 10–25 s), sparse
    /// after, so a payment costs few queries and is seen soon after the PIN.
    pub offsets: Vec<Duration>,
    /// After this, a still-pending attempt becomes `unknown` (reconcile settles it later).
    pub deadline: Duration,
    /// Pause for every query after a spike-arrest answer (doubles while it repeats).
    pub spike_backoff: Duration,
    /// How often an attempt the cashier gave up on is queried until M-Pesa answers finally.
    pub follow_every: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        let s = |v: &[u64]| v.iter().map(|x| Duration::from_millis(x * 1000)).collect();
        PollPolicy {
            offsets: s(&[
                5, 9, 11, 13, 15, 17, 19, 21, 24, 28, 35, 45, 60, 80, 100, 120, 150, 175,
            ]),
            deadline: Duration::from_secs(180),
            spike_backoff: Duration::from_secs(30),
            follow_every: Duration::from_secs(60),
        }
    }
}

impl PollPolicy {
    /// The same schedule, `factor` times faster (tests).
    pub fn scaled(factor: f64) -> PollPolicy {
        let d = PollPolicy::default();
        let f = |x: Duration| Duration::from_secs_f64(x.as_secs_f64() / factor);
        PollPolicy {
            offsets: d.offsets.into_iter().map(f).collect(),
            deadline: f(d.deadline),
            spike_backoff: f(d.spike_backoff),
            follow_every: f(d.follow_every),
        }
    }
}

pub(crate) enum Cmd {
    Watch {
        attempt_id: String,
        checkout_id: String,
        created_at: Millis,
    },
    /// An attempt the cashier gave up on: queried every `follow_every`, with no deadline,
    /// until M-Pesa gives a final answer.
    Follow {
        attempt_id: String,
        checkout_id: String,
    },
    /// A `created` attempt that may still be on its way in another engine: at `at`, reconcile
    /// it (pending → watched; still created → unknown, shown to the cashier).
    Recheck {
        attempt_id: String,
        at: Instant,
    },
    Forget(String),
    Shutdown,
}

enum Outcome {
    /// Not final yet: query again at the next offset.
    Again,
    /// Spike arrest: everyone waits.
    Spike,
    /// Final, unknown, or gone: stop watching.
    Stop,
}

struct Watched {
    checkout_id: String,
    pushed: Instant,
    next: usize,
    due: Instant,
    in_flight: bool,
    /// Given up on by the cashier: no deadline, `follow_every` between queries.
    follow: bool,
}

pub(crate) async fn run(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let policy = match inner.upgrade() {
        Some(i) => i.cfg.poll.clone(),
        None => return,
    };
    let mut watched: HashMap<String, Watched> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Outcome)>();
    let mut backoff_until: Option<Instant> = None;
    let mut backoff = policy.spike_backoff;
    loop {
        let next_due = watched
            .values()
            .filter(|w| !w.in_flight)
            .map(|w| w.due)
            .min();
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None | Some(Cmd::Shutdown) => return,
                Some(Cmd::Watch { attempt_id, checkout_id, created_at }) => {
                    watched.entry(attempt_id).or_insert_with(|| {
                        let age = Duration::from_millis(now_ms().saturating_sub(created_at).max(0) as u64);
                        let pushed = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
                        let next = policy.offsets.iter().position(|o| *o > age).unwrap_or(policy.offsets.len());
                        let due = policy.offsets.get(next).map(|o| pushed + *o).unwrap_or(pushed + policy.deadline);
                        Watched { checkout_id, pushed, next, due, in_flight: false, follow: false }
                    });
                }
                Some(Cmd::Follow { attempt_id, checkout_id }) => {
                    let now = Instant::now();
                    let w = watched.entry(attempt_id).or_insert_with(|| Watched {
                        checkout_id: checkout_id.clone(), pushed: now, next: 0, due: now, in_flight: false, follow: true,
                    });
                    w.follow = true;
                    w.checkout_id = checkout_id;
                    if !w.in_flight { w.due = now; }
                }
                Some(Cmd::Recheck { attempt_id, at }) => {
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        if let Some(inner) = inner.upgrade() {
                            super::Engine { inner }.recheck_created(&attempt_id).await;
                        }
                    });
                }
                Some(Cmd::Forget(id)) => { watched.remove(&id); }
            },
            Some((id, outcome)) = done_rx.recv() => {
                let Some(w) = watched.get_mut(&id) else { continue };
                w.in_flight = false;
                match outcome {
                    Outcome::Stop => { watched.remove(&id); }
                    Outcome::Again | Outcome::Spike if w.follow => {
                        w.due = Instant::now() + policy.follow_every;
                        if let Some(b) = backoff_until { w.due = w.due.max(b); }
                    }
                    Outcome::Again | Outcome::Spike => {
                        if matches!(outcome, Outcome::Spike) {
                            backoff_until = Some(Instant::now() + backoff);
                            backoff = (backoff * 2).min(policy.deadline);
                        } else {
                            backoff = policy.spike_backoff;
                        }
                        w.next += 1;
                        w.due = policy.offsets.get(w.next).map(|o| w.pushed + *o).unwrap_or(w.pushed + policy.deadline);
                        if let Some(b) = backoff_until { w.due = w.due.max(b); }
                    }
                }
            },
            _ = sleep_until(next_due) => {
                let Some(inner) = inner.upgrade() else { return };
                let now = Instant::now();
                let due: Vec<String> = watched.iter().filter(|(_, w)| !w.in_flight && w.due <= now).map(|(k, _)| k.clone()).collect();
                for id in due {
                    let w = watched.get_mut(&id).expect("listed above");
                    if !w.follow && now >= w.pushed + policy.deadline {
                        match inner.apply(&id, &PaymentEvent::Deadline, "poller", Some("no final answer before the deadline")) {
                            Ok(_) => { watched.remove(&id); }
                            Err(e) => {
                                tracing::warn!(attempt = %id, "deadline, trying again: {e}");
                                w.due = now + Duration::from_secs(5);
                            }
                        }
                        continue;
                    }
                    if backoff_until.is_some_and(|b| now < b) {
                        w.due = backoff_until.expect("checked");
                        continue;
                    }
                    w.in_flight = true;
                    let (checkout, tx, inner, follow) = (w.checkout_id.clone(), done_tx.clone(), inner.clone(), w.follow);
                    tokio::spawn(async move {
                        let outcome = query_once(&inner, &id, &checkout, follow).await;
                        let _ = tx.send((id, outcome));
                    });
                }
            },
        }
        if let Some(i) = inner.upgrade() {
            i.health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .poller_backlog = watched.len();
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn query_once(inner: &Inner, attempt_id: &str, checkout: &str, follow: bool) -> Outcome {
    // A callback may have settled it meanwhile.
    match inner.store().attempt(attempt_id) {
        Ok(a) if matches!(a.state, AttemptState::Pending { .. }) => {}
        Ok(a) if follow && a.followed => {}
        _ => return Outcome::Stop,
    }
    match inner.query(checkout).await {
        Ok(QueryStatus::Pending { .. }) => Outcome::Again,
        Ok(QueryStatus::Done {
            result_code,
            result_desc,
        }) => {
            let event = PaymentEvent::Result {
                code: result_code.0,
                receipt: None,
            };
            match inner.apply(attempt_id, &event, "query", Some(&result_desc)) {
                Ok(a) if matches!(a.attempt().state, AttemptState::Pending { .. }) => {
                    Outcome::Again
                }
                Ok(a) if a.attempt().followed => Outcome::Again,
                Ok(a) if matches!(a.attempt().state, AttemptState::Paid { receipt: None }) => {
                    // The query never carries the receipt: ask Transaction Status, if set up.
                    if let Err(e) = inner.request_receipt(attempt_id).await {
                        tracing::warn!(attempt = %attempt_id, "receipt lookup: {e}");
                    }
                    Outcome::Stop
                }
                Ok(_) => Outcome::Stop,
                Err(e) => {
                    tracing::warn!(attempt = %attempt_id, "applying a query result: {e}");
                    Outcome::Again
                }
            }
        }
        Err(daraja::Error::RateLimited { .. }) => Outcome::Spike,
        Err(_) => Outcome::Again,
    }
}
