//! The store: messages, claims, and opening databases of every earlier schema.

use super::*;
use crate::Error;
use crate::testing::TestStore;
use rusqlite::Connection;

/// The schema statements of the relay before numbered migrations, copied from its code
/// (version 1, then what version 2 added), so these tests do not lean on `migrations/`.
const OLD_V1: &str = "
CREATE TABLE IF NOT EXISTS shops (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, key TEXT NOT NULL,
    c2b_default TEXT NOT NULL DEFAULT 'Completed' CHECK (c2b_default IN ('Completed', 'Cancelled')),
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tills (
    id TEXT PRIMARY KEY, shop_id TEXT NOT NULL REFERENCES shops (id), name TEXT NOT NULL,
    key TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    till_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, attempt_id TEXT,
    body TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (till_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_received ON messages (received_at);
";
const OLD_V2: &str = "
ALTER TABLE tills ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
UPDATE tills SET epoch = lower(hex(randomblob(8))) WHERE epoch = '';
CREATE TABLE IF NOT EXISTS shop_held (
    id INTEGER PRIMARY KEY, shop_id TEXT NOT NULL REFERENCES shops (id), kind TEXT NOT NULL,
    body TEXT NOT NULL, received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    shop_id TEXT NOT NULL, key TEXT NOT NULL, till_id TEXT NOT NULL, sale TEXT NOT NULL,
    amount_cents INTEGER, claimed_at INTEGER NOT NULL,
    PRIMARY KEY (shop_id, key)
) WITHOUT ROWID;
";

/// Writes `relay.db` in `dir` as the old code did: the given DDL, then `user_version`.
fn old_db(dir: &Path, ddl: &str, user_version: i64) -> Connection {
    let c = Connection::open(dir.join("relay.db")).unwrap();
    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    c.execute_batch(&format!(
        "BEGIN IMMEDIATE; {ddl} PRAGMA user_version = {user_version}; COMMIT;"
    ))
    .unwrap();
    c
}

/// A shop, a till with one undelivered message, in version 1's columns.
fn v1_rows(c: &Connection) {
    c.execute_batch(
        "INSERT INTO shops (id, name, key, c2b_default, created_at)
             VALUES ('5h0p01', 'Mama Mboga', 'aa', 'Cancelled', 1);
         INSERT INTO tills (id, shop_id, name, key, last_seq, created_at)
             VALUES ('t111', '5h0p01', 'Front', 'bb', 7, 1);
         INSERT INTO messages (till_id, seq, kind, attempt_id, body, received_at)
             VALUES ('t111', 7, 'stk', 'ab12', '{\"Body\":{}}', 1);",
    )
    .unwrap();
}

/// Version 2's rows: a message held for the shop and a claim.
fn v2_rows(c: &Connection) {
    c.execute_batch(
        "UPDATE tills SET epoch = 'e9e9e9e9' WHERE id = 't111';
         INSERT INTO shop_held (shop_id, kind, body, received_at)
             VALUES ('5h0p01', 'c2b_confirm', '{}', 1);
         INSERT INTO claims (shop_id, key, till_id, sale, amount_cents, claimed_at)
             VALUES ('5h0p01', 'UKN7777777', 't111', '12', 15000, 1);",
    )
    .unwrap();
}

/// Every table and index, as SQLite keeps their definitions.
fn schema(dir: &Path) -> Vec<(String, String, Option<String>)> {
    let c = Connection::open(dir.join("relay.db")).unwrap();
    let mut st = c
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The schema a fresh database gets.
fn fresh_schema() -> Vec<(String, String, Option<String>)> {
    let fresh = tempfile::tempdir().unwrap();
    drop(Store::open(fresh.path()).unwrap());
    schema(fresh.path())
}

fn user_version(dir: &Path) -> i64 {
    Connection::open(dir.join("relay.db"))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// The version 1 rows, read through the store.
async fn assert_v1_rows_kept(s: &Store) {
    let t = s.till("t111").await.unwrap().expect("the till is kept");
    assert_eq!(
        (t.shop_name.as_str(), t.name.as_str(), t.last_seq),
        ("Mama Mboga", "Front", 7)
    );
    assert_eq!(
        s.shop("Mama Mboga").await.unwrap().unwrap().c2b_default,
        "Cancelled"
    );
    let m = s.pending("t111", 0, 10).await.unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].seq, m[0].attempt_id.as_deref()), (7, Some("ab12")));
    assert_eq!(&*m[0].body, "{\"Body\":{}}");
}

async fn assert_v2_rows_kept(s: &Store) {
    assert_eq!(s.till("t111").await.unwrap().unwrap().epoch, "e9e9e9e9");
    assert_eq!(s.held_for_shop("5h0p01").await.unwrap(), 1);
    assert_eq!(
        s.claim_owner("5h0p01", "UKN7777777").await.unwrap(),
        Some(("t111".into(), "12".into()))
    );
}

#[test]
fn a_fresh_database_reaches_the_latest_version_with_the_old_codes_exact_schema() {
    let fresh = tempfile::tempdir().unwrap();
    drop(Store::open(fresh.path()).unwrap());
    assert_eq!(
        SCHEMA_VERSION, 4,
        "versions 1 and 2 are the relay's existing numbers, 3 adds the tills' records, 4 when a till was given a new key"
    );
    assert_eq!(user_version(fresh.path()), SCHEMA_VERSION);
    // The old code's version 2, migrated: exactly the fresh schema.
    let old = tempfile::tempdir().unwrap();
    drop(old_db(old.path(), &format!("{OLD_V1}{OLD_V2}"), 2));
    drop(Store::open(old.path()).unwrap());
    assert_eq!(user_version(old.path()), SCHEMA_VERSION);
    assert_eq!(schema(fresh.path()), schema(old.path()));
    // Opening again applies nothing and changes nothing.
    drop(Store::open(fresh.path()).unwrap());
    assert_eq!(user_version(fresh.path()), SCHEMA_VERSION);
    assert_eq!(schema(fresh.path()), schema(old.path()));
}

#[tokio::test]
async fn a_database_made_by_the_old_code_opens_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let c = old_db(dir.path(), &format!("{OLD_V1}{OLD_V2}"), 2);
    v1_rows(&c);
    v2_rows(&c);
    drop(c);
    let s = Store::open(dir.path()).unwrap();
    assert_v1_rows_kept(&s).await;
    assert_v2_rows_kept(&s).await;
    // Numbering goes on from the old rows.
    let next = s
        .insert(vec!["t111".into()], Kind::Stk, None, Arc::from("{}"))
        .await
        .unwrap();
    assert_eq!(next[0].seq, 8);
    drop(s);
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION);
    assert_eq!(schema(dir.path()), fresh_schema());
}

