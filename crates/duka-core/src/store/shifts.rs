//! Shifts and the cash drawer: a shift opens with the float counted into the drawer and closes
//! with a blind count; the Z-report then says what the drawer should hold and what the shift
//! did. Cash moves out of or into the drawer (pay-outs, cash in) belong to the open shift.

use rusqlite::{OptionalExtension, Transaction, params};

use super::Store;
use crate::error::{Error, Result};
use crate::money::Money;
use crate::payment::OPEN_STATES_SQL;
use crate::time::{Millis, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct Shift {
    pub id: i64,
    pub cashier: String,
    pub opened_at: Millis,
    /// Cash counted into the drawer when the shift opened.
    pub float: Money,
    pub closed_at: Option<Millis>,
    pub closed_by: Option<String>,
    /// The blind count at close.
    pub counted: Option<Money>,
    /// What the drawer should have held at close (float + cash sales − cash refunds −
    /// pay-outs + cash in), fixed when the shift closed.
    pub expected: Option<Money>,
}

/// Cash out of or into the drawer, or the drawer opened by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum DrawerKind {
    PayOut,
    CashIn,
    /// Opened without a sale ("no sale"): no money, but on the report.
    Open,
}

impl DrawerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DrawerKind::PayOut => "pay_out",
            DrawerKind::CashIn => "cash_in",
            DrawerKind::Open => "open",
        }
    }

    pub fn parse(s: &str) -> Result<DrawerKind> {
        match s.trim() {
            "pay_out" | "payout" | "pay-out" => Ok(DrawerKind::PayOut),
            "cash_in" | "cash-in" => Ok(DrawerKind::CashIn),
            "open" => Ok(DrawerKind::Open),
            other => Err(Error::invalid("kind", "pay_out, cash_in or open", other)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct DrawerMove {
    pub id: i64,
    pub shift_id: Option<i64>,
    pub kind: DrawerKind,
    pub amount: Money,
    pub reason: String,
    pub cashier: String,
    pub at: Millis,
}

/// A count and its amount.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS,
)]
pub struct Tally {
    pub count: i64,
    pub amount: Money,
}

/// What one shift did, and what its drawer should hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ZReport {
    pub shift: Shift,
    pub sales: Tally,
    /// Cash taken for sales (what was handed over minus change).
    pub cash_sales: Money,
    pub cash_refunds: Money,
    pub pay_outs: Tally,
    pub cash_in: Tally,
    /// float + cash sales − cash refunds − pay-outs + cash in.
    pub expected_cash: Money,
    pub counted_cash: Option<Money>,
    /// counted − expected, in cents: negative is a shortfall. `None` while the shift is open.
    pub difference_cents: Option<i64>,
    /// M-Pesa that Duka confirmed (STK payments and verified codes and incoming payments).
    pub mpesa_confirmed: Tally,
    /// M-Pesa requests of the shift's sales still open or unknown.
    pub mpesa_open: Tally,
    /// Codes typed from customers' SMS that M-Pesa has not confirmed yet.
    pub codes_unverified: Tally,
    /// Refunds of every kind made in the shift.
    pub refunds: Tally,
    pub discounts: Money,
    pub voids: Tally,
    /// Times the drawer was opened without a sale.
    pub drawer_opens: i64,
}

const SHIFT_COLS: &str = "s.id, c.name, s.opened_at, s.float_cents, s.closed_at, cb.name, \
    s.counted_cents, s.expected_cents";

fn shift_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Shift> {
    let money = |c: i64| Money::from_cents(c).map_err(super::bad_column);
    Ok(Shift {
        id: r.get(0)?,
        cashier: r.get(1)?,
        opened_at: r.get(2)?,
        float: money(r.get(3)?)?,
        closed_at: r.get(4)?,
        closed_by: r.get(5)?,
        counted: r.get::<_, Option<i64>>(6)?.map(money).transpose()?,
        expected: r.get::<_, Option<i64>>(7)?.map(money).transpose()?,
    })
}

