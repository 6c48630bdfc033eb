use duka_core::engine::Health;
use serde::Serialize;
use tauri::State;

use crate::{Duka, Result};

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Status {
    pub environment: String,
    pub demo: bool,
    pub health: Health,
}

/// What the status bar shows: environment, Daraja, token, relay, open attempts.
#[tauri::command]
pub async fn health(duka: State<'_, Duka>) -> Result<Status> {
    let running = duka.running();
    Ok(Status {
        environment: running.environment.as_str().into(),
        demo: running.demo_url().is_some(),
        health: running.health().await,
    })
}

/// The STK result codes with their class and their English and Swahili messages, for the
/// payment panel.
#[tauri::command]
pub fn result_codes() -> Vec<daraja::codes::CodeInfo> {
    daraja::codes::TABLE.to_vec()
}

/// The UI calls this when a screen is ready for input. With `DUKA_EXIT_WHEN_READY` set (the
/// startup benchmark), the app prints `ready <screen>` and exits: launch to interactive,
/// measured from outside the process. Only in builds with the `test-hooks` feature.
#[tauri::command]
pub fn ui_ready(screen: String) {
    tracing::debug!("screen {screen} is interactive");
    #[cfg(feature = "test-hooks")]
    if std::env::var_os("DUKA_EXIT_WHEN_READY").is_some() {
        println!("ready {screen}");
        std::process::exit(0);
    }
}
