use duka_core::engine::Health;
use duka_core::store::Cashier;
use serde::Serialize;
use tauri::State;

use crate::{Duka, Result};

#[derive(Debug, Serialize)]
pub struct Status {
    pub environment: String,
    pub demo: bool,
    pub health: Health,
}

/// What the status bar shows: environment, Daraja, token, relay, open attempts.
#[tauri::command]
pub async fn health(duka: State<'_, Duka>) -> Result<Status> {
    Ok(Status {
        environment: duka.running.environment.as_str().into(),
        demo: duka.running.sim().is_some(),
        health: duka.engine().health().await,
    })
}

#[tauri::command]
pub fn cashiers(duka: State<'_, Duka>) -> Result<Vec<Cashier>> {
    Ok(duka.engine().store().cashiers()?)
}

/// The STK result codes with their class and their English and Swahili messages, for the
/// payment panel.
#[tauri::command]
pub fn result_codes() -> Vec<daraja::codes::CodeInfo> {
    daraja::codes::TABLE.to_vec()
}