#[tokio::test]
async fn a_version_1_database_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let c = old_db(dir.path(), OLD_V1, 1);
    v1_rows(&c);
    drop(c);
    let s = Store::open(dir.path()).unwrap();
    assert_v1_rows_kept(&s).await;
    let epoch = s.till("t111").await.unwrap().unwrap().epoch;
    assert_eq!(epoch.len(), 16, "an existing till gets an epoch: {epoch:?}");
    drop(s);
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION);
}

#[tokio::test]
async fn tables_made_without_a_recorded_version_are_adopted_not_created_again() {
    // The first relay created its tables outside a transaction and stamped the version
    // last, so a database can have them at user_version 0.
    let v1 = tempfile::tempdir().unwrap();
    let c = old_db(v1.path(), OLD_V1, 0);
    v1_rows(&c);
    drop(c);
    let s = Store::open(v1.path()).unwrap();
    assert_v1_rows_kept(&s).await;
    drop(s);
    assert_eq!(user_version(v1.path()), SCHEMA_VERSION);
    // With version 2's changes too (the ALTER TABLE would fail if run again).
    let v2 = tempfile::tempdir().unwrap();
    let c = old_db(v2.path(), &format!("{OLD_V1}{OLD_V2}"), 0);
    v1_rows(&c);
    v2_rows(&c);
    drop(c);
    let s = Store::open(v2.path()).unwrap();
    assert_v1_rows_kept(&s).await;
    assert_v2_rows_kept(&s).await;
    drop(s);
    assert_eq!(user_version(v2.path()), SCHEMA_VERSION);
    assert_eq!(schema(v2.path()), fresh_schema());
}

