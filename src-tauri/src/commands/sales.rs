use duka_core::catalog::Product;
use duka_core::sale::{NewLine, Sale};
use duka_core::{Error, Money};
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::{Duka, Result};

/// Active products whose name, barcode or SKU contains `search` (all when empty).
#[tauri::command]
pub fn products(duka: State<'_, Duka>, search: Option<String>) -> Result<Vec<Product>> {
    duka.cashier()?;
    let all = duka.engine().store().products(false)?;
    let q = search.unwrap_or_default().trim().to_lowercase();
    Ok(all
        .into_iter()
        .filter(|p| {
            q.is_empty()
                || p.name.to_lowercase().contains(&q)
                || p.barcode.as_deref().is_some_and(|b| b == q)
                || p.sku.as_deref().is_some_and(|s| s.to_lowercase() == q)
        })
        .collect())
}

/// A cart line from the UI: a product, or a free-amount item.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LineInput {
    pub product_id: Option<i64>,
    pub description: Option<String>,
    /// As typed: "150", "1,250.50".
    pub price: Option<String>,
    pub quantity: i64,
}

#[tauri::command]
pub fn create_sale(duka: State<'_, Duka>, lines: Vec<LineInput>) -> Result<Sale> {
    let cashier = duka.cashier()?.name;
    let engine = duka.engine();
    let mut store = engine.store();
    let mut new = Vec::with_capacity(lines.len());
    for l in lines {
        let line = match l.product_id {
            Some(id) => {
                let p = store.product(id)?;
                duka_core::sale::check_qty(l.quantity)?;
                let unit_price = match &l.price {
                    Some(price) => Money::parse_field(price, "price")?,
                    None => p.price,
                };
                NewLine {
                    product_id: Some(p.id),
                    description: p.name,
                    unit_price,
                    quantity: l.quantity,
                }
            }
            None => {
                let price = l.price.as_deref().ok_or_else(|| Error::Invalid {
                    field: "price",
                    expected: "an amount for a free-amount item".into(),
                    got: String::new(),
                })?;
                NewLine::free(
                    l.description.as_deref().unwrap_or(""),
                    Money::parse_field(price, "price")?,
                    l.quantity,
                )?
            }
        };
        new.push(line);
    }
    Ok(store.create_sale(&cashier, &new)?)
}

#[tauri::command]
pub fn get_sale(duka: State<'_, Duka>, id: i64) -> Result<Sale> {
    duka.cashier()?;
    Ok(duka.engine().store().sale(id)?)
}

#[derive(Debug, Serialize)]
pub struct CashPaid {
    pub sale: Sale,
    pub change: Money,
}

#[tauri::command]
pub fn pay_cash(duka: State<'_, Duka>, sale_id: i64, tendered: String) -> Result<CashPaid> {
    let cashier = duka.cashier()?.name;
    let tendered = Money::parse_field(&tendered, "cash")?;
    let (sale, change) = duka
        .engine()
        .store()
        .pay_cash(sale_id, tendered, &cashier)?;
    Ok(CashPaid { sale, change })
}

/// An M-Pesa code typed from the customer's SMS (unverified until M-Pesa confirms it).
/// With a relay, the code is claimed shop-wide first: one used on another till is refused.
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
    Ok(duka
        .running()
        .pay_mpesa_code(sale_id, &code, amount, &cashier)
        .await?)
}

/// Today's sales, newest first, for the history list (reprint a receipt).
#[tauri::command]
pub fn recent_sales(duka: State<'_, Duka>, date: Option<String>) -> Result<Vec<Sale>> {
    duka.cashier()?;
    let (from, to) = duka_core::time::day_bounds(crate::commands::reports::day(date)?);
    let mut sales = duka.engine().store().sales_between(from, to, 500)?;
    sales.reverse();
    Ok(sales)
}
