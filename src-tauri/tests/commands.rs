//! The shell's commands through Tauri's IPC with the mock runtime (no window, no display):
//! ring up, charge in demo mode, answer on the simulated phone, read the day report, and the
//! `{code, message}` errors the UI receives.

use std::time::Duration;

mod ipc;

use ipc::invoke;
use serde_json::{Value, json};
use tauri::test::{MockRuntime, mock_builder};
use tauri::{Listener, Manager, WebviewWindow};

fn app() -> (
    tauri::App<MockRuntime>,
    WebviewWindow<MockRuntime>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut duka =
        tauri::async_runtime::block_on(duka_desktop::start(dir.path(), "memory")).unwrap();
    duka.export_dir = dir.path().join("exports");
    mount(duka, dir)
}

fn mount(
    duka: duka_desktop::Duka,
    dir: tempfile::TempDir,
) -> (
    tauri::App<MockRuntime>,
    WebviewWindow<MockRuntime>,
    tempfile::TempDir,
) {
    // The real context: the same config, capabilities and CSP as the shipped app.
    let app = duka_desktop::with_commands(mock_builder())
        .build(tauri::generate_context!())
        .unwrap();
    duka_desktop::forward_events(app.handle(), &duka.running());
    app.manage(duka);
    let w = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    (app, w, dir)
}

fn wait_for(cond: impl FnMut() -> bool) {
    wait_secs(5, cond)
}

/// Waits for `cond` at most `secs` (longer for what the poll schedule decides).
fn wait_secs(secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "not within {secs} s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ring_up_charge_approve_on_the_demo_phone_and_see_it_in_the_report() {
    let (app, w, _dir) = app();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = events.clone();
    app.listen("core-event", move |e| {
        seen.lock().unwrap().push(e.payload().to_string())
    });

    // Nothing works before sign-in; a wrong PIN is refused.
    let e = invoke(&w, "products", json!({})).unwrap_err();
    assert_eq!(e["code"], "signed_out");
    let opts = invoke(&w, "sign_in_options", json!({})).unwrap();
    assert_eq!(opts["needs_setup"], false);
    assert_eq!(opts["demo_staff"][0]["pin"], "1234");
    let e = invoke(&w, "sign_in", json!({"name": "Owner", "pin": "9999"})).unwrap_err();
    assert_eq!(e["code"], "denied");
    let me = invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    assert_eq!(me["role"], "manager");
    assert!(
        invoke(&w, "products", json!({}))
            .unwrap()
            .as_array()
            .unwrap()
            .len()
            >= 5
    );

    let status = invoke(&w, "health", json!({})).unwrap();
    assert_eq!(status["environment"], "demo");
    assert_eq!(status["demo"], true);

    let sale = invoke(
        &w,
        "create_sale",
        json!({"lines": [
            {"description": "Sugar 1kg", "price": "150", "quantity": 2},
            {"description": "Bread", "price": "65", "quantity": 1}]}),
    )
    .unwrap();
    assert_eq!(sale["total"], 36_500);
    let id = sale["id"].as_i64().unwrap();
    // Corrected before the charge: a third line, then its quantity, then it goes again.
    let more = json!({"saleId": id, "line": {"description": "Milk", "price": "60", "quantity": 1}});
    assert_eq!(invoke(&w, "add_line", more).unwrap()["total"], 42_500);
    let qty = json!({"saleId": id, "lineNo": 3, "quantity": 2});
    assert_eq!(invoke(&w, "set_quantity", qty).unwrap()["total"], 48_500);
    let gone = invoke(&w, "remove_line", json!({"saleId": id, "lineNo": 3})).unwrap();
    assert_eq!(gone["total"], 36_500);
    // A sale given up is voided with its reason (a reason of one letter is refused).
    let other = invoke(
        &w,
        "create_sale",
        json!({"lines": [{"description": "Tea", "price": "120", "quantity": 1}]}),
    )
    .unwrap()["id"]
        .as_i64()
        .unwrap();
    let e = invoke(&w, "void_sale", json!({"saleId": other, "reason": "x"})).unwrap_err();
    assert_eq!(e["code"], "invalid_input");
    let v = invoke(
        &w,
        "void_sale",
        json!({"saleId": other, "reason": "customer left"}),
    )
    .unwrap();
    assert_eq!(
        (v["status"].clone(), v["void_reason"].clone()),
        (json!("voided"), json!("customer left"))
    );

    let phone = invoke(&w, "check_phone", json!({"input": "0712 345 678"})).unwrap();
    assert_eq!(phone["msisdn"], "254712345678");
    let attempt = invoke(&w, "charge", json!({"saleId": id, "phone": "0712345678"})).unwrap();
    assert_eq!(attempt["state"], "pending");
    assert_eq!(attempt["amount"], 365);
    // A second charge for the same sale while one is pending is refused.
    let again = invoke(&w, "charge", json!({"saleId": id, "phone": "0712345678"})).unwrap_err();
    assert_eq!(again["code"], "conflict");
    // Nor may its lines change while the customer has the prompt.
    let e = invoke(&w, "remove_line", json!({"saleId": id, "lineNo": 2})).unwrap_err();
    assert_eq!(e["code"], "conflict");
    assert_eq!(
        invoke(&w, "get_sale", json!({"id": id})).unwrap()["total"],
        36_500
    );

    // The simulated phone shows the prompt; the customer enters the PIN.
    let prompts = invoke(&w, "demo_prompts", json!({})).unwrap();
    let checkout = prompts[0]["checkout_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(checkout, attempt["checkout_request_id"].as_str().unwrap());
    invoke(
        &w,
        "demo_answer",
        json!({"checkoutRequestId": checkout, "resultCode": "0"}),
    )
    .unwrap();
    wait_for(|| invoke(&w, "get_sale", json!({"id": id})).unwrap()["status"] == "paid");
    wait_for(|| {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("\"type\":\"sale_paid\""))
    });

    let report = invoke(&w, "day_report", json!({})).unwrap();
    assert_eq!(report["sales_paid"], 1);
    // The whole shop's day comes from the relay: this demo till has none, and says so.
    let e = invoke(&w, "shop_day", json!({})).unwrap_err();
    assert_eq!(e["code"], "config", "{e}");
    assert!(e["message"].as_str().unwrap().contains("relay"), "{e}");
    wait_for(|| {
        invoke(&w, "day_report", json!({})).unwrap()["mpesa_receipts"][0]["receipt"].is_string()
    });
    let path = invoke(&w, "export_csv", json!({})).unwrap();
    let csv = std::fs::read_to_string(path.as_str().unwrap()).unwrap();
    assert!(csv.contains(",paid,Owner,3,365.00,0.00,365.00,"), "{csv}");

    // The receipt: on screen with the M-Pesa receipt number, as PDF, and on a network printer.
    let receipt_no = invoke(&w, "get_sale", json!({"id": id})).unwrap()["tenders"][0]["receipt"]
        .as_str()
        .unwrap()
        .to_string();
    let view = invoke(&w, "get_receipt", json!({"saleId": id})).unwrap();
    let text = view["text"].as_array().unwrap();
    assert!(
        text.iter()
            .any(|l| l.as_str().unwrap().contains(&receipt_no)),
        "{view}"
    );
    assert!(text.iter().any(|l| l.as_str().unwrap().contains("365.00")));
    let pdf = invoke(&w, "save_receipt_pdf", json!({"saleId": id})).unwrap();
    assert!(
        std::fs::read(pdf.as_str().unwrap())
            .unwrap()
            .starts_with(b"%PDF-1.4")
    );
    let e = invoke(&w, "print_receipt", json!({"saleId": id})).unwrap_err();
    assert_eq!(e["code"], "no_printer");

    let printer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = printer.local_addr().unwrap().to_string();
    let saved = invoke(
        &w,
        "save_settings",
        json!({"form": {"environment": "demo", "shop_name": "Mama Mboga", "printer": addr}}),
    )
    .unwrap();
    assert_eq!(saved["settings"]["shop_name"], "Mama Mboga");
    let got = std::thread::spawn(move || {
        let (mut conn, _) = printer.accept().unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut conn, &mut bytes).unwrap();
        bytes
    });
    assert_eq!(
        invoke(&w, "print_receipt", json!({"saleId": id})).unwrap(),
        addr.as_str()
    );
    let bytes = got.join().unwrap();
    assert!(bytes.starts_with(&[0x1b, 0x40]));
    let printed = String::from_utf8_lossy(&bytes);
    assert!(printed.contains("Mama Mboga") && printed.contains(&receipt_no));
    // The restarted till still has the sale and still takes charges.
    let recent = invoke(&w, "recent_sales", json!({})).unwrap();
    assert!(
        recent.as_array().unwrap().iter().any(|s| s["id"] == id),
        "{recent}"
    );
    assert_eq!(invoke(&w, "health", json!({})).unwrap()["demo"], true);
}

