//! A shop's day: shifts and the blind cash-up, the drawer, discounts, refunds, stock, and the
//! slips they print (refunds, Z-reports).

use duka_core::Money;
use duka_core::catalog::Product;
use duka_core::discount::Discount;
use duka_core::refund::RefundTo;
use duka_core::sale::Sale;
use duka_core::store::{
    DayClose, DrawerKind, DrawerMove, Refund, RefundLineInput, Shift, StockMove, ZReport,
};
use duka_core::till::reports::SlipOf;
use tauri::State;

use crate::{Duka, Result};

#[tauri::command]
pub fn current_shift(duka: State<'_, Duka>) -> Result<Option<Shift>> {
    duka.cashier()?;
    Ok(duka.running().current_shift()?)
}

/// Opens a shift with the float counted into the drawer.
#[tauri::command]
pub fn open_shift(duka: State<'_, Duka>, float: String) -> Result<Shift> {
    let cashier = duka.cashier()?.name;
    let float = Money::parse_field(&float, "float")?;
    Ok(duka.running().open_shift(&cashier, float)?)
}

/// Closes the open shift with the cash counted (blind: the expected figure comes back only
/// in the Z-report).
#[tauri::command]
pub fn close_shift(duka: State<'_, Duka>, counted: String) -> Result<ZReport> {
    let cashier = duka.cashier()?.name;
    let counted = Money::parse_field(&counted, "counted")?;
    Ok(duka.running().close_shift(counted, &cashier)?)
}

/// A shift's Z-report (an open shift's for a manager only).
#[tauri::command]
pub fn z_report(duka: State<'_, Duka>, shift_id: i64) -> Result<ZReport> {
    let who = duka.cashier()?.name;
    Ok(duka.running().z_report(shift_id, &who)?)
}

#[tauri::command]
pub fn day_close(duka: State<'_, Duka>, date: Option<String>) -> Result<DayClose> {
    let manager = duka.manager()?.name;
    let day = crate::commands::reports::day(date)?;
    Ok(duka.running().day_close(day, &manager)?)
}

/// A pay-out (manager), cash in, or the drawer opened without a sale (manager).
#[tauri::command]
pub fn drawer_move(
    duka: State<'_, Duka>,
    kind: String,
    amount: Option<String>,
    reason: String,
) -> Result<DrawerMove> {
    let cashier = duka.cashier()?.name;
    let kind = DrawerKind::parse(&kind)?;
    let amount = match (kind, amount.filter(|a| !a.trim().is_empty())) {
        (DrawerKind::Open, _) => Money::ZERO,
        (_, Some(a)) => Money::parse_field(&a, "amount")?,
        (_, None) => Money::parse_field("", "amount")?,
    };
    Ok(duka
        .running()
        .drawer_move(kind, amount, &reason, &cashier)?)
}

/// A manager approving at the till: their name and PIN (checked like a sign-in).
#[derive(Clone, serde::Deserialize, ts_rs::TS)]
pub struct Approval {
    pub name: String,
    pub pin: String,
}

/// Never the PIN, whoever prints it.
impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("name", &self.name)
            .field("pin", &"<hidden>")
            .finish()
    }
}

/// A discount on a line (`line_no`) or the whole sale: `"50"`, `"10%"`; empty takes it away.
/// Above the limit the answer is `needs_approval` until a manager's PIN comes with it (checked
/// off the UI thread, like a sign-in).
#[tauri::command]
pub async fn discount(
    duka: State<'_, Duka>,
    sale_id: i64,
    line_no: Option<i64>,
    value: String,
    approval: Option<Approval>,
) -> Result<Sale> {
    let cashier = duka.cashier()?.name;
    let discount = Some(value.trim())
        .filter(|v| !v.is_empty())
        .map(Discount::parse)
        .transpose()?;
    let till = duka.running();
    tauri::async_runtime::spawn_blocking(move || {
        let approval = approval.as_ref().map(|a| (a.name.as_str(), a.pin.as_str()));
        Ok(till.discount(sale_id, line_no, discount, &cashier, approval)?)
    })
    .await
    .map_err(crate::UiError::internal)?
}

/// Where a refund goes, as the manager picked it.
#[derive(Debug, Clone, serde::Deserialize, ts_rs::TS)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum RefundVia {
    Cash,
    /// Transaction Reversal of the sale's M-Pesa receipt (needs an initiator).
    Mpesa,
    /// Sent from the shop's phone: that transfer's M-Pesa code.
    Manual {
        code: String,
    },
}

