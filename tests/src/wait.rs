//! Small helpers every flow needs: a fast simulator, phones, waiting for what no event
//! announces.

use std::time::Duration;

use daraja_sim::SimConfig;
use duka_core::Msisdn;

/// The simulator with its clock 50 times faster (one time unit = 20 ms).
pub fn fast_sim() -> SimConfig {
    SimConfig {
        time_unit_ms: 20,
        ..SimConfig::default()
    }
}

/// `fast_sim` whose customers leave an unanswered prompt after `units` time units.
pub fn fast_sim_prompt(units: u64) -> SimConfig {
    SimConfig {
        prompt_timeout_units: units,
        ..fast_sim()
    }
}

pub fn phone(p: &str) -> Msisdn {
    Msisdn::parse(p).unwrap()
}

/// Waits for a condition that something outside the engine makes true (the simulator's
/// log, a relay's table) and that no event announces; at most 30 s, then fails naming it.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// `eventually` for a condition read asynchronously (a relay store's answer).
pub async fn eventually_async<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}
