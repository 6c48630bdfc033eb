//! The outbox follows every change in its own transaction; a replacement till restored from
//! the records is the same till (every synced row, the figures, the numbering).

use std::collections::BTreeMap;

use super::*;
use crate::money::Money;
use crate::payment::PaymentEvent;
use crate::phone::Msisdn;
use crate::refund::RefundTo;
use crate::sale::NewLine;
use crate::store::DrawerKind;

fn m(shillings: i64) -> Money {
    Money::from_shillings(shillings).unwrap()
}

fn store() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    s.add_cashier("Wanjiku", "cashier").unwrap();
    s.add_cashier("Otieno", "manager").unwrap();
    s
}

fn sale(s: &mut Store, what: &str, shillings: i64, qty: i64) -> i64 {
    let line = NewLine::free(what, m(shillings), qty).unwrap();
    s.create_sale("Wanjiku", &[line]).unwrap().id
}

fn paid_by_mpesa(s: &mut Store, shillings: i64, receipt: &str) -> i64 {
    let id = sale(s, "Sugar 1kg", shillings, 1);
    let a = s
        .create_attempt(
            id,
            &Msisdn::parse("0708374149").unwrap(),
            shillings,
            "Wanjiku",
        )
        .unwrap();
    s.apply_event(
        &a.id,
        &PaymentEvent::PushAccepted {
            checkout_id: format!("ws_CO_{receipt}"),
        },
        "engine",
        None,
    )
    .unwrap();
    s.apply_event(
        &a.id,
        &PaymentEvent::Result {
            code: "0".into(),
            receipt: Some(receipt.into()),
        },
        "callback",
        None,
    )
    .unwrap();
    id
}

/// A day with most kinds of record: a shift, cash and M-Pesa sales, a pay-out, a refund, a
/// void, an open M-Pesa request.
fn a_day(s: &mut Store) {
    s.open_shift("Wanjiku", m(1_000)).unwrap();
    let a = sale(s, "Milk", 60, 2);
    s.pay_cash(a, m(200), "Wanjiku").unwrap();
    let b = paid_by_mpesa(s, 250, "QKM0FXE6RK");
    s.drawer_move(DrawerKind::PayOut, m(100), "transport for stock", "Otieno")
        .unwrap();
    s.create_refund(
        b,
        None,
        "wrong size",
        &RefundTo::Manual {
            code: "RKT0ABC123".into(),
        },
        "Otieno",
    )
    .unwrap();
    let c = sale(s, "Bread", 55, 1);
    s.void_sale(c, "customer left", "Otieno").unwrap();
    let d = sale(s, "Rice 2kg", 320, 1);
    s.create_attempt(d, &Msisdn::parse("0712345678").unwrap(), 320, "Wanjiku")
        .unwrap();
}

/// What a relay keeps of the outbox: the latest version of each record, in the order sent.
fn drain(s: &mut Store, kept: &mut BTreeMap<(String, String), OutboxRow>) -> u64 {
    let mut after = 0;
    loop {
        let rows = s.outbox_after(after, 100, 1 << 20).unwrap();
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in rows {
            let key = (r.tbl.clone(), r.pk.clone());
            if kept.get(&key).is_none_or(|k| k.seq < r.seq) {
                kept.insert(key, r);
            }
        }
    }
    s.sync_acked("t1", after).unwrap();
    after
}