#[test]
fn a_cashier_cannot_open_manager_screens_and_pins_lock_after_five_misses() {
    let (_app, w, _dir) = app();
    invoke(&w, "sign_in", json!({"name": "Amina", "pin": "0000"})).unwrap();
    for cmd in [
        "day_report",
        "shop_day",
        "get_settings",
        "staff",
        "problem_attempts",
        "export_csv",
    ] {
        let e = invoke(&w, cmd, json!({})).unwrap_err();
        assert_eq!(e["code"], "denied", "{cmd}");
    }
    invoke(&w, "sign_out", json!({})).unwrap();
    assert_eq!(invoke(&w, "session", json!({})).unwrap(), Value::Null);
    for _ in 0..4 {
        let e = invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1111"})).unwrap_err();
        assert_eq!(e["code"], "denied");
    }
    let e = invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1111"})).unwrap_err();
    assert_eq!(e["code"], "locked", "the fifth says so: {e}");
    // Even the right PIN waits now, and Amina (another staff member) does not.
    let e = invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap_err();
    assert_eq!(e["code"], "locked", "{e}");
    invoke(&w, "sign_in", json!({"name": "Amina", "pin": "0000"})).unwrap();
    let e = invoke(&w, "unlock_staff", json!({"name": "Owner"})).unwrap_err();
    assert_eq!(e["code"], "denied", "a cashier cannot unlock: {e}");
    invoke(&w, "sign_out", json!({})).unwrap();

    // A restart (the app started again on the same data directory) still refuses the PIN.
    let dir = _dir;
    drop(_app);
    let mut again =
        tauri::async_runtime::block_on(duka_desktop::start(dir.path(), "memory")).unwrap();
    again.export_dir = dir.path().join("exports");
    let (_app, w, dir) = mount(again, dir);
    let e = invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap_err();
    assert_eq!(e["code"], "locked", "after a restart: {e}");
    // A manager unlocks (here through the store, as `duka cashier unlock` does).
    {
        let mut store =
            duka_core::Store::open(&duka_core::config::demo_db_path(dir.path())).unwrap();
        store.unlock_pin("Owner").unwrap();
    }
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
}