#[test]
fn a_database_from_a_newer_relay_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let c = Connection::open(dir.path().join("relay.db")).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE future (x); PRAGMA user_version = {};",
        SCHEMA_VERSION + 1
    ))
    .unwrap();
    drop(c);
    let err = Store::open(dir.path()).err().expect("refused");
    assert_eq!(err.code(), "db_schema_too_new");
    match &err {
        Error::SchemaTooNew {
            path,
            found,
            supported,
        } => {
            assert_eq!(path, &dir.path().join("relay.db"));
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("newer duka-relay"), "{err}");
    // Nothing was written: same version, no relay tables, not switched to WAL.
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION + 1);
    let names: Vec<String> = schema(dir.path()).into_iter().map(|(_, n, _)| n).collect();
    assert_eq!(names, vec!["future".to_string()]);
    let mode: String = Connection::open(dir.path().join("relay.db"))
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[tokio::test]
async fn insert_replay_ack_expire_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestStore::new(dir.path()).await;
    let s = ts.store.clone();
    let t1 = s.add_till("Mama Mboga", "Front").await.unwrap();
    let t2 = s.add_till("Mama Mboga", "Back").await.unwrap();
    assert_eq!(t1.shop_id, t2.shop_id);
    assert_eq!(t1.key.len(), 32);
    let a = s
        .insert(
            vec![t1.id.clone()],
            Kind::Stk,
            Some("ab".into()),
            Arc::from("{}"),
        )
        .await
        .unwrap();
    let b = s
        .insert(
            vec![t1.id.clone(), t2.id.clone()],
            Kind::C2bConfirm,
            None,
            Arc::from("{\"x\":1}"),
        )
        .await
        .unwrap();
    assert_eq!((a[0].seq, b[0].seq, b[1].seq), (1, 2, 1));
    assert_eq!(s.pending(&t1.id, 0, 10).await.unwrap().len(), 2);
    s.ack(&t1.id, 1).await;
    // The ack goes through the writer; an insert after it is ordered after it.
    s.insert(vec![t2.id.clone()], Kind::Stk, None, Arc::from("{}"))
        .await
        .unwrap();
    let left = s.pending(&t1.id, 0, 10).await.unwrap();
    assert_eq!(left.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2]);
    drop(s);
    let s = ts.reopen().await;
    assert_eq!(
        s.pending(&t1.id, 0, 10).await.unwrap().len(),
        1,
        "durable across reopen"
    );
    let c = s
        .insert(vec![t1.id.clone()], Kind::Stk, None, Arc::from("{}"))
        .await
        .unwrap();
    assert_eq!(c[0].seq, 3, "seq keeps rising after acks and restarts");
    assert_eq!(s.expire(now_ms() + 1).await.unwrap(), 4);
    assert!(s.pending(&t1.id, 0, 10).await.unwrap().is_empty());
    assert!(s.revoke_till(&t2.id).await.unwrap());
    assert_eq!(
        s.shop_tills(&t1.shop_id).await.unwrap(),
        vec![t1.id.clone()]
    );
}