fn table_rows(s: &Store, table: &str, skip: &[&str]) -> Vec<String> {
    let t = tables(&s.conn)
        .unwrap()
        .into_iter()
        .find(|t| t.name == table)
        .unwrap();
    assert!(t.cols.iter().all(|c| !skip.contains(&c.as_str())));
    let mut st = s
        .conn
        .prepare(&format!(
            "SELECT {} FROM {table} AS r ORDER BY {}",
            body_expr(&t, "r"),
            t.pk.join(", ")
        ))
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn nothing_is_recorded_until_a_relay_takes_the_records_then_the_history_and_every_change() {
    let mut s = store();
    a_day(&mut s);
    assert_eq!(s.sync_state().unwrap().pending, 0, "no relay: no outbox");
    let start = s.sync_start("t1", 0, None).unwrap();
    assert_eq!(start, SyncStart::Send { after: 0 });
    let history = s.sync_state().unwrap().pending;
    let sales: i64 = s
        .conn
        .query_row("SELECT count(*) FROM sales", [], |r| r.get(0))
        .unwrap();
    let in_outbox: i64 = s
        .conn
        .query_row(
            "SELECT count(*) FROM sync_outbox WHERE tbl = 'sales'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_outbox, sales);
    assert!(history > 20, "{history}");
    // A change: its row arrives with it.
    let id = sale(&mut s, "Tea", 30, 1);
    let rows = s.outbox_after(0, 10_000, 1 << 30).unwrap();
    let last = rows.last().unwrap();
    assert_eq!(last.tbl, "sale_lines");
    assert!(
        rows.iter()
            .any(|r| r.tbl == "sales" && r.pk == format!("[{id}]"))
    );
    // A refused change leaves no outbox row (the trigger is in its transaction).
    let before = s.sync_state().unwrap().pending;
    assert!(s.pay_cash(id, m(30), "Nobody").is_err());
    assert_eq!(s.sync_state().unwrap().pending, before);
    // PIN hashes never leave the till.
    s.set_pin("Otieno", "4821").unwrap();
    let cashier = s
        .outbox_after(0, 10_000, 1 << 30)
        .unwrap()
        .into_iter()
        .rev()
        .find(|r| r.tbl == "cashiers")
        .unwrap();
    let body = cashier.body.unwrap();
    assert!(!body.contains("pin") && body.contains("Otieno"), "{body}");
}

#[test]
fn a_wiped_till_restored_from_the_records_has_every_row_the_same_figures_and_goes_on_numbering() {
    let mut a = store();
    a.sync_start("t1", 0, None).unwrap();
    a_day(&mut a);
    let mut kept = BTreeMap::new();
    let relay_seq = drain(&mut a, &mut kept);
    a.enqueue_day(crate::time::today()).unwrap();
    assert_eq!(
        a.outbox_after(relay_seq, 10, 1 << 20).unwrap()[0].tbl,
        DAY_RECORD
    );

    let mut b = Store::open_in_memory().unwrap();
    assert_eq!(
        b.sync_start("t1", relay_seq, None).unwrap(),
        SyncStart::Restorable,
        "an empty till and a relay with a history: restore"
    );
    let mut rows: Vec<OutboxRow> = kept.into_values().collect();
    rows.sort_by_key(|r| r.seq);
    assert_eq!(b.restore_records(&rows, "t1", relay_seq).unwrap(), 0);

    for (t, skip) in SYNCED {
        assert_eq!(table_rows(&a, t, skip), table_rows(&b, t, skip), "{t}");
    }
    let today = crate::time::today();
    assert_eq!(a.day_report(today).unwrap(), b.day_report(today).unwrap());
    assert_eq!(a.day_close(today).unwrap(), b.day_close(today).unwrap());
    // The numbering goes on: the next sale is the next number, and its outbox row is after
    // everything the relay holds (so the relay takes it).
    let next_a: i64 = a
        .conn
        .query_row("SELECT max(id) + 1 FROM sales", [], |r| r.get(0))
        .unwrap();
    let id = sale(&mut b, "Tea", 30, 1);
    assert_eq!(id, next_a);
    let first = &b.outbox_after(0, 1, 1 << 20).unwrap()[0];
    assert!(first.seq > relay_seq, "{} > {relay_seq}", first.seq);
    assert_eq!(
        b.sync_start("t1", relay_seq, None).unwrap(),
        SyncStart::Send { after: relay_seq }
    );
}

#[test]
fn a_relay_with_another_history_is_not_overwritten_and_forged_records_are_left_out() {
    let mut s = store();
    a_day(&mut s);
    assert_eq!(s.sync_start("t9", 40, None).unwrap(), SyncStart::Conflict);
    assert_eq!(s.sync_state().unwrap().pending, 0, "nothing sent");
    assert!(
        s.restore_allowed().is_err() && s.restore_records(&[], "t9", 40).is_err(),
        "a till with sales is not restored over"
    );

    let mut b = Store::open_in_memory().unwrap();
    b.add_cashier("Njeri", "manager").unwrap();
    let rec = |tbl: &str, body: &str| OutboxRow {
        seq: 1,
        tbl: tbl.into(),
        pk: "[1]".into(),
        body: Some(body.into()),
        at: 0,
    };
    let good = rec(
        "cashiers",
        r#"{"id":1,"name":"Wanjiku","role":"cashier","active":1,"created_at":5}"#,
    );
    // Forged or foreign records are left out and counted; what fits is written; a PIN hash
    // or a setting never is.
    let bad = [
        rec("settings", r#"{"key":"environment","value":"production"}"#),
        rec(
            "cashiers",
            r#"{"id":2,"name\" ) ; DROP TABLE sales; --":1}"#,
        ),
        rec("cashiers", "not json"),
        rec("cashiers", "[1,2]"),
        rec(
            "cashiers",
            r#"{"id":3,"name":"Bad","role":"owner","active":1,"created_at":5}"#,
        ),
    ];
    let pin = rec(
        "cashiers",
        r#"{"id":4,"name":"Pin","role":"cashier","active":1,"created_at":5,"pin_hash":"h"}"#,
    );
    let mut all = vec![good.clone(), pin];
    all.extend(bad.iter().cloned());
    assert_eq!(b.restore_records(&all, "t1", 2).unwrap(), bad.len() as u64);
    let names: Vec<(String, bool)> = b
        .cashiers()
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.has_pin))
        .collect();
    assert_eq!(
        names,
        [("Pin".to_string(), false), ("Wanjiku".to_string(), false)]
    );
    assert_eq!(b.setting("environment").unwrap(), None);
    let mut b = Store::open_in_memory().unwrap();
    // A sale whose cashier never came (the relay's retention dropped it), and its line: left
    // out and counted, and the restore finishes.
    let orphan = OutboxRow {
        tbl: "sales".into(),
        body: Some(
            r#"{"id":7,"status":"open","cashier_id":42,"total_cents":0,"created_at":1,"updated_at":1}"#
                .into(),
        ),
        ..rec("sales", "{}")
    };
    let line = OutboxRow {
        tbl: "sale_lines".into(),
        body: Some(
            r#"{"sale_id":7,"line_no":1,"description":"Tea","unit_price_cents":3000,"quantity":1,"total_cents":3000}"#
                .into(),
        ),
        ..rec("sale_lines", "{}")
    };
    assert_eq!(
        b.restore_records(&[good, orphan, line], "t1", 2).unwrap(),
        2
    );
    assert!(b.sync_state().unwrap().enabled);
    assert_eq!(b.sales_count_and_next().unwrap().0, 0);
    // The new PC's own staff (set up before the restore) gave way to the old till's.
    let names: Vec<String> = b.cashiers().unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["Wanjiku"], "the rest is kept");
}

