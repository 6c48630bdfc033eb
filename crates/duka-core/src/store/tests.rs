use super::*;
use crate::catalog::{NewProduct, parse_price_list};
use crate::money::Money;
use crate::payment::{AttemptState, NOT_REACHED, PaymentEvent};
use crate::phone::Msisdn;
use crate::sale::{NewLine, SaleStatus, TenderKind};

fn m(shillings: i64) -> Money {
    Money::from_shillings(shillings).unwrap()
}

fn store_with_cashier() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    s.add_cashier("Wanjiku", "cashier").unwrap();
    s.add_cashier("Otieno", "manager").unwrap();
    s
}

fn sale(s: &mut Store, shillings: i64) -> i64 {
    s.create_sale(
        "Wanjiku",
        &[NewLine::free("Sugar 1kg", m(shillings), 1).unwrap()],
    )
    .unwrap()
    .id
}

fn phone() -> Msisdn {
    Msisdn::parse("0708374149").unwrap()
}

fn result(code: &str, receipt: Option<&str>) -> PaymentEvent {
    PaymentEvent::Result {
        code: code.into(),
        receipt: receipt.map(Into::into),
    }
}

#[test]
fn creates_schema_on_a_real_file_with_wal_and_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("duka.db");
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let mode: String = s
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = s
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "FULL");
    let app: i64 = s
        .conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    drop(s);
    // Re-open is a no-op migration.
    assert_eq!(
        Store::open(&path).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}

