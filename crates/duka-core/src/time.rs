//! Time in Duka: stored as UTC milliseconds since the epoch; shown and grouped into days in
//! Africa/Nairobi time whatever the machine's zone (Daraja timestamps: `daraja::validate`).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Africa::Nairobi;

use crate::error::{Error, Result};

pub type Millis = i64;

pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// The shop's calendar day for an instant.
pub fn nairobi_date(at: Millis) -> NaiveDate {
    to_nairobi(at).date_naive()
}

pub fn to_nairobi(at: Millis) -> DateTime<chrono_tz::Tz> {
    let utc = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    utc.with_timezone(&Nairobi)
}

/// `2026-11-23 14:05:09` in Nairobi time.
pub fn format_local(at: Millis) -> String {
    to_nairobi(at).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `[start, end)` in UTC milliseconds of a Nairobi calendar day.
pub fn day_bounds(day: NaiveDate) -> (Millis, Millis) {
    let start = |d: NaiveDate| {
        // Nairobi has had no DST since 1942, so midnight always exists exactly once.
        Nairobi
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .single()
            .expect("Nairobi midnight is unambiguous")
            .timestamp_millis()
    };
    let next = day.succ_opt().unwrap_or(day);
    (start(day), start(next))
}

pub fn today() -> NaiveDate {
    nairobi_date(now_ms())
}

/// Parses `YYYY-MM-DD`, naming the field in the error.
pub fn parse_date(s: &str, field: &'static str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(field, "a date as YYYY-MM-DD, e.g. 2026-11-23", s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_bounds_are_nairobi_midnights() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let (a, b) = day_bounds(d);
        assert_eq!(b - a, 86_400_000);
        // Nairobi midnight is 21:00 UTC the day before.
        assert_eq!(
            DateTime::<Utc>::from_timestamp_millis(a)
                .unwrap()
                .to_rfc3339(),
            "2026-11-22T21:00:00+00:00"
        );
        assert_eq!(nairobi_date(a), d);
        assert_eq!(nairobi_date(b - 1), d);
        assert_eq!(nairobi_date(b), d.succ_opt().unwrap());
    }

    #[test]
    fn parse_date_errors_name_the_field() {
        assert!(parse_date("2026-11-23", "date").is_ok());
        let e = parse_date("23/11/2026", "date").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("date: expected a date as YYYY-MM-DD")
        );
    }
}
