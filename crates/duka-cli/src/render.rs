//! Text output for people. `--json` bypasses all of this. A shop's day (shifts, the drawer,
//! refunds, stock) is in `render/day.rs`.

mod day;
pub use day::*;

use std::path::Path;

use duka_core::Money;
use duka_core::catalog::Product;
use duka_core::config::{Environment, Mode, Settings};
use duka_core::engine::Reconciled;
use duka_core::payment::AttemptState;
use duka_core::sale::Sale;
use duka_core::secrets::SecretKey;
use duka_core::store::{
    Attempt, Cashier, DayReport, ImportSummary, IncomingPayment, PaymentEventRow, PinLock,
    SaleEdit, pin_lock,
};
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
        "{:>5}  {:<32} {:>16}  {:<14} {:<14} {}\n",
        "id", "name", "price", "barcode", "sku", "stock"
    );
    for p in list {
        s += &format!(
            "{:>5}  {:<32} {:>16}  {:<14} {:<14} {}{}\n",
            p.id,
            p.name,
            p.price.to_string(),
            p.barcode.as_deref().unwrap_or("-"),
            p.sku.as_deref().unwrap_or("-"),
            stock(p),
            if p.active { "" } else { "  (inactive)" }
        );
    }
    s.trim_end().to_string()
}

/// A sale: its lines by number (`sale remove-line` and `sale set-qty` name them), total,
/// tenders and what is due.
pub fn sale(s: &Sale) -> String {
    let mut out = format!(
        "sale {}  {}{}  {}  cashier {}\n",
        s.id,
        s.status.as_str(),
        if s.parked { " (parked)" } else { "" },
        format_local(s.created_at),
        s.cashier
    );
    if let Some(why) = &s.void_reason {
        match &s.voided_by {
            Some(by) => out += &format!("  voided by {by}: {why}\n"),
            None => out += &format!("  voided: {why}\n"),
        }
    }
    for l in &s.lines {
        out += &format!(
            "  #{:<3} {:>3} x {:<30} {:>16}\n",
            l.line_no,
            l.quantity,
            l.description,
            l.total.to_string()
        );
        if l.discount.cents() > 0 {
            let off = format!("-{}", l.discount);
            out += &format!("  {:<41} {off:>16}\n", "       discount");
        }
    }
    if s.discount.cents() > 0 {
        let off = format!("-{}", s.discount);
        out += &format!("  {:<41} {off:>16}\n", "DISCOUNT");
    }
    out += &format!("  {:<41} {:>16}\n", "TOTAL", s.total.to_string());
    for t in &s.tenders {
        let receipt = match (&t.receipt, t.verified) {
            (Some(r), true) => format!(" {r}"),
            (Some(r), false) => format!(" {r} (unverified)"),
            (None, _) => String::new(),
        };
        out += &format!(
            "  {:<41} {:>16}\n",
            format!("{}{receipt}", t.kind.label()),
            t.amount.to_string()
        );
    }
    if s.due.cents() > 0 {
        out += &format!("  {:<41} {:>16}\n", "DUE", s.due.to_string());
    }
    if s.refunded.cents() > 0 {
        out += &format!("  {:<41} {:>16}\n", "REFUNDED", s.refunded.to_string());
    }
    out.trim_end().to_string()
}

/// A sale rung up (and paid in cash, with this change to hand back).
pub fn sale_with_change(s: &Sale, change: Option<Money>) -> String {
    match change {
        Some(ch) => format!("{}\nchange: {ch}", sale(s)),
        None => sale(s),
    }
}

/// A sale a tender was taken for: the change first (cash), then the sale.
pub fn paid(s: &Sale, change: Option<Money>) -> String {
    match change {
        Some(ch) => format!("change: {ch}\n{}", sale(s)),
        None => sale(s),
    }
}

/// `sale show`: the sale and the corrections made to it, one a line.
pub fn sale_shown(s: &Sale, edits: &[SaleEdit]) -> String {
    let mut out = sale(s);
    if !edits.is_empty() {
        out += "\n  Corrections";
        for e in edits {
            out += &format!("\n    {}", edit(e));
        }
    }
    out
}

