//! Counters for `/metrics` (Prometheus text format).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub received: AtomicU64,
    pub stored: AtomicU64,
    pub delivered: AtomicU64,
    pub acked: AtomicU64,
    pub connected: AtomicU64,
    pub validations: AtomicU64,
    /// Shop-wide receipt claims answered, and those another till had won first.
    pub claims: AtomicU64,
    pub claims_lost: AtomicU64,
    /// Tills' own records committed (sync).
    pub records: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn reject(&self, reason: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        for (name, help, v) in [
            (
                "duka_relay_received_total",
                "Callbacks received from Daraja",
                g(&self.received),
            ),
            (
                "duka_relay_stored_total",
                "Messages committed to the store (one per till)",
                g(&self.stored),
            ),
            (
                "duka_relay_delivered_total",
                "Messages sent to tills (replays included)",
                g(&self.delivered),
            ),
            (
                "duka_relay_acked_total",
                "Acknowledgements received from tills",
                g(&self.acked),
            ),
            (
                "duka_relay_claims_total",
                "Receipt claims answered (first claim in the shop wins)",
                g(&self.claims),
            ),
            (
                "duka_relay_claims_lost_total",
                "Receipt claims refused: another till of the shop had it",
                g(&self.claims_lost),
            ),
            (
                "duka_relay_records_total",
                "Tills' own records committed (sales, payments, shifts: sync)",
                g(&self.records),
            ),
            (
                "duka_relay_c2b_validations_total",
                "C2B validations answered",
                g(&self.validations),
            ),
        ] {
            s += &format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n");
        }
        s += "# HELP duka_relay_connected_tills Tills connected now\n# TYPE duka_relay_connected_tills gauge\n";
        s += &format!("duka_relay_connected_tills {}\n", g(&self.connected));
        s += "# HELP duka_relay_rejected_total Requests refused, by reason\n# TYPE duka_relay_rejected_total counter\n";
        for (reason, n) in self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            s += &format!("duka_relay_rejected_total{{reason=\"{reason}\"}} {n}\n");
        }
        s
    }
}
