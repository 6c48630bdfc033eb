//! Store benchmarks; prints its figures. `cargo bench -p duka-core --bench store`
//!
//! 1. Commit latency, fsync on (WAL, synchronous=FULL) on a real file: one sale with three
//!    lines, then its payment attempt (write-ahead, as the engine does before a push).
//! 2. "Receipts of one day", the day report, a shift's Z-report and the day close on a
//!    database of `DUKA_BENCH_SALES` sales (default 1,000,000, spread over 365 days, two
//!    shifts a day with pay-outs and refunds), generated once and kept under
//!    `target/bench-data/`; and the database size per 1,000 sales.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};
use duka_core::sale::NewLine;
use duka_core::time::day_bounds;
use duka_core::{Money, Msisdn, Store};
use rusqlite::params;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} n={:<5} p50={:>9.3} ms  p99={:>9.3} ms  max={:>9.3} ms",
        samples.len(),
        pct(&samples, 0.50).as_secs_f64() * 1e3,
        pct(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

fn commit_latency(dir: &Path) {
    let mut store = Store::open(&dir.join("commit.db")).unwrap();
    store.add_cashier("Bench", "cashier").unwrap();
    let lines = vec![
        NewLine::free("Sugar 1kg", Money::from_shillings(150).unwrap(), 2).unwrap(),
        NewLine::free("Milk 500ml", Money::from_shillings(60).unwrap(), 1).unwrap(),
        NewLine::free("Bread 400g", Money::from_shillings(65).unwrap(), 1).unwrap(),
    ];
    let phone = Msisdn::parse("0708374149").unwrap();
    let n = 400;
    let (mut sale_t, mut attempt_t, mut both_t) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let t0 = Instant::now();
        let s = store.create_sale("Bench", &lines).unwrap();
        let t1 = Instant::now();
        store.create_attempt(s.id, &phone, 425, "Bench").unwrap();
        let t2 = Instant::now();
        sale_t.push(t1 - t0);
        attempt_t.push(t2 - t1);
        both_t.push(t2 - t0);
    }
    report("commit: sale + 3 lines (fsync)", sale_t);
    report("commit: payment attempt + event (fsync)", attempt_t);
    report("commit: sale, lines and attempt (fsync)", both_t);
}

const DAYS: i64 = 365;

