//! Demo mode: daraja-sim in-process (only in builds with the `demo` feature, the default).
//! No relay: the simulator's sink receives callbacks and Transaction Status results, and they
//! are fed to the engine here.

use daraja_sim::{Behaviour, Sim, SimConfig};
use duka_core::engine::{Engine, EngineConfig};

use crate::{DemoCustomer, Error, Result};

/// The simulator of demo mode.
pub fn sim_config(customer: DemoCustomer) -> SimConfig {
    // A fresh seed per run: receipts must not repeat across demo sessions on one database.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    SimConfig {
        default_behaviour: match customer {
            DemoCustomer::Interactive => Behaviour::Interactive,
            DemoCustomer::PaysAfter(s) => Behaviour::Pay {
                after_units: s.into(),
            },
        },
        seed,
        ..SimConfig::default()
    }
}

/// Points callbacks and Transaction Status results at the simulator's sink.
pub(crate) fn wire(sim: &Sim, cfg: &mut EngineConfig) -> Result<()> {
    // The simulator's sink receives callbacks and Transaction Status results for us (a demo
    // till paired with a relay on this machine uses it for the shop's records and claims).
    let sink = sim.sink_url();
    let cb = sink.clone();
    cfg.callback_url = std::sync::Arc::new(move |attempt: &str| format!("{cb}/cb/{attempt}"));
    let credential = daraja::security::security_credential(
        &sim.config().initiator_password,
        daraja_sim::TEST_INITIATOR_CERT,
    )
    .map_err(|e| Error::Simulator(e.to_string()))?;
    cfg.status = Some(duka_core::engine::StatusConfig {
        initiator: sim.config().initiator.clone(),
        security_credential: duka_core::secrets::Secret::new(credential),
        result_url: {
            let sink = sink.clone();
            std::sync::Arc::new(move |attempt: &str| format!("{sink}/status/{attempt}"))
        },
        reversal_url: std::sync::Arc::new(move |refund: &str| format!("{sink}/reversal/{refund}")),
    });
    Ok(())
}

/// Feeds what reaches the sink to the engine, while the simulator runs.
pub(crate) fn forward(sim: &Sim, engine: &Engine) {
    let mut rx = sim.subscribe_sink();
    let engine = engine.clone();
    tokio::spawn(async move {
        while let Ok(m) = rx.recv().await {
            let (kind, attempt) = m.path.split_once('/').unwrap_or(("cb", m.path.as_str()));
            let applied = match kind {
                "status" => engine
                    .apply_status_result(&m.body, Some(attempt))
                    .map(|_| ()),
                "reversal" => engine
                    .apply_reversal_result(&m.body, Some(attempt), "callback")
                    .map(|_| ()),
                _ => engine
                    .apply_callback(&m.body, Some(attempt), "callback")
                    .map(|_| ()),
            };
            if let Err(e) = applied {
                tracing::warn!("a demo callback was not applied: {e}");
            }
        }
    });
}

/// The simulated M-Pesa starts with every process; it learns the payments this demo till took
/// before, so they can be looked up and reversed as real ones can.
pub(crate) fn remember(sim: &Sim, till: &duka_core::Till) {
    let shortcode = duka_core::engine::demo::SHORTCODE.to_string();
    match till.mpesa_payments() {
        Ok(paid) => {
            for p in paid {
                sim.remember_payment(daraja_sim::Receipt {
                    receipt: p.receipt,
                    checkout_request_id: None,
                    amount: p.shillings.max(0) as u64,
                    phone: p.phone,
                    shortcode: shortcode.clone(),
                    at_ms: p.at,
                });
            }
        }
        Err(e) => tracing::warn!("demo: the simulator could not learn earlier payments: {e}"),
    }
}