#[test]
fn refuses_garbage_foreign_and_newer_databases_without_touching_them() {
    let dir = tempfile::tempdir().unwrap();

    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a database at all, it is a shopping list",
    )
    .unwrap();
    let before = std::fs::read(&garbage).unwrap();
    let e = Store::open(&garbage).err().unwrap();
    assert_eq!(e.code(), "db_not_duka", "{e}");
    assert_eq!(std::fs::read(&garbage).unwrap(), before);

    let foreign = dir.path().join("foreign.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let e = Store::open(&foreign).err().unwrap();
    assert_eq!(e.code(), "db_not_duka", "{e}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before);

    let newer = dir.path().join("newer.db");
    drop(Store::open(&newer).unwrap());
    {
        let c = rusqlite::Connection::open(&newer).unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
    }
    let e = Store::open(&newer).err().unwrap();
    assert_eq!(e.code(), "db_schema_too_new", "{e}");
    assert!(e.to_string().contains("newer Duka"), "{e}");
    let c = rusqlite::Connection::open(&newer).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1, "left as it was");

    // A truncated Duka database: the header survives, the pages do not.
    let trunc = dir.path().join("trunc.db");
    {
        let mut s = Store::open(&trunc).unwrap();
        s.add_cashier("A", "cashier").unwrap();
        s.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    let bytes = std::fs::read(&trunc).unwrap();
    std::fs::write(&trunc, &bytes[..bytes.len() / 3]).unwrap();
    let opened = Store::open(&trunc).and_then(|s| s.cashiers());
    assert!(
        opened.is_err(),
        "a truncated file must not read as a good database"
    );
}

#[test]
fn products_add_find_and_unique_codes() {
    let mut s = Store::open_in_memory().unwrap();
    let p = s
        .add_product(&NewProduct::new("Sugar 1kg", m(150), Some("6001"), None).unwrap())
        .unwrap();
    assert_eq!(s.product_by_code("6001").unwrap(), p);
    let e = s
        .add_product(&NewProduct::new("Other", m(1), Some("6001"), None).unwrap())
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    assert!(e.to_string().contains("barcode 6001"));
    assert_eq!(s.products(false).unwrap().len(), 1);
    assert_eq!(s.product_by_code("nope").unwrap_err().code(), "not_found");
}

#[test]
fn import_is_all_or_nothing_and_updates_by_code() {
    let mut s = store_with_cashier();
    s.add_product(&NewProduct::new("Sugar", m(140), Some("6001"), None).unwrap())
        .unwrap();
    let rows = parse_price_list(
        "p.csv",
        b"name,price,barcode,sku\nSugar 1kg,150,6001,\nMilk,60,6002,\nBread,55,,BR1\n",
    )
    .unwrap();
    let sum = s.import_products(&rows, "Wanjiku").unwrap();
    assert_eq!((sum.inserted, sum.updated), (2, 1));
    assert_eq!(s.product_by_code("6001").unwrap().price, m(150));
    // A row colliding with another product's SKU aborts the whole file.
    let rows = parse_price_list(
        "p.csv",
        b"name,price,barcode,sku\nTea,99,7001,\nMilk 2,61,6002,BR1\n",
    )
    .unwrap();
    let e = s.import_products(&rows, "Wanjiku").unwrap_err();
    assert_eq!(e.code(), "conflict");
    assert!(e.to_string().contains("line 3"), "{e}");
    assert!(
        s.product_by_code("7001").is_err(),
        "nothing from the bad file was imported"
    );
    assert_eq!(s.products(true).unwrap().len(), 3);
}

#[test]
fn sale_with_cash_change_and_split_tender() {
    let mut s = store_with_cashier();
    let sale_id = s
        .create_sale(
            "wanjiku",
            &[
                NewLine::free("Sugar 1kg", m(150), 2).unwrap(),
                NewLine::free("Bread", Money::from_cents(5_550).unwrap(), 1).unwrap(),
            ],
        )
        .unwrap()
        .id;
    let sale = s.sale(sale_id).unwrap();
    assert_eq!(sale.total, Money::from_cents(35_550).unwrap());
    assert_eq!(sale.status, SaleStatus::Open);
    assert_eq!(sale.lines.len(), 2);

    let (sale, change) = s.pay_cash(sale_id, m(100), "Wanjiku").unwrap();
    assert_eq!(change, Money::ZERO);
    assert_eq!(sale.status, SaleStatus::AwaitingPayment);
    assert_eq!(sale.due, Money::from_cents(25_550).unwrap());

    let sale = s
        .pay_mpesa_code(
            sale_id,
            "qkm0fxe6rk",
            Some(m(200)),
            "Wanjiku",
            crate::store::Claim::Local,
        )
        .unwrap();
    assert_eq!(sale.due, Money::from_cents(5_550).unwrap());
    assert!(!sale.tenders[1].verified);
    assert_eq!(sale.tenders[1].receipt.as_deref(), Some("QKM0FXE6RK"));

    let (sale, change) = s.pay_cash(sale_id, m(100), "Wanjiku").unwrap();
    assert_eq!(change, Money::from_cents(4_450).unwrap());
    assert_eq!(sale.status, SaleStatus::Paid);
    assert!(sale.paid_at.is_some());

    assert_eq!(
        s.pay_cash(sale_id, m(1), "Wanjiku").unwrap_err().code(),
        "conflict"
    );
    assert_eq!(
        s.void_sale(sale_id, "customer left", "Wanjiku")
            .unwrap_err()
            .code(),
        "conflict"
    );
}

#[test]
fn a_typed_code_pays_only_once() {
    let mut s = store_with_cashier();
    let a = sale(&mut s, 100);
    let b = sale(&mut s, 100);
    s.pay_mpesa_code(a, "QKM0FXE6RK", None, "Wanjiku", crate::store::Claim::Local)
        .unwrap();
    let e = s
        .pay_mpesa_code(b, "QKM0FXE6RK", None, "Wanjiku", crate::store::Claim::Local)
        .unwrap_err();
    assert!(e.to_string().contains("already used for sale"), "{e}");
    let e = s
        .pay_mpesa_code(
            b,
            "QKM0FXE6RK",
            Some(m(101)),
            "Wanjiku",
            crate::store::Claim::Local,
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("amount:"), "{e}");
}

#[test]
fn bad_sale_input_writes_nothing() {
    let mut s = store_with_cashier();
    assert_eq!(
        s.create_sale("Wanjiku", &[]).unwrap_err().code(),
        "invalid_input"
    );
    assert_eq!(
        s.create_sale("Nobody", &[NewLine::free("x", m(1), 1).unwrap()])
            .unwrap_err()
            .code(),
        "not_found"
    );
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM sales", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn attempt_lifecycle_writes_events_and_tender() {
    let mut s = store_with_cashier();
    let sale_id = sale(&mut s, 150);
    let a = s.create_attempt(sale_id, &phone(), 150, "Wanjiku").unwrap();
    assert_eq!(a.state, AttemptState::Created);
    assert_eq!(s.sale(sale_id).unwrap().status, SaleStatus::AwaitingPayment);
    // One active attempt per sale, and no cash over the in-flight part.
    assert_eq!(
        s.create_attempt(sale_id, &phone(), 150, "Wanjiku")
            .unwrap_err()
            .code(),
        "conflict"
    );
    assert_eq!(
        s.pay_cash(sale_id, m(150), "Wanjiku").unwrap_err().code(),
        "conflict"
    );

    let accepted = PaymentEvent::PushAccepted {
        checkout_id: "ws_CO_1".into(),
    };
    assert!(matches!(
        s.apply_event(&a.id, &accepted, "engine", None).unwrap(),
        Applied::Changed(_)
    ));
    assert!(matches!(
        s.apply_event(&a.id, &accepted, "engine", None).unwrap(),
        Applied::Same(_)
    ));
    assert!(matches!(
        s.apply_event(&a.id, &result("4999", None), "query", None)
            .unwrap(),
        Applied::Same(_)
    ));
    // Paid by query: no receipt yet.
    let paid = s
        .apply_event(&a.id, &result("0", None), "query", Some("processed"))
        .unwrap();
    assert_eq!(paid.attempt().state, AttemptState::Paid { receipt: None });
    let sale = s.sale(sale_id).unwrap();
    assert_eq!(sale.status, SaleStatus::Paid);
    assert_eq!(sale.tenders.len(), 1);
    assert_eq!(sale.tenders[0].kind, TenderKind::MpesaStk);
    assert!(!sale.tenders[0].verified);
    // The callback brings the receipt, twice: applied once.
    s.apply_event(&a.id, &result("0", Some("TAH5J2K991")), "callback", None)
        .unwrap();
    assert!(matches!(
        s.apply_event(&a.id, &result("0", Some("TAH5J2K991")), "callback", None)
            .unwrap(),
        Applied::Same(_)
    ));
    let sale = s.sale(sale_id).unwrap();
    assert_eq!(sale.tenders.len(), 1);
    assert!(sale.tenders[0].verified);
    assert_eq!(sale.tenders[0].receipt.as_deref(), Some("TAH5J2K991"));
    // A contradicting fact is recorded and flagged, never applied.
    let c = s
        .apply_event(&a.id, &result("1032", None), "callback", None)
        .unwrap();
    assert!(matches!(c, Applied::Conflict(_)));
    assert!(
        c.attempt()
            .flag
            .as_deref()
            .unwrap()
            .contains("paid, then result code 1032")
    );
    assert!(matches!(c.attempt().state, AttemptState::Paid { .. }));

    let events = s.attempt_events(&a.id).unwrap();
    let names: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.event.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("created", "changed"),
            ("push_accepted", "changed"),
            ("result", "changed"),
            ("result", "changed"),
            ("result", "conflict")
        ]
    );
    // The log is append-only.
    assert!(s.conn.execute("DELETE FROM payment_events", []).is_err());
    assert!(
        s.conn
            .execute("UPDATE payment_events SET source = 'x'", [])
            .is_err()
    );
    // A late push answer is a weaker fact; "never reached" after paid is impossible.
    assert!(matches!(
        s.apply_event(&a.id, &PaymentEvent::PushNoAnswer, "engine", None)
            .unwrap(),
        Applied::Same(_)
    ));
    assert!(
        s.apply_event(&a.id, &PaymentEvent::NeverReached, "cashier", None)
            .is_err()
    );
}

