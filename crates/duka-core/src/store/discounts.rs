//! Discounts on an unpaid sale, per line or for the whole sale. A discount is kept as given
//! (an amount or a percentage) and its cents are recomputed whenever the lines change, so a
//! percentage follows the quantity. Above the manager's limit a manager approves it.

use rusqlite::{OptionalExtension, Transaction, params};

use super::Store;
use crate::discount::{Discount, needs_approval};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::sale::{Sale, SaleStatus};
use crate::time::now_ms;

/// Recomputes every line's total from its price, quantity and discount, then the sale's
/// discount and total. Returns the new total.
pub(super) fn recompute_totals(tx: &Transaction<'_>, sale_id: i64) -> Result<Money> {
    let lines: Vec<(i64, i64, i64, Option<String>)> = {
        let mut st = tx.prepare_cached(
            "SELECT line_no, unit_price_cents, quantity, discount_spec FROM sale_lines WHERE sale_id = ?1",
        )?;
        st.query_map([sale_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let too_big = || {
        Error::invalid(
            "total",
            "a sale total of at most KES 10,000,000,000",
            "more",
        )
    };
    let mut subtotal = Money::ZERO;
    for (line_no, unit, qty, spec) in lines {
        let gross = Money::from_cents(unit)?
            .checked_mul(qty)
            .ok_or_else(too_big)?;
        let off = spec
            .as_deref()
            .and_then(Discount::from_spec)
            .map_or(0, |d| d.cents_of(gross));
        let total = Money::from_cents(gross.cents() - off)?;
        tx.execute(
            "UPDATE sale_lines SET total_cents = ?3, discount_cents = ?4 WHERE sale_id = ?1 AND line_no = ?2",
            params![sale_id, line_no, total.cents(), off],
        )?;
        subtotal = subtotal.checked_add(total).ok_or_else(too_big)?;
    }
    let spec: Option<String> = tx.query_row(
        "SELECT discount_spec FROM sales WHERE id = ?1",
        [sale_id],
        |r| r.get(0),
    )?;
    let off = spec
        .as_deref()
        .and_then(Discount::from_spec)
        .map_or(0, |d| d.cents_of(subtotal));
    let total = Money::from_cents(subtotal.cents() - off)?;
    tx.execute(
        "UPDATE sales SET total_cents = ?2, discount_cents = ?3, updated_at = ?4 WHERE id = ?1",
        params![sale_id, total.cents(), off, now_ms()],
    )?;
    Ok(total)
}

/// Refuses, after the lines or discounts of a sale changed, when a discount given without a
/// manager (its `discount_by` is not a manager) is now above `limit_pct` of what it applies
/// to: an amount off fewer items, or a sale discount on a smaller total.
pub(super) fn recheck_discounts(tx: &Transaction<'_>, sale_id: i64, limit_pct: i64) -> Result<()> {
    let refuse = |what: String, off: i64, base: i64| -> Result<()> {
        let (off, base) = (Money::from_cents(off)?, Money::from_cents(base)?);
        if needs_approval(off.cents(), base, limit_pct) {
            return Err(Error::NeedsApproval(format!(
                "{what} of {off} would be more than the {limit_pct}% of {base} a cashier may give: remove the discount, or have a manager approve it again, then make the change"
            )));
        }
        Ok(())
    };
    let lines: Vec<(i64, i64, i64)> = {
        let mut st = tx.prepare_cached(
            "SELECT l.line_no, l.discount_cents, l.unit_price_cents * l.quantity
             FROM sale_lines l LEFT JOIN cashiers c ON c.id = l.discount_by
             WHERE l.sale_id = ?1 AND l.discount_spec IS NOT NULL
               AND coalesce(c.role, '') != 'manager'
             ORDER BY l.line_no",
        )?;
        st.query_map([sale_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (line_no, off, base) in lines {
        refuse(format!("line {line_no}'s discount"), off, base)?;
    }
    let sale: Option<(i64, i64)> = tx
        .query_row(
            "SELECT s.discount_cents,
                    (SELECT coalesce(sum(total_cents), 0) FROM sale_lines WHERE sale_id = s.id)
             FROM sales s LEFT JOIN cashiers c ON c.id = s.discount_by
             WHERE s.id = ?1 AND s.discount_spec IS NOT NULL AND coalesce(c.role, '') != 'manager'",
            [sale_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((off, base)) = sale {
        refuse("the sale's discount".into(), off, base)?;
    }
    Ok(())
}

/// Who gave a discount, and who approved it when it was above the limit.
#[derive(Debug, Clone, Copy)]
pub struct DiscountBy<'a> {
    pub cashier: &'a str,
    /// A manager whose PIN was checked at the till (the Till service checks it).
    pub approved_by: Option<&'a str>,
    /// The manager's limit, in percent of what the discount applies to.
    pub limit_pct: i64,
}

impl Store {
    /// Gives (or, with `None`, takes away) a discount on one line of an unpaid sale.
    pub fn discount_line(
        &mut self,
        sale_id: i64,
        line_no: i64,
        discount: Option<Discount>,
        by: DiscountBy<'_>,
    ) -> Result<Sale> {
        self.discount(sale_id, Some(line_no), discount, by)
    }

    /// Gives (or takes away) a discount on the whole of an unpaid sale, after line discounts.
    pub fn discount_sale(
        &mut self,
        sale_id: i64,
        discount: Option<Discount>,
        by: DiscountBy<'_>,
    ) -> Result<Sale> {
        self.discount(sale_id, None, discount, by)
    }

    fn discount(
        &mut self,
        sale_id: i64,
        line_no: Option<i64>,
        discount: Option<Discount>,
        by: DiscountBy<'_>,
    ) -> Result<Sale> {
        let giver = self.cashier(by.cashier)?;
        let approver = by.approved_by.map(|a| self.cashier(a)).transpose()?;
        if approver.as_ref().is_some_and(|a| a.role != "manager") {
            return Err(Error::Denied(format!(
                "{} is not a manager: only a manager approves a discount",
                by.approved_by.unwrap_or_default()
            )));
        }
        let tx = self.write()?;
        match super::sales::sale_status(&tx, sale_id)? {
            SaleStatus::Paid | SaleStatus::Voided => {
                return Err(Error::Conflict(format!(
                    "sale {sale_id} is finished: a discount goes on an unpaid sale"
                )));
            }
            _ => {}
        }
        super::sales::refuse_live_push(&tx, sale_id, "its amount cannot change now")?;
        // What the discount applies to, before it.
        let base: i64 = match line_no {
            Some(l) => tx
                .query_row(
                    "SELECT unit_price_cents * quantity FROM sale_lines WHERE sale_id = ?1 AND line_no = ?2",
                    params![sale_id, l],
                    |r| r.get(0),
                )
                .map_err(|_| Error::not_found("sale line", format!("{sale_id}/{l}")))?,
            None => tx.query_row(
                "SELECT coalesce(sum(total_cents), 0) FROM sale_lines WHERE sale_id = ?1",
                [sale_id],
                |r| r.get(0),
            )?,
        };
        let base = Money::from_cents(base)?;
        let off = discount.map_or(0, |d| d.cents_of(base));
        let approved = giver.role == "manager" || approver.is_some();
        if !approved && needs_approval(off, base, by.limit_pct) {
            return Err(Error::NeedsApproval(format!(
                "a discount of {} on {base} is above the {}% a cashier may give: a manager's PIN approves it",
                Money::from_cents(off)?,
                by.limit_pct
            )));
        }
        let by_id = approver.as_ref().unwrap_or(&giver).id;
        let spec = discount.map(Discount::spec);
        match line_no {
            Some(l) => tx.execute(
                "UPDATE sale_lines SET discount_spec = ?3, discount_by = ?4 WHERE sale_id = ?1 AND line_no = ?2",
                params![sale_id, l, spec, by_id],
            )?,
            None => tx.execute(
                "UPDATE sales SET discount_spec = ?2, discount_by = ?3 WHERE id = ?1",
                params![sale_id, spec, by_id],
            )?,
        };
        let total = recompute_totals(&tx, sale_id)?;
        if discount.is_some() {
            // A line discount lowers what a sale discount applies to, even one a manager
            // approves: the cashier's own sale discount is checked against what is left
            // (taking one away never raises another's share).
            recheck_discounts(&tx, sale_id, by.limit_pct)?;
        }
        let paid: i64 = tx.query_row(
            "SELECT coalesce(sum(amount_cents), 0) FROM tenders WHERE sale_id = ?1",
            [sale_id],
            |r| r.get(0),
        )?;
        if total.cents() < paid {
            return Err(Error::Conflict(format!(
                "sale {sale_id} has taken {} already: a discount cannot take it below that",
                Money::from_cents(paid)?
            )));
        }
        super::sales::refresh_status(&tx, sale_id)?;
        tx.commit()?;
        self.sale(sale_id)
    }
}