fn load_shift(conn: &rusqlite::Connection, id: i64) -> Result<Shift> {
    conn.query_row(
        &format!(
            "SELECT {SHIFT_COLS} FROM shifts s JOIN cashiers c ON c.id = s.cashier_id \
             LEFT JOIN cashiers cb ON cb.id = s.closed_by WHERE s.id = ?1"
        ),
        [id],
        shift_row,
    )
    .optional()?
    .ok_or_else(|| Error::not_found("shift", id))
}

fn open_shift_id(conn: &rusqlite::Connection) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT id FROM shifts WHERE closed_at IS NULL", [], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Cash the drawer of `shift` should hold now.
fn expected_cash(conn: &rusqlite::Connection, shift: i64) -> Result<Money> {
    let cents: i64 = conn.query_row(
        "SELECT s.float_cents
            + (SELECT coalesce(sum(amount_cents), 0) FROM tenders WHERE shift_id = ?1 AND kind = 'cash')
            - (SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE shift_id = ?1 AND kind = 'cash')
            - (SELECT coalesce(sum(amount_cents), 0) FROM drawer_moves WHERE shift_id = ?1 AND kind = 'pay_out')
            + (SELECT coalesce(sum(amount_cents), 0) FROM drawer_moves WHERE shift_id = ?1 AND kind = 'cash_in')
         FROM shifts s WHERE s.id = ?1",
        [shift],
        |r| r.get(0),
    )?;
    // A drawer cannot hold less than nothing: pay-outs are refused beyond what it holds.
    Money::from_cents(cents.max(0))
}

fn tally(conn: &rusqlite::Connection, sql: &str, shift: i64) -> Result<Tally> {
    let (count, cents): (i64, i64) =
        conn.query_row(sql, [shift], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Tally {
        count,
        amount: Money::from_cents(cents)?,
    })
}

