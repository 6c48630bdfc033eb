//! Charging a sale by M-Pesa STK push, and following what was sent.

use std::time::Duration;

use serde::Serialize;

use super::Till;
use crate::engine::{Health, Reconciled};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::phone::Msisdn;
use crate::store::{Attempt, MAX_PUSH, PaymentEventRow};

/// What one charge sends: the whole shillings of each STK push, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ChargePlan {
    pub pushes: Vec<i64>,
}

impl ChargePlan {
    /// `total` whole shillings in pushes of at most [`MAX_PUSH`]. Above that, only with
    /// `split` (the customer approves each push).
    pub fn new(total: i64, split: bool) -> Result<ChargePlan> {
        if total < 1 {
            return Err(Error::invalid(
                "amount",
                "whole shillings, at least 1",
                total.to_string(),
            ));
        }
        if total > MAX_PUSH && !split {
            return Err(Error::invalid(
                "amount",
                format!(
                    "at most {MAX_PUSH} per M-Pesa request; pass --split to send it in several requests, each approved by the customer"
                ),
                total.to_string(),
            ));
        }
        let mut pushes = Vec::new();
        let mut left = total;
        while left > 0 {
            let part = left.min(MAX_PUSH);
            pushes.push(part);
            left -= part;
        }
        Ok(ChargePlan { pushes })
    }
}

/// The whole shillings to push for a sale with `due` left: `amount` when given (whole
/// shillings only), else what is due rounded up to the next shilling (M-Pesa moves no cents).
pub fn push_amount(sale_id: i64, due: Money, amount: Option<Money>) -> Result<i64> {
    match amount {
        Some(a) => a.whole_shillings().ok_or_else(|| {
            Error::invalid(
                "amount",
                "whole shillings (M-Pesa moves no cents)",
                a.plain(),
            )
        }),
        None if due == Money::ZERO => {
            Err(Error::Conflict(format!("sale {sale_id} has nothing due")))
        }
        None => Ok(due.shillings_up()),
    }
}

impl Till {
    /// What a push for this sale would ask: `amount`, or what is due rounded up.
    pub fn amount_to_push(&self, sale_id: i64, amount: Option<Money>) -> Result<i64> {
        let due = self.store().sale(sale_id)?.due;
        push_amount(sale_id, due, amount)
    }

    /// Sends one STK push (`amount` whole shillings, what is due when `None`) and returns as
    /// soon as Daraja answered; the attempt is followed to the end in the background and
    /// every change is a `CoreEvent::AttemptChanged`. A second charge while one is open is
    /// refused.
    pub async fn charge(
        &self,
        sale_id: i64,
        phone: &Msisdn,
        amount: Option<i64>,
        cashier: &str,
    ) -> Result<Attempt> {
        let engine = self.engine()?;
        let amount = match amount {
            Some(a) => a,
            None => self.amount_to_push(sale_id, None)?,
        };
        engine.charge(sale_id, phone, amount, cashier).await
    }

    /// After an unknown attempt, a new push: only on the cashier's word that no prompt reached
    /// the customer's phone (see `Engine::resend_after_unknown`).
    pub async fn resend(
        &self,
        attempt_id: &str,
        no_prompt_reached: bool,
        cashier: &str,
    ) -> Result<Attempt> {
        self.engine()?
            .resend_after_unknown(attempt_id, no_prompt_reached, cashier)
            .await
    }

    /// Settles what a crash or a power cut left open ("Check now").
    pub async fn reconcile(&self) -> Result<Vec<Reconciled>> {
        self.engine()?.reconcile().await
    }

    /// Waits until the attempt is final or unknown, up to the poller's deadline and `extra`.
    pub async fn wait_settled(&self, attempt_id: &str, timeout: Duration) -> Result<Attempt> {
        self.engine()?.wait_settled(attempt_id, timeout).await
    }

    /// Resumes, in the background, whatever a previous run left open.
    pub fn resume(&self) {
        if let Ok(e) = self.engine() {
            e.resume();
        }
    }

    /// What the status bar shows: Daraja, token, relay, open attempts, backups.
    pub async fn health(&self) -> Health {
        let mut h = match self.engine() {
            Ok(e) => e.health().await,
            Err(_) => Health::default(),
        };
        h.backup = Some(self.backup_status());
        h
    }

    /// Push answers Daraja gave that the disk has not taken yet: the till must not be
    /// replaced while any are held.
    pub fn unsaved_answers(&self) -> usize {
        self.engine().map(|e| e.unsaved_answers()).unwrap_or(0)
    }

    pub fn attempt(&self, id: &str) -> Result<Attempt> {
        self.store().attempt(id)
    }

    /// Attempts, newest first (`open_only`: those not final yet).
    pub fn attempts(&self, open_only: bool, limit: usize) -> Result<Vec<Attempt>> {
        self.store().attempts(open_only, limit)
    }

    /// An attempt's event log.
    pub fn attempt_events(&self, id: &str) -> Result<Vec<PaymentEventRow>> {
        self.store().attempt_events(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_split_only_when_asked() {
        assert_eq!(ChargePlan::new(300, false).unwrap().pushes, vec![300]);
        assert_eq!(
            ChargePlan::new(300_000, true).unwrap().pushes,
            vec![250_000, 50_000]
        );
        let e = ChargePlan::new(300_000, false).unwrap_err().to_string();
        assert!(
            e.starts_with("amount: expected at most 250000 per M-Pesa request"),
            "{e}"
        );
        assert!(ChargePlan::new(0, true).is_err());
    }

    #[test]
    fn what_is_due_rounds_up_to_a_shilling() {
        let m = |c| Money::from_cents(c).unwrap();
        assert_eq!(push_amount(1, m(15_001), None).unwrap(), 151);
        assert_eq!(push_amount(1, m(15_000), None).unwrap(), 150);
        assert_eq!(push_amount(1, m(15_000), Some(m(10_000))).unwrap(), 100);
        assert_eq!(push_amount(1, m(0), None).unwrap_err().code(), "conflict");
        assert_eq!(
            push_amount(1, m(15_000), Some(m(10_050)))
                .unwrap_err()
                .code(),
            "invalid_input"
        );
    }
}
