//! Kenyan mobile numbers (MSISDN) as M-Pesa wants them: `2547XXXXXXXX` or `2541XXXXXXXX`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

const EXPECTED: &str =
    "a Kenyan mobile number such as 0712 345 678, 0110 123 456, +254712345678 or 254712345678";

/// A normalised Safaricom-range MSISDN: 12 digits, `254` then `7` or `1` then 8 digits.
#[derive(
    Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, ts_rs::TS,
)]
#[serde(try_from = "String", into = "String")]
pub struct Msisdn(String);

impl Msisdn {
    /// Accepts `07…`/`01…` (10 digits), `+2547…`, `2547…`, `2541…`, and the bare 9-digit
    /// `7…`/`1…` form, with spaces, dashes, dots or brackets between digits.
    pub fn parse(input: &str) -> Result<Msisdn> {
        daraja::validate::normalize_msisdn(input)
            .map(Msisdn)
            .ok_or_else(|| Error::invalid("phone", EXPECTED, input))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs and screens: `2547****149`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..4], &self.0[9..])
    }

    /// The local form people read: `0712 345 678`.
    pub fn local(&self) -> String {
        let n = &self.0[3..];
        format!("0{} {} {}", &n[..3], &n[3..6], &n[6..])
    }
}

/// A CheckoutRequestID for logs and messages: the customer's phone digits inside it hidden.
pub use daraja::mask_checkout;

impl FromStr for Msisdn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Msisdn> {
        Msisdn::parse(s)
    }
}

impl TryFrom<String> for Msisdn {
    type Error = Error;
    fn try_from(s: String) -> Result<Msisdn> {
        Msisdn::parse(&s)
    }
}

impl From<Msisdn> for String {
    fn from(m: Msisdn) -> String {
        m.0
    }
}

/// Debug is masked too, so a stray `{:?}` in a log line never leaks a phone number.
impl fmt::Debug for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msisdn({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_every_accepted_form() {
        for (input, want) in [
            ("0712345678", "254712345678"),
            ("0712 345 678", "254712345678"),
            ("0712-345-678", "254712345678"),
            ("0110123456", "254110123456"),
            ("+254712345678", "254712345678"),
            ("+254 712 345 678", "254712345678"),
            ("254712345678", "254712345678"),
            ("254110123456", "254110123456"),
            ("712345678", "254712345678"),
            ("110123456", "254110123456"),
            (" (0712) 345.678 ", "254712345678"),
            ("254708374149", "254708374149"),
        ] {
            assert_eq!(Msisdn::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn rejects_with_a_clear_error() {
        for bad in [
            "",
            "07123",
            "071234567890",
            "0812345678",
            "+0712345678",
            "+712345678",
            "255712345678",
            "2547123456789",
            "07l2345678",
            "abc",
            "0712345678x",
            "254612345678",
            "+254-7123",
            "00254712345678",
            "612345678",
        ] {
            let err = Msisdn::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_input", "{bad}");
            assert!(
                err.to_string()
                    .starts_with("phone: expected a Kenyan mobile number"),
                "{err}"
            );
        }
    }

    #[test]
    fn masks_for_logs() {
        let m = Msisdn::parse("0708374149").unwrap();
        assert_eq!(m.masked(), "2547****149");
        assert_eq!(format!("{m:?}"), "Msisdn(2547****149)");
        assert_eq!(m.local(), "0708 374 149");
    }

    #[test]
    fn serde_round_trip_validates() {
        let m: Msisdn = serde_json::from_str("\"0712345678\"").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"254712345678\"");
        assert!(serde_json::from_str::<Msisdn>("\"12\"").is_err());
    }
}