#[tokio::test]
async fn the_first_claim_on_a_receipt_wins_shop_wide_and_the_other_tills_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestStore::new(dir.path()).await;
    let s = ts.store.clone();
    let front = s.add_till("Mama Mboga", "Front").await.unwrap();
    let back = s.add_till("Mama Mboga", "Back").await.unwrap();
    let side = s.add_till("Mama Mboga", "Side").await.unwrap();
    let other_shop = s.add_till("Kiosk", "Only").await.unwrap();
    let won = s
        .claim(&front.shop_id, "UKN7777777", &front.id, "12", Some(15_000))
        .await
        .unwrap();
    assert!(won.won);
    assert_eq!((won.till_name.as_str(), won.sale.as_str()), ("Front", "12"));
    let told: Vec<&str> = won.notices.iter().map(|n| n.till_id.as_str()).collect();
    let mut others = vec![back.id.as_str(), side.id.as_str()];
    others.sort();
    assert_eq!(
        told, others,
        "every other till of the shop, not the claimer"
    );
    let notice: duka_relay_proto::Claimed =
        serde_json::from_str(&s.pending(&back.id, 0, 10).await.unwrap()[0].body).unwrap();
    assert_eq!(
        (notice.key.as_str(), notice.till.as_str()),
        ("UKN7777777", front.id.as_str())
    );
    // The second till is refused, naming the first; nobody is told again.
    let lost = s
        .claim(&back.shop_id, "UKN7777777", &back.id, "40", Some(15_000))
        .await
        .unwrap();
    assert!(!lost.won);
    assert_eq!(
        (lost.till.as_str(), lost.sale.as_str()),
        (front.id.as_str(), "12")
    );
    assert!(lost.notices.is_empty());
    // The first till asking again wins again (its own claim), and survives a reopen.
    drop(s);
    let s = ts.reopen().await;
    assert!(
        s.claim(&front.shop_id, "UKN7777777", &front.id, "12", None)
            .await
            .unwrap()
            .won
    );
    // Another shop's receipt space is its own.
    assert!(
        s.claim(&other_shop.shop_id, "UKN7777777", &other_shop.id, "1", None)
            .await
            .unwrap()
            .won
    );
}

#[tokio::test]
async fn a_message_for_a_shop_without_a_live_till_is_held_and_goes_to_the_next_till_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStore::new(dir.path()).await;
    let s = &ts.store;
    let first = s.add_till("Duka", "First").await.unwrap();
    assert!(s.revoke_till(&first.id).await.unwrap());
    for i in 0..3 {
        let stored = s
            .insert_or_hold(
                Vec::new(),
                Kind::C2bConfirm,
                None,
                Arc::from(format!("{{\"n\":{i}}}")),
                Some(first.shop_id.clone()),
            )
            .await
            .unwrap();
        assert!(stored.is_empty());
    }
    assert_eq!(s.held_for_shop(&first.shop_id).await.unwrap(), 3);
    let next = s.add_till("Duka", "Next").await.unwrap();
    assert_eq!(next.last_seq, 3);
    let got = s.pending(&next.id, 0, 10).await.unwrap();
    let bodies: Vec<&str> = got.iter().map(|m| &*m.body).collect();
    assert_eq!(bodies, vec!["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]);
    assert_eq!(s.held_for_shop(&first.shop_id).await.unwrap(), 0);
    // Numbering goes on after the held ones; a bump moves it past a watermark.
    let more = s
        .insert(vec![next.id.clone()], Kind::Stk, None, Arc::from("{}"))
        .await
        .unwrap();
    assert_eq!(more[0].seq, 4);
    assert_eq!(s.bump_seq(&next.id, 50).await.unwrap(), 50);
    assert_eq!(s.bump_seq(&next.id, 10).await.unwrap(), 50);
    assert_eq!(s.unacked(&next.id).await.unwrap(), 4);
    assert_eq!(
        s.unacked_by_shop().await.unwrap(),
        vec![(next.shop_id.clone(), 4)]
    );
    // Released: the others hear of it; a release of what one does not hold changes nothing.
    let third = s.add_till("Duka", "Third").await.unwrap();
    assert!(
        s.claim(&next.shop_id, "UKN1", &next.id, "7", None)
            .await
            .unwrap()
            .won
    );
    assert!(
        s.release(&next.shop_id, "UKN1", &third.id, "7")
            .await
            .unwrap()
            .is_empty()
    );
    let told = s
        .release(&next.shop_id, "UKN1", &next.id, "7")
        .await
        .unwrap();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].till_id, third.id);
    assert_eq!(s.claim_owner(&next.shop_id, "UKN1").await.unwrap(), None);
    s.set_c2b_default("Duka", "Cancelled").await.unwrap();
    assert_eq!(
        s.shop("Duka").await.unwrap().unwrap().c2b_default,
        "Cancelled"
    );
    assert_eq!(
        s.set_c2b_default("Duka", "Maybe").await.unwrap_err().code(),
        "invalid_input"
    );
}

