//! A shop's day in the store: shifts, the drawer, parked and voided sales, refunds, stock.

use super::*;
use crate::catalog::NewProduct;
use crate::money::Money;
use crate::payment::PaymentEvent;
use crate::phone::Msisdn;
use crate::refund::{RefundState, RefundTo, ReversalEvent};
use crate::sale::{NewLine, SaleStatus};

fn m(shillings: i64) -> Money {
    Money::from_shillings(shillings).unwrap()
}

fn store() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    s.add_cashier("Wanjiku", "cashier").unwrap();
    s.add_cashier("Otieno", "manager").unwrap();
    s
}

fn sale(s: &mut Store, lines: &[(&str, i64, i64)]) -> i64 {
    let lines: Vec<NewLine> = lines
        .iter()
        .map(|(d, p, q)| NewLine::free(d, m(*p), *q).unwrap())
        .collect();
    s.create_sale("Wanjiku", &lines).unwrap().id
}

/// A sale paid by STK push: `(sale, receipt)`.
fn paid_by_mpesa(s: &mut Store, shillings: i64, receipt: &str) -> i64 {
    let id = sale(s, &[("Sugar 1kg", shillings, 1)]);
    let a = s
        .create_attempt(
            id,
            &Msisdn::parse("0708374149").unwrap(),
            shillings,
            "Wanjiku",
        )
        .unwrap();
    let ev = PaymentEvent::PushAccepted {
        checkout_id: format!("ws_CO_{receipt}"),
    };
    s.apply_event(&a.id, &ev, "engine", None).unwrap();
    let ok = PaymentEvent::Result {
        code: "0".into(),
        receipt: Some(receipt.into()),
    };
    s.apply_event(&a.id, &ok, "callback", None).unwrap();
    id
}

#[test]
fn two_shifts_cannot_be_open_at_once_and_the_expected_cash_adds_up_from_its_records() {
    let mut s = store();
    let shift = s.open_shift("Wanjiku", m(1_000)).unwrap();
    let e = s.open_shift("Otieno", m(500)).unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(e.to_string().contains("Wanjiku"), "{e}");

    // Cash sales: 300 paid with 500 (200 change); 150 exactly.
    let a = sale(&mut s, &[("Sugar 1kg", 150, 2)]);
    s.pay_cash(a, m(500), "Wanjiku").unwrap();
    let b = sale(&mut s, &[("Milk", 150, 1)]);
    s.pay_cash(b, m(150), "Wanjiku").unwrap();
    // M-Pesa does not touch the drawer.
    paid_by_mpesa(&mut s, 250, "QKM0FXE6RK");
    s.drawer_move(DrawerKind::PayOut, m(120), "transport for stock", "Otieno")
        .unwrap();
    s.drawer_move(DrawerKind::CashIn, m(50), "change from the bank", "Wanjiku")
        .unwrap();
    s.drawer_move(DrawerKind::Open, m(999), "customer needed change", "Otieno")
        .unwrap();
    let refund = s
        .create_refund(b, None, "milk was sour", &RefundTo::Cash, "Otieno")
        .unwrap();
    assert_eq!(refund.amount, m(150));

    let x = s.z_report(shift.id).unwrap();
    // 1,000 + 300 + 150 − 150 − 120 + 50
    assert_eq!(x.expected_cash, m(1_230));
    assert_eq!(x.counted_cash, None);
    assert_eq!(x.cash_sales, m(450));
    assert_eq!((x.pay_outs.count, x.pay_outs.amount), (1, m(120)));
    assert_eq!((x.cash_in.count, x.cash_in.amount), (1, m(50)));
    assert_eq!(x.drawer_opens, 1);
    assert_eq!(
        (x.mpesa_confirmed.count, x.mpesa_confirmed.amount),
        (1, m(250))
    );
    assert_eq!((x.refunds.count, x.refunds.amount), (1, m(150)));

    // A pay-out larger than the drawer holds is refused, and writes nothing.
    let e = s
        .drawer_move(DrawerKind::PayOut, m(1_231), "rent", "Otieno")
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    let z = s.close_shift(m(1_200), "Wanjiku").unwrap();
    assert_eq!(z.expected_cash, m(1_230));
    assert_eq!(z.counted_cash, Some(m(1_200)));
    assert_eq!(z.difference_cents, Some(-3_000), "30 short");
    assert!(s.current_shift().unwrap().is_none());
    // Closed: no more cash moves; a new shift can open.
    let e = s
        .drawer_move(DrawerKind::CashIn, m(10), "float top-up", "Wanjiku")
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    let next = s.open_shift("Otieno", m(1_200)).unwrap();
    assert_ne!(next.id, shift.id);
    // Sales belong to the shift open when they were rung up.
    let c = sale(&mut s, &[("Bread", 65, 1)]);
    s.pay_cash(c, m(100), "Otieno").unwrap();
    assert_eq!(s.z_report(next.id).unwrap().cash_sales, m(65));
    assert_eq!(
        s.z_report(shift.id).unwrap().expected_cash,
        m(1_230),
        "fixed at close"
    );

    let day = s.day_close(crate::time::today()).unwrap();
    assert_eq!(day.shifts.len(), 2);
    assert_eq!(day.open_shifts, 1);
    assert_eq!(day.cash_sales, m(515));
    assert_eq!(day.difference_cents, -3_000);
}

