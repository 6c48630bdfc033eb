//! A till's own records (sync) on either backend: the latest version of each record wins,
//! replays change nothing, a restore reads them in order, the shop's day lists every till.

use super::*;
use crate::testing::TestStore;

fn rec(seq: u64, table: &str, pk: &str, body: Option<&str>) -> Record {
    Record {
        seq,
        table: table.into(),
        pk: pk.into(),
        body: body.map(str::to_string),
        at: 1_790_000_000_000 + seq as i64,
    }
}

#[tokio::test]
async fn the_latest_version_of_each_record_is_kept_and_replays_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStore::new(dir.path()).await;
    let s = &ts.store;
    let t = s.add_till("Mama Mboga", "Front").await.unwrap();
    let other = s.add_till("Mama Mboga", "Back").await.unwrap();
    assert_eq!(s.sync_position(&t.id).await.unwrap(), 0);
    assert_eq!(s.history_of(&t.id).await.unwrap(), None);
    s.sync_put(
        &t.id,
        vec![rec(1, "history", "[]", Some(r#"{"id":"ab12"}"#))],
        1,
    )
    .await
    .unwrap();
    assert_eq!(s.history_of(&t.id).await.unwrap().as_deref(), Some("ab12"));
    assert_eq!(s.history_of(&other.id).await.unwrap(), None);
    let first = vec![
        rec(1, "sales", "[1]", Some(r#"{"id":1,"status":"open"}"#)),
        rec(2, "sale_lines", "[1,1]", Some(r#"{"sale_id":1}"#)),
        rec(3, "sales", "[1]", Some(r#"{"id":1,"status":"paid"}"#)),
        rec(
            4,
            "sale_lines",
            "[1,2]",
            Some(r#"{"sale_id":1,"line_no":2}"#),
        ),
    ];
    assert_eq!(s.sync_put(&t.id, first.clone(), 4).await.unwrap(), 4);
    // Replayed (a lost acknowledgement), and an older version arriving late: nothing changes.
    assert_eq!(s.sync_put(&t.id, first.clone(), 4).await.unwrap(), 4);
    let stale = rec(2, "sales", "[1]", Some(r#"{"id":1,"status":"open"}"#));
    assert_eq!(
        s.sync_put(&t.id, vec![stale], 2).await.unwrap(),
        4,
        "never backwards"
    );
    // A deletion is kept as such, and not restored.
    s.sync_put(&t.id, vec![rec(5, "sale_lines", "[1,2]", None)], 6)
        .await
        .unwrap();
    assert_eq!(s.sync_position(&t.id).await.unwrap(), 6);
    let back: Vec<Record> = s
        .records_after(&t.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.table != "history")
        .collect();
    let got: Vec<(u64, &str, Option<&str>)> = back
        .iter()
        .map(|r| (r.seq, r.pk.as_str(), r.body.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "[1,1]", Some(r#"{"sale_id":1}"#)),
            (3, "[1]", Some(r#"{"id":1,"status":"paid"}"#)),
        ]
    );
    assert_eq!(back[0].at, first[1].at);
    // Pages, and another till's records are its own.
    assert_eq!(s.records_after(&t.id, 2, 1).await.unwrap()[0].seq, 3);
    assert!(s.records_after(&t.id, 3, 100).await.unwrap().is_empty());
    assert!(s.records_after(&other.id, 0, 100).await.unwrap().is_empty());
    assert_eq!(s.sync_position(&other.id).await.unwrap(), 0);
}

#[tokio::test]
async fn the_shops_day_lists_every_live_till_with_its_own_figures() {
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStore::new(dir.path()).await;
    let s = &ts.store;
    let front = s.add_till("Mama Mboga", "Front").await.unwrap();
    let back = s.add_till("Mama Mboga", "Back").await.unwrap();
    let gone = s.add_till("Mama Mboga", "Old PC").await.unwrap();
    let elsewhere = s.add_till("Duka la Juma", "Front").await.unwrap();
    let day =
        |seq: u64, date: &str, body: &str| rec(seq, "day", &format!("[\"{date}\"]"), Some(body));
    s.sync_put(
        &front.id,
        vec![
            day(1, "2026-12-03", "{\"a\":1}"),
            day(2, "2026-12-02", "{\"a\":0}"),
        ],
        2,
    )
    .await
    .unwrap();
    s.sync_put(&front.id, vec![day(3, "2026-12-03", "{\"a\":2}")], 3)
        .await
        .unwrap();
    s.sync_put(&gone.id, vec![day(1, "2026-12-03", "{\"g\":1}")], 1)
        .await
        .unwrap();
    s.sync_put(&elsewhere.id, vec![day(1, "2026-12-03", "{\"e\":1}")], 1)
        .await
        .unwrap();
    s.revoke_till(&gone.id).await.unwrap();
    let tills = s.shop_days(&front.shop_id, "2026-12-03").await.unwrap();
    let got: Vec<(&str, Option<&str>)> = tills
        .iter()
        .map(|t| (t.name.as_str(), t.body.as_deref()))
        .collect();
    // A till revoked this afternoon still counts for the morning it sold.
    assert_eq!(
        got,
        vec![
            ("Back", None),
            ("Front", Some("{\"a\":2}")),
            ("Old PC", Some("{\"g\":1}"))
        ]
    );
    assert_eq!(tills[0].till, back.id);
    assert!(tills[1].synced_at.is_some() && tills[0].synced_at.is_none());
}

#[tokio::test]
async fn retention_drops_old_history_but_never_staff_products_or_shifts() {
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStore::new(dir.path()).await;
    let s = &ts.store;
    let t = s.add_till("Mama Mboga", "Front").await.unwrap();
    s.sync_put(
        &t.id,
        vec![
            rec(1, "cashiers", "[1]", Some("{}")),
            rec(2, "products", "[1]", Some("{}")),
            rec(3, "shifts", "[1]", Some("{}")),
            rec(4, "sales", "[1]", Some("{}")),
            rec(5, "day", "[\"2026-12-03\"]", Some("{}")),
        ],
        5,
    )
    .await
    .unwrap();
    assert_eq!(
        s.expire_records(now_ms() - 60_000).await.unwrap(),
        0,
        "all recent"
    );
    assert_eq!(s.expire_records(now_ms() + 60_000).await.unwrap(), 2);
    let left: Vec<String> = s
        .records_after(&t.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.table)
        .collect();
    assert_eq!(left, vec!["cashiers", "products", "shifts"]);
    assert_eq!(
        s.sync_position(&t.id).await.unwrap(),
        5,
        "the position stays"
    );
}
