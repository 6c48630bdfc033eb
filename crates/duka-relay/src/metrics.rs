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
    /// By shop id: what this process stored for, delivered to and was acknowledged by the
    /// shop's tills.
    shops: Mutex<BTreeMap<String, ShopCounts>>,
}

/// One shop's counters in this process.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShopCounts {
    /// Messages committed for the shop's tills (callbacks, C2B, `claimed` notices).
    pub stored: u64,
    /// Messages sent to the shop's tills (replays included).
    pub delivered: u64,
    /// Acknowledgements from the shop's tills.
    pub acked: u64,
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

    fn shop_add(&self, shop: &str, f: impl FnOnce(&mut ShopCounts)) {
        let mut shops = self.shops.lock().unwrap_or_else(|p| p.into_inner());
        match shops.get_mut(shop) {
            Some(c) => f(c),
            None => f(shops.entry(shop.to_string()).or_default()),
        }
    }

    pub fn shop_stored(&self, shop: &str, n: u64) {
        if n > 0 {
            self.shop_add(shop, |c| c.stored += n);
        }
    }

    pub fn shop_delivered(&self, shop: &str, n: u64) {
        self.shop_add(shop, |c| c.delivered += n);
    }

    pub fn shop_acked(&self, shop: &str) {
        self.shop_add(shop, |c| c.acked += 1);
    }

    /// One shop's counters (zeros for a shop this process has not seen).
    pub fn shop(&self, shop: &str) -> ShopCounts {
        self.shops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(shop)
            .copied()
            .unwrap_or_default()
    }

    /// The per-shop series: this process's counters, and `pending` (messages not yet
    /// acknowledged, by shop, as the store counts them).
    pub fn render_shops(&self, pending: &[(String, u64)]) -> String {
        let shops = self.shops.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut s = String::new();
        for (name, help, get) in [
            (
                "duka_relay_shop_stored_total",
                "Messages committed for the shop's tills, by this process",
                (|c: &ShopCounts| c.stored) as fn(&ShopCounts) -> u64,
            ),
            (
                "duka_relay_shop_delivered_total",
                "Messages sent to the shop's tills by this process (replays included)",
                |c: &ShopCounts| c.delivered,
            ),
            (
                "duka_relay_shop_acked_total",
                "Acknowledgements from the shop's tills received by this process",
                |c: &ShopCounts| c.acked,
            ),
        ] {
            s += &format!("# HELP {name} {help}\n# TYPE {name} counter\n");
            for (shop, c) in &shops {
                s += &format!("{name}{{shop=\"{}\"}} {}\n", label(shop), get(c));
            }
        }
        s += "# HELP duka_relay_shop_pending Messages stored for the shop's tills and not yet acknowledged (the database's count: the same from every process)\n# TYPE duka_relay_shop_pending gauge\n";
        for (shop, n) in pending {
            s += &format!("duka_relay_shop_pending{{shop=\"{}\"}} {n}\n", label(shop));
        }
        s
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

/// A label value as Prometheus' text format writes it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
