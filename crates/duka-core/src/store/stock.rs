//! Stock: quantity on hand per product (only for products that keep stock), lowered when a
//! sale is paid, raised by refunds of goods returned, set by a count. Every change is a row
//! of `stock_moves`, so the quantity can always be explained.

use rusqlite::{OptionalExtension, Transaction, params};

use super::Store;
use super::shifts::check_reason;
use crate::error::{Error, Result};
use crate::time::{Millis, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct StockMove {
    pub id: i64,
    pub product_id: i64,
    pub delta: i64,
    /// `sale`, `refund`, `count` or `edit` (a refund whose reversal failed takes it back).
    pub kind: String,
    pub reference: Option<i64>,
    pub reason: Option<String>,
    pub cashier: Option<String>,
    pub at: Millis,
}

/// A paid sale takes its goods out of stock, once (a sale paid again after a lost claim is
/// not counted twice).
pub(super) fn on_paid(tx: &Transaction<'_>, sale_id: i64, now: Millis) -> Result<()> {
    let done: i64 = tx.query_row(
        "SELECT count(*) FROM stock_moves WHERE kind = 'sale' AND ref = ?1",
        [sale_id],
        |r| r.get(0),
    )?;
    if done > 0 {
        return Ok(());
    }
    let lines: Vec<(i64, i64)> = {
        let mut st = tx.prepare_cached(
            "SELECT l.product_id, sum(l.quantity) FROM sale_lines l JOIN products p ON p.id = l.product_id
             WHERE l.sale_id = ?1 AND p.stock_qty IS NOT NULL GROUP BY l.product_id",
        )?;
        st.query_map([sale_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (product, qty) in lines {
        moved(tx, product, -qty, "sale", Some(sale_id), None, None, now)?;
    }
    Ok(())
}

/// Goods of a refunded line come back to stock.
pub(super) fn restock(
    tx: &Transaction<'_>,
    sale_id: i64,
    line_no: i64,
    qty: i64,
    refund_id: i64,
    cashier_id: i64,
    now: Millis,
) -> Result<()> {
    let product: Option<i64> = tx
        .query_row(
            "SELECT l.product_id FROM sale_lines l JOIN products p ON p.id = l.product_id
             WHERE l.sale_id = ?1 AND l.line_no = ?2 AND p.stock_qty IS NOT NULL",
            params![sale_id, line_no],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(p) = product {
        moved(
            tx,
            p,
            qty,
            "refund",
            Some(refund_id),
            None,
            Some(cashier_id),
            now,
        )?;
    }
    Ok(())
}

/// A refund that did not happen (its reversal failed) takes back the goods it counted in.
pub(super) fn undo_restock(tx: &Transaction<'_>, refund_id: i64, now: Millis) -> Result<()> {
    let moves: Vec<(i64, i64)> = {
        let mut st = tx.prepare(
            "SELECT product_id, sum(delta) FROM stock_moves WHERE ref = ?1 AND kind IN ('refund', 'edit')
             GROUP BY product_id",
        )?;
        st.query_map([refund_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (product, delta) in moves.into_iter().filter(|(_, d)| *d != 0) {
        let why = "the refund's reversal failed: the goods were not taken back";
        moved(
            tx,
            product,
            -delta,
            "edit",
            Some(refund_id),
            Some(why),
            None,
            now,
        )?;
    }
    Ok(())
}

/// Sets what a product has on hand to `on_hand` as a stock count does: a `count` move of the
/// difference, with the reason and who. A product not kept in stock yet starts from 0. No
/// move when the quantity is already `on_hand`.
pub(super) fn set_on_hand(
    tx: &Transaction<'_>,
    product_id: i64,
    on_hand: i64,
    reason: &str,
    cashier_id: i64,
    now: Millis,
) -> Result<()> {
    let before: Option<i64> = tx
        .query_row(
            "SELECT stock_qty FROM products WHERE id = ?1",
            [product_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| Error::not_found("product", product_id))?;
    if before == Some(on_hand) {
        return Ok(());
    }
    if before.is_none() {
        tx.execute(
            "UPDATE products SET stock_qty = 0 WHERE id = ?1",
            [product_id],
        )?;
    }
    moved(
        tx,
        product_id,
        on_hand - before.unwrap_or(0),
        "count",
        None,
        Some(reason),
        Some(cashier_id),
        now,
    )
}

#[allow(clippy::too_many_arguments)]
fn moved(
    tx: &Transaction<'_>,
    product: i64,
    delta: i64,
    kind: &str,
    reference: Option<i64>,
    reason: Option<&str>,
    cashier_id: Option<i64>,
    now: Millis,
) -> Result<()> {
    tx.execute(
        "UPDATE products SET stock_qty = stock_qty + ?2, updated_at = ?3 WHERE id = ?1 AND stock_qty IS NOT NULL",
        params![product, delta, now],
    )?;
    tx.execute(
        "INSERT INTO stock_moves (product_id, delta, kind, ref, reason, cashier_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![product, delta, kind, reference, reason, cashier_id, now],
    )?;
    Ok(())
}

impl Store {
    /// Starts (or stops, with `None`) keeping stock of a product, with its low-stock line.
    pub fn track_stock(
        &mut self,
        product_id: i64,
        on_hand: Option<i64>,
        low_stock: Option<i64>,
        cashier: &str,
    ) -> Result<crate::catalog::Product> {
        if on_hand.is_some_and(|q| !(0..=crate::sale::MAX_QTY * 100).contains(&q)) {
            return Err(Error::invalid(
                "stock",
                "a quantity from 0 to 10,000,000",
                on_hand.unwrap_or_default().to_string(),
            ));
        }
        if low_stock.is_some_and(|q| q < 0) {
            return Err(Error::invalid(
                "low_stock",
                "a quantity of 0 or more",
                low_stock.unwrap_or_default().to_string(),
            ));
        }
        let cashier_id = self.cashier(cashier)?.id;
        self.product(product_id)?;
        let tx = self.write()?;
        let now = now_ms();
        let before: Option<i64> = tx.query_row(
            "SELECT stock_qty FROM products WHERE id = ?1",
            [product_id],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE products SET stock_qty = ?2, low_stock = ?3, updated_at = ?4 WHERE id = ?1",
            params![product_id, on_hand, low_stock, now],
        )?;
        if let Some(q) = on_hand {
            tx.execute(
                "INSERT INTO stock_moves (product_id, delta, kind, reason, cashier_id, at)
                 VALUES (?1, ?2, 'count', 'stock kept from here', ?3, ?4)",
                params![product_id, q - before.unwrap_or(0), cashier_id, now],
            )?;
        }
        tx.commit()?;
        self.product(product_id)
    }

    /// A stock count: the quantity counted replaces what Duka had, with the reason and who.
    pub fn count_stock(
        &mut self,
        product_id: i64,
        counted: i64,
        reason: &str,
        cashier: &str,
    ) -> Result<StockMove> {
        let reason = check_reason(reason)?;
        if !(0..=crate::sale::MAX_QTY * 100).contains(&counted) {
            return Err(Error::invalid(
                "counted",
                "a quantity from 0 to 10,000,000",
                counted.to_string(),
            ));
        }
        let cashier_id = self.cashier(cashier)?.id;
        let tx = self.write()?;
        let Some(on_hand): Option<i64> = tx
            .query_row(
                "SELECT stock_qty FROM products WHERE id = ?1",
                [product_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("product", product_id))?
        else {
            return Err(Error::Conflict(format!(
                "product {product_id} keeps no stock: start keeping it first"
            )));
        };
        let now = now_ms();
        moved(
            &tx,
            product_id,
            counted - on_hand,
            "count",
            None,
            Some(&reason),
            Some(cashier_id),
            now,
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(StockMove {
            id,
            product_id,
            delta: counted - on_hand,
            kind: "count".into(),
            reference: None,
            reason: Some(reason),
            cashier: Some(cashier.to_string()),
            at: now,
        })
    }

    /// Products at or below their low-stock line, the emptiest first.
    pub fn low_stock(&self) -> Result<Vec<crate::catalog::Product>> {
        let ids: Vec<i64> = {
            let mut st = self.conn.prepare(
                "SELECT id FROM products WHERE active = 1 AND stock_qty IS NOT NULL
                 AND low_stock IS NOT NULL AND stock_qty <= low_stock ORDER BY stock_qty, name",
            )?;
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        ids.into_iter().map(|id| self.product(id)).collect()
    }

    /// A product's stock moves, newest first.
    pub fn stock_moves(&self, product_id: i64, limit: usize) -> Result<Vec<StockMove>> {
        let mut st = self.conn.prepare(
            "SELECT m.id, m.product_id, m.delta, m.kind, m.ref, m.reason, c.name, m.at
             FROM stock_moves m LEFT JOIN cashiers c ON c.id = m.cashier_id
             WHERE m.product_id = ?1 ORDER BY m.id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![product_id, limit as i64], |r| {
            Ok(StockMove {
                id: r.get(0)?,
                product_id: r.get(1)?,
                delta: r.get(2)?,
                kind: r.get(3)?,
                reference: r.get(4)?,
                reason: r.get(5)?,
                cashier: r.get(6)?,
                at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