#[test]
fn first_run_sets_up_the_manager_then_settings_test_the_connection_and_keep_secrets_hidden() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(daraja_sim::Sim::spawn(daraja_sim::SimConfig::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = duka_core::Store::open(&duka_core::config::db_path(dir.path())).unwrap();
        duka_core::config::set_setting(&mut store, "environment", "custom").unwrap();
        duka_core::config::set_setting(&mut store, "daraja_base_url", sim.base_url()).unwrap();
        duka_core::config::set_setting(&mut store, "shortcode", "174379").unwrap();
    }
    let secrets = duka_core::secrets::MemorySecrets::default();
    use duka_core::secrets::{Secret, SecretKey, SecretStore};
    let key = &sim.config().consumer_key;
    let secret = &sim.config().consumer_secret;
    secrets
        .set(SecretKey::ConsumerKey, &Secret::new(key.clone()))
        .unwrap();
    secrets
        .set(SecretKey::ConsumerSecret, &Secret::new(secret.clone()))
        .unwrap();
    secrets
        .set(SecretKey::Passkey, &Secret::new("a-passkey-nobody-may-see"))
        .unwrap();
    let mut duka = tauri::async_runtime::block_on(duka_desktop::start_with_secrets(
        dir.path(),
        std::sync::Arc::new(secrets),
    ))
    .unwrap();
    duka.export_dir = dir.path().join("exports");
    let (_app, w, _dir) = mount(duka, dir);

    let opts = invoke(&w, "sign_in_options", json!({})).unwrap();
    assert_eq!(opts["needs_setup"], true);
    assert_eq!(opts["demo_staff"].as_array().unwrap().len(), 0);
    let e = invoke(&w, "setup_manager", json!({"name": "Eve", "pin": "12"})).unwrap_err();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("pin: expected 4 to 8 digits"),
        "{e}"
    );
    assert_eq!(
        invoke(&w, "sign_in_options", json!({})).unwrap()["needs_setup"],
        true
    );
    invoke(&w, "setup_manager", json!({"name": "Njeri", "pin": "2468"})).unwrap();
    // The refused PIN added nobody: Njeri is the only staff.
    let staff = invoke(&w, "staff", json!({})).unwrap();
    assert_eq!(staff.as_array().map(Vec::len), Some(1), "{staff}");
    assert_eq!(staff[0]["name"], "Njeri");
    let e = invoke(&w, "setup_manager", json!({"name": "Eve", "pin": "1357"})).unwrap_err();
    assert_eq!(e["code"], "denied");

    let view = invoke(&w, "get_settings", json!({})).unwrap();
    assert_eq!(view["settings"]["environment"], "custom");
    assert_eq!(view["passkey_set"], true);
    let form = |secret: &str| {
        json!({"form": {"environment": "custom", "daraja_base_url": sim.base_url(),
            "shortcode": "174379", "consumer_secret": secret}})
    };
    let ok = invoke(&w, "test_connection", form("")).unwrap();
    assert_eq!(ok["environment"], "custom");
    let e = invoke(&w, "test_connection", form("wrong-secret")).unwrap_err();
    assert_eq!(e["code"], "auth", "a refused key, not a dead network: {e}");
    for reply in [view.to_string(), ok.to_string(), e.to_string()] {
        assert!(!reply.contains("a-passkey-nobody-may-see") && !reply.contains(secret.as_str()));
    }

    // Bad input names its field and writes nothing.
    let e = invoke(
        &w,
        "save_settings",
        json!({"form": {"environment": "custom", "daraja_base_url": sim.base_url(), "shortcode": "12", "shop_name": "New name"}}),
    )
    .unwrap_err();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("shortcode: expected"),
        "{e}"
    );
    let e = invoke(
        &w,
        "save_settings",
        json!({"form": {"environment": "sandbox", "shortcode": "174379", "till_type": "till", "shop_name": "New name"}}),
    )
    .unwrap_err();
    assert!(
        e["message"].as_str().unwrap().starts_with("party_b:"),
        "{e}"
    );
    let view = invoke(&w, "get_settings", json!({})).unwrap();
    assert_eq!(view["settings"]["shop_name"], "Duka");

    // Staff: a bad PIN adds nobody; a manager adds a cashier, who signs in.
    let e = invoke(
        &w,
        "add_staff",
        json!({"name": "Baraka", "role": "cashier", "pin": "55"}),
    )
    .unwrap_err();
    assert_eq!(e["code"], "invalid_input", "{e}");
    let staff = invoke(&w, "staff", json!({})).unwrap();
    assert!(!staff.to_string().contains("Baraka"), "{staff}");
    invoke(
        &w,
        "add_staff",
        json!({"name": "Baraka", "role": "cashier", "pin": "5555"}),
    )
    .unwrap();
    invoke(&w, "sign_in", json!({"name": "Baraka", "pin": "5555"})).unwrap();
    assert_eq!(invoke(&w, "session", json!({})).unwrap()["name"], "Baraka");

    // A charge out on the customer's phone while the manager saves settings carries over: the
    // restarted till takes it up and sees the customer's PIN. (The shortcode's real passkey
    // first: the one stored above was only there to be kept hidden.)
    invoke(&w, "sign_in", json!({"name": "Njeri", "pin": "2468"})).unwrap();
    let passkey = sim.config().shortcodes[0].passkey.clone();
    invoke(
        &w,
        "save_settings",
        json!({"form": {"environment": "custom", "daraja_base_url": sim.base_url(),
            "shortcode": "174379", "passkey": passkey}}),
    )
    .unwrap();
    let sale = invoke(
        &w,
        "create_sale",
        json!({"lines": [{"description": "Sugar 1kg", "price": "150", "quantity": 1}]}),
    )
    .unwrap();
    let id = sale["id"].as_i64().unwrap();
    let attempt = invoke(&w, "charge", json!({"saleId": id, "phone": "0712345678"})).unwrap();
    assert_eq!(attempt["state"], "pending", "{attempt}");
    invoke(
        &w,
        "save_settings",
        json!({"form": {"environment": "custom", "daraja_base_url": sim.base_url(),
            "shortcode": "174379", "shop_name": "Kwa Njeri"}}),
    )
    .unwrap();
    assert!(sim.approve(attempt["checkout_request_id"].as_str().unwrap()));
    // No relay here: the new engine's resume queries it, and polls it while it is pending.
    wait_secs(30, || {
        invoke(&w, "get_sale", json!({"id": id})).unwrap()["status"] == "paid"
    });
    drop(rt);
}