#[test]
fn failed_and_never_reached_free_the_sale_for_a_new_push() {
    let mut s = store_with_cashier();
    let sale_id = sale(&mut s, 100);
    let a = s.create_attempt(sale_id, &phone(), 100, "Wanjiku").unwrap();
    s.apply_event(
        &a.id,
        &PaymentEvent::PushAccepted {
            checkout_id: "ws_CO_2".into(),
        },
        "engine",
        None,
    )
    .unwrap();
    s.apply_event(
        &a.id,
        &result("1032", None),
        "callback",
        Some("Request cancelled by user"),
    )
    .unwrap();
    let a = s.attempt(&a.id).unwrap();
    assert_eq!(
        a.state,
        AttemptState::Failed {
            code: "1032".into()
        }
    );
    assert_eq!(a.result_desc.as_deref(), Some("Request cancelled by user"));
    assert_eq!(s.sale(sale_id).unwrap().status, SaleStatus::Open);

    let b = s.create_attempt(sale_id, &phone(), 100, "Wanjiku").unwrap();
    s.apply_event(&b.id, &PaymentEvent::PushNoAnswer, "engine", None)
        .unwrap();
    assert_eq!(s.attempts(true, 10).unwrap().len(), 1);
    s.apply_event(&b.id, &PaymentEvent::NeverReached, "cashier", None)
        .unwrap();
    assert_eq!(
        s.attempt(&b.id).unwrap().state,
        AttemptState::Failed {
            code: NOT_REACHED.into()
        }
    );
    assert!(s.attempts(true, 10).unwrap().is_empty());
    // The phone did get it after all: flagged for the manager.
    let late = s
        .apply_event(&b.id, &result("0", Some("UJ22T8IYOU")), "callback", None)
        .unwrap();
    assert!(matches!(late, Applied::Conflict(_)));
    assert_eq!(
        s.day_report(crate::time::today()).unwrap().flagged_attempts,
        1
    );
}

