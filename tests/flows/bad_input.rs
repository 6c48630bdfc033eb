use duka_tests::Till;

fn products(till: &Till) -> usize {
    till.json(&["product", "list", "--all"])
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_bad_csv_imports_nothing_and_names_every_bad_line() {
    let till = Till::new();
    till.run(&["init"]).ok();
    let csv = till.data_dir().join("bad.csv");
    std::fs::write(
        &csv,
        "name,price,barcode\nGood,10,1\n,20,2\nMilk,-5,3\nTea,1.234,4\nBread,5,1\n",
    )
    .unwrap();
    let r = till.run(&["product", "import", csv.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    for line in [
        "line 3: name:",
        "line 4: price:",
        "line 5: price:",
        "line 6: barcode 1 already used on line 2",
    ] {
        assert!(r.stderr.contains(line), "missing {line:?} in {}", r.stderr);
    }
    assert!(r.stderr.contains("nothing imported"));
    assert_eq!(products(&till), 0);

    let r = till.run(&["--json", "product", "import", csv.to_str().unwrap()]);
    let err: serde_json::Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert_eq!(err["code"], "bad_file");
}

#[test]
fn field_errors_are_one_clear_line_and_exit_one() {
    let till = Till::new();
    till.run(&["init"]).ok();
    for (args, starts) in [
        (
            vec!["sale", "new", "--item", "x", "--price", "-4"],
            "error: price: expected an amount",
        ),
        (
            vec!["sale", "new", "--item", "x", "--price", "4", "--qty", "0"],
            "error: qty: expected a whole number",
        ),
        (
            vec!["sale", "new", "--item", "x"],
            "error: price: expected --price after --item",
        ),
        (
            vec!["sale", "new", "--barcode", "404"],
            "error: product with barcode/sku 404 not found",
        ),
        (
            vec!["product", "add", "--name", "x", "--price", "1.234"],
            "error: price: expected",
        ),
        (
            vec!["report", "day", "--date", "23/11/2026"],
            "error: date: expected a date as YYYY-MM-DD",
        ),
        (
            vec!["config", "set", "shortcode", "12"],
            "error: shortcode: expected 5 to 7 digits",
        ),
        (vec!["sale", "show", "999"], "error: sale 999 not found"),
        (
            vec!["--cashier", "ghost", "sale", "list"],
            "error: cashier ghost not found",
        ),
        (
            vec!["sale", "pay", "1", "--mpesa-code", "SHORT"],
            "error: mpesa_code: expected the 10-character",
        ),
    ] {
        let r = till.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with(starts), "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "{args:?}: one line: {}",
            r.stderr
        );
    }
    assert!(
        till.json(&["sale", "list"]).as_array().unwrap().is_empty(),
        "nothing half written"
    );
}

#[test]
fn commands_before_init_say_so() {
    let till = Till::new();
    let r = till.run(&["sale", "list"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("run `duka init` first"), "{}", r.stderr);
    assert!(!till.db().exists(), "no database is created by accident");
}

#[test]
fn corrupt_and_newer_databases_are_refused_untouched() {
    let till = Till::new();
    // Where the shop's database goes (demo mode's is `demo/duka.db`).
    let shop_db = till.data_dir().join("duka.db");
    std::fs::write(&shop_db, b"garbage garbage garbage garbage").unwrap();
    let r = till.run(&["sale", "list"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not a Duka database"), "{}", r.stderr);
    let r = till.run(&["init"]);
    assert_eq!(r.code, 1, "init must not overwrite it either");
    assert_eq!(
        std::fs::read(&shop_db).unwrap(),
        b"garbage garbage garbage garbage"
    );

    let till = Till::new();
    till.run(&["init"]).ok();
    {
        let c = rusqlite::Connection::open(till.db()).unwrap();
        c.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    let r = till.run(&["--json", "sale", "list"]);
    assert_eq!(r.code, 1);
    let err: serde_json::Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert_eq!(err["code"], "db_schema_too_new");
    let c = rusqlite::Connection::open(till.db()).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}
