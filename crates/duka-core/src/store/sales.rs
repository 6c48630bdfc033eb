//! Sales, lines and tenders.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Claim, Store};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::payment::OPEN_STATES_SQL;
use crate::sale::{MAX_LINES, NewLine, Sale, SaleLine, SaleStatus, Tender, TenderKind, cash_split};
use crate::time::{Millis, now_ms};

/// A correction to an unpaid sale's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEdit {
    Add(NewLine),
    Remove { line_no: i64 },
    SetQuantity { line_no: i64, quantity: i64 },
}

/// One correction made to a sale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct SaleEdit {
    pub at: Millis,
    pub cashier: String,
    /// `add`, `remove` or `quantity`.
    pub action: String,
    pub line_no: i64,
    pub description: String,
    pub before_qty: Option<i64>,
    pub after_qty: Option<i64>,
    pub total_before: Money,
    pub total_after: Money,
}

fn too_big() -> Error {
    Error::invalid(
        "total",
        "a sale total of at most KES 10,000,000,000",
        "more",
    )
}

fn money(cents: i64) -> rusqlite::Result<Money> {
    Money::from_cents(cents).map_err(super::bad_column)
}

impl Store {
    /// Rings up a sale: the sale and all its lines are committed together, or nothing is.
    pub fn create_sale(&mut self, cashier: &str, lines: &[NewLine]) -> Result<Sale> {
        if lines.is_empty() || lines.len() > MAX_LINES {
            return Err(Error::invalid(
                "lines",
                format!("1 to {MAX_LINES} items"),
                lines.len().to_string(),
            ));
        }
        let mut total = Money::ZERO;
        for l in lines {
            crate::sale::check_qty(l.quantity)?;
            total = l
                .total()
                .and_then(|t| total.checked_add(t))
                .ok_or_else(|| {
                    Error::invalid(
                        "total",
                        "a sale total of at most KES 10,000,000,000",
                        "more",
                    )
                })?;
        }
        let cashier_id = self.cashier(cashier)?.id;
        let now = now_ms();
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO sales (status, cashier_id, total_cents, created_at, updated_at, shift_id) VALUES ('open', ?1, ?2, ?3, ?3, (SELECT id FROM shifts WHERE closed_at IS NULL))",
            params![cashier_id, total.cents(), now],
        )?;
        let sale_id = tx.last_insert_rowid();
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO sale_lines (sale_id, line_no, product_id, description, unit_price_cents, quantity, total_cents)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (i, l) in lines.iter().enumerate() {
                let line_total = l.total().expect("checked above");
                ins.execute(params![
                    sale_id,
                    i as i64 + 1,
                    l.product_id,
                    l.description,
                    l.unit_price.cents(),
                    l.quantity,
                    line_total.cents()
                ])?;
            }
        }
        if total == Money::ZERO {
            tx.execute(
                "UPDATE sales SET status = 'paid', paid_at = ?2 WHERE id = ?1",
                params![sale_id, now],
            )?;
        }
        tx.commit()?;
        self.sale(sale_id)
    }

    pub fn sale(&self, id: i64) -> Result<Sale> {
        load_sale(&self.conn, id)
    }

    /// Sales created in `[from, to)`, newest first, at most `limit`.
    pub fn sales_between(&self, from: Millis, to: Millis, limit: usize) -> Result<Vec<Sale>> {
        let ids: Vec<i64> = {
            let mut st = self.conn.prepare(
                "SELECT id FROM sales WHERE created_at >= ?1 AND created_at < ?2 ORDER BY created_at DESC, id DESC LIMIT ?3",
            )?;
            st.query_map(params![from, to, limit as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        ids.into_iter().map(|id| self.sale(id)).collect()
    }

    /// Cash handed over for a sale. Applies up to what is due; returns the sale and the change.
    pub fn pay_cash(
        &mut self,
        sale_id: i64,
        tendered: Money,
        cashier: &str,
    ) -> Result<(Sale, Money)> {
        if tendered == Money::ZERO {
            return Err(Error::invalid("cash", "an amount above zero", "0"));
        }
        let cashier_id = self.cashier(cashier)?.id;
        let tx = self.write()?;
        let due = payable(&tx, sale_id)?;
        let (applied, change) = cash_split(due, tendered);
        tx.execute(
            "INSERT INTO tenders (sale_id, kind, amount_cents, tendered_cents, change_cents, cashier_id, created_at, shift_id)
             VALUES (?1, 'cash', ?2, ?3, ?4, ?5, ?6, (SELECT id FROM shifts WHERE closed_at IS NULL))",
            params![sale_id, applied.cents(), tendered.cents(), change.cents(), cashier_id, now_ms()],
        )?;
        refresh_status(&tx, sale_id)?;
        tx.commit()?;
        Ok((self.sale(sale_id)?, change))
    }

    /// An M-Pesa code typed from the customer's SMS. Stored unverified until a callback,
    /// a Transaction Status result or a C2B confirmation matches it. `amount` defaults to what
    /// is due; it may not exceed it.
    ///
    /// `claim` says how the receipt is claimed in the shop (`Claim::Local` on a till without a
    /// relay); a receipt another till holds is refused.
    pub fn pay_mpesa_code(
        &mut self,
        sale_id: i64,
        code: &str,
        amount: Option<Money>,
        cashier: &str,
        claim: Claim,
    ) -> Result<Sale> {
        let receipt = crate::sale::parse_receipt(code)?;
        let cashier_id = self.cashier(cashier)?.id;
        let tx = self.write()?;
        super::claims::refuse_taken(&tx, &receipt)?;
        let due = payable(&tx, sale_id)?;
        let amount = amount.unwrap_or(due);
        if amount == Money::ZERO || amount > due {
            return Err(Error::invalid(
                "amount",
                format!("more than zero and at most the {due} due"),
                amount.to_string(),
            ));
        }
        let used: Option<i64> = tx
            .query_row(
                "SELECT sale_id FROM tenders WHERE receipt = ?1",
                [&receipt],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = used {
            return Err(Error::Conflict(format!(
                "M-Pesa code {receipt} was already used for sale {other}"
            )));
        }
        let paid_by: Option<i64> = tx
            .query_row(
                "SELECT sale_id FROM payment_attempts WHERE receipt = ?1 AND state = 'paid'",
                [&receipt],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = paid_by {
            return Err(Error::Conflict(format!(
                "M-Pesa code {receipt} is the receipt of an STK payment already counted for sale {other}"
            )));
        }
        if claim == Claim::Check {
            drop(tx);
            return self.sale(sale_id);
        }
        tx.execute(
            "INSERT INTO tenders (sale_id, kind, amount_cents, receipt, verified, cashier_id, created_at, claim, shift_id)
             VALUES (?1, 'mpesa_code', ?2, ?3, 0, ?4, ?5, ?6, (SELECT id FROM shifts WHERE closed_at IS NULL))",
            params![sale_id, amount.cents(), receipt, cashier_id, now_ms(), claim.column()],
        )?;
        refresh_status(&tx, sale_id)?;
        tx.commit()?;
        self.sale(sale_id)
    }

    /// Corrects an unpaid sale: adds a line, removes one, or changes its quantity. Refused
    /// while an M-Pesa request for the sale is open or still followed (the customer may be
    /// paying the old amount), on a paid or voided sale, for the last line (void the sale instead), and when
    /// the new total would be less than what the sale has already taken. The next charge asks
    /// for what is due after the change. Each change is kept in `sale_edits`. A discount given
    /// without a manager must still be within `limit_pct` (setting `discount_limit`) of what
    /// it applies to after the change, or the change is refused (`needs_approval`).
    pub fn edit_sale(
        &mut self,
        sale_id: i64,
        edit: &LineEdit,
        cashier: &str,
        limit_pct: i64,
    ) -> Result<Sale> {
        let cashier_id = self.cashier(cashier)?.id;
        let tx = self.write()?;
        match sale_status(&tx, sale_id)? {
            SaleStatus::Paid => {
                return Err(Error::Conflict(format!(
                    "sale {sale_id} is paid: it cannot change (a refund corrects it)"
                )));
            }
            SaleStatus::Voided => {
                return Err(Error::Conflict(format!("sale {sale_id} is voided")));
            }
            _ => {}
        }
        refuse_live_push(
            &tx,
            sale_id,
            "its lines cannot change until it is paid, failed or settled",
        )?;
        let line = |line_no: i64| -> Result<(String, i64, i64)> {
            tx.query_row(
                "SELECT description, quantity, unit_price_cents FROM sale_lines WHERE sale_id = ?1 AND line_no = ?2",
                params![sale_id, line_no],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("sale line", format!("{sale_id}/{line_no}")))
        };
        let (action, line_no, description, before, after) = match edit {
            LineEdit::Add(l) => {
                crate::sale::check_qty(l.quantity)?;
                let (count, next): (i64, i64) = tx.query_row(
                    // A removed line's number is never given again (the edits name it).
                    "SELECT count(*), max(coalesce(max(line_no), 0),
                            (SELECT coalesce(max(line_no), 0) FROM sale_edits WHERE sale_id = ?1)) + 1
                     FROM sale_lines WHERE sale_id = ?1",
                    [sale_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if count as usize >= MAX_LINES {
                    return Err(Error::invalid(
                        "lines",
                        format!("at most {MAX_LINES} items"),
                        (count + 1).to_string(),
                    ));
                }
                let total = l.total().ok_or_else(too_big)?;
                tx.execute(
                    "INSERT INTO sale_lines (sale_id, line_no, product_id, description, unit_price_cents, quantity, total_cents)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![sale_id, next, l.product_id, l.description, l.unit_price.cents(), l.quantity, total.cents()],
                )?;
                ("add", next, l.description.clone(), None, Some(l.quantity))
            }
            LineEdit::Remove { line_no } => {
                let (description, qty, _) = line(*line_no)?;
                let count: i64 = tx.query_row(
                    "SELECT count(*) FROM sale_lines WHERE sale_id = ?1",
                    [sale_id],
                    |r| r.get(0),
                )?;
                if count <= 1 {
                    return Err(Error::Conflict(format!(
                        "line {line_no} is the sale's last item: void the sale instead"
                    )));
                }
                tx.execute(
                    "DELETE FROM sale_lines WHERE sale_id = ?1 AND line_no = ?2",
                    params![sale_id, line_no],
                )?;
                ("remove", *line_no, description, Some(qty), None)
            }
            LineEdit::SetQuantity { line_no, quantity } => {
                crate::sale::check_qty(*quantity)?;
                let (description, qty, unit) = line(*line_no)?;
                let total = Money::from_cents(unit)?
                    .checked_mul(*quantity)
                    .ok_or_else(too_big)?;
                tx.execute(
                    "UPDATE sale_lines SET quantity = ?3, total_cents = ?4 WHERE sale_id = ?1 AND line_no = ?2",
                    params![sale_id, line_no, quantity, total.cents()],
                )?;
                (
                    "quantity",
                    *line_no,
                    description,
                    Some(qty),
                    Some(*quantity),
                )
            }
        };
        let (total_before, paid): (i64, i64) = tx.query_row(
            "SELECT total_cents,
                    (SELECT coalesce(sum(amount_cents), 0) FROM tenders WHERE sale_id = ?1)
             FROM sales WHERE id = ?1",
            [sale_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        // Line totals and discounts follow the change (a percentage follows the quantity).
        let total_after = super::discounts::recompute_totals(&tx, sale_id)?.cents();
        super::discounts::recheck_discounts(&tx, sale_id, limit_pct)?;
        if total_after < paid {
            return Err(Error::Conflict(format!(
                "sale {sale_id} has taken {} already, more than the {} it would come to: keep the items, or refund after payment",
                Money::from_cents(paid)?,
                Money::from_cents(total_after)?
            )));
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO sale_edits (sale_id, at, cashier_id, action, line_no, description, before_qty, after_qty, total_before_cents, total_after_cents)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![sale_id, now, cashier_id, action, line_no, description, before, after, total_before, total_after],
        )?;
        refresh_status(&tx, sale_id)?;
        tx.commit()?;
        self.sale(sale_id)
    }

    /// The corrections made to a sale, oldest first.
    pub fn sale_edits(&self, sale_id: i64) -> Result<Vec<SaleEdit>> {
        let mut st = self.conn.prepare(
            "SELECT e.at, c.name, e.action, e.line_no, e.description, e.before_qty, e.after_qty, e.total_before_cents, e.total_after_cents
             FROM sale_edits e JOIN cashiers c ON c.id = e.cashier_id WHERE e.sale_id = ?1 ORDER BY e.id",
        )?;
        let rows = st.query_map([sale_id], |r| {
            Ok(SaleEdit {
                at: r.get(0)?,
                cashier: r.get(1)?,
                action: r.get(2)?,
                line_no: r.get(3)?,
                description: r.get(4)?,
                before_qty: r.get(5)?,
                after_qty: r.get(6)?,
                total_before: money(r.get(7)?)?,
                total_after: money(r.get(8)?)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Voids a sale that has taken no money and has no payment in flight, with the reason and
    /// who voided it (kept with the shift open then).
    pub fn void_sale(&mut self, sale_id: i64, reason: &str, cashier: &str) -> Result<Sale> {
        let reason = super::shifts::check_reason(reason)?;
        let cashier_id = self.cashier(cashier)?.id;
        let tx = self.write()?;
        let status = sale_status(&tx, sale_id)?;
        if status == SaleStatus::Voided {
            drop(tx);
            return self.sale(sale_id);
        }
        let tenders: i64 = tx.query_row(
            "SELECT count(*) FROM tenders WHERE sale_id = ?1",
            [sale_id],
            |r| r.get(0),
        )?;
        if tenders > 0 {
            return Err(Error::Conflict(format!(
                "sale {sale_id} has taken payments; it cannot be voided (once it is paid, a refund gives the money back)"
            )));
        }
        refuse_live_push(&tx, sale_id, "it cannot be voided until M-Pesa answers")?;
        let now = now_ms();
        tx.execute(
            "UPDATE sales SET status = 'voided', voided_at = ?2, updated_at = ?2, void_reason = ?3,
                parked_at = NULL, voided_by = ?4,
                voided_shift_id = (SELECT id FROM shifts WHERE closed_at IS NULL) WHERE id = ?1",
            params![sale_id, now, reason, cashier_id],
        )?;
        tx.commit()?;
        self.sale(sale_id)
    }
}

impl Store {
    /// Holds an unpaid sale aside (the next customer is served meanwhile); `recall_sale`
    /// brings it back. A sale with an M-Pesa request open cannot be parked: the customer is
    /// paying it now.
    pub fn park_sale(&mut self, sale_id: i64) -> Result<Sale> {
        let tx = self.write()?;
        match sale_status(&tx, sale_id)? {
            SaleStatus::Paid | SaleStatus::Voided => {
                return Err(Error::Conflict(format!(
                    "sale {sale_id} is finished: only an unpaid sale is parked"
                )));
            }
            _ => {}
        }
        let open: i64 = tx.query_row(
            &format!("SELECT count(*) FROM payment_attempts WHERE sale_id = ?1 AND state IN {OPEN_STATES_SQL}"),
            [sale_id],
            |r| r.get(0),
        )?;
        if open > 0 {
            return Err(Error::Conflict(format!(
                "sale {sale_id} has an M-Pesa request open: wait for it before parking the sale"
            )));
        }
        tx.execute(
            "UPDATE sales SET parked_at = coalesce(parked_at, ?2), updated_at = ?2 WHERE id = ?1",
            params![sale_id, now_ms()],
        )?;
        tx.commit()?;
        self.sale(sale_id)
    }

    pub fn recall_sale(&mut self, sale_id: i64) -> Result<Sale> {
        let tx = self.write()?;
        let n = tx.execute(
            "UPDATE sales SET parked_at = NULL, updated_at = ?2 WHERE id = ?1 AND parked_at IS NOT NULL",
            params![sale_id, now_ms()],
        )?;
        if n == 0 {
            sale_status(&tx, sale_id)?;
            return Err(Error::Conflict(format!("sale {sale_id} is not parked")));
        }
        tx.commit()?;
        self.sale(sale_id)
    }

    /// Parked sales, oldest first.
    pub fn parked_sales(&self) -> Result<Vec<Sale>> {
        let ids: Vec<i64> = {
            let mut st = self.conn.prepare(
                "SELECT id FROM sales WHERE parked_at IS NOT NULL ORDER BY parked_at, id",
            )?;
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        ids.into_iter().map(|id| self.sale(id)).collect()
    }
}

pub(super) fn sale_status(tx: &Transaction<'_>, sale_id: i64) -> Result<SaleStatus> {
    let s: String = tx
        .query_row("SELECT status FROM sales WHERE id = ?1", [sale_id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| Error::not_found("sale", sale_id))?;
    Ok(SaleStatus::parse(&s).expect("CHECK constraint"))
}

/// Refuses a change to a sale (`then` says which) while a push for it may still be paid: an
/// attempt open (`created`, `pending`, `unknown`), or one the cashier gave up on
/// (`failed(NOT_REACHED)`) that is still followed because its prompt may still be on the
/// customer's phone. The one place edits, discounts and voids ask this.
pub(super) fn refuse_live_push(tx: &Transaction<'_>, sale_id: i64, then: &str) -> Result<()> {
    let (open, followed): (i64, i64) = tx.query_row(
        &format!(
            "SELECT coalesce(sum(state IN {OPEN_STATES_SQL}), 0),
                    coalesce(sum(follow = 1 AND state NOT IN {OPEN_STATES_SQL}), 0)
             FROM payment_attempts WHERE sale_id = ?1"
        ),
        [sale_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if open > 0 {
        return Err(Error::Conflict(format!(
            "sale {sale_id} has an M-Pesa request open: {then}"
        )));
    }
    if followed > 0 {
        return Err(Error::Conflict(format!(
            "sale {sale_id} has an M-Pesa request given up on that M-Pesa has not answered yet (its prompt may still be on the customer's phone): {then}"
        )));
    }
    Ok(())
}

/// What is still due on a sale that can take money, or why it cannot.
pub(super) fn payable(tx: &Transaction<'_>, sale_id: i64) -> Result<Money> {
    match sale_status(tx, sale_id)? {
        SaleStatus::Paid => Err(Error::Conflict(format!("sale {sale_id} is already paid"))),
        SaleStatus::Voided => Err(Error::Conflict(format!("sale {sale_id} is voided"))),
        _ => {
            let due = due(tx, sale_id)?;
            let in_flight: i64 = tx.query_row(
                &format!(
                    "SELECT coalesce(sum(amount), 0) * 100 FROM payment_attempts
                 WHERE sale_id = ?1 AND state IN {OPEN_STATES_SQL}"
                ),
                [sale_id],
                |r| r.get(0),
            )?;
            let left = due.saturating_sub(Money::from_cents(in_flight)?);
            if left == Money::ZERO && in_flight > 0 {
                return Err(Error::Conflict(format!(
                    "sale {sale_id}: the rest is covered by an M-Pesa request in flight; wait for it to finish"
                )));
            }
            Ok(left)
        }
    }
}

pub(super) fn due(tx: &rusqlite::Connection, sale_id: i64) -> Result<Money> {
    let (total, paid): (i64, i64) = tx.query_row(
        "SELECT total_cents, (SELECT coalesce(sum(amount_cents), 0) FROM tenders WHERE sale_id = ?1) FROM sales WHERE id = ?1",
        [sale_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Money::from_cents(total)?.saturating_sub(Money::from_cents(paid)?))
}

/// Sets a sale's status from its tenders and attempts: paid when tenders cover the total.
pub(super) fn refresh_status(tx: &Transaction<'_>, sale_id: i64) -> Result<SaleStatus> {
    let current = sale_status(tx, sale_id)?;
    if current == SaleStatus::Voided {
        return Ok(current);
    }
    let outstanding = due(tx, sale_id)?;
    let (tenders, active): (i64, i64) = tx.query_row(
        &format!("SELECT (SELECT count(*) FROM tenders WHERE sale_id = ?1),
                (SELECT count(*) FROM payment_attempts WHERE sale_id = ?1 AND state IN {OPEN_STATES_SQL})"),
        [sale_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let next = if outstanding == Money::ZERO {
        SaleStatus::Paid
    } else if tenders > 0 || active > 0 {
        SaleStatus::AwaitingPayment
    } else {
        SaleStatus::Open
    };
    if next != current {
        let now = now_ms();
        tx.execute(
            "UPDATE sales SET status = ?2, updated_at = ?3, parked_at = NULL,
                paid_at = CASE WHEN ?2 = 'paid' THEN coalesce(paid_at, ?3) ELSE paid_at END WHERE id = ?1",
            params![sale_id, next.as_str(), now],
        )?;
        if next == SaleStatus::Paid {
            super::stock::on_paid(tx, sale_id, now)?;
        }
    }
    Ok(next)
}

fn load_sale(conn: &rusqlite::Connection, id: i64) -> Result<Sale> {
    let head = conn
        .query_row(
            "SELECT s.status, c.name, s.total_cents, s.created_at, s.paid_at, s.discount_cents,
                    (SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE sale_id = s.id AND state != 'failed'),
                    s.parked_at IS NOT NULL, s.void_reason, s.shift_id, vb.name
             FROM sales s JOIN cashiers c ON c.id = s.cashier_id
             LEFT JOIN cashiers vb ON vb.id = s.voided_by WHERE s.id = ?1",
            [id],
            |r| {
                Ok((
                    (
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        money(r.get(2)?)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ),
                    (
                        money(r.get(5)?)?,
                        money(r.get(6)?)?,
                        r.get::<_, bool>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<i64>>(9)?,
                        r.get::<_, Option<String>>(10)?,
                    ),
                ))
            },
        )
        .optional()?
        .ok_or_else(|| Error::not_found("sale", id))?;
    let lines = {
        let mut st = conn.prepare_cached(
            "SELECT line_no, product_id, description, unit_price_cents, quantity, total_cents, discount_cents
             FROM sale_lines WHERE sale_id = ?1 ORDER BY line_no",
        )?;
        st.query_map([id], |r| {
            Ok(SaleLine {
                line_no: r.get(0)?,
                product_id: r.get(1)?,
                description: r.get(2)?,
                unit_price: money(r.get(3)?)?,
                quantity: r.get(4)?,
                total: money(r.get(5)?)?,
                discount: money(r.get(6)?)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let tenders = {
        let mut st = conn.prepare_cached(
            "SELECT t.id, t.kind, t.amount_cents, t.tendered_cents, t.change_cents, t.attempt_id, t.receipt,
                    t.verified, c.name, t.created_at
             FROM tenders t JOIN cashiers c ON c.id = t.cashier_id WHERE t.sale_id = ?1 ORDER BY t.id",
        )?;
        st.query_map([id], |r| {
            Ok(Tender {
                id: r.get(0)?,
                kind: TenderKind::parse(&r.get::<_, String>(1)?).expect("CHECK constraint"),
                amount: money(r.get(2)?)?,
                tendered: r.get::<_, Option<i64>>(3)?.map(money).transpose()?,
                change: money(r.get(4)?)?,
                attempt_id: r.get(5)?,
                receipt: r.get(6)?,
                verified: r.get(7)?,
                cashier: r.get(8)?,
                created_at: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let (
        (status, cashier, total, created_at, paid_at),
        (discount, refunded, parked, void_reason, shift_id, voided_by),
    ) = head;
    let paid = tenders.iter().fold(Money::ZERO, |acc, t| {
        acc.checked_add(t.amount).unwrap_or(acc)
    });
    Ok(Sale {
        id,
        status: SaleStatus::parse(&status).expect("CHECK constraint"),
        cashier,
        total,
        paid,
        due: total.saturating_sub(paid),
        lines,
        tenders,
        created_at,
        paid_at,
        discount,
        refunded,
        parked,
        void_reason,
        voided_by,
        shift_id,
    })
}
