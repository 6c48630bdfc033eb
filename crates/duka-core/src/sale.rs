//! Sales, their lines and tenders. A sale is paid when its tenders cover its total.

use crate::error::{Error, Result};
use crate::money::Money;
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    Open,
    AwaitingPayment,
    Paid,
    Voided,
}

impl SaleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SaleStatus::Open => "open",
            SaleStatus::AwaitingPayment => "awaiting_payment",
            SaleStatus::Paid => "paid",
            SaleStatus::Voided => "voided",
        }
    }

    pub fn parse(s: &str) -> Option<SaleStatus> {
        Some(match s {
            "open" => SaleStatus::Open,
            "awaiting_payment" => SaleStatus::AwaitingPayment,
            "paid" => SaleStatus::Paid,
            "voided" => SaleStatus::Voided,
            _ => return None,
        })
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum TenderKind {
    Cash,
    /// Paid through an STK push that Duka sent.
    MpesaStk,
    /// An M-Pesa code the cashier typed from the customer's SMS; unverified until matched.
    MpesaCode,
}

impl TenderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TenderKind::Cash => "cash",
            TenderKind::MpesaStk => "mpesa_stk",
            TenderKind::MpesaCode => "mpesa_code",
        }
    }

    pub fn parse(s: &str) -> Option<TenderKind> {
        Some(match s {
            "cash" => TenderKind::Cash,
            "mpesa_stk" => TenderKind::MpesaStk,
            "mpesa_code" => TenderKind::MpesaCode,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            TenderKind::Cash => "Cash",
            TenderKind::MpesaStk => "M-Pesa (STK)",
            TenderKind::MpesaCode => "M-Pesa (code)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct SaleLine {
    pub line_no: i64,
    pub product_id: Option<i64>,
    pub description: String,
    pub unit_price: Money,
    pub quantity: i64,
    /// unit price × quantity − the line's discount.
    pub total: Money,
    /// What the line's discount takes off (zero without one).
    pub discount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Tender {
    pub id: i64,
    pub kind: TenderKind,
    /// What this tender pays towards the sale.
    pub amount: Money,
    /// Cash handed over (cash only).
    pub tendered: Option<Money>,
    pub change: Money,
    pub attempt_id: Option<String>,
    pub receipt: Option<String>,
    pub verified: bool,
    pub cashier: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Sale {
    pub id: i64,
    pub status: SaleStatus,
    pub cashier: String,
    pub total: Money,
    pub paid: Money,
    pub due: Money,
    pub lines: Vec<SaleLine>,
    pub tenders: Vec<Tender>,
    pub created_at: Millis,
    pub paid_at: Option<Millis>,
    /// What the sale-wide discount takes off the lines' totals (zero without one).
    pub discount: Money,
    /// Given back by refunds that count (not a failed reversal).
    pub refunded: Money,
    /// Held aside while the next customer is served.
    pub parked: bool,
    pub void_reason: Option<String>,
    /// Who voided it (`None` if not voided, or voided before this was recorded).
    pub voided_by: Option<String>,
    /// The shift it was rung up in.
    pub shift_id: Option<i64>,
}

/// A line as rung up, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub product_id: Option<i64>,
    pub description: String,
    pub unit_price: Money,
    pub quantity: i64,
}

pub const MAX_QTY: i64 = 100_000;
pub const MAX_LINES: usize = 500;

impl NewLine {
    /// A free-text item (no product), e.g. `--item "Sugar 1kg" --price 150`.
    pub fn free(description: &str, unit_price: Money, quantity: i64) -> Result<NewLine> {
        let description = crate::catalog::product_name(description).map_err(|_| {
            Error::invalid(
                "item",
                format!("1 to {} printable characters", crate::catalog::MAX_NAME),
                description,
            )
        })?;
        check_qty(quantity)?;
        Ok(NewLine {
            product_id: None,
            description,
            unit_price,
            quantity,
        })
    }

    pub fn total(&self) -> Option<Money> {
        self.unit_price.checked_mul(self.quantity)
    }
}

pub fn check_qty(quantity: i64) -> Result<()> {
    if !(1..=MAX_QTY).contains(&quantity) {
        return Err(Error::invalid(
            "qty",
            format!("a whole number from 1 to {MAX_QTY}"),
            quantity.to_string(),
        ));
    }
    Ok(())
}

/// Validates an M-Pesa receipt (transaction) code: 10 letters or digits, e.g. `QKM0FXE6RK`.
pub fn parse_receipt(code: &str) -> Result<String> {
    let c = code.trim().to_ascii_uppercase();
    if c.len() != 10 || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "mpesa_code",
            "the 10-character M-Pesa code from the SMS, e.g. QKM0FXE6RK",
            code,
        ));
    }
    Ok(c)
}

/// Cash against what is due: the part applied to the sale and the change to hand back.
pub fn cash_split(due: Money, tendered: Money) -> (Money, Money) {
    let applied = tendered.min(due);
    (applied, tendered.saturating_sub(applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cash_change() {
        let m = |c| Money::from_cents(c).unwrap();
        assert_eq!(cash_split(m(30_000), m(50_000)), (m(30_000), m(20_000)));
        assert_eq!(cash_split(m(30_000), m(10_000)), (m(10_000), m(0)));
        assert_eq!(cash_split(m(30_000), m(30_000)), (m(30_000), m(0)));
    }

    #[test]
    fn receipts() {
        assert_eq!(parse_receipt(" qkm0fxe6rk ").unwrap(), "QKM0FXE6RK");
        for bad in ["", "QKM0FXE6R", "QKM0FXE6RKX", "QKM0FXE6R!"] {
            assert!(
                parse_receipt(bad)
                    .unwrap_err()
                    .to_string()
                    .starts_with("mpesa_code: expected")
            );
        }
    }

    #[test]
    fn lines_validate() {
        let p = Money::from_cents(15_000).unwrap();
        assert_eq!(
            NewLine::free("Sugar 1kg", p, 2).unwrap().total(),
            Money::from_cents(30_000).ok()
        );
        assert!(
            NewLine::free("", p, 1)
                .unwrap_err()
                .to_string()
                .starts_with("item:")
        );
        assert!(
            NewLine::free("x", p, 0)
                .unwrap_err()
                .to_string()
                .starts_with("qty:")
        );
        assert!(NewLine::free("x", p, MAX_QTY + 1).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in [
            SaleStatus::Open,
            SaleStatus::AwaitingPayment,
            SaleStatus::Paid,
            SaleStatus::Voided,
        ] {
            assert_eq!(SaleStatus::parse(s.as_str()), Some(s));
        }
        for k in [
            TenderKind::Cash,
            TenderKind::MpesaStk,
            TenderKind::MpesaCode,
        ] {
            assert_eq!(TenderKind::parse(k.as_str()), Some(k));
        }
    }
}
