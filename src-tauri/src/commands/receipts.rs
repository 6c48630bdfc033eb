//! Receipts: on screen, printed to a network ESC/POS printer (TCP 9100), or saved as PDF.

use std::time::Duration;

use duka_core::receipt::Receipt;
use serde::Serialize;
use tauri::State;

use crate::{Duka, Result, UiError};

/// Columns of an 80 mm thermal roll in its standard font.
const PAPER_COLUMNS: usize = 48;

fn receipt(duka: &Duka, sale_id: i64) -> Result<Receipt> {
    duka.cashier()?;
    let running = duka.running();
    let sale = running.engine.store().sale(sale_id)?;
    Ok(Receipt::from_sale(&sale, &running.settings.shop_name))
}

#[derive(Debug, Serialize)]
pub struct ReceiptView {
    pub receipt: Receipt,
    /// As printed, for the on-screen copy.
    pub text: Vec<String>,
    pub printer: Option<String>,
}

#[tauri::command]
pub fn get_receipt(duka: State<'_, Duka>, sale_id: i64) -> Result<ReceiptView> {
    let receipt = receipt(&duka, sale_id)?;
    Ok(ReceiptView {
        text: receipt.text(PAPER_COLUMNS),
        printer: duka.running().settings.printer.clone(),
        receipt,
    })
}

/// Prints on the configured network printer; returns its address.
#[tauri::command]
pub async fn print_receipt(duka: State<'_, Duka>, sale_id: i64) -> Result<String> {
    let receipt = receipt(&duka, sale_id)?;
    let printer = duka.running().settings.printer.clone().ok_or_else(|| {
        UiError::new(
            "no_printer",
            "no printer is set: a manager adds its address in Settings, or save the receipt as PDF",
        )
    })?;
    let bytes = receipt.escpos(PAPER_COLUMNS);
    let addr = printer.clone();
    tauri::async_runtime::spawn_blocking(move || {
        duka_core::receipt::print_tcp(&addr, &bytes, Duration::from_secs(5))
    })
    .await
    .map_err(|e| UiError::new("internal", e.to_string()))??;
    Ok(printer)
}

/// Saves the receipt as PDF in the Downloads folder; returns the file's path.
#[tauri::command]
pub fn save_receipt_pdf(duka: State<'_, Duka>, sale_id: i64) -> Result<String> {
    let receipt = receipt(&duka, sale_id)?;
    let path = crate::commands::save_file(
        &duka,
        &format!("duka-receipt-{sale_id}.pdf"),
        &receipt.pdf(),
    )?;
    Ok(path.display().to_string())
}
