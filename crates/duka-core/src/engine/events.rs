//! What the core tells its listeners (the UI, the relay client, tests).

use serde::Serialize;

use crate::store::Attempt;
use crate::time::Millis;

/// What the UI and other listeners hear from the core.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CoreEvent {
    AttemptChanged {
        attempt: Attempt,
    },
    /// A sale was rung up, paid (in part or whole, by any tender) or voided.
    SaleChanged {
        sale: crate::sale::Sale,
    },
    /// A sale is paid in full (after its `SaleChanged`).
    SalePaid {
        sale_id: i64,
    },
    /// Settings were saved (they take effect when the till starts again).
    SettingsChanged {
        keys: Vec<String>,
    },
    /// Staff were added, or a PIN set or unlocked.
    StaffChanged,
    /// An incoming payment left the inbox: it is now a tender of `sale_id`.
    IncomingAttached {
        trans_id: String,
        sale_id: i64,
    },
    /// A shift opened or closed.
    ShiftChanged {
        shift: crate::store::Shift,
    },
    /// Cash went out of or into the drawer, or it was opened without a sale.
    DrawerMoved {
        entry: crate::store::DrawerMove,
    },
    /// A refund was recorded or its reversal moved on.
    RefundChanged {
        refund: crate::store::Refund,
    },
    /// A product's stock was counted or started (or stopped) being kept.
    StockChanged {
        product: crate::catalog::Product,
    },
    Health {
        health: Health,
    },
    /// A backup was taken or failed (its status now).
    Backup {
        status: crate::backup::BackupStatus,
    },
    /// The relay connection changed (connected, backlog, last error).
    Relay {
        status: crate::relay::RelayStatus,
    },
    /// M-Pesa confirmed an attempt the cashier had given up on ("no prompt reached the
    /// phone"): the customer may have paid twice. The attempt is flagged for the manager, who
    /// refunds it or keeps it against the sale.
    PossibleDoublePayment {
        attempt: Attempt,
        receipt: Option<String>,
    },
    /// A customer paid the shortcode directly (C2B): the incoming-payments inbox grew.
    IncomingPayment {
        payment: crate::store::IncomingPayment,
    },
    /// A receipt attached here while the relay was out of reach had been claimed by another
    /// till of the shop first: it no longer counts for its sale, which is due again. Flagged
    /// for the manager (`Store::lost_claims`).
    ClaimLost {
        claim: crate::store::LostClaim,
    },
    /// The receipt of an STK payment this till received had been used first on another till
    /// (a code typed there from the customer's SMS): that till's sale is counted on a receipt
    /// that is this till's. Flagged for the manager.
    StkReceiptUsedElsewhere {
        receipt: String,
        by: crate::store::TakenBy,
    },
    /// Another till of the shop took a receipt: it cannot be attached here.
    ReceiptTaken {
        receipt: String,
        by: crate::store::TakenBy,
    },
}

/// One glance at whether payments can flow.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct Health {
    /// Seconds since the epoch at which the cached Daraja token expires.
    pub token_valid_until: Option<u64>,
    pub last_daraja_ok: Option<Millis>,
    pub last_daraja_error: Option<(Millis, String)>,
    pub open_attempts: usize,
    pub poller_backlog: usize,
    /// The relay connection, when this till is paired with one.
    pub relay: Option<crate::relay::RelayStatus>,
    /// How the till's backups are going: a failed one shows here (and in the log), never in
    /// the cashier's way.
    pub backup: Option<crate::backup::BackupStatus>,
}

/// How a reconcile settled (or surfaced) one attempt.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Reconciled {
    pub attempt_id: String,
    pub sale_id: i64,
    pub before: String,
    pub after: String,
    /// `query`, `poller` (still pending: handed to the poller), `cashier` (needs a person).
    pub how: String,
    pub note: String,
}