#[test]
fn a_relay_that_lost_records_or_a_till_from_a_backup_sends_the_whole_history_again() {
    let mut s = store();
    s.sync_start("t1", 0, None).unwrap();
    a_day(&mut s);
    let mut kept = BTreeMap::new();
    let seq = drain(&mut s, &mut kept);
    assert_eq!(s.sync_state().unwrap().pending, 0);
    // The relay came back from an older backup of its own.
    assert_eq!(
        s.sync_start("t1", seq - 5, None).unwrap(),
        SyncStart::Send { after: seq - 5 }
    );
    let again = s.outbox_after(seq - 5, 100_000, 1 << 30).unwrap();
    assert!(again.len() >= kept.len() - 1, "the whole history again");
    assert!(
        again.iter().all(|r| r.seq > seq),
        "numbered after what the relay saw"
    );
    // This till came back from a backup older than what the relay has.
    let ahead = seq + 1_000_000;
    assert_eq!(
        s.sync_start("t1", ahead, None).unwrap(),
        SyncStart::Send { after: ahead }
    );
    let again = s.outbox_after(ahead, 100_000, 1 << 30).unwrap();
    assert!(!again.is_empty() && again.iter().all(|r| r.seq > ahead));
}

#[test]
fn a_relay_position_the_till_never_had_acknowledged_deletes_nothing_unsent() {
    let mut s = store();
    s.sync_start("t1", 0, None).unwrap();
    a_day(&mut s);
    let mut kept = BTreeMap::new();
    let acked = drain(&mut s, &mut kept);
    // Offline: five sales, not sent.
    for i in 0..5 {
        sale(&mut s, &format!("Bread {i}"), 55, 1);
    }
    let pending = s.sync_state().unwrap().pending;
    let top = s
        .outbox_after(acked, 10_000, 1 << 30)
        .unwrap()
        .last()
        .unwrap()
        .seq;
    // Someone with this till's key moved its position on the relay to the till's top.
    assert_eq!(
        s.sync_start("t1", top, None).unwrap(),
        SyncStart::Send { after: acked },
        "sent again after what the relay acknowledged"
    );
    assert_eq!(s.sync_state().unwrap().pending, pending, "nothing dropped");
    // And an acknowledgement is of what was sent: the session caps it at its own top.
    s.sync_acked("t1", acked).unwrap();
    assert_eq!(s.sync_state().unwrap().pending, pending);
}

