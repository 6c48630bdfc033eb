//! WebDriver helpers shared by the real-window tests and the desktop benchmark: the app is
//! launched by tauri-driver (127.0.0.1:4444) and found by `data-testid`.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};

pub async fn connect() -> Client {
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

pub fn id(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

/// Waits until the element's text contains `want` (the UI changes on events, not on a timer).
pub async fn wait_text(c: &Client, testid: &str, want: &str) -> String {
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

pub async fn type_into(c: &Client, testid: &str, text: &str) {
    let e = c.find(Locator::Css(&id(testid))).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

pub async fn click(c: &Client, testid: &str) {
    c.find(Locator::Css(&id(testid)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

pub async fn shot(c: &Client, name: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/e2e-screenshots");
    std::fs::create_dir_all(dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
}

pub async fn enter(c: &Client, testid: &str) {
    c.find(Locator::Css(&id(testid)))
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
}

pub async fn absent(c: &Client, testid: &str) -> bool {
    c.find_all(Locator::Css(&id(testid)))
        .await
        .unwrap()
        .is_empty()
}
