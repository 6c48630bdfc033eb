//! A shop's day on the Till service: shifts and the drawer, parked sales, refunds, stock.

use super::Till;
use crate::catalog::Product;
use crate::engine::CoreEvent;
use crate::error::{Error, Result};
use crate::money::Money;
use crate::refund::RefundTo;
use crate::sale::Sale;
use crate::store::{
    DayClose, DrawerKind, DrawerMove, Refund, RefundLineInput, Shift, StockMove, ZReport,
};

impl Till {
    pub(super) fn manager(&self, name: &str, what: &str) -> Result<()> {
        let c = self.store().cashier(name)?;
        if c.role == "manager" {
            Ok(())
        } else {
            Err(Error::Denied(format!("{}: {what} needs a manager", c.name)))
        }
    }

    /// Opens the cash drawer wired to the receipt printer (the ESC/POS pulse), when a printer
    /// is set: after a cash tender and for a drawer move. Off the caller's thread; a printer
    /// that does not answer is logged, never in the cashier's way.
    pub fn kick_drawer(&self) {
        let Some(addr) = self.settings.printer.clone() else {
            return;
        };
        let kick = move || {
            let t = std::time::Duration::from_secs(3);
            if let Err(e) = crate::receipt::print_tcp(&addr, crate::receipt::DRAWER_KICK, t) {
                tracing::warn!("the cash drawer did not open: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(kick);
            }
            Err(_) => kick(),
        }
    }

    /// Opens a shift with the float counted into the drawer.
    pub fn open_shift(&self, cashier: &str, float: Money) -> Result<Shift> {
        let shift = self.store().open_shift(cashier, float)?;
        self.publish(CoreEvent::ShiftChanged {
            shift: shift.clone(),
        });
        Ok(shift)
    }

    pub fn current_shift(&self) -> Result<Option<Shift>> {
        self.store().current_shift()
    }

    /// Closes the open shift with the cash counted (a blind count: the expected figure is only
    /// in the answer), and returns its Z-report.
    pub fn close_shift(&self, counted: Money, cashier: &str) -> Result<ZReport> {
        let z = self.store().close_shift(counted, cashier)?;
        self.publish(CoreEvent::ShiftChanged {
            shift: z.shift.clone(),
        });
        Ok(z)
    }

    /// A shift's report. While it is open only a manager sees it (its expected cash would
    /// unblind the count).
    pub fn z_report(&self, shift_id: i64, who: &str) -> Result<ZReport> {
        let z = self.store().z_report(shift_id)?;
        if z.shift.closed_at.is_none() {
            self.manager(who, "the report of an open shift")?;
        }
        Ok(z)
    }

    /// The shifts opened on a Nairobi day, oldest first.
    pub fn shifts_of_day(&self, date: chrono::NaiveDate) -> Result<Vec<Shift>> {
        let (from, to) = crate::time::day_bounds(date);
        self.store().shifts_between(from, to)
    }

    /// The manager's day close: the day's shifts, their sums and what is still open.
    /// The shop's till is backed up then, unless a backup is younger than an hour (see
    /// [`super::backup`]); a backup that fails never fails the day close.
    pub fn day_close(&self, date: chrono::NaiveDate, manager: &str) -> Result<DayClose> {
        self.manager(manager, "the day close")?;
        let day = self.store().day_close(date)?;
        self.backup_at_day_close();
        Ok(day)
    }

    /// A pay-out (manager), cash in, or the drawer opened without a sale (manager).
    pub fn drawer_move(
        &self,
        kind: DrawerKind,
        amount: Money,
        reason: &str,
        cashier: &str,
    ) -> Result<DrawerMove> {
        if kind != DrawerKind::CashIn {
            self.manager(cashier, "a pay-out or opening the drawer")?;
        }
        let entry = self.store().drawer_move(kind, amount, reason, cashier)?;
        self.kick_drawer();
        self.publish(CoreEvent::DrawerMoved {
            entry: entry.clone(),
        });
        Ok(entry)
    }

    /// A discount on a line (`Some(line_no)`) or the whole sale (`None`); `None` discount takes
    /// it away. Above the limit (setting `discount_limit`) a manager approves with their PIN,
    /// checked here like a sign-in (wrong PINs count towards the lock).
    pub fn discount(
        &self,
        sale_id: i64,
        line_no: Option<i64>,
        discount: Option<crate::discount::Discount>,
        cashier: &str,
        approval: Option<(&str, &str)>,
    ) -> Result<Sale> {
        let approved_by = match approval {
            Some((name, pin)) => {
                let m = self.store().sign_in(name, pin)?;
                if m.role != "manager" {
                    return Err(Error::Denied(format!(
                        "{}: only a manager approves a discount",
                        m.name
                    )));
                }
                Some(m.name)
            }
            None => None,
        };
        let by = crate::store::DiscountBy {
            cashier,
            approved_by: approved_by.as_deref(),
            limit_pct: self.stored_settings()?.discount_limit,
        };
        let sale = match line_no {
            Some(l) => self.store().discount_line(sale_id, l, discount, by)?,
            None => self.store().discount_sale(sale_id, discount, by)?,
        };
        self.publish(CoreEvent::SaleChanged { sale: sale.clone() });
        Ok(sale)
    }

    pub fn park_sale(&self, sale_id: i64) -> Result<Sale> {
        let sale = self.store().park_sale(sale_id)?;
        self.publish(CoreEvent::SaleChanged { sale: sale.clone() });
        Ok(sale)
    }

    pub fn recall_sale(&self, sale_id: i64) -> Result<Sale> {
        let sale = self.store().recall_sale(sale_id)?;
        self.publish(CoreEvent::SaleChanged { sale: sale.clone() });
        Ok(sale)
    }

    pub fn parked_sales(&self) -> Result<Vec<Sale>> {
        self.store().parked_sales()
    }

    /// A manager refunds a sale, whole (`lines: None`) or by line, with a reason, to cash or
    /// paid back by hand. (A refund to M-Pesa goes through the engine, which sends the
    /// reversal.)
    pub fn refund(
        &self,
        sale_id: i64,
        lines: Option<&[RefundLineInput]>,
        reason: &str,
        to: &RefundTo,
        manager: &str,
    ) -> Result<Refund> {
        self.manager(manager, "a refund")?;
        if matches!(to, RefundTo::Mpesa) {
            return Err(Error::Conflict(
                "a refund to M-Pesa is sent by the running till: use refund_to_mpesa".into(),
            ));
        }
        let refund = self
            .store()
            .create_refund(sale_id, lines, reason, to, manager)?;
        if matches!(to, RefundTo::Cash) {
            self.kick_drawer();
        }
        self.publish(CoreEvent::RefundChanged {
            refund: refund.clone(),
        });
        if let Ok(sale) = self.store().sale(sale_id) {
            self.publish(CoreEvent::SaleChanged { sale });
        }
        Ok(refund)
    }

    /// A manager refunds a sale to the customer's M-Pesa by Transaction Reversal (the running
    /// till, with an initiator): recorded before it is sent, followed to M-Pesa's answer.
    pub async fn refund_to_mpesa(
        &self,
        sale_id: i64,
        lines: Option<&[RefundLineInput]>,
        reason: &str,
        manager: &str,
    ) -> Result<Refund> {
        self.manager(manager, "a refund")?;
        let refund = self
            .engine()?
            .refund_to_mpesa(sale_id, lines, reason, manager)
            .await?;
        if let Ok(sale) = self.store().sale(sale_id) {
            self.publish(CoreEvent::SaleChanged { sale });
        }
        Ok(refund)
    }

    /// A manager settles a reversal left without M-Pesa's final answer (see
    /// [`crate::Store::settle_reversal`]).
    pub fn settle_reversal(
        &self,
        refund_id: i64,
        reversed: Option<&str>,
        manager: &str,
    ) -> Result<Refund> {
        self.manager(manager, "settling a reversal")?;
        let refund = self.store().settle_reversal(refund_id, reversed, manager)?;
        self.refund_changed(&refund);
        Ok(refund)
    }

    /// A manager confirms a refund paid back by hand against the M-Pesa statement.
    pub fn confirm_refund(&self, refund_id: i64, manager: &str) -> Result<Refund> {
        self.manager(manager, "confirming a refund")?;
        let refund = self.store().confirm_manual_refund(refund_id, manager)?;
        self.refund_changed(&refund);
        Ok(refund)
    }

    fn refund_changed(&self, refund: &Refund) {
        self.publish(CoreEvent::RefundChanged {
            refund: refund.clone(),
        });
        if let Ok(sale) = self.store().sale(refund.sale_id) {
            self.publish(CoreEvent::SaleChanged { sale });
        }
    }

    /// Every STK payment this till took, with its receipt.
    pub fn mpesa_payments(&self) -> Result<Vec<crate::store::MpesaPayment>> {
        self.store().mpesa_payments()
    }

    pub fn refunds_of(&self, sale_id: i64) -> Result<Vec<Refund>> {
        self.store().refunds_of(sale_id)
    }

    /// Starts (or stops) keeping stock of a product (manager).
    pub fn track_stock(
        &self,
        product_id: i64,
        on_hand: Option<i64>,
        low_stock: Option<i64>,
        manager: &str,
    ) -> Result<Product> {
        self.manager(manager, "stock")?;
        let product = self
            .store()
            .track_stock(product_id, on_hand, low_stock, manager)?;
        self.publish(CoreEvent::StockChanged {
            product: product.clone(),
        });
        Ok(product)
    }

    /// A stock count (manager).
    pub fn count_stock(
        &self,
        product_id: i64,
        counted: i64,
        reason: &str,
        manager: &str,
    ) -> Result<StockMove> {
        self.manager(manager, "a stock count")?;
        let m = self
            .store()
            .count_stock(product_id, counted, reason, manager)?;
        if let Ok(product) = self.store().product(product_id) {
            self.publish(CoreEvent::StockChanged { product });
        }
        Ok(m)
    }

    pub fn product(&self, id: i64) -> Result<Product> {
        self.store().product(id)
    }

    pub fn low_stock(&self) -> Result<Vec<Product>> {
        self.store().low_stock()
    }

    pub fn stock_moves(&self, product_id: i64, limit: usize) -> Result<Vec<StockMove>> {
        self.store().stock_moves(product_id, limit)
    }
}
