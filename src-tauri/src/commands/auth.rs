//! Sign-in: a cashier picks their name and enters their PIN. Managers are cashiers with the
//! manager role; the PINs are argon2id hashes in the store.

use duka_core::store::Cashier;
use tauri::State;

use duka_core::till::SignInOptions;

use crate::{Duka, Result};

#[tauri::command]
pub fn sign_in_options(duka: State<'_, Duka>) -> Result<SignInOptions> {
    Ok(duka.running().sign_in_options()?)
}

#[tauri::command]
pub async fn sign_in(duka: State<'_, Duka>, name: String, pin: String) -> Result<Cashier> {
    duka.sign_in(name, pin).await
}

#[tauri::command]
pub fn sign_out(duka: State<'_, Duka>) {
    duka.sign_out();
}

/// Who is signed in (after a reload of the window).
#[tauri::command]
pub fn session(duka: State<'_, Duka>) -> Option<Cashier> {
    duka.cashier().ok()
}

/// First run: creates the manager (or gives an existing one a PIN) and signs them in. Refused
/// once anybody has a PIN.
#[tauri::command]
pub async fn setup_manager(duka: State<'_, Duka>, name: String, pin: String) -> Result<Cashier> {
    duka.setup_manager(name, pin).await
}
