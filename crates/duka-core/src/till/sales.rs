//! Products, ringing up a sale, and taking money for it other than by STK push: cash, a code
//! typed from the customer's SMS, an incoming (C2B) payment.

use serde::{Deserialize, Serialize};

use super::Till;
use crate::catalog::{NewProduct, Product};
use crate::engine::CoreEvent;
use crate::error::{Error, Result};
use crate::money::Money;
use crate::sale::{NewLine, Sale, SaleStatus};
use crate::store::{
    Claim, ImportSummary, IncomingPayment, LineEdit, SaleEdit, Store, Verification,
};

/// A line as a shell rings it up: a product (by id or by barcode/SKU) or a free-amount item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, ts_rs::TS)]
#[ts(optional_fields)]
pub struct LineInput {
    #[serde(default)]
    pub product_id: Option<i64>,
    /// A barcode or SKU, looked up in the catalogue.
    #[serde(default)]
    pub code: Option<String>,
    /// The free item's description (ignored for a product).
    #[serde(default)]
    pub description: Option<String>,
    /// As typed: "150", "1,250.50". A product's own price when empty.
    #[serde(default)]
    pub price: Option<String>,
    pub quantity: i64,
}

/// A cash tender taken: the sale as it is now, and the change to hand back.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CashPaid {
    pub sale: Sale,
    pub change: Money,
}

impl LineInput {
    fn resolve(&self, store: &Store) -> Result<NewLine> {
        let price = self
            .price
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Money::parse_field(p, "price"))
            .transpose()?;
        let product = match (&self.product_id, &self.code) {
            (Some(id), _) => Some(store.product(*id)?),
            (None, Some(code)) => Some(store.product_by_code(code)?),
            (None, None) => None,
        };
        match product {
            Some(p) => {
                crate::sale::check_qty(self.quantity)?;
                Ok(NewLine {
                    product_id: Some(p.id),
                    description: p.name,
                    unit_price: price.unwrap_or(p.price),
                    quantity: self.quantity,
                })
            }
            None => {
                let description = self.description.as_deref().unwrap_or("");
                let price = price.ok_or_else(|| {
                    Error::invalid(
                        "price",
                        format!("an amount for the free item {description:?}"),
                        "",
                    )
                })?;
                NewLine::free(description, price, self.quantity)
            }
        }
    }
}

impl Till {
    /// Active products whose name contains `search`, or whose barcode or SKU is it (all when
    /// empty).
    pub fn products(&self, search: &str) -> Result<Vec<Product>> {
        let q = search.trim().to_lowercase();
        Ok(self
            .store()
            .products(false)?
            .into_iter()
            .filter(|p| {
                q.is_empty()
                    || p.name.to_lowercase().contains(&q)
                    || p.barcode.as_deref().is_some_and(|b| b == q)
                    || p.sku.as_deref().is_some_and(|s| s.to_lowercase() == q)
            })
            .collect())
    }

    /// The catalogue, inactive products too when `include_inactive`.
    pub fn catalogue(&self, include_inactive: bool) -> Result<Vec<Product>> {
        self.store().products(include_inactive)
    }

    pub fn product_by_code(&self, code: &str) -> Result<Product> {
        self.store().product_by_code(code)
    }

    pub fn add_product(&self, p: &NewProduct) -> Result<Product> {
        self.store().add_product(p)
    }

