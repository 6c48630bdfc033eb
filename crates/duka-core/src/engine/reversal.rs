//! Refunds to M-Pesa by Transaction Reversal, with a charge's discipline: the refund is on
//! disk (`requested`) before the request is sent, the request is sent once and its answer
//! recorded whatever happens, the Result arrives on the ResultURL (the relay, or the demo
//! sink) and is applied through `refund::reversal_step`.

use super::push::crash_point;
use super::*;
use crate::refund::{RefundTo, ReversalEvent};
use crate::store::{Refund, RefundLineInput};

impl Engine {
    /// A manager's refund of a sale (whole, or `lines`) back to the customer's M-Pesa. Needs
    /// the initiator (Transaction Status and Reversal share it); without one the refund is
    /// refused before anything is written: record it as paid back by hand instead.
    pub async fn refund_to_mpesa(
        &self,
        sale_id: i64,
        lines: Option<&[RefundLineInput]>,
        reason: &str,
        manager: &str,
    ) -> Result<Refund> {
        let Some(status) = self.inner.cfg.status.clone() else {
            return Err(Error::Conflict(
                "no initiator is set up, so M-Pesa cannot be asked to reverse a payment: refund to cash, or send it from the shop's phone and record its code".into(),
            ));
        };
        let refund =
            self.store()
                .create_refund(sale_id, lines, reason, &RefundTo::Mpesa, manager)?;
        self.inner.emit_refund(&refund);
        crash_point("reversal_after_commit");
        // Its own task: if the caller goes away mid-request, the answer is still recorded.
        let engine = self.clone();
        tokio::spawn(async move { engine.send_reversal(refund, status).await })
            .await
            .map_err(|e| Error::Conflict(format!("the reversal task failed: {e}")))?
    }

    async fn send_reversal(&self, refund: Refund, status: StatusConfig) -> Result<Refund> {
        let id = refund.id.to_string();
        let req = daraja::wire::ReversalRequest {
            initiator: status.initiator.clone(),
            security_credential: status.security_credential.expose().to_string(),
            command_id: "TransactionReversal".into(),
            transaction_id: refund.original_receipt.clone().unwrap_or_default(),
            amount: (refund.amount.cents() / 100) as u64,
            receiver_party: self.inner.cfg.shortcode.clone(),
            receiver_identifier_type: "11".into(),
            result_url: (status.reversal_url)(&id),
            queue_timeout_url: (status.reversal_url)(&id),
            remarks: format!("Duka refund {id}"),
            occasion: Some(format!("refund {id}")),
        };
        tracing::info!(
            refund = refund.id,
            sale = refund.sale_id,
            amount = req.amount,
            "reversal"
        );
        let answer = self.inner.client.reversal(&req).await;
        crash_point("reversal_after_answer");
        let (event, desc) = match &answer {
            Ok(ack) => {
                self.inner.daraja_ok();
                match &ack.conversation_id {
                    Some(c) => (
                        ReversalEvent::Accepted {
                            conversation_id: c.clone(),
                        },
                        ack.response_description.clone(),
                    ),
                    None => (ReversalEvent::NoAnswer, ack.response_description.clone()),
                }
            }
            Err(e) if e.nothing_happened() => {
                self.inner.daraja_err(e);
                (
                    ReversalEvent::Refused {
                        code: e.code().to_string(),
                    },
                    Some(e.to_string()),
                )
            }
            Err(e) => {
                self.inner.daraja_err(e);
                (ReversalEvent::NoAnswer, Some(e.to_string()))
            }
        };
        let refund = self
            .store()
            .apply_reversal(refund.id, &event, "engine", desc.as_deref())?;
        self.inner.emit_refund(&refund);
        Ok(refund)
    }

