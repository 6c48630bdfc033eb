//! WebDriver helpers shared by the real-window tests and the desktop benchmark: the app is
//! launched by tauri-driver (127.0.0.1:4444) and found by `data-testid`.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element, key::Key};

/// Every WebDriver round trip has a deadline: a stuck webview fails the test with the step's
/// name instead of hanging the suite.
pub async fn within<T>(secs: u64, what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer from the app within {secs} s"),
    }
}

pub async fn connect() -> Client {
    connect_to(env!("CARGO_BIN_EXE_duka-desktop")).await
}

/// The app at `application` (an installed one, say) through tauri-driver.
pub async fn connect_to(application: &str) -> Client {
    connect_with(application, &[]).await
}

/// The app at `application`, started with `args`.
pub async fn connect_with(application: &str, args: &[&str]) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "wry".into());
    caps.insert(
        "tauri:options".into(),
        serde_json::json!({"application": application, "args": args}),
    );
    // tauri-driver is on loopback: plain HTTP, no TLS stack needed.
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps);
    within(
        120,
        "starting the app through tauri-driver",
        builder.connect("http://127.0.0.1:4444"),
    )
    .await
    .expect("tauri-driver on 127.0.0.1:4444")
}

/// The element, once the screen shows it (screens change on events: a step waits for them).
async fn find(c: &Client, testid: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match within(30, testid, c.find(Locator::Css(&id(testid)))).await {
            Ok(e) => return e,
            Err(e) if Instant::now() >= deadline => panic!("{testid} never appeared: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

pub fn id(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

/// Waits until the element's text contains `want` (the UI changes on events, not on a timer).
pub async fn wait_text(c: &Client, testid: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = async {
            let e = c.find(Locator::Css(&id(testid))).await.ok()?;
            e.text().await.ok()
        };
        if let Some(text) = within(30, testid, text).await
            && text.contains(want)
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{testid} never showed {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn type_into(c: &Client, testid: &str, text: &str) {
    let e = find(c, testid).await;
    within(30, testid, e.clear()).await.unwrap();
    within(30, testid, e.send_keys(text)).await.unwrap();
}

pub async fn click(c: &Client, testid: &str) {
    let e = find(c, testid).await;
    within(30, testid, e.click()).await.unwrap();
}

/// A screenshot of the screen as the cashier sees it. Under Xvfb with `-fbdir` (scripts/test-e2e.sh
/// sets `DUKA_E2E_FBDIR`) it is read from the X server's framebuffer: WebKitWebDriver's own
/// screenshot never answers when the app turns GPU compositing off, as it does to save memory.
pub async fn shot(c: &Client, name: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/e2e-screenshots");
    std::fs::create_dir_all(dir).unwrap();
    let png = match std::env::var_os("DUKA_E2E_FBDIR") {
        Some(fb) => {
            // Two animation frames: whatever the last step changed has been painted.
            let painted = c.execute_async(
                "const done = arguments[0];
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            );
            within(30, name, painted).await.unwrap();
            let xwd = std::fs::read(std::path::Path::new(&fb).join("Xvfb_screen0")).unwrap();
            xwd_to_png(&xwd).unwrap_or_else(|e| panic!("{name}: framebuffer: {e}"))
        }
        None => within(30, name, c.screenshot()).await.unwrap(),
    };
    std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
}

/// An X window dump (Xvfb's framebuffer file: big-endian header, 32-bit pixels) as a PNG.
fn xwd_to_png(xwd: &[u8]) -> Result<Vec<u8>, String> {
    let field = |i: usize| -> Result<u32, String> {
        xwd.get(i * 4..i * 4 + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "short header".to_string())
    };
    let (header, width, height) = (field(0)? as usize, field(4)?, field(5)?);
    let (lsb_first, bpp, line) = (field(7)? == 0, field(11)?, field(12)? as usize);
    let masks = [field(14)?, field(15)?, field(16)?];
    let colours = field(19)? as usize;
    if bpp != 32 {
        return Err(format!("{bpp} bits per pixel, expected 32"));
    }
    let data = xwd
        .get(header + colours * 12..)
        .ok_or_else(|| "no pixels".to_string())?;
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height as usize {
        for x in 0..width as usize {
            let at = y * line + x * 4;
            let b = data
                .get(at..at + 4)
                .ok_or_else(|| "short pixels".to_string())?;
            let b = [b[0], b[1], b[2], b[3]];
            let px = if lsb_first {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            };
            for m in masks {
                rgb.push(((px & m) >> m.trailing_zeros()) as u8);
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

pub async fn enter(c: &Client, testid: &str) {
    let e = find(c, testid).await;
    within(30, testid, e.send_keys(&Key::Enter.to_string()))
        .await
        .unwrap();
}

pub async fn enabled(c: &Client, testid: &str) -> bool {
    let e = find(c, testid).await;
    within(30, testid, e.is_enabled()).await.unwrap()
}

pub async fn absent(c: &Client, testid: &str) -> bool {
    within(30, testid, c.find_all(Locator::Css(&id(testid))))
        .await
        .unwrap()
        .is_empty()
}

pub async fn close(c: Client) {
    within(30, "closing the app", c.close()).await.unwrap();
}
