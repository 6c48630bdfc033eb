//! The shop's day across its tills. Each till syncs its own figures of each day to the relay
//! (its `TillDay`: the day report and day close as that till shows them); the shop's day is
//! those figures side by side and summed, so every till's line is exactly what that till
//! shows and the totals are their sums. This till's own line comes from its own database (it
//! is never older than what it synced).

use chrono::NaiveDate;
use serde::Serialize;

use crate::money::Money;
use crate::sale::TenderKind;
use crate::store::sync::{AttemptBrief, TillDay};
use crate::store::{ReceiptRow, TenderTotal, ZReport};
use crate::time::Millis;

/// One till's line in the shop's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ShopTill {
    pub till: String,
    pub name: String,
    /// The till asking.
    pub this_till: bool,
    /// When the relay got these figures (`None` for this till's own, read now).
    pub synced_at: Option<Millis>,
    /// `None`: the till synced nothing of this day (closed, offline, or not yet paired).
    pub day: Option<TillDay>,
    /// Figures the relay holds that this till could not read (another version's).
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ShopCashier {
    pub cashier: String,
    pub count: i64,
    pub amount: Money,
}

/// An M-Pesa receipt of the day, with the till that took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ShopReceipt {
    /// The till's name.
    pub till: String,
    pub item: ReceiptRow,
}

/// An M-Pesa request a manager must look at, with its till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ShopAttempt {
    pub till: String,
    pub item: AttemptBrief,
}

/// A shift of the day and its cash-up, with its till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ShopShift {
    pub till: String,
    pub item: ZReport,
}

/// The sums of the tills' own figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ShopTotals {
    pub sales_paid: i64,
    pub sales_total: Money,
    pub discounts: Money,
    pub taken: Money,
    pub by_tender: Vec<TenderTotal>,
    /// By cashier's name across the tills (one person on two tills is one line).
    pub by_cashier: Vec<ShopCashier>,
    pub expected_cash: Money,
    pub counted_cash: Money,
    pub difference_cents: i64,
    pub open_shifts: i64,
    pub open_attempts: i64,
    pub flagged_attempts: i64,
    pub open_reversals: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ShopDay {
    pub date: NaiveDate,
    pub tills: Vec<ShopTill>,
    pub totals: ShopTotals,
    /// Every M-Pesa receipt of the day, oldest first, with its till.
    pub mpesa_receipts: Vec<ShopReceipt>,
    /// Every till's M-Pesa requests a manager must look at (open or flagged).
    pub attention: Vec<ShopAttempt>,
    /// Every till's shifts of the day and their cash-ups.
    pub shifts: Vec<ShopShift>,
}

fn add(a: Money, b: Money) -> Money {
    a.checked_add(b).unwrap_or(a)
}

/// The shop's day from the relay's answer, with this till's own figures (`own`, of till id
/// `own_id`) in place of what it had synced.
pub fn combine(
    date: NaiveDate,
    own_id: &str,
    own: TillDay,
    from_relay: Vec<duka_relay_proto::TillDay>,
) -> ShopDay {
    let mut own = Some(own);
    let mut tills: Vec<ShopTill> = from_relay
        .into_iter()
        .map(|t| {
            if t.till == own_id {
                return ShopTill {
                    till: t.till,
                    name: t.name,
                    this_till: true,
                    synced_at: None,
                    day: own.take(),
                    problem: None,
                };
            }
            let (day, problem) = match t.body.as_deref().map(serde_json::from_str::<TillDay>) {
                None => (None, None),
                Some(Ok(d)) if d.date == date => (Some(d), None),
                Some(Ok(d)) => (
                    None,
                    Some(format!("figures of {} instead of {date}", d.date)),
                ),
                Some(Err(e)) => (
                    None,
                    Some(format!("figures this version of Duka cannot read: {e}")),
                ),
            };
            ShopTill {
                till: t.till,
                name: t.name,
                this_till: false,
                synced_at: t.synced_at,
                day,
                problem,
            }
        })
        .collect();
    if let Some(own) = own {
        // The relay did not list this till (it is not of this shop there any more?): shown
        // anyway, so the manager sees their own till.
        tills.insert(
            0,
            ShopTill {
                till: own_id.to_string(),
                name: "this till".into(),
                this_till: true,
                synced_at: None,
                day: Some(own),
                problem: None,
            },
        );
    }
    let mut totals = ShopTotals::default();
    let mut receipts = Vec::new();
    let mut attention = Vec::new();
    let mut shifts = Vec::new();
    let mut by_tender: std::collections::BTreeMap<TenderKind, TenderTotal> = Default::default();
    let mut by_cashier: std::collections::BTreeMap<String, ShopCashier> = Default::default();
    for t in &tills {
        let Some(d) = &t.day else { continue };
        let r = &d.report;
        totals.sales_paid += r.sales_paid;
        totals.sales_total = add(totals.sales_total, r.sales_total);
        totals.discounts = add(totals.discounts, r.discounts);
        totals.taken = add(totals.taken, r.taken);
        for x in &r.by_tender {
            let e = by_tender.entry(x.kind).or_insert(TenderTotal {
                kind: x.kind,
                count: 0,
                amount: Money::ZERO,
            });
            e.count += x.count;
            e.amount = add(e.amount, x.amount);
        }
        for x in &r.by_cashier {
            let e = by_cashier.entry(x.cashier.clone()).or_insert(ShopCashier {
                cashier: x.cashier.clone(),
                count: 0,
                amount: Money::ZERO,
            });
            e.count += x.count;
            e.amount = add(e.amount, x.amount);
        }
        let c = &d.close;
        totals.expected_cash = add(totals.expected_cash, c.expected_cash);
        totals.counted_cash = add(totals.counted_cash, c.counted_cash);
        totals.difference_cents += c.difference_cents;
        totals.open_shifts += c.open_shifts;
        totals.open_attempts += r.open_attempts;
        totals.flagged_attempts += r.flagged_attempts;
        totals.open_reversals += c.open_reversals;
        receipts.extend(r.mpesa_receipts.iter().map(|x| ShopReceipt {
            till: t.name.clone(),
            item: x.clone(),
        }));
        attention.extend(d.attention.iter().map(|x| ShopAttempt {
            till: t.name.clone(),
            item: x.clone(),
        }));
        shifts.extend(c.shifts.iter().map(|x| ShopShift {
            till: t.name.clone(),
            item: x.clone(),
        }));
    }
    totals.by_tender = by_tender.into_values().collect();
    totals.by_cashier = by_cashier.into_values().collect();
    receipts.sort_by_key(|r| (r.item.at, r.till.clone()));
    attention.sort_by_key(|a| std::cmp::Reverse(a.item.created_at));
    shifts.sort_by_key(|s| (s.item.shift.opened_at, s.till.clone()));
    ShopDay {
        date,
        tills,
        totals,
        mpesa_receipts: receipts,
        attention,
        shifts,
    }
}
