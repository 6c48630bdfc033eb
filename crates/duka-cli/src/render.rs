//! Text output for people. `--json` bypasses all of this.

use duka_core::catalog::Product;
use duka_core::config::Settings;
use duka_core::sale::Sale;
use duka_core::store::DayReport;
use duka_core::time::format_local;

pub fn print<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("serialisable")
        );
    } else {
        let text = human();
        if !text.is_empty() {
            println!("{text}");
        }
    }
}

pub fn products(list: &[Product]) -> String {
    if list.is_empty() {
        return "no products".into();
    }
    let mut s = format!(
        "{:>5}  {:<32} {:>16}  {:<14} {}\n",
        "id", "name", "price", "barcode", "sku"
    );
    for p in list {
        s += &format!(
            "{:>5}  {:<32} {:>16}  {:<14} {}{}\n",
            p.id,
            p.name,
            p.price.to_string(),
            p.barcode.as_deref().unwrap_or("-"),
            p.sku.as_deref().unwrap_or("-"),
            if p.active { "" } else { "  (inactive)" }
        );
    }
    s.trim_end().to_string()
}

pub fn sale(s: &Sale) -> String {
    let mut out = format!(
        "sale {}  {}  {}  cashier {}\n",
        s.id,
        s.status.as_str(),
        format_local(s.created_at),
        s.cashier
    );
    for l in &s.lines {
        out += &format!(
            "  {:>3} x {:<30} {:>16}\n",
            l.quantity,
            l.description,
            l.total.to_string()
        );
    }
    out += &format!("  {:<36} {:>16}\n", "TOTAL", s.total.to_string());
    for t in &s.tenders {
        let receipt = match (&t.receipt, t.verified) {
            (Some(r), true) => format!(" {r}"),
            (Some(r), false) => format!(" {r} (unverified)"),
            (None, _) => String::new(),
        };
        out += &format!(
            "  {:<36} {:>16}\n",
            format!("{}{receipt}", t.kind.label()),
            t.amount.to_string()
        );
    }
    if s.due.cents() > 0 {
        out += &format!("  {:<36} {:>16}\n", "DUE", s.due.to_string());
    }
    out.trim_end().to_string()
}

pub fn sales(list: &[Sale]) -> String {
    if list.is_empty() {
        return "no sales".into();
    }
    let mut s = format!(
        "{:>7}  {:<19}  {:<16} {:<16} {:>16}\n",
        "id", "time", "status", "cashier", "total"
    );
    for x in list {
        s += &format!(
            "{:>7}  {:<19}  {:<16} {:<16} {:>16}\n",
            x.id,
            format_local(x.created_at),
            x.status.as_str(),
            x.cashier,
            x.total.to_string()
        );
    }
    s.trim_end().to_string()
}

pub fn day_report(r: &DayReport) -> String {
    let mut s = format!("Day report {}\n", r.date);
    s += &format!(
        "  sales paid: {}   value: {}   money taken: {}\n",
        r.sales_paid, r.sales_total, r.taken
    );
    s += "\n  By tender\n";
    for t in &r.by_tender {
        s += &format!(
            "    {:<16} {:>5}  {:>16}\n",
            t.kind.label(),
            t.count,
            t.amount.to_string()
        );
    }
    s += "\n  By cashier\n";
    for c in &r.by_cashier {
        s += &format!(
            "    {:<16} {:>5}  {:>16}\n",
            c.cashier,
            c.count,
            c.amount.to_string()
        );
    }
    s += &format!("\n  M-Pesa receipts ({})\n", r.mpesa_receipts.len());
    for m in &r.mpesa_receipts {
        s += &format!(
            "    {}  {:<10} {:<12} {:>16}  {:<12} sale {}{}\n",
            &format_local(m.at)[11..],
            m.receipt.as_deref().unwrap_or("(pending)"),
            m.phone.as_deref().unwrap_or("-"),
            m.amount.to_string(),
            m.cashier,
            m.sale_id,
            if m.verified { "" } else { "  unverified" }
        );
    }
    if r.open_attempts > 0 || r.flagged_attempts > 0 {
        s += &format!(
            "\n  Attention: {} M-Pesa request(s) not final, {} flagged\n",
            r.open_attempts, r.flagged_attempts
        );
    }
    s.trim_end().to_string()
}

pub fn settings(s: &Settings, backend: &str, has_credentials: bool) -> String {
    // Every setting of the key table, in its order: nothing is listed by hand.
    let mut lines: Vec<String> = s
        .rows()
        .into_iter()
        .map(|(name, value, src)| {
            format!(
                "{name:<16} {:<40} ({})",
                value.unwrap_or_else(|| "-".into()),
                format!("{src:?}").to_lowercase()
            )
        })
        .collect();
    lines.push(format!(
        "{:<16} {:<40} ({backend} secret store)",
        "credentials",
        if has_credentials { "set" } else { "not set" }
    ));
    lines.join("\n")
}