pub fn edit(e: &SaleEdit) -> String {
    let qty = |q: Option<i64>| q.map(|q| q.to_string()).unwrap_or_else(|| "-".into());
    let what = match e.action.as_str() {
        "add" => format!(
            "added line {}: {} x {}",
            e.line_no,
            qty(e.after_qty),
            e.description
        ),
        "remove" => format!(
            "removed line {}: {} x {}",
            e.line_no,
            qty(e.before_qty),
            e.description
        ),
        _ => format!(
            "line {} ({}): quantity {} → {}",
            e.line_no,
            e.description,
            qty(e.before_qty),
            qty(e.after_qty)
        ),
    };
    format!(
        "{}  {:<16} {what}; total {} → {}",
        format_local(e.at),
        e.cashier,
        e.total_before,
        e.total_after
    )
}

pub fn voided(s: &Sale) -> String {
    format!("sale {} voided", s.id)
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
    if r.discounts != Money::ZERO {
        s += &format!("  discounts given: {}\n", r.discounts);
    }
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

pub fn product_added(p: &Product) -> String {
    format!("product {} added: {} at {}", p.id, p.name, p.price)
}

pub fn imported(file: &Path, sum: &ImportSummary) -> String {
    format!(
        "{}: {} added, {} updated",
        file.display(),
        sum.inserted,
        sum.updated
    )
}

pub fn cashier_added(c: &Cashier) -> String {
    format!("cashier {} added ({}), id {}", c.name, c.role, c.id)
}

pub fn cashiers(list: &[Cashier]) -> String {
    list.iter()
        .map(|c| {
            let lock = match pin_lock(c.pin_failures) {
                PinLock::Open => String::new(),
                _ => format!("  ({} wrong PINs: locked)", c.pin_failures),
            };
            format!("{:>4}  {:<24} {}{lock}", c.id, c.name, c.role)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn pin_set(c: &Cashier) -> String {
    format!("PIN set for {}", c.name)
}

pub fn unlocked(c: &Cashier) -> String {
    format!("{} may sign in again", c.name)
}

/// `duka init` is done.
pub fn ready(data_dir: &Path, schema_version: &serde_json::Value) -> String {
    format!(
        "Duka is ready in {} (schema v{schema_version}).",
        data_dir.display()
    )
}

/// `config set KEY VALUE`, and what a shop till still lacks to take M-Pesa payments.
pub fn setting(key: &str, value: Option<&str>, missing: Option<&str>) -> String {
    let mut s = format!("{key} = {}", value.unwrap_or_default());
    if let Some(m) = missing {
        s += &format!("\nnote: not ready for M-Pesa yet: {m}");
    }
    s
}

/// `config set environment E`: the environment and the till it runs; `kept`: the shop's till
/// was set up already, and was only switched to with the environment it has.
pub fn environment_set(environment: Environment, till: Mode, kept: Option<&str>) -> String {
    let mut s = format!(
        "environment = {} ({} till)",
        environment.as_str(),
        till.as_str()
    );
    if let Some(k) = kept {
        s += &format!(
            "\nnote: the shop's till is set up already: switched to it as it is (environment {k}); its manager changes it there"
        );
    }
    s
}

pub fn secret_stored(key: SecretKey, backend: &str) -> String {
    format!("{} stored in the {backend} secret store", key.name())
}

pub fn secret_deleted(key: SecretKey) -> String {
    format!("{} deleted", key.name())
}

/// Where one secret comes from: `env`, the store's backend, or `not set` (never its value).
#[derive(serde::Serialize)]
pub struct SecretSource<'a> {
    pub key: &'static str,
    pub source: &'a str,
}

pub fn secrets(backend: &str, rows: &[SecretSource<'_>]) -> String {
    let mut s = format!("secret store: {backend}\n");
    for r in rows {
        s += &format!("  {:<20} {}\n", r.key, r.source);
    }
    s.trim_end().to_string()
}

/// What `duka demo` prints at the end: the day, and commands to try on the demo till.
pub fn demo(r: &DayReport, data_dir: &Path, runs_demo: bool) -> String {
    // The data directory runs the shop's till: the commands below reach the demo with this.
    let p = if runs_demo {
        ""
    } else {
        "DUKA_ENVIRONMENT=demo "
    };
    format!(
        "\n{}\n\nThe demo till is in {dir}/demo. Try:\n  {p}duka --data-dir {dir} sale new --barcode 6001001 --qty 2\n  {p}duka --data-dir {dir} charge --sale <id> --phone 0712345678   (pays after 5 s)\n  {p}duka --data-dir {dir} charge --sale <id> --phone 0700000200   (the customer cancels)\n  {p}duka --data-dir {dir} report day",
        day_report(r),
        dir = data_dir.display(),
    )
}

pub const DEMO_INTRO: &str =
    "Demo mode: M-Pesa is simulated (daraja-sim), no credentials needed.\n";

/// `duka relay pair` is done.
pub fn paired(url: &str, till: &str, backend: &str) -> String {
    format!("paired with {url} as till {till} (key in the {backend} secret store)")
}

pub fn relay_status(url: &str, till: &str, applied: u64, healthz: &str) -> String {
    format!("relay {url} (till {till}): last applied message {applied}; /healthz: {healthz}")
}

pub fn inbox(list: &[IncomingPayment]) -> String {
    if list.is_empty() {
        return "no incoming payments waiting".into();
    }
    list.iter()
        .map(|p| {
            format!(
                "{}  {}  {:>14}  {}  {}",
                p.trans_id,
                format_local(p.received_at),
                p.amount.to_string(),
                p.msisdn.as_deref().unwrap_or("-"),
                p.bill_ref.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the cashier reads for an attempt's state.
pub fn describe(a: &Attempt) -> String {
    match &a.state {
        AttemptState::Created => "sending the M-Pesa request…".into(),
        AttemptState::Pending { .. } => format!("waiting for the customer to enter their PIN on {}", a.phone.local()),
        AttemptState::Paid { receipt: Some(r) } => format!("PAID: M-Pesa receipt {r}"),
        AttemptState::Paid { receipt: None } => "PAID (M-Pesa receipt pending: it arrives with the callback or the customer's SMS)".into(),
        AttemptState::Failed { code } if code == duka_core::payment::NOT_REACHED => "closed: the cashier confirmed no prompt reached the phone".into(),
        AttemptState::Failed { code } => format!(
            "FAILED ({code}): {}{}",
            daraja::codes::lookup(code).en,
            a.result_desc.as_deref().filter(|d| !d.is_empty() && daraja::codes::lookup(code).class == daraja::codes::Class::Unknown).map(|d| format!(" [{d}]")).unwrap_or_default()
        ),
        AttemptState::Unknown => match (&a.unknown_code, &a.checkout_request_id) {
            (Some(c), _) => format!("UNKNOWN: M-Pesa answered {c}, which Duka does not know. Check the customer's SMS; `duka reconcile` asks again."),
            (None, Some(_)) => "UNKNOWN: M-Pesa gave no final answer in time. Check the customer's SMS; `duka reconcile` asks again.".into(),
            (None, None) => "UNKNOWN: no answer from M-Pesa to the request. Ask the customer whether a prompt arrived; do not charge again until you know (`duka reconcile`, `duka resend`).".into(),
        },
    }
}

pub fn attempts(list: &[Attempt]) -> String {
    if list.is_empty() {
        return "no payment attempts".into();
    }
    let mut s = format!(
        "{:<32}  {:>6}  {:<12} {:>9}  {:<8} {:<8} {}\n",
        "attempt", "sale", "phone", "amount", "state", "code", "since"
    );
    for a in list {
        s += &format!(
            "{:<32}  {:>6}  {:<12} {:>9}  {:<8} {:<8} {}{}\n",
            a.id,
            a.sale_id,
            a.phone.masked(),
            a.amount,
            a.state.name(),
            a.code().unwrap_or("-"),
            format_local(a.created_at),
            a.flag
                .as_deref()
                .map(|f| format!("\n      FLAGGED: {f}"))
                .unwrap_or_default()
        );
    }
    s.trim_end().to_string()
}

/// One attempt with its event log (`attempts --id`).
pub fn attempt(a: &Attempt, events: &[PaymentEventRow]) -> String {
    let mut s = format!("{}\n{}\n", attempts(std::slice::from_ref(a)), describe(a));
    for e in events {
        s += &format!(
            "  {}  {:<10} {:<15} {} → {} ({})\n",
            format_local(e.at),
            e.source,
            e.event,
            e.from_state,
            e.to_state,
            e.outcome
        );
    }
    s.trim_end().to_string()
}

/// A resent attempt, as it ended.
pub fn resent(a: &Attempt) -> String {
    format!("{} ({})", describe(a), a.id)
}

/// What `duka reconcile` did to each open attempt, and how each ended.
pub fn reconciled(report: &[Reconciled], settled: &[Attempt]) -> String {
    if report.is_empty() {
        return "nothing to reconcile: no open M-Pesa requests".into();
    }
    report
        .iter()
        .zip(settled)
        .map(|(r, a)| {
            format!(
                "{} (sale {}): {} → {} by {}: {}\n  {}",
                r.attempt_id,
                r.sale_id,
                r.before,
                a.state.name(),
                r.how,
                r.note,
                describe(a)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole shop's day: a line per till, the sums, then every receipt, what needs a
/// manager and the shifts, each with its till.
pub fn shop_day(d: &duka_core::shop::ShopDay) -> String {
    let mut s = format!("Shop's day {}\n\n  By till\n", d.date);
    for t in &d.tills {
        let name = if t.this_till {
            format!("{} (this till)", t.name)
        } else {
            t.name.clone()
        };
        match (&t.day, &t.problem) {
            (Some(day), _) => {
                let synced = t
                    .synced_at
                    .map(|at| format!("  synced {}", &format_local(at)[11..]))
                    .unwrap_or_default();
                s += &format!(
                    "    {:<24} {:>5} sales  {:>16} taken{}\n",
                    name,
                    day.report.sales_paid,
                    day.report.taken.to_string(),
                    synced
                );
            }
            (None, Some(p)) => s += &format!("    {name:<24} {p}\n"),
            (None, None) => s += &format!("    {name:<24} nothing synced for this day\n"),
        }
    }
    let t = &d.totals;
    s += &format!(
        "\n  Shop: {} sales paid, value {}, money taken {}",
        t.sales_paid, t.sales_total, t.taken
    );
    if t.discounts != Money::ZERO {
        s += &format!(", discounts {}", t.discounts);
    }
    s += "\n\n  By tender\n";
    for x in &t.by_tender {
        s += &format!(
            "    {:<16} {:>5}  {:>16}\n",
            x.kind.label(),
            x.count,
            x.amount.to_string()
        );
    }
    s += "\n  By cashier\n";
    for x in &t.by_cashier {
        s += &format!(
            "    {:<16} {:>5}  {:>16}\n",
            x.cashier,
            x.count,
            x.amount.to_string()
        );
    }
    s += &format!("\n  M-Pesa receipts ({})\n", d.mpesa_receipts.len());
    for m in &d.mpesa_receipts {
        let r = &m.item;
        s += &format!(
            "    {}  {:<12} {:<10} {:<12} {:>16}  {:<12} sale {}{}\n",
            &format_local(r.at)[11..],
            m.till,
            r.receipt.as_deref().unwrap_or("(pending)"),
            r.phone.as_deref().unwrap_or("-"),
            r.amount.to_string(),
            r.cashier,
            r.sale_id,
            if r.verified { "" } else { "  unverified" }
        );
    }
    if !d.attention.is_empty() {
        s += &format!("\n  M-Pesa requests to look at ({})\n", d.attention.len());
        for a in &d.attention {
            let x = &a.item;
            s += &format!(
                "    {:<12} sale {:<6} KES {:>8}  {:<8} {}{}\n",
                a.till,
                x.sale_id,
                x.amount,
                x.state,
                x.phone,
                x.flag
                    .as_deref()
                    .map(|f| format!("  flagged: {f}"))
                    .unwrap_or_default()
            );
        }
    }
    s += &format!("\n  Shifts ({})\n", d.shifts.len());
    for z in &d.shifts {
        let x = &z.item;
        let counted = match (x.counted_cash, x.difference_cents) {
            (Some(c), Some(diff)) => format!("counted {c}, difference {}", signed_cents(diff)),
            _ => "open".to_string(),
        };
        s += &format!(
            "    {:<12} #{:<4} {:<12} expected {}  {}\n",
            z.till, x.shift.id, x.shift.cashier, x.expected_cash, counted
        );
    }
    s += &format!(
        "\n  Cash: expected {}, counted {}, difference {}; open shifts {}, open M-Pesa requests {}, flagged {}\n",
        t.expected_cash,
        t.counted_cash,
        signed_cents(t.difference_cents),
        t.open_shifts,
        t.open_attempts,
        t.flagged_attempts
    );
    s
}

fn signed_cents(c: i64) -> String {
    let m = Money::from_cents(c.abs())
        .map(|m| m.to_string())
        .unwrap_or_default();
    if c < 0 { format!("-{m}") } else { m }
}