#[test]
fn a_voided_sale_takes_no_money_and_a_parked_one_waits_aside() {
    let mut s = store();
    let a = sale(&mut s, &[("Sugar 1kg", 150, 1)]);
    assert_eq!(
        s.void_sale(a, "x", "Wanjiku").unwrap_err().code(),
        "invalid_input",
        "a reason is needed"
    );
    let v = s
        .void_sale(a, "customer changed their mind", "Wanjiku")
        .unwrap();
    assert_eq!(v.status, SaleStatus::Voided);
    assert!(s.pay_cash(a, m(150), "Wanjiku").is_err());
    assert!(
        s.create_attempt(a, &Msisdn::parse("0708374149").unwrap(), 150, "Wanjiku")
            .is_err()
    );
    let e = s
        .create_refund(a, None, "mistake", &RefundTo::Cash, "Otieno")
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    let b = sale(&mut s, &[("Milk", 60, 1)]);
    s.pay_cash(b, m(20), "Wanjiku").unwrap();
    assert_eq!(
        s.void_sale(b, "customer left", "Wanjiku")
            .unwrap_err()
            .code(),
        "conflict",
        "money on it: refund instead"
    );

    let c = sale(&mut s, &[("Bread", 65, 1)]);
    s.park_sale(c).unwrap();
    assert_eq!(
        s.parked_sales()
            .unwrap()
            .iter()
            .map(|x| x.id)
            .collect::<Vec<_>>(),
        [c]
    );
    assert!(s.park_sale(c).is_ok(), "parking twice keeps it parked");
    s.recall_sale(c).unwrap();
    assert!(s.parked_sales().unwrap().is_empty());
    assert_eq!(s.recall_sale(c).unwrap_err().code(), "conflict");
    let d = sale(&mut s, &[("Tea", 120, 1)]);
    s.create_attempt(d, &Msisdn::parse("0708374149").unwrap(), 120, "Wanjiku")
        .unwrap();
    assert_eq!(
        s.park_sale(d).unwrap_err().code(),
        "conflict",
        "being paid now"
    );
    // A parked sale paid later leaves the parked list.
    s.park_sale(c).unwrap();
    s.pay_cash(c, m(65), "Wanjiku").unwrap();
    assert!(s.parked_sales().unwrap().is_empty());
}

#[test]
fn a_refund_never_gives_back_more_than_was_sold_or_taken() {
    let mut s = store();
    s.open_shift("Wanjiku", m(0)).unwrap();
    let id = sale(&mut s, &[("Sugar 1kg", 150, 3), ("Milk", 60, 1)]);
    s.pay_cash(id, m(510), "Wanjiku").unwrap();
    let line = |line_no, quantity| RefundLineInput {
        line_no,
        quantity,
        restock: false,
    };
    let e = s
        .create_refund(
            id,
            Some(&[line(1, 4)]),
            "wrong item",
            &RefundTo::Cash,
            "Otieno",
        )
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input", "{e}");
    let e = s
        .create_refund(
            id,
            Some(&[line(9, 1)]),
            "wrong item",
            &RefundTo::Cash,
            "Otieno",
        )
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    let e = s
        .create_refund(
            id,
            Some(&[line(1, 1), line(1, 1)]),
            "twice",
            &RefundTo::Cash,
            "Otieno",
        )
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(s.refunds_of(id).unwrap().is_empty(), "nothing half written");

    let r1 = s
        .create_refund(
            id,
            Some(&[line(1, 2)]),
            "torn bags",
            &RefundTo::Cash,
            "Otieno",
        )
        .unwrap();
    assert_eq!(r1.amount, m(300));
    assert_eq!(r1.lines[0].description, "Sugar 1kg");
    let e = s
        .create_refund(
            id,
            Some(&[line(1, 2)]),
            "more torn bags",
            &RefundTo::Cash,
            "Otieno",
        )
        .unwrap_err();
    assert!(e.to_string().contains("2 refunded already"), "{e}");
    // The rest, whole: what is left of the money, exactly.
    let r2 = s
        .create_refund(
            id,
            None,
            "customer returned all",
            &RefundTo::Manual {
                code: "SKE52PAWR9".into(),
            },
            "Otieno",
        )
        .unwrap();
    assert_eq!(r2.amount, m(210));
    assert_eq!((r2.kind.as_str(), r2.verified), ("manual", false));
    assert_eq!(r2.receipt.as_deref(), Some("SKE52PAWR9"));
    let e = s
        .create_refund(id, None, "again", &RefundTo::Cash, "Otieno")
        .unwrap_err();
    assert!(e.to_string().contains("nothing left"), "{e}");
    // The sale keeps its history.
    let sale = s.sale(id).unwrap();
    assert_eq!(
        (sale.status, sale.lines.len(), sale.tenders.len()),
        (SaleStatus::Paid, 2, 1)
    );
}