    /// A price list, all rows or none, imported by `cashier`. A list that sets stock or a
    /// low-stock line needs a manager, as a stock count does; each product whose stock it
    /// changed is announced.
    pub fn import_products(
        &self,
        rows: &[(u64, NewProduct)],
        cashier: &str,
    ) -> Result<ImportSummary> {
        let with_stock = rows
            .iter()
            .any(|(_, p)| p.stock.is_some() || p.low_stock.is_some());
        if !with_stock {
            return self.store().import_products(rows, cashier);
        }
        let (summary, changed) = {
            let mut store = self.store();
            let c = store.cashier(cashier)?;
            if c.role != "manager" {
                return Err(Error::Denied(format!(
                    "{}: a price list with stock needs a manager",
                    c.name
                )));
            }
            let before: std::collections::HashMap<i64, (Option<i64>, Option<i64>)> = store
                .products(true)?
                .into_iter()
                .map(|p| (p.id, (p.stock, p.low_stock)))
                .collect();
            let summary = store.import_products(rows, cashier)?;
            let changed: Vec<Product> = store
                .products(true)?
                .into_iter()
                .filter(|p| {
                    let now = (p.stock, p.low_stock);
                    before.get(&p.id).map_or(now != (None, None), |b| *b != now)
                })
                .collect();
            (summary, changed)
        };
        for product in changed {
            self.publish(CoreEvent::StockChanged { product });
        }
        Ok(summary)
    }

    /// Rings up a sale. Every line is checked before anything is written.
    pub fn create_sale(&self, cashier: &str, lines: &[LineInput]) -> Result<Sale> {
        let sale = {
            let mut store = self.store();
            let new = lines
                .iter()
                .map(|l| l.resolve(&store))
                .collect::<Result<Vec<_>>>()?;
            store.create_sale(cashier, &new)?
        };
        self.sale_changed(&sale, false);
        Ok(sale)
    }

    /// Adds a line to an unpaid sale (see `Store::edit_sale` for when a sale may change).
    pub fn add_line(&self, sale_id: i64, line: &LineInput, cashier: &str) -> Result<Sale> {
        let limit = self.stored_settings()?.discount_limit;
        let sale = {
            let mut store = self.store();
            let new = line.resolve(&store)?;
            store.edit_sale(sale_id, &LineEdit::Add(new), cashier, limit)?
        };
        self.sale_changed(&sale, true);
        Ok(sale)
    }

    /// Removes a line from an unpaid sale.
    pub fn remove_line(&self, sale_id: i64, line_no: i64, cashier: &str) -> Result<Sale> {
        let limit = self.stored_settings()?.discount_limit;
        let sale =
            self.store()
                .edit_sale(sale_id, &LineEdit::Remove { line_no }, cashier, limit)?;
        self.sale_changed(&sale, true);
        Ok(sale)
    }

    /// Changes the quantity of a line of an unpaid sale.
    pub fn set_quantity(
        &self,
        sale_id: i64,
        line_no: i64,
        quantity: i64,
        cashier: &str,
    ) -> Result<Sale> {
        let edit = LineEdit::SetQuantity { line_no, quantity };
        let limit = self.stored_settings()?.discount_limit;
        let sale = self.store().edit_sale(sale_id, &edit, cashier, limit)?;
        self.sale_changed(&sale, true);
        Ok(sale)
    }

    /// The corrections made to a sale, oldest first.
    pub fn sale_edits(&self, sale_id: i64) -> Result<Vec<SaleEdit>> {
        self.store().sale_edits(sale_id)
    }

    pub fn sale(&self, id: i64) -> Result<Sale> {
        self.store().sale(id)
    }

    /// The sales of one Nairobi day, newest first.
    pub fn sales_of_day(&self, day: chrono::NaiveDate, limit: usize) -> Result<Vec<Sale>> {
        let (from, to) = crate::time::day_bounds(day);
        self.store().sales_between(from, to, limit)
    }

    /// Cash handed over: applied up to what is due, the rest is change.
    pub fn pay_cash(&self, sale_id: i64, tendered: Money, cashier: &str) -> Result<CashPaid> {
        let (sale, change) = self.store().pay_cash(sale_id, tendered, cashier)?;
        self.kick_drawer();
        self.sale_changed(&sale, true);
        Ok(CashPaid { sale, change })
    }

