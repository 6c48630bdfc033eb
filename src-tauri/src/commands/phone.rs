//! The simulated phone of demo mode: the STK prompts on "customers' phones", and answering them.

use serde::Serialize;
use tauri::State;

use crate::{Duka, Result, UiError};

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Prompt {
    pub checkout_request_id: String,
}

#[cfg(feature = "demo")]
fn with_sim<T>(duka: &Duka, f: impl FnOnce(&daraja_sim::Sim) -> T) -> Result<T> {
    let running = duka.running();
    let sim = running.sim().ok_or_else(not_demo)?;
    Ok(f(sim))
}

/// A build without demo mode has no simulated phone.
#[cfg(not(feature = "demo"))]
fn with_sim<T>(_: &Duka, _: impl FnOnce(&NoSim) -> T) -> Result<T> {
    Err(not_demo())
}

#[cfg(not(feature = "demo"))]
struct NoSim;

#[cfg(not(feature = "demo"))]
impl NoSim {
    fn pending_prompts(&self) -> Vec<String> {
        Vec::new()
    }
    fn decide(&self, _: &str, _: &str) -> bool {
        false
    }
}

fn not_demo() -> UiError {
    UiError::new(
        duka_app::AppCode::NotDemo,
        "the simulated phone exists only in demo mode",
    )
}

/// Prompts waiting on simulated phones.
#[tauri::command]
pub fn demo_prompts(duka: State<'_, Duka>) -> Result<Vec<Prompt>> {
    Ok(with_sim(&duka, |s| s.pending_prompts())?
        .into_iter()
        .map(|checkout_request_id| Prompt {
            checkout_request_id,
        })
        .collect())
}

/// The customer answers: `0` enters the PIN, `1032` cancels, `1037` lets it time out, `2001`
/// types a wrong PIN, `1` has no funds.
#[tauri::command]
pub fn demo_answer(
    duka: State<'_, Duka>,
    checkout_request_id: String,
    result_code: String,
) -> Result<()> {
    if with_sim(&duka, |s| s.decide(&checkout_request_id, &result_code))? {
        Ok(())
    } else {
        Err(UiError::new(
            duka_core::ErrorCode::NotFound,
            format!(
                "no prompt {} is waiting",
                duka_core::phone::mask_checkout(&checkout_request_id)
            ),
        ))
    }
}
