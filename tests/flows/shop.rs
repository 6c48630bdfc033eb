//! Several tills, one shop: each till's records reach the relay (in order, acknowledged after
//! the relay's commit), the manager sees the shop's day adding up exactly the tills' own, and
//! a wiped till comes back from the relay with its history and numbering.

use std::time::Duration;

use duka_core::Msisdn;
use duka_core::engine::PollPolicy;
use duka_core::payment::AttemptState;
use duka_core::relay::{RelayOptions, SyncStatus};
use duka_core::sale::NewLine;
use duka_core::store::sync::TillDay;
use duka_core::{Money, Store};
use duka_tests::engine::{Rig, rig_full, rig_in};
use duka_tests::relay;
use duka_tests::{eventually, eventually_async, fast_sim};

fn m(shillings: i64) -> Money {
    Money::from_shillings(shillings).unwrap()
}

fn fast() -> RelayOptions {
    RelayOptions {
        sync_every: Duration::from_millis(100),
        ..Default::default()
    }
}

/// A cash sale of `shillings` on the rig's till (through a connection of the test's own, as
/// the CLI would: no event tells the relay client, the sync tick finds it).
fn cash_sale(r: &Rig, what: &str, shillings: i64) -> i64 {
    let mut db = r.db();
    let s = db
        .create_sale("Wanjiku", &[NewLine::free(what, m(shillings), 1).unwrap()])
        .unwrap();
    db.pay_cash(s.id, m(shillings), "Wanjiku").unwrap();
    s.id
}

async fn mpesa_sale(r: &Rig, shillings: i64) -> String {
    let a = r
        .engine
        .charge(
            r.sale(shillings),
            &Msisdn::parse("0700000000").unwrap(),
            shillings,
            "Wanjiku",
        )
        .await
        .unwrap();
    let a = r
        .engine
        .wait_settled(&a.id, Duration::from_secs(10))
        .await
        .unwrap();
    match a.state {
        AttemptState::Paid { receipt: Some(r) } => r,
        other => panic!("{other:?}"),
    }
}

/// The till's own day, read from its database.
fn own_day(r: &Rig) -> TillDay {
    r.db().till_day(duka_core::time::today()).unwrap()
}