/// Two handles on one database (on PostgreSQL: two relay processes, each with its own
/// committer) store for one till at once: every seq is handed out once, none skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_database_hand_out_each_seq_once() {
    if crate::testing::postgres_url().is_none() {
        // SQLite has one writer per file by design; this is PostgreSQL's test.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStore::new(dir.path()).await;
    let a = ts.store.clone();
    let b = ts.another().await;
    let till = a.add_till("Duka", "T").await.unwrap();
    let mut tasks = Vec::new();
    for (i, s) in [a.clone(), b.clone()]
        .into_iter()
        .cycle()
        .take(400)
        .enumerate()
    {
        let till = till.id.clone();
        tasks.push(tokio::spawn(async move {
            s.insert(
                vec![till],
                Kind::Stk,
                None,
                Arc::from(format!("{{\"i\":{i}}}")),
            )
            .await
            .unwrap()[0]
                .seq
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=400).collect::<Vec<u64>>());
    assert_eq!(a.unacked(&till.id).await.unwrap(), 400);
}

/// Tills on two processes claim the same receipts at once: exactly one wins each, and both
/// answers name the same owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_from_two_processes_have_exactly_one_winner() {
    if crate::testing::postgres_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStore::new(dir.path()).await;
    let a = ts.store.clone();
    let b = ts.another().await;
    let t1 = a.add_till("Duka", "One").await.unwrap();
    let t2 = b.add_till("Duka", "Two").await.unwrap();
    for n in 0..50 {
        let key = format!("UKN{n:07}");
        let (ra, rb) = tokio::join!(
            a.claim(&t1.shop_id, &key, &t1.id, "1", Some(100)),
            b.claim(&t2.shop_id, &key, &t2.id, "2", Some(100))
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra.won ^ rb.won, "{key}: exactly one wins: {ra:?} {rb:?}");
        assert_eq!(ra.till, rb.till);
        assert_eq!(ra.sale, rb.sale);
        // One `claimed` notice, to the loser's till.
        assert_eq!(ra.notices.len() + rb.notices.len(), 1);
    }
}

#[tokio::test]
async fn a_postgres_database_from_a_newer_relay_is_refused_and_left_as_it_was() {
    let Some(server) = crate::testing::postgres_url() else {
        return;
    };
    let db = crate::testing::TestDatabase::create(&server).await;
    let config = crate::store::pg::parse_url(&db.url).unwrap();
    let c = crate::store::pg::connect_one(&config).await.unwrap();
    c.batch_execute(&format!(
        "CREATE TABLE relay_schema (version integer PRIMARY KEY, applied_at bigint NOT NULL);
         INSERT INTO relay_schema VALUES ({}, 0);",
        crate::store::pg::PG_SCHEMA_VERSION + 1
    ))
    .await
    .unwrap();
    let err = Store::connect(&db.url).await.err().expect("refused");
    assert_eq!(err.code(), "db_schema_too_new");
    assert!(err.to_string().contains("newer duka-relay"), "{err}");
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing created");
    // A current database opens twice (the second applies nothing).
    let fresh = crate::testing::TestDatabase::create(&server).await;
    drop(Store::connect(&fresh.url).await.unwrap());
    drop(Store::connect(&fresh.url).await.unwrap());
}