    /// A code typed from the customer's SMS (unverified until M-Pesa confirms it), for
    /// `amount` or what is due. Paired with a relay, it is claimed shop-wide first: a code
    /// another till used is refused.
    pub async fn pay_code(
        &self,
        sale_id: i64,
        code: &str,
        amount: Option<Money>,
        cashier: &str,
    ) -> Result<Sale> {
        let receipt = crate::sale::parse_receipt(code)?;
        let claimed = match amount {
            Some(a) => a,
            None => self.store().sale(sale_id)?.due,
        };
        let sale = self
            .with_claim(&receipt, sale_id, claimed, |store, claim| {
                store.pay_mpesa_code(sale_id, &receipt, amount, cashier, claim)
            })
            .await?;
        self.sale_changed(&sale, true);
        Ok(sale)
    }

    /// Attaches an incoming (C2B) payment to a sale as a verified M-Pesa tender, claimed
    /// shop-wide first when paired.
    pub async fn attach_incoming(
        &self,
        trans_id: &str,
        sale_id: i64,
        cashier: &str,
    ) -> Result<Sale> {
        let p = self.store().incoming(trans_id.trim())?;
        let sale = self
            .with_claim(&p.trans_id, sale_id, p.amount, |store, claim| {
                store.attach_incoming(&p.trans_id, sale_id, cashier, claim)
            })
            .await?;
        self.publish(CoreEvent::IncomingAttached {
            trans_id: p.trans_id.clone(),
            sale_id,
        });
        self.sale_changed(&sale, true);
        Ok(sale)
    }

    /// Incoming payments, newest first.
    pub fn inbox(&self, limit: usize) -> Result<Vec<IncomingPayment>> {
        self.store().inbox(limit)
    }

    /// Voids a sale that has taken no money, with the reason (on the Z-report) and who voided it.
    pub fn void_sale(&self, sale_id: i64, reason: &str, cashier: &str) -> Result<Sale> {
        let sale = self.store().void_sale(sale_id, reason, cashier)?;
        self.sale_changed(&sale, false);
        Ok(sale)
    }

    /// Checks a typed code against what M-Pesa told this till.
    pub fn verify_code(&self, sale_id: i64, code: &str) -> Result<Verification> {
        self.store().verify_code(sale_id, code)
    }

    /// Announces a sale's new state; `SalePaid` too when this change paid it.
    fn sale_changed(&self, sale: &Sale, may_have_paid: bool) {
        self.publish(CoreEvent::SaleChanged { sale: sale.clone() });
        if may_have_paid && sale.status == SaleStatus::Paid {
            self.publish(CoreEvent::SalePaid { sale_id: sale.id });
        }
    }

    /// Runs `write` with the shop-wide claim on `receipt` for `sale` settled first. No relay:
    /// `Claim::Local`. Paired: everything is checked first (`Claim::Check`, nothing written),
    /// then the relay decides — won, the write is final; taken, it is refused naming the till
    /// and sale that have it; no answer, it is written provisionally and the claim goes when
    /// the relay is back (a lost race is then flagged: `CoreEvent::ClaimLost`). An offline
    /// till of a paired shop writes provisionally: the next running till claims it.
    pub(crate) async fn with_claim<T>(
        &self,
        receipt: &str,
        sale: i64,
        amount: Money,
        write: impl Fn(&mut Store, Claim) -> Result<T>,
    ) -> Result<T> {
        let Some(relay) = self.relay() else {
            let claim = if self.paired_offline()? {
                Claim::Provisional
            } else {
                Claim::Local
            };
            return write(&mut self.store(), claim);
        };
        crate::relay::with_claim(self.engine()?, Some(relay), receipt, sale, amount, write).await
    }

    /// An offline till whose shop has a relay: a receipt it uses is claimed later.
    fn paired_offline(&self) -> Result<bool> {
        Ok(self.engine().is_err()
            && self.mode == crate::config::Mode::Shop
            && self.store().setting("relay_till")?.is_some())
    }
}
