//! Shop-wide claims on M-Pesa receipts. A receipt (a C2B TransID, a code typed from the SMS)
//! pays one sale in the whole shop; with several tills the relay decides which (first claim
//! wins). Here: what this till knows of that — the claim state of its own tenders, the receipts
//! other tills hold, and the provisional attachments that lost the race (for the manager).

use rusqlite::{OptionalExtension, Transaction, params};

use super::Store;
use super::sales::refresh_status;
use crate::error::{Error, Result};
use crate::money::Money;
use crate::time::{Millis, now_ms};

/// How a tender's receipt is claimed in the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// No relay: the receipt is this till's alone to check.
    Local,
    /// Check everything, write nothing (before the relay is asked).
    Check,
    /// The relay could not be asked: attached provisionally, claimed when it is reachable.
    Provisional,
    /// The relay gave the receipt to this till.
    Won,
}

impl Claim {
    pub(super) fn column(self) -> Option<&'static str> {
        match self {
            Claim::Local | Claim::Check => None,
            Claim::Provisional => Some("pending"),
            Claim::Won => Some("won"),
        }
    }
}

/// The till (and its sale) another till of the shop used a receipt for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct TakenBy {
    pub till: String,
    pub till_name: String,
    pub sale: String,
}

/// A tender whose claim has not reached the relay yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingClaim {
    pub receipt: String,
    pub sale_id: i64,
    pub amount: Money,
}

/// A provisional attachment another till had won first: it no longer counts for its sale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct LostClaim {
    pub id: i64,
    pub receipt: String,
    pub sale_id: i64,
    pub kind: String,
    pub amount: Money,
    pub cashier: String,
    pub attached_at: Millis,
    pub winner: TakenBy,
    pub decided_at: Millis,
}

/// Refuses a receipt another till holds.
pub(super) fn refuse_taken(tx: &Transaction<'_>, receipt: &str) -> Result<()> {
    if let Some(t) = taken_in(tx, receipt)? {
        return Err(Error::Conflict(format!(
            "M-Pesa code {receipt} was already used on till {} for its sale {}",
            display_name(&t),
            t.sale
        )));
    }
    Ok(())
}

fn display_name(t: &TakenBy) -> &str {
    if t.till_name.is_empty() {
        &t.till
    } else {
        &t.till_name
    }
}

fn taken_in(conn: &rusqlite::Connection, receipt: &str) -> Result<Option<TakenBy>> {
    Ok(conn
        .query_row(
            "SELECT till, till_name, sale FROM receipts_taken WHERE receipt = ?1",
            [receipt],
            |r| {
                Ok(TakenBy {
                    till: r.get(0)?,
                    till_name: r.get(1)?,
                    sale: r.get(2)?,
                })
            },
        )
        .optional()?)
}

impl Store {
    /// The till and sale another till of the shop used this receipt for, if it did.
    pub fn taken_elsewhere(&self, receipt: &str) -> Result<Option<TakenBy>> {
        taken_in(&self.conn, receipt)
    }

    /// Another till of the shop took a receipt (the relay's `claimed` notice). Idempotent.
    pub fn learn_taken(&mut self, receipt: &str, by: &TakenBy) -> Result<()> {
        self.conn.execute(
            "INSERT INTO receipts_taken (receipt, till, till_name, sale, learned_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (receipt) DO UPDATE SET till = ?2, till_name = ?3, sale = ?4, learned_at = ?5",
            params![receipt, by.till, by.till_name, by.sale, now_ms()],
        )?;
        Ok(())
    }

    /// Every receipt the relay gave this till (typed codes, attached payments, STK receipts),
    /// to claim again from a relay that may have forgotten them.
    pub fn won_claims(&self) -> Result<Vec<PendingClaim>> {
        let mut st = self.conn.prepare(
            "SELECT receipt, sale_id, amount_cents FROM tenders WHERE claim = 'won' AND created_at >= ?1
             UNION ALL
             SELECT a.receipt, a.sale_id, a.amount * 100 FROM stk_claims c
             JOIN payment_attempts a ON a.receipt = c.receipt AND a.state = 'paid'
             WHERE c.won = 1 AND a.updated_at >= ?1",
        )?;
        claim_rows(&mut st, now_ms() - CLAIM_HORIZON_MS)
    }