impl Store {
    /// Opens a shift with the float counted into the drawer. Only one shift is open on a
    /// till at a time (the database refuses a second).
    pub fn open_shift(&mut self, cashier: &str, float: Money) -> Result<Shift> {
        let cashier_id = self.cashier(cashier)?.id;
        let tx = self.write()?;
        if let Some(open) = open_shift_id(&tx)? {
            let s = load_shift(&tx, open)?;
            return Err(Error::Conflict(format!(
                "shift {} (opened by {}) is still open: close it with its count first",
                s.id, s.cashier
            )));
        }
        tx.execute(
            "INSERT INTO shifts (cashier_id, opened_at, float_cents) VALUES (?1, ?2, ?3)",
            params![cashier_id, now_ms(), float.cents()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        load_shift(&self.conn, id)
    }

    /// The shift open now, if any.
    pub fn current_shift(&self) -> Result<Option<Shift>> {
        open_shift_id(&self.conn)?
            .map(|id| load_shift(&self.conn, id))
            .transpose()
    }

    pub fn shift(&self, id: i64) -> Result<Shift> {
        load_shift(&self.conn, id)
    }

    /// Cash out of (pay-out) or into (cash in) the drawer with a reason, or the drawer opened
    /// without a sale. Cash moves need an open shift; a pay-out may not take more than the
    /// drawer should hold.
    pub fn drawer_move(
        &mut self,
        kind: DrawerKind,
        amount: Money,
        reason: &str,
        cashier: &str,
    ) -> Result<DrawerMove> {
        let reason = check_reason(reason)?;
        let cashier_id = self.cashier(cashier)?.id;
        let tx = self.write()?;
        let shift = open_shift_id(&tx)?;
        match (kind, shift) {
            (DrawerKind::Open, _) => {}
            (_, None) => {
                return Err(Error::Conflict(
                    "no shift is open: open one with its float before cash goes in or out".into(),
                ));
            }
            (DrawerKind::PayOut, Some(s)) => {
                if amount == Money::ZERO {
                    return Err(Error::invalid("amount", "an amount above zero", "0"));
                }
                let holds = expected_cash(&tx, s)?;
                if amount > holds {
                    return Err(Error::Conflict(format!(
                        "the drawer should hold {holds}: a pay-out of {amount} is more than that"
                    )));
                }
            }
            (DrawerKind::CashIn, _) if amount == Money::ZERO => {
                return Err(Error::invalid("amount", "an amount above zero", "0"));
            }
            (DrawerKind::CashIn, _) => {}
        }
        let amount = if kind == DrawerKind::Open {
            Money::ZERO
        } else {
            amount
        };
        tx.execute(
            "INSERT INTO drawer_moves (shift_id, kind, amount_cents, reason, cashier_id, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                shift,
                kind.as_str(),
                amount.cents(),
                reason,
                cashier_id,
                now_ms()
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(DrawerMove {
            id,
            shift_id: shift,
            kind,
            amount,
            reason,
            cashier: cashier.to_string(),
            at: now_ms(),
        })
    }

    /// Closes the open shift with the cash counted (typed before the expected figure is
    /// shown) and returns its Z-report. The expected cash is fixed at this moment.
    pub fn close_shift(&mut self, counted: Money, cashier: &str) -> Result<ZReport> {
        let cashier_id = self.cashier(cashier)?.id;
        let tx = self.write()?;
        let Some(id) = open_shift_id(&tx)? else {
            return Err(Error::Conflict("no shift is open".into()));
        };
        let expected = expected_cash(&tx, id)?;
        tx.execute(
            "UPDATE shifts SET closed_at = ?2, closed_by = ?3, counted_cents = ?4, expected_cents = ?5
             WHERE id = ?1",
            params![id, now_ms(), cashier_id, counted.cents(), expected.cents()],
        )?;
        tx.commit()?;
        self.z_report(id)
    }

    /// The Z-report of a shift (an X-report while it is open: no count, no difference).
    pub fn z_report(&self, shift_id: i64) -> Result<ZReport> {
        let conn = &self.conn;
        let shift = load_shift(conn, shift_id)?;
        let expected = match shift.expected {
            Some(e) => e,
            None => expected_cash(conn, shift_id)?,
        };
        let sum = |sql: &str| -> Result<Money> {
            let c: i64 = conn.query_row(sql, [shift_id], |r| r.get(0))?;
            Money::from_cents(c)
        };
        let cash_sales = sum(
            "SELECT coalesce(sum(amount_cents), 0) FROM tenders WHERE shift_id = ?1 AND kind = 'cash'",
        )?;
        let cash_refunds = sum(
            "SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE shift_id = ?1 AND kind = 'cash'",
        )?;
        let discounts = sum(
            "SELECT coalesce(sum(discount_cents), 0)
                + (SELECT coalesce(sum(l.discount_cents), 0) FROM sale_lines l JOIN sales s ON s.id = l.sale_id
                   WHERE s.shift_id = ?1 AND s.status != 'voided')
             FROM sales WHERE shift_id = ?1 AND status != 'voided'",
        )?;
        let t = |sql: &str| tally(conn, sql, shift_id);
        let report = ZReport {
            sales: t("SELECT count(*), coalesce(sum(total_cents), 0) FROM sales WHERE shift_id = ?1 AND status = 'paid'")?,
            cash_sales,
            cash_refunds,
            pay_outs: t("SELECT count(*), coalesce(sum(amount_cents), 0) FROM drawer_moves WHERE shift_id = ?1 AND kind = 'pay_out'")?,
            cash_in: t("SELECT count(*), coalesce(sum(amount_cents), 0) FROM drawer_moves WHERE shift_id = ?1 AND kind = 'cash_in'")?,
            expected_cash: expected,
            counted_cash: shift.counted,
            difference_cents: shift.counted.map(|c| c.cents() - expected.cents()),
            mpesa_confirmed: t(
                "SELECT count(*), coalesce(sum(amount_cents), 0) FROM tenders
                 WHERE shift_id = ?1 AND kind IN ('mpesa_stk', 'mpesa_code') AND verified = 1",
            )?,
            mpesa_open: t(&format!(
                "SELECT count(*), coalesce(sum(a.amount), 0) * 100 FROM payment_attempts a
                 JOIN sales s ON s.id = a.sale_id WHERE s.shift_id = ?1 AND a.state IN {OPEN_STATES_SQL}"
            ))?,
            codes_unverified: t(
                "SELECT count(*), coalesce(sum(amount_cents), 0) FROM tenders
                 WHERE shift_id = ?1 AND kind = 'mpesa_code' AND verified = 0",
            )?,
            refunds: t("SELECT count(*), coalesce(sum(amount_cents), 0) FROM refunds WHERE shift_id = ?1 AND state NOT IN ('failed')")?,
            discounts,
            // A void belongs to the shift it was made in (a sale may be rung up in another).
            voids: t("SELECT count(*), coalesce(sum(total_cents), 0) FROM sales
                      WHERE coalesce(voided_shift_id, shift_id) = ?1 AND status = 'voided'")?,
            drawer_opens: conn.query_row(
                "SELECT count(*) FROM drawer_moves WHERE shift_id = ?1 AND kind = 'open'",
                [shift_id],
                |r| r.get(0),
            )?,
            shift,
        };
        Ok(report)
    }

    /// Shifts opened in `[from, to)`, oldest first.
    pub fn shifts_between(&self, from: Millis, to: Millis) -> Result<Vec<Shift>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {SHIFT_COLS} FROM shifts s JOIN cashiers c ON c.id = s.cashier_id \
             LEFT JOIN cashiers cb ON cb.id = s.closed_by \
             WHERE s.opened_at >= ?1 AND s.opened_at < ?2 ORDER BY s.opened_at, s.id"
        ))?;
        let rows = st.query_map(params![from, to], shift_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The drawer moves of a shift, oldest first.
    pub fn drawer_moves(&self, shift_id: i64) -> Result<Vec<DrawerMove>> {
        let mut st = self.conn.prepare(
            "SELECT d.id, d.shift_id, d.kind, d.amount_cents, d.reason, c.name, d.at
             FROM drawer_moves d JOIN cashiers c ON c.id = d.cashier_id
             WHERE d.shift_id = ?1 ORDER BY d.id",
        )?;
        let rows = st.query_map([shift_id], |r| {
            let kind: String = r.get(2)?;
            Ok(DrawerMove {
                id: r.get(0)?,
                shift_id: r.get(1)?,
                kind: DrawerKind::parse(&kind).map_err(super::bad_column)?,
                amount: Money::from_cents(r.get(3)?).map_err(super::bad_column)?,
                reason: r.get(4)?,
                cashier: r.get(5)?,
                at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A manager's day close: every shift opened that day, their sums, and what is still open.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct DayClose {
    pub date: chrono::NaiveDate,
    pub shifts: Vec<ZReport>,
    pub expected_cash: Money,
    pub counted_cash: Money,
    /// Sum of the closed shifts' differences, in cents (negative: short).
    pub difference_cents: i64,
    pub cash_sales: Money,
    pub mpesa_confirmed: Tally,
    pub refunds: Tally,
    pub discounts: Money,
    pub voids: Tally,
    pub pay_outs: Tally,
    pub cash_in: Tally,
    /// Still open: shifts not closed, M-Pesa requests not final, typed codes unverified,
    /// reversals not final.
    pub open_shifts: i64,
    pub open_attempts: i64,
    pub codes_unverified: Tally,
    pub open_reversals: i64,
    /// Cash taken that day outside any shift (no shift was open).
    pub cash_outside_shifts: Money,
    /// Refunds (not failed) made that day outside any shift: to M-Pesa or by hand, and cash
    /// refunds recorded before a cash refund needed an open shift.
    pub refunds_outside_shifts: Tally,
    /// Times the drawer was opened without a sale that day while no shift was open.
    pub drawer_opens_outside_shifts: i64,
}

impl Store {
    /// The day close of a Nairobi day.
    pub fn day_close(&self, date: chrono::NaiveDate) -> Result<DayClose> {
        let (from, to) = crate::time::day_bounds(date);
        let shifts = self
            .shifts_between(from, to)?
            .into_iter()
            .map(|s| self.z_report(s.id))
            .collect::<Result<Vec<_>>>()?;
        let add = |a: Money, b: Money| a.checked_add(b).unwrap_or(a);
        let tally = |f: fn(&ZReport) -> Tally| {
            shifts.iter().fold(Tally::default(), |t, z| Tally {
                count: t.count + f(z).count,
                amount: add(t.amount, f(z).amount),
            })
        };
        let money = |f: fn(&ZReport) -> Money| shifts.iter().fold(Money::ZERO, |t, z| add(t, f(z)));
        let conn = &self.conn;
        let one = |sql: &str| -> Result<i64> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
        let outside: i64 = conn.query_row(
            "SELECT coalesce(sum(amount_cents), 0) FROM tenders
             WHERE kind = 'cash' AND shift_id IS NULL AND created_at >= ?1 AND created_at < ?2",
            params![from, to],
            |r| r.get(0),
        )?;
        let (refunds_n, refunds_c): (i64, i64) = conn.query_row(
            "SELECT count(*), coalesce(sum(amount_cents), 0) FROM refunds
             WHERE shift_id IS NULL AND state != 'failed' AND created_at >= ?1 AND created_at < ?2",
            params![from, to],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let drawer_opens: i64 = conn.query_row(
            "SELECT count(*) FROM drawer_moves
             WHERE shift_id IS NULL AND kind = 'open' AND at >= ?1 AND at < ?2",
            params![from, to],
            |r| r.get(0),
        )?;
        let (unverified_n, unverified_c): (i64, i64) = conn.query_row(
            "SELECT count(*), coalesce(sum(amount_cents), 0) FROM tenders WHERE kind = 'mpesa_code' AND verified = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(DayClose {
            date,
            expected_cash: money(|z| z.expected_cash),
            counted_cash: money(|z| z.counted_cash.unwrap_or(Money::ZERO)),
            difference_cents: shifts.iter().filter_map(|z| z.difference_cents).sum(),
            cash_sales: money(|z| z.cash_sales),
            mpesa_confirmed: tally(|z| z.mpesa_confirmed),
            refunds: tally(|z| z.refunds),
            discounts: money(|z| z.discounts),
            voids: tally(|z| z.voids),
            pay_outs: tally(|z| z.pay_outs),
            cash_in: tally(|z| z.cash_in),
            open_shifts: one("SELECT count(*) FROM shifts WHERE closed_at IS NULL")?,
            open_attempts: one(&format!(
                "SELECT count(*) FROM payment_attempts WHERE state IN {OPEN_STATES_SQL}"
            ))?,
            codes_unverified: Tally {
                count: unverified_n,
                amount: Money::from_cents(unverified_c)?,
            },
            open_reversals: one(
                "SELECT count(*) FROM refunds WHERE state IN ('requested', 'accepted', 'unknown')",
            )?,
            cash_outside_shifts: Money::from_cents(outside)?,
            refunds_outside_shifts: Tally {
                count: refunds_n,
                amount: Money::from_cents(refunds_c)?,
            },
            drawer_opens_outside_shifts: drawer_opens,
            shifts,
        })
    }
}

/// Cash the drawer of `shift` should hold now (for a cash refund's check).
pub(super) fn expected_cash_in(tx: &Transaction<'_>, shift: i64) -> Result<Money> {
    expected_cash(tx, shift)
}

/// The id of the shift open in this transaction, for records that belong to it.
pub(super) fn open_shift(tx: &Transaction<'_>) -> Result<Option<i64>> {
    open_shift_id(tx)
}

/// A reason a person typed: 2 to 200 printable characters.
pub(crate) fn check_reason(reason: &str) -> Result<String> {
    let r = reason.trim();
    let n = r.chars().count();
    if !(2..=200).contains(&n) || r.chars().any(char::is_control) {
        return Err(Error::invalid(
            "reason",
            "a reason of 2 to 200 printable characters",
            reason,
        ));
    }
    Ok(r.to_string())
}