#[test]
fn a_cancelled_prompt_and_field_errors_reach_the_ui_as_code_and_message() {
    let (_app, w, _dir) = app();
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    let sale = invoke(
        &w,
        "create_sale",
        json!({"lines": [{"description": "Tea", "price": "120", "quantity": 1}]}),
    )
    .unwrap();
    let id = sale["id"].as_i64().unwrap();
    let attempt = invoke(&w, "charge", json!({"saleId": id, "phone": "0712345678"})).unwrap();
    let checkout = attempt["checkout_request_id"].as_str().unwrap().to_string();
    invoke(
        &w,
        "demo_answer",
        json!({"checkoutRequestId": checkout, "resultCode": "1032"}),
    )
    .unwrap();
    wait_for(|| {
        invoke(&w, "attempts", json!({"openOnly": false})).unwrap()[0]["state"] == "failed"
    });
    let a = &invoke(&w, "attempts", json!({"openOnly": false})).unwrap()[0];
    assert_eq!(a["code"], "1032");
    assert_eq!(daraja::codes::lookup("1032").sw, "Mteja ameghairi ombi.");

    for (cmd, args, field) in [
        (
            "check_phone",
            json!({"input": "0812"}),
            "phone: expected a Kenyan mobile number",
        ),
        (
            "charge",
            json!({"saleId": id, "phone": "12"}),
            "phone: expected",
        ),
        (
            "create_sale",
            json!({"lines": [{"description": "x", "price": "-1", "quantity": 1}]}),
            "price: expected",
        ),
        (
            "pay_code",
            json!({"saleId": id, "code": "SHORT"}),
            "mpesa_code: expected",
        ),
        (
            "day_report",
            json!({"date": "23/11/2026"}),
            "date: expected",
        ),
    ] {
        let e = invoke(&w, cmd, args).unwrap_err();
        assert_eq!(e["code"], "invalid_input", "{cmd}: {e}");
        assert!(
            e["message"].as_str().unwrap().starts_with(field),
            "{cmd}: {e}"
        );
    }
    let e = invoke(&w, "get_sale", json!({"id": 999})).unwrap_err();
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("not_found"), Some("sale 999 not found"))
    );
}

fn recent_sale_ids(w: &WebviewWindow<MockRuntime>) -> Vec<i64> {
    invoke(w, "recent_sales", json!({}))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect()
}

