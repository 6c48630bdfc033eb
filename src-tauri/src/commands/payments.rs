use duka_core::Msisdn;
use duka_core::engine::Reconciled;
use duka_core::store::Attempt;
use serde::Serialize;
use tauri::State;

use crate::{Duka, Result};

/// Live validation of the phone field: the normalised number and how to read it back.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Phone {
    pub msisdn: String,
    pub local: String,
}

#[tauri::command]
pub fn check_phone(input: String) -> Result<Phone> {
    let m = Msisdn::parse(&input)?;
    Ok(Phone {
        msisdn: m.as_str().to_string(),
        local: m.local(),
    })
}

/// Sends the STK push (what is due when `amount` is empty) and returns at once; the UI
/// follows the attempt through `core-event`s.
#[tauri::command]
pub async fn charge(
    duka: State<'_, Duka>,
    sale_id: i64,
    phone: String,
    amount: Option<i64>,
) -> Result<Attempt> {
    let cashier = duka.cashier()?.name;
    let phone = Msisdn::parse(&phone)?;
    let till = duka.running();
    Ok(till.charge(sale_id, &phone, amount, &cashier).await?)
}

#[tauri::command]
pub fn attempts(duka: State<'_, Duka>, open_only: bool) -> Result<Vec<Attempt>> {
    duka.cashier()?;
    Ok(duka.running().attempts(open_only, 200)?)
}

/// After an unknown attempt, only on the cashier's word that no prompt reached the phone.
#[tauri::command]
pub async fn resend(
    duka: State<'_, Duka>,
    attempt_id: String,
    no_prompt_reached: bool,
) -> Result<Attempt> {
    let cashier = duka.cashier()?.name;
    let till = duka.running();
    Ok(till
        .resend(&attempt_id, no_prompt_reached, &cashier)
        .await?)
}

/// "Check now" for open attempts.
#[tauri::command]
pub async fn reconcile(duka: State<'_, Duka>) -> Result<Vec<Reconciled>> {
    duka.cashier()?;
    Ok(duka.running().reconcile().await?)
}

/// Incoming payments (C2B confirmations through the relay), newest first.
#[tauri::command]
pub fn incoming(duka: State<'_, Duka>) -> Result<Vec<duka_core::store::IncomingPayment>> {
    duka.cashier()?;
    Ok(duka.running().inbox(100)?)
}

/// Attaches an incoming payment to a sale as a verified M-Pesa tender, claimed shop-wide
/// first when paired.
#[tauri::command]
pub async fn attach_incoming(
    duka: State<'_, Duka>,
    trans_id: String,
    sale_id: i64,
) -> Result<duka_core::sale::Sale> {
    let cashier = duka.cashier()?.name;
    let till = duka.running();
    Ok(till.attach_incoming(&trans_id, sale_id, &cashier).await?)
}
