//! What a crash or a power cut left open is settled (or surfaced) on start.

use std::time::Duration;

use daraja::QueryStatus;

use super::*;

impl Engine {
    /// Settles what is open: `pending` and `unknown` attempts with a CheckoutRequestID are
    /// queried now (still pending: handed to the poller); `created` ones (the push may or may
    /// not have gone out) become `unknown` and, like unknown ones without a CheckoutRequestID,
    /// are surfaced to the cashier. Nothing is deleted and nothing is pushed again.
    pub async fn reconcile(&self) -> Result<Vec<Reconciled>> {
        // Reversals a crash left `requested` are surfaced too (never sent again); those
        // accepted or unknown whose Result has not come for a while are asked about.
        let grace = self.in_flight_grace().as_millis() as i64;
        for r in self.reconcile_reversals()? {
            let quiet = now_ms().saturating_sub(r.updated_at) >= grace;
            if quiet && let Err(e) = self.ask_reversal_status(&r).await {
                tracing::warn!(refund = r.id, "could not ask about the reversal: {e}");
            }
        }
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
}
