//! The desktop reads every setting through `Settings` (stored values overlaid with the
//! environment), so `DUKA_SHOP_NAME` and `DUKA_PRINTER` reach the sign-in screen and the
//! receipt. A process of its own: it sets environment variables the other tests must not see.

mod ipc;

use ipc::invoke;
use serde_json::json;
use tauri::Manager;
use tauri::test::mock_builder;

#[test]
fn shop_name_and_printer_from_the_environment_reach_the_screens() {
    // SAFETY: this test binary has this one test; nothing else reads the environment yet.
    unsafe {
        std::env::set_var("DUKA_SHOP_NAME", "Duka ya Mazingira");
        std::env::set_var("DUKA_PRINTER", "127.0.0.1:9");
    }
    let dir = tempfile::tempdir().unwrap();
    {
        // Stored values the environment overrides.
        std::fs::create_dir_all(dir.path().join("demo")).unwrap();
        let mut store =
            duka_core::Store::open(&duka_core::config::demo_db_path(dir.path())).unwrap();
        duka_core::config::set_setting(&mut store, "shop_name", "Stored Name").unwrap();
        duka_core::config::set_setting(&mut store, "printer", "192.0.2.1").unwrap();
    }
    let duka = tauri::async_runtime::block_on(duka_desktop::start(dir.path(), "memory")).unwrap();
    let app = duka_desktop::with_commands(mock_builder())
        .build(tauri::generate_context!())
        .unwrap();
    app.manage(duka);
    let w = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    let opts = invoke(&w, "sign_in_options", json!({})).unwrap();
    assert_eq!(opts["shop_name"], "Duka ya Mazingira");
    invoke(&w, "sign_in", json!({"name": "Owner", "pin": "1234"})).unwrap();
    let sale = invoke(
        &w,
        "create_sale",
        json!({"lines": [{"description": "Chai", "price": "50", "quantity": 1}]}),
    )
    .unwrap();
    let receipt = invoke(&w, "get_receipt", json!({"saleId": sale["id"]})).unwrap();
    assert_eq!(receipt["printer"], "127.0.0.1:9");
    assert!(
        receipt["text"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("Duka ya Mazingira")),
        "{receipt}"
    );
}