#[test]
fn a_reversal_is_recorded_before_it_is_sent_and_a_receipt_is_reversed_once() {
    let mut s = store();
    let id = paid_by_mpesa(&mut s, 251, "QKM0FXE6RK");
    let line = [RefundLineInput {
        line_no: 1,
        quantity: 1,
        restock: false,
    }];
    let r = s
        .create_refund(id, Some(&line), "wrong size", &RefundTo::Mpesa, "Otieno")
        .unwrap();
    assert_eq!(
        (r.kind.as_str(), r.state),
        ("mpesa", RefundState::Requested)
    );
    assert_eq!(r.original_receipt.as_deref(), Some("QKM0FXE6RK"));
    assert_eq!(r.amount, m(251));
    assert_eq!(s.open_reversals().unwrap().len(), 1);
    let e = s
        .create_refund(id, None, "again", &RefundTo::Mpesa, "Otieno")
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");

    let acc = ReversalEvent::Accepted {
        conversation_id: "AG_20261203_1".into(),
    };
    let r = s.apply_reversal(r.id, &acc, "engine", None).unwrap();
    assert_eq!(r.state, RefundState::Accepted);
    assert_eq!(s.refund_by_conversation("AG_20261203_1").unwrap().id, r.id);
    let ok = ReversalEvent::Result {
        code: "0".into(),
        receipt: Some("SKE52PAWR9".into()),
    };
    let r = s
        .apply_reversal(r.id, &ok, "relay", Some("processed"))
        .unwrap();
    assert_eq!(
        (r.state, r.receipt.as_deref()),
        (RefundState::Reversed, Some("SKE52PAWR9"))
    );
    let again = ReversalEvent::Result {
        code: "R000002".into(),
        receipt: None,
    };
    let r = s.apply_reversal(r.id, &again, "relay", None).unwrap();
    assert_eq!(
        r.state,
        RefundState::Reversed,
        "a contradiction is flagged, not applied"
    );
    assert!(r.flag.is_some());
    assert!(s.open_reversals().unwrap().is_empty());

    // A sale paid in cash has no M-Pesa receipt to reverse.
    let cash = sale(&mut s, &[("Milk", 60, 1)]);
    s.pay_cash(cash, m(60), "Wanjiku").unwrap();
    let e = s
        .create_refund(cash, None, "sour", &RefundTo::Mpesa, "Otieno")
        .unwrap_err();
    assert!(e.to_string().contains("no M-Pesa payment"), "{e}");
}

#[test]
fn a_result_that_beats_its_acknowledgement_still_gets_the_conversation_id() {
    let mut s = store();
    let id = paid_by_mpesa(&mut s, 150, "QKM0FXE6RL");
    let r = s
        .create_refund(id, None, "returned", &RefundTo::Mpesa, "Otieno")
        .unwrap();
    let ok = ReversalEvent::Result {
        code: "0".into(),
        receipt: Some("SKE52PAWS1".into()),
    };
    let r = s.apply_reversal(r.id, &ok, "relay", None).unwrap();
    assert_eq!(
        (r.state, r.conversation_id.as_deref()),
        (RefundState::Reversed, None)
    );
    let acc = ReversalEvent::Accepted {
        conversation_id: "AG_20261203_9".into(),
    };
    let r = s.apply_reversal(r.id, &acc, "engine", None).unwrap();
    assert_eq!(r.state, RefundState::Reversed, "the Result's word stays");
    assert_eq!(r.conversation_id.as_deref(), Some("AG_20261203_9"));
    assert_eq!(s.refund_by_conversation("AG_20261203_9").unwrap().id, r.id);
    // A second acknowledgement never replaces the first one's id.
    let other = ReversalEvent::Accepted {
        conversation_id: "AG_20261203_10".into(),
    };
    let r = s.apply_reversal(r.id, &other, "engine", None).unwrap();
    assert_eq!(r.conversation_id.as_deref(), Some("AG_20261203_9"));
}

#[test]
fn a_failed_reversal_gives_the_money_back_to_what_can_be_refunded() {
    let mut s = store();
    s.open_shift("Wanjiku", m(500)).unwrap();
    let id = paid_by_mpesa(&mut s, 100, "QKM0FXE6RL");
    let r = s
        .create_refund(id, None, "double charge", &RefundTo::Mpesa, "Otieno")
        .unwrap();
    let failed = ReversalEvent::Result {
        code: "2001".into(),
        receipt: None,
    };
    let r = s.apply_reversal(r.id, &failed, "relay", None).unwrap();
    assert_eq!(r.state, RefundState::Failed);
    // Nothing went back: the sale can still be refunded, to cash.
    let cash = s
        .create_refund(id, None, "double charge", &RefundTo::Cash, "Otieno")
        .unwrap();
    assert_eq!(cash.amount, m(100));
    // Then M-Pesa says it did reverse it after all: both refunds count, and the manager is told.
    let ok = ReversalEvent::Result {
        code: "0".into(),
        receipt: Some("SKE9ZZ1ABC".into()),
    };
    let late = s.apply_reversal(r.id, &ok, "relay", None).unwrap();
    assert_eq!(late.state, RefundState::Reversed);
    assert!(
        late.flag
            .as_deref()
            .is_some_and(|f| f.contains("paid back")),
        "{late:?}"
    );
    assert_eq!(
        s.sale(id).unwrap().refunded,
        m(200),
        "the truth: paid back twice"
    );
}

