//! Products and the CSV price list.

use crate::error::{Error, LineError, Result};
use crate::money::Money;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub price: Money,
    pub barcode: Option<String>,
    pub sku: Option<String>,
    pub active: bool,
    /// Quantity on hand; `None` for what has no stock (a service).
    pub stock: Option<i64>,
    /// At or below this, the product is on the low-stock list.
    pub low_stock: Option<i64>,
}

/// A product as typed or imported, validated, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub price: Money,
    pub barcode: Option<String>,
    pub sku: Option<String>,
    pub active: bool,
}

pub const MAX_NAME: usize = 80;

impl NewProduct {
    pub fn new(
        name: &str,
        price: Money,
        barcode: Option<&str>,
        sku: Option<&str>,
    ) -> Result<NewProduct> {
        Ok(NewProduct {
            name: product_name(name)?,
            price,
            barcode: code(barcode, "barcode")?,
            sku: code(sku, "sku")?,
            active: true,
        })
    }
}

pub(crate) fn product_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            format!("1 to {MAX_NAME} printable characters"),
            name,
        ));
    }
    Ok(name.to_string())
}

fn code(value: Option<&str>, field: &'static str) -> Result<Option<String>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        return Err(Error::invalid(
            field,
            "up to 64 letters, digits or - _ . /",
            v,
        ));
    }
    Ok(Some(v.to_string()))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "yes" | "y" | "true" | "active" | "ndiyo" => Some(true),
        "0" | "no" | "n" | "false" | "inactive" | "hapana" => Some(false),
        _ => None,
    }
}

/// Reads a price list: a header row with `name` and `price` (required) and optionally
/// `barcode`, `sku`, `active`, in any order. Returns every row, or every bad row with its
/// line number: a file with one bad row imports nothing.
pub fn parse_price_list(path_for_errors: &str, data: &[u8]) -> Result<Vec<(u64, NewProduct)>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data);
    let bad_file = |errors| Error::BadFile {
        path: path_for_errors.to_string(),
        errors,
    };
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(bad_file(vec![LineError {
                line: 1,
                message: e.to_string(),
            }]));
        }
    };
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(name_i), Some(price_i)) = (col("name"), col("price")) else {
        return Err(bad_file(vec![LineError {
            line: 1,
            message: format!(
                "header: expected columns name,price[,barcode,sku,active], got {:?}",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        }]));
    };
    let (barcode_i, sku_i, active_i) = (col("barcode"), col("sku"), col("active"));
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen_barcodes = std::collections::HashMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(LineError {
                    line,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i));
        let parsed = (|| {
            let price = Money::parse_field(get(Some(price_i)).unwrap_or(""), "price")?;
            let mut p = NewProduct::new(
                get(Some(name_i)).unwrap_or(""),
                price,
                get(barcode_i),
                get(sku_i),
            )?;
            if let Some(a) = get(active_i) {
                p.active = parse_bool(a).ok_or_else(|| Error::invalid("active", "yes or no", a))?;
            }
            Ok::<_, Error>(p)
        })();
        match parsed {
            Ok(p) => {
                if let Some(b) = &p.barcode
                    && let Some(first) = seen_barcodes.insert(b.clone(), line)
                {
                    errors.push(LineError {
                        line,
                        message: format!("barcode {b} already used on line {first}"),
                    });
                    continue;
                }
                rows.push((line, p));
            }
            Err(e) => errors.push(LineError {
                line,
                message: e.to_string(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(bad_file(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_good_price_list_in_any_column_order() {
        let csv =
            "price,name,barcode,active\n150,Sugar 1kg,6001,yes\n\"1,250.50\",\"Oil, 5L\",,no\n";
        let rows = parse_price_list("p.csv", csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[0].1.name, "Sugar 1kg");
        assert_eq!(rows[0].1.price.cents(), 15_000);
        assert_eq!(rows[1].1.name, "Oil, 5L");
        assert_eq!(rows[1].1.price.cents(), 125_050);
        assert!(!rows[1].1.active);
        assert_eq!(rows[1].1.barcode, None);
    }

    #[test]
    fn reports_every_bad_row_with_its_line() {
        let csv = "name,price,barcode\nSugar,150,1\n,20,2\nMilk,-5,3\nBread,50,1\nTea,1.234,\n";
        let err = parse_price_list("p.csv", csv.as_bytes()).unwrap_err();
        let Error::BadFile { errors, .. } = &err else {
            panic!("{err}")
        };
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(errors[0].message.starts_with("name:"));
        assert!(errors[1].message.starts_with("price:"));
        assert!(errors[2].message.contains("already used on line 2"));
        assert_eq!(err.code(), "bad_file");
    }

    #[test]
    fn refuses_a_file_without_the_needed_header() {
        let err = parse_price_list("p.csv", b"product,cost\nx,1\n").unwrap_err();
        assert!(
            err.to_string().contains("expected columns name,price"),
            "{err}"
        );
    }

    #[test]
    fn never_panics_on_garbage() {
        for data in [
            &b""[..],
            b"\xff\xfe\x00",
            b"name,price\n\"unterminated",
            b"name,price\n\xff,1\n",
        ] {
            let _ = parse_price_list("p.csv", data);
        }
    }
}
