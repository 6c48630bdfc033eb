use duka_tests::Till;
use serde_json::{Value, json};

fn today() -> String {
    // The CLI's default day is Nairobi's; ask it rather than the machine's clock.
    let t = Till::new();
    t.run(&["init"]).ok();
    t.json(&["report", "day"])["date"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_day_at_the_till_survives_restarts() {
    let till = Till::new();
    let init = till.json(&["init", "--shop-name", "Mama Mboga", "--owner", "Achieng"]);
    assert_eq!(init["cashiers"][0]["name"], "Achieng");
    assert!(till.db().exists());
    // init again is harmless.
    till.run(&["init"]).ok();
    assert_eq!(till.json(&["cashier", "list"]).as_array().unwrap().len(), 1);

    let cashier = till.json(&["cashier", "add", "--name", "Kamau"]);
    assert!(cashier["id"].as_i64().unwrap() > 0);

    let p = till.json(&[
        "product",
        "add",
        "--name",
        "Sugar 1kg",
        "--price",
        "150",
        "--barcode",
        "6001001",
    ]);
    assert_eq!(p["price"], 15000);
    assert!(p["id"].as_i64().is_some());

    let csv = till.data_dir().join("prices.csv");
    std::fs::write(&csv, "name,price,barcode\nMilk 500ml,60,6001002\n\"Cooking oil, 1L\",\"1,380.50\",6001005\nSugar 1kg,155,6001001\n").unwrap();
    let imp = till.json(&["product", "import", csv.to_str().unwrap()]);
    assert_eq!(
        (imp["inserted"].as_i64(), imp["updated"].as_i64()),
        (Some(2), Some(1))
    );
    let list = till.json(&["product", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 3);

    // Rung up by barcode and free text, paid in cash with change.
    let sale = till.json(&[
        "--cashier",
        "kamau",
        "sale",
        "new",
        "--barcode",
        "6001001",
        "--qty",
        "2",
        "--item",
        "Tomatoes",
        "--price",
        "45.50",
        "--qty",
        "3",
        "--cash",
        "1000",
    ]);
    let sale_id = sale["id"].as_i64().unwrap();
    assert_eq!(sale["total"], 2 * 15500 + 3 * 4550);
    assert_eq!(sale["status"], "paid");
    assert_eq!(sale["cashier"], "Kamau");
    assert_eq!(sale["tenders"][0]["change"], 100000 - 44650);

    // A second sale, part cash then a typed M-Pesa code.
    let s2 = till.json(&["sale", "new", "--barcode", "6001005"]);
    let s2_id = s2["id"].as_i64().unwrap().to_string();
    assert_eq!(s2["status"], "open");
    let s2 = till.json(&["sale", "pay", &s2_id, "--cash", "380.50"]);
    assert_eq!(s2["status"], "awaiting_payment");
    let s2 = till.json(&["sale", "pay", &s2_id, "--mpesa-code", "qkm0fxe6rk"]);
    assert_eq!(s2["status"], "paid");
    assert_eq!(s2["tenders"][1]["receipt"], "QKM0FXE6RK");
    assert_eq!(s2["tenders"][1]["verified"], false);

    // Every command above was a separate process: the data survived each restart.
    let shown = till.json(&["sale", "show", &sale_id.to_string()]);
    assert_eq!(shown["lines"].as_array().unwrap().len(), 2);
    let listed = till.json(&["sale", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let r = till.json(&["report", "day"]);
    assert_eq!(r["sales_paid"], 2);
    assert_eq!(r["taken"], 44650 + 138050);
    assert_eq!(r["mpesa_receipts"].as_array().unwrap().len(), 1);
    assert_eq!(r["mpesa_receipts"][0]["receipt"], "QKM0FXE6RK");
    let by_cashier = r["by_cashier"].as_array().unwrap();
    assert_eq!(by_cashier.len(), 2);
    let human = till.run(&["report", "day"]).ok().stdout;
    assert!(
        human.contains("QKM0FXE6RK") && human.contains("KES 1,827.00"),
        "{human}"
    );

    let date = r["date"].as_str().unwrap();
    let out = till.data_dir().join("export.csv");
    till.run(&[
        "export",
        "--from",
        date,
        "--to",
        date,
        "--out",
        out.to_str().unwrap(),
    ])
    .ok();
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("sale_id,created_at,paid_at,status,cashier"));
    assert!(
        lines[1].contains(",paid,Kamau,5,446.50,446.50,0.00,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(",1380.50,380.50,1000.00,QKM0FXE6RK,0.00"),
        "{}",
        lines[2]
    );
}

#[test]
fn reports_for_another_day_are_empty_and_void_works() {
    let till = Till::new();
    till.run(&["init"]).ok();
    let s = till.json(&["sale", "new", "--item", "Bread", "--price", "65"]);
    let id = s["id"].as_i64().unwrap().to_string();
    let v = till.json(&["sale", "void", &id, "--reason", "customer left"]);
    assert_eq!(v["status"], "voided");
    let r = till.json(&["report", "day", "--date", "2020-01-01"]);
    assert_eq!(r["sales_paid"], 0);
    assert_eq!(r["taken"], 0);
    assert_eq!(today().len(), 10);
}

#[test]
fn settings_from_env_win_over_stored_ones() {
    let till = Till::new();
    till.run(&["init", "--shortcode", "174379", "--environment", "sandbox"])
        .ok();
    let s = till.json(&["config", "show"]);
    assert_eq!(s["shortcode"], "174379");
    assert_eq!(s["environment"], "sandbox");
    let till = till.with_env("DUKA_SHORTCODE", "600984");
    let s = till.json(&["config", "show"]);
    assert_eq!(s["shortcode"], "600984");
    assert_eq!(s["environment"], "sandbox");
    till.run(&["config", "set", "till_type", "till"]).ok();
    assert_eq!(till.json(&["config", "show"])["till_type"], "till");
    // DUKA_ENVIRONMENT=demo runs demo mode's own database, which this data directory lacks.
    let demo = till.with_env("DUKA_ENVIRONMENT", "demo");
    let r = demo.run(&["config", "show"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("(demo till); run `duka init` first"),
        "{}",
        r.stderr
    );
}

/// `duka demo` and demo mode never touch the shop's database, and choosing an environment
/// chooses its till without carrying staff, sales or settings across.
#[test]
fn demo_mode_has_its_own_database() {
    let till = Till::new();
    till.run(&[
        "init",
        "--environment",
        "sandbox",
        "--shortcode",
        "174379",
        "--owner",
        "Njeri",
        "--shop-name",
        "Mama Mboga",
    ])
    .ok();
    let shop_db = till.db();
    let shop_sale = till.json(&["sale", "new", "--item", "Tea", "--price", "120"])["id"].clone();
    let r = till.json(&["demo"]);
    assert_eq!(r["sales_paid"], 3, "{r}");
    assert_eq!(till.db(), shop_db, "the shop's till still runs");
    let shop = duka_core::Store::open(&shop_db).unwrap();
    assert!(
        shop.products(true).unwrap().is_empty(),
        "no sample products"
    );
    assert_eq!(
        shop.cashiers()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Njeri"]
    );
    drop(shop);
    let list = till.json(&["sale", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], shop_sale);

    // Choosing demo runs its database; the shop's settings do not follow.
    till.json(&["config", "set", "environment", "demo"]);
    let s = till.json(&["config", "show"]);
    assert_eq!(s["environment"], "demo");
    assert_eq!(s["shop_name"], "Duka");
    assert_eq!(s["shortcode"], Value::Null);
    assert_eq!(till.json(&["sale", "list"]).as_array().unwrap().len(), 3);
    till.json(&["config", "set", "environment", "sandbox"]);
    let s = till.json(&["config", "show"]);
    assert_eq!(
        (s["environment"].clone(), s["shortcode"].clone()),
        (json!("sandbox"), json!("174379"))
    );
    assert_eq!(till.json(&["sale", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn demo_sets_up_sample_data_once_and_charges_by_stk_each_run() {
    let till = Till::new();
    let r = till.json(&["demo"]);
    assert_eq!(
        r["sales_paid"], 3,
        "two sample sales and one paid by STK push"
    );
    let stk = r["mpesa_receipts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "mpesa_stk")
        .unwrap();
    assert_eq!(
        stk["receipt"].as_str().unwrap().len(),
        10,
        "the receipt came with the callback: {stk}"
    );
    assert!(stk["verified"].as_bool().unwrap());
    let r = till.json(&["demo"]);
    assert_eq!(
        r["sales_paid"], 4,
        "sample data is not added twice; one more STK sale"
    );
    assert_eq!(till.json(&["config", "show"])["environment"], "demo");
}

#[test]
fn charge_above_the_push_limit_needs_consent_to_split() {
    let till = Till::new().with_env("DUKA_ENVIRONMENT", "demo");
    till.run(&["init"]).ok();
    let sale = till.json(&["sale", "new", "--item", "Fridge", "--price", "300,000"]);
    let id = sale["id"].as_i64().unwrap().to_string();
    let r = till.run(&["charge", "--sale", &id, "--phone", "0700000000"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("amount: expected at most 250000 per M-Pesa request; pass --split"),
        "{}",
        r.stderr
    );
    assert!(
        till.json(&["attempts"]).as_array().unwrap().is_empty(),
        "nothing sent"
    );
    let attempts = till.json(&["charge", "--sale", &id, "--phone", "0700000000", "--split"]);
    let amounts: Vec<i64> = attempts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![250_000, 50_000]);
    assert!(
        attempts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "paid")
    );
    assert_eq!(till.json(&["sale", "show", &id])["status"], "paid");
}

#[test]
fn charge_exit_codes_and_typed_code_verification() {
    let till = Till::new().with_env("DUKA_ENVIRONMENT", "demo");
    till.run(&["init"]).ok();
    let id = till.json(&["sale", "new", "--item", "Tea", "--price", "120"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let r = till.run(&["charge", "--sale", &id, "--phone", "0700000200"]);
    assert_eq!(r.code, 2, "cancelled: {r:?}");
    assert!(
        r.stdout
            .contains("FAILED (1032): The customer cancelled the request."),
        "{}",
        r.stdout
    );
    let r = till
        .run(&["charge", "--sale", &id, "--phone", "0700000000"])
        .ok();
    assert!(r.stdout.contains("PAID: M-Pesa receipt "), "{}", r.stdout);
    let receipt = r
        .stdout
        .split("PAID: M-Pesa receipt ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let v = till.json(&["verify-code", &receipt, "--sale", &id]);
    assert_eq!(v["verified"], true, "{v}");
    let other = till.json(&["sale", "new", "--item", "Milk", "--price", "60"])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let v = till.json(&["verify-code", &receipt, "--sale", &other]);
    assert_eq!(v["verified"], false);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("not sale {other}")),
        "{v}"
    );
    let list = till.json(&["attempts"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let one = till.json(&["attempts", "--id", list[0]["id"].as_str().unwrap()]);
    assert_eq!(one["events"][0]["event"], "created");
}

/// The CLI logs to rotated files in the data directory, at the level `RUST_LOG` or the
/// `log_level` setting asks, and no phone number (nor the phone digits of a CheckoutRequestID)
/// ever reaches them.
#[test]
fn logs_go_to_the_data_directory_with_phone_digits_masked() {
    let till = Till::new().with_env("RUST_LOG", "debug");
    till.json(&["demo"]);
    let log = till.data_dir().join("logs").join("duka-cli.log");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 5, "debug lines were written: {text}");
    assert!(text.contains("DEBUG"), "{text}");
    for digits in ["254700000000", "700000000"] {
        assert!(
            !text.contains(digits),
            "a phone number reached the log:\n{text}"
        );
    }
    // A stored level is used when RUST_LOG is not set; a bad one names the field.
    let quiet = Till::new();
    quiet.run(&["init"]).ok();
    let e = quiet.run(&["config", "set", "log_level", "loud"]);
    assert!(
        e.stderr
            .contains("log_level: expected error, warn, info, debug or trace"),
        "{}",
        e.stderr
    );
    quiet.run(&["config", "set", "log_level", "error"]).ok();
    assert_eq!(quiet.json(&["config", "show"])["log_level"], "error");
    let shown = quiet.run(&["config", "show"]).ok().stdout;
    for key in ["printer", "log_level", "shop_name", "relay_url"] {
        assert!(shown.contains(key), "config show lists {key}: {shown}");
    }
}

/// An unpaid sale is corrected from the command line: a line removed, a quantity changed,
/// lines added (a product and a free item), each kept in the sale's edits; the last line
/// cannot go, and a paid sale cannot change.
#[test]
fn an_unpaid_sale_is_corrected_line_by_line() {
    let till = Till::new();
    till.run(&["init"]).ok();
    till.json(&[
        "product",
        "add",
        "--name",
        "Milk 500ml",
        "--price",
        "60",
        "--barcode",
        "6001002",
    ]);
    let s = till.json(&[
        "sale",
        "new",
        "--item",
        "Sugar 1kg",
        "--price",
        "150",
        "--qty",
        "2",
        "--item",
        "Tomatoes",
        "--price",
        "45.50",
        "--qty",
        "3",
    ]);
    let id = s["id"].as_i64().unwrap().to_string();
    assert_eq!(s["total"], 2 * 15000 + 3 * 4550);
    let sugar = s["lines"][0]["line_no"].to_string();
    let tomatoes = s["lines"][1]["line_no"].to_string();

    let s = till.json(&["sale", "remove-line", &id, "--line", &tomatoes]);
    assert_eq!(s["lines"].as_array().unwrap().len(), 1);
    assert_eq!(s["total"], 2 * 15000);
    let s = till.json(&["sale", "set-qty", &id, "--line", &sugar, "--qty", "3"]);
    assert_eq!(
        (s["total"].clone(), s["due"].clone()),
        (json!(45000), json!(45000))
    );
    let s = till.json(&[
        "sale",
        "add-line",
        &id,
        "--barcode",
        "6001002",
        "--qty",
        "2",
    ]);
    assert_eq!(s["total"], 45000 + 2 * 6000);
    let milk = &s["lines"][1];
    assert_eq!(milk["description"], "Milk 500ml");
    assert_ne!(
        milk["line_no"].to_string(),
        tomatoes,
        "a removed line's number is not reused"
    );
    let s = till.json(&["sale", "add-line", &id, "--item", "Bread", "--price", "65"]);
    assert_eq!(s["total"], 45000 + 12000 + 6500);
    assert_eq!(s["status"], "open");

    // `sale show` keeps the sale's shape and adds its corrections, oldest first.
    let shown = till.json(&["sale", "show", &id]);
    assert_eq!(shown["total"], 63500);
    assert_eq!(shown["lines"].as_array().unwrap().len(), 3);
    let actions: Vec<&str> = shown["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["remove", "quantity", "add", "add"]);
    assert_eq!(shown["edits"][1]["total_after"], 45000);
    let text = till.run(&["sale", "show", &id]).ok().stdout;
    assert!(text.contains("removed line 2: 3 x Tomatoes"), "{text}");
    assert!(text.contains("quantity 2 → 3"), "{text}");
    assert_eq!(text.matches("added line").count(), 2, "{text}");

    // A line needs its price; a bad quantity names the field.
    let r = till.run(&["sale", "add-line", &id, "--item", "Eggs"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: price: expected --price after --item"),
        "{}",
        r.stderr
    );
    let r = till.run(&["sale", "set-qty", &id, "--line", &sugar, "--qty", "0"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.starts_with("error: qty: expected a whole number"),
        "{}",
        r.stderr
    );

    // The last line cannot go: the sale is voided instead.
    let one = till.json(&["sale", "new", "--item", "Tea", "--price", "120"]);
    let one_id = one["id"].as_i64().unwrap().to_string();
    let line = one["lines"][0]["line_no"].to_string();
    let r = till.run(&["--json", "sale", "remove-line", &one_id, "--line", &line]);
    assert_eq!(r.code, 1, "{r:?}");
    let err: Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert_eq!(err["code"], "conflict", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("last item"),
        "{err}"
    );
    assert_eq!(
        till.json(&["sale", "show", &one_id])["lines"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Once paid, a sale does not change.
    till.json(&["sale", "pay", &id, "--cash", "635"]);
    let r = till.run(&[
        "--json", "sale", "set-qty", &id, "--line", &sugar, "--qty", "1",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        serde_json::from_str::<Value>(r.stderr.trim()).unwrap()["code"],
        "conflict"
    );
    assert_eq!(till.json(&["sale", "show", &id])["total"], 63500);
}

/// `duka --json ARGS`, which must fail with exit 1: its `{code, message}`.
fn refused(till: &Till, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = till.run(&all);
    assert_eq!(r.code, 1, "{args:?} should be refused: {r:?}");
    serde_json::from_str(r.stderr.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stderr))
}

fn cents(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not cents: {v}"))
}

/// A shift from float to blind count: cash sales (one with change), a pay-out, cash in and a
/// cash refund of one line; the Z-report's expected cash is their sum and the difference is
/// counted − expected, to the cent. One shift at a time; a cashier is refused what needs a
/// manager.
#[test]
fn a_shift_closes_with_a_z_report_that_adds_up() {
    let till = Till::new();
    till.run(&["init"]).ok();
    till.json(&["cashier", "add", "--name", "Wanjiku"]);
    let shift = till.json(&["shift", "open", "--float", "1000"]);
    let shift_id = shift["id"].as_i64().unwrap().to_string();
    assert_eq!(shift["float"], 100000);
    let again = refused(&till, &["shift", "open", "--float", "500"]);
    assert_eq!(again["code"], "conflict", "{again}");
    let r = till.run(&["--cashier", "Wanjiku", "shift", "open", "--float", "1"]);
    assert_eq!(r.code, 1, "{r:?}");

    let a = till.json(&[
        "sale",
        "new",
        "--item",
        "Sugar 1kg",
        "--price",
        "150",
        "--qty",
        "2",
        "--item",
        "Tomatoes",
        "--price",
        "45.50",
        "--qty",
        "3",
        "--cash",
        "1000",
    ]);
    assert_eq!(a["tenders"][0]["change"], 100000 - 43650);
    let a_id = a["id"].as_i64().unwrap().to_string();
    let tomatoes = a["lines"][1]["line_no"].as_i64().unwrap();
    till.json(&[
        "sale", "new", "--item", "Bread", "--price", "65", "--cash", "65",
    ]);
    let out = till.json(&["drawer", "pay-out", "--amount", "120", "--reason", "porter"]);
    assert_eq!(
        (out["kind"].clone(), out["amount"].clone()),
        (json!("pay_out"), json!(12000))
    );
    let cash_in = [
        "--cashier",
        "Wanjiku",
        "drawer",
        "cash-in",
        "--amount",
        "50",
    ];
    let cin = till.json(&[&cash_in[..], &["--reason", "change from the bank"]].concat());
    assert_eq!(
        (cin["kind"].clone(), cin["cashier"].clone()),
        (json!("cash_in"), json!("Wanjiku"))
    );

    // A cashier is refused what needs a manager; nothing is written.
    for args in [
        &["drawer", "pay-out", "--amount", "10", "--reason", "lunch"][..],
        &["refund", &a_id, "--cash", "--reason", "changed mind"],
        &["drawer", "open", "--reason", "no sale"],
        &["shift", "show"],
        &["shift", "day"],
    ] {
        let e = refused(&till, &[&["--cashier", "Wanjiku"][..], args].concat());
        assert_eq!(e["code"], "denied", "{args:?}: {e}");
    }
    assert!(
        till.json(&["refunds", &a_id])
            .as_array()
            .unwrap()
            .is_empty()
    );

    let line = format!("{tomatoes}:1");
    let refund = till.json(&[
        "refund", &a_id, "--line", &line, "--cash", "--reason", "bruised",
    ]);
    assert_eq!(
        (refund["kind"].clone(), refund["amount"].clone()),
        (json!("cash"), json!(4550))
    );
    assert_eq!(refund["lines"][0]["quantity"], 1);
    till.json(&["drawer", "open", "--reason", "change for a note"]);

    // While open, the manager sees an X-report: no count, no difference.
    let x = till.json(&["shift", "show"]);
    assert_eq!(
        (x["counted_cash"].clone(), x["difference_cents"].clone()),
        (Value::Null, Value::Null)
    );

    let z = till.json(&[
        "--cashier",
        "Wanjiku",
        "shift",
        "close",
        "--counted",
        "1356",
    ]);
    let expected = 100000 + 43650 + 6500 - 4550 - 12000 + 5000;
    assert_eq!(cents(&z["cash_sales"]), 43650 + 6500);
    assert_eq!(cents(&z["cash_refunds"]), 4550);
    assert_eq!(
        (
            cents(&z["pay_outs"]["count"]),
            cents(&z["pay_outs"]["amount"])
        ),
        (1, 12000)
    );
    assert_eq!(
        (
            cents(&z["cash_in"]["count"]),
            cents(&z["cash_in"]["amount"])
        ),
        (1, 5000)
    );
    assert_eq!(
        cents(&z["expected_cash"]),
        cents(&z["shift"]["float"]) + cents(&z["cash_sales"])
            - cents(&z["cash_refunds"])
            - cents(&z["pay_outs"]["amount"])
            + cents(&z["cash_in"]["amount"])
    );
    assert_eq!(cents(&z["expected_cash"]), expected);
    assert_eq!(cents(&z["counted_cash"]), 135600);
    assert_eq!(cents(&z["difference_cents"]), 135600 - expected);
    assert_eq!(cents(&z["difference_cents"]), -3000);
    assert_eq!(
        (cents(&z["sales"]["count"]), cents(&z["refunds"]["count"])),
        (2, 1)
    );
    assert_eq!(z["drawer_opens"], 1);
    assert_eq!(z["shift"]["closed_by"], "Wanjiku");

    // A closed shift's report is anyone's; its text says how the count came out.
    let text = till
        .run(&["--cashier", "Wanjiku", "shift", "show", "--id", &shift_id])
        .ok()
        .stdout;
    assert!(text.contains("short KES 30.00"), "{text}");
    assert!(
        text.contains("KES 1,386.00") && text.contains("Drawer opens"),
        "{text}"
    );
    let none = refused(&till, &["shift", "show"]);
    assert_eq!(none["code"], "conflict", "no shift is open: {none}");
    let e = refused(
        &till,
        &["drawer", "cash-in", "--amount", "5", "--reason", "late"],
    );
    assert_eq!(e["code"], "conflict", "cash moves need an open shift: {e}");

    let d = till.json(&["shift", "day"]);
    assert_eq!(d["shifts"].as_array().unwrap().len(), 1);
    assert_eq!(
        (cents(&d["expected_cash"]), cents(&d["difference_cents"])),
        (expected, -3000)
    );
    assert_eq!(d["open_shifts"], 0);
    let text = till.run(&["shift", "day"]).ok().stdout;
    assert!(text.contains("short KES 30.00"), "{text}");
    let other = till.json(&["shift", "day", "--date", "2020-01-01"]);
    assert!(other["shifts"].as_array().unwrap().is_empty());
    let e = refused(&till, &["shift", "close", "--counted", "ten"]);
    assert_eq!(e["code"], "invalid_input", "{e}");
    // The next shift opens once this one is closed.
    till.json(&["shift", "open", "--float", "0"]);
}

/// A sale is parked to serve the next customer and recalled; a finished sale is not parked;
/// a void needs its reason.
#[test]
fn a_sale_is_parked_and_recalled_and_a_void_needs_its_reason() {
    let till = Till::new();
    till.run(&["init"]).ok();
    let s = till.json(&["sale", "new", "--item", "Tea", "--price", "120"]);
    let id = s["id"].as_i64().unwrap().to_string();
    assert_eq!(
        till.run(&["sale", "parked"]).ok().stdout.trim(),
        "no parked sales"
    );
    let p = till.json(&["sale", "park", &id]);
    assert_eq!(p["id"], s["id"]);
    let next = till.json(&[
        "sale", "new", "--item", "Bread", "--price", "65", "--cash", "100",
    ]);
    let next_id = next["id"].as_i64().unwrap().to_string();
    let parked = till.json(&["sale", "parked"]);
    let ids: Vec<&Value> = parked
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, vec![&s["id"]]);
    assert!(till.run(&["sale", "parked"]).ok().stdout.contains("Owner"));
    let e = refused(&till, &["sale", "park", &next_id]);
    assert_eq!(e["code"], "conflict", "a paid sale is finished: {e}");

    let r = till.json(&["sale", "recall", &id]);
    assert_eq!(
        (r["status"].clone(), r["total"].clone()),
        (json!("open"), json!(12000))
    );
    assert!(
        till.json(&["sale", "parked"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let e = refused(&till, &["sale", "recall", &id]);
    assert_eq!(e["code"], "conflict", "not parked: {e}");
    assert_eq!(
        refused(&till, &["sale", "recall", "999"])["code"],
        "not_found"
    );

    // A void names its reason; a parked sale voided leaves the parked list.
    till.json(&["sale", "park", &id]);
    let r = till.run(&["sale", "void", &id]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("--reason"), "{}", r.stderr);
    let e = refused(&till, &["sale", "void", &id, "--reason", "x"]);
    assert_eq!(e["code"], "invalid_input", "{e}");
    let v = till.json(&["sale", "void", &id, "--reason", "customer left"]);
    assert_eq!(v["status"], "voided");
    assert!(
        till.json(&["sale", "parked"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Stock kept of a product follows its sales (once paid), a refund that puts goods back, and
/// a count; the low-stock list and the moves explain the quantity.
#[test]
fn stock_follows_sales_refunds_and_counts() {
    let till = Till::new();
    till.run(&["init"]).ok();
    till.json(&["cashier", "add", "--name", "Wanjiku"]);
    let p = till.json(&[
        "product",
        "add",
        "--name",
        "Milk 500ml",
        "--price",
        "60",
        "--barcode",
        "6001002",
    ]);
    let pid = p["id"].as_i64().unwrap().to_string();
    assert_eq!(p["stock"], Value::Null);
    let stock = |till: &Till| till.json(&["product", "list"])[0]["stock"].clone();

    let t = till.json(&["stock", "track", &pid, "--on-hand", "10", "--low", "5"]);
    assert_eq!(
        (t["stock"].clone(), t["low_stock"].clone()),
        (json!(10), json!(5))
    );
    let e = refused(&till, &["stock", "track", &pid, "--on-hand", "ten"]);
    assert_eq!(e["code"], "invalid_input", "{e}");
    assert!(
        e["message"].as_str().unwrap().starts_with("on_hand:"),
        "{e}"
    );
    let e = refused(
        &till,
        &[
            "--cashier",
            "Wanjiku",
            "stock",
            "track",
            &pid,
            "--on-hand",
            "3",
        ],
    );
    assert_eq!(e["code"], "denied", "{e}");

    // A cash refund comes out of the drawer: a shift is open.
    till.json(&["shift", "open", "--float", "0"]);
    let s = till.json(&[
        "sale",
        "new",
        "--barcode",
        "6001002",
        "--qty",
        "3",
        "--cash",
        "200",
    ]);
    assert_eq!(s["status"], "paid");
    assert_eq!(stock(&till), 7);
    let sale = s["id"].as_i64().unwrap().to_string();
    let line = s["lines"][0]["line_no"].as_i64().unwrap();

    let too_many = format!("{line}:4");
    let e = refused(
        &till,
        &[
            "refund", &sale, "--line", &too_many, "--cash", "--reason", "sour",
        ],
    );
    assert_eq!(e["code"], "invalid_input", "{e}");
    let e = refused(
        &till,
        &[
            "refund", &sale, "--line", "1:one", "--cash", "--reason", "sour",
        ],
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("line: expected LINE:QTY"),
        "{e}"
    );
    let back = format!("{line}:1:restock");
    let r = till.json(&[
        "refund",
        &sale,
        "--line",
        &back,
        "--cash",
        "--reason",
        "sour milk",
    ]);
    assert_eq!(
        (r["amount"].clone(), r["lines"][0]["restock"].clone()),
        (json!(6000), json!(true))
    );
    assert_eq!(stock(&till), 8);
    assert_eq!(till.json(&["refunds", &sale]).as_array().unwrap().len(), 1);
    assert!(
        till.run(&["refunds", &sale])
            .ok()
            .stdout
            .contains("back in stock")
    );

    let e = refused(
        &till,
        &[
            "stock",
            "count",
            &pid,
            "--counted",
            "four",
            "--reason",
            "shelf",
        ],
    );
    assert!(
        e["message"].as_str().unwrap().starts_with("counted:"),
        "{e}"
    );
    let count = [
        "stock",
        "count",
        &pid,
        "--counted",
        "4",
        "--reason",
        "shelf count",
    ];
    let e = refused(&till, &[&["--cashier", "Wanjiku"][..], &count].concat());
    assert_eq!(e["code"], "denied", "{e}");
    let c = till.json(&count);
    assert_eq!(
        (c["delta"].clone(), c["kind"].clone()),
        (json!(-4), json!("count"))
    );
    assert_eq!(stock(&till), 4);

    let low = till.json(&["stock", "low"]);
    assert_eq!(low.as_array().unwrap().len(), 1);
    assert_eq!(low[0]["id"], p["id"]);
    let text = till.run(&["product", "list"]).ok().stdout;
    assert!(text.contains("stock") && text.contains("4 LOW"), "{text}");
    let moves = till.json(&["stock", "moves", &pid]);
    let got: Vec<(&str, i64)> = moves
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["delta"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![("count", -4), ("refund", 1), ("sale", -3), ("count", 10)]
    );

    let u = till.json(&["stock", "untrack", &pid]);
    assert_eq!(u["stock"], Value::Null);
    assert!(till.json(&["stock", "low"]).as_array().unwrap().is_empty());
    let e = refused(
        &till,
        &[
            "stock",
            "count",
            &pid,
            "--counted",
            "4",
            "--reason",
            "again",
        ],
    );
    assert_eq!(e["code"], "conflict", "it keeps no stock now: {e}");
}

/// A price list with stock: imported by a manager (a count with reason `import`), exported
/// with the same columns, and imported back unchanged.
#[test]
fn a_price_list_with_stock_is_imported_exported_and_read_back() {
    let till = Till::new();
    till.run(&["init"]).ok();
    till.json(&["cashier", "add", "--name", "Wanjiku"]);
    let csv = till.data_dir().join("prices.csv");
    std::fs::write(
        &csv,
        "name,price,barcode,stock,low_stock\nMilk 500ml,60,6001002,12,3\nCharging,20,CHG1,,\n",
    )
    .unwrap();
    let file = csv.to_str().unwrap();
    let e = refused(&till, &["--cashier", "Wanjiku", "product", "import", file]);
    assert_eq!(e["code"], "denied", "{e}");
    till.json(&["product", "import", file]);
    let out = till.data_dir().join("export.csv");
    let out = out.to_str().unwrap();
    till.run(&["product", "export", "--out", out]).ok();
    let exported = std::fs::read_to_string(out).unwrap();
    assert_eq!(
        exported,
        "name,price,barcode,sku,active,stock,low_stock\n\
         Charging,20.00,CHG1,,yes,,\n\
         Milk 500ml,60.00,6001002,,yes,12,3\n"
    );
    let imp = till.json(&["product", "import", out]);
    assert_eq!(
        (imp["inserted"].clone(), imp["updated"].clone()),
        (json!(0), json!(2))
    );
    let milk = till.json(&["product", "list"])[1]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let moves = till.json(&["stock", "moves", &milk]);
    assert_eq!(
        moves.as_array().unwrap().len(),
        1,
        "read back: no new move {moves}"
    );
    assert_eq!(
        (
            moves[0]["kind"].clone(),
            moves[0]["delta"].clone(),
            moves[0]["reason"].clone()
        ),
        (json!("count"), json!(12), json!("import"))
    );
    std::fs::write(&csv, "name,price,barcode,stock\nMilk 500ml,60,6001002,-1\n").unwrap();
    let e = refused(&till, &["product", "import", file]);
    assert_eq!(e["code"], "bad_file", "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("line 2") && m.contains("stock: expected a whole number"),
        "{m}"
    );
}

#[test]
fn a_demo_sale_paid_by_mpesa_is_refunded_to_mpesa_by_a_later_command() {
    // Every command starts its own simulator: it learns the till's earlier payments.
    let till = Till::new().with_env("DUKA_ENVIRONMENT", "demo");
    till.run(&["init"]).ok();
    let sale = till.json(&["sale", "new", "--item", "Sugar 1kg", "--price", "150"]);
    let id = sale["id"].as_i64().unwrap().to_string();
    till.run(&["charge", "--sale", &id, "--phone", "0700000000"])
        .ok();
    let r = till.json(&["refund", &id, "--mpesa", "--reason", "customer returned it"]);
    assert_eq!(r["state"], "reversed", "{r}");
    assert_eq!(r["kind"], "mpesa");
    assert_eq!(r["amount"], 15_000);
    assert!(r["receipt"].as_str().is_some_and(|x| x.len() == 10), "{r}");
    // Once: the receipt is not reversed again.
    let again = till.run(&["--json", "refund", &id, "--mpesa", "--reason", "again"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("\"conflict\""), "{}", again.stderr);
    let list = till.json(&["refunds", &id]);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// A cashier's discount above the limit needs a manager's PIN on standard input; every slip
/// prints as text or PDF; a refund sent by hand is confirmed from the statement once.
#[test]
fn discounts_need_a_managers_pin_and_every_slip_prints() {
    let till = Till::new();
    till.run(&["init"]).ok();
    till.json(&["cashier", "add", "--name", "Wanjiku"]);
    till.run_with_stdin(&["cashier", "pin", "--name", "Owner"], "2468\n")
        .ok();
    let shift = till.json(&["shift", "open", "--float", "500"]);
    let sale = till.json(&[
        "--cashier",
        "Wanjiku",
        "sale",
        "new",
        "--item",
        "Cooking oil 1L",
        "--price",
        "300",
    ]);
    let id = sale["id"].as_i64().unwrap().to_string();
    let as_cashier = ["--cashier", "Wanjiku", "sale", "discount", &id];
    // 10% is the cashier's; half needs the manager, and a wrong PIN approves nothing.
    let ten = till.json(&[&as_cashier[..], &["10%"]].concat());
    assert_eq!(
        (ten["discount"].clone(), ten["total"].clone()),
        (json!(3000), json!(27000))
    );
    let e = refused(&till, &[&as_cashier[..], &["50%"]].concat());
    assert_eq!(e["code"], "needs_approval", "{e}");
    let args = [
        &as_cashier[..],
        &["50%", "--approved-by", "Owner", "--json"],
    ]
    .concat();
    let wrong = till.run_with_stdin(&args, "1111\n");
    assert_ne!(wrong.code, 0, "{wrong:?}");
    assert!(wrong.stderr.contains("denied"), "{wrong:?}");
    let half = till.run_with_stdin(&args, "2468\n").json();
    assert_eq!(
        (half["discount"].clone(), half["total"].clone()),
        (json!(15000), json!(15000))
    );
    let shown = till.run(&["sale", "show", &id]).ok().stdout;
    assert!(
        shown.contains("DISCOUNT") && shown.contains("-KES 150.00"),
        "{shown}"
    );
    till.json(&["sale", "pay", &id, "--cash", "150"]);

    // Refunded by hand from the shop's phone, then seen on the statement.
    let r = till.json(&[
        "refund",
        &id,
        "--manual-code",
        "TKA1B2C3D4",
        "--reason",
        "leaking bottle",
    ]);
    let rid = r["id"].as_i64().unwrap().to_string();
    assert_eq!(r["verified"], false);
    let e = refused(
        &till,
        &["--cashier", "Wanjiku", "refund-check", &rid, "--seen"],
    );
    assert_eq!(e["code"], "denied", "{e}");
    let seen = till.json(&["refund-check", &rid, "--seen"]);
    assert_eq!(seen["verified"], true);
    let e = refused(&till, &["refund-check", &rid, "--not-reversed"]);
    assert_eq!(e["code"], "conflict", "not a reversal: {e}");

    // The slips: the sale's receipt, the refund's, the shift's Z-report (a manager's while
    // it is open); text or PDF.
    let receipt = till.run(&["receipt", "sale", &id]).ok().stdout;
    assert!(
        receipt.contains("Cooking oil 1L") && receipt.contains("Refunded"),
        "{receipt}"
    );
    let slip = till.run(&["receipt", "refund", &rid]).ok().stdout;
    assert!(
        slip.contains("REFUND") && slip.contains("code TKA1B2C3D4"),
        "{slip}"
    );
    assert!(
        !slip.contains("unverified"),
        "seen on the statement: {slip}"
    );
    let shift_id = shift["id"].as_i64().unwrap().to_string();
    let e = refused(
        &till,
        &["--cashier", "Wanjiku", "receipt", "shift", &shift_id],
    );
    assert_eq!(
        e["code"], "denied",
        "the open shift's expected cash is a manager's: {e}"
    );
    let pdf = till.data_dir().join("z.pdf");
    till.run(&[
        "receipt",
        "shift",
        &shift_id,
        "--pdf",
        pdf.to_str().unwrap(),
    ])
    .ok();
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-1.4"));
    let e = refused(&till, &["receipt", "till", "1"]);
    assert_eq!(e["code"], "invalid_input", "{e}");
}

/// `duka backup now|list|restore`: a manager's backups, listed newest first; a restore brings
/// the till back to the backup and keeps the database it replaced; a file that is not a Duka
/// database, one from a newer Duka, and a database open in another process are refused with
/// nothing changed; a new machine's empty data directory gets the shop back. The backup
/// settings are set and checked like any other.
#[test]
fn backups_are_taken_listed_and_restored_from_the_cli() {
    let till = Till::new();
    till.run(&[
        "init",
        "--environment",
        "sandbox",
        "--shortcode",
        "174379",
        "--owner",
        "Achieng",
    ])
    .ok();
    till.json(&["cashier", "add", "--name", "Kamau"]);
    till.json(&[
        "sale", "new", "--item", "Tea", "--price", "120", "--cash", "200",
    ]);
    let shown = till.json(&["config", "show"]);
    assert_eq!(
        (shown["backup_dir"].clone(), shown["backup_keep"].clone()),
        (Value::Null, json!(14))
    );

    // Now: the path, in `backups/` of the data directory.
    let path = till.run(&["backup", "now"]).ok().stdout.trim().to_string();
    let backups = till.data_dir().join("backups");
    assert!(
        path.starts_with(backups.join("duka-").to_str().unwrap()),
        "{path}"
    );
    assert!(std::path::Path::new(&path).is_file());
    let second = till.json(&["backup", "now"]);
    let list = till.json(&["backup", "list"]);
    let files = list["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{list}");
    assert_eq!(files[0]["path"], second["path"], "newest first");
    assert_eq!(files[1]["path"], path.as_str());
    assert_eq!(files[0]["schema_version"], duka_core::store::SCHEMA_VERSION);
    assert!(files[0]["size"].as_u64().unwrap() > 0 && files[0]["at"].as_i64().is_some());
    assert_eq!(list["keep"], 14);
    let human = till.run(&["backup", "list"]).ok().stdout;
    let name = std::path::Path::new(&path)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(human.contains(name) && human.contains("schema"), "{human}");
    let e = refused(&till, &["--cashier", "Kamau", "backup", "now"]);
    assert_eq!(e["code"], "denied", "{e}");

    // The till goes on after the backup.
    till.json(&[
        "sale", "new", "--item", "Bread", "--price", "65", "--cash", "100",
    ]);
    let sales = |t: &Till| t.json(&["sale", "list"]).as_array().unwrap().len();
    assert_eq!(sales(&till), 2);

    // Refused, nothing changed: a shopping list, a newer Duka's backup, the database open in
    // another process (here, this test's connection).
    let junk = till.data_dir().join("list.db");
    std::fs::write(&junk, "sugar, bread, milk").unwrap();
    let e = refused(&till, &["backup", "restore", junk.to_str().unwrap()]);
    assert_eq!(e["code"], "db_not_duka", "{e}");
    let newer = till.data_dir().join("newer.db");
    std::fs::copy(&path, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch(&format!(
            "PRAGMA user_version = {}",
            duka_core::store::SCHEMA_VERSION + 1
        ))
        .unwrap();
    let e = refused(&till, &["backup", "restore", newer.to_str().unwrap()]);
    assert_eq!(e["code"], "db_schema_too_new", "{e}");
    let open_elsewhere = rusqlite::Connection::open(till.db()).unwrap();
    let _: i64 = open_elsewhere
        .query_row("SELECT count(*) FROM sales", [], |r| r.get(0))
        .unwrap();
    let e = refused(&till, &["backup", "restore", &path]);
    assert_eq!(e["code"], "conflict", "{e}");
    assert!(e["message"].as_str().unwrap().contains("close it"), "{e}");
    drop(open_elsewhere);
    let e = refused(&till, &["--cashier", "Kamau", "backup", "restore", &path]);
    assert_eq!(e["code"], "denied", "{e}");
    assert_eq!(sales(&till), 2);
    let aside = |t: &Till| {
        std::fs::read_dir(t.data_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().contains("before-restore"))
            .collect::<Vec<_>>()
    };
    assert!(aside(&till).is_empty());

    // Restored: one sale again; the database it replaced is kept aside, whole.
    let r = till.json(&["backup", "restore", &path]);
    assert_eq!(sales(&till), 1);
    let kept = r["kept_aside"].as_str().unwrap();
    assert_eq!(aside(&till), vec![std::path::PathBuf::from(kept)]);
    let before = duka_core::Store::open(std::path::Path::new(kept)).unwrap();
    assert_eq!(before.sales_between(0, i64::MAX, 10).unwrap().len(), 2);
    assert_eq!(r["schema_version"], duka_core::store::SCHEMA_VERSION);
    let human = till.run(&["backup", "restore", &path]).ok().stdout;
    assert!(human.contains("is kept at"), "{human}");

    // A new machine: the shop comes back into an empty data directory, and runs.
    let fresh = Till::new();
    let r = fresh.json(&["backup", "restore", &path]);
    assert_eq!(r["kept_aside"], Value::Null);
    assert_eq!(fresh.db(), fresh.data_dir().join("duka.db"));
    assert_eq!(sales(&fresh), 1);
    assert_eq!(
        fresh.json(&["cashier", "list"]).as_array().unwrap().len(),
        2
    );
    // The manager's day close backs the shop's till up (no backup is younger than an hour).
    assert!(
        fresh.json(&["backup", "list"])["files"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    fresh.json(&["shift", "day"]);
    fresh.json(&["shift", "day"]);
    let list = fresh.json(&["backup", "list"]);
    assert_eq!(list["files"].as_array().unwrap().len(), 1, "{list}");

    // The settings: a folder (a full path whose place exists) and a count.
    let e = refused(&till, &["config", "set", "backup_dir", "backups"]);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("backup_dir: expected"),
        "{e}"
    );
    let e = refused(&till, &["config", "set", "backup_keep", "0"]);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("backup_keep: expected"),
        "{e}"
    );
    let stick = till.data_dir().join("stick");
    till.run(&["config", "set", "backup_dir", stick.to_str().unwrap()])
        .ok();
    till.run(&["config", "set", "backup_keep", "1"]).ok();
    till.json(&["backup", "now"]);
    let last = till.json(&["backup", "now"]);
    assert!(
        last["path"]
            .as_str()
            .unwrap()
            .starts_with(stick.to_str().unwrap())
    );
    let list = till.json(&["backup", "list"]);
    assert_eq!(
        list["files"].as_array().unwrap().len(),
        1,
        "keeps 1: {list}"
    );
    assert_eq!(list["files"][0]["path"], last["path"]);
}