#[test]
fn a_restore_leaves_out_an_attempt_and_its_events_whose_sale_the_relay_dropped() {
    let mut a = store();
    a.sync_start("t1", 0, None).unwrap();
    paid_by_mpesa(&mut a, 250, "QKM0FXE6RK");
    let mut kept = BTreeMap::new();
    let relay_seq = drain(&mut a, &mut kept);
    // Retention dropped the sale (and its line) but kept its attempt and the events.
    kept.retain(|(t, _), _| t != "sales" && t != "sale_lines" && t != "tenders");
    let mut rows: Vec<OutboxRow> = kept.into_values().collect();
    rows.sort_by_key(|r| r.seq);
    let events = rows.iter().filter(|r| r.tbl == "payment_events").count() as u64;
    assert!(events >= 2);
    let mut b = Store::open_in_memory().unwrap();
    assert_eq!(
        b.restore_records(&rows, "t1", relay_seq).unwrap(),
        1 + events
    );
    // The append-only guard is back.
    let guard: i64 = b
        .conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name = 'payment_events_no_delete'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(guard, 1);
}

#[test]
fn the_days_due_include_those_the_rows_are_about_not_only_today() {
    let mut s = store();
    let yesterday = crate::time::now_ms() - 86_400_000;
    let long_ago = crate::time::now_ms() - 90 * 86_400_000;
    s.conn
        .execute(
            "INSERT INTO shifts (cashier_id, opened_at, float_cents) VALUES (1, ?1, 100000)",
            [yesterday],
        )
        .unwrap();
    s.conn
        .execute(
            "INSERT INTO shifts (cashier_id, opened_at, float_cents, closed_at, counted_cents, expected_cents)
             VALUES (1, ?1, 0, ?1, 0, 0)",
            [long_ago],
        )
        .unwrap();
    // The whole history goes in the outbox today; its figures are about yesterday too.
    s.sync_start("t1", 0, None).unwrap();
    let days = s.outbox_days().unwrap();
    assert!(days.contains(&crate::time::today()));
    assert!(
        days.contains(&crate::time::nairobi_date(yesterday)),
        "{days:?}"
    );
    assert!(
        !days.contains(&crate::time::nairobi_date(long_ago)),
        "not older than 31 days: {days:?}"
    );
    // The session reads the same days off each row it sends.
    let from_rows: std::collections::BTreeSet<_> = s
        .outbox_after(0, 100_000, usize::MAX)
        .unwrap()
        .iter()
        .flat_map(|r| r.days())
        .collect();
    assert_eq!(from_rows, days);
}

#[test]
fn a_till_from_its_own_backup_before_its_first_sync_is_told_from_another_till() {
    // The till's database before its first sync (a backup of it): its history has a name.
    let mut s = store();
    a_day(&mut s);
    let history = s.sync_state().unwrap().history;
    assert_eq!(history.len(), 32);
    // The relay holds that history (the till synced after the backup, then died).
    assert_eq!(
        s.sync_start("t1", 500, Some("0123456789abcdef0123456789abcdef"))
            .unwrap(),
        SyncStart::Conflict,
        "another history: nothing sent"
    );
    assert_eq!(s.sync_state().unwrap().pending, 0);
    assert_eq!(
        s.sync_start("t1", 500, Some(&history)).unwrap(),
        SyncStart::Send { after: 500 },
        "its own history: sent again, numbered after the relay's"
    );
    let rows = s.outbox_after(500, 100_000, 1 << 30).unwrap();
    assert!(rows.len() > 20 && rows.iter().all(|r| r.seq > 500));
    assert_eq!(rows[0].tbl, HISTORY_RECORD, "the history's name goes first");
    assert!(rows[0].body.as_deref().unwrap().contains(&history));
    // A till restored from the relay takes the old till's history over.
    let mut b = Store::open_in_memory().unwrap();
    assert_ne!(b.sync_state().unwrap().history, history);
    b.restore_records(&rows, "t1", rows.last().unwrap().seq)
        .unwrap();
    assert_eq!(b.sync_state().unwrap().history, history);
}

