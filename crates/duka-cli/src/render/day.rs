//! Text for a shop's day: shifts and their Z-reports, the day close, the drawer, parked
//! sales, refunds, stock.

use duka_core::catalog::Product;
use duka_core::sale::Sale;
use duka_core::store::{
    DayClose, DrawerKind, DrawerMove, Refund, Shift, StockMove, Tally, ZReport,
};
use duka_core::time::format_local;

pub fn shift_opened(s: &Shift) -> String {
    format!(
        "shift {} opened by {} with a float of {}",
        s.id, s.cashier, s.float
    )
}

/// counted − expected: "short KES 30.00", "over KES 5.00", "exact"; "-" while open.
pub fn difference(cents: Option<i64>) -> String {
    duka_core::receipt::difference_text(cents)
}

fn row(label: &str, value: impl std::fmt::Display) -> String {
    format!("  {label:<28} {:>16}\n", value.to_string())
}

fn tally(label: &str, t: &Tally) -> String {
    row(&format!("{label} ({})", t.count), t.amount)
}

/// A shift's report: the drawer's sum first (float to difference), then what the shift did.
pub fn z_report(z: &ZReport) -> String {
    let s = &z.shift;
    let mut out = format!("Z-report, shift {} ({})\n", s.id, s.cashier);
    out += &match s.closed_at {
        Some(at) => format!(
            "  opened {}, closed {} by {}\n",
            format_local(s.opened_at),
            format_local(at),
            s.closed_by.as_deref().unwrap_or("-")
        ),
        None => format!(
            "  opened {}, still open (no count yet)\n",
            format_local(s.opened_at)
        ),
    };
    out += &row("Float", s.float);
    out += &row("Cash sales", z.cash_sales);
    out += &row("Cash refunds", z.cash_refunds);
    out += &tally("Pay-outs", &z.pay_outs);
    out += &tally("Cash in", &z.cash_in);
    out += &row("Expected in the drawer", z.expected_cash);
    let counted = z.counted_cash.map_or("-".into(), |c| c.to_string());
    out += &row("Counted", counted);
    out += &row("Difference", difference(z.difference_cents));
    out += "\n";
    out += &tally("Sales paid", &z.sales);
    out += &tally("M-Pesa confirmed", &z.mpesa_confirmed);
    out += &tally("M-Pesa still open", &z.mpesa_open);
    out += &tally("Codes unverified", &z.codes_unverified);
    out += &tally("Refunds", &z.refunds);
    out += &row("Discounts", z.discounts);
    out += &tally("Voids", &z.voids);
    out += &row("Drawer opens", z.drawer_opens);
    out.trim_end().to_string()
}

/// The day close: one line per shift, the day's sums, and what is still open.
pub fn day_close(d: &DayClose) -> String {
    let mut out = format!("Day close {}\n", d.date);
    if d.shifts.is_empty() {
        out += "  no shifts\n";
    }
    for z in &d.shifts {
        let counted = z.counted_cash.map_or("-".into(), |c| c.to_string());
        out += &format!(
            "  shift {:<5} {:<16} expected {:>14}  counted {:>14}  {}\n",
            z.shift.id,
            z.shift.cashier,
            z.expected_cash.to_string(),
            counted,
            match z.shift.closed_at {
                Some(_) => difference(z.difference_cents),
                None => "still open".into(),
            }
        );
    }
    out += "\n";
    out += &row("Expected cash", d.expected_cash);
    out += &row("Counted cash", d.counted_cash);
    out += &row("Difference", difference(Some(d.difference_cents)));
    out += &row("Cash sales", d.cash_sales);
    out += &row("Cash outside shifts", d.cash_outside_shifts);
    out += &tally("Refunds outside shifts", &d.refunds_outside_shifts);
    out += &row("Drawer opens outside shifts", d.drawer_opens_outside_shifts);
    out += &tally("M-Pesa confirmed", &d.mpesa_confirmed);
    out += &tally("Refunds", &d.refunds);
    out += &row("Discounts", d.discounts);
    out += &tally("Voids", &d.voids);
    out += &tally("Pay-outs", &d.pay_outs);
    out += &tally("Cash in", &d.cash_in);
    out += &format!(
        "\n  Still open: {} shift(s), {} M-Pesa request(s), {} code(s) unverified ({}), {} reversal(s)",
        d.open_shifts,
        d.open_attempts,
        d.codes_unverified.count,
        d.codes_unverified.amount,
        d.open_reversals
    );
    out
}

