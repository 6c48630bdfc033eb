use duka_core::store::{Attempt, DayReport, LostClaim};
use duka_core::till::reports::UsedElsewhere;
use tauri::State;

use crate::{Duka, Result};

pub(crate) fn day(date: Option<String>) -> Result<chrono::NaiveDate> {
    Ok(match date.filter(|d| !d.is_empty()) {
        Some(d) => duka_core::time::parse_date(&d, "date")?,
        None => duka_core::time::today(),
    })
}

#[tauri::command]
pub fn day_report(duka: State<'_, Duka>, date: Option<String>) -> Result<DayReport> {
    duka.manager()?;
    Ok(duka.running().day_report(day(date)?)?)
}

/// The whole shop's day (managers): every till's own figures from the relay, with this till's.
#[tauri::command]
pub async fn shop_day(
    duka: State<'_, Duka>,
    date: Option<String>,
) -> Result<duka_core::shop::ShopDay> {
    let manager = duka.manager()?.name;
    let till = duka.running();
    Ok(till.shop_day(day(date)?, &manager).await?)
}

/// The day's sales as CSV, written to the Downloads folder (off the UI thread); returns the
/// file's path.
#[tauri::command]
pub async fn export_csv(duka: State<'_, Duka>, date: Option<String>) -> Result<String> {
    duka.manager()?;
    let date = day(date)?;
    let csv = duka.running().export_csv(date, date)?;
    crate::commands::save_file(&duka, format!("duka-sales-{date}.csv"), csv).await
}

/// Open and unknown attempts, and flagged mismatches, for the manager.
#[tauri::command]
pub fn problem_attempts(duka: State<'_, Duka>) -> Result<Vec<Attempt>> {
    duka.manager()?;
    Ok(duka.running().problem_attempts()?)
}

/// Receipts attached while the relay was out of reach that another till had claimed first.
#[tauri::command]
pub fn lost_claims(duka: State<'_, Duka>) -> Result<Vec<LostClaim>> {
    duka.manager()?;
    Ok(duka.running().lost_claims()?)
}

/// STK receipts of this till that another till had used first.
#[tauri::command]
pub fn receipts_used_elsewhere(duka: State<'_, Duka>) -> Result<Vec<UsedElsewhere>> {
    duka.manager()?;
    Ok(duka.running().receipts_used_elsewhere()?)
}
