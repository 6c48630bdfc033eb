use duka_core::store::DayReport;
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
    Ok(duka.engine().store().day_report(day(date)?)?)
}

/// The day's sales as CSV, for the manager's export button: written to the Downloads folder
/// (or the data folder when there is none); returns the file's path.
#[tauri::command]
pub fn export_csv(duka: State<'_, Duka>, date: Option<String>) -> Result<String> {
    duka.manager()?;
    let date = day(date)?;
    let (from, to) = duka_core::time::day_bounds(date);
    let rows = duka.engine().store().export_sales(from, to)?;
    let mut out = Vec::new();
    duka_core::store::write_export_csv(&rows, &mut out).map_err(|e| crate::UiError {
        code: "io".into(),
        message: e.to_string(),
    })?;
    let path = crate::commands::save_file(&duka, &format!("duka-sales-{date}.csv"), &out)?;
    Ok(path.display().to_string())
}

/// Open and unknown attempts, and flagged mismatches, for the manager.
#[tauri::command]
pub fn problem_attempts(duka: State<'_, Duka>) -> Result<Vec<duka_core::store::Attempt>> {
    duka.manager()?;
    let engine = duka.engine();
    let store = engine.store();
    let mut list = store.attempts(true, 200)?;
    let flagged: Vec<_> = store
        .attempts(false, 1000)?
        .into_iter()
        .filter(|a| a.flag.is_some() && !list.iter().any(|o| o.id == a.id))
        .collect();
    list.extend(flagged);
    Ok(list)
}

/// Receipts attached here while the relay was out of reach that another till of the shop had
/// claimed first: they no longer count for their sale, which is due again.
#[tauri::command]
pub fn lost_claims(duka: State<'_, Duka>) -> Result<Vec<duka_core::store::LostClaim>> {
    duka.manager()?;
    Ok(duka.engine().store().lost_claims()?)
}

/// Receipts of STK payments this till received that another till had used first (a code typed
/// there from the customer's SMS): the sale on that till is the one to check.
#[derive(Debug, serde::Serialize)]
pub struct UsedElsewhere {
    pub receipt: String,
    pub by: duka_core::store::TakenBy,
}

#[tauri::command]
pub fn receipts_used_elsewhere(duka: State<'_, Duka>) -> Result<Vec<UsedElsewhere>> {
    duka.manager()?;
    Ok(duka
        .engine()
        .store()
        .stk_receipts_used_elsewhere()?
        .into_iter()
        .map(|(receipt, by)| UsedElsewhere { receipt, by })
        .collect())
}