#[test]
fn attempt_amounts_are_checked() {
    let mut s = store_with_cashier();
    let sale_id = sale(&mut s, 100);
    for bad in [0, -1, 101, 250_001] {
        let e = s
            .create_attempt(sale_id, &phone(), bad, "Wanjiku")
            .unwrap_err();
        assert!(e.to_string().starts_with("amount:"), "{bad}: {e}");
    }
    assert!(s.attempts(false, 10).unwrap().is_empty());
}

#[test]
fn day_report_totals_and_receipts() {
    let mut s = store_with_cashier();
    let a = sale(&mut s, 300);
    s.pay_cash(a, m(500), "Wanjiku").unwrap();
    let b = s
        .create_sale("Otieno", &[NewLine::free("Milk", m(60), 2).unwrap()])
        .unwrap()
        .id;
    let att = s.create_attempt(b, &phone(), 120, "Otieno").unwrap();
    s.apply_event(
        &att.id,
        &PaymentEvent::PushAccepted {
            checkout_id: "ws_CO_3".into(),
        },
        "engine",
        None,
    )
    .unwrap();
    s.apply_event(&att.id, &result("0", Some("TAH5J2K991")), "callback", None)
        .unwrap();
    let c = sale(&mut s, 40);
    s.pay_mpesa_code(c, "QKM0FXE6RK", None, "Wanjiku", crate::store::Claim::Local)
        .unwrap();
    let _open = sale(&mut s, 999);

    let r = s.day_report(crate::time::today()).unwrap();
    assert_eq!(r.sales_paid, 3);
    assert_eq!(r.sales_total, m(460));
    assert_eq!(r.taken, m(460));
    let by_kind: Vec<(TenderKind, i64)> = r
        .by_tender
        .iter()
        .map(|t| (t.kind, t.amount.cents() / 100))
        .collect();
    assert_eq!(
        by_kind,
        vec![
            (TenderKind::Cash, 300),
            (TenderKind::MpesaCode, 40),
            (TenderKind::MpesaStk, 120)
        ]
    );
    let by_cashier: Vec<(&str, i64)> = r
        .by_cashier
        .iter()
        .map(|t| (t.cashier.as_str(), t.amount.cents() / 100))
        .collect();
    assert_eq!(by_cashier, vec![("Otieno", 120), ("Wanjiku", 340)]);
    assert_eq!(r.mpesa_receipts.len(), 2);
    assert_eq!(r.mpesa_receipts[0].receipt.as_deref(), Some("TAH5J2K991"));
    assert_eq!(r.mpesa_receipts[0].phone.as_deref(), Some("2547****149"));
    assert!(r.mpesa_receipts[0].verified);
    assert!(!r.mpesa_receipts[1].verified);
    // By hour, in Nairobi time: cash at 08:30, the M-Pesa payments at 14:10.
    let (from, _) = crate::time::day_bounds(crate::time::today());
    s.conn
        .execute(
            "UPDATE tenders SET created_at = ?1 + CASE WHEN kind = 'cash' THEN 30600000 ELSE 51000000 END",
            [from],
        )
        .unwrap();
    let hours: Vec<(u8, i64, i64, i64)> = s
        .day_report(crate::time::today())
        .unwrap()
        .by_hour
        .iter()
        .map(|h| {
            (
                h.hour,
                h.count,
                h.amount.cents() / 100,
                h.mpesa.cents() / 100,
            )
        })
        .collect();
    assert_eq!(hours, vec![(8, 1, 300, 0), (14, 2, 160, 160)]);
    // Another day is empty.
    let other = s
        .day_report(crate::time::today().pred_opt().unwrap())
        .unwrap();
    assert_eq!(
        (other.sales_paid, other.taken, other.mpesa_receipts.len()),
        (0, Money::ZERO, 0)
    );

    let (from, to) = crate::time::day_bounds(crate::time::today());
    let rows = s.export_sales(from, to).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1].mpesa, m(120));
    assert_eq!(rows[1].receipts, "TAH5J2K991");
    assert_eq!(rows[3].status, "open");
}

