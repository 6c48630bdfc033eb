//! The incoming-payments inbox: C2B confirmations, attached to sales by the cashier.

use rusqlite::{OptionalExtension, params};

use super::sales::{payable, refresh_status};
use super::{Claim, Store, TakenBy};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::time::{Millis, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct IncomingPayment {
    pub trans_id: String,
    pub amount: Money,
    /// As Daraja sent it (masked or hashed nowadays).
    pub msisdn: Option<String>,
    pub bill_ref: Option<String>,
    pub payer_name: Option<String>,
    pub received_at: Millis,
    pub sale_id: Option<i64>,
    /// Another till of the shop used it (it cannot be attached here).
    pub taken_by: Option<TakenBy>,
}

impl Store {
    /// Records a C2B confirmation (idempotent on TransID). A typed code with the same receipt
    /// is verified and the payment attached to its sale. Returns the payment.
    pub fn record_c2b(
        &mut self,
        p: &daraja::wire::C2bPayload,
        raw: &str,
    ) -> Result<IncomingPayment> {
        let trans_id = p
            .trans_id
            .as_deref()
            .map(crate::sale::parse_receipt)
            .transpose()?
            .ok_or_else(|| Error::invalid("TransID", "the M-Pesa receipt of the payment", ""))?;
        let amount = p.amount().filter(|a| *a > 0).ok_or_else(|| {
            Error::invalid(
                "TransAmount",
                "a whole amount in shillings",
                p.trans_amount.clone().unwrap_or_default(),
            )
        })?;
        let amount = Money::from_shillings(amount as i64)?;
        let name = [&p.first_name, &p.middle_name, &p.last_name]
            .iter()
            .filter_map(|n| n.as_deref().filter(|n| !n.is_empty()))
            .collect::<Vec<_>>()
            .join(" ");
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO c2b_payments (trans_id, amount_cents, msisdn, bill_ref, payer_name, trans_time, received_at, raw)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (trans_id) DO NOTHING",
            params![trans_id, amount.cents(), p.msisdn, p.bill_ref_number, name, p.trans_time, now_ms(), raw],
        )?;
        // A code the cashier typed from the SMS is now confirmed by M-Pesa.
        let typed: Option<(i64, i64, i64)> = tx
            .query_row(
                "SELECT id, sale_id, amount_cents FROM tenders WHERE receipt = ?1 AND kind = 'mpesa_code'",
                [&trans_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((tender, sale, cents)) = typed
            && cents == amount.cents()
        {
            tx.execute("UPDATE tenders SET verified = 1 WHERE id = ?1", [tender])?;
            tx.execute(
                "UPDATE c2b_payments SET sale_id = ?2 WHERE trans_id = ?1 AND sale_id IS NULL",
                params![trans_id, sale],
            )?;
        }
        tx.commit()?;
        self.incoming(&trans_id)
    }

    pub fn incoming(&self, trans_id: &str) -> Result<IncomingPayment> {
        self.conn
            .query_row(
                "SELECT trans_id, amount_cents, msisdn, bill_ref, payer_name, received_at, sale_id FROM c2b_payments WHERE trans_id = ?1",
                [trans_id],
                |r| {
                    Ok(IncomingPayment {
                        trans_id: r.get(0)?,
                        amount: Money::from_cents(r.get(1)?).map_err(super::bad_column)?,
                        msisdn: r.get(2)?,
                        bill_ref: r.get(3)?,
                        payer_name: r.get(4)?,
                        received_at: r.get(5)?,
                        sale_id: r.get(6)?,
                        taken_by: None,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| Error::not_found("incoming payment", trans_id))
            .and_then(|mut p| {
                p.taken_by = self.taken_elsewhere(&p.trans_id)?;
                Ok(p)
            })
    }

    /// Incoming payments not attached to a sale yet, newest first.
    pub fn inbox(&self, limit: usize) -> Result<Vec<IncomingPayment>> {
        let ids: Vec<String> = {
            let mut st = self
                .conn
                .prepare("SELECT trans_id FROM c2b_payments WHERE sale_id IS NULL ORDER BY received_at DESC LIMIT ?1")?;
            st.query_map([limit as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        ids.iter().map(|id| self.incoming(id)).collect()
    }

    /// Attaches an incoming payment to a sale as a verified M-Pesa tender (at most what is due).
    /// `claim` as for `pay_mpesa_code`: a payment another till of the shop took is refused.
    pub fn attach_incoming(
        &mut self,
        trans_id: &str,
        sale_id: i64,
        cashier: &str,
        claim: Claim,
    ) -> Result<crate::sale::Sale> {
        let cashier_id = self.cashier(cashier)?.id;
        let p = self.incoming(trans_id)?;
        if let Some(s) = p.sale_id {
            return Err(Error::Conflict(format!(
                "payment {trans_id} is already attached to sale {s}"
            )));
        }
        let tx = self.write()?;
        super::claims::refuse_taken(&tx, &p.trans_id)?;
        let due = payable(&tx, sale_id)?;
        if p.amount > due {
            return Err(Error::invalid(
                "amount",
                format!("a payment of at most the {due} due"),
                p.amount.to_string(),
            ));
        }
        let used: Option<i64> = tx
            .query_row(
                "SELECT sale_id FROM tenders WHERE receipt = ?1",
                [trans_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = used {
            return Err(Error::Conflict(format!(
                "M-Pesa code {trans_id} was already used for sale {other}"
            )));
        }
        if claim == Claim::Check {
            drop(tx);
            return self.sale(sale_id);
        }
        tx.execute(
            "INSERT INTO tenders (sale_id, kind, amount_cents, receipt, verified, cashier_id, created_at, claim, shift_id)
             VALUES (?1, 'mpesa_code', ?2, ?3, 1, ?4, ?5, ?6, (SELECT id FROM shifts WHERE closed_at IS NULL))",
            params![sale_id, p.amount.cents(), p.trans_id, cashier_id, now_ms(), claim.column()],
        )?;
        tx.execute(
            "UPDATE c2b_payments SET sale_id = ?2 WHERE trans_id = ?1",
            params![p.trans_id, sale_id],
        )?;
        refresh_status(&tx, sale_id)?;
        tx.commit()?;
        self.sale(sale_id)
    }
}
