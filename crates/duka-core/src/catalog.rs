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
    /// Quantity on hand from a price list's `stock` column. Only the import reads it (with
    /// `low_stock`); `Store::add_product` adds a product without stock.
    pub stock: Option<i64>,
    /// The low-stock line from a price list's `low_stock` column.
    pub low_stock: Option<i64>,
}

pub const MAX_NAME: usize = 80;
/// The most stock a product can have on hand (and the highest low-stock line).
pub const MAX_STOCK: i64 = crate::sale::MAX_QTY * 100;
pub(crate) const STOCK_EXPECTED: &str = "a whole number from 0 to 10,000,000, or empty";
/// The columns of a price list, as `write_price_list` writes them.
pub const PRICE_LIST_COLUMNS: [&str; 7] = [
    "name",
    "price",
    "barcode",
    "sku",
    "active",
    "stock",
    "low_stock",
];

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
            stock: None,
            low_stock: None,
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

/// A `stock` or `low_stock` cell: digits only, 0 to `MAX_STOCK`; `None` when empty.
fn stock_cell(cell: Option<&str>, field: &'static str) -> Result<Option<i64>> {
    let Some(c) = cell.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    c.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| c.parse::<i64>().ok())
        .flatten()
        .filter(|q| (0..=MAX_STOCK).contains(q))
        .map(Some)
        .ok_or_else(|| Error::invalid(field, STOCK_EXPECTED, c))
}

/// Reads a price list: a header row with `name` and `price` (required) and optionally
/// `barcode`, `sku`, `active`, `stock`, `low_stock`, in any order. Returns every row, or every
/// bad row with its line number: a file with one bad row imports nothing.
///
/// `stock` is the quantity on hand and `low_stock` the low-stock line, whole numbers from 0
/// to `MAX_STOCK`. An empty cell (or no such column) leaves the product's stock as it is: a
/// price list without stock never starts, stops or changes stock kept elsewhere.
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
                "header: expected columns name,price[,barcode,sku,active,stock,low_stock], got {:?}",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        }]));
    };
    let (barcode_i, sku_i, active_i) = (col("barcode"), col("sku"), col("active"));
    let (stock_i, low_i) = (col("stock"), col("low_stock"));
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
            p.stock = stock_cell(get(stock_i), "stock")?;
            p.low_stock = stock_cell(get(low_i), "low_stock")?;
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