/// What the relay holds as `till`'s figures of today, parsed.
async fn relay_day(relay: &relay::RunningRelay, shop: &str, till: &str) -> Option<TillDay> {
    let date = duka_core::time::today().to_string();
    let tills = relay.relay.0.store().shop_days(shop, &date).await.unwrap();
    let t = tills.into_iter().find(|t| t.till == till)?;
    serde_json::from_str(t.body.as_deref()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tills_show_the_shops_day_and_a_wiped_till_comes_back_from_the_relay() {
    let relay = relay::start().await;
    let front = relay.pair("Mama Mboga", "Front");
    let back = relay.pair("Mama Mboga", "Back");
    let a = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    let b = rig_full(fast_sim(), PollPolicy::default(), false, false, Some(&back)).await;
    // Till B sells before it ever reaches the relay: its history goes when it does.
    cash_sale(&b, "Bread", 55);
    let ca = duka_core::relay::spawn_with(a.engine.clone(), front.clone(), fast());
    let cb = duka_core::relay::spawn_with(b.engine.clone(), back.clone(), fast());
    eventually("both connected", || {
        ca.status().connected && cb.status().connected
    })
    .await;
    assert_eq!(ca.status().sync, SyncStatus::Sending);

    a.db().open_shift("Wanjiku", m(1_000)).unwrap();
    cash_sale(&a, "Milk", 60);
    cash_sale(&a, "Sugar 2kg", 320);
    let ra = mpesa_sale(&a, 250).await;
    cash_sale(&b, "Rice", 180);
    let rb = mpesa_sale(&b, 99).await;

    // Each till's figures on the relay become exactly its own.
    for (r, p) in [(&a, &front), (&b, &back)] {
        let want = own_day(r);
        eventually_async("the till's figures on the relay are its own", || async {
            relay_day(&relay, &p.shop, &p.till).await.as_ref() == Some(&want)
        })
        .await;
    }
    eventually("outboxes drained", || {
        a.db().sync_state().unwrap().pending == 0 && b.db().sync_state().unwrap().pending == 0
    })
    .await;

    // The manager on till A: the shop's day.
    let today = duka_core::time::today();
    let tills = ca.shop_day(today).await.unwrap();
    let shop = duka_core::shop::combine(today, &front.till, own_day(&a), tills);
    assert_eq!(shop.tills.len(), 2, "{shop:#?}");
    let by_name = |n: &str| shop.tills.iter().find(|t| t.name == n).unwrap();
    assert!(by_name("Front").this_till);
    assert_eq!(by_name("Front").day.as_ref(), Some(&own_day(&a)));
    assert_eq!(by_name("Back").day.as_ref(), Some(&own_day(&b)));
    let (da, db) = (own_day(&a).report, own_day(&b).report);
    assert_eq!(shop.totals.sales_paid, da.sales_paid + db.sales_paid);
    assert_eq!(shop.totals.sales_paid, 6);
    assert_eq!(
        shop.totals.taken.cents(),
        da.taken.cents() + db.taken.cents()
    );
    assert_eq!(shop.totals.taken, m(55 + 60 + 320 + 250 + 180 + 99));
    let receipts: Vec<_> = shop
        .mpesa_receipts
        .iter()
        .map(|r| (r.till.as_str(), r.item.receipt.clone().unwrap()))
        .collect();
    assert!(receipts.contains(&("Front", ra.clone())), "{receipts:?}");
    assert!(receipts.contains(&("Back", rb.clone())), "{receipts:?}");
    let cashier = &shop.totals.by_cashier;
    assert_eq!(cashier.len(), 1, "one Wanjiku on both tills: {cashier:?}");
    assert_eq!(cashier[0].count, 6);
    assert_eq!(shop.shifts.len(), 1);
    assert_eq!(shop.shifts[0].till, "Front");

    // Till B's PC dies: its data directory is gone. A new PC, paired as Back, restores.
    let before = b.db().synced_rows().unwrap();
    let day_before = own_day(&b);
    let next_before: i64 = b.db().sales_count_and_next().unwrap().1;
    cb.stop();
    b.engine.shutdown();
    drop(b);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("duka.db");
    drop(Store::open(&db).unwrap());
    let summary = duka_core::relay::restore(&db, &back, |_| {}).await.unwrap();
    assert_eq!(summary.sales, 3);
    assert_eq!(summary.next_sale, next_before);
    let restored = Store::open(&db).unwrap();
    let after = restored.synced_rows().unwrap();
    for (table, rows) in &before {
        assert_eq!(rows, &after[table], "{table}: every row back");
    }
    assert_eq!(restored.till_day(today).unwrap(), day_before);
    drop(restored);

    // It carries on: the next sale takes the next number, and reaches the relay.
    let b2 = rig_in(
        dir,
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&back),
        duka_tests::engine::SHORT_TIMEOUT,
        None,
    )
    .await;
    let cb2 = duka_core::relay::spawn_with(b2.engine.clone(), back.clone(), fast());
    eventually("the new PC connected", || cb2.status().connected).await;
    assert_eq!(cb2.status().sync, SyncStatus::Sending, "its records go on");
    let id = cash_sale(&b2, "Tea", 30);
    assert_eq!(id, next_before);
    let want = own_day(&b2);
    assert_eq!(want.report.sales_paid, day_before.report.sales_paid + 1);
    eventually_async("the relay has the new sale's figures", || async {
        relay_day(&relay, &back.shop, &back.till).await.as_ref() == Some(&want)
    })
    .await;
    ca.stop();
    cb2.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_with_its_own_sales_is_never_overwritten_by_another_history_on_the_relay() {
    let relay = relay::start().await;
    let front = relay.pair("Mama Mboga", "Front");
    let a = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    cash_sale(&a, "Milk", 60);
    let ca = duka_core::relay::spawn_with(a.engine.clone(), front.clone(), fast());
    eventually("synced", || {
        ca.status().connected && a.db().sync_state().unwrap().pending == 0
    })
    .await;
    // Another PC with sales of its own is paired with the same string by mistake.
    let other = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    cash_sale(&other, "Bread", 55);
    ca.stop();
    let co = duka_core::relay::spawn_with(other.engine.clone(), front.clone(), fast());
    eventually("connected", || co.status().connected).await;
    assert_eq!(co.status().sync, SyncStatus::Conflict);
    assert_eq!(other.db().sync_state().unwrap().pending, 0, "nothing sent");
    let kept = relay
        .relay
        .0
        .store()
        .records_after(&front.till, 0, 10_000)
        .await
        .unwrap();
    assert!(
        kept.iter()
            .any(|r| r.body.as_deref().is_some_and(|b| b.contains("Milk")))
            && !kept
                .iter()
                .any(|r| r.body.as_deref().is_some_and(|b| b.contains("Bread"))),
        "the relay keeps the first till's history only"
    );
    // And a restore into a till with sales is refused, changing nothing.
    let e = duka_core::relay::restore(&other.dir.path().join("duka.db"), &front, |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("sales"), "{e}");
    co.stop();
}

/// The "done when": two tills in demo mode and one relay on this machine; a manager
/// sees the whole shop's day from the command line, adding up exactly each till's own report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demo_tills_on_a_local_relay_show_the_shops_day_from_the_command_line() {
    let relay = relay::start().await;
    let front = relay.pair("Duka Demo", "Front").encode();
    let back = relay.pair("Duka Demo", "Back").encode();
    tokio::task::spawn_blocking(move || {
        let a = duka_tests::Till::new();
        let b = duka_tests::Till::new();
        for (t, p) in [(&a, &front), (&b, &back)] {
            t.run(&["init"]).ok();
            t.run_with_stdin(&["relay", "pair"], &format!("{p}\n")).ok();
        }
        let sell = |t: &duka_tests::Till, item: &str, price: &str| {
            let s = t.json(&["sale", "new", "--item", item, "--price", price]);
            let id = s["id"].to_string();
            t.json(&["sale", "pay", &id, "--cash", price]);
            id
        };
        sell(&a, "Bread", "65");
        sell(&a, "Milk", "60");
        sell(&b, "Sugar 2kg", "320");
        // An M-Pesa sale on Back, paid by the demo's simulated customer.
        let s = b.json(&["sale", "new", "--item", "Rice 2kg", "--price", "250"]);
        let id = s["id"].to_string();
        b.run(&["charge", "--sale", &id, "--phone", "0700000000"])
            .ok();
        for t in [&a, &b] {
            let sent = t.json(&["relay", "sync"]);
            assert!(sent["sent"].as_u64().unwrap() > 0, "{sent}");
            // Again: nothing new, nothing sent twice.
            let again = t.json(&["relay", "sync"]);
            assert!(
                again["sent"].as_u64().unwrap() <= 1,
                "only the day's figures: {again}"
            );
        }
        let own_a = a.json(&["report", "day"]);
        let own_b = b.json(&["report", "day"]);
        let shop = a.json(&["report", "shop"]);
        let tills = shop["tills"].as_array().unwrap();
        assert_eq!(tills.len(), 2, "{shop}");
        let day_of =
            |name: &str| tills.iter().find(|t| t["name"] == name).unwrap()["day"]["report"].clone();
        assert_eq!(day_of("Front"), own_a);
        assert_eq!(day_of("Back"), own_b);
        let taken = |v: &serde_json::Value| v["taken"].as_i64().unwrap();
        assert_eq!(taken(&shop["totals"]), taken(&own_a) + taken(&own_b));
        assert_eq!(taken(&shop["totals"]), (65 + 60 + 320 + 250) * 100);
        assert_eq!(shop["mpesa_receipts"].as_array().unwrap().len(), 1);
        assert_eq!(shop["mpesa_receipts"][0]["till"], "Back");
        let text = a.run(&["report", "shop"]).ok().stdout;
        assert!(
            text.contains("Front (this till)") && text.contains("Back"),
            "{text}"
        );
        // Only a manager sees it.
        a.run(&["cashier", "add", "--name", "Wanjiku"]).ok();
        let cashier = a.run(&["--cashier", "Wanjiku", "report", "shop"]);
        assert_eq!(cashier.code, 1, "{}", cashier.stderr);
        assert!(cashier.stderr.contains("manager"), "{}", cashier.stderr);
    })
    .await
    .unwrap();
}

/// A week offline, then the till catches up while the relay is killed (-9) and started again:
/// the relay commits before it acknowledges, the till resends what was not acknowledged, and
/// the relay ends with exactly the till's rows (a process on this store's backend).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_while_a_till_catches_up_ends_with_exactly_the_tills_rows() {
    let backend = relay::ProcessStore::new().await;
    let port = relay::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let pairing = backend.till_add("Mama Mboga", "Front", &url);
    let a = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    for i in 0..600 {
        cash_sale(&a, &format!("Item {i}"), 50 + i);
    }
    let mut process = backend.spawn(port, &[]).0;
    let client = duka_core::relay::spawn_with(a.engine.clone(), pairing.clone(), fast());
    let store = backend.store.store.clone();
    eventually_async("part of the history reached the relay", || async {
        store.sync_position(&pairing.till).await.unwrap() > 0
    })
    .await;
    process.kill().unwrap();
    process.wait().unwrap();
    // Usually frames were on their way unacknowledged; either way the end must be exact.
    process = backend.spawn(port, &[]).0;
    eventually("the outbox drained after the restart", || {
        client.status().connected && a.db().sync_state().unwrap().pending == 0
    })
    .await;
    let till = a.db().synced_rows().unwrap();
    let kept = store
        .records_after(&pairing.till, 0, 1_000_000)
        .await
        .unwrap();
    let mut on_relay: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in kept
        .into_iter()
        .filter(|r| r.table != "day" && r.table != "history")
    {
        on_relay.entry(r.table).or_default().push(r.body.unwrap());
    }
    for (table, rows) in till {
        let mut want = rows.clone();
        want.sort();
        let mut got = on_relay.remove(table).unwrap_or_default();
        got.sort();
        assert_eq!(got, want, "{table}: exactly the till's rows");
    }
    assert!(on_relay.is_empty(), "nothing else: {:?}", on_relay.keys());
    client.stop();
    process.kill().unwrap();
    process.wait().unwrap();
}

