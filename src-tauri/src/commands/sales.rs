use duka_core::Money;
use duka_core::catalog::Product;
use duka_core::sale::Sale;
use duka_core::till::{CashPaid, LineInput};
use tauri::State;

use crate::{Duka, Result};

/// Active products whose name, barcode or SKU matches `search` (all when empty).
#[tauri::command]
pub fn products(duka: State<'_, Duka>, search: Option<String>) -> Result<Vec<Product>> {
    duka.cashier()?;
    Ok(duka.running().products(&search.unwrap_or_default())?)
}

#[tauri::command]
pub fn create_sale(duka: State<'_, Duka>, lines: Vec<LineInput>) -> Result<Sale> {
    let cashier = duka.cashier()?.name;
    Ok(duka.running().create_sale(&cashier, &lines)?)
}

/// Corrections to an unpaid sale (not while an M-Pesa request for it is open).
#[tauri::command]
pub fn add_line(duka: State<'_, Duka>, sale_id: i64, line: LineInput) -> Result<Sale> {
    let cashier = duka.cashier()?.name;
    Ok(duka.running().add_line(sale_id, &line, &cashier)?)
}

#[tauri::command]
pub fn remove_line(duka: State<'_, Duka>, sale_id: i64, line_no: i64) -> Result<Sale> {
    let cashier = duka.cashier()?.name;
    Ok(duka.running().remove_line(sale_id, line_no, &cashier)?)
}

#[tauri::command]
pub fn set_quantity(
    duka: State<'_, Duka>,
    sale_id: i64,
    line_no: i64,
    quantity: i64,
) -> Result<Sale> {
    let cashier = duka.cashier()?.name;
    Ok(duka
        .running()
        .set_quantity(sale_id, line_no, quantity, &cashier)?)
}

/// Holds an unpaid sale aside while the next customer is served.
#[tauri::command]
pub fn park_sale(duka: State<'_, Duka>, sale_id: i64) -> Result<Sale> {
    duka.cashier()?;
    Ok(duka.running().park_sale(sale_id)?)
}

#[tauri::command]
pub fn recall_sale(duka: State<'_, Duka>, sale_id: i64) -> Result<Sale> {
    duka.cashier()?;
    Ok(duka.running().recall_sale(sale_id)?)
}

#[tauri::command]
pub fn parked_sales(duka: State<'_, Duka>) -> Result<Vec<Sale>> {
    duka.cashier()?;
    Ok(duka.running().parked_sales()?)
}

/// Voids an unpaid sale that has taken no money, with the reason.
#[tauri::command]
pub fn void_sale(duka: State<'_, Duka>, sale_id: i64, reason: String) -> Result<Sale> {
    let cashier = duka.cashier()?.name;
    Ok(duka.running().void_sale(sale_id, &reason, &cashier)?)
}

#[tauri::command]
pub fn get_sale(duka: State<'_, Duka>, id: i64) -> Result<Sale> {
    duka.cashier()?;
    Ok(duka.running().sale(id)?)
}

#[tauri::command]
pub fn pay_cash(duka: State<'_, Duka>, sale_id: i64, tendered: String) -> Result<CashPaid> {
    let cashier = duka.cashier()?.name;
    let tendered = Money::parse_field(&tendered, "cash")?;
    Ok(duka.running().pay_cash(sale_id, tendered, &cashier)?)
}

/// An M-Pesa code typed from the customer's SMS (unverified until M-Pesa confirms it),
/// claimed shop-wide first when paired.
#[tauri::command]
pub async fn pay_code(
    duka: State<'_, Duka>,
    sale_id: i64,
    code: String,
    amount: Option<String>,
) -> Result<Sale> {
    let cashier = duka.cashier()?.name;
    let amount = amount
        .filter(|a| !a.trim().is_empty())
        .map(|a| Money::parse_field(&a, "amount"))
        .transpose()?;
    let till = duka.running();
    Ok(till.pay_code(sale_id, &code, amount, &cashier).await?)
}

/// A day's sales (today when empty), newest first, for the history list.
#[tauri::command]
pub fn recent_sales(duka: State<'_, Duka>, date: Option<String>) -> Result<Vec<Sale>> {
    duka.cashier()?;
    let day = crate::commands::reports::day(date)?;
    Ok(duka.running().sales_of_day(day, 500)?)
}
