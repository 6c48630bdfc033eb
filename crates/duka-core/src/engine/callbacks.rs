//! Facts from outside: Daraja's callbacks, queries and Transaction Status results.

use daraja::QueryStatus;

use super::*;

impl Engine {
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
        let amount = match r.parameter("Amount") {
            None => payment::StatusAmount::Missing,
            Some(v) => daraja::wire::value_whole(v).map_or(
                payment::StatusAmount::Unreadable,
                payment::StatusAmount::Whole,
            ),
        };
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
}