#[test]
fn stock_falls_when_a_sale_is_paid_once_rises_with_goods_returned_and_is_set_by_a_count() {
    let mut s = store();
    s.open_shift("Wanjiku", m(0)).unwrap();
    let sugar = s
        .add_product(&NewProduct::new("Sugar 1kg", m(150), Some("6001001"), None).unwrap())
        .unwrap();
    let service = s
        .add_product(&NewProduct::new("Phone charging", m(20), None, None).unwrap())
        .unwrap();
    s.track_stock(sugar.id, Some(10), Some(5), "Otieno")
        .unwrap();
    let lines = [
        NewLine {
            product_id: Some(sugar.id),
            description: "Sugar 1kg".into(),
            unit_price: m(150),
            quantity: 4,
        },
        NewLine {
            product_id: Some(service.id),
            description: "Phone charging".into(),
            unit_price: m(20),
            quantity: 1,
        },
    ];
    let id = s.create_sale("Wanjiku", &lines).unwrap().id;
    assert_eq!(s.product(sugar.id).unwrap().stock, Some(10), "not paid yet");
    s.pay_cash(id, m(620), "Wanjiku").unwrap();
    assert_eq!(s.product(sugar.id).unwrap().stock, Some(6));
    assert_eq!(
        s.product(service.id).unwrap().stock,
        None,
        "a service keeps none"
    );
    assert!(s.low_stock().unwrap().is_empty());
    let back = [RefundLineInput {
        line_no: 1,
        quantity: 1,
        restock: true,
    }];
    s.create_refund(id, Some(&back), "torn bag", &RefundTo::Cash, "Otieno")
        .unwrap();
    assert_eq!(s.product(sugar.id).unwrap().stock, Some(7));
    let count = s.count_stock(sugar.id, 4, "shelf count", "Otieno").unwrap();
    assert_eq!(count.delta, -3);
    assert_eq!(s.product(sugar.id).unwrap().stock, Some(4));
    assert_eq!(
        s.low_stock()
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        [sugar.id]
    );
    let moves: Vec<(String, i64)> = s
        .stock_moves(sugar.id, 10)
        .unwrap()
        .into_iter()
        .map(|m| (m.kind, m.delta))
        .collect();
    assert_eq!(
        moves,
        [
            ("count".into(), -3),
            ("refund".into(), 1),
            ("sale".into(), -4),
            ("count".into(), 10)
        ]
    );
    assert_eq!(
        s.count_stock(service.id, 3, "count", "Otieno")
            .unwrap_err()
            .code(),
        "conflict"
    );
}

#[test]
fn discounts_follow_the_lines_need_a_manager_above_the_limit_and_reach_the_report() {
    use crate::discount::Discount;
    let mut s = store();
    let shift = s.open_shift("Wanjiku", m(0)).unwrap();
    let id = sale(&mut s, &[("Sugar 1kg", 150, 2), ("Milk", 100, 1)]);
    let cashier = DiscountBy {
        cashier: "Wanjiku",
        approved_by: None,
        limit_pct: 10,
    };
    // 10% of line 1 (300) is 30: within the limit.
    let d = s
        .discount_line(id, 1, Some(Discount::Percent(1_000)), cashier)
        .unwrap();
    assert_eq!(
        (d.lines[0].total, d.lines[0].discount, d.total),
        (m(270), m(30), m(370))
    );
    // The percentage follows the quantity.
    s.edit_sale(
        id,
        &LineEdit::SetQuantity {
            line_no: 1,
            quantity: 4,
        },
        "Wanjiku",
        10,
    )
    .unwrap();
    assert_eq!(s.sale(id).unwrap().lines[0].total, m(540));
    // 50 off the whole 640 is 7.8%: within; 100 off is 15.6%: a manager must approve.
    let e = s
        .discount_sale(id, Some(Discount::Amount(10_000)), cashier)
        .unwrap_err();
    assert_eq!(e.code(), "needs_approval", "{e}");
    assert_eq!(s.sale(id).unwrap().total, m(640), "nothing half written");
    let approved = DiscountBy {
        approved_by: Some("Otieno"),
        ..cashier
    };
    let d = s
        .discount_sale(id, Some(Discount::Amount(10_000)), approved)
        .unwrap();
    assert_eq!((d.discount, d.total), (m(100), m(540)));
    let not_a_manager = DiscountBy {
        approved_by: Some("Wanjiku"),
        ..cashier
    };
    assert_eq!(
        s.discount_sale(id, Some(Discount::Amount(20_000)), not_a_manager)
            .unwrap_err()
            .code(),
        "denied"
    );
    s.pay_cash(id, m(540), "Wanjiku").unwrap();
    let e = s
        .discount_sale(id, Some(Discount::Amount(100)), approved)
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "paid: refunds correct it");
    let z = s.z_report(shift.id).unwrap();
    assert_eq!(z.discounts, m(160), "60 on the line + 100 on the sale");
    // A refund of the whole gives back what was paid, discounts and all.
    let r = s
        .create_refund(id, None, "returned", &RefundTo::Cash, "Otieno")
        .unwrap();
    assert_eq!(r.amount, m(540));
}