/// Demo mode's PINs are printed on its sign-in screen: they must never open the shop's till.
/// Demo first, then the shop's settings: its first start asks for a manager, and demo staff,
/// sales and settings stay behind. Then the other way round, and back.
#[test]
fn demo_and_the_shop_have_a_database_each_and_switching_carries_nothing() {
    let (_app, w, dir) = app();
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    invoke(
        &w,
        "save_settings",
        json!({"form": {"environment": "demo", "shop_name": "Demo Duka"}}),
    )
    .unwrap();
    let demo_sale = invoke(
        &w,
        "create_sale",
        json!({"lines": [{"description": "Sugar 1kg", "price": "150", "quantity": 1}]}),
    )
    .unwrap()["id"]
        .as_i64()
        .unwrap();
    // Secrets typed into a demo form are refused, not kept for the shop.
    let e = invoke(
        &w,
        "save_settings",
        json!({"form": {"environment": "demo", "passkey": "x"}}),
    )
    .unwrap_err();
    assert_eq!(e["code"], "invalid_input", "{e}");

    let production = |shortcode: &str, secrets: bool| {
        let mut f =
            json!({"environment": "production", "shortcode": shortcode, "shop_name": "Mama Mboga"});
        if secrets {
            f["consumer_key"] = json!("ck-live");
            f["consumer_secret"] = json!("cs-live");
            f["passkey"] = json!("pk-live");
        }
        json!({ "form": f })
    };
    let v = invoke(&w, "save_settings", production("174379", true)).unwrap();
    assert_eq!(v["signed_out"], true, "{v}");
    assert_eq!(v["till"], "shop");
    assert_eq!(invoke(&w, "session", json!({})).unwrap(), Value::Null);
    let opts = invoke(&w, "sign_in_options", json!({})).unwrap();
    assert_eq!(opts["needs_setup"], true, "{opts}");
    assert_eq!(opts["demo_staff"].as_array().unwrap().len(), 0);
    assert_eq!(opts["cashiers"].as_array().unwrap().len(), 0);
    assert_eq!(opts["shop_name"], "Mama Mboga");
    let e = invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap_err();
    assert_ne!(e["code"], Value::Null, "{e}");
    invoke(&w, "setup_manager", json!({"name": "Njeri", "pin": "2468"})).unwrap();
    assert_eq!(
        invoke(&w, "health", json!({})).unwrap()["environment"],
        "production"
    );
    assert!(
        recent_sale_ids(&w).is_empty(),
        "no demo sale in the shop's till"
    );
    assert!(
        invoke(&w, "products", json!({}))
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty(),
        "no demo products either"
    );
    let shop_sale = invoke(
        &w,
        "create_sale",
        json!({"lines": [{"description": "Maziwa", "price": "65", "quantity": 1}]}),
    )
    .unwrap()["id"]
        .as_i64()
        .unwrap();
    let staff = invoke(&w, "staff", json!({})).unwrap();
    assert_eq!(staff.as_array().unwrap().len(), 1, "{staff}");

    // Transaction Status needs the initiator, its password and the certificate together.
    let with_initiator = |extra: Value| {
        let mut f = production("174379", false);
        f["form"]["initiator"] = json!("testapi");
        for (k, v) in extra.as_object().unwrap() {
            f["form"][k] = v.clone();
        }
        f
    };
    let e = invoke(&w, "save_settings", with_initiator(json!({}))).unwrap_err();
    assert!(
        e["message"].as_str().unwrap().starts_with("certificate:"),
        "{e}"
    );
    let certs = tempfile::tempdir().unwrap();
    let missing = certs.path().join("none.pem").display().to_string();
    let e = invoke(
        &w,
        "save_settings",
        with_initiator(json!({"certificate": missing})),
    )
    .unwrap_err();
    assert!(
        e["message"].as_str().unwrap().starts_with("certificate:"),
        "{e}"
    );
    let cert = certs.path().join("mpesa.pem");
    std::fs::write(&cert, daraja_sim::TEST_INITIATOR_CERT).unwrap();
    let cert = cert.display().to_string();
    let e = invoke(
        &w,
        "save_settings",
        with_initiator(json!({"certificate": cert})),
    )
    .unwrap_err();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("initiator_password:"),
        "{e}"
    );
    assert_eq!(
        invoke(&w, "get_settings", json!({})).unwrap()["settings"]["initiator"],
        Value::Null,
        "nothing half written"
    );
    let v = invoke(
        &w,
        "save_settings",
        with_initiator(json!({"certificate": cert, "initiator_password": "Safaricom999!*!"})),
    )
    .unwrap();
    assert_eq!(v["settings"]["initiator"], "testapi");
    assert_eq!(v["initiator_password_set"], true);
    assert!(!v.to_string().contains("Safaricom999"), "never sent back");

    // The other way round: the shop's manager chooses demo mode.
    let v = invoke(
        &w,
        "save_settings",
        json!({"form": {"environment": "demo", "shop_name": "Mama Mboga"}}),
    )
    .unwrap();
    assert_eq!(
        (v["signed_out"].clone(), v["till"].clone()),
        (json!(true), json!("demo"))
    );
    let e = invoke(&w, "sign_in", json!({"name": "Njeri", "pin": "2468"})).unwrap_err();
    assert_ne!(e["code"], Value::Null, "the shop's staff are not demo's");
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    assert_eq!(
        recent_sale_ids(&w),
        vec![demo_sale],
        "demo keeps its own sales"
    );
    assert_eq!(
        invoke(&w, "get_settings", json!({})).unwrap()["settings"]["shop_name"],
        "Demo Duka"
    );

    // Demo mode's manager (whose PIN anyone can read) cannot change the shop's till: new
    // credentials are refused, other fields are not written; switching is all it does.
    let e = invoke(&w, "save_settings", production("600000", true)).unwrap_err();
    assert_eq!(e["code"], "denied", "{e}");
    let v = invoke(&w, "save_settings", production("600000", false)).unwrap();
    assert_eq!(v["signed_out"], true);
    assert_eq!(
        v["settings"]["shortcode"], "174379",
        "the shop's own shortcode"
    );
    assert_eq!(
        v["settings"]["shop_name"], "Mama Mboga",
        "nothing demo had carried across"
    );
    invoke(&w, "sign_in", json!({"name": "Njeri", "pin": "2468"})).unwrap();
    assert_eq!(recent_sale_ids(&w), vec![shop_sale]);

    // A restart opens the till last chosen; the shop's database never held demo staff.
    let shop = duka_core::Store::open(&duka_core::config::db_path(dir.path())).unwrap();
    let names: Vec<String> = shop
        .cashiers()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["Njeri".to_string()]);
    use duka_core::secrets::{Secret, SecretKey, SecretStore};
    let secrets = duka_core::secrets::MemorySecrets::default();
    for k in [
        SecretKey::ConsumerKey,
        SecretKey::ConsumerSecret,
        SecretKey::Passkey,
    ] {
        secrets.set(k, &Secret::new("kept-in-the-keyring")).unwrap();
    }
    let again = tauri::async_runtime::block_on(duka_desktop::start_with_secrets(
        dir.path(),
        std::sync::Arc::new(secrets),
    ))
    .unwrap();
    assert_eq!(again.running().mode(), duka_core::config::Mode::Shop);
    again.running().stop();
}

