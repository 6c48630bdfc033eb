//! Charging: the attempt is on disk before the push, Daraja's answer is recorded whatever
//! happens, and a resend goes out only on M-Pesa's word or the cashier's.

use std::time::Duration;

use daraja::QueryStatus;

use super::*;

impl Engine {
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

    pub(super) async fn send_push(&self, attempt: Attempt) -> Result<Attempt> {
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
}

/// Test hook: `DUKA_CRASH_AT=<point>` aborts the process there, as a power cut would. Only in
/// builds with the `test-hooks` feature (the crash test's `duka`): a shop's build never reads it.
#[cfg(feature = "test-hooks")]
pub(super) fn crash_point(name: &str) {
    if std::env::var("DUKA_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

#[cfg(not(feature = "test-hooks"))]
pub(super) fn crash_point(_: &str) {}

/// What the cashier sees for a failed push that never reached Daraja's customer.
pub(super) fn rejection_code(e: &daraja::Error) -> String {
    match e {
        daraja::Error::BadRequest { code, .. } => code.clone(),
        daraja::Error::RateLimited { code, .. } => code.clone(),
        daraja::Error::SubscriberLocked { .. } => "1001".into(),
        other => other.code().to_string(),
    }
}

/// How often `send_push` retries recording Daraja's answer on a busy database.
pub(super) const RECORD_TRIES: u32 = 6;

/// Another connection holds the database (a second till process): worth a retry soon.
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub(super) fn record_pause(try_no: u32) -> Duration {
    Duration::from_millis(100 << try_no)
}

/// The longest `send_push` may spend recording the answer: every try waits up to the store's
/// busy timeout, with the pauses between them.
pub(super) fn record_budget() -> Duration {
    (1..=RECORD_TRIES)
        .map(record_pause)
        .fold(crate::store::BUSY_TIMEOUT * (RECORD_TRIES + 1), |a, b| {
            a + b
        })
}

/// `Sale 1234567` (at most 12 characters, shown on the prompt and in the customer's SMS).
pub(super) fn account_reference(sale_id: i64) -> String {
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