/// A manager refunds a sale, whole (`lines` empty) or by line, with a reason.
#[tauri::command]
pub async fn refund(
    duka: State<'_, Duka>,
    sale_id: i64,
    lines: Vec<RefundLineInput>,
    reason: String,
    via: RefundVia,
) -> Result<Refund> {
    let manager = duka.manager()?.name;
    let picked = (!lines.is_empty()).then_some(lines.as_slice());
    let till = duka.running();
    let to = match via {
        RefundVia::Mpesa => {
            return Ok(till
                .refund_to_mpesa(sale_id, picked, &reason, &manager)
                .await?);
        }
        RefundVia::Cash => RefundTo::Cash,
        RefundVia::Manual { code } => RefundTo::Manual { code },
    };
    Ok(till.refund(sale_id, picked, &reason, &to, &manager)?)
}

/// A manager settles a reversal M-Pesa left without a final answer, from the statement:
/// `receipt` when it went through, none when it did not.
#[tauri::command]
pub fn settle_reversal(
    duka: State<'_, Duka>,
    refund_id: i64,
    receipt: Option<String>,
) -> Result<Refund> {
    let manager = duka.manager()?.name;
    let receipt = receipt.filter(|r| !r.trim().is_empty());
    Ok(duka
        .running()
        .settle_reversal(refund_id, receipt.as_deref(), &manager)?)
}

/// A manager confirms a refund sent by hand: its code is on the M-Pesa statement.
#[tauri::command]
pub fn confirm_refund(duka: State<'_, Duka>, refund_id: i64) -> Result<Refund> {
    let manager = duka.manager()?.name;
    Ok(duka.running().confirm_refund(refund_id, &manager)?)
}

#[tauri::command]
pub fn refunds_of(duka: State<'_, Duka>, sale_id: i64) -> Result<Vec<Refund>> {
    duka.cashier()?;
    Ok(duka.running().refunds_of(sale_id)?)
}

#[tauri::command]
pub fn low_stock(duka: State<'_, Duka>) -> Result<Vec<Product>> {
    duka.cashier()?;
    Ok(duka.running().low_stock()?)
}

/// Keeps stock of a product (`on_hand`), or stops (`None`); with its low-stock line.
#[tauri::command]
pub fn track_stock(
    duka: State<'_, Duka>,
    product_id: i64,
    on_hand: Option<i64>,
    low_stock: Option<i64>,
) -> Result<Product> {
    let manager = duka.manager()?.name;
    Ok(duka
        .running()
        .track_stock(product_id, on_hand, low_stock, &manager)?)
}

/// A stock count: what is on the shelf, and why it differs.
#[tauri::command]
pub fn count_stock(
    duka: State<'_, Duka>,
    product_id: i64,
    counted: i64,
    reason: String,
) -> Result<StockMove> {
    let manager = duka.manager()?.name;
    Ok(duka
        .running()
        .count_stock(product_id, counted, &reason, &manager)?)
}

#[tauri::command]
pub fn stock_moves(duka: State<'_, Duka>, product_id: i64) -> Result<Vec<StockMove>> {
    duka.manager()?;
    Ok(duka.running().stock_moves(product_id, 100)?)
}

/// A slip (sale, refund or Z-report) as printed, for the screen.
#[tauri::command]
pub fn slip_text(duka: State<'_, Duka>, of: SlipOf) -> Result<Vec<String>> {
    let who = duka.cashier()?.name;
    Ok(duka.running().slip_text(of, &who)?)
}

/// Prints a slip on the receipt printer; returns its address.
#[tauri::command]
pub async fn print_slip(duka: State<'_, Duka>, of: SlipOf) -> Result<String> {
    let who = duka.cashier()?.name;
    let till = duka.running();
    Ok(till.print_slip(of, &who).await?)
}

/// Saves a slip as PDF in the Downloads folder; returns its path.
#[tauri::command]
pub async fn save_slip_pdf(duka: State<'_, Duka>, of: SlipOf) -> Result<String> {
    let who = duka.cashier()?.name;
    let pdf = duka.running().slip_pdf(of, &who)?;
    crate::commands::save_file(&duka, of.file_name(), pdf).await
}