#[test]
fn an_imported_stock_is_a_count_by_the_importer_and_an_empty_cell_leaves_stock_alone() {
    use crate::catalog::parse_price_list;
    let mut s = store();
    let add = |s: &mut Store, name, barcode, sku| {
        s.add_product(&NewProduct::new(name, m(10), barcode, sku).unwrap())
            .unwrap()
            .id
    };
    let sugar = add(&mut s, "Sugar 1kg", Some("6001001"), None);
    let charging = add(&mut s, "Phone charging", None, Some("CHG"));
    let salt = add(&mut s, "Salt", Some("6001003"), None);
    s.track_stock(sugar, Some(10), Some(5), "Otieno").unwrap();
    s.track_stock(salt, Some(4), None, "Otieno").unwrap();
    let moves = |s: &Store, id| -> Vec<(String, i64, Option<String>, Option<String>)> {
        s.stock_moves(id, 10)
            .unwrap()
            .into_iter()
            .map(|m| (m.kind, m.delta, m.reason, m.cashier))
            .collect()
    };
    let import = |s: &mut Store, csv: &str| {
        let rows = parse_price_list("p.csv", csv.as_bytes()).unwrap();
        s.import_products(&rows, "Otieno")
    };

    let sum = import(
        &mut s,
        "name,price,barcode,sku,stock,low_stock\n\
         Sugar 1kg,155,6001001,,7,\n\
         Phone charging,20,,CHG,,\n\
         Salt,30,6001003,,4,2\n\
         Milk,60,6001002,,12,3\n",
    )
    .unwrap();
    assert_eq!((sum.inserted, sum.updated), (1, 3));
    let stock = |s: &Store, id| {
        let p = s.product(id).unwrap();
        (p.stock, p.low_stock)
    };
    assert_eq!(stock(&s, sugar), (Some(7), Some(5)), "low line kept");
    assert_eq!(stock(&s, charging), (None, None), "still keeps no stock");
    assert_eq!(stock(&s, salt), (Some(4), Some(2)));
    let milk = s.product_by_code("6001002").unwrap().id;
    assert_eq!(stock(&s, milk), (Some(12), Some(3)));
    let import_move = |delta| {
        (
            "count".to_string(),
            delta,
            Some("import".to_string()),
            Some("Otieno".to_string()),
        )
    };
    assert_eq!(moves(&s, sugar)[0], import_move(-3));
    assert_eq!(moves(&s, sugar).len(), 2);
    assert_eq!(moves(&s, salt).len(), 1, "the same quantity is no move");
    assert_eq!(moves(&s, milk), [import_move(12)]);
    assert!(moves(&s, charging).is_empty());

    // Empty stock cells (or no stock column) leave what is kept as it is.
    import(&mut s, "name,price,barcode,stock\nSugar 1kg,150,6001001,\n").unwrap();
    import(&mut s, "name,price,barcode\nMilk,65,6001002\n").unwrap();
    assert_eq!(stock(&s, sugar), (Some(7), Some(5)));
    assert_eq!(stock(&s, milk), (Some(12), Some(3)));
    assert_eq!(s.product(milk).unwrap().price, m(65));

    // A stock on an untracked product starts it being kept, from what the file says.
    import(&mut s, "sku,name,price,stock\nCHG,Phone charging,20,0\n").unwrap();
    assert_eq!(stock(&s, charging), (Some(0), None));
    assert_eq!(moves(&s, charging), [import_move(0)]);

    // A later row that cannot be imported takes the earlier rows' stock with it.
    let e = import(
        &mut s,
        "name,price,barcode,sku,stock\nSugar 1kg,150,6001001,,1\nOther,1,6001002,CHG,\n",
    )
    .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(e.to_string().contains("line 3"), "{e}");
    assert_eq!(stock(&s, sugar), (Some(7), Some(5)));
    assert_eq!(moves(&s, sugar).len(), 2);

    // Rows not from the parser are checked too; the importer must be a cashier.
    let mut bad = NewProduct::new("Tea", m(99), Some("7001"), None).unwrap();
    bad.stock = Some(-1);
    let e = s
        .import_products(&[(2, bad.clone())], "Otieno")
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input", "{e}");
    assert!(e.to_string().starts_with("stock:"), "{e}");
    bad.stock = Some(1);
    let e = s.import_products(&[(2, bad)], "Nobody").unwrap_err();
    assert_eq!(e.code(), "not_found", "{e}");
    assert!(s.product_by_code("7001").is_err());
}

#[test]
fn the_day_report_and_the_export_count_line_and_sale_discounts() {
    use crate::discount::Discount;
    let mut s = store();
    let manager = DiscountBy {
        cashier: "Otieno",
        approved_by: None,
        limit_pct: 10,
    };
    // 150 × 2 with 30 off the line, then 20 off the sale: 250 paid.
    let a = sale(&mut s, &[("Sugar 1kg", 150, 2)]);
    s.discount_line(a, 1, Some(Discount::Amount(3_000)), manager)
        .unwrap();
    s.discount_sale(a, Some(Discount::Amount(2_000)), manager)
        .unwrap();
    s.pay_cash(a, m(250), "Wanjiku").unwrap();
    // No discount.
    let b = sale(&mut s, &[("Bread", 65, 1)]);
    s.pay_cash(b, m(65), "Wanjiku").unwrap();
    // Unpaid: its discount is not in the day's sales.
    let c = sale(&mut s, &[("Oil", 380, 1)]);
    s.discount_sale(c, Some(Discount::Amount(1_000)), manager)
        .unwrap();

    let r = s.day_report(crate::time::today()).unwrap();
    assert_eq!((r.sales_paid, r.sales_total), (2, m(315)));
    assert_eq!(r.discounts, m(50));
    let other = s
        .day_report(crate::time::today().pred_opt().unwrap())
        .unwrap();
    assert_eq!(other.discounts, Money::ZERO);

    let (from, to) = crate::time::day_bounds(crate::time::today());
    let rows = s.export_sales(from, to).unwrap();
    let got: Vec<(i64, Money, Money)> = rows
        .iter()
        .map(|r| (r.sale_id, r.total, r.discount))
        .collect();
    assert_eq!(
        got,
        [
            (a, m(250), m(50)),
            (b, m(65), Money::ZERO),
            (c, m(370), m(10))
        ]
    );
    let mut out = Vec::new();
    write_export_csv(&rows, &mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].ends_with(",total,cash,mpesa,mpesa_receipts,discount"),
        "{csv}"
    );
    assert!(lines[1].ends_with(",250.00,250.00,0.00,,50.00"), "{csv}");
    assert!(lines[2].ends_with(",65.00,65.00,0.00,,0.00"), "{csv}");
}

