//! The engine's shared state: applying facts, asking M-Pesa, following attempts.

use std::sync::Arc;
use std::time::Duration;

use daraja::QueryStatus;

use super::*;

pub(super) fn event_code(e: &PaymentEvent) -> &str {
    match e {
        PaymentEvent::Result { code, .. } => code,
        _ => "",
    }
}

impl Inner {
    pub(super) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn emit_attempt(&self, a: &Attempt) {
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

    pub(super) async fn request_receipt(&self, attempt_id: &str) -> Result<bool> {
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
    pub(super) async fn query(&self, checkout: &str) -> daraja::Result<QueryStatus> {
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
    pub(super) fn follow(&self, a: &Attempt) {
        if let (true, Some(checkout)) = (a.followed, &a.checkout_request_id) {
            let _ = self.poll_tx.send(poller::Cmd::Follow {
                attempt_id: a.id.clone(),
                checkout_id: checkout.clone(),
            });
        }
    }

    pub(super) fn is_unrecorded(&self, attempt_id: &str) -> bool {
        self.unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(attempt_id)
    }

    /// Writes a push answer the disk refused, retrying (0.5 s doubling to 10 s) until it is
    /// saved or the engine stops; then the attempt is followed as usual. Meanwhile the attempt
    /// counts as in flight: no resend, no "answer never recorded".
    pub(super) fn keep_unrecorded(
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

    pub(super) fn watch(&self, attempt_id: &str, checkout_id: &str, created_at: Millis) {
        let _ = self.poll_tx.send(poller::Cmd::Watch {
            attempt_id: attempt_id.to_string(),
            checkout_id: checkout_id.to_string(),
            created_at,
        });
    }

    pub(super) fn daraja_ok(&self) {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_daraja_ok = Some(now_ms());
    }

    pub(super) fn daraja_err(&self, e: &daraja::Error) {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_daraja_error = Some((now_ms(), format!("{}: {e}", e.code())));
    }
}
