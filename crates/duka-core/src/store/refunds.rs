//! Refunds: a record of their own beside the sale (which keeps its history). A refund never
//! gives back more of a line than was sold, nor more than the sale took; a reversal is on disk
//! (`requested`) before it is sent, and its facts are applied through `refund::reversal_step`.

use rusqlite::{OptionalExtension, Transaction, params};

use super::Store;
use super::shifts::{check_reason, open_shift};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::payment::OPEN_STATES_SQL;
use crate::refund::{
    RefundState, RefundTo, ReversalEvent, ReversalStep, SoldLine, line_refund, mpesa_refund_amount,
    reversal_step,
};
use crate::sale::SaleStatus;
use crate::time::{Millis, now_ms};

/// A line to refund: how many, and whether the goods come back to stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, ts_rs::TS)]
pub struct RefundLineInput {
    pub line_no: i64,
    pub quantity: i64,
    #[serde(default)]
    pub restock: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct RefundLine {
    pub line_no: i64,
    pub description: String,
    pub quantity: i64,
    pub amount: Money,
    pub restock: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Refund {
    pub id: i64,
    pub sale_id: i64,
    pub shift_id: Option<i64>,
    /// `cash`, `mpesa` (Transaction Reversal) or `manual` (sent from the shop's phone).
    pub kind: String,
    pub amount: Money,
    pub reason: String,
    pub cashier: String,
    pub state: RefundState,
    /// The payment reversed (M-Pesa).
    pub original_receipt: Option<String>,
    pub conversation_id: Option<String>,
    pub result_code: Option<String>,
    pub result_desc: Option<String>,
    /// The reversal's own receipt, or the code of a manual transfer.
    pub receipt: Option<String>,
    /// A manual transfer's code that M-Pesa confirmed (never, so far: unverified).
    pub verified: bool,
    pub flag: Option<String>,
    pub lines: Vec<RefundLine>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const REFUND_COLS: &str = "r.id, r.sale_id, r.shift_id, r.kind, r.amount_cents, r.reason, c.name, \
    r.state, r.original_receipt, r.conversation_id, r.result_code, r.result_desc, r.receipt, \
    r.verified, r.flag, r.created_at, r.updated_at";

fn load(conn: &rusqlite::Connection, id: i64) -> Result<Refund> {
    let mut r = conn
        .query_row(
            &format!(
                "SELECT {REFUND_COLS} FROM refunds r JOIN cashiers c ON c.id = r.cashier_id WHERE r.id = ?1"
            ),
            [id],
            |r| {
                let state: String = r.get(7)?;
                Ok(Refund {
                    id: r.get(0)?,
                    sale_id: r.get(1)?,
                    shift_id: r.get(2)?,
                    kind: r.get(3)?,
                    amount: Money::from_cents(r.get(4)?).map_err(super::bad_column)?,
                    reason: r.get(5)?,
                    cashier: r.get(6)?,
                    state: RefundState::parse(&state).unwrap_or(RefundState::Unknown),
                    original_receipt: r.get(8)?,
                    conversation_id: r.get(9)?,
                    result_code: r.get(10)?,
                    result_desc: r.get(11)?,
                    receipt: r.get(12)?,
                    verified: r.get::<_, i64>(13)? == 1,
                    flag: r.get(14)?,
                    lines: Vec::new(),
                    created_at: r.get(15)?,
                    updated_at: r.get(16)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| Error::not_found("refund", id))?;
    let mut st = conn.prepare_cached(
        "SELECT rl.line_no, l.description, rl.quantity, rl.amount_cents, rl.restock
         FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id
         JOIN sale_lines l ON l.sale_id = r.sale_id AND l.line_no = rl.line_no
         WHERE rl.refund_id = ?1 ORDER BY rl.line_no",
    )?;
    r.lines = st
        .query_map([id], |row| {
            Ok(RefundLine {
                line_no: row.get(0)?,
                description: row.get(1)?,
                quantity: row.get(2)?,
                amount: Money::from_cents(row.get(3)?).map_err(super::bad_column)?,
                restock: row.get::<_, i64>(4)? == 1,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(r)
}

/// The sold lines of a sale with what refunds that count have taken of each.
fn sold_lines(tx: &Transaction<'_>, sale_id: i64) -> Result<Vec<SoldLine>> {
    let mut st = tx.prepare(
        "SELECT l.line_no, l.quantity, l.total_cents,
                coalesce(sum(rl.quantity), 0), coalesce(sum(rl.amount_cents), 0)
         FROM sale_lines l
         LEFT JOIN refund_lines rl ON rl.line_no = l.line_no
              AND rl.refund_id IN (SELECT id FROM refunds WHERE sale_id = ?1 AND state != 'failed')
         WHERE l.sale_id = ?1 GROUP BY l.line_no ORDER BY l.line_no",
    )?;
    let rows = st.query_map([sale_id], |r| {
        let m = |c: i64| Money::from_cents(c).map_err(super::bad_column);
        Ok(SoldLine {
            line_no: r.get(0)?,
            quantity: r.get(1)?,
            total: m(r.get(2)?)?,
            refunded_qty: r.get(3)?,
            refunded: m(r.get(4)?)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The sale's M-Pesa payment that a reversal gives back: a receipt M-Pesa confirmed (an STK
/// payment, a verified code or an incoming payment), the largest first.
fn mpesa_receipt(tx: &Transaction<'_>, sale_id: i64) -> Result<Option<(String, Money)>> {
    tx.query_row(
        "SELECT receipt, amount_cents FROM tenders
         WHERE sale_id = ?1 AND kind IN ('mpesa_stk', 'mpesa_code') AND verified = 1
           AND receipt IS NOT NULL
         ORDER BY amount_cents DESC, id LIMIT 1",
        [sale_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .map(|(r, c): (String, i64)| Money::from_cents(c).map(|m| (r, m)))
    .transpose()
}

/// An M-Pesa payment this till took: its receipt, amount (whole shillings) and phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpesaPayment {
    pub receipt: String,
    pub shillings: i64,
    pub phone: String,
    pub at: Millis,
}

impl Store {
    /// Every STK payment with its receipt, oldest first (demo mode tells its simulator).
    pub fn mpesa_payments(&self) -> Result<Vec<MpesaPayment>> {
        let mut st = self.conn.prepare(
            "SELECT t.receipt, a.amount, a.phone, t.created_at FROM tenders t
             JOIN payment_attempts a ON a.id = t.attempt_id
             WHERE t.kind = 'mpesa_stk' AND t.receipt IS NOT NULL ORDER BY t.id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(MpesaPayment {
                receipt: r.get(0)?,
                shillings: r.get(1)?,
                phone: r.get(2)?,
                at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a refund of `lines` (all that is left of the sale when `None`), with a reason,
    /// to cash, to M-Pesa (a reversal, `requested`: the engine sends it) or paid back by hand.
    /// Everything is checked first; nothing is written unless it all holds.
    pub fn create_refund(
        &mut self,
        sale_id: i64,
        lines: Option<&[RefundLineInput]>,
        reason: &str,
        to: &RefundTo,
        manager: &str,
    ) -> Result<Refund> {
        let reason = check_reason(reason)?;
        let manual = match to {
            RefundTo::Manual { code } => Some(crate::sale::parse_receipt(code)?),
            _ => None,
        };
        let cashier_id = self.cashier(manager)?.id;
        let tx = self.write()?;
        match super::sales::sale_status(&tx, sale_id)? {
            SaleStatus::Paid => {}
            SaleStatus::Voided => {
                return Err(Error::Conflict(format!(
                    "sale {sale_id} is voided: it took no money"
                )));
            }
            // Its lines may still change: a refund would point at lines edited later.
            SaleStatus::Open | SaleStatus::AwaitingPayment => {
                return Err(Error::Conflict(format!(
                    "sale {sale_id} is not paid in full: only a paid sale is refunded (take what is due, or correct its lines down to what it took)"
                )));
            }
        }
        let shift = open_shift(&tx)?;
        if matches!(to, RefundTo::Cash) && shift.is_none() {
            return Err(Error::Conflict(
                "no shift is open: open one with its float before cash goes out of the drawer (or refund to M-Pesa or by hand)".into(),
            ));
        }
        let open: i64 = tx.query_row(
            &format!(
                "SELECT count(*) FROM payment_attempts WHERE sale_id = ?1 AND state IN {OPEN_STATES_SQL}"
            ),
            [sale_id],
            |r| r.get(0),
        )?;
        if open > 0 {
            return Err(Error::Conflict(format!(
                "sale {sale_id} has an M-Pesa request open: wait for it before refunding"
            )));
        }
        // Only money the shop really took is given back: cash (net of change), STK payments
        // and codes M-Pesa confirmed; a typed code not verified yet may be made up.
        let (total, paid, unverified, codes, refunded): (i64, i64, i64, Option<String>, i64) =
            tx.query_row(
                "SELECT total_cents,
                    (SELECT coalesce(sum(amount_cents), 0) FROM tenders
                     WHERE sale_id = ?1 AND (kind != 'mpesa_code' OR verified = 1)),
                    (SELECT coalesce(sum(amount_cents), 0) FROM tenders
                     WHERE sale_id = ?1 AND kind = 'mpesa_code' AND verified = 0),
                    (SELECT group_concat(receipt, ', ') FROM tenders
                     WHERE sale_id = ?1 AND kind = 'mpesa_code' AND verified = 0),
                    (SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE sale_id = ?1 AND state != 'failed')
             FROM sales WHERE id = ?1",
                [sale_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
        let refundable = Money::from_cents((paid - refunded).max(0))?;
        // What the sale took, confirmed or not, less what went back.
        let taken_left = Money::from_cents((paid + unverified - refunded).max(0))?;
        let unconfirmed = |wanted: Money| {
            Error::Conflict(format!(
                "sale {sale_id}: a refund of {wanted} is more than the {refundable} M-Pesa or the drawer confirmed; {} came by M-Pesa code ({}) not confirmed yet: verify the code first",
                Money::from_cents(unverified).unwrap_or(Money::ZERO),
                codes.as_deref().unwrap_or("")
            ))
        };
        if taken_left == Money::ZERO {
            return Err(Error::Conflict(format!(
                "sale {sale_id} has nothing left to refund (it took {}, refunded {})",
                Money::from_cents(paid + unverified)?,
                Money::from_cents(refunded)?
            )));
        }
        if refundable == Money::ZERO {
            return Err(unconfirmed(taken_left));
        }
        let sold = sold_lines(&tx, sale_id)?;
        let subtotal = sold
            .iter()
            .try_fold(Money::ZERO, |a, l| a.checked_add(l.total));
        let subtotal = subtotal.ok_or_else(|| Error::Config("sale total overflow".into()))?;
        let total = Money::from_cents(total)?;
        let wanted: Vec<RefundLineInput> = match lines {
            Some([]) => {
                return Err(Error::invalid(
                    "lines",
                    "at least one line to refund",
                    "none",
                ));
            }
            Some(l) => l.to_vec(),
            None => sold
                .iter()
                .filter(|l| l.quantity > l.refunded_qty)
                .map(|l| RefundLineInput {
                    line_no: l.line_no,
                    quantity: l.quantity - l.refunded_qty,
                    restock: false,
                })
                .collect(),
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut amounts = Vec::new();
        let mut sum = Money::ZERO;
        for w in &wanted {
            if !seen.insert(w.line_no) {
                return Err(Error::invalid(
                    "lines",
                    "each line once",
                    format!("line {} twice", w.line_no),
                ));
            }
            let line = sold
                .iter()
                .find(|l| l.line_no == w.line_no)
                .ok_or_else(|| Error::not_found("sale line", format!("{sale_id}/{}", w.line_no)))?;
            let a = line_refund(line, w.quantity, total, subtotal)?;
            sum = sum.checked_add(a).unwrap_or(sum);
            amounts.push(a);
        }
        // A whole refund gives back what the sale took (M-Pesa's rounding included).
        let mut amount = if lines.is_none() {
            taken_left
        } else {
            sum.min(taken_left)
        };
        if amount > refundable {
            return Err(unconfirmed(amount));
        }
        let (state, original) = match to {
            RefundTo::Mpesa => {
                let Some((receipt, brought)) = mpesa_receipt(&tx, sale_id)? else {
                    return Err(Error::Conflict(format!(
                        "sale {sale_id} has no M-Pesa payment that M-Pesa confirmed: refund it to cash, or by hand with the code of the transfer"
                    )));
                };
                let taken: i64 = tx.query_row(
                    "SELECT count(*) FROM refunds WHERE original_receipt = ?1 AND kind = 'mpesa' AND state != 'failed'",
                    [&receipt],
                    |r| r.get(0),
                )?;
                if taken > 0 {
                    return Err(Error::Conflict(format!(
                        "M-Pesa payment {receipt} has been reversed already (M-Pesa reverses a payment once): refund the rest to cash or by hand"
                    )));
                }
                amount = mpesa_refund_amount(amount, brought);
                (RefundState::Requested, Some(receipt))
            }
            _ => (RefundState::Done, None),
        };
        if matches!(to, RefundTo::Cash)
            && let Some(s) = shift
        {
            let holds = super::shifts::expected_cash_in(&tx, s)?;
            if amount > holds {
                return Err(Error::Conflict(format!(
                    "the drawer should hold {holds}: a cash refund of {amount} is more than that"
                )));
            }
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO refunds (sale_id, shift_id, kind, amount_cents, reason, cashier_id, state,
                                  original_receipt, receipt, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            params![
                sale_id,
                shift,
                to.kind(),
                amount.cents(),
                reason,
                cashier_id,
                state.as_str(),
                original,
                manual,
                now
            ],
        )?;
        let id = tx.last_insert_rowid();
        for (w, a) in wanted.iter().zip(&amounts) {
            tx.execute(
                "INSERT INTO refund_lines (refund_id, line_no, quantity, amount_cents, restock) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, w.line_no, w.quantity, a.cents(), w.restock],
            )?;
            if w.restock {
                super::stock::restock(&tx, sale_id, w.line_no, w.quantity, id, cashier_id, now)?;
            }
        }
        append_event(
            &tx,
            id,
            now,
            "till",
            "created",
            "-",
            state.as_str(),
            &reason,
        )?;
        tx.commit()?;
        load(&self.conn, id)
    }

    pub fn refund(&self, id: i64) -> Result<Refund> {
        load(&self.conn, id)
    }

    /// The refunds of a sale, oldest first.
    pub fn refunds_of(&self, sale_id: i64) -> Result<Vec<Refund>> {
        let ids: Vec<i64> = {
            let mut st = self
                .conn
                .prepare("SELECT id FROM refunds WHERE sale_id = ?1 ORDER BY id")?;
            st.query_map([sale_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        ids.into_iter().map(|id| load(&self.conn, id)).collect()
    }

    /// Reversals not final yet (requested, accepted, unknown), oldest first.
    pub fn open_reversals(&self) -> Result<Vec<Refund>> {
        let ids: Vec<i64> = {
            let mut st = self.conn.prepare(
                "SELECT id FROM refunds WHERE state IN ('requested', 'accepted', 'unknown') ORDER BY id",
            )?;
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        ids.into_iter().map(|id| load(&self.conn, id)).collect()
    }

    /// Applies a fact about a reversal (its acknowledgement, its Result), with an event row.
    pub fn apply_reversal(
        &mut self,
        refund_id: i64,
        event: &ReversalEvent,
        source: &str,
        desc: Option<&str>,
    ) -> Result<Refund> {
        let tx = self.write()?;
        let before = load(&tx, refund_id)?;
        if before.kind != "mpesa" {
            return Err(Error::Conflict(format!(
                "refund {refund_id} is not an M-Pesa reversal"
            )));
        }
        let now = now_ms();
        let detail = desc.unwrap_or("");
        match reversal_step(before.state, event)? {
            ReversalStep::Same => {
                // Daraja's acknowledgement can lose the race to its own Result (the Result
                // comes on the signed URL, the acknowledgement on the request's answer): the
                // state stays, but the ConversationID is still the request's, and a manager
                // quoting it to Safaricom needs it.
                if let ReversalEvent::Accepted { conversation_id } = event
                    && before.conversation_id.is_none()
                {
                    tx.execute(
                        "UPDATE refunds SET conversation_id = ?2, updated_at = ?3 WHERE id = ?1",
                        params![refund_id, conversation_id, now],
                    )?;
                }
            }
            ReversalStep::Conflict(why) => {
                let flag = match &before.flag {
                    Some(f) if f.contains(&why) => f.clone(),
                    Some(f) => format!("{f}; {why}"),
                    None => why.clone(),
                };
                tx.execute(
                    "UPDATE refunds SET flag = ?2, updated_at = ?3 WHERE id = ?1",
                    params![refund_id, flag, now],
                )?;
                append_event(
                    &tx,
                    refund_id,
                    now,
                    source,
                    "conflict",
                    before.state.as_str(),
                    before.state.as_str(),
                    &why,
                )?;
            }
            ReversalStep::To(next) => {
                let (conversation, code, receipt) = match event {
                    ReversalEvent::Accepted { conversation_id } => {
                        (Some(conversation_id.as_str()), None, None)
                    }
                    ReversalEvent::Refused { code } => (None, Some(code.as_str()), None),
                    ReversalEvent::Result { code, receipt } => {
                        (None, Some(code.as_str()), receipt.as_deref())
                    }
                    ReversalEvent::NoAnswer | ReversalEvent::QueueTimeout => (None, None, None),
                    ReversalEvent::ByHand { receipt } => (None, None, receipt.as_deref()),
                };
                tx.execute(
                    "UPDATE refunds SET state = ?2, conversation_id = coalesce(?3, conversation_id),
                        result_code = coalesce(?4, result_code), result_desc = coalesce(?5, result_desc),
                        receipt = coalesce(?6, receipt), updated_at = ?7 WHERE id = ?1",
                    params![refund_id, next.as_str(), conversation, code, desc, receipt, now],
                )?;
                append_event(
                    &tx,
                    refund_id,
                    now,
                    source,
                    event_name(event),
                    before.state.as_str(),
                    next.as_str(),
                    detail,
                )?;
                if next == RefundState::Failed {
                    // Nothing went back: goods said to be returned are not counted back in.
                    super::stock::undo_restock(&tx, refund_id, now)?;
                }
                if before.state == RefundState::Failed && next == RefundState::Reversed {
                    // M-Pesa reversed it after all: the money went back, the goods count in
                    // again, and the manager is told (the sale may have been refunded twice).
                    let why = "failed, then M-Pesa reversed it: the customer was paid back; \
                               check the sale for a second refund";
                    tx.execute(
                        "UPDATE refunds SET flag = coalesce(flag || '; ', '') || ?2 WHERE id = ?1",
                        params![refund_id, why],
                    )?;
                    let (sale_id, cashier_id): (i64, i64) = tx.query_row(
                        "SELECT sale_id, cashier_id FROM refunds WHERE id = ?1",
                        [refund_id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    let lines: Vec<(i64, i64)> = {
                        let mut st = tx.prepare(
                            "SELECT line_no, quantity FROM refund_lines WHERE refund_id = ?1 AND restock = 1",
                        )?;
                        st.query_map([refund_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<rusqlite::Result<_>>()?
                    };
                    for (line_no, qty) in lines {
                        super::stock::restock(
                            &tx, sale_id, line_no, qty, refund_id, cashier_id, now,
                        )?;
                    }
                }
            }
        }
        tx.commit()?;
        load(&self.conn, refund_id)
    }

    /// A manager settles a reversal M-Pesa left without a final answer, from the M-Pesa portal
    /// or statement: reversed (`Some`, the reversal's receipt) or not reversed (`None`: the
    /// sale can be refunded another way). Recorded with who did it.
    pub fn settle_reversal(
        &mut self,
        refund_id: i64,
        reversed: Option<&str>,
        manager: &str,
    ) -> Result<Refund> {
        let who = self.cashier(manager)?.name;
        let receipt = reversed.map(crate::sale::parse_receipt).transpose()?;
        let event = ReversalEvent::ByHand { receipt };
        let source = format!("manager {who}");
        let why = "settled by hand from the M-Pesa statement";
        self.apply_reversal(refund_id, &event, &source, Some(why))
    }

    /// A manager confirms a refund paid back by hand: its code is on the shop's M-Pesa
    /// statement. Once only; a code confirmed for another refund is refused.
    pub fn confirm_manual_refund(&mut self, refund_id: i64, manager: &str) -> Result<Refund> {
        let who = self.cashier(manager)?.name;
        let tx = self.write()?;
        let r = load(&tx, refund_id)?;
        if r.kind != "manual" {
            return Err(Error::Conflict(format!(
                "refund {refund_id} was not paid back by hand: nothing to confirm"
            )));
        }
        if r.verified {
            return Ok(r);
        }
        let taken: Option<i64> = tx
            .query_row(
                "SELECT id FROM refunds WHERE kind = 'manual' AND verified = 1 AND receipt = ?1 AND id != ?2",
                params![r.receipt, refund_id],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(other) = taken {
            return Err(Error::Conflict(format!(
                "{} already confirms refund {other}: one transfer pays back one refund",
                r.receipt.as_deref().unwrap_or_default()
            )));
        }
        let now = now_ms();
        tx.execute(
            "UPDATE refunds SET verified = 1, updated_at = ?2 WHERE id = ?1",
            params![refund_id, now],
        )?;
        let source = format!("manager {who}");
        append_event(
            &tx,
            refund_id,
            now,
            &source,
            "confirmed",
            "done",
            "done",
            "seen on the M-Pesa statement",
        )?;
        tx.commit()?;
        load(&self.conn, refund_id)
    }

    /// The refund whose reversal Daraja acknowledged with this ConversationID.
    pub fn refund_by_conversation(&self, conversation_id: &str) -> Result<Refund> {
        let id: i64 = self
            .conn
            .query_row(
                "SELECT id FROM refunds WHERE conversation_id = ?1",
                [conversation_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("refund", conversation_id))?;
        load(&self.conn, id)
    }
}

fn event_name(e: &ReversalEvent) -> &'static str {
    match e {
        ReversalEvent::Accepted { .. } => "accepted",
        ReversalEvent::Refused { .. } => "refused",
        ReversalEvent::NoAnswer => "no_answer",
        ReversalEvent::QueueTimeout => "queue_timeout",
        ReversalEvent::ByHand { .. } => "by_hand",
        ReversalEvent::Result { .. } => "result",
    }
}

#[allow(clippy::too_many_arguments)]
fn append_event(
    tx: &Transaction<'_>,
    refund_id: i64,
    at: Millis,
    source: &str,
    event: &str,
    from: &str,
    to: &str,
    detail: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO refund_events (refund_id, at, source, event, from_state, to_state, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![refund_id, at, source, event, from, to, detail],
    )?;
    Ok(())
}
