//! Backups and restores on real SQLite files, while another connection sells.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;
use crate::money::Money;
use crate::payment::PaymentEvent;
use crate::phone::Msisdn;
use crate::sale::NewLine;

fn m(shillings: i64) -> Money {
    Money::from_shillings(shillings).unwrap()
}

/// Every row of every table, each table's rows sorted: two databases hold the same data when
/// their dumps are equal.
fn dump(c: &Connection) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = st.column_count();
            let mut rows: Vec<String> = st
                .query_map([], |r| {
                    let row: Vec<rusqlite::types::Value> =
                        (0..n).map(|i| r.get(i)).collect::<rusqlite::Result<_>>()?;
                    Ok(format!("{row:?}"))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            rows.sort();
            (t, rows)
        })
        .collect()
}

fn dump_file(path: &Path) -> Vec<(String, Vec<String>)> {
    dump(&Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap())
}

fn rows(d: &[(String, Vec<String>)], table: &str) -> usize {
    d.iter()
        .find(|(t, _)| t == table)
        .map_or(0, |(_, r)| r.len())
}

fn integrity(path: &Path) -> String {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// A shop's database with staff, a product and an open shift.
fn shop(dir: &Path) -> PathBuf {
    let db = dir.join("duka.db");
    let mut s = Store::open(&db).unwrap();
    s.add_cashier("Wanjiku", "cashier").unwrap();
    s.add_cashier("Otieno", "manager").unwrap();
    s.open_shift("Wanjiku", m(1000)).unwrap();
    db
}

/// One sale, paid in cash (even `i`) or by an STK push M-Pesa confirms (odd `i`): the writes a
/// till makes while it sells.
fn sell(s: &mut Store, i: usize) {
    let lines = [
        NewLine::free("Sugar 1kg", m(150), 2).unwrap(),
        NewLine::free("Bread", m(65), 1).unwrap(),
    ];
    let sale = s.create_sale("Wanjiku", &lines).unwrap();
    if i.is_multiple_of(2) {
        s.pay_cash(sale.id, m(400), "Wanjiku").unwrap();
    } else {
        let phone = Msisdn::parse("0708374149").unwrap();
        let a = s.create_attempt(sale.id, &phone, 365, "Wanjiku").unwrap();
        let checkout = format!("ws_CO_{i:08}");
        s.apply_event(
            &a.id,
            &PaymentEvent::PushAccepted {
                checkout_id: checkout,
            },
            "engine",
            None,
        )
        .unwrap();
        let receipt = format!("UKN{i:07}");
        s.apply_event(
            &a.id,
            &PaymentEvent::Result {
                code: "0".into(),
                receipt: Some(receipt),
            },
            "callback",
            Some("The service request is processed successfully."),
        )
        .unwrap();
    }
}

/// Sells from a second `Store` on the same file until stopped; counts the sales.
struct Seller {
    stop: Arc<AtomicBool>,
    sold: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Seller {
    fn start(db: &Path, from: usize) -> Seller {
        let stop = Arc::new(AtomicBool::new(false));
        let sold = Arc::new(AtomicUsize::new(0));
        let mut s = Store::open(db).unwrap();
        let (halt, count) = (stop.clone(), sold.clone());
        let thread = std::thread::spawn(move || {
            let mut i = from;
            while !halt.load(Ordering::SeqCst) {
                sell(&mut s, i);
                i += 1;
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        Seller {
            stop,
            sold,
            thread: Some(thread),
        }
    }

    fn wait_for(&self, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.sold.load(Ordering::SeqCst) < n {
            assert!(std::time::Instant::now() < deadline, "the seller is stuck");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.sold.load(Ordering::SeqCst)
    }
}

#[test]
fn a_backup_taken_while_the_till_sells_is_the_database_at_one_instant_and_restores_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    {
        // Enough history that copying it takes a while.
        let mut s = Store::open(&db).unwrap();
        for i in 0..400 {
            sell(&mut s, 1_000_000 + i);
        }
    }
    let seller = Seller::start(&db, 0);
    seller.wait_for(20);

    // The snapshot and the backup in one read transaction of one connection: the backup must
    // be exactly what that transaction sees, whatever the seller commits meanwhile.
    let src = open_source(&db).unwrap();
    src.execute_batch("BEGIN").unwrap();
    let snapshot = dump(&src);
    let sold_at_snapshot = seller.sold.load(Ordering::SeqCst);
    let copy = dir.path().join("copy.db");
    write_copy(&src, &copy).unwrap();
    // Still the same instant after the copy, though the seller went on.
    seller.wait_for(sold_at_snapshot + 10);
    assert_eq!(dump(&src), snapshot);
    src.execute_batch("COMMIT").unwrap();
    drop(src);

    // The public path, also while selling.
    let backups = dir.path().join("backups");
    let made = create(&db, &backups, SHOP_PREFIX, 14, crate::time::now_ms()).unwrap();
    let sold = seller.stop();
    assert!(
        sold > sold_at_snapshot + 10,
        "the till sold during the backups"
    );

    assert_eq!(integrity(&copy), "ok");
    assert_eq!(dump_file(&copy), snapshot, "row by row, every table");
    let now = dump_file(&db);
    assert!(rows(&now, "sales") > rows(&snapshot, "sales"));

    // The backup is one file (rollback journal), whole, and a Duka database.
    let made_path = PathBuf::from(&made.path);
    assert_eq!(integrity(&made_path), "ok");
    let head = std::fs::read(&made_path).unwrap();
    assert_eq!((head[18], head[19]), (1, 1), "not WAL");
    assert!(!PathBuf::from(format!("{}-wal", made.path)).exists());
    assert_eq!(made.schema_version, Some(SCHEMA_VERSION));
    assert_eq!(check(&made_path).unwrap(), SCHEMA_VERSION);
    let names: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![made.file.clone()], "no temporary file left");
    // Taken at one instant: every sale it holds is whole (its lines, and a paid sale's
    // tenders covering it), and the attempts agree with the tenders.
    let b = Connection::open_with_flags(&made_path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let broken: i64 = b
        .query_row(
            "SELECT count(*) FROM sales s WHERE
               NOT EXISTS (SELECT 1 FROM sale_lines l WHERE l.sale_id = s.id)
               OR (s.status = 'paid' AND (SELECT coalesce(sum(amount_cents), 0) FROM tenders t WHERE t.sale_id = s.id) < s.total_cents)
               OR (SELECT count(*) FROM payment_attempts a WHERE a.sale_id = s.id AND a.state = 'paid')
                  != (SELECT count(*) FROM tenders t WHERE t.sale_id = s.id AND t.kind = 'mpesa_stk')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(broken, 0);
    drop(b);

    // Restored into a fresh data directory: the same rows, table by table.
    let fresh = tempfile::tempdir().unwrap();
    let target = fresh.path().join("duka.db");
    let r = restore(&target, &copy, Access::Exclusive, crate::time::now_ms()).unwrap();
    assert_eq!(r.kept_aside, None, "there was nothing to keep");
    assert_eq!(
        (r.backup_schema_version, r.schema_version),
        (SCHEMA_VERSION, SCHEMA_VERSION)
    );
    assert_eq!(dump_file(&target), snapshot);
    let store = Store::open(&target).unwrap();
    assert_eq!(store.cashiers().unwrap().len(), 2);
    assert!(store.current_shift().unwrap().is_some());
}

#[test]
fn the_newest_n_are_kept_and_nothing_else_in_the_folder_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let backups = dir.path().join("stick");
    std::fs::create_dir(&backups).unwrap();
    for other in ["notes.txt", "duka-demo-2026-01-01T000000.db", "duka-old.db"] {
        std::fs::write(backups.join(other), "kept").unwrap();
    }
    let day = 24 * 3600 * 1000;
    let t0 = 1_790_000_000_000; // 2026-09-21 in Nairobi
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(create(&db, &backups, SHOP_PREFIX, 3, t0 + i * day).unwrap());
    }
    // Twice in one second: a name of its own, and the newest.
    let again = create(&db, &backups, SHOP_PREFIX, 3, t0 + 4 * day).unwrap();
    assert!(again.file.ends_with("-2.db"), "{}", again.file);
    let listed = list(&backups, SHOP_PREFIX).unwrap();
    let names: Vec<&str> = listed.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(
        names,
        vec![
            again.file.as_str(),
            made[4].file.as_str(),
            made[3].file.as_str()
        ]
    );
    assert_eq!(
        made[4].file, "duka-2026-09-25T171320.db",
        "Nairobi time in the name"
    );
    assert_eq!(listed[1].at, t0 / 1000 * 1000 + 4 * day);
    assert!(
        listed
            .iter()
            .all(|f| f.size > 0 && f.schema_version == Some(SCHEMA_VERSION))
    );
    for other in ["notes.txt", "duka-demo-2026-01-01T000000.db", "duka-old.db"] {
        assert!(
            backups.join(other).exists(),
            "{other} was not ours to delete"
        );
    }
    // Demo mode's backups are its own.
    assert_eq!(
        list(&backups, DEMO_PREFIX).unwrap()[0].file,
        "duka-demo-2026-01-01T000000.db"
    );
    assert_eq!(list(&backups, DEMO_PREFIX).unwrap()[0].schema_version, None);
    assert_eq!(list(&dir.path().join("none"), SHOP_PREFIX).unwrap(), vec![]);
}

#[test]
fn a_backup_to_a_stick_that_is_not_there_fails_without_making_folders() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let gone = dir.path().join("media").join("USB").join("duka");
    let e = create(&db, &gone, SHOP_PREFIX, 14, crate::time::now_ms()).unwrap_err();
    assert_eq!(e.code(), "io", "{e}");
    assert!(e.to_string().contains("USB stick"), "{e}");
    assert!(!dir.path().join("media").exists());
    // The folder itself is made when the place it is in exists.
    let plugged = dir.path().join("duka-backups");
    create(&db, &plugged, SHOP_PREFIX, 14, crate::time::now_ms()).unwrap();
    assert_eq!(list(&plugged, SHOP_PREFIX).unwrap().len(), 1);
}

/// The file names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn restore_refuses_what_is_not_a_duka_database_or_is_newer_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let files = tempfile::tempdir().unwrap();
    let f = |name: &str| files.path().join(name);
    std::fs::write(f("list.db"), "sugar, bread, milk: not a database").unwrap();
    std::fs::write(f("empty.db"), "").unwrap();
    {
        let c = Connection::open(f("foreign.db")).unwrap();
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let newer = create(&db, files.path(), SHOP_PREFIX, 14, crate::time::now_ms()).unwrap();
    {
        let c = Connection::open(&newer.path).unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
    }
    let before = dump_file(&db);
    let listing = names(dir.path());
    for (file, code) in [
        (f("list.db"), "db_not_duka"),
        (f("empty.db"), "db_not_duka"),
        (f("foreign.db"), "db_not_duka"),
        (PathBuf::from(&newer.path), "db_schema_too_new"),
        (f("missing.db"), "not_found"),
        (files.path().to_path_buf(), "db_not_duka"),
        (db.clone(), "invalid_input"),
    ] {
        for access in [Access::Exclusive, Access::Shared] {
            let e = restore(&db, &file, access, crate::time::now_ms()).unwrap_err();
            assert_eq!(e.code(), code, "{}: {e}", file.display());
        }
    }
    assert_eq!(dump_file(&db), before, "the database is as it was");
    assert_eq!(
        names(dir.path()),
        listing,
        "nothing kept aside, nothing added"
    );
}

#[test]
fn restore_keeps_the_database_aside_and_migrates_an_older_backup() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let mut s = Store::open(&db).unwrap();
    sell(&mut s, 1);
    let backups = dir.path().join("backups");
    let b = create(&db, &backups, SHOP_PREFIX, 14, crate::time::now_ms()).unwrap();
    let at_backup = dump_file(&db);
    sell(&mut s, 2);
    sell(&mut s, 3);
    drop(s);
    let before = dump_file(&db);

    let now = 1_790_000_000_000;
    let r = restore(&db, Path::new(&b.path), Access::Exclusive, now).unwrap();
    let aside = dir.path().join("duka.db.before-restore-2026-09-21T171320");
    assert_eq!(r.kept_aside.as_deref(), Some(aside.to_str().unwrap()));
    assert_eq!(dump_file(&aside), before, "the database as it was, whole");
    assert_eq!(integrity(&aside), "ok");
    assert_eq!(dump_file(&db), at_backup);
    assert_eq!(rows(&dump_file(&db), "sales"), 1);
    // The one kept aside can be restored in turn.
    let r2 = restore(&db, &aside, Access::Exclusive, now).unwrap();
    assert!(
        r2.kept_aside
            .unwrap()
            .ends_with("before-restore-2026-09-21T171320-2")
    );
    assert_eq!(dump_file(&db), before);

    // A backup written by the previous release: opened and migrated before restore returns.
    let old = dir.path().join("v7.db");
    drop(crate::store::create_at_version(&old, 7).unwrap());
    let r = restore(&db, &old, Access::Exclusive, now).unwrap();
    assert_eq!(
        (r.backup_schema_version, r.schema_version),
        (7, SCHEMA_VERSION)
    );
    assert_eq!(
        Store::open(&db).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}

#[test]
fn an_exclusive_restore_is_refused_while_the_database_is_open_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let b = create(
        &db,
        &dir.path().join("b"),
        SHOP_PREFIX,
        14,
        crate::time::now_ms(),
    )
    .unwrap();
    let mut open = Store::open(&db).unwrap();
    sell(&mut open, 1);
    let before = dump_file(&db);
    let listing = names(dir.path());
    let e = restore(
        &db,
        Path::new(&b.path),
        Access::Exclusive,
        crate::time::now_ms(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(e.to_string().contains("open in another program"), "{e}");
    assert_eq!(dump_file(&db), before);
    assert_eq!(names(dir.path()), listing);

    // The desktop's way: its own till stopped but its connection still open. The restore is
    // one transaction that the open connection reads at once.
    let r = restore(
        &db,
        Path::new(&b.path),
        Access::Shared,
        crate::time::now_ms(),
    )
    .unwrap();
    assert!(r.kept_aside.is_some());
    assert_eq!(rows(&dump_file(&db), "sales"), 0);
    assert!(open.sales_between(0, i64::MAX, 10).unwrap().is_empty());
    drop(open);
    restore(
        &db,
        Path::new(&b.path),
        Access::Exclusive,
        crate::time::now_ms(),
    )
    .unwrap();
}

#[test]
fn the_till_backs_up_when_asked_at_the_day_close_and_says_when_it_failed() {
    use crate::config::{Mode, Settings};
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let env = |_: &str| None;
    let open = |backup_dir: Option<&Path>| {
        let mut store = Store::open(&db).unwrap();
        if let Some(d) = backup_dir {
            crate::config::set_setting(&mut store, "backup_dir", d.to_str().unwrap()).unwrap();
        }
        let settings = Settings::load(&store, &env, Mode::Shop).unwrap();
        crate::Till::offline(store, Mode::Shop, settings)
    };
    let till = open(None);
    assert_eq!(till.backup_dir(), dir.path().join("backups"));
    assert_eq!(
        till.backup_now("Wanjiku").unwrap_err().code(),
        "denied",
        "a manager's"
    );
    let mut events = till.subscribe();
    let first = till.backup_now("Otieno").unwrap();
    assert!(
        matches!(events.try_recv(), Ok(crate::engine::CoreEvent::Backup { status }) if status.last_file.as_deref() == Some(first.path.as_str()))
    );
    // The day close backs up only when the newest backup is an hour old.
    till.day_close(crate::time::today(), "Otieno").unwrap();
    assert_eq!(till.backups("Otieno").unwrap().files.len(), 1);
    let fresh = tempfile::tempdir().unwrap();
    let till = open(Some(fresh.path()));
    till.day_close(crate::time::today(), "Otieno").unwrap();
    let b = till.backups("Otieno").unwrap();
    assert_eq!((b.files.len(), b.keep), (1, 14));
    assert_eq!(
        b.status.last_file.as_deref(),
        Some(b.files[0].path.as_str())
    );
    assert!(b.status.automatic && b.status.last_error.is_none());

    // The stick is pulled out: the day close still answers; the status says what failed.
    drop(till);
    let stick = tempfile::tempdir().unwrap();
    let till = open(Some(&stick.path().join("duka")));
    drop(stick);
    let day = till.day_close(crate::time::today(), "Otieno").unwrap();
    assert_eq!(day.shifts.len(), 1);
    let status = till.backup_status();
    let (_, why) = status.last_error.clone().expect("the failure is kept");
    assert!(why.contains("USB stick"), "{why}");
    let health = block_on(till.health());
    assert_eq!(health.backup, Some(status));
}

/// The offline till's `health` needs no reactor.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_till_backs_itself_up_at_start_when_the_newest_backup_is_a_day_old() {
    use crate::config::{Mode, Settings};
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let backups = dir.path().join("backups");
    let day = 24 * 3600 * 1000;
    create(
        &db,
        &backups,
        SHOP_PREFIX,
        14,
        crate::time::now_ms() - 2 * day,
    )
    .unwrap();
    let start = |mode: Mode| {
        let store = Store::open(&db).unwrap();
        let settings = Settings::load(&store, &|_| None, mode).unwrap();
        let till = crate::Till::offline(store, mode, settings);
        till.start_backups();
        till
    };
    let wait = |what: &str, mut done: Box<dyn FnMut() -> bool + '_>| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let till = start(Mode::Shop);
    wait(
        "a backup at start",
        Box::new(|| list(&backups, SHOP_PREFIX).unwrap().len() == 2),
    );
    wait(
        "its status",
        Box::new(|| {
            till.backup_status().last_error.is_none()
                && till.backup_status().last_ok > Some(crate::time::now_ms() - day)
        }),
    );
    till.stop();
    drop(till);

    // Started again with a fresh backup there: nothing more (the check has run once it knows
    // of the newest).
    let again = start(Mode::Shop);
    wait(
        "the check",
        Box::new(|| again.backup_status().last_ok.is_some()),
    );
    assert_eq!(list(&backups, SHOP_PREFIX).unwrap().len(), 2);
    // Demo mode's till backs up only when asked.
    let demo_db = dir.path().join("demo").join("duka.db");
    std::fs::create_dir_all(demo_db.parent().unwrap()).unwrap();
    drop(Store::open(&demo_db).unwrap());
    let store = Store::open(&demo_db).unwrap();
    let settings = Settings::load(&store, &|_| None, Mode::Demo).unwrap();
    let demo = crate::Till::offline(store, Mode::Demo, settings);
    demo.start_backups();
    assert!(!demo.backup_status().automatic);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!dir.path().join("demo").join("backups").exists());
}

/// With the clock set back, older backups carry later names: the backup just taken is kept
/// all the same (it used to be pruned at once, leaving a "success" pointing at nothing), and
/// backups are private to the till's user.
#[test]
fn a_backup_taken_after_the_clock_went_back_is_kept_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let backups = dir.path().join("backups");
    let day = 24 * 3600 * 1000;
    let later = 1_790_000_000_000;
    for i in 0..3 {
        create(&db, &backups, SHOP_PREFIX, 3, later + i * day).unwrap();
    }
    let earlier = create(&db, &backups, SHOP_PREFIX, 3, later - 30 * day).unwrap();
    assert!(Path::new(&earlier.path).is_file(), "{earlier:?}");
    let names: Vec<String> = list(&backups, SHOP_PREFIX)
        .unwrap()
        .into_iter()
        .map(|f| f.file)
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&earlier.file), "{names:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&backups), 0o700);
        assert_eq!(mode(Path::new(&earlier.path)), 0o600);
    }
}

/// A file that passes the checks but does not open (its tables do not match its version)
/// leaves the database as it was.
#[test]
fn a_restore_that_does_not_open_puts_the_database_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = shop(dir.path());
    let before = dump_file(&db);
    let odd = dir.path().join("duka-2026-01-01T000000.db");
    {
        let c = Connection::open(&odd).unwrap();
        c.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 3;
             CREATE TABLE sales (nonsense TEXT);"
        ))
        .unwrap();
    }
    let e = restore(&db, &odd, Access::Shared, 1_790_000_000_000).unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert_eq!(dump_file(&db), before, "the database as it was");
    assert!(Store::open(&db).is_ok());
}