#[test]
fn a_resend_keeps_deletions_not_sent_and_an_absurd_position_sends_nothing() {
    let mut s = store();
    s.sync_start("t1", 0, None).unwrap();
    a_day(&mut s);
    let mut kept = BTreeMap::new();
    let acked = drain(&mut s, &mut kept);
    // A line removed while offline: its deletion waits in the outbox.
    let id = sale(&mut s, "Tea", 30, 2);
    let line = NewLine::free("Sugar", m(100), 1).unwrap();
    s.edit_sale(id, &crate::store::LineEdit::Add(line), "Wanjiku", 100)
        .unwrap();
    s.edit_sale(
        id,
        &crate::store::LineEdit::Remove { line_no: 2 },
        "Wanjiku",
        100,
    )
    .unwrap();
    // The relay came back from an older backup: the whole history again, the deletion after.
    s.sync_start("t1", acked - 5, None).unwrap();
    let rows = s.outbox_after(0, 100_000, usize::MAX).unwrap();
    let last = rows.last().unwrap();
    assert_eq!(
        (last.tbl.as_str(), last.body.as_ref()),
        ("sale_lines", None),
        "{last:?}"
    );
    assert_eq!(last.pk, format!("[{id},2]"));
    // A position no till reaches: forged; nothing is sent, the numbering stays.
    let before = s.outbox_after(0, 1, usize::MAX).unwrap()[0].seq;
    assert_eq!(
        s.sync_start("t1", 1 << 53, None).unwrap(),
        SyncStart::Conflict
    );
    assert_eq!(s.outbox_after(0, 1, usize::MAX).unwrap()[0].seq, before);
    // A relay that holds nothing of this till is no restore: the new PC is left as it is.
    let mut b = Store::open_in_memory().unwrap();
    b.add_cashier("Njeri", "manager").unwrap();
    assert!(b.restore_records(&[], "t1", 0).is_err());
    assert_eq!(b.cashiers().unwrap().len(), 1);
}

fn sale_(s: &mut Store) -> i64 {
    sale(s, "Tea", 30, 1)
}

#[test]
fn a_restored_row_pointing_at_a_dropped_optional_parent_stays_and_frames_keep_their_budget() {
    let mut a = store();
    a.sync_start("t1", 0, None).unwrap();
    let p = a
        .add_product(&crate::catalog::NewProduct::new("Milk", m(60), None, None).unwrap())
        .unwrap();
    let line = NewLine {
        product_id: Some(p.id),
        description: "Milk".into(),
        unit_price: m(60),
        quantity: 2,
    };
    let sale = a.create_sale("Wanjiku", &[line]).unwrap().id;
    let mut kept = BTreeMap::new();
    let relay_seq = drain(&mut a, &mut kept);
    kept.retain(|(t, _), _| t != "products");
    let mut rows: Vec<OutboxRow> = kept.into_values().collect();
    rows.sort_by_key(|r| r.seq);
    let mut b = Store::open_in_memory().unwrap();
    assert_eq!(b.restore_records(&rows, "t1", relay_seq).unwrap(), 1);
    let s = b.sale(sale).unwrap();
    assert_eq!(s.lines.len(), 1, "the line stays, its product unknown");
    assert_eq!(s.total, m(120));
    // A frame stops before a row that would pass its budget (but always takes one).
    sale_(&mut a);
    let all = a.outbox_after(0, 100, usize::MAX).unwrap();
    assert!(all.len() >= 2);
    let rows = a.outbox_after(0, 100, 200).unwrap();
    assert_eq!(rows.len(), 1);
}
