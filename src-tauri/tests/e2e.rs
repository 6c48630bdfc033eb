//! The real window: the built app in WebKitGTK under Xvfb, driven through tauri-driver and
//! WebKitWebDriver. Run by `scripts/test-e2e.sh` (part of `.ci/run`); screenshots of each
//! step are kept in `target/e2e-screenshots/`. Assertions read DOM text, not pixels.

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};

async fn connect() -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "wry".into());
    caps.insert(
        "tauri:options".into(),
        serde_json::json!({"application": env!("CARGO_BIN_EXE_duka-desktop")}),
    );
    // tauri-driver is on loopback: plain HTTP, no TLS stack needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect("http://127.0.0.1:4444")
        .await
        .expect("tauri-driver on 127.0.0.1:4444")
}

fn id(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

/// Waits until the element's text contains `want` (the UI changes on events, not on a timer).
async fn wait_text(c: &Client, testid: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(e) = c.find(Locator::Css(&id(testid))).await
            && let Ok(text) = e.text().await
            && text.contains(want)
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{testid} never showed {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn type_into(c: &Client, testid: &str, text: &str) {
    let e = c.find(Locator::Css(&id(testid))).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, testid: &str) {
    c.find(Locator::Css(&id(testid)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn shot(c: &Client, name: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/e2e-screenshots");
    std::fs::create_dir_all(dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
}

#[tokio::test]
#[ignore = "needs Xvfb, tauri-driver and WebKitWebDriver: scripts/test-e2e.sh"]
async fn ring_up_charge_in_demo_mode_approve_cancel_and_field_errors() {
    let c = connect().await;
    wait_text(&c, "demo-banner", "DEMO").await;
    shot(&c, "01-till").await;

    // Ring up two items.
    type_into(&c, "item", "Sugar 1kg").await;
    type_into(&c, "price", "150").await;
    type_into(&c, "qty", "2").await;
    click(&c, "add").await;
    type_into(&c, "item", "Bread").await;
    type_into(&c, "price", "65").await;
    c.find(Locator::Css(&id("price")))
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_text(&c, "total", "KES 365.00").await;
    wait_text(&c, "cart", "Sugar 1kg").await;

    // An invalid phone shows the field error; nothing is charged.
    type_into(&c, "phone", "0812").await;
    click(&c, "charge").await;
    wait_text(&c, "phone-check", "phone: expected a Kenyan mobile number").await;
    shot(&c, "02-invalid-phone").await;

    // Enter on the phone field charges; the simulated phone approves.
    type_into(&c, "phone", "0712 345 678").await;
    c.find(Locator::Css(&id("phone")))
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_text(
        &c,
        "payment-panel",
        "Waiting for the customer's PIN on 0712 345 678",
    )
    .await;
    shot(&c, "03-waiting-for-pin").await;
    click(&c, "approve").await;
    let paid = wait_text(&c, "payment-panel", "M-Pesa receipt").await;
    assert!(paid.contains("Paid"), "{paid}");
    let receipt = paid
        .split("M-Pesa receipt ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(receipt.len(), 10, "{paid}");
    shot(&c, "04-paid-receipt").await;

    // A cash sale: the change due.
    click(&c, "new-sale").await;
    type_into(&c, "item", "Milk 500ml").await;
    type_into(&c, "price", "60").await;
    click(&c, "add").await;
    type_into(&c, "cash", "100").await;
    c.find(Locator::Css(&id("cash")))
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    let cash = wait_text(&c, "cash-panel", "Change: KES 40.00").await;
    assert!(cash.contains("Paid"), "{cash}");
    let charge = c.find(Locator::Css(&id("charge"))).await.unwrap();
    assert!(
        !charge.is_enabled().await.unwrap(),
        "a paid sale offers no charge"
    );
    shot(&c, "05-cash-change").await;

    // A new sale the customer cancels: the reason, then in Swahili.
    click(&c, "new-sale-cash").await;
    type_into(&c, "item", "Tea leaves").await;
    type_into(&c, "price", "120").await;
    click(&c, "add").await;
    type_into(&c, "phone", "0712345679").await;
    click(&c, "charge").await;
    wait_text(&c, "payment-panel", "Waiting for the customer's PIN").await;
    click(&c, "cancel").await;
    wait_text(&c, "payment-panel", "The customer cancelled the request.").await;
    shot(&c, "06-cancelled").await;
    click(&c, "lang").await;
    wait_text(&c, "payment-panel", "Mteja ameghairi ombi.").await;
    shot(&c, "07-cancelled-swahili").await;

    // The manager's day: both paid sales, by tender, and the M-Pesa receipt with a masked phone.
    click(&c, "lang").await;
    click(&c, "screen").await;
    wait_text(
        &c,
        "report-summary",
        "Sales paid: 2 · Money taken: KES 425.00",
    )
    .await;
    let tenders = wait_text(&c, "by-tender", "Cash").await;
    assert!(
        tenders.contains("KES 60.00") && tenders.contains("KES 365.00"),
        "{tenders}"
    );
    let receipts = wait_text(&c, "receipts", &receipt).await;
    assert!(
        receipts.contains("2547****678") && receipts.contains("KES 365.00"),
        "{receipts}"
    );
    shot(&c, "08-manager-day").await;

    c.close().await.unwrap();
}
