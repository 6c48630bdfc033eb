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
        lines[2].ends_with(",1380.50,380.50,1000.00,QKM0FXE6RK"),
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
