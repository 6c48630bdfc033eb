//! A typed M-Pesa code checked against what M-Pesa told Duka.

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::Result;

/// What Duka knows about an M-Pesa code typed from a customer's SMS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Verification {
    pub code: String,
    pub sale_id: i64,
    pub verified: bool,
    /// `callback` (an STK payment carried it) or nothing yet.
    pub how: Option<String>,
    pub message: String,
}

impl Store {
    /// Checks a typed M-Pesa code against what M-Pesa told Duka, and marks the sale's typed
    /// tender verified when a paid attempt of the same sale carries the same receipt.
    pub fn verify_code(&mut self, sale_id: i64, code: &str) -> Result<Verification> {
        let code = crate::sale::parse_receipt(code)?;
        self.sale(sale_id)?;
        let tx = self.write()?;
        let tender: Option<(i64, i64, String, bool)> = tx
            .query_row(
                "SELECT id, sale_id, kind, verified FROM tenders WHERE receipt = ?1",
                [&code],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let paid_by: Option<(String, i64)> = tx
            .query_row(
                "SELECT id, sale_id FROM payment_attempts WHERE receipt = ?1 AND state = 'paid'",
                [&code],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let out = |verified: bool, how: Option<&str>, message: String| Verification {
            code: code.clone(),
            sale_id,
            verified,
            how: how.map(str::to_string),
            message,
        };
        let result = match (tender, paid_by) {
            (Some((_, other, _, _)), _) if other != sale_id => out(
                false,
                None,
                format!("{code} is recorded for sale {other}, not sale {sale_id}"),
            ),
            (_, Some((_, other))) if other != sale_id => out(
                false,
                None,
                format!("{code} paid sale {other}, not sale {sale_id}"),
            ),
            (Some((_, _, _, true)), _) => out(
                true,
                Some("callback"),
                format!("{code} is verified: M-Pesa confirmed it for sale {sale_id}"),
            ),
            (Some((tender_id, _, _, false)), Some((attempt, _))) => {
                tx.execute("UPDATE tenders SET verified = 1, attempt_id = coalesce(attempt_id, ?2) WHERE id = ?1", params![tender_id, attempt])?;
                out(
                    true,
                    Some("callback"),
                    format!("{code} is verified: M-Pesa confirmed it for sale {sale_id}"),
                )
            }
            (Some(_), None) => out(
                false,
                None,
                format!(
                    "{code} is recorded for sale {sale_id} but not verified yet: no M-Pesa message with this code has reached Duka"
                ),
            ),
            (None, Some(_)) => out(
                true,
                Some("callback"),
                format!("{code} paid sale {sale_id} (an STK payment)"),
            ),
            (None, None) => out(
                false,
                None,
                format!("{code} is not on sale {sale_id} and M-Pesa has not reported it to Duka"),
            ),
        };
        tx.commit()?;
        Ok(result)
    }
}
