//! What a manager reads: the day, exports, the problems to look at; and receipts.

use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;

use super::Till;
use crate::error::{Error, Result};
use crate::receipt::{Printable, Receipt, RefundSlip, ZReportSlip};
use crate::store::{Attempt, DayReport, ExportRow, LostClaim, TakenBy};

/// Columns of an 80 mm thermal roll in its standard font.
pub const PAPER_COLUMNS: usize = 48;

/// A receipt as the screen shows it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ReceiptView {
    pub receipt: Receipt,
    /// As printed, for the on-screen copy.
    pub text: Vec<String>,
    pub printer: Option<String>,
}

/// A slip the till prints or saves as PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ts_rs::TS)]
#[serde(tag = "of", content = "id", rename_all = "snake_case")]
pub enum SlipOf {
    /// A sale's receipt.
    Sale(i64),
    /// A refund's own slip.
    Refund(i64),
    /// A shift's Z-report (an open shift's for a manager only).
    Shift(i64),
}

impl SlipOf {
    /// A file name for the saved PDF.
    pub fn file_name(self) -> String {
        match self {
            SlipOf::Sale(id) => format!("duka-receipt-{id}.pdf"),
            SlipOf::Refund(id) => format!("duka-refund-{id}.pdf"),
            SlipOf::Shift(id) => format!("duka-z-report-shift-{id}.pdf"),
        }
    }
}

/// An STK receipt of this till that another till had used first.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct UsedElsewhere {
    pub receipt: String,
    pub by: TakenBy,
}

impl Till {
    /// The whole shop's day (a manager): every till's own figures (from the relay; this till's
    /// from its own database), side by side and summed. Needs the relay.
    pub async fn shop_day(&self, day: NaiveDate, manager: &str) -> Result<crate::shop::ShopDay> {
        self.manager(manager, "the shop's day")?;
        let Some(relay) = self.relay() else {
            return Err(Error::Config(
                "the shop's day comes from the relay, and this till is not paired with one (or not running)".into(),
            ));
        };
        let tills = relay.shop_day(day).await?;
        self.shop_day_from(day, manager, tills)
    }

    /// The shop's day from the relay's answer (the command line asks over a connection of its
    /// own: `relay::ask_shop_day`).
    pub fn shop_day_from(
        &self,
        day: NaiveDate,
        manager: &str,
        tills: Vec<duka_relay_proto::TillDay>,
    ) -> Result<crate::shop::ShopDay> {
        self.manager(manager, "the shop's day")?;
        let own_id = self
            .pairing_info()?
            .map(|(_, till, _)| till)
            .unwrap_or_default();
        let own = self.store().till_day(day)?;
        Ok(crate::shop::combine(day, &own_id, own, tills))
    }

    /// Takes this till's history back from the relay (a new PC paired as the till it
    /// replaces; a manager): checked first (no sales of its own, no M-Pesa request open), then
    /// every record is fetched and written in one transaction (all or nothing: a sale made
    /// meanwhile refuses it), and the till stops; the shell starts it again. Cashiers come
    /// back without PINs (they never leave a till): the manager sets theirs at sign-in.
    pub async fn restore_from_relay(
        &self,
        pairing: &duka_relay_proto::Pairing,
        who: &str,
    ) -> Result<crate::relay::RestoreSummary> {
        self.manager(who, "restoring this till from the relay")?;
        self.store().restore_allowed()?;
        if let Some(a) = self.store().attempts(true, 1)?.first() {
            return Err(Error::Conflict(format!(
                "an M-Pesa request for sale {} is still open: wait for its answer, then restore; nothing was changed",
                a.sale_id
            )));
        }
        let restored = crate::relay::restore(&self.db_path(), pairing, |_| {}).await?;
        self.stop();
        Ok(restored)
    }

    /// This till's own figures of a day, as it syncs them.
    pub fn till_day(&self, day: NaiveDate) -> Result<crate::store::sync::TillDay> {
        self.store().till_day(day)
    }

    /// Where this till's records stand (the outbox; the relay's side is in `relay_status`).
    pub fn sync_state(&self) -> Result<crate::store::sync::SyncState> {
        self.store().sync_state()
    }

    pub fn day_report(&self, day: NaiveDate) -> Result<DayReport> {
        self.store().day_report(day)
    }

