//! The manager's views: the day report, the day's M-Pesa receipts, and the CSV export.
//!
//! Money taken is counted by tender time; sales are counted by the time they were paid. Both
//! read through indexes on time (`tenders_created`, `sales_paid`), so a day costs the same on a
//! database of a thousand sales or of millions.

use chrono::NaiveDate;
use rusqlite::params;

use super::Store;
use crate::error::Result;
use crate::money::Money;
use crate::payment::OPEN_STATES_SQL;
use crate::sale::TenderKind;
use crate::time::{Millis, day_bounds};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct TenderTotal {
    pub kind: TenderKind,
    pub count: i64,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct CashierTotal {
    pub cashier: String,
    pub count: i64,
    pub amount: Money,
}

/// Payments taken in one hour of the day (Nairobi time), for the manager's chart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct HourTotal {
    /// 0..=23, East Africa Time.
    pub hour: u8,
    pub count: i64,
    pub amount: Money,
    /// The M-Pesa part of `amount` (STK and typed codes).
    pub mpesa: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ReceiptRow {
    pub at: Millis,
    pub receipt: Option<String>,
    pub verified: bool,
    pub kind: TenderKind,
    /// Masked: `2547****149`, or empty for a typed code.
    pub phone: Option<String>,
    pub amount: Money,
    pub cashier: String,
    pub sale_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct DayReport {
    pub date: NaiveDate,
    /// Sales paid this day and their value.
    pub sales_paid: i64,
    pub sales_total: Money,
    /// What discounts took off those sales (line and sale-wide discounts).
    pub discounts: Money,
    /// Money taken this day, by tender kind and by cashier (the two add up to the same).
    pub taken: Money,
    pub by_tender: Vec<TenderTotal>,
    pub by_cashier: Vec<CashierTotal>,
    /// Only hours with payments, in order.
    pub by_hour: Vec<HourTotal>,
    pub mpesa_receipts: Vec<ReceiptRow>,
    /// M-Pesa requests not yet final (any day): the manager settles these before closing.
    pub open_attempts: i64,
    pub flagged_attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct ExportRow {
    pub sale_id: i64,
    pub created_at: Millis,
    pub paid_at: Option<Millis>,
    pub status: String,
    pub cashier: String,
    pub items: i64,
    pub total: Money,
    /// What the sale's discounts took off (line and sale-wide); `total` is after them.
    pub discount: Money,
    pub cash: Money,
    pub mpesa: Money,
    pub receipts: String,
}

fn money(c: i64) -> rusqlite::Result<Money> {
    Money::from_cents(c).map_err(super::bad_column)
}

impl Store {
    /// The M-Pesa payments received on a Nairobi calendar day, oldest first.
    pub fn receipts_of_day(&self, date: NaiveDate) -> Result<Vec<ReceiptRow>> {
        let (from, to) = day_bounds(date);
        let mut st = self.conn.prepare_cached(
            "SELECT t.created_at, t.receipt, t.verified, t.kind, a.phone, t.amount_cents, c.name, t.sale_id
             FROM tenders t
             JOIN cashiers c ON c.id = t.cashier_id
             LEFT JOIN payment_attempts a ON a.id = t.attempt_id
             WHERE t.created_at >= ?1 AND t.created_at < ?2 AND t.kind IN ('mpesa_stk', 'mpesa_code')
             ORDER BY t.created_at, t.id",
        )?;
        let rows = st.query_map(params![from, to], |r| {
            let phone: Option<String> = r.get(4)?;
            Ok(ReceiptRow {
                at: r.get(0)?,
                receipt: r.get(1)?,
                verified: r.get(2)?,
                kind: TenderKind::parse(&r.get::<_, String>(3)?).expect("CHECK constraint"),
                phone: phone
                    .and_then(|p| crate::phone::Msisdn::parse(&p).ok())
                    .map(|m| m.masked()),
                amount: money(r.get(5)?)?,
                cashier: r.get(6)?,
                sale_id: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn day_report(&self, date: NaiveDate) -> Result<DayReport> {
        let (from, to) = day_bounds(date);
        let (sales_paid, sales_total, discounts): (i64, i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(s.total_cents), 0),
                    coalesce(sum(s.discount_cents + (SELECT coalesce(sum(l.discount_cents), 0)
                                                     FROM sale_lines l WHERE l.sale_id = s.id)), 0)
             FROM sales s WHERE s.paid_at >= ?1 AND s.paid_at < ?2 AND s.status = 'paid'",
            params![from, to],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let by_tender: Vec<TenderTotal> = {
            let mut st = self.conn.prepare_cached(
                "SELECT kind, count(*), sum(amount_cents) FROM tenders
                 WHERE created_at >= ?1 AND created_at < ?2 GROUP BY kind ORDER BY kind",
            )?;
            st.query_map(params![from, to], |r| {
                Ok(TenderTotal {
                    kind: TenderKind::parse(&r.get::<_, String>(0)?).expect("CHECK constraint"),
                    count: r.get(1)?,
                    amount: money(r.get(2)?)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let by_cashier: Vec<CashierTotal> = {
            let mut st = self.conn.prepare_cached(
                "SELECT c.name, count(*), sum(t.amount_cents) FROM tenders t JOIN cashiers c ON c.id = t.cashier_id
                 WHERE t.created_at >= ?1 AND t.created_at < ?2 GROUP BY c.id ORDER BY c.name",
            )?;
            st.query_map(params![from, to], |r| {
                Ok(CashierTotal {
                    cashier: r.get(0)?,
                    count: r.get(1)?,
                    amount: money(r.get(2)?)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let by_hour: Vec<HourTotal> = {
            // Africa/Nairobi is UTC+3 all year (no daylight saving), so the hour is arithmetic.
            let mut st = self.conn.prepare_cached(
                "SELECT ((created_at / 1000 + 10800) / 3600) % 24 AS h, count(*), sum(amount_cents),
                        sum(CASE WHEN kind = 'cash' THEN 0 ELSE amount_cents END)
                 FROM tenders WHERE created_at >= ?1 AND created_at < ?2 GROUP BY h ORDER BY h",
            )?;
            st.query_map(params![from, to], |r| {
                Ok(HourTotal {
                    hour: r.get(0)?,
                    count: r.get(1)?,
                    amount: money(r.get(2)?)?,
                    mpesa: money(r.get(3)?)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let taken = by_tender.iter().fold(Money::ZERO, |acc, t| {
            acc.checked_add(t.amount).unwrap_or(acc)
        });
        let (open_attempts, flagged_attempts): (i64, i64) = self.conn.query_row(
            &format!(
                "SELECT (SELECT count(*) FROM payment_attempts WHERE state IN {OPEN_STATES_SQL}),
                    (SELECT count(*) FROM payment_attempts WHERE flag IS NOT NULL)"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(DayReport {
            date,
            sales_paid,
            sales_total: money(sales_total)?,
            discounts: money(discounts)?,
            taken,
            by_tender,
            by_cashier,
            by_hour,
            mpesa_receipts: self.receipts_of_day(date)?,
            open_attempts,
            flagged_attempts,
        })
    }

    /// One row per sale created in `[from, to)`, oldest first.
    pub fn export_sales(&self, from: Millis, to: Millis) -> Result<Vec<ExportRow>> {
        let mut st = self.conn.prepare(
            "SELECT s.id, s.created_at, s.paid_at, s.status, c.name,
                    (SELECT coalesce(sum(quantity), 0) FROM sale_lines l WHERE l.sale_id = s.id),
                    s.total_cents,
                    s.discount_cents + (SELECT coalesce(sum(discount_cents), 0) FROM sale_lines l WHERE l.sale_id = s.id),
                    (SELECT coalesce(sum(amount_cents), 0) FROM tenders t WHERE t.sale_id = s.id AND t.kind = 'cash'),
                    (SELECT coalesce(sum(amount_cents), 0) FROM tenders t WHERE t.sale_id = s.id AND t.kind != 'cash'),
                    (SELECT coalesce(group_concat(receipt, ' '), '') FROM tenders t WHERE t.sale_id = s.id AND receipt IS NOT NULL)
             FROM sales s JOIN cashiers c ON c.id = s.cashier_id
             WHERE s.created_at >= ?1 AND s.created_at < ?2 ORDER BY s.created_at, s.id",
        )?;
        let rows = st.query_map(params![from, to], |r| {
            Ok(ExportRow {
                sale_id: r.get(0)?,
                created_at: r.get(1)?,
                paid_at: r.get(2)?,
                status: r.get(3)?,
                cashier: r.get(4)?,
                items: r.get(5)?,
                total: money(r.get(6)?)?,
                discount: money(r.get(7)?)?,
                cash: money(r.get(8)?)?,
                mpesa: money(r.get(9)?)?,
                receipts: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Writes export rows as CSV (times in Nairobi, amounts as plain shillings `1250.50`).
/// `discount` is the last column, so the columns before it keep their places.
pub fn write_export_csv<W: std::io::Write>(rows: &[ExportRow], out: W) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "sale_id",
        "created_at",
        "paid_at",
        "status",
        "cashier",
        "items",
        "total",
        "cash",
        "mpesa",
        "mpesa_receipts",
        "discount",
    ])?;
    for r in rows {
        w.write_record([
            r.sale_id.to_string(),
            crate::time::format_local(r.created_at),
            r.paid_at.map(crate::time::format_local).unwrap_or_default(),
            r.status.clone(),
            r.cashier.clone(),
            r.items.to_string(),
            r.total.plain(),
            r.cash.plain(),
            r.mpesa.plain(),
            r.receipts.clone(),
            r.discount.plain(),
        ])?;
    }
    w.flush()
}
