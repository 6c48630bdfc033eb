//! `sale new` lines from the order of the flags: each `--item` or `--barcode` starts a line,
//! and the `--price` and `--qty` that follow it (before the next line) belong to it.

use crate::ctx::invalid;
use duka_core::store::RefundLineInput;
use duka_core::till::LineInput;

#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    Item(String),
    Barcode(String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct LineSpec {
    pub start: Start,
    pub price: Option<String>,
    pub qty: Option<String>,
}

pub fn from_matches(m: &clap::ArgMatches) -> anyhow::Result<Vec<LineSpec>> {
    let mut flags: Vec<(usize, &'static str, String)> = Vec::new();
    for name in ["item", "barcode", "price", "qty"] {
        if let (Some(idx), Some(vals)) = (m.indices_of(name), m.get_many::<String>(name)) {
            flags.extend(idx.zip(vals).map(|(i, v)| (i, name, v.clone())));
        }
    }
    flags.sort_by_key(|f| f.0);
    build(flags.into_iter().map(|(_, n, v)| (n, v)))
}

pub fn build(
    flags: impl IntoIterator<Item = (&'static str, String)>,
) -> anyhow::Result<Vec<LineSpec>> {
    let mut out: Vec<LineSpec> = Vec::new();
    for (name, value) in flags {
        match name {
            "item" | "barcode" => out.push(LineSpec {
                start: if name == "item" {
                    Start::Item(value)
                } else {
                    Start::Barcode(value)
                },
                price: None,
                qty: None,
            }),
            _ => {
                let Some(line) = out.last_mut() else {
                    return Err(invalid(name, "it after an --item or --barcode", value));
                };
                let slot = if name == "price" {
                    &mut line.price
                } else {
                    &mut line.qty
                };
                if slot.is_some() {
                    return Err(invalid(
                        name,
                        format!(
                            "one --{name} per line (start a new line with --item or --barcode)"
                        ),
                        value,
                    ));
                }
                *slot = Some(value);
            }
        }
    }
    if out.is_empty() {
        return Err(invalid(
            "item",
            "at least one --item \"NAME\" --price P or --barcode CODE",
            "",
        ));
    }
    Ok(out)
}

/// The one line of `sale add-line`: `--item NAME --price P` or `--barcode CODE`, and `--qty`.
pub fn one(
    item: Option<&str>,
    barcode: Option<&str>,
    price: Option<&str>,
    qty: Option<&str>,
) -> anyhow::Result<LineInput> {
    let start = match (item, barcode) {
        (Some(name), _) => Start::Item(name.into()),
        (None, Some(code)) => Start::Barcode(code.into()),
        (None, None) => {
            return Err(invalid(
                "item",
                "--item \"NAME\" --price P or --barcode CODE",
                "",
            ));
        }
    };
    let spec = LineSpec {
        start,
        price: price.map(str::to_string),
        qty: qty.map(str::to_string),
    };
    let mut lines = inputs(std::slice::from_ref(&spec))?;
    Ok(lines.remove(0))
}

/// A quantity as typed (`--qty`): a whole number (the Till checks its range).
pub fn quantity(typed: &str) -> anyhow::Result<i64> {
    typed.trim().parse::<i64>().map_err(|_| {
        invalid(
            "qty",
            format!("a whole number from 1 to {}", duka_core::sale::MAX_QTY),
            typed,
        )
    })
}

/// A line of `refund --line`: `LINE:QTY`, or `LINE:QTY:restock` when the goods come back to
/// stock (the Till checks the line and how many of it are left).
pub fn refund_line(typed: &str) -> anyhow::Result<RefundLineInput> {
    let bad = || {
        invalid(
            "line",
            "LINE:QTY or LINE:QTY:restock, e.g. 2:1:restock",
            typed,
        )
    };
    let mut parts = typed.trim().split(':');
    let mut number = || parts.next().and_then(|p| p.trim().parse::<i64>().ok());
    let (Some(line_no), Some(quantity)) = (number(), number()) else {
        return Err(bad());
    };
    let restock = match (parts.next().map(str::trim), parts.next()) {
        (None, _) => false,
        (Some("restock"), None) => true,
        _ => return Err(bad()),
    };
    Ok(RefundLineInput {
        line_no,
        quantity,
        restock,
    })
}

/// Turns specs into the Till's line inputs (products are looked up by barcode or SKU there).
pub fn inputs(specs: &[LineSpec]) -> anyhow::Result<Vec<LineInput>> {
    specs
        .iter()
        .map(|s| {
            let quantity = s.qty.as_deref().map(quantity).transpose()?.unwrap_or(1);
            Ok(match &s.start {
                Start::Item(name) => {
                    if s.price.is_none() {
                        return Err(invalid(
                            "price",
                            format!("--price after --item {name:?}"),
                            "",
                        ));
                    }
                    LineInput {
                        description: Some(name.clone()),
                        price: s.price.clone(),
                        quantity,
                        ..Default::default()
                    }
                }
                Start::Barcode(code) => LineInput {
                    code: Some(code.clone()),
                    price: s.price.clone(),
                    quantity,
                    ..Default::default()
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: &'static str, v: &str) -> (&'static str, String) {
        (n, v.to_string())
    }

    #[test]
    fn flags_attach_to_the_line_before_them() {
        let specs = build([
            f("item", "Sugar"),
            f("price", "150"),
            f("qty", "2"),
            f("barcode", "6001"),
            f("qty", "3"),
        ])
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].price.as_deref(), Some("150"));
        assert_eq!(specs[1].start, Start::Barcode("6001".into()));
        assert_eq!(specs[1].qty.as_deref(), Some("3"));
        assert_eq!(specs[1].price, None);
    }

    #[test]
    fn refund_lines_name_the_line_the_quantity_and_the_restock() {
        let l = refund_line("2:3").unwrap();
        assert_eq!((l.line_no, l.quantity, l.restock), (2, 3, false));
        assert!(refund_line(" 1:2:restock ").unwrap().restock);
        for bad in ["", "2", "2:", "x:1", "2:1:back", "2:1:restock:x", "2:1.5"] {
            let e = refund_line(bad).unwrap_err().to_string();
            assert!(e.starts_with("line: expected LINE:QTY"), "{bad}: {e}");
        }
    }

    #[test]
    fn misplaced_flags_are_named() {
        let e = build([f("price", "1"), f("item", "x")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("price: expected it after an --item"), "{e}");
        let e = build([f("item", "x"), f("qty", "1"), f("qty", "2")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("qty: expected one --qty per line"), "{e}");
        assert!(build([]).unwrap_err().to_string().starts_with("item:"));
    }
}
