//! Receipts: on screen, printed to a network ESC/POS printer (TCP 9100), or saved as PDF.

use duka_core::till::reports::ReceiptView;
use tauri::State;

use crate::{Duka, Result};

#[tauri::command]
pub fn get_receipt(duka: State<'_, Duka>, sale_id: i64) -> Result<ReceiptView> {
    duka.cashier()?;
    Ok(duka.running().receipt_view(sale_id)?)
}

/// Prints on the configured network printer; returns its address.
#[tauri::command]
pub async fn print_receipt(duka: State<'_, Duka>, sale_id: i64) -> Result<String> {
    duka.cashier()?;
    let till = duka.running();
    Ok(till.print_receipt(sale_id).await?)
}

/// Saves the receipt as PDF in the Downloads folder (off the UI thread); returns its path.
#[tauri::command]
pub async fn save_receipt_pdf(duka: State<'_, Duka>, sale_id: i64) -> Result<String> {
    duka.cashier()?;
    let pdf = duka.running().receipt_pdf(sale_id)?;
    crate::commands::save_file(&duka, format!("duka-receipt-{sale_id}.pdf"), pdf).await
}
