//! Slips other than a sale's receipt: a refund (its own record, its own slip) and a shift's
//! Z-report, printed on the receipt printer or saved as PDF.

use super::layout::{Printable, Style, center, indent, pair, wrap};
use crate::money::Money;
use crate::refund::RefundState;
use crate::store::{Refund, Tally, ZReport};
use crate::time::format_local;

/// counted − expected in words: `short KES 30.00`, `over KES 5.00`, `exact`; `-` while the
/// shift is open.
pub fn difference_text(cents: Option<i64>) -> String {
    let amount = |c: i64| {
        Money::from_cents(c.unsigned_abs().min(i64::MAX as u64) as i64)
            .map_or(format!("{c} cents"), |m| m.to_string())
    };
    match cents {
        None => "-".into(),
        Some(0) => "exact".into(),
        Some(c) if c < 0 => format!("short {}", amount(c)),
        Some(c) => format!("over {}", amount(c)),
    }
}

/// Where a refund's money went, as a customer reads it.
pub fn refund_destination(r: &Refund) -> String {
    match r.kind.as_str() {
        "cash" => "Cash".into(),
        "manual" => match &r.receipt {
            Some(code) if r.verified => format!("M-Pesa sent by the shop, code {code}"),
            Some(code) => format!("M-Pesa sent by the shop, code {code} (unverified)"),
            None => "M-Pesa sent by the shop".into(),
        },
        "mpesa" => match &r.original_receipt {
            Some(orig) => format!("M-Pesa reversal of {orig}"),
            None => "M-Pesa reversal".into(),
        },
        other => other.to_string(),
    }
}

/// A refund's slip, for the customer and the drawer.
#[derive(Debug, Clone)]
pub struct RefundSlip {
    pub shop: String,
    pub refund: Refund,
}

impl Printable for RefundSlip {
    fn layout(&self, width: usize) -> Vec<(Style, String)> {
        let w = width.clamp(24, 64);
        let r = &self.refund;
        let mut out = Vec::new();
        let mut add = |style, lines: Vec<String>| out.extend(lines.into_iter().map(|l| (style, l)));
        let shop = Some(self.shop.trim()).filter(|s| !s.is_empty());
        add(Style::Title, center(shop.unwrap_or("Duka"), w));
        add(Style::Bold, center("REFUND", w));
        add(
            Style::Body,
            wrap(&format!("Refund #{} of sale #{}", r.id, r.sale_id), w),
        );
        add(Style::Body, wrap(&format_local(r.created_at), w));
        add(Style::Body, wrap(&format!("By: {}", r.cashier), w));
        add(Style::Body, wrap(&format!("Reason: {}", r.reason), w));
        add(Style::Body, vec!["-".repeat(w)]);
        for l in &r.lines {
            add(Style::Body, pair(&l.description, l.amount, w));
            if l.quantity > 1 {
                add(Style::Body, indent(&format!("{} returned", l.quantity), w));
            }
            if l.restock {
                add(Style::Body, indent("back in stock", w));
            }
        }
        add(Style::Body, vec!["-".repeat(w)]);
        add(Style::Bold, pair("REFUNDED", r.amount, w));
        add(
            Style::Body,
            wrap(&format!("To: {}", refund_destination(r)), w),
        );
        let state = match r.state {
            RefundState::Done => None,
            RefundState::Requested | RefundState::Accepted => Some("sent, waiting for M-Pesa"),
            RefundState::Reversed => Some("reversed by M-Pesa"),
            RefundState::Failed => Some("FAILED: no money went back"),
            RefundState::Unknown => Some("not confirmed yet"),
        };
        if let Some(s) = state {
            add(Style::Body, wrap(&format!("Status: {s}"), w));
        }
        if let (Some(receipt), "mpesa") = (&r.receipt, r.kind.as_str()) {
            add(Style::Body, indent(&format!("Receipt: {receipt}"), w));
        }
        add(Style::Body, vec![String::new()]);
        add(Style::Body, center("Thank you", w));
        out
    }
}

/// A shift's Z-report on paper: the drawer's sum (float to difference), then what the shift
/// did.
#[derive(Debug, Clone)]
pub struct ZReportSlip {
    pub shop: String,
    pub z: ZReport,
}

