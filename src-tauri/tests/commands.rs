//! The shell's commands through Tauri's IPC with the mock runtime (no window, no display):
//! ring up, charge in demo mode, answer on the simulated phone, read the day report, and the
//! `{code, message}` errors the UI receives.

use std::time::Duration;

use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{Listener, Manager, WebviewWindow};

fn invoke(w: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    let req = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        // The app's own origin on Linux (a remote origin would be refused by the capabilities).
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(w, req).map(|b| b.deserialize::<Value>().unwrap())
}

fn app() -> (
    tauri::App<MockRuntime>,
    WebviewWindow<MockRuntime>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let duka = tauri::async_runtime::block_on(duka_desktop::start(dir.path(), "memory")).unwrap();
    // The real context: the same config, capabilities and CSP as the shipped app.
    let app = duka_desktop::with_commands(mock_builder())
        .build(tauri::generate_context!())
        .unwrap();
    duka_desktop::forward_events(app.handle(), duka.engine());
    app.manage(duka);
    let w = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    (app, w, dir)
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out");
}

#[test]
fn ring_up_charge_approve_on_the_demo_phone_and_see_it_in_the_report() {
    let (app, w, _dir) = app();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = events.clone();
    app.listen("core-event", move |e| {
        seen.lock().unwrap().push(e.payload().to_string())
    });

    let status = invoke(&w, "health", json!({})).unwrap();
    assert_eq!(status["environment"], "demo");
    assert_eq!(status["demo"], true);

    let sale = invoke(
        &w,
        "create_sale",
        json!({"cashier": "Owner", "lines": [
            {"description": "Sugar 1kg", "price": "150", "quantity": 2},
            {"description": "Bread", "price": "65", "quantity": 1}]}),
    )
    .unwrap();
    assert_eq!(sale["total"], 36_500);
    let id = sale["id"].as_i64().unwrap();

    let phone = invoke(&w, "check_phone", json!({"input": "0712 345 678"})).unwrap();
    assert_eq!(phone["msisdn"], "254712345678");
    let attempt = invoke(
        &w,
        "charge",
        json!({"saleId": id, "phone": "0712345678", "cashier": "Owner"}),
    )
    .unwrap();
    assert_eq!(attempt["state"], "pending");
    assert_eq!(attempt["amount"], 365);
    // A second charge for the same sale while one is pending is refused.
    let again = invoke(
        &w,
        "charge",
        json!({"saleId": id, "phone": "0712345678", "cashier": "Owner"}),
    )
    .unwrap_err();
    assert_eq!(again["code"], "conflict");

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
    wait_for(|| {
        invoke(&w, "day_report", json!({})).unwrap()["mpesa_receipts"][0]["receipt"].is_string()
    });
    let csv = invoke(&w, "export_csv", json!({})).unwrap();
    assert!(
        csv.as_str()
            .unwrap()
            .contains(",paid,Owner,3,365.00,0.00,365.00,"),
        "{csv}"
    );
}

#[test]
fn a_cancelled_prompt_and_field_errors_reach_the_ui_as_code_and_message() {
    let (_app, w, _dir) = app();
    let sale = invoke(&w, "create_sale", json!({"cashier": "Owner", "lines": [{"description": "Tea", "price": "120", "quantity": 1}]})).unwrap();
    let id = sale["id"].as_i64().unwrap();
    let attempt = invoke(
        &w,
        "charge",
        json!({"saleId": id, "phone": "0712345678", "cashier": "Owner"}),
    )
    .unwrap();
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
            json!({"saleId": id, "phone": "12", "cashier": "Owner"}),
            "phone: expected",
        ),
        (
            "create_sale",
            json!({"cashier": "Owner", "lines": [{"description": "x", "price": "-1", "quantity": 1}]}),
            "price: expected",
        ),
        (
            "pay_code",
            json!({"saleId": id, "code": "SHORT", "cashier": "Owner"}),
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