/// A question-only connection with a till's key, as a thief would open one.
async fn thief(
    relay: &relay::RunningRelay,
    p: &duka_relay_proto::Pairing,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(duka_core::relay::ws_url(&relay.url))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no challenge")
    };
    let nonce = serde_json::from_str::<serde_json::Value>(&t).unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    let hello = duka_relay_proto::FromTill::Hello {
        till: p.till.clone(),
        mac: duka_relay_proto::sign(&p.key_bytes(), &duka_relay_proto::ws_message(&nonce)),
        proto: duka_relay_proto::PROTOCOL,
        resume_after: 0,
        epoch: None,
        query: true,
    };
    ws.send(Message::Text(serde_json::to_string(&hello).unwrap().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no ready")
    };
    assert!(t.contains("\"ready\""), "{t}");
    ws
}

async fn ask(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    frame: &duka_relay_proto::FromTill,
) -> Option<duka_relay_proto::ToTill> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::Text(serde_json::to_string(frame).unwrap().into()))
        .await
        .ok()?;
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(&t).ok(),
        _ => None,
    }
}

/// Someone holding a till's key (a stolen PC) forges its position and bad records: the till
/// loses no unsent record and keeps its session; the forger's question-only connection ends
/// when the till is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_key_cannot_make_a_till_drop_unsent_records_or_stop_it() {
    use duka_relay_proto::{FromTill, Record, ToTill};
    let relay = relay::start().await;
    let front = relay.pair("Mama Mboga", "Front");
    let a = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    cash_sale(&a, "Milk", 60);
    let ca = duka_core::relay::spawn_with(a.engine.clone(), front.clone(), fast());
    eventually("synced", || {
        ca.status().connected && a.db().sync_state().unwrap().pending == 0
    })
    .await;
    ca.stop();
    eventually("offline", || relay.relay.connected() == 0).await;
    // Offline: five sales, not sent.
    for i in 0..5 {
        cash_sale(&a, &format!("Bread {i}"), 55);
    }
    let top = {
        let db = a.db();
        db.outbox_after(0, 100_000, usize::MAX)
            .unwrap()
            .last()
            .unwrap()
            .seq
    };
    let mut ws = thief(&relay, &front).await;
    let forged = |seq: u64, body: Option<&str>| Record {
        seq,
        table: "sales".into(),
        pk: "[999]".into(),
        body: body.map(str::to_string),
        at: 0,
    };
    // The till's whole position at once; a position beyond any numbering; a NUL character.
    for records in [
        vec![forged(top, None)],
        vec![forged(1 << 60, None)],
        vec![forged(top + 1, Some("{\"x\":\"\u{0}\"}"))],
    ] {
        let answer = ask(&mut ws, &FromTill::Sync { records }).await;
        if let Some(ToTill::Synced { seq }) = answer {
            assert!(
                seq <= top + 1,
                "never beyond the frame's own numbering: {seq}"
            );
        }
    }
    let ca = duka_core::relay::spawn_with(a.engine.clone(), front.clone(), fast());
    eventually("the till's own records went, none dropped", || {
        ca.status().connected && a.db().sync_state().unwrap().pending == 0
    })
    .await;
    let kept = relay
        .relay
        .0
        .store()
        .records_after(&front.till, 0, 100_000)
        .await
        .unwrap();
    let breads = kept
        .iter()
        .filter(|r| {
            r.table == "sale_lines" && r.body.as_deref().is_some_and(|b| b.contains("Bread"))
        })
        .count();
    assert_eq!(breads, 5, "every sale made offline reached the relay");
    assert_eq!(ca.status().sync, SyncStatus::Sending);
    // Revoked: the forger's open connection is refused its next question.
    relay.relay.revoke(&front.till).await.unwrap();
    let answer = ask(
        &mut ws,
        &FromTill::ShopDay {
            id: "x".into(),
            date: duka_core::time::today().to_string(),
        },
    )
    .await;
    assert!(
        matches!(&answer, Some(ToTill::Error { code, .. }) if code == "revoked")
            || answer.is_none(),
        "{answer:?}"
    );
    ca.stop();
}

