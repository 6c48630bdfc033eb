//! Discounts: an amount or a percentage, per line or per sale, and when one needs a manager.

use crate::error::{Error, Result};
use crate::money::Money;

/// A discount as the cashier gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Discount {
    /// KES off, in cents (never more than what it applies to).
    Amount(i64),
    /// Percent off, in basis points (10% = 1000).
    Percent(i64),
}

impl Discount {
    /// `"10%"`, `"12.5%"` or an amount (`"50"`, `"KES 20.50"`).
    pub fn parse(s: &str) -> Result<Discount> {
        let t = s.trim();
        let bad = || {
            Error::invalid(
                "discount",
                "an amount such as 50, or a percentage from 0.01% to 100% such as 10%",
                s,
            )
        };
        if let Some(p) = t.strip_suffix('%') {
            let p = p.trim();
            let (int, frac) = p.split_once('.').unwrap_or((p, ""));
            if int.is_empty()
                || frac.len() > 2
                || !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
            {
                return Err(bad());
            }
            let bp = int.parse::<i64>().map_err(|_| bad())? * 100
                + format!("{frac:0<2}").parse::<i64>().map_err(|_| bad())?;
            if !(1..=10_000).contains(&bp) {
                return Err(bad());
            }
            return Ok(Discount::Percent(bp));
        }
        let m = Money::parse_field(t, "discount")?;
        if m == Money::ZERO {
            return Err(bad());
        }
        Ok(Discount::Amount(m.cents()))
    }

    /// The cents this discount takes off `base`: an amount capped at the base; a percentage
    /// rounded to the nearest cent (half a cent up).
    pub fn cents_of(self, base: Money) -> i64 {
        match self {
            Discount::Amount(c) => c.min(base.cents()).max(0),
            Discount::Percent(bp) => ((base.cents() as i128 * bp as i128 + 5_000) / 10_000) as i64,
        }
    }

    /// As stored: `amount:CENTS` or `percent:BASIS_POINTS`.
    pub fn spec(self) -> String {
        match self {
            Discount::Amount(c) => format!("amount:{c}"),
            Discount::Percent(bp) => format!("percent:{bp}"),
        }
    }

    pub fn from_spec(s: &str) -> Option<Discount> {
        let (kind, v) = s.split_once(':')?;
        let v = v.parse::<i64>().ok()?;
        match kind {
            "amount" if v >= 0 => Some(Discount::Amount(v)),
            "percent" if (0..=10_000).contains(&v) => Some(Discount::Percent(v)),
            _ => None,
        }
    }
}

/// Whether `cents` off `base` is above the manager's limit (`limit_pct` percent): then a
/// manager's PIN approves it at the till.
pub fn needs_approval(cents: i64, base: Money, limit_pct: i64) -> bool {
    // cents / base > limit / 100, without division.
    (cents as i128) * 100 > (base.cents() as i128) * (limit_pct as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: i64) -> Money {
        Money::from_cents(c).unwrap()
    }

    #[test]
    fn amounts_and_percentages_parse_and_apply_to_the_cent() {
        assert_eq!(Discount::parse("10%").unwrap(), Discount::Percent(1_000));
        assert_eq!(
            Discount::parse(" 12.5 %").unwrap(),
            Discount::Percent(1_250)
        );
        assert_eq!(Discount::parse("50").unwrap(), Discount::Amount(5_000));
        assert_eq!(
            Discount::parse("KES 20.50").unwrap(),
            Discount::Amount(2_050)
        );
        for bad in ["", "0", "0%", "101%", "-5", "5.555%", "%", "ten", "1e3%"] {
            let e = Discount::parse(bad).unwrap_err();
            assert!(
                e.to_string().starts_with("discount: expected"),
                "{bad}: {e}"
            );
        }
        assert_eq!(Discount::Percent(1_000).cents_of(m(33_333)), 3_333);
        assert_eq!(
            Discount::Percent(1_250).cents_of(m(100)),
            13,
            "12.5 cents rounds up"
        );
        assert_eq!(
            Discount::Amount(5_000).cents_of(m(3_000)),
            3_000,
            "capped at the base"
        );
        assert_eq!(Discount::Percent(10_000).cents_of(m(3_000)), 3_000);
        for d in [Discount::Amount(5), Discount::Percent(250)] {
            assert_eq!(Discount::from_spec(&d.spec()), Some(d));
        }
        assert_eq!(Discount::from_spec("percent:20000"), None);
    }

    #[test]
    fn above_the_limit_a_manager_approves() {
        assert!(!needs_approval(1_000, m(10_000), 10), "exactly 10%");
        assert!(needs_approval(1_001, m(10_000), 10));
        assert!(needs_approval(1, m(0), 10), "anything off nothing");
        assert!(!needs_approval(0, m(0), 0));
    }
}
