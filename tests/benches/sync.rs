//! Several tills, one shop; prints its figures. `cargo bench -p duka-tests --bench sync`
//! (the relay on PostgreSQL when `DUKA_TEST_POSTGRES` names a server, else SQLite).
//!
//! 1. Catch-up: a till offline with 100,000 records in its outbox (its whole history put
//!    there when it first reaches a relay) sends them over the real websocket to a real relay,
//!    each frame acknowledged after the relay's commit (`duka relay sync`'s path). Records/s.
//! 2. The shop's day: 10 tills of 100,000 sales each (1,000 of them today), every till's
//!    records and day figures on the relay. The manager's report: the relay's answer, this
//!    till's own day from its database, combined. p50/p99 over 50 runs after one not counted,
//!    and the same asked over a websocket of its own (`duka report shop`), connection
//!    included.

use std::path::Path;
use std::time::Instant;

use duka_core::Store;
use duka_core::store::sync::OutboxRow;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A till's database with `sales` cash sales (one line, one tender each), `today` of them
/// today and the rest spread over the 99 days before, written in one transaction.
fn till_db(path: &Path, sales: usize, today: usize) {
    let mut s = Store::open(path).unwrap();
    s.add_cashier("Wanjiku", "cashier").unwrap();
    drop(s);
    let mut c = rusqlite::Connection::open(path).unwrap();
    let tx = c.transaction().unwrap();
    let now = duka_core::time::now_ms();
    let (start, _) = duka_core::time::day_bounds(duka_core::time::today());
    {
        let mut sale = tx
            .prepare(
                "INSERT INTO sales (id, status, cashier_id, total_cents, created_at, updated_at, paid_at)
                 VALUES (?1, 'paid', 1, ?2, ?3, ?3, ?3)",
            )
            .unwrap();
        let mut line = tx
            .prepare(
                "INSERT INTO sale_lines (sale_id, line_no, description, unit_price_cents, quantity, total_cents)
                 VALUES (?1, 1, 'Sugar 1kg', ?2, 1, ?2)",
            )
            .unwrap();
        let mut tender = tx
            .prepare(
                "INSERT INTO tenders (sale_id, kind, amount_cents, tendered_cents, cashier_id, created_at)
                 VALUES (?1, 'cash', ?2, ?2, 1, ?3)",
            )
            .unwrap();
        for i in 0..sales {
            let id = i as i64 + 1;
            let cents = 5_000 + (i as i64 % 200) * 50;
            let at = if i >= sales - today {
                // Today, up to now.
                start + ((now - start).max(1) * (i - (sales - today)) as i64) / today as i64
            } else {
                start - DAY_MS * (1 + (i % 99) as i64) + (i as i64 % 36_000) * 1_000
            };
            sale.execute(rusqlite::params![id, cents, at]).unwrap();
            line.execute(rusqlite::params![id, cents]).unwrap();
            tender.execute(rusqlite::params![id, cents, at]).unwrap();
        }
    }
    tx.commit().unwrap();
}

async fn catch_up(records: usize) {
    let relay = duka_tests::relay::start().await;
    let pairing = relay.pair("Mama Mboga", "Front");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("duka.db");
    till_db(&db, records / 3, 100.min(records / 3));
    let t = Instant::now();
    let mut s = Store::open(&db).unwrap();
    s.sync_start(&pairing.till, 0, None).unwrap();
    let queued = s.sync_state().unwrap().pending;
    drop(s);
    let snapshot = t.elapsed();
    let t = Instant::now();
    let sent = duka_core::relay::sync_once(&db, &pairing).await.unwrap();
    let took = t.elapsed();
    assert!(sent.sent >= queued, "{} < {queued}", sent.sent);
    let kept = relay
        .relay
        .0
        .store()
        .records_after(&pairing.till, 0, 1_000_000)
        .await
        .unwrap()
        .len() as u64;
    assert!(kept >= queued, "every record kept: {kept} < {queued}");
    println!(
        "catch-up ({}): {} records queued in {:.2} s, sent and committed in {:.2} s: {:.0} records/s",
        relay.relay.0.store().backend(),
        queued,
        snapshot.as_secs_f64(),
        took.as_secs_f64(),
        sent.sent as f64 / took.as_secs_f64()
    );
}

async fn shop_day(tills: usize, sales: usize, runs: usize) {
    let relay = duka_tests::relay::start().await;
    let store = relay.relay.0.store().clone();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("duka.db");
    till_db(&db, sales, 1_000.min(sales));
    let today = duka_core::time::today();
    let mut own = Store::open(&db).unwrap();
    let pairings: Vec<_> = (0..tills)
        .map(|i| relay.pair("Mama Mboga", &format!("Till {i:02}")))
        .collect();
    own.sync_start(&pairings[0].till, 0, None).unwrap();
    own.enqueue_day(today).unwrap();
    let rows: Vec<OutboxRow> = {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = own.outbox_after(after, 10_000, usize::MAX).unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page);
        }
        all
    };
    let t = Instant::now();
    for p in &pairings {
        for chunk in rows.chunks(2_000) {
            let records = chunk
                .iter()
                .map(|r| duka_relay_proto::Record {
                    seq: r.seq,
                    table: r.tbl.clone(),
                    pk: r.pk.clone(),
                    body: r.body.clone(),
                    at: r.at,
                })
                .collect();
            store
                .sync_put(&p.till, records, chunk.last().unwrap().seq)
                .await
                .unwrap();
        }
    }
    println!(
        "shop's day setup ({}): {} tills × {} sales ({} records each) on the relay in {:.1} s",
        store.backend(),
        tills,
        sales,
        rows.len(),
        t.elapsed().as_secs_f64()
    );
    let shop = relay
        .relay
        .0
        .store()
        .till(&pairings[0].till)
        .await
        .unwrap()
        .unwrap()
        .shop_id;
    let date = today.to_string();
    let mut report = Vec::new();
    // One run first, not counted: the page cache and the statement caches warm up.
    store.shop_days(&shop, &date).await.unwrap();
    own.till_day(today).unwrap();
    for _ in 0..runs {
        let t = Instant::now();
        let answer = store.shop_days(&shop, &date).await.unwrap();
        let mine = own.till_day(today).unwrap();
        let day = duka_core::shop::combine(today, &pairings[0].till, mine, answer);
        report.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(day.tills.len(), tills);
        assert_eq!(day.totals.sales_paid, (tills * 1_000.min(sales)) as i64);
    }
    let mut asked = Vec::new();
    for _ in 0..runs.min(20) {
        let t = Instant::now();
        let answer = duka_core::relay::ask_shop_day(&pairings[0], today)
            .await
            .unwrap();
        let mine = own.till_day(today).unwrap();
        let day = duka_core::shop::combine(today, &pairings[0].till, mine, answer);
        asked.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(day.tills.len(), tills);
    }
    println!(
        "shop's day ({}), {} tills × {} sales: report p50 {:.1} ms p99 {:.1} ms; asked over a new websocket p50 {:.1} ms p99 {:.1} ms",
        store.backend(),
        tills,
        sales,
        pct(&mut report.clone(), 0.5),
        pct(&mut report, 0.99),
        pct(&mut asked.clone(), 0.5),
        pct(&mut asked, 0.99)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        println!("quick run (use `cargo bench` for figures)");
        catch_up(1_000).await;
        shop_day(2, 1_500, 3).await;
        return;
    }
    catch_up(100_000).await;
    shop_day(10, 100_000, 50).await;
}
