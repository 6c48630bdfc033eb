//! Payment attempts and their append-only event log. Every state change goes through
//! `payment::transition` and is written together with its event row and its effect on the
//! sale (an M-Pesa tender, the sale's status) in one transaction.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::Store;
use super::sales::{payable, refresh_status};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::payment::{
    AttemptState, OPEN_STATES_SQL, PaymentEvent, Step, TenderRef, TenderStep, paid_attempt_tender,
    transition,
};
use crate::phone::Msisdn;
use crate::time::{Millis, now_ms};

/// M-Pesa's per-push limit in whole shillings.
pub const MAX_PUSH: i64 = daraja::validate::MAX_AMOUNT as i64;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Attempt {
    pub id: String,
    pub sale_id: i64,
    pub phone: Msisdn,
    /// Whole shillings.
    pub amount: i64,
    #[serde(flatten)]
    pub state: AttemptState,
    pub checkout_request_id: Option<String>,
    /// The ResultCode M-Pesa gave that Duka does not know, in state `unknown` only (a failure's
    /// code is in the state itself: see `Attempt::code`).
    pub unknown_code: Option<String>,
    /// M-Pesa's text for its last answer.
    pub result_desc: Option<String>,
    pub flag: Option<String>,
    /// Given up on by the cashier but still followed until M-Pesa gives a final answer.
    pub followed: bool,
    pub cashier: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct PaymentEventRow {
    pub id: i64,
    pub at: Millis,
    pub source: String,
    pub event: String,
    pub outcome: String,
    pub from_state: String,
    pub to_state: String,
    #[ts(type = "unknown")]
    pub detail: serde_json::Value,
}

/// What applying a fact did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Changed(Attempt),
    Same(Attempt),
    Conflict(Attempt),
}

impl Attempt {
    /// The ResultCode behind the state: `0` when paid, the failure's code, or the code Duka
    /// does not know that left it `unknown`.
    pub fn code(&self) -> Option<&str> {
        match &self.state {
            AttemptState::Paid { .. } => Some("0"),
            AttemptState::Failed { code } => Some(code),
            AttemptState::Unknown => self.unknown_code.as_deref(),
            _ => None,
        }
    }
}

impl Applied {
    pub fn attempt(&self) -> &Attempt {
        match self {
            Applied::Changed(a) | Applied::Same(a) | Applied::Conflict(a) => a,
        }
    }
}

const ATTEMPT_COLS: &str = "a.id, a.sale_id, a.phone, a.amount, a.state, a.checkout_request_id, a.result_code, \
     a.result_desc, a.receipt, a.flag, c.name, a.created_at, a.updated_at, a.follow";