    /// Another till gave a receipt back (the relay's `claimed` notice with `released`).
    pub fn forget_taken(&mut self, receipt: &str, till: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM receipts_taken WHERE receipt = ?1 AND till = ?2",
            params![receipt, till],
        )?;
        Ok(())
    }

    /// Tenders using a receipt whose claim the relay has not answered: attached provisionally,
    /// or attached before this till was paired (claimed once it is).
    pub fn pending_claims(&self) -> Result<Vec<PendingClaim>> {
        let mut st = self.conn.prepare(
            "SELECT receipt, sale_id, amount_cents FROM tenders t
             WHERE kind = 'mpesa_code' AND receipt IS NOT NULL
               AND (claim = 'pending'
                    OR (claim IS NULL AND created_at >= ?1
                        AND NOT EXISTS (SELECT 1 FROM stk_claims c WHERE c.receipt = t.receipt)))
             ORDER BY id",
        )?;
        claim_rows(&mut st, now_ms() - CLAIM_HORIZON_MS)
    }

    /// Receipts of STK payments this till was paid with that are not claimed shop-wide yet.
    pub fn unclaimed_stk_receipts(&self) -> Result<Vec<PendingClaim>> {
        let mut st = self.conn.prepare(
            "SELECT a.receipt, a.sale_id, a.amount * 100 FROM payment_attempts a
             WHERE a.state = 'paid' AND a.receipt IS NOT NULL AND a.updated_at >= ?1
               AND NOT EXISTS (SELECT 1 FROM stk_claims c WHERE c.receipt = a.receipt)
             ORDER BY a.updated_at",
        )?;
        claim_rows(&mut st, now_ms() - CLAIM_HORIZON_MS)
    }

    /// Whether this till uses `receipt` (a tender or a paid STK attempt).
    pub fn holds_receipt(&self, receipt: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM tenders WHERE receipt = ?1)
                 OR EXISTS (SELECT 1 FROM payment_attempts WHERE receipt = ?1 AND state = 'paid')",
            [receipt],
            |r| r.get(0),
        )?)
    }

    /// Whether a receipt this till holds was found used first on another till.
    pub fn held_receipt_lost(&self, receipt: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM stk_claims WHERE receipt = ?1 AND won = 0)",
            [receipt],
            |r| r.get(0),
        )?)
    }

    /// STK receipts of this till that another till had used first (a code typed there from the
    /// customer's SMS): the payment here is real; the other till's sale is the one to check.
    pub fn stk_receipts_used_elsewhere(&self) -> Result<Vec<(String, TakenBy)>> {
        let mut st = self.conn.prepare(
            "SELECT receipt, winner_till, winner_name, winner_sale FROM stk_claims WHERE won = 0 ORDER BY decided_at DESC",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                TakenBy {
                    till: r.get(1)?,
                    till_name: r.get(2)?,
                    sale: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The relay's answer to this till's claim on `receipt`. Won: the tender is final. Lost:
    /// the tender stops counting (its sale is due again), is kept as a `LostClaim` for the
    /// manager, and the receipt is the winner's. Returns the lost claim, if one was lost.
    pub fn decide_claim(
        &mut self,
        receipt: &str,
        won: bool,
        owner: &TakenBy,
    ) -> Result<Option<LostClaim>> {
        let tx = self.write()?;
        // A receipt this till holds outright — an STK payment M-Pesa made to it, a code
        // attached before pairing (perhaps verified since), one the relay gave it before — stays
        // counted whatever the answer: a lost claim says another till used it too, and is
        // flagged here for the manager (`held_receipt_lost`). Only a provisional attachment can
        // lose its place.
        let held: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM payment_attempts WHERE receipt = ?1 AND state = 'paid')
                 OR EXISTS (SELECT 1 FROM tenders WHERE receipt = ?1 AND kind = 'mpesa_code'
                                AND (claim IS NULL OR claim = 'won'))",
            [receipt],
            |r| r.get(0),
        )?;
        if won {
            tx.execute(
                "UPDATE tenders SET claim = 'won' WHERE receipt = ?1 AND (claim = 'pending' OR claim IS NULL)",
                [receipt],
            )?;
        }
        if held {
            tx.execute(
                "INSERT INTO stk_claims (receipt, won, winner_till, winner_name, winner_sale, decided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (receipt) DO UPDATE SET won = ?2, winner_till = ?3, winner_name = ?4,
                     winner_sale = ?5, decided_at = ?6",
                params![receipt, won, owner.till, owner.till_name, owner.sale, now_ms()],
            )?;
            tx.commit()?;
            return Ok(None);
        }
        if won {
            tx.execute("DELETE FROM receipts_taken WHERE receipt = ?1", [receipt])?;
            tx.commit()?;
            return Ok(None);
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO receipts_taken (receipt, till, till_name, sale, learned_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (receipt) DO UPDATE SET till = ?2, till_name = ?3, sale = ?4, learned_at = ?5",
            params![receipt, owner.till, owner.till_name, owner.sale, now],
        )?;
        let tender: Option<(i64, i64, String, i64, i64, Millis)> = tx
            .query_row(
                "SELECT id, sale_id, kind, amount_cents, cashier_id, created_at FROM tenders
                 WHERE receipt = ?1 AND kind = 'mpesa_code' AND claim = 'pending'",
                [receipt],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((tender, sale_id, kind, cents, cashier_id, attached_at)) = tender else {
            tx.commit()?;
            return Ok(None);
        };
        let id = tx.query_row(
            "INSERT INTO lost_claims (receipt, sale_id, kind, amount_cents, cashier_id, attached_at, winner_till, winner_name, winner_sale, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
            params![receipt, sale_id, kind, cents, cashier_id, attached_at, owner.till, owner.till_name, owner.sale, now],
            |r| r.get::<_, i64>(0),
        )?;
        tx.execute("DELETE FROM tenders WHERE id = ?1", [tender])?;
        tx.execute(
            "UPDATE c2b_payments SET sale_id = NULL WHERE trans_id = ?1 AND sale_id = ?2",
            params![receipt, sale_id],
        )?;
        refresh_status(&tx, sale_id)?;
        tx.commit()?;
        Ok(self.lost_claims()?.into_iter().find(|l| l.id == id))
    }

    /// Provisional attachments that lost the race, newest first (the manager's list).
    pub fn lost_claims(&self) -> Result<Vec<LostClaim>> {
        let mut st = self.conn.prepare(
            "SELECT l.id, l.receipt, l.sale_id, l.kind, l.amount_cents, c.name, l.attached_at,
                    l.winner_till, l.winner_name, l.winner_sale, l.decided_at
             FROM lost_claims l JOIN cashiers c ON c.id = l.cashier_id ORDER BY l.id DESC",
        )?;
        let rows = st.query_map([], |r| {
            Ok(LostClaim {
                id: r.get(0)?,
                receipt: r.get(1)?,
                sale_id: r.get(2)?,
                kind: r.get(3)?,
                amount: Money::from_cents(r.get(4)?).map_err(super::bad_column)?,
                cashier: r.get(5)?,
                attached_at: r.get(6)?,
                winner: TakenBy {
                    till: r.get(7)?,
                    till_name: r.get(8)?,
                    sale: r.get(9)?,
                },
                decided_at: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Receipts older than this are not claimed after the fact (on pairing, after a re-sync): an
/// SMS that old is not shown at a till, and a till's whole history would flood the relay.
/// Provisional attachments are claimed whatever their age.
pub const CLAIM_HORIZON_MS: Millis = 30 * 24 * 3600 * 1000;

/// Rows of (receipt, sale id, amount in cents) as claims to send; `?1` is the horizon.
fn claim_rows(st: &mut rusqlite::Statement<'_>, since: Millis) -> Result<Vec<PendingClaim>> {
    let rows = st.query_map([since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (receipt, sale_id, cents) = row?;
        Ok(PendingClaim {
            receipt,
            sale_id,
            amount: Money::from_cents(cents)?,
        })
    })
    .collect()
}