impl Printable for ZReportSlip {
    fn layout(&self, width: usize) -> Vec<(Style, String)> {
        let w = width.clamp(24, 64);
        let z = &self.z;
        let s = &z.shift;
        let mut out = Vec::new();
        let mut add = |style, lines: Vec<String>| out.extend(lines.into_iter().map(|l| (style, l)));
        let tally = |label: &str, t: &Tally| pair(&format!("{label} ({})", t.count), t.amount, w);
        let text = |label: &str, value: String| {
            let room = w.saturating_sub(label.len() + 1);
            if value.chars().count() <= room {
                vec![format!("{label}{value:>width$}", width = w - label.len())]
            } else {
                let mut lines = wrap(label, w);
                lines.extend(indent(&value, w));
                lines
            }
        };
        let shop = Some(self.shop.trim()).filter(|s| !s.is_empty());
        add(Style::Title, center(shop.unwrap_or("Duka"), w));
        add(Style::Bold, center("Z-REPORT", w));
        add(
            Style::Body,
            wrap(&format!("Shift #{} ({})", s.id, s.cashier), w),
        );
        add(
            Style::Body,
            wrap(&format!("Opened {}", format_local(s.opened_at)), w),
        );
        match s.closed_at {
            Some(at) => {
                let by = s.closed_by.as_deref().unwrap_or("-");
                add(
                    Style::Body,
                    wrap(&format!("Closed {} by {by}", format_local(at)), w),
                );
            }
            None => add(Style::Bold, center("*** SHIFT STILL OPEN ***", w)),
        }
        add(Style::Body, vec!["-".repeat(w)]);
        add(Style::Body, pair("Float", s.float, w));
        add(Style::Body, pair("Cash sales", z.cash_sales, w));
        add(Style::Body, pair("Cash refunds", z.cash_refunds, w));
        add(Style::Body, tally("Pay-outs", &z.pay_outs));
        add(Style::Body, tally("Cash in", &z.cash_in));
        add(Style::Bold, pair("EXPECTED CASH", z.expected_cash, w));
        let counted = z.counted_cash.map_or("-".into(), |c| c.to_string());
        add(Style::Bold, text("COUNTED", counted));
        add(
            Style::Bold,
            text("DIFFERENCE", difference_text(z.difference_cents)),
        );
        add(Style::Body, vec!["-".repeat(w)]);
        add(Style::Body, tally("Sales paid", &z.sales));
        add(Style::Body, tally("M-Pesa confirmed", &z.mpesa_confirmed));
        add(Style::Body, tally("M-Pesa still open", &z.mpesa_open));
        add(Style::Body, tally("Codes unverified", &z.codes_unverified));
        add(Style::Body, tally("Refunds", &z.refunds));
        add(Style::Body, pair("Discounts", z.discounts, w));
        add(Style::Body, tally("Voids", &z.voids));
        add(
            Style::Body,
            text("Drawer opens", z.drawer_opens.to_string()),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refund::RefundState;
    use crate::store::{RefundLine, Shift};

    fn m(cents: i64) -> Money {
        Money::from_cents(cents).unwrap()
    }

    fn tally(count: i64, cents: i64) -> Tally {
        Tally {
            count,
            amount: m(cents),
        }
    }

    fn z(counted: Option<i64>) -> ZReport {
        ZReport {
            shift: Shift {
                id: 7,
                cashier: "Wanjiku".into(),
                opened_at: 1_764_748_800_000,
                float: m(200_000),
                closed_at: counted.map(|_| 1_764_780_000_000),
                closed_by: counted.map(|_| "Wanjiku".into()),
                counted: counted.map(m),
                expected: counted.map(|_| m(455_000)),
            },
            sales: tally(12, 1_234_500),
            cash_sales: m(300_000),
            cash_refunds: m(15_000),
            pay_outs: tally(1, 30_000),
            cash_in: tally(0, 0),
            expected_cash: m(455_000),
            counted_cash: counted.map(m),
            difference_cents: counted.map(|c| c - 455_000),
            mpesa_confirmed: tally(9, 934_500),
            mpesa_open: tally(1, 5_000),
            codes_unverified: tally(2, 20_000),
            refunds: tally(1, 15_000),
            discounts: m(5_000),
            voids: tally(1, 0),
            drawer_opens: 3,
        }
    }

    #[test]
    fn z_report_slip_adds_up_on_paper_and_fits_every_width() {
        let slip = ZReportSlip {
            shop: "Mama Njeri's Duka".into(),
            z: z(Some(452_000)),
        };
        for w in [24, 32, 42, 48, 64] {
            let text = slip.text(w);
            assert!(
                text.iter().all(|l| l.chars().count() <= w),
                "{w}: {text:#?}"
            );
            let has = |start: &str, end: &str| {
                text.iter()
                    .any(|l| l.trim_start().starts_with(start) && l.ends_with(end))
            };
            if w < 32 {
                continue; // 24 columns wrap the labels; the width check above still holds
            }
            assert!(has("EXPECTED CASH", "KES 4,550.00"), "{w}: {text:#?}");
            assert!(has("COUNTED", "KES 4,520.00"), "{w}: {text:#?}");
            assert!(
                has("DIFFERENCE", "short KES 30.00") || w < 32,
                "{w}: {text:#?}"
            );
            assert!(has("Pay-outs (1)", "KES 300.00"), "{w}: {text:#?}");
            assert!(has("M-Pesa still open (1)", "KES 50.00"), "{w}: {text:#?}");
            assert!(has("Drawer opens", "3"), "{w}: {text:#?}");
        }
        let open = ZReportSlip {
            shop: String::new(),
            z: z(None),
        };
        let text = open.text(42);
        assert!(
            text.iter().any(|l| l.contains("SHIFT STILL OPEN")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|l| l.starts_with("COUNTED") && l.ends_with('-'))
        );
        // ESC/POS and PDF come from the same layout.
        assert!(open.escpos(42).ends_with(b"\x1Bd\x04\x1DV\x00"));
        assert!(open.pdf().starts_with(b"%PDF-1.4"));
    }

    #[test]
    fn difference_says_short_over_or_exact() {
        assert_eq!(difference_text(None), "-");
        assert_eq!(difference_text(Some(0)), "exact");
        assert_eq!(difference_text(Some(-3_000)), "short KES 30.00");
        assert_eq!(difference_text(Some(550)), "over KES 5.50");
        // Never panics, even on a figure no drawer holds.
        assert!(difference_text(Some(i64::MIN)).contains("short"));
    }

    fn refund(kind: &str, state: RefundState) -> Refund {
        Refund {
            id: 3,
            sale_id: 41,
            shift_id: Some(7),
            kind: kind.into(),
            amount: m(30_000),
            reason: "Broken seal".into(),
            cashier: "Amina".into(),
            state,
            original_receipt: Some("TKA1B2C3D4".into()),
            conversation_id: None,
            result_code: None,
            result_desc: None,
            receipt: (kind != "cash").then(|| "TKR9Z8Y7X6".into()),
            verified: false,
            flag: None,
            lines: vec![RefundLine {
                line_no: 2,
                description: "Cooking oil 1L".into(),
                quantity: 2,
                amount: m(30_000),
                restock: true,
            }],
            created_at: 1_764_750_000_000,
            updated_at: 1_764_750_000_000,
        }
    }

    #[test]
    fn a_refund_slip_says_what_went_back_where() {
        let cash = RefundSlip {
            shop: "Duka".into(),
            refund: refund("cash", RefundState::Done),
        }
        .text(32);
        assert!(
            cash.iter().any(|l| l.contains("Refund #3 of sale #41")),
            "{cash:#?}"
        );
        assert!(
            cash.iter()
                .any(|l| l.starts_with("REFUNDED") && l.ends_with("KES 300.00"))
        );
        assert!(cash.iter().any(|l| l == "To: Cash"), "{cash:#?}");
        assert!(cash.iter().any(|l| l.contains("back in stock")));
        assert!(!cash.iter().any(|l| l.starts_with("Status")));

        let mpesa = RefundSlip {
            shop: "Duka".into(),
            refund: refund("mpesa", RefundState::Reversed),
        }
        .text(42);
        assert!(
            mpesa.iter().any(|l| l.contains("reversal of TKA1B2C3D4")),
            "{mpesa:#?}"
        );
        assert!(mpesa.iter().any(|l| l.contains("reversed by M-Pesa")));
        assert!(mpesa.iter().any(|l| l.contains("Receipt: TKR9Z8Y7X6")));

        let failed = RefundSlip {
            shop: "Duka".into(),
            refund: refund("mpesa", RefundState::Failed),
        }
        .text(42);
        assert!(failed.iter().any(|l| l.contains("FAILED")), "{failed:#?}");

        let manual = RefundSlip {
            shop: "Duka".into(),
            refund: refund("manual", RefundState::Done),
        }
        .text(48);
        let joined = manual.join(" ");
        assert!(
            joined.contains("code TKR9Z8Y7X6 (unverified)"),
            "{manual:#?}"
        );
    }
}