/// Demo mode's manager is anyone who reads its PINs: "Test connection" there never sends the
/// shop's stored credentials (to a URL they typed), only what is typed in the form.
#[test]
fn test_connection_in_demo_mode_never_sends_the_stored_credentials() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(daraja_sim::Sim::spawn(daraja_sim::SimConfig::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    duka_core::config::Mode::Demo.choose(dir.path()).unwrap();
    use duka_core::secrets::{Secret, SecretKey, SecretStore};
    let secrets = duka_core::secrets::MemorySecrets::default();
    secrets
        .set(
            SecretKey::ConsumerKey,
            &Secret::new(sim.config().consumer_key.clone()),
        )
        .unwrap();
    secrets
        .set(
            SecretKey::ConsumerSecret,
            &Secret::new(sim.config().consumer_secret.clone()),
        )
        .unwrap();
    let duka = tauri::async_runtime::block_on(duka_desktop::start_with_secrets(
        dir.path(),
        std::sync::Arc::new(secrets),
    ))
    .unwrap();
    let (_app, w, _dir) = mount(duka, dir);
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    let form = json!({"form": {"environment": "custom", "daraja_base_url": sim.base_url()}});
    let e = invoke(&w, "test_connection", form).unwrap_err();
    assert_eq!(e["code"], "connection_failed", "{e}");
    assert_eq!(
        sim.token_requests(),
        0,
        "nothing was sent with the stored credentials"
    );
    let typed = json!({"form": {"environment": "custom", "daraja_base_url": sim.base_url(),
        "consumer_key": sim.config().consumer_key, "consumer_secret": sim.config().consumer_secret}});
    invoke(&w, "test_connection", typed).unwrap();
}

#[test]
fn a_shop_day_over_ipc_keeps_manager_work_for_managers_and_the_count_blind() {
    let (_app, w, dir) = app();
    invoke(&w, "sign_in", json!({"name": "Amina", "pin": "0000"})).unwrap();
    let e = invoke(&w, "open_shift", json!({"float": "two thousand"})).unwrap_err();
    assert_eq!(e["code"], "invalid_input");
    assert!(e["message"].as_str().unwrap().contains("float"), "{e}");
    let shift = invoke(&w, "open_shift", json!({"float": "2000"})).unwrap();
    let shift_id = shift["id"].as_i64().unwrap();
    assert_eq!(
        invoke(&w, "current_shift", json!({})).unwrap()["id"],
        shift_id
    );

    // A cashier: cash in yes; pay-outs, opening the drawer, refunds, stock, the open shift's
    // report (it would unblind the count) and the day close are a manager's.
    let cash_in = json!({"kind": "cash_in", "amount": "500", "reason": "change from the bank"});
    assert_eq!(
        invoke(&w, "drawer_move", cash_in).unwrap()["amount"],
        50_000
    );
    let denied = [
        (
            "drawer_move",
            json!({"kind": "pay_out", "amount": "100", "reason": "porter"}),
        ),
        ("drawer_move", json!({"kind": "open", "reason": "check"})),
        ("z_report", json!({"shiftId": shift_id})),
        ("day_close", json!({})),
        (
            "refund",
            json!({"saleId": 1, "lines": [], "reason": "x y", "via": {"to": "cash"}}),
        ),
        (
            "track_stock",
            json!({"productId": 1, "onHand": 5, "lowStock": null}),
        ),
        (
            "count_stock",
            json!({"productId": 1, "counted": 5, "reason": "count"}),
        ),
        ("stock_moves", json!({"productId": 1})),
        ("slip_text", json!({"of": {"of": "shift", "id": shift_id}})),
        ("settle_reversal", json!({"refundId": 1, "receipt": null})),
        ("confirm_refund", json!({"refundId": 1})),
    ];
    for (cmd, args) in denied {
        let e = invoke(&w, cmd, args.clone()).unwrap_err();
        assert_eq!(e["code"], "denied", "{cmd} {args}: {e}");
    }

    // Half off a KES 300 sale is above the cashier's 10%: a manager's PIN approves it.
    let sale = invoke(
        &w,
        "create_sale",
        json!({"lines": [{"description": "Cooking oil 1L", "price": "300", "quantity": 1}]}),
    )
    .unwrap();
    let id = sale["id"].as_i64().unwrap();
    let half = |approval: Value| json!({"saleId": id, "lineNo": null, "value": "50%", "approval": approval});
    let e = invoke(&w, "discount", half(Value::Null)).unwrap_err();
    assert_eq!(e["code"], "needs_approval", "{e}");
    let e = invoke(
        &w,
        "discount",
        half(json!({"name": "Amina", "pin": "0000"})),
    )
    .unwrap_err();
    assert_eq!(e["code"], "denied", "a cashier approves nothing: {e}");
    let e = invoke(
        &w,
        "discount",
        half(json!({"name": "Owner", "pin": "9999"})),
    )
    .unwrap_err();
    assert_eq!(e["code"], "denied", "{e}");
    let d = invoke(
        &w,
        "discount",
        half(json!({"name": "Owner", "pin": "1234"})),
    )
    .unwrap();
    assert_eq!(
        (d["discount"].clone(), d["total"].clone()),
        (json!(15_000), json!(15_000))
    );
    let e = invoke(
        &w,
        "discount",
        json!({"saleId": id, "lineNo": null, "value": "half"}),
    )
    .unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("discount"), "{e}");
    let paid = invoke(&w, "pay_cash", json!({"saleId": id, "tendered": "200"})).unwrap();
    assert_eq!(paid["change"], 5_000);

    // The manager refunds it to cash; the refund has its own slip.
    invoke(&w, "sign_out", json!({})).unwrap();
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    let r = invoke(
        &w,
        "refund",
        json!({"saleId": id, "lines": [], "reason": "leaking bottle", "via": {"to": "cash"}}),
    )
    .unwrap();
    assert_eq!(
        (r["amount"].clone(), r["state"].clone()),
        (json!(15_000), json!("done"))
    );
    let again = json!({"saleId": id, "lines": [], "reason": "again", "via": {"to": "cash"}});
    assert_eq!(invoke(&w, "refund", again).unwrap_err()["code"], "conflict");
    let slip = invoke(
        &w,
        "slip_text",
        json!({"of": {"of": "refund", "id": r["id"]}}),
    )
    .unwrap();
    let slip: Vec<String> = serde_json::from_value(slip).unwrap();
    assert!(
        slip.iter()
            .any(|l| l.starts_with("REFUNDED") && l.ends_with("KES 150.00")),
        "{slip:#?}"
    );
    assert_eq!(
        invoke(&w, "refunds_of", json!({"saleId": id}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Blind close by the cashier: the answer is the Z-report (2,000 + 500 + 150 − 150).
    invoke(&w, "sign_out", json!({})).unwrap();
    invoke(&w, "sign_in", json!({"name": "Amina", "pin": "0000"})).unwrap();
    let z = invoke(&w, "close_shift", json!({"counted": "2,490"})).unwrap();
    assert_eq!(z["expected_cash"], 250_000);
    assert_eq!(z["counted_cash"], 249_000);
    assert_eq!(z["difference_cents"], -1_000);
    assert_eq!(z["discounts"], 15_000);
    assert_eq!(invoke(&w, "current_shift", json!({})).unwrap(), Value::Null);
    // Closed, its report and PDF are anybody's.
    let of = json!({"of": {"of": "shift", "id": shift_id}});
    let path = invoke(&w, "save_slip_pdf", of).unwrap();
    let pdf = std::fs::read(path.as_str().unwrap()).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(
        path.as_str()
            .unwrap()
            .starts_with(dir.path().to_str().unwrap())
    );
    let day = invoke(&w, "day_close", json!({})).unwrap_err();
    assert_eq!(day["code"], "denied");
}

/// Backups from the desktop, a manager's: one now, the list with how backups are going (also
/// in the status bar's health), a restore that refuses a file that is not a Duka database with
/// the till still serving, then one that brings the till back to the backup, keeps the
/// database it replaced aside, starts the till again on it and signs everyone out.
#[test]
fn a_manager_backs_up_and_restores_and_the_till_starts_again_on_the_backup() {
    let (_app, w, dir) = app();
    let e = invoke(&w, "backup_now", json!({})).unwrap_err();
    assert_eq!(e["code"], "signed_out");
    invoke(&w, "sign_in", json!({"name": "Amina", "pin": "0000"})).unwrap();
    for cmd in ["backup_now", "backups"] {
        assert_eq!(
            invoke(&w, cmd, json!({})).unwrap_err()["code"],
            "denied",
            "{cmd}"
        );
    }
    let e = invoke(&w, "restore_backup", json!({"path": "/nowhere.db"})).unwrap_err();
    assert_eq!(e["code"], "denied");
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    let tea = json!({"lines": [{"description": "Tea", "price": "120", "quantity": 1}]});
    invoke(&w, "create_sale", tea.clone()).unwrap();
    let at_backup = recent_sale_ids(&w);

    let b = invoke(&w, "backup_now", json!({})).unwrap();
    let path = b["path"].as_str().unwrap().to_string();
    assert!(
        path.starts_with(dir.path().join("demo/backups/duka-demo-").to_str().unwrap()),
        "demo mode's backups are beside its database: {path}"
    );
    assert!(b["size"].as_u64().unwrap() > 0);
    let list = invoke(&w, "backups", json!({})).unwrap();
    assert_eq!(list["files"][0]["path"], path.as_str());
    assert_eq!(list["keep"], 14);
    assert_eq!(list["status"]["last_file"], path.as_str());
    assert_eq!(
        list["status"]["automatic"], false,
        "demo mode backs up when asked"
    );
    let health = invoke(&w, "health", json!({})).unwrap();
    assert_eq!(health["health"]["backup"]["last_file"], path.as_str());
    assert_eq!(health["health"]["backup"]["last_error"], Value::Null);

    invoke(&w, "create_sale", tea.clone()).unwrap();
    let after = recent_sale_ids(&w);
    assert_eq!(after.len(), at_backup.len() + 1);

    // Refused before anything stops: the till serves on, the manager still signed in.
    let junk = dir.path().join("list.db");
    std::fs::write(&junk, "sugar, bread, milk").unwrap();
    let e = invoke(&w, "restore_backup", json!({"path": junk})).unwrap_err();
    assert_eq!(e["code"], "db_not_duka", "{e}");
    assert_eq!(recent_sale_ids(&w), after);

    let done = invoke(&w, "restore_backup", json!({"path": path})).unwrap();
    assert_eq!(done["signed_out"], true);
    assert_eq!(done["restored"]["from"], path.as_str());
    let kept = done["restored"]["kept_aside"].as_str().unwrap();
    assert!(kept.contains("duka.db.before-restore-"), "{kept}");
    let old = duka_core::Store::open(std::path::Path::new(kept)).unwrap();
    assert_eq!(
        old.sales_between(0, i64::MAX, 100).unwrap().len(),
        after.len()
    );
    assert_eq!(
        invoke(&w, "products", json!({})).unwrap_err()["code"],
        "signed_out"
    );

    // The till runs again, on the backup.
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    assert_eq!(recent_sale_ids(&w), at_backup);
    let sale = invoke(&w, "create_sale", tea).unwrap();
    let attempt = invoke(
        &w,
        "charge",
        json!({"saleId": sale["id"], "phone": "0712345678"}),
    )
    .unwrap();
    assert_eq!(
        attempt["state"], "pending",
        "M-Pesa works on the restarted till"
    );
}

/// The first-run setup's KES 1 test push, in demo mode: a PayBill and a Buy Goods till come
/// back paid once the owner approves; a till number that is not the store's is refused by
/// M-Pesa (2028), named in the answer.
#[test]
fn the_setup_test_push_is_paid_for_the_right_numbers_and_refused_for_a_wrong_till() {
    let (_app, w, _dir) = app();
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    let form = |till_type: &str, shortcode: &str, party_b: &str| {
        json!({"environment": "demo", "shortcode": shortcode, "till_type": till_type,
               "party_b": party_b, "backup_dir": null, "backup_keep": null})
    };
    let approve = |w: WebviewWindow<MockRuntime>| {
        std::thread::spawn(move || {
            let mut id = None;
            wait_for(|| {
                let prompts = invoke(&w, "demo_prompts", json!({})).unwrap();
                id = prompts[0]["checkout_request_id"].as_str().map(String::from);
                id.is_some()
            });
            let answer = json!({"checkoutRequestId": id.unwrap(), "resultCode": "0"});
            invoke(&w, "demo_answer", answer).unwrap();
        })
    };
    for (kind, shortcode, party_b, phone) in [
        ("paybill", "174379", "", "0712345601"),
        ("till", "174380", "5001234", "0712345602"),
    ] {
        let owner = approve(w.clone());
        let args = json!({"form": form(kind, shortcode, party_b), "phone": phone});
        let r = invoke(&w, "test_push", args).unwrap();
        owner.join().unwrap();
        assert_eq!(r["outcome"], "paid", "{kind}: {r}");
        assert_eq!(r["result_code"], "0");
    }
    let wrong = json!({"form": form("till", "174380", "5009999"), "phone": "0712345603"});
    let r = invoke(&w, "test_push", wrong).unwrap();
    assert_eq!(
        (r["outcome"].clone(), r["result_code"].clone()),
        (json!("failed"), json!("2028")),
        "{r}"
    );
    let bad = json!({"form": form("till", "174380", ""), "phone": "0712345604"});
    let e = invoke(&w, "test_push", bad).unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("party_b"), "{e}");
    invoke(&w, "sign_out", json!({})).unwrap();
    invoke(&w, "sign_in", json!({"name": "Amina", "pin": "0000"})).unwrap();
    let e = invoke(
        &w,
        "test_push",
        json!({"form": form("paybill", "174379", ""), "phone": "0712345605"}),
    )
    .unwrap_err();
    assert_eq!(e["code"], "denied");
}

/// Demo mode's manager PIN is public: it restores only demo mode's own backups (not the shop's
/// database or its backups), and a restored file's environment and Daraja URL are not taken
/// (the credentials go only where the till already sends them).
#[test]
fn demo_mode_restores_only_its_own_backups_and_never_a_files_daraja_url() {
    let (_app, w, _dir) = app();
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    // A shop's database, and one of its backups: refused, nothing changed.
    // (Elsewhere: a shop database in the data directory would make it the shop's till.)
    let other = tempfile::tempdir().unwrap();
    let shop_db = other.path().join("duka.db");
    duka_core::Store::open(&shop_db).unwrap();
    let shop_backup = other.path().join("duka-2026-01-01T000000.db");
    std::fs::copy(&shop_db, &shop_backup).unwrap();
    for path in [&shop_db, &shop_backup] {
        let e = invoke(&w, "restore_backup", json!({"path": path})).unwrap_err();
        assert_eq!(e["code"], "denied", "{path:?}: {e}");
    }
    // Demo's own backup, doctored to send the till elsewhere: restored, the URL is not.
    let b = invoke(&w, "backup_now", json!({})).unwrap();
    let path = b["path"].as_str().unwrap().to_string();
    {
        let mut s = duka_core::Store::open(std::path::Path::new(&path)).unwrap();
        s.set_setting("environment", "custom").unwrap();
        s.set_setting("daraja_base_url", "https://evil.example")
            .unwrap();
    }
    invoke(&w, "restore_backup", json!({"path": path})).unwrap();
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    let v = invoke(&w, "get_settings", json!({})).unwrap();
    assert_eq!(v["settings"]["environment"], "demo", "{v}");
    assert_eq!(v["settings"]["daraja_base_url"], Value::Null, "{v}");

    // Not while a prompt is on a customer's phone: its answer would land in neither file.
    let sale = invoke(
        &w,
        "create_sale",
        json!({"lines": [{"description": "Tea", "price": "120", "quantity": 1}]}),
    )
    .unwrap();
    let charge = json!({"saleId": sale["id"], "phone": "0712345678"});
    assert_eq!(invoke(&w, "charge", charge).unwrap()["state"], "pending");
    let e = invoke(&w, "restore_backup", json!({"path": path})).unwrap_err();
    assert_eq!(e["code"], "conflict", "{e}");
    assert!(e["message"].as_str().unwrap().contains("still open"), "{e}");
}
