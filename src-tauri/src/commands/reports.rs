use duka_core::store::DayReport;
use tauri::State;

use crate::{Duka, Result};

fn day(date: Option<String>) -> Result<chrono::NaiveDate> {
    Ok(match date.filter(|d| !d.is_empty()) {
        Some(d) => duka_core::time::parse_date(&d, "date")?,
        None => duka_core::time::today(),
    })
}

#[tauri::command]
pub fn day_report(duka: State<'_, Duka>, date: Option<String>) -> Result<DayReport> {
    Ok(duka.engine().store().day_report(day(date)?)?)
}

/// The day's sales as CSV, for the manager's export button.
#[tauri::command]
pub fn export_csv(duka: State<'_, Duka>, date: Option<String>) -> Result<String> {
    let (from, to) = duka_core::time::day_bounds(day(date)?);
    let rows = duka.engine().store().export_sales(from, to)?;
    let mut out = Vec::new();
    duka_core::store::write_export_csv(&rows, &mut out).map_err(|e| crate::UiError {
        code: "io".into(),
        message: e.to_string(),
    })?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
