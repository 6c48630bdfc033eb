//! Settings and staff (managers only). Secrets go to the OS keyring (or the documented file
//! fallback) and are never sent back: the UI learns only whether each one is set. What a save
//! checks and writes is `duka_app::settings`.

use duka_app::settings::{self, ConnectionTest, Form, Outcome, TestPush, View};
use duka_core::store::Cashier;
use tauri::State;

use crate::{Duka, Result};

#[tauri::command]
pub fn get_settings(duka: State<'_, Duka>) -> Result<View> {
    duka.manager()?;
    Ok(settings::view(&duka.running(), duka.secrets.as_ref())?)
}

/// Checks the whole form, writes it, and restarts the till with it (or starts the other till
/// when the environment switched between demo mode and the shop, which signs out).
#[tauri::command]
pub async fn save_settings<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    duka: State<'_, Duka>,
    form: Form,
) -> Result<View> {
    duka.manager()?;
    let change = form.change()?;
    let outcome = settings::save(
        &duka.data_dir,
        &duka.running(),
        duka.secrets.as_ref(),
        &change,
    )?;
    let running = duka.restart_after(outcome).await?;
    crate::forward_events(&app, &running);
    let mut view = settings::view(&running, duka.secrets.as_ref())?;
    view.signed_out = matches!(outcome, Outcome::Switched { .. });
    Ok(view)
}

/// "Test connection": a token request with the form's environment and credentials (stored ones
/// where the form leaves them empty, outside demo mode).
#[tauri::command]
pub async fn test_connection(duka: State<'_, Duka>, form: Form) -> Result<ConnectionTest> {
    duka.manager()?;
    Ok(settings::test_form(&duka.running(), duka.secrets.as_ref(), &form).await?)
}

/// Checks the values a form gives (one step of the first-run setup), writing nothing.
#[tauri::command]
pub fn check_settings(duka: State<'_, Duka>, form: Form) -> Result<()> {
    duka.manager()?;
    Ok(settings::check(&form)?)
}

/// The first-run setup's KES 1 test push to `phone` with the form's payee and credentials,
/// followed to M-Pesa's answer (nothing saved).
#[tauri::command]
pub async fn test_push(duka: State<'_, Duka>, form: Form, phone: String) -> Result<TestPush> {
    duka.manager()?;
    let running = duka.running();
    Ok(settings::test_push(&running, duka.secrets.as_ref(), &form, &phone).await?)
}

#[tauri::command]
pub fn staff(duka: State<'_, Duka>) -> Result<Vec<Cashier>> {
    duka.manager()?;
    Ok(duka.running().staff()?)
}

/// Adds a cashier or manager with a PIN, in one go.
#[tauri::command]
pub fn add_staff(
    duka: State<'_, Duka>,
    name: String,
    role: String,
    pin: String,
) -> Result<Cashier> {
    duka.manager()?;
    Ok(duka.running().add_staff_with_pin(&name, &role, &pin)?)
}

#[tauri::command]
pub fn set_staff_pin(duka: State<'_, Duka>, name: String, pin: String) -> Result<()> {
    duka.manager()?;
    duka.running().set_pin(&name, &pin)?;
    Ok(())
}

/// Lets a staff member locked out by wrong PINs try again.
#[tauri::command]
pub fn unlock_staff(duka: State<'_, Duka>, name: String) -> Result<Cashier> {
    duka.manager()?;
    Ok(duka.running().unlock(&name)?)
}
