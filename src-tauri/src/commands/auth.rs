//! Sign-in: a cashier picks their name and enters their PIN. Managers are cashiers with the
//! manager role; the PINs are argon2id hashes in the store.

use duka_core::store::Cashier;
use serde::Serialize;
use tauri::State;

use crate::{Duka, Result, UiError};

#[derive(Debug, Serialize)]
pub struct SignInOptions {
    /// Active staff who can sign in (those with a PIN).
    pub cashiers: Vec<Cashier>,
    /// Nobody has a PIN yet: the first screen creates the manager.
    pub needs_setup: bool,
    /// Demo mode shows its staff and their PINs on the sign-in screen.
    pub demo_staff: Vec<DemoStaff>,
    pub shop_name: String,
}

#[derive(Debug, Serialize)]
pub struct DemoStaff {
    pub name: &'static str,
    pub role: &'static str,
    pub pin: &'static str,
}

#[tauri::command]
pub fn sign_in_options(duka: State<'_, Duka>) -> Result<SignInOptions> {
    let running = duka.running();
    let all = running.engine.store().cashiers()?;
    let demo = running.sim().is_some();
    let shop_name = running.settings.shop_name.clone();
    Ok(SignInOptions {
        needs_setup: !all.iter().any(|c| c.has_pin && c.active),
        cashiers: all.into_iter().filter(|c| c.has_pin && c.active).collect(),
        demo_staff: if demo {
            duka_app::DEMO_STAFF
                .iter()
                .map(|&(name, role, pin)| DemoStaff { name, role, pin })
                .collect()
        } else {
            Vec::new()
        },
        shop_name,
    })
}

#[tauri::command]
pub fn sign_in(duka: State<'_, Duka>, name: String, pin: String) -> Result<Cashier> {
    duka.sign_in(&name, &pin)
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
pub fn setup_manager(duka: State<'_, Duka>, name: String, pin: String) -> Result<Cashier> {
    {
        let engine = duka.engine();
        let mut store = engine.store();
        if store.cashiers()?.iter().any(|c| c.has_pin) {
            return Err(UiError::new(
                "denied",
                "this till is set up already: a manager signs in and adds staff in Settings",
            ));
        }
        // A bad PIN adds nobody: the name and its PIN are written together.
        match store.cashier(name.trim()) {
            Ok(c) => store.set_pin(&c.name, &pin)?,
            Err(_) => {
                store.add_cashier_with_pin(&name, "manager", &pin)?;
            }
        }
    }
    duka.sign_in(&name, &pin)
}