/// Writes products as a price list that `parse_price_list` reads back: the columns of
/// `PRICE_LIST_COLUMNS`, prices as plain shillings (`1250.50`), empty stock for a product
/// that keeps none.
pub fn write_price_list<W: std::io::Write>(products: &[Product], out: W) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(PRICE_LIST_COLUMNS)?;
    let num = |q: Option<i64>| q.map(|q| q.to_string()).unwrap_or_default();
    for p in products {
        w.write_record([
            p.name.clone(),
            p.price.plain(),
            p.barcode.clone().unwrap_or_default(),
            p.sku.clone().unwrap_or_default(),
            if p.active { "yes" } else { "no" }.to_string(),
            num(p.stock),
            num(p.low_stock),
        ])?;
    }
    w.flush()
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
            b"name,price,stock,stock,low_stock\nx,1,1,2\n",
            b"stock,low_stock\n1,2\n",
            b"name,price,stock\nx,1,\"1\n2\"\n",
        ] {
            let _ = parse_price_list("p.csv", data);
        }
        // Every header of the price list's columns with every cell below: whatever parses is
        // in range, whatever does not is a bad file naming its line.
        let cells = [
            "",
            "0",
            "7",
            " 12 ",
            "-1",
            "+3",
            "1.5",
            "1,000",
            "1e3",
            "abc",
            "\u{0663}",
            "\u{ff11}",
            "10000000",
            "10000001",
            "9223372036854775807",
            "99999999999999999999",
            "\"",
            "\0",
            "é🦀",
            "ndiyo",
        ];
        let headers = [
            "name,price,stock,low_stock",
            "low_stock,stock,price,name",
            "name,price,stock",
            "name,price,low_stock",
            "STOCK,Name,PRICE,Low_Stock",
        ];
        for header in headers {
            for a in cells {
                for b in cells {
                    let mut w = csv::WriterBuilder::new()
                        .flexible(true)
                        .from_writer(Vec::new());
                    w.write_record(header.split(',')).unwrap();
                    // Cells in header order, whatever it is: the stock ones get `a` and `b`.
                    let row: Vec<&str> = header
                        .split(',')
                        .map(|h| match h.to_ascii_lowercase().as_str() {
                            "name" => "Sugar",
                            "price" => "150",
                            "stock" => a,
                            _ => b,
                        })
                        .collect();
                    w.write_record(&row).unwrap();
                    w.write_record([a, b]).unwrap();
                    let data = w.into_inner().unwrap();
                    match parse_price_list("p.csv", &data) {
                        Ok(rows) => {
                            for (_, p) in rows {
                                for q in [p.stock, p.low_stock].into_iter().flatten() {
                                    assert!((0..=MAX_STOCK).contains(&q), "{header} {a:?} {b:?}");
                                }
                            }
                        }
                        Err(Error::BadFile { errors, .. }) => {
                            assert!(!errors.is_empty());
                            assert!(errors.iter().all(|e| e.line >= 2), "{errors:?}");
                        }
                        Err(e) => panic!("{header} {a:?} {b:?}: {e}"),
                    }
                }
            }
        }
    }

    #[test]
    fn reads_stock_and_its_low_line_and_leaves_empty_cells_alone() {
        let csv =
            "name,price,stock,low_stock\nSugar,150,24,6\nCharging,20,,\nMilk,60,0,\nTea,99,,3\n";
        let rows = parse_price_list("p.csv", csv.as_bytes()).unwrap();
        let stock: Vec<_> = rows.iter().map(|(_, p)| (p.stock, p.low_stock)).collect();
        assert_eq!(
            stock,
            [
                (Some(24), Some(6)),
                (None, None),
                (Some(0), None),
                (None, Some(3))
            ]
        );
        // Without the columns, nothing about stock is read.
        let rows = parse_price_list("p.csv", b"name,price\nSugar,150\n").unwrap();
        assert_eq!((rows[0].1.stock, rows[0].1.low_stock), (None, None));
    }

    #[test]
    fn a_bad_stock_cell_names_its_row_its_column_and_what_was_expected() {
        let csv = "name,price,stock,low_stock\nSugar,150,24,6\nMilk,60,-2,\nTea,99,1.5,x\nOil,380,,ten\nSalt,30,10000001,\n";
        let err = parse_price_list("p.csv", csv.as_bytes()).unwrap_err();
        let Error::BadFile { errors, .. } = &err else {
            panic!("{err}")
        };
        let got: Vec<(u64, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    3,
                    "stock: expected a whole number from 0 to 10,000,000, or empty, got \"-2\""
                ),
                (
                    4,
                    "stock: expected a whole number from 0 to 10,000,000, or empty, got \"1.5\""
                ),
                (
                    5,
                    "low_stock: expected a whole number from 0 to 10,000,000, or empty, got \"ten\""
                ),
                (
                    6,
                    "stock: expected a whole number from 0 to 10,000,000, or empty, got \"10000001\""
                ),
            ]
        );
        assert!(err.to_string().contains("nothing imported"), "{err}");
    }

    #[test]
    fn a_written_price_list_reads_back_with_its_stock() {
        let product =
            |id, name: &str, cents, barcode: Option<&str>, stock, low_stock, active| Product {
                id,
                name: name.into(),
                price: Money::from_cents(cents).unwrap(),
                barcode: barcode.map(Into::into),
                sku: None,
                active,
                stock,
                low_stock,
            };
        let products = [
            product(1, "Oil, 5L", 125_050, Some("6001"), Some(12), Some(3), true),
            product(2, "Charging \"fast\"", 2_000, None, None, None, false),
            product(3, "Milk", 6_000, Some("6002"), Some(0), None, true),
        ];
        let mut out = Vec::new();
        write_price_list(&products, &mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.starts_with("name,price,barcode,sku,active,stock,low_stock\n\"Oil, 5L\",1250.50,6001,,yes,12,3\n"),
            "{text}"
        );
        let rows = parse_price_list("p.csv", &out).unwrap();
        assert_eq!(rows.len(), 3);
        for ((_, n), p) in rows.iter().zip(&products) {
            assert_eq!(
                (
                    &n.name,
                    n.price,
                    &n.barcode,
                    &n.sku,
                    n.active,
                    n.stock,
                    n.low_stock
                ),
                (
                    &p.name,
                    p.price,
                    &p.barcode,
                    &p.sku,
                    p.active,
                    p.stock,
                    p.low_stock
                )
            );
        }
    }
}