/// A stolen PC: the operator gives its till a new key. The old key is refused (its session
/// and its question-only connections end), the history stays, and the replacement paired with
/// the new key restores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_given_a_new_key_refuses_the_stolen_pc_and_its_replacement_restores() {
    use duka_relay_proto::{FromTill, ToTill};
    let relay = relay::start().await;
    let front = relay.pair("Mama Mboga", "Front");
    let a = rig_full(
        fast_sim(),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    cash_sale(&a, "Milk", 60);
    cash_sale(&a, "Bread", 55);
    let stolen = duka_core::relay::spawn_with(a.engine.clone(), front.clone(), fast());
    eventually("synced", || {
        stolen.status().connected && a.db().sync_state().unwrap().pending == 0
    })
    .await;
    let mut ws = thief(&relay, &front).await;
    let t = relay.relay.rekey(&front.till).await.unwrap().unwrap();
    let replacement = duka_relay_proto::Pairing {
        key: t.key.iter().map(|b| format!("{b:02x}")).collect(),
        ..front.clone()
    };
    assert_ne!(replacement.key, front.key);
    // The stolen PC's session is closed and its key refused from now on.
    eventually("the stolen PC is cut off", || {
        let s = stolen.status();
        !s.connected
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("auth") || e.contains("revoked"))
    })
    .await;
    let answer = ask(
        &mut ws,
        &FromTill::ShopDay {
            id: "x".into(),
            date: duka_core::time::today().to_string(),
        },
    )
    .await;
    assert!(
        matches!(&answer, Some(ToTill::Error { code, .. }) if code == "revoked")
            || answer.is_none(),
        "{answer:?}"
    );
    let refused = duka_core::relay::ask_shop_day(&front, duka_core::time::today())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("auth"), "{refused}");
    // The replacement restores the history with the new key.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("duka.db");
    drop(Store::open(&db).unwrap());
    let summary = duka_core::relay::restore(&db, &replacement, |_| {})
        .await
        .unwrap();
    assert_eq!(summary.sales, 2);
    stolen.stop();
}