    /// A Transaction Reversal `Result` (from the relay or the demo sink). The refund is the
    /// one the signed result URL names (`refund_hint`), else the one Daraja acknowledged with
    /// the Result's ConversationID. A Result about another receipt than the refund's is
    /// refused as forged.
    pub fn apply_reversal_result(
        &self,
        body: &[u8],
        refund_hint: Option<&str>,
        source: &str,
    ) -> Result<Refund> {
        let r = daraja::wire::parse_result(body).map_err(|e| {
            Error::invalid(
                "result",
                "Daraja's Transaction Reversal Result JSON",
                e.to_string(),
            )
        })?;
        let hint = refund_hint.and_then(parse_hint);
        let status_answer = hint.is_some_and(|(_, status)| status);
        let refund = match hint {
            Some((id, _)) => self.store().refund(id)?,
            None => {
                let c = r.conversation_id.as_deref().unwrap_or_default();
                self.store().refund_by_conversation(c)?
            }
        };
        if let (Some(said), Some(ours)) = (r.original_transaction(), &refund.original_receipt)
            && &said != ours
        {
            tracing::warn!(
                refund = refund.id,
                source,
                "a reversal result about another receipt: refused"
            );
            return Err(Error::Forged(format!(
                "a reversal result for refund {} names receipt {said}, not {ours}",
                refund.id
            )));
        }
        // A Transaction Status answer about the reversal (asked by `ask_reversal_status`, and
        // sent to the same URL): only a completed transaction with its own receipt, not the
        // payment that was reversed, says the money went back; anything else is no news.
        // Status answers come to their own URL (`status_hint`): an error answer there (2001,
        // R000002 "not found yet") is about the query, never "the reversal failed".
        if status_answer || r.parameter("TransactionStatus").is_some() {
            let status = r.parameter("TransactionStatus").and_then(|v| v.as_str());
            let receipt = r.receipt();
            let about_the_reversal = receipt.is_some() && receipt != refund.original_receipt;
            // What the reversal asked for (a refund to M-Pesa is whole shillings).
            let shillings = (refund.amount.cents() / 100) as u64;
            let amount_ok = match r.parameter("Amount") {
                None => true,
                Some(v) => daraja::wire::value_whole(v) == Some(shillings),
            };
            let completed = r.result_code.is_zero() && status == Some("Completed");
            if !(completed && about_the_reversal && amount_ok) {
                tracing::info!(
                    refund = refund.id,
                    source,
                    code = r.result_code.as_str(),
                    "Transaction Status says nothing final about the reversal"
                );
                return Ok(refund);
            }
            let event = ReversalEvent::Result {
                code: "0".into(),
                receipt,
            };
            let desc = "confirmed by Transaction Status";
            let refund = self
                .store()
                .apply_reversal(refund.id, &event, source, Some(desc))?;
            self.inner.emit_refund(&refund);
            return Ok(refund);
        }
        let code = r.result_code.as_str().to_string();
        // `ResultType 1` is the queue's timeout notice (the same URL takes both): code `1`
        // there is not the "balance too low" refusal, and nothing final is known yet.
        // Without a ResultType, code 1 may be either: not taken for "nothing moved".
        let timed_out = match &r.result_type {
            Some(t) => !t.is_zero(),
            None => r.result_code.as_str() == "1",
        };
        let event = if timed_out {
            ReversalEvent::QueueTimeout
        } else {
            ReversalEvent::Result {
                receipt: r
                    .result_code
                    .is_zero()
                    .then(|| r.transaction_id.clone())
                    .flatten(),
                code,
            }
        };
        let refund =
            self.store()
                .apply_reversal(refund.id, &event, source, Some(&r.result_desc))?;
        self.inner.emit_refund(&refund);
        Ok(refund)
    }

    /// Asks Transaction Status about a reversal Daraja accepted but whose Result has not come
    /// (by the request's ConversationID; the answer comes to the reversal's own URL). A
    /// reversal with no ConversationID (its answer was lost) cannot be looked up this way and
    /// stays `unknown` for a manager to check on the M-Pesa portal. Returns whether it asked.
    pub async fn ask_reversal_status(&self, refund: &Refund) -> Result<bool> {
        let (Some(status), Some(conversation)) = (
            self.inner.cfg.status.clone(),
            refund.conversation_id.clone(),
        ) else {
            return Ok(false);
        };
        if refund.state.is_final() {
            return Ok(false);
        }
        let id = refund.id.to_string();
        let req = daraja::wire::TransactionStatusRequest {
            initiator: status.initiator.clone(),
            security_credential: status.security_credential.expose().to_string(),
            command_id: "TransactionStatusQuery".into(),
            transaction_id: None,
            original_conversation_id: Some(conversation),
            party_a: self.inner.cfg.shortcode.clone(),
            identifier_type: "4".into(),
            result_url: (status.reversal_url)(&status_hint(refund.id)),
            queue_timeout_url: (status.reversal_url)(&status_hint(refund.id)),
            remarks: format!("Duka refund {id} status"),
            occasion: Some(format!("refund {id}")),
        };
        match self.inner.client.transaction_status(&req).await {
            Ok(_) => {
                self.inner.daraja_ok();
                Ok(true)
            }
            Err(e) => {
                self.inner.daraja_err(&e);
                Err(Error::Config(format!("Transaction Status: {e}")))
            }
        }
    }

    /// After a crash: a reversal still `requested` (and older than the in-flight grace, so no
    /// other process is sending it now) may or may not have reached Daraja, so it becomes
    /// `unknown` for a manager to check; it is never sent again by itself.
    pub fn reconcile_reversals(&self) -> Result<Vec<Refund>> {
        let open = self.store().open_reversals()?;
        let grace = self.in_flight_grace().as_millis() as i64;
        let mut out = Vec::new();
        for r in open {
            let old = now_ms().saturating_sub(r.created_at) >= grace;
            let r = if r.state == crate::refund::RefundState::Requested && old {
                let r = self.store().apply_reversal(
                    r.id,
                    &ReversalEvent::NoAnswer,
                    "reconcile",
                    Some("interrupted before the reversal's answer was stored"),
                )?;
                self.inner.emit_refund(&r);
                r
            } else {
                r
            };
            out.push(r);
        }
        Ok(out)
    }
}

/// The URL segment a Transaction Status answer about refund `id` comes back on: `f` and the
/// id, still a hex segment for the relay's signature, told apart from the reversal's own
/// Result (`id`).
fn status_hint(id: i64) -> String {
    format!("f{id}")
}

/// A URL segment: the refund's id, and whether it is a status answer's (`f…`).
fn parse_hint(h: &str) -> Option<(i64, bool)> {
    match h.strip_prefix('f') {
        Some(id) => id.parse().ok().map(|id| (id, true)),
        None => h.parse().ok().map(|id| (id, false)),
    }
}

impl Inner {
    pub(super) fn emit_refund(&self, refund: &Refund) {
        let _ = self.events.send(CoreEvent::RefundChanged {
            refund: refund.clone(),
        });
    }
}
