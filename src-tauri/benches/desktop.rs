//! The desktop app's figures (issue #6): cold start to an interactive screen, sign-in to the
//! till, core event to the screen, and resident memory of all the app's processes when idle.
//!
//! Needs a display and tauri-driver: `bash scripts/test-e2e.sh bench` runs it under Xvfb
//! (`cargo bench -p duka-desktop --features test-hooks --bench desktop`). `scripts/test-e2e.sh` runs it in quick mode
//! after the real-window tests, so it cannot rot; elsewhere (`cargo test --benches` without
//! `DUKA_DESKTOP_BENCH`) it says it was skipped.

#[path = "../tests/webdriver/mod.rs"]
mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use webdriver::*;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(name: &str, mut v: Vec<f64>, unit: &str) {
    v.sort_by(f64::total_cmp);
    println!(
        "{name:<44} n={:<3} p50 {:>7.1} {unit}  p95 {:>7.1} {unit}  max {:>7.1} {unit}",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.95),
        v[v.len() - 1]
    );
}

/// Launch to `ready sign-in` on stdout: the process's whole start, measured from outside.
fn cold_start(exe: &str, data_dir: &Path) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(exe)
        .env("DUKA_DATA_DIR", data_dir)
        .env("DUKA_SECRET_BACKEND", "memory")
        .env("DUKA_EXIT_WHEN_READY", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("launch duka-desktop");
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ready = out
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("ready sign-in"));
        let _ = tx.send(ready.then(|| started.elapsed()));
    });
    // A start that never gets there fails the bench instead of hanging it.
    let took = rx.recv_timeout(Duration::from_secs(60));
    if took.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    match took {
        Ok(Some(t)) => t,
        Ok(None) => panic!("duka-desktop exited without an interactive screen"),
        Err(_) => panic!("duka-desktop showed no interactive screen within 60 s"),
    }
}

fn proc_field(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after the last ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The app and every process under it (WebKit's web and network processes).
fn app_processes(exe: &Path) -> Vec<(u32, String)> {
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let root = pids
        .iter()
        .copied()
        .find(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok().as_deref() == Some(exe))
        .expect("the app's process");
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for &p in &pids {
            if !tree.contains(&p) && parent(p).is_some_and(|pp| tree.contains(&pp)) {
                tree.push(p);
                grew = true;
            }
        }
    }
    tree.into_iter()
        .map(|p| {
            let name = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            (p, name.trim().to_string())
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if std::env::var_os("DUKA_DESKTOP_BENCH").is_none() {
        println!(
            "desktop bench skipped: it needs a display and tauri-driver (bash scripts/test-e2e.sh bench)"
        );
        return;
    }
    let exe = env!("CARGO_BIN_EXE_duka-desktop");
    let (starts, charges, idle) = if full {
        (10, 20, Duration::from_secs(20))
    } else {
        (2, 2, Duration::from_secs(1))
    };

    // 1. Cold start: a first start on an empty data folder (creates the database, seeds the
    //    demo shop), then daily starts on the same folder.
    let dir = tempfile::tempdir().unwrap();
    let first = cold_start(exe, dir.path());
    println!(
        "{:<44} {:>7.1} ms",
        "first start (new database, demo seed)",
        first.as_secs_f64() * 1e3
    );
    let runs: Vec<f64> = (0..starts)
        .map(|_| cold_start(exe, dir.path()).as_secs_f64() * 1e3)
        .collect();
    summary("start to interactive sign-in screen", runs, "ms");

    // 2. One session through WebDriver: sign in, then charges approved on the simulated phone.
    let c = connect().await;
    wait_text(&c, "demo-staff", "Owner").await;
    click(&c, "cashier-Owner").await;
    type_into(&c, "pin", "1234").await;
    enter(&c, "pin").await;
    wait_text(&c, "quick-keys", "Unga 2kg").await;
    let till = within(
        30,
        "tillReadyMs",
        c.execute("return window.__duka.tillReadyMs", vec![]),
    )
    .await
    .unwrap();
    println!(
        "{:<44} {:>7.1} ms",
        "sign-in to interactive till (argon2 incl.)",
        till.as_f64().unwrap()
    );
    for _ in 0..charges {
        click(&c, "key-Unga 2kg").await;
        type_into(&c, "phone", "0712345678").await;
        enter(&c, "phone").await;
        wait_text(&c, "payment-panel", "Waiting for the customer's PIN").await;
        click(&c, "approve").await;
        wait_text(&c, "payment-panel", "M-Pesa receipt").await;
        click(&c, "new-sale").await;
    }
    let lat = within(
        30,
        "eventToScreenMs",
        c.execute("return window.__duka.eventToScreenMs", vec![]),
    )
    .await
    .unwrap();
    let lat: Vec<f64> = lat
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    assert!(
        lat.len() >= charges,
        "every charge moved the panel: {lat:?}"
    );
    summary("core event (store commit) to panel shown", lat, "ms");

    // 3. Idle: nothing happens for a while (the status bar's 15 s refresh still runs).
    tokio::time::sleep(idle).await;
    let exe_path = PathBuf::from(exe).canonicalize().unwrap();
    let procs = app_processes(&exe_path);
    // RSS counts every shared library page in full in each process; PSS shares them out; the
    // private pages (anonymous memory, the binary's own) are what only Duka holds.
    let (mut rss, mut pss, mut private) = (0, 0, 0);
    for (pid, name) in &procs {
        let r = proc_field(*pid, "status", "VmRSS:");
        let p = proc_field(*pid, "smaps_rollup", "Pss:");
        let v = proc_field(*pid, "smaps_rollup", "Private_Clean:")
            + proc_field(*pid, "smaps_rollup", "Private_Dirty:");
        println!(
            "  {name:<24} pid {pid:<7} RSS {:>6.1} MB  PSS {:>6.1} MB  private {:>6.1} MB",
            r as f64 / 1024.0,
            p as f64 / 1024.0,
            v as f64 / 1024.0
        );
        rss += r;
        pss += p;
        private += v;
    }
    println!(
        "{:<44} RSS {:>6.1} MB  PSS {:>6.1} MB  private {:>6.1} MB",
        format!("idle memory, {} processes", procs.len()),
        rss as f64 / 1024.0,
        pss as f64 / 1024.0,
        private as f64 / 1024.0
    );
    close(c).await;
}