fn generate(path: &Path, sales: i64, last_day: NaiveDate) {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    drop(Store::open(&tmp).unwrap());
    let mut c = rusqlite::Connection::open(&tmp).unwrap();
    c.execute_batch("PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF;")
        .unwrap();
    let cashiers = ["Achieng", "Kamau", "Wanjiku", "Otieno"];
    for (i, name) in cashiers.iter().enumerate() {
        c.execute(
            "INSERT INTO cashiers (id, name, role, created_at) VALUES (?1, ?2, 'cashier', 0)",
            params![i as i64 + 1, name],
        )
        .unwrap();
    }
    let first_day = last_day - Days::days(DAYS - 1);
    let day_start = day_bounds(first_day).0;
    // Two shifts a day, closed, each with a pay-out, a cash in and a drawer opened.
    {
        let tx = c.transaction().unwrap();
        for d in 0..DAYS {
            for half in 0..2 {
                let id = d * 2 + half + 1;
                let opened = day_start + d * 86_400_000 + (6 + half * 7) * 3_600_000;
                tx.execute(
                    "INSERT INTO shifts (id, cashier_id, opened_at, float_cents, closed_at, closed_by, counted_cents, expected_cents)
                     VALUES (?1, ?2, ?3, 200000, ?4, ?2, 0, 0)",
                    params![id, half + 1, opened, opened + 7 * 3_600_000],
                )
                .unwrap();
                for (kind, cents) in [("pay_out", 50_000), ("cash_in", 20_000), ("open", 0)] {
                    tx.execute(
                        "INSERT INTO drawer_moves (shift_id, kind, amount_cents, reason, cashier_id, at) VALUES (?1, ?2, ?3, 'bench', 1, ?4)",
                        params![id, kind, cents, opened + 3_600_000],
                    )
                    .unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    let per_day = (sales / DAYS).max(1);
    let t0 = Instant::now();
    let chunk = 50_000;
    let mut id = 0i64;
    while id < sales {
        let tx = c.transaction().unwrap();
        {
            let mut sale = tx
                .prepare("INSERT INTO sales (id, status, cashier_id, total_cents, created_at, updated_at, paid_at, shift_id) VALUES (?1, 'paid', ?2, ?3, ?4, ?4, ?4, ?5)")
                .unwrap();
            let mut line = tx
                .prepare("INSERT INTO sale_lines (sale_id, line_no, product_id, description, unit_price_cents, quantity, total_cents) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6)")
                .unwrap();
            let mut att = tx
                .prepare("INSERT INTO payment_attempts (id, sale_id, phone, amount, state, checkout_request_id, result_code, receipt, cashier_id, created_at, updated_at, finalized_at) VALUES (?1, ?2, ?3, ?4, 'paid', ?5, '0', ?6, ?7, ?8, ?8, ?8)")
                .unwrap();
            let mut tender = tx
                .prepare("INSERT INTO tenders (sale_id, kind, amount_cents, attempt_id, receipt, verified, cashier_id, created_at, shift_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
                .unwrap();
            let mut refund = tx
                .prepare("INSERT INTO refunds (sale_id, shift_id, kind, amount_cents, reason, cashier_id, state, created_at, updated_at) VALUES (?1, ?2, 'cash', ?3, 'bench', 1, 'done', ?4, ?4)")
                .unwrap();
            let end = (id + chunk).min(sales);
            while id < end {
                id += 1;
                let day = (id - 1) / per_day;
                let at = day_start
                    + day.min(DAYS - 1) * 86_400_000
                    + 6 * 3_600_000
                    + ((id * 7919) % (14 * 3_600_000));
                let cashier = (id % 4) + 1;
                // Every day's sales split evenly between its two shifts.
                let shift = day.min(DAYS - 1) * 2 + (id % 2) + 1;
                let n_lines = 1 + (id % 5);
                let mut total = 0;
                for l in 1..=n_lines {
                    let price = 2_000 + ((id * 31 + l * 17) % 400) * 100;
                    let qty = 1 + (id + l) % 3;
                    total += price * qty;
                    line.execute(params![id, l, "Sugar 1kg", price, qty, price * qty])
                        .unwrap();
                }
                sale.execute(params![id, cashier, total, at, shift])
                    .unwrap();
                if id % 200 == 0 {
                    refund.execute(params![id, shift, total / 2, at]).unwrap();
                }
                if id % 5 < 2 {
                    // 40% paid by STK push, with its attempt and receipt.
                    let aid = format!("{id:032x}");
                    let receipt = format!("U{id:09}");
                    let amount = (total + 99) / 100;
                    att.execute(params![
                        aid,
                        id,
                        "254708374149",
                        amount.min(250_000),
                        format!("ws_CO_{id}"),
                        receipt,
                        cashier,
                        at
                    ])
                    .unwrap();
                    tender
                        .execute(params![
                            id,
                            "mpesa_stk",
                            total,
                            aid,
                            receipt,
                            true,
                            cashier,
                            at,
                            shift
                        ])
                        .unwrap();
                } else {
                    tender
                        .execute(params![
                            id,
                            "cash",
                            total,
                            None::<String>,
                            None::<String>,
                            false,
                            cashier,
                            at,
                            shift
                        ])
                        .unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")
        .unwrap();
    drop(c);
    std::fs::rename(&tmp, path).unwrap();
    println!(
        "generated {sales} sales in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

fn day_queries(dir: &Path) {
    let sales: i64 = std::env::var("DUKA_BENCH_SALES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let last_day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    // v3: with shifts, drawer moves and refunds.
    let path = dir.join(format!("sales-{sales}-v3.db"));
    if !path.exists() {
        generate(&path, sales, last_day);
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "database: {sales} sales, {:.1} MB, {:.1} KB per 1,000 sales",
        size as f64 / 1e6,
        size as f64 / 1e3 / (sales as f64 / 1000.0)
    );
    let store = Store::open(&path).unwrap();
    let day = last_day - Days::days(DAYS / 2);
    let receipts = store.receipts_of_day(day).unwrap();
    let r = store.day_report(day).unwrap();
    println!(
        "day {day}: {} sales paid, {} M-Pesa receipts, {} taken",
        r.sales_paid,
        receipts.len(),
        r.taken
    );
    assert!(
        r.sales_paid > 0 && !receipts.is_empty(),
        "the benchmark day must have data"
    );
    let n = 50;
    let mut t = Vec::new();
    for i in 0..n {
        // Walk days so each run reads pages another day has not warmed.
        let d = day - Days::days(i % 30);
        let t0 = Instant::now();
        let got = store.receipts_of_day(d).unwrap();
        t.push(t0.elapsed());
        assert!(!got.is_empty());
    }
    report("receipts of one day (1M-sale db)", t);
    let mut t = Vec::new();
    for i in 0..n {
        let d = day - Days::days(30 + i % 30);
        let t0 = Instant::now();
        let got = store.day_report(d).unwrap();
        t.push(t0.elapsed());
        assert!(got.sales_paid > 0);
    }
    report("day report incl. receipts (1M-sale db)", t);
    // The Z-report of a shift (about 1,370 sales) and the day close (two shifts).
    let first = store
        .shifts_between(day_bounds(day).0, day_bounds(day).1)
        .unwrap();
    assert_eq!(first.len(), 2, "two shifts on the benchmark day");
    let z = store.z_report(first[0].id).unwrap();
    println!(
        "shift {}: {} sales, cash {} , M-Pesa {}, refunds {}",
        z.shift.id, z.sales.count, z.cash_sales, z.mpesa_confirmed.amount, z.refunds.amount
    );
    assert!(z.sales.count > 0 && z.refunds.count > 0);
    let mut t = Vec::new();
    for i in 0..n {
        let id = first[0].id - 2 * (60 + i % 30);
        let t0 = Instant::now();
        let got = store.z_report(id).unwrap();
        t.push(t0.elapsed());
        assert!(got.sales.count > 0);
    }
    report("Z-report of one shift (1M-sale db)", t);
    let mut t = Vec::new();
    for i in 0..n {
        let d = day - Days::days(100 + i % 30);
        let t0 = Instant::now();
        let got = store.day_close(d).unwrap();
        t.push(t0.elapsed());
        assert_eq!(got.shifts.len(), 2);
    }
    report("day close, two shifts (1M-sale db)", t);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&target).unwrap();
    let tmp = tempfile::tempdir_in(&target).unwrap();
    if quick {
        println!("quick run (use `cargo bench` for figures)");
        let mut store = Store::open(&tmp.path().join("q.db")).unwrap();
        store.add_cashier("Bench", "cashier").unwrap();
        return;
    }
    commit_latency(tmp.path());
    day_queries(&target);
}