#[test]
fn day_queries_use_the_time_indexes() {
    let s = store_with_cashier();
    let plan = |sql: &str| -> String {
        let mut st = s
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        st.query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let p = plan(
        "SELECT * FROM tenders WHERE created_at >= 1 AND created_at < 2 AND kind IN ('mpesa_stk','mpesa_code')",
    );
    assert!(p.contains("tenders_created"), "{p}");
    let p =
        plan("SELECT count(*) FROM sales WHERE paid_at >= 1 AND paid_at < 2 AND status = 'paid'");
    assert!(p.contains("sales_paid"), "{p}");
    let p = plan("SELECT id FROM payment_attempts WHERE state IN ('created','pending','unknown')");
    assert!(
        p.contains("attempts_open") || p.contains("attempts_one_active"),
        "{p}"
    );
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("duka.db");
    let (sale_id, attempt_id) = {
        let mut s = Store::open(&path).unwrap();
        s.add_cashier("Wanjiku", "cashier").unwrap();
        let id = sale(&mut s, 150);
        let a = s.create_attempt(id, &phone(), 150, "Wanjiku").unwrap();
        (id, a.id)
    };
    let s = Store::open(&path).unwrap();
    assert_eq!(s.sale(sale_id).unwrap().total, m(150));
    assert_eq!(s.attempt(&attempt_id).unwrap().state, AttemptState::Created);
    assert_eq!(s.attempts(true, 10).unwrap().len(), 1);
}

#[test]
fn a_receipt_already_on_another_tender_is_flagged_and_the_money_counted_once() {
    let mut s = store_with_cashier();
    // Sale A: the cashier typed the code of the customer's SMS, for another amount.
    let a = sale(&mut s, 100);
    s.pay_mpesa_code(
        a,
        "UJ22T8IYOU",
        Some(m(40)),
        "Wanjiku",
        crate::store::Claim::Local,
    )
    .unwrap();
    // Sale B: an STK payment whose callback carries that same receipt.
    let b = sale(&mut s, 100);
    let att = s.create_attempt(b, &phone(), 100, "Wanjiku").unwrap();
    s.apply_event(
        &att.id,
        &PaymentEvent::PushAccepted {
            checkout_id: "ws_CO_9".into(),
        },
        "engine",
        None,
    )
    .unwrap();
    let done = s
        .apply_event(&att.id, &result("0", Some("UJ22T8IYOU")), "callback", None)
        .unwrap();
    let flag = done.attempt().flag.clone().unwrap();
    assert!(flag.contains("already recorded on sale"), "{flag}");
    let sale_b = s.sale(b).unwrap();
    assert_eq!(sale_b.status, SaleStatus::Paid, "the money arrived");
    assert_eq!(sale_b.tenders.len(), 1);
    assert_eq!(sale_b.tenders[0].receipt, None);
    // Sale A keeps its (unverified) typed code; nothing was rewritten.
    let sale_a = s.sale(a).unwrap();
    assert_eq!(sale_a.tenders[0].receipt.as_deref(), Some("UJ22T8IYOU"));
    assert!(!sale_a.tenders[0].verified);
}

#[test]
fn a_typed_code_matching_a_paid_stk_receipt_is_refused_or_flagged() {
    let mut s = store_with_cashier();
    let a = sale(&mut s, 200);
    let att = s.create_attempt(a, &phone(), 100, "Wanjiku").unwrap();
    s.apply_event(
        &att.id,
        &PaymentEvent::PushAccepted {
            checkout_id: "ws_CO_8".into(),
        },
        "engine",
        None,
    )
    .unwrap();
    s.apply_event(&att.id, &result("0", Some("UJ22T8IYOU")), "callback", None)
        .unwrap();
    // Known receipt: refused.
    let e = s
        .pay_mpesa_code(
            a,
            "UJ22T8IYOU",
            Some(m(100)),
            "Wanjiku",
            crate::store::Claim::Local,
        )
        .unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    assert_eq!(s.sale(a).unwrap().due, m(100));

    // Paid by query (no receipt yet): the typed code cannot be recognised, but when the
    // callback brings the same receipt the double count is flagged for the manager.
    let b = sale(&mut s, 200);
    let att = s.create_attempt(b, &phone(), 100, "Wanjiku").unwrap();
    s.apply_event(
        &att.id,
        &PaymentEvent::PushAccepted {
            checkout_id: "ws_CO_7".into(),
        },
        "engine",
        None,
    )
    .unwrap();
    s.apply_event(&att.id, &result("0", None), "query", None)
        .unwrap();
    s.pay_mpesa_code(
        b,
        "TAH5J2K991",
        Some(m(100)),
        "Wanjiku",
        crate::store::Claim::Local,
    )
    .unwrap();
    let done = s
        .apply_event(&att.id, &result("0", Some("TAH5J2K991")), "callback", None)
        .unwrap();
    assert!(
        done.attempt()
            .flag
            .as_deref()
            .unwrap()
            .contains("already recorded on sale"),
        "{:?}",
        done.attempt().flag
    );
}

#[test]
fn the_same_typed_code_of_the_same_sale_and_amount_is_verified_not_doubled() {
    let mut s = store_with_cashier();
    let a = sale(&mut s, 100);
    let att = s.create_attempt(a, &phone(), 50, "Wanjiku").unwrap();
    s.apply_event(&att.id, &PaymentEvent::PushNoAnswer, "engine", None)
        .unwrap();
    s.pay_mpesa_code(
        a,
        "UJ22T8IYOU",
        Some(m(50)),
        "Wanjiku",
        crate::store::Claim::Local,
    )
    .unwrap();
    s.apply_event(&att.id, &result("0", Some("UJ22T8IYOU")), "callback", None)
        .unwrap();
    let sale = s.sale(a).unwrap();
    assert_eq!(sale.tenders.len(), 1, "one payment, counted once");
    assert!(sale.tenders[0].verified);
    assert_eq!(sale.tenders[0].attempt_id.as_deref(), Some(att.id.as_str()));
}

#[test]
fn pins_are_hashed_checked_and_never_stored_plain() {
    let mut s = store_with_cashier();
    // No PIN yet: nobody can sign in.
    let e = s.sign_in("Wanjiku", "1234").unwrap_err();
    assert_eq!(e.code(), "denied");
    assert!(!s.cashier("Wanjiku").unwrap().has_pin);

    for bad in ["", "12", "123456789", "12a4", " 1234"] {
        let e = s.set_pin("Wanjiku", bad).unwrap_err();
        assert_eq!(e.code(), "invalid_input", "{bad:?}");
        assert!(e.to_string().contains("pin"), "{e}");
    }
    s.set_pin("Wanjiku", "4821").unwrap();
    assert!(s.cashier("wanjiku").unwrap().has_pin);
    assert_eq!(s.sign_in("wanjiku", "4821").unwrap().name, "Wanjiku");
    assert_eq!(s.sign_in("Wanjiku", "4822").unwrap_err().code(), "denied");
    assert_eq!(s.sign_in("Nobody", "4821").unwrap_err().code(), "denied");

    let stored: String = s
        .conn
        .query_row(
            "SELECT pin_hash FROM cashiers WHERE name = 'Wanjiku'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("4821"));

    // Two cashiers with one PIN get different hashes (salted).
    s.set_pin("Otieno", "4821").unwrap();
    let other: String = s
        .conn
        .query_row(
            "SELECT pin_hash FROM cashiers WHERE name = 'Otieno'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_ne!(stored, other);
    assert_eq!(s.sign_in("Otieno", "4821").unwrap().role, "manager");

    // A cashier added with a PIN: a bad PIN adds nobody.
    let e = s
        .add_cashier_with_pin("Baraka", "cashier", "12")
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(s.cashier("Baraka").is_err(), "nothing half written");
    s.add_cashier_with_pin("Baraka", "cashier", "5555").unwrap();
    assert_eq!(s.sign_in("baraka", "5555").unwrap().role, "cashier");
}

#[test]
fn wrong_pins_lock_sign_in_for_longer_each_time_across_restarts_until_a_manager_unlocks() {
    use crate::store::{PinLock, pin_lock};
    use crate::time::Millis;
    use std::time::Duration;
    assert_eq!(pin_lock(4), PinLock::Open);
    assert_eq!(pin_lock(5), PinLock::For(Duration::from_secs(30)));
    assert_eq!(pin_lock(6), PinLock::For(Duration::from_secs(60)));
    assert_eq!(pin_lock(9), PinLock::For(Duration::from_secs(480)));
    assert_eq!(pin_lock(10), PinLock::UntilUnlocked);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("duka.db");
    let mut s = Store::open(&path).unwrap();
    s.add_cashier_with_pin("Amina", "cashier", "2580").unwrap();
    s.add_cashier_with_pin("Baraka", "cashier", "1470").unwrap();
    let t0: Millis = 1_800_000_000_000;
    for i in 1..=4 {
        let e = s.sign_in_at("Amina", "1111", t0 + i).unwrap_err();
        assert_eq!(e.code(), "denied", "try {i}: {e}");
    }
    let e = s.sign_in_at("Amina", "1111", t0 + 5).unwrap_err();
    assert_eq!(e.code(), "locked", "{e}");
    assert!(e.to_string().contains("try again in 30 s"), "{e}");
    assert_eq!(s.cashier("Amina").unwrap().pin_failures, 5);
    // Another cashier is not affected.
    s.sign_in_at("Baraka", "1470", t0 + 6).unwrap();

    // A restart (a new connection to the same file) remembers; the right PIN waits too.
    drop(s);
    let mut s = Store::open(&path).unwrap();
    let e = s.sign_in_at("Amina", "2580", t0 + 10_000).unwrap_err();
    assert_eq!(e.code(), "locked", "{e}");
    // After the wait, one more wrong PIN locks for twice as long.
    let e = s.sign_in_at("Amina", "1111", t0 + 31_000).unwrap_err();
    assert!(e.to_string().contains("try again in 60 s"), "{e}");
    assert_eq!(
        s.sign_in_at("Amina", "2580", t0 + 31_000 + 59_000)
            .unwrap_err()
            .code(),
        "locked"
    );
    // Up to the hard lock: no waiting opens it.
    let mut at = t0 + 31_000;
    for f in 7..=10 {
        at += 3_600_000;
        let _ = s.sign_in_at("Amina", "1111", at).unwrap_err();
        assert_eq!(s.cashier("Amina").unwrap().pin_failures, f);
    }
    let e = s
        .sign_in_at("Amina", "2580", at + 86_400_000 * 30)
        .unwrap_err();
    assert!(e.to_string().contains("a manager must unlock"), "{e}");
    s.unlock_pin("amina").unwrap();
    let c = s.sign_in_at("Amina", "2580", at + 1).unwrap();
    assert_eq!(c.pin_failures, 0);

    // A right PIN before the lock starts the count again.
    for i in 0..4 {
        let _ = s.sign_in_at("Amina", "9999", at + 10 + i).unwrap_err();
    }
    s.sign_in_at("Amina", "2580", at + 20).unwrap();
    assert_eq!(s.cashier("Amina").unwrap().pin_failures, 0);
    let e = s.sign_in_at("Amina", "9999", at + 21).unwrap_err();
    assert_eq!(e.code(), "denied", "{e}");
    // A new PIN set by a manager also unlocks.
    for i in 0..9 {
        let _ = s.sign_in_at("Amina", "9999", at + 100 + i);
    }
    s.set_pin("Amina", "3691").unwrap();
    s.sign_in_at("Amina", "3691", at + 200).unwrap();
}

#[test]
fn an_unknown_checkout_in_an_error_hides_the_phone_digits_inside_it() {
    let s = store_with_cashier();
    let e = s
        .attempt_by_checkout("ws_CO_02122026101010123254708374149")
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    assert!(!e.to_string().contains("708374149"), "{e}");
    assert!(e.to_string().contains("******149"), "{e}");
}

#[test]
fn an_unpaid_sale_is_corrected_after_a_cancelled_charge_and_charged_for_what_is_due_now() {
    let mut s = store_with_cashier();
    let sale_id = s
        .create_sale(
            "Wanjiku",
            &[
                NewLine::free("Sugar 1kg", m(150), 2).unwrap(),
                NewLine::free("Milk 500ml", m(60), 1).unwrap(),
            ],
        )
        .unwrap()
        .id;
    let a = s.create_attempt(sale_id, &phone(), 360, "Wanjiku").unwrap();
    // While the push is open, nothing about the lines may change.
    let pending = LineEdit::Remove { line_no: 2 };
    let e = s.edit_sale(sale_id, &pending, "Wanjiku", 10).unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert_eq!(
        s.sale(sale_id).unwrap().total,
        m(360),
        "nothing half written"
    );
    s.apply_event(
        &a.id,
        &PaymentEvent::PushAccepted {
            checkout_id: "ws_CO_E".into(),
        },
        "engine",
        None,
    )
    .unwrap();
    s.apply_event(&a.id, &result("1032", None), "callback", None)
        .unwrap();

    let sale = s.edit_sale(sale_id, &pending, "Wanjiku", 10).unwrap();
    assert_eq!(sale.total, m(300));
    let qty = LineEdit::SetQuantity {
        line_no: 1,
        quantity: 3,
    };
    assert_eq!(
        s.edit_sale(sale_id, &qty, "Wanjiku", 10).unwrap().total,
        m(450)
    );
    let add = LineEdit::Add(NewLine::free("Bread", m(65), 1).unwrap());
    let sale = s.edit_sale(sale_id, &add, "Otieno", 10).unwrap();
    assert_eq!(sale.total, m(515));
    assert_eq!(
        sale.lines.iter().map(|l| l.line_no).collect::<Vec<_>>(),
        [1, 3],
        "line numbers are never reused"
    );
    // The next charge asks for what is due now.
    let b = s.create_attempt(sale_id, &phone(), 516, "Wanjiku");
    assert!(b.is_err(), "more than is due is refused");
    s.create_attempt(sale_id, &phone(), 515, "Wanjiku").unwrap();

    let edits = s.sale_edits(sale_id).unwrap();
    let summary: Vec<_> = edits
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.line_no,
                e.before_qty,
                e.after_qty,
                e.total_after,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("remove", 2, Some(1), None, m(300)),
            ("quantity", 1, Some(2), Some(3), m(450)),
            ("add", 3, None, Some(1), m(515)),
        ]
    );
    assert_eq!(edits[2].cashier, "Otieno");
}

#[test]
fn a_correction_never_takes_a_sale_below_what_it_has_taken_nor_touches_a_paid_one() {
    let mut s = store_with_cashier();
    let sale_id = s
        .create_sale(
            "Wanjiku",
            &[
                NewLine::free("Sugar 1kg", m(150), 1).unwrap(),
                NewLine::free("Milk 500ml", m(60), 1).unwrap(),
            ],
        )
        .unwrap()
        .id;
    s.pay_cash(sale_id, m(150), "Wanjiku").unwrap();
    // 150 taken: removing the sugar would leave 60 against 150 paid.
    let e = s
        .edit_sale(sale_id, &LineEdit::Remove { line_no: 1 }, "Wanjiku", 10)
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert_eq!(
        s.sale(sale_id).unwrap().lines.len(),
        2,
        "nothing half written"
    );
    // Removing the milk leaves exactly what was paid: the sale is paid.
    let after = s
        .edit_sale(sale_id, &LineEdit::Remove { line_no: 2 }, "Wanjiku", 10)
        .unwrap();
    assert_eq!(after.status, SaleStatus::Paid);
    let e = s
        .edit_sale(
            sale_id,
            &LineEdit::SetQuantity {
                line_no: 1,
                quantity: 2,
            },
            "Wanjiku",
            10,
        )
        .unwrap_err();
    assert!(e.to_string().contains("is paid"), "{e}");

    let one = sale(&mut s, 100);
    let e = s
        .edit_sale(one, &LineEdit::Remove { line_no: 1 }, "Wanjiku", 10)
        .unwrap_err();
    assert!(e.to_string().contains("void the sale instead"), "{e}");
    let e = s
        .edit_sale(
            one,
            &LineEdit::SetQuantity {
                line_no: 9,
                quantity: 1,
            },
            "Wanjiku",
            10,
        )
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    let e = s
        .edit_sale(
            one,
            &LineEdit::SetQuantity {
                line_no: 1,
                quantity: 0,
            },
            "Wanjiku",
            10,
        )
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    s.void_sale(one, "rung up twice", "Wanjiku").unwrap();
    let add = LineEdit::Add(NewLine::free("Bread", m(65), 1).unwrap());
    assert!(s.edit_sale(one, &add, "Wanjiku", 10).is_err(), "voided");
}