fn attempt_row(r: &Row<'_>) -> rusqlite::Result<Attempt> {
    let conv = |e: crate::Error| super::bad_column(e);
    let state_name: String = r.get(4)?;
    let checkout: Option<String> = r.get(5)?;
    let code: Option<String> = r.get(6)?;
    let receipt: Option<String> = r.get(8)?;
    let state = match state_name.as_str() {
        "created" => AttemptState::Created,
        "pending" => AttemptState::Pending {
            checkout_id: checkout.clone().unwrap_or_default(),
        },
        "paid" => AttemptState::Paid { receipt },
        "failed" => AttemptState::Failed {
            code: code.clone().unwrap_or_default(),
        },
        _ => AttemptState::Unknown,
    };
    Ok(Attempt {
        id: r.get(0)?,
        sale_id: r.get(1)?,
        phone: Msisdn::parse(&r.get::<_, String>(2)?).map_err(conv)?,
        amount: r.get(3)?,
        state,
        checkout_request_id: checkout,
        unknown_code: code.filter(|_| state_name == "unknown"),
        result_desc: r.get(7)?,
        flag: r.get(9)?,
        followed: r.get::<_, i64>(13)? == 1,
        cashier: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn load(conn: &rusqlite::Connection, id: &str) -> Result<Attempt> {
    conn.query_row(
        &format!("SELECT {ATTEMPT_COLS} FROM payment_attempts a JOIN cashiers c ON c.id = a.cashier_id WHERE a.id = ?1"),
        [id],
        attempt_row,
    )
    .optional()?
    .ok_or_else(|| Error::not_found("payment attempt", id))
}

#[allow(clippy::too_many_arguments)]
fn append_event(
    tx: &Transaction<'_>,
    attempt_id: &str,
    at: Millis,
    source: &str,
    event: &str,
    outcome: &str,
    from: &str,
    to: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO payment_events (attempt_id, at, source, event, outcome, from_state, to_state, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![attempt_id, at, source, event, outcome, from, to, detail.to_string()])?;
    Ok(())
}

impl Store {
    /// Commits a new attempt in state `created` **before** anything is sent (write-ahead).
    /// Refuses a second non-final attempt for the same sale.
    pub fn create_attempt(
        &mut self,
        sale_id: i64,
        phone: &Msisdn,
        amount: i64,
        cashier: &str,
    ) -> Result<Attempt> {
        if !(1..=MAX_PUSH).contains(&amount) {
            return Err(Error::invalid(
                "amount",
                format!("whole shillings from 1 to {MAX_PUSH} per M-Pesa request"),
                amount.to_string(),
            ));
        }
        let cashier_id = self.cashier(cashier)?.id;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = now_ms();
        let tx = self.write()?;
        if let Some(other) = active_attempt(&tx, sale_id)? {
            return Err(Error::Conflict(format!(
                "sale {sale_id} already has an M-Pesa request in flight (attempt {other}); wait for it to finish"
            )));
        }
        let due = payable(&tx, sale_id)?;
        // Whole shillings: the customer may round a due with cents up to the next shilling.
        let max = due.shillings_up();
        if amount > max {
            return Err(Error::invalid(
                "amount",
                format!("at most {max} (what is due)"),
                amount.to_string(),
            ));
        }
        tx.execute(
            "INSERT INTO payment_attempts (id, sale_id, phone, amount, state, cashier_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'created', ?5, ?6, ?6)",
            params![id, sale_id, phone.as_str(), amount, cashier_id, now],
        )?;
        append_event(
            &tx,
            &id,
            now,
            "engine",
            "created",
            "changed",
            "",
            "created",
            &serde_json::json!({"amount": amount, "phone": phone.masked()}),
        )?;
        refresh_status(&tx, sale_id)?;
        tx.commit()?;
        load(&self.conn, &id)
    }

    pub fn attempt(&self, id: &str) -> Result<Attempt> {
        load(&self.conn, id)
    }

    pub fn attempt_by_checkout(&self, checkout_id: &str) -> Result<Attempt> {
        let id: String = self
            .conn
            .query_row(
                "SELECT id FROM payment_attempts WHERE checkout_request_id = ?1",
                [checkout_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| {
                // Errors reach logs and screens: the phone digits inside it are hidden.
                Error::not_found(
                    "payment attempt with CheckoutRequestID",
                    crate::phone::mask_checkout(checkout_id),
                )
            })?;
        load(&self.conn, &id)
    }

    /// Attempts, newest first; `open_only` keeps `created`, `pending` and `unknown`.
    pub fn attempts(&self, open_only: bool, limit: usize) -> Result<Vec<Attempt>> {
        let filter = if open_only {
            format!("WHERE a.state IN {OPEN_STATES_SQL}")
        } else {
            String::new()
        };
        let mut st = self.conn.prepare(&format!(
            "SELECT {ATTEMPT_COLS} FROM payment_attempts a JOIN cashiers c ON c.id = a.cashier_id {filter}
             ORDER BY a.created_at DESC, a.id LIMIT ?1"
        ))?;
        let rows = st.query_map([limit as i64], attempt_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a CheckoutRequestID learned for an attempt that had none (its push answer was
    /// lost), without changing its state, with an event row saying where it came from.
    pub fn learn_checkout(&mut self, attempt_id: &str, checkout_id: &str) -> Result<Attempt> {
        let now = now_ms();
        let tx = self.write()?;
        let a = load(&tx, attempt_id)?;
        if a.checkout_request_id.is_none() {
            tx.execute(
                "UPDATE payment_attempts SET checkout_request_id = ?2, updated_at = ?3 WHERE id = ?1",
                params![attempt_id, checkout_id, now],
            )?;
            append_event(
                &tx,
                attempt_id,
                now,
                "callback",
                "learned_checkout",
                "changed",
                a.state.name(),
                a.state.name(),
                &serde_json::json!({"checkout": crate::phone::mask_checkout(checkout_id)}),
            )?;
        }
        tx.commit()?;
        load(&self.conn, attempt_id)
    }

    /// Attempts the cashier gave up on that M-Pesa has not answered finally yet, oldest first.
    pub fn followed_attempts(&self) -> Result<Vec<Attempt>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {ATTEMPT_COLS} FROM payment_attempts a JOIN cashiers c ON c.id = a.cashier_id
             WHERE a.follow = 1 ORDER BY a.created_at, a.id"
        ))?;
        let rows = st.query_map([], attempt_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn attempt_events(&self, attempt_id: &str) -> Result<Vec<PaymentEventRow>> {
        let mut st = self.conn.prepare(
            "SELECT id, at, source, event, outcome, from_state, to_state, detail
             FROM payment_events WHERE attempt_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([attempt_id], |r| {
            Ok(PaymentEventRow {
                id: r.get(0)?,
                at: r.get(1)?,
                source: r.get(2)?,
                event: r.get(3)?,
                outcome: r.get(4)?,
                from_state: r.get(5)?,
                to_state: r.get(6)?,
                detail: serde_json::from_str(&r.get::<_, String>(7)?)
                    .unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a fact that cannot be applied (a callback whose amount or phone does not match
    /// the attempt, …) and flags the attempt for the manager. The state does not change.
    pub fn flag_attempt(
        &mut self,
        attempt_id: &str,
        reason: &str,
        source: &str,
        detail: serde_json::Value,
    ) -> Result<Attempt> {
        let now = now_ms();
        let tx = self.write()?;
        let a = load(&tx, attempt_id)?;
        let mut detail = detail;
        detail["conflict"] = reason.into();
        append_event(
            &tx,
            attempt_id,
            now,
            source,
            "flag",
            "conflict",
            a.state.name(),
            a.state.name(),
            &detail,
        )?;
        set_flag(&tx, attempt_id, a.flag.as_deref(), reason, now)?;
        tx.commit()?;
        load(&self.conn, attempt_id)
    }

    /// Applies one fact to an attempt: the transition, its event row and its effect on the sale
    /// commit together. The same fact twice changes nothing; a contradicting fact is recorded
    /// and flags the attempt.
    pub fn apply_event(
        &mut self,
        attempt_id: &str,
        event: &PaymentEvent,
        source: &str,
        desc: Option<&str>,
    ) -> Result<Applied> {
        self.apply_event_learning(attempt_id, event, source, desc, None)
    }

    /// `apply_event`, also recording a CheckoutRequestID learned with the fact (a callback for
    /// an attempt whose push answer was lost) in the same transaction.
    pub fn apply_event_learning(
        &mut self,
        attempt_id: &str,
        event: &PaymentEvent,
        source: &str,
        desc: Option<&str>,
        checkout_id: Option<&str>,
    ) -> Result<Applied> {
        let now = now_ms();
        let tx = self.write()?;
        if let Some(c) = checkout_id {
            tx.execute(
                "UPDATE payment_attempts SET checkout_request_id = ?2 WHERE id = ?1 AND checkout_request_id IS NULL",
                params![attempt_id, c],
            )?;
        }
        let before = load(&tx, attempt_id)?;
        let step = transition(&before.state, event)?;
        let mut detail = serde_json::to_value(event).unwrap_or_default();
        if let Some(d) = desc {
            detail["desc"] = d.into();
        }
        let follow = crate::payment::still_followed(&before.state, event);
        if follow != before.followed {
            tx.execute(
                "UPDATE payment_attempts SET follow = ?2 WHERE id = ?1",
                params![attempt_id, follow as i64],
            )?;
        }
        let outcome = match step {
            Step::Same => {
                tx.commit()?;
                return Ok(Applied::Same(load(&self.conn, attempt_id)?));
            }
            Step::Conflict(reason) => {
                detail["conflict"] = reason.clone().into();
                append_event(
                    &tx,
                    attempt_id,
                    now,
                    source,
                    event.name(),
                    "conflict",
                    before.state.name(),
                    before.state.name(),
                    &detail,
                )?;
                set_flag(&tx, attempt_id, before.flag.as_deref(), &reason, now)?;
                "conflict"
            }
            Step::To(next) => {
                append_event(
                    &tx,
                    attempt_id,
                    now,
                    source,
                    event.name(),
                    "changed",
                    before.state.name(),
                    next.name(),
                    &detail,
                )?;
                let (checkout, code, receipt) = match (&next, event) {
                    (AttemptState::Pending { checkout_id }, _) => {
                        (Some(checkout_id.clone()), None, None)
                    }
                    (AttemptState::Failed { code }, _) => (None, Some(code.clone()), None),
                    (AttemptState::Paid { receipt }, PaymentEvent::Result { code, .. }) => {
                        (None, Some(code.clone()), receipt.clone())
                    }
                    (_, PaymentEvent::Result { code, .. }) => (None, Some(code.clone()), None),
                    _ => (None, None, None),
                };
                tx.execute(
                    "UPDATE payment_attempts SET state = ?2,
                        checkout_request_id = coalesce(?3, checkout_request_id),
                        result_code = coalesce(?4, result_code),
                        result_desc = coalesce(?5, result_desc),
                        receipt = coalesce(?6, receipt),
                        updated_at = ?7,
                        finalized_at = CASE WHEN ?2 IN ('paid', 'failed') THEN coalesce(finalized_at, ?7) END
                     WHERE id = ?1",
                    params![attempt_id, next.name(), checkout, code, desc, receipt, now],
                )?;
                if let AttemptState::Paid { receipt } = &next
                    && let Some(reason) =
                        record_mpesa_tender(&tx, &before, receipt.as_deref(), now)?
                {
                    set_flag(&tx, attempt_id, before.flag.as_deref(), &reason, now)?;
                }
                refresh_status(&tx, before.sale_id)?;
                "changed"
            }
        };
        tx.commit()?;
        let after = load(&self.conn, attempt_id)?;
        Ok(match outcome {
            "conflict" => Applied::Conflict(after),
            _ => Applied::Changed(after),
        })
    }
}

fn set_flag(
    tx: &Transaction<'_>,
    attempt_id: &str,
    old: Option<&str>,
    reason: &str,
    now: Millis,
) -> Result<()> {
    let flag = match old {
        Some(f) if f.contains(reason) => f.to_string(),
        Some(f) => format!("{f}; {reason}"),
        None => reason.to_string(),
    };
    tx.execute(
        "UPDATE payment_attempts SET flag = ?2, updated_at = ?3 WHERE id = ?1",
        params![attempt_id, flag, now],
    )?;
    Ok(())
}

fn active_attempt(tx: &Transaction<'_>, sale_id: i64) -> Result<Option<String>> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT id FROM payment_attempts WHERE sale_id = ?1 AND state IN {OPEN_STATES_SQL}"
            ),
            [sale_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// The money of a paid attempt becomes an `mpesa_stk` tender (once), or verifies the same
/// receipt typed earlier by the cashier for this sale. Returns a reason to flag the attempt.
fn record_mpesa_tender(
    tx: &Transaction<'_>,
    a: &Attempt,
    receipt: Option<&str>,
    now: Millis,
) -> Result<Option<String>> {
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<TenderRef> {
        Ok(TenderRef {
            id: r.get(0)?,
            sale_id: r.get(1)?,
            kind: r.get(2)?,
            attempt_id: r.get(3)?,
            cents: r.get(4)?,
        })
    };
    const COLS: &str = "SELECT id, sale_id, kind, attempt_id, amount_cents FROM tenders";
    // This attempt's own tender first; then whoever holds the receipt.
    let own = tx
        .query_row(&format!("{COLS} WHERE attempt_id = ?1"), [&a.id], row)
        .optional()?;
    let holder = match receipt {
        Some(r) => tx
            .query_row(&format!("{COLS} WHERE receipt = ?1"), [r], row)
            .optional()?,
        None => None,
    };
    let cents = Money::from_shillings(a.amount)?.cents();
    Ok(
        match paid_attempt_tender(a.sale_id, cents, receipt, own.as_ref(), holder.as_ref()) {
            TenderStep::Nothing => None,
            TenderStep::FillReceipt { tender_id } => {
                tx.execute(
                    "UPDATE tenders SET receipt = coalesce(receipt, ?2), verified = (coalesce(receipt, ?2) IS NOT NULL) WHERE id = ?1",
                    params![tender_id, receipt],
                )?;
                None
            }
            TenderStep::VerifyTyped { tender_id } => {
                tx.execute(
                    "UPDATE tenders SET verified = 1, attempt_id = ?2 WHERE id = ?1",
                    params![tender_id, a.id],
                )?;
                None
            }
            TenderStep::Insert { with_receipt, flag } => {
                insert_stk_tender(tx, a, receipt.filter(|_| with_receipt), now)?;
                flag
            }
            TenderStep::Flag(reason) => Some(reason),
        },
    )
}

fn insert_stk_tender(
    tx: &Transaction<'_>,
    a: &Attempt,
    receipt: Option<&str>,
    now: Millis,
) -> Result<()> {
    let amount = Money::from_shillings(a.amount)?;
    let cashier_id: i64 = tx.query_row(
        "SELECT cashier_id FROM payment_attempts WHERE id = ?1",
        [&a.id],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO tenders (sale_id, kind, amount_cents, attempt_id, receipt, verified, cashier_id, created_at, shift_id)
         VALUES (?1, 'mpesa_stk', ?2, ?3, ?4, ?5, ?6, ?7, (SELECT id FROM shifts WHERE closed_at IS NULL))",
        params![a.sale_id, amount.cents(), a.id, receipt, receipt.is_some(), cashier_id, now],
    )?;
    Ok(())
}