    /// Sales from the first day to the last (inclusive, Nairobi days) as export rows.
    pub fn export_rows(&self, first: NaiveDate, last: NaiveDate) -> Result<Vec<ExportRow>> {
        if last < first {
            return Err(Error::invalid(
                "to",
                format!("a day on or after {first}"),
                last.to_string(),
            ));
        }
        let (from, _) = crate::time::day_bounds(first);
        let (_, to) = crate::time::day_bounds(last);
        self.store().export_sales(from, to)
    }

    /// The same rows as CSV bytes.
    pub fn export_csv(&self, first: NaiveDate, last: NaiveDate) -> Result<Vec<u8>> {
        let rows = self.export_rows(first, last)?;
        let mut out = Vec::new();
        crate::store::write_export_csv(&rows, &mut out).map_err(|e| Error::Io {
            path: "csv export".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(out)
    }

    /// Open and unknown attempts, then flagged ones, for the manager.
    pub fn problem_attempts(&self) -> Result<Vec<Attempt>> {
        let store = self.store();
        let mut list = store.attempts(true, 200)?;
        let flagged: Vec<_> = store
            .attempts(false, 1000)?
            .into_iter()
            .filter(|a| a.flag.is_some() && !list.iter().any(|o| o.id == a.id))
            .collect();
        list.extend(flagged);
        Ok(list)
    }

    /// Receipts attached here while the relay was out of reach that another till had claimed
    /// first: their sales are due again.
    pub fn lost_claims(&self) -> Result<Vec<LostClaim>> {
        self.store().lost_claims()
    }

    /// STK receipts of this till that another till used first (a code typed there).
    pub fn receipts_used_elsewhere(&self) -> Result<Vec<UsedElsewhere>> {
        Ok(self
            .store()
            .stk_receipts_used_elsewhere()?
            .into_iter()
            .map(|(receipt, by)| UsedElsewhere { receipt, by })
            .collect())
    }

    pub fn receipt(&self, sale_id: i64) -> Result<Receipt> {
        let sale = self.store().sale(sale_id)?;
        Ok(Receipt::from_sale(&sale, &self.settings.shop_name))
    }

    pub fn receipt_view(&self, sale_id: i64) -> Result<ReceiptView> {
        let receipt = self.receipt(sale_id)?;
        Ok(ReceiptView {
            text: receipt.text(PAPER_COLUMNS),
            printer: self.settings.printer.clone(),
            receipt,
        })
    }

    /// A slip, laid out: `who` is the person asking (an open shift's Z-report is a
    /// manager's).
    pub fn slip(&self, of: SlipOf, who: &str) -> Result<Box<dyn Printable + Send>> {
        let shop = self.settings.shop_name.clone();
        Ok(match of {
            SlipOf::Sale(id) => Box::new(self.receipt(id)?),
            SlipOf::Refund(id) => Box::new(RefundSlip {
                shop,
                refund: self.store().refund(id)?,
            }),
            SlipOf::Shift(id) => Box::new(ZReportSlip {
                shop,
                z: self.z_report(id, who)?,
            }),
        })
    }

    /// A slip as printed, for the screen.
    pub fn slip_text(&self, of: SlipOf, who: &str) -> Result<Vec<String>> {
        Ok(self.slip(of, who)?.text(PAPER_COLUMNS))
    }

    /// A slip as a PDF document.
    pub fn slip_pdf(&self, of: SlipOf, who: &str) -> Result<Vec<u8>> {
        Ok(self.slip(of, who)?.pdf())
    }

    /// The receipt as a PDF document.
    pub fn receipt_pdf(&self, sale_id: i64) -> Result<Vec<u8>> {
        Ok(self.receipt(sale_id)?.pdf())
    }

    /// Prints a slip on the configured network printer (ESC/POS over TCP, off the caller's
    /// thread); returns its address.
    pub async fn print_slip(&self, of: SlipOf, who: &str) -> Result<String> {
        let bytes = self.slip(of, who)?.escpos(PAPER_COLUMNS);
        let printer = self.settings.printer.clone().ok_or(Error::NoPrinter)?;
        let addr = printer.clone();
        tokio::task::spawn_blocking(move || {
            crate::receipt::print_tcp(&addr, &bytes, Duration::from_secs(5))
        })
        .await
        .map_err(|e| Error::Printer {
            addr: printer.clone(),
            message: e.to_string(),
        })??;
        Ok(printer)
    }

    /// Prints a sale's receipt (see [`Till::print_slip`]).
    pub async fn print_receipt(&self, sale_id: i64) -> Result<String> {
        self.print_slip(SlipOf::Sale(sale_id), "").await
    }
}