pub fn drawer_moved(m: &DrawerMove) -> String {
    let shift = m
        .shift_id
        .map_or(" (no shift open)".into(), |s| format!(" in shift {s}"));
    match m.kind {
        DrawerKind::PayOut => format!("pay-out of {}{shift}: {}", m.amount, m.reason),
        DrawerKind::CashIn => format!("cash in of {}{shift}: {}", m.amount, m.reason),
        DrawerKind::Open => format!("drawer opened by {}{shift}: {}", m.cashier, m.reason),
    }
}

pub fn parked(s: &Sale) -> String {
    format!(
        "sale {} parked ({} due): `duka sale recall {}` brings it back",
        s.id, s.due, s.id
    )
}

pub fn parked_sales(list: &[Sale]) -> String {
    if list.is_empty() {
        return "no parked sales".into();
    }
    super::sales(list)
}

/// A refund: how much, where it went, and its lines.
pub fn refunded(r: &Refund) -> String {
    let to = match (r.kind.as_str(), &r.receipt) {
        ("cash", _) => "to cash".to_string(),
        ("manual", Some(code)) if r.verified => format!("paid back by hand, code {code} (seen)"),
        ("manual", Some(code)) => format!("paid back by hand, code {code} (unverified)"),
        ("mpesa", _) => "by M-Pesa reversal".to_string(),
        (kind, _) => kind.to_string(),
    };
    let mut out = format!(
        "refund {} of sale {}: {} {to} ({}), by {} at {}: {}\n",
        r.id,
        r.sale_id,
        r.amount,
        r.state.as_str(),
        r.cashier,
        format_local(r.created_at),
        r.reason
    );
    for l in &r.lines {
        out += &format!(
            "  #{:<3} {:>3} x {:<30} {:>16}{}\n",
            l.line_no,
            l.quantity,
            l.description,
            l.amount.to_string(),
            if l.restock { "  back in stock" } else { "" }
        );
    }
    if let Some(f) = &r.flag {
        out += &format!("  FLAGGED: {f}\n");
    }
    out.trim_end().to_string()
}

pub fn refunds(sale: i64, list: &[Refund]) -> String {
    if list.is_empty() {
        return format!("sale {sale} has no refunds");
    }
    list.iter().map(refunded).collect::<Vec<_>>().join("\n")
}

/// A product's stock for the product list: "-" when it keeps none, "LOW" at or below its line.
pub fn stock(p: &Product) -> String {
    match (p.stock, p.low_stock) {
        (None, _) => "-".into(),
        (Some(q), Some(low)) if q <= low => format!("{q} LOW"),
        (Some(q), _) => q.to_string(),
    }
}

pub fn stock_kept(p: &Product) -> String {
    match (p.stock, p.low_stock) {
        (None, _) => format!("product {} ({}): stock no longer kept", p.id, p.name),
        (Some(q), None) => format!("product {} ({}): {q} in stock", p.id, p.name),
        (Some(q), Some(low)) => format!(
            "product {} ({}): {q} in stock, on the low-stock list at {low} or below",
            p.id, p.name
        ),
    }
}

pub fn stock_counted(m: &StockMove, counted: i64) -> String {
    format!(
        "product {} counted: {counted} in stock ({:+} against what Duka had): {}",
        m.product_id,
        m.delta,
        m.reason.as_deref().unwrap_or("-")
    )
}

pub fn low_stock(list: &[Product]) -> String {
    if list.is_empty() {
        return "nothing is low on stock".into();
    }
    let mut s = format!(
        "{:>5}  {:<32} {:>8} {:>8}\n",
        "id", "name", "stock", "low at"
    );
    for p in list {
        s += &format!(
            "{:>5}  {:<32} {:>8} {:>8}\n",
            p.id,
            p.name,
            p.stock.unwrap_or_default(),
            p.low_stock.unwrap_or_default()
        );
    }
    s.trim_end().to_string()
}

pub fn stock_moves(product: i64, list: &[StockMove]) -> String {
    if list.is_empty() {
        return format!("product {product} has no stock moves");
    }
    let mut s = format!(
        "{:<19}  {:<7} {:>7}  {:>6}  {:<16} {}\n",
        "time", "kind", "change", "ref", "by", "reason"
    );
    for m in list {
        s += &format!(
            "{:<19}  {:<7} {:>+7}  {:>6}  {:<16} {}\n",
            format_local(m.at),
            m.kind,
            m.delta,
            m.reference.map_or("-".into(), |r| r.to_string()),
            m.cashier.as_deref().unwrap_or("-"),
            m.reason.as_deref().unwrap_or("")
        );
    }
    s.trim_end().to_string()
}