#[test]
fn a_refund_gives_back_only_money_the_drawer_or_m_pesa_confirmed() {
    let mut s = store();
    s.open_shift("Wanjiku", m(0)).unwrap();
    let id = sale(&mut s, &[("Sugar 1kg", 200, 1), ("Milk", 100, 1)]);
    // 200 by a code typed from an SMS (unverified: it may be made up), 100 in cash.
    s.pay_mpesa_code(id, "QKM0FXE6RK", Some(m(200)), "Wanjiku", Claim::Local)
        .unwrap();
    s.pay_cash(id, m(100), "Wanjiku").unwrap();
    assert_eq!(s.sale(id).unwrap().status, SaleStatus::Paid);
    let line = |line_no| {
        [RefundLineInput {
            line_no,
            quantity: 1,
            restock: false,
        }]
    };
    let by_hand = RefundTo::Manual {
        code: "SKE52PAWR9".into(),
    };
    for (lines, to) in [
        (None, &RefundTo::Cash),
        (Some(&line(1)[..]), &RefundTo::Cash),
        (None, &by_hand),
    ] {
        let e = s
            .create_refund(id, lines, "returned", to, "Otieno")
            .unwrap_err();
        assert_eq!(e.code(), "conflict", "{e}");
        assert!(e.to_string().contains("verify the code first"), "{e}");
        assert!(e.to_string().contains("QKM0FXE6RK"), "{e}");
    }
    assert!(s.refunds_of(id).unwrap().is_empty(), "nothing written");
    // The cash the drawer took can go back.
    let milk = s
        .create_refund(id, Some(&line(2)), "sour", &RefundTo::Cash, "Otieno")
        .unwrap();
    assert_eq!(milk.amount, m(100));
    assert_eq!(
        s.create_refund(id, None, "returned", &RefundTo::Cash, "Otieno")
            .unwrap_err()
            .code(),
        "conflict",
        "only the unverified 200 is left"
    );
    // M-Pesa confirms the code (a C2B confirmation): now it can be refunded.
    let c2b: daraja::wire::C2bPayload =
        serde_json::from_str(r#"{"TransID":"QKM0FXE6RK","TransAmount":"200"}"#).unwrap();
    s.record_c2b(&c2b, "{}").unwrap();
    let sugar = s
        .create_refund(id, None, "returned", &by_hand, "Otieno")
        .unwrap();
    assert_eq!(sugar.amount, m(200));
}

#[test]
fn only_a_paid_sale_is_refunded_and_it_stays_paid() {
    let mut s = store();
    s.open_shift("Wanjiku", m(1_000)).unwrap();
    let id = sale(&mut s, &[("Sugar 1kg", 150, 2)]);
    s.pay_cash(id, m(100), "Wanjiku").unwrap();
    assert_eq!(s.sale(id).unwrap().status, SaleStatus::AwaitingPayment);
    let one = [RefundLineInput {
        line_no: 1,
        quantity: 1,
        restock: true,
    }];
    for lines in [None, Some(&one[..])] {
        let e = s
            .create_refund(id, lines, "changed mind", &RefundTo::Cash, "Otieno")
            .unwrap_err();
        assert_eq!(e.code(), "conflict", "{e}");
        assert!(e.to_string().contains("not paid in full"), "{e}");
    }
    assert!(s.refunds_of(id).unwrap().is_empty());
    s.pay_cash(id, m(200), "Wanjiku").unwrap();
    let r = s
        .create_refund(id, None, "changed mind", &RefundTo::Cash, "Otieno")
        .unwrap();
    assert_eq!(r.amount, m(300));
    let after = s.sale(id).unwrap();
    assert_eq!(
        (after.status, after.refunded),
        (SaleStatus::Paid, m(300)),
        "a refunded sale stays paid; `refunded` says what went back"
    );
}

#[test]
fn a_cash_refund_needs_an_open_shift_and_the_day_close_shows_what_happened_outside_one() {
    let mut s = store();
    // No shift open: cash taken, a drawer opened, refunds by hand and to M-Pesa.
    let cash = sale(&mut s, &[("Sugar 1kg", 150, 1)]);
    s.pay_cash(cash, m(150), "Wanjiku").unwrap();
    let e = s
        .create_refund(cash, None, "returned", &RefundTo::Cash, "Otieno")
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(e.to_string().contains("no shift is open"), "{e}");
    assert!(s.refunds_of(cash).unwrap().is_empty());
    let by_hand = s
        .create_refund(
            cash,
            None,
            "returned",
            &RefundTo::Manual {
                code: "SKE52PAWR9".into(),
            },
            "Otieno",
        )
        .unwrap();
    assert_eq!(by_hand.shift_id, None);
    let mpesa = paid_by_mpesa(&mut s, 250, "QKM0FXE6RK");
    let reversal = s
        .create_refund(mpesa, None, "double charge", &RefundTo::Mpesa, "Otieno")
        .unwrap();
    assert_eq!(reversal.shift_id, None);
    s.drawer_move(DrawerKind::Open, m(0), "change for a customer", "Otieno")
        .unwrap();
    let day = s.day_close(crate::time::today()).unwrap();
    assert_eq!(day.cash_outside_shifts, m(150));
    assert_eq!(
        (
            day.refunds_outside_shifts.count,
            day.refunds_outside_shifts.amount
        ),
        (2, m(400))
    );
    assert_eq!(day.drawer_opens_outside_shifts, 1);
    assert_eq!(day.refunds.count, 0, "no shift's Z-report has them");

    // In a shift a cash refund comes out of the drawer, never more than it should hold.
    let big = sale(&mut s, &[("Oil", 500, 1)]);
    s.pay_cash(big, m(500), "Wanjiku").unwrap();
    let shift = s.open_shift("Wanjiku", m(100)).unwrap();
    let e = s
        .create_refund(big, None, "returned", &RefundTo::Cash, "Otieno")
        .unwrap_err();
    assert!(e.to_string().contains("the drawer should hold"), "{e}");
    let one = [RefundLineInput {
        line_no: 1,
        quantity: 1,
        restock: false,
    }];
    let small = sale(&mut s, &[("Bread", 60, 1)]);
    s.pay_cash(small, m(60), "Wanjiku").unwrap();
    let r = s
        .create_refund(small, Some(&one), "stale", &RefundTo::Cash, "Otieno")
        .unwrap();
    assert_eq!(r.shift_id, Some(shift.id));
    assert_eq!(s.z_report(shift.id).unwrap().expected_cash, m(100));
}

#[test]
fn an_edit_that_lifts_a_cashiers_discount_above_the_limit_needs_a_manager() {
    use crate::discount::Discount;
    let mut s = store();
    let cashier = DiscountBy {
        cashier: "Wanjiku",
        approved_by: None,
        limit_pct: 10,
    };
    // 100 off ten bags (1,000) is 10%: within the limit.
    let id = sale(&mut s, &[("Sugar 1kg", 100, 10)]);
    s.discount_line(id, 1, Some(Discount::Amount(10_000)), cashier)
        .unwrap();
    // One bag left would make it 100% (a total of nothing, "paid" with no tender): refused,
    // nothing written.
    let one_bag = LineEdit::SetQuantity {
        line_no: 1,
        quantity: 1,
    };
    let e = s.edit_sale(id, &one_bag, "Wanjiku", 10).unwrap_err();
    assert_eq!(e.code(), "needs_approval", "{e}");
    assert!(e.to_string().contains("line 1's discount"), "{e}");
    assert!(e.to_string().contains("remove the discount"), "{e}");
    let kept = s.sale(id).unwrap();
    assert_eq!(
        (kept.lines[0].quantity, kept.total, kept.status),
        (10, m(900), SaleStatus::Open)
    );
    assert!(s.sale_edits(id).unwrap().is_empty());
    // More bags: the discount is a smaller share, fine.
    let twelve = LineEdit::SetQuantity {
        line_no: 1,
        quantity: 12,
    };
    assert_eq!(
        s.edit_sale(id, &twelve, "Wanjiku", 10).unwrap().total,
        m(1_100)
    );

    // A sale discount follows what it applies to: removing a line lifts it.
    let b = sale(&mut s, &[("Oil", 900, 1), ("Salt", 100, 1)]);
    s.discount_sale(b, Some(Discount::Amount(10_000)), cashier)
        .unwrap();
    let e = s
        .edit_sale(b, &LineEdit::Remove { line_no: 1 }, "Wanjiku", 10)
        .unwrap_err();
    assert_eq!(e.code(), "needs_approval", "{e}");
    assert!(e.to_string().contains("the sale's discount"), "{e}");
    // So does a line discount under it.
    let e = s
        .discount_line(b, 1, Some(Discount::Percent(1_000)), cashier)
        .unwrap_err();
    assert_eq!(e.code(), "needs_approval", "{e}");
    assert_eq!(s.sale(b).unwrap().total, m(900), "nothing half written");
    // A manager approving it again lets the edit through.
    let approved = DiscountBy {
        approved_by: Some("Otieno"),
        ..cashier
    };
    s.discount_sale(b, Some(Discount::Amount(10_000)), approved)
        .unwrap();
    let after = s
        .edit_sale(b, &LineEdit::Remove { line_no: 1 }, "Wanjiku", 10)
        .unwrap();
    // 100 off the 100 left: the sale is given away, on a manager's approval only.
    assert_eq!(
        (after.total, after.status, after.tenders.len()),
        (Money::ZERO, SaleStatus::Paid, 0)
    );
}

#[test]
fn a_void_records_who_voided_the_sale_and_in_which_shift() {
    let mut s = store();
    let id = sale(&mut s, &[("Sugar 1kg", 150, 1)]);
    let shift = s.open_shift("Wanjiku", m(0)).unwrap();
    assert_eq!(s.sale(id).unwrap().voided_by, None);
    assert_eq!(
        s.void_sale(id, "rung up twice", "Nobody")
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(s.sale(id).unwrap().status, SaleStatus::Open);
    let v = s.void_sale(id, "rung up twice", "Otieno").unwrap();
    assert_eq!(
        (v.status, v.voided_by.as_deref()),
        (SaleStatus::Voided, Some("Otieno"))
    );
    let in_shift: Option<i64> = s
        .conn
        .query_row(
            "SELECT voided_shift_id FROM sales WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_shift, Some(shift.id), "rung up before the shift opened");
    // The void is on the report of the shift it was made in.
    assert_eq!(s.z_report(shift.id).unwrap().voids.count, 1);
}

#[test]
fn no_edit_discount_or_void_while_a_given_up_push_may_still_be_paid() {
    use crate::discount::Discount;
    let mut s = store();
    let id = sale(&mut s, &[("Sugar 1kg", 150, 2)]);
    let a = s
        .create_attempt(id, &Msisdn::parse("0708374149").unwrap(), 300, "Wanjiku")
        .unwrap();
    let accepted = PaymentEvent::PushAccepted {
        checkout_id: "ws_CO_followed".into(),
    };
    s.apply_event(&a.id, &accepted, "engine", None).unwrap();
    s.apply_event(&a.id, &PaymentEvent::Deadline, "engine", None)
        .unwrap();
    // The cashier says no prompt reached the phone: the sale is free for a new push, but
    // M-Pesa may still answer this one.
    s.apply_event(&a.id, &PaymentEvent::NeverReached, "cashier", None)
        .unwrap();
    assert!(s.attempt(&a.id).unwrap().followed);
    let manager = DiscountBy {
        cashier: "Otieno",
        approved_by: None,
        limit_pct: 10,
    };
    let qty = LineEdit::SetQuantity {
        line_no: 1,
        quantity: 1,
    };
    let refused = [
        s.edit_sale(id, &qty, "Wanjiku", 10).unwrap_err(),
        s.discount_sale(id, Some(Discount::Amount(1_000)), manager)
            .unwrap_err(),
        s.void_sale(id, "customer left", "Wanjiku").unwrap_err(),
    ];
    for e in refused {
        assert_eq!(e.code(), "conflict", "{e}");
        assert!(
            e.to_string()
                .contains("may still be on the customer's phone"),
            "{e}"
        );
    }
    let still = s.sale(id).unwrap();
    assert_eq!((still.total, still.status), (m(300), SaleStatus::Open));
    // M-Pesa's final answer (cancelled) ends the following: the sale may change again.
    let cancelled = PaymentEvent::Result {
        code: "1032".into(),
        receipt: None,
    };
    s.apply_event(&a.id, &cancelled, "query", None).unwrap();
    assert!(!s.attempt(&a.id).unwrap().followed);
    assert_eq!(s.edit_sale(id, &qty, "Wanjiku", 10).unwrap().total, m(150));
    s.discount_sale(id, Some(Discount::Amount(1_000)), manager)
        .unwrap();
    let v = s.void_sale(id, "customer left", "Wanjiku").unwrap();
    assert_eq!(v.status, SaleStatus::Voided);
}

#[test]
fn a_managers_line_discount_does_not_stretch_a_cashiers_sale_discount() {
    use crate::discount::Discount;
    let mut s = store();
    let id = sale(&mut s, &[("Soap", 1_000, 1), ("Oil", 100, 1)]);
    let cashier = DiscountBy {
        cashier: "Wanjiku",
        approved_by: None,
        limit_pct: 10,
    };
    // 110 off 1,100 is exactly 10%: the cashier may.
    s.discount_sale(id, Some(Discount::Amount(11_000)), cashier)
        .unwrap();
    // The manager takes 1,000 off the soap: the cashier's 110 would now be all of the 100 left.
    let approved = DiscountBy {
        approved_by: Some("Otieno"),
        ..cashier
    };
    let e = s
        .discount_line(id, 1, Some(Discount::Amount(100_000)), approved)
        .unwrap_err();
    assert_eq!(e.code(), "needs_approval", "{e}");
    let after = s.sale(id).unwrap();
    assert_eq!(
        (after.total, after.status),
        (m(990), SaleStatus::Open),
        "nothing written"
    );
}

#[test]
fn a_manager_settles_from_the_statement_what_m_pesa_left_open_and_confirms_codes_sent_by_hand() {
    let mut s = store();
    s.open_shift("Wanjiku", m(500)).unwrap();
    // A reversal with no final answer: settled as reversed, with the reversal's receipt.
    let a = paid_by_mpesa(&mut s, 100, "QKM0FXE6RA");
    let r = s
        .create_refund(a, None, "double charge", &RefundTo::Mpesa, "Otieno")
        .unwrap();
    let e = s
        .settle_reversal(r.id, Some("SKE1AAA111"), "Otieno")
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "still being sent: {e}");
    let r = s
        .apply_reversal(r.id, &ReversalEvent::NoAnswer, "engine", None)
        .unwrap();
    assert_eq!(r.state, RefundState::Unknown);
    let e = s
        .settle_reversal(r.id, Some("not a receipt"), "Otieno")
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input", "{e}");
    let done = s
        .settle_reversal(r.id, Some("ske1aaa111"), "Otieno")
        .unwrap();
    assert_eq!(
        (done.state, done.receipt.as_deref()),
        (RefundState::Reversed, Some("SKE1AAA111"))
    );
    let e = s.settle_reversal(r.id, None, "Otieno").unwrap_err();
    assert_eq!(e.code(), "conflict", "final stays final: {e}");
    let by: String = s
        .conn
        .query_row(
            "SELECT source FROM refund_events WHERE refund_id = ?1 AND event = 'by_hand'",
            [r.id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(by, "manager Otieno");

    // Not reversed: the sale can be refunded another way.
    let b = paid_by_mpesa(&mut s, 80, "QKM0FXE6RB");
    let r = s
        .create_refund(b, None, "wrong item", &RefundTo::Mpesa, "Otieno")
        .unwrap();
    s.apply_reversal(r.id, &ReversalEvent::NoAnswer, "engine", None)
        .unwrap();
    let no = s.settle_reversal(r.id, None, "Otieno").unwrap();
    assert_eq!(no.state, RefundState::Failed);
    let code = RefundTo::Manual {
        code: "TKA1B2C3D4".into(),
    };
    let by_hand = s
        .create_refund(b, None, "wrong item", &code, "Otieno")
        .unwrap();
    assert!(!by_hand.verified);
    let seen = s.confirm_manual_refund(by_hand.id, "Otieno").unwrap();
    assert!(seen.verified);
    assert!(
        s.confirm_manual_refund(by_hand.id, "Otieno")
            .unwrap()
            .verified,
        "once is enough"
    );
    // One transfer pays back one refund.
    let c = paid_by_mpesa(&mut s, 50, "QKM0FXE6RC");
    let twice = s.create_refund(c, None, "stale", &code, "Otieno").unwrap();
    let e = s.confirm_manual_refund(twice.id, "Otieno").unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(!s.refund(twice.id).unwrap().verified);
    let e = s.confirm_manual_refund(done.id, "Otieno").unwrap_err();
    assert_eq!(
        e.code(),
        "conflict",
        "a reversal is confirmed by M-Pesa: {e}"
    );
}
