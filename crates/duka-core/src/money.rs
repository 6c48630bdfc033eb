//! Money as integer Kenya shilling cents. No floating point anywhere.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An amount of Kenya shillings in cents (1 KES = 100 cents). Never negative in Duka's
/// domain; arithmetic is checked.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    ts_rs::TS,
)]
#[serde(transparent)]
pub struct Money(i64);

/// The largest amount Duka accepts anywhere: KES 10,000,000,000.00 keeps every sum of a
/// day's sales far from `i64` overflow.
pub const MAX_CENTS: i64 = 1_000_000_000_000;

const EXPECTED: &str = "an amount in shillings such as 1250, 1,250.50 or KES 99.5 (not negative, at most two decimals, at most 10,000,000,000)";

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_cents(cents: i64) -> Result<Money> {
        if !(0..=MAX_CENTS).contains(&cents) {
            return Err(Error::invalid("amount", EXPECTED, format!("{cents} cents")));
        }
        Ok(Money(cents))
    }

    pub fn from_shillings(shillings: i64) -> Result<Money> {
        shillings
            .checked_mul(100)
            .ok_or_else(|| Error::invalid("amount", EXPECTED, shillings.to_string()))
            .and_then(Money::from_cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// Whole shillings if the amount has no cents (M-Pesa only moves whole shillings).
    pub fn whole_shillings(self) -> Option<i64> {
        (self.0 % 100 == 0).then_some(self.0 / 100)
    }

    /// Whole shillings, a part shilling counted as one: what an STK push for this amount
    /// asks (M-Pesa moves no cents, and the customer rounds up, never the shop down).
    pub fn shillings_up(self) -> i64 {
        (self.0 + 99).div_euclid(100)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0
            .checked_add(other.0)
            .filter(|c| *c <= MAX_CENTS)
            .map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).filter(|c| *c >= 0).map(Money)
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money((self.0 - other.0).max(0))
    }

    pub fn checked_mul(self, qty: i64) -> Option<Money> {
        self.0
            .checked_mul(qty)
            .filter(|c| (0..=MAX_CENTS).contains(c))
            .map(Money)
    }

    /// Parses what a person types: `1250`, `1,250.50`, `99.5`, `KES 1,250.00`, `Ksh 20`.
    /// The field name is used in the error.
    pub fn parse_field(s: &str, field: &'static str) -> Result<Money> {
        parse(s).ok_or_else(|| Error::invalid(field, EXPECTED, s))
    }

    /// Plain number without currency or grouping, for CSV and JSON: `1250.50`.
    pub fn plain(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

fn parse(input: &str) -> Option<Money> {
    let mut s = input.trim();
    for prefix in ["KES", "KSH", "KSHS", "SH", "SHS"] {
        // `get`, not `[..]`: the cut may fall inside a multi-byte character ("1€", "20½").
        let head = s.get(..prefix.len());
        if let Some(head) = head
            && head.eq_ignore_ascii_case(prefix)
        {
            let rest = &s[prefix.len()..];
            // Only a prefix if what follows is not a letter (so "SHS" wins over "SH").
            if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                s = rest.trim_start_matches(['.', ' ']).trim();
                break;
            }
        }
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if int_part.is_empty() {
        return None;
    }
    // Grouping commas are optional but, when present, must be real thousands groups.
    let digits: String = if int_part.contains(',') {
        let groups: Vec<&str> = int_part.split(',').collect();
        let first_ok = (1..=3).contains(&groups[0].len());
        let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
        if !first_ok || !rest_ok {
            return None;
        }
        groups.concat()
    } else {
        int_part.to_string()
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = digits.parse().ok()?;
    let frac: i64 = match frac_part {
        None => 0,
        Some(f) if f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()) => {
            return None;
        }
        Some(f) if f.len() == 1 => f.parse::<i64>().ok()? * 10,
        Some(f) => f.parse().ok()?,
    };
    let cents = whole.checked_mul(100)?.checked_add(frac)?;
    (cents <= MAX_CENTS).then_some(Money(cents))
}

impl FromStr for Money {
    type Err = Error;
    fn from_str(s: &str) -> Result<Money> {
        Money::parse_field(s, "amount")
    }
}

/// `KES 1,250.00`
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = (self.0 / 100).to_string();
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (i, ch) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        write!(f, "KES {grouped}.{:02}", self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<i64> {
        s.parse::<Money>().ok().map(Money::cents)
    }

    #[test]
    fn parses_what_cashiers_type() {
        assert_eq!(p("1250"), Some(125_000));
        assert_eq!(p("1,250.50"), Some(125_050));
        assert_eq!(p("1,250.5"), Some(125_050));
        assert_eq!(p(" 99.05 "), Some(9_905));
        assert_eq!(p("KES 1,250.00"), Some(125_000));
        assert_eq!(p("ksh 20"), Some(2_000));
        assert_eq!(p("Kshs. 20"), Some(2_000));
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("1,000,000"), Some(100_000_000));
        assert_eq!(p("10,000,000,000"), Some(MAX_CENTS));
    }

    #[test]
    fn rejects_bad_amounts_with_field_name() {
        for bad in [
            "",
            "-5",
            "1.234",
            "1.",
            ".5",
            "abc",
            "1,25",
            "12,50.00",
            ",100",
            "1 000",
            "1e3",
            "+5",
            "10,000,000,000.01",
            "99999999999999999999",
            "KES",
            "5.-1",
        ] {
            assert_eq!(p(bad), None, "{bad:?} must be rejected");
        }
        let err = Money::parse_field("-5", "price").unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert!(
            err.to_string().starts_with("price: expected an amount"),
            "{err}"
        );
    }

    #[test]
    fn money_with_a_non_ascii_sign_is_an_error_not_a_panic() {
        // Multi-byte characters where a currency prefix could be: byte slicing would cut
        // them in half.
        for bad in [
            "20½", "1€", "KE€", "€", "½", "Kß", "KSHé", "Shé", "२०", "20 €", "KES½",
        ] {
            let err = Money::parse_field(bad, "price").unwrap_err();
            assert_eq!(err.code(), "invalid_input", "{bad:?}");
            assert!(
                err.to_string().starts_with("price: expected an amount"),
                "{err}"
            );
        }
    }

    /// The money fuzz target's first crash on the old parser (after 8 inputs): bytes
    /// `f6 bc`, read leniently as two U+FFFD, cut at byte 4 by the `KSHS` prefix check.
    #[test]
    fn two_replacement_characters_from_bad_utf8_are_an_error_not_a_panic() {
        let s = String::from_utf8_lossy(b"\xf6\xbc");
        assert_eq!(s, "\u{FFFD}\u{FFFD}");
        assert_eq!(
            Money::parse_field(&s, "price").unwrap_err().code(),
            "invalid_input"
        );
    }

    #[test]
    fn a_currency_prefix_before_non_ascii_is_still_refused() {
        assert_eq!(p("KES 20"), Some(2_000));
        assert_eq!(p("KES€20"), None);
        assert_eq!(p("Shs½"), None);
    }

    #[test]
    fn formats_with_grouping() {
        assert_eq!(Money(125_000).to_string(), "KES 1,250.00");
        assert_eq!(Money(5).to_string(), "KES 0.05");
        assert_eq!(Money(100_000_000).to_string(), "KES 1,000,000.00");
        assert_eq!(Money(12_345_678).to_string(), "KES 123,456.78");
        assert_eq!(Money(12_345_678).plain(), "123456.78");
    }

    #[test]
    fn round_trips_every_small_amount() {
        for c in (0..200_000).step_by(7) {
            let m = Money(c);
            assert_eq!(m.to_string().parse::<Money>().unwrap(), m);
            assert_eq!(m.plain().parse::<Money>().unwrap(), m);
        }
    }

    #[test]
    fn checked_arithmetic() {
        assert!(Money(MAX_CENTS).checked_add(Money(1)).is_none());
        assert!(Money(1).checked_sub(Money(2)).is_none());
        assert_eq!(Money(15_000).checked_mul(3), Some(Money(45_000)));
        assert!(Money(MAX_CENTS).checked_mul(2).is_none());
        assert!(Money::from_cents(-1).is_err());
        assert_eq!(Money(15_000).whole_shillings(), Some(150));
        assert_eq!(Money(15_050).whole_shillings(), None);
    }
}
