//! # duka-app
//!
//! What every shell (the `duka` CLI, the desktop app) does to start a till: read settings and
//! credentials, start daraja-sim in-process in demo mode (callbacks and Transaction Status
//! results come back through its sink), start the engine, and connect to the relay when
//! paired. Kept out of duka-core so the core never depends on a web server.

use std::time::Duration;

use daraja_sim::{Behaviour, Sim, SimConfig};
use duka_core::config::{Credentials, Environment, Settings};
use duka_core::engine::{Engine, PollPolicy};
use duka_core::{Store, secrets};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] duka_core::Error),
    #[error("demo mode: the Daraja simulator did not start: {0}")]
    Simulator(String),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Core(e) => e.code(),
            Error::Simulator(_) => "simulator",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the shell wants demo mode.
#[derive(Debug, Clone)]
pub struct Options {
    /// What a simulated customer outside the scenario table does: the CLI has no phone to
    /// show, so its customers pay after 5 s; the desktop shows a phone and waits.
    pub demo_customer: Behaviour,
}

/// A running till: the engine and, while it runs, the simulator and relay client it needs.
pub struct Running {
    pub engine: Engine,
    sim: Option<Sim>,
    relay: Option<duka_core::relay::RelayClient>,
    /// The poller's deadline: how long a charge may take to settle.
    pub deadline: Duration,
    pub environment: Environment,
}

impl Running {
    /// The in-process simulator of demo mode (its `/sim/prompts` is the demo phone).
    pub fn sim(&self) -> Option<&Sim> {
        self.sim.as_ref()
    }

    pub fn relay_status(&self) -> Option<duka_core::relay::RelayStatus> {
        self.relay.as_ref().map(|r| r.status())
    }

    pub fn stop(&self) {
        self.engine.shutdown();
        if let Some(r) = &self.relay {
            r.stop();
        }
    }
}

/// `DUKA_POLL_SCALE=100` runs the poll schedule 100 times faster (tests and demos).
fn poll_policy() -> PollPolicy {
    match std::env::var("DUKA_POLL_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        Some(f) if f > 0.0 => PollPolicy::scaled(f),
        _ => PollPolicy::default(),
    }
}

/// The simulator of demo mode.
pub fn demo_sim_config(customer: Behaviour) -> SimConfig {
    // A fresh seed per run: receipts must not repeat across demo sessions on one database.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    SimConfig {
        default_behaviour: customer,
        seed,
        ..SimConfig::default()
    }
}

/// The relay this till is paired with (`duka relay pair`), if any.
pub fn relay_pairing(
    store: &Store,
    secrets: &dyn duka_core::secrets::SecretStore,
) -> Result<Option<duka_relay_proto::Pairing>> {
    let (Some(url), Some(till), Some(shop)) = (
        store.setting("relay_url")?,
        store.setting("relay_till")?,
        store.setting("relay_shop")?,
    ) else {
        return Ok(None);
    };
    let Some(key) = secrets.get(duka_core::secrets::SecretKey::RelayKey)? else {
        return Ok(None);
    };
    Ok(Some(duka_relay_proto::Pairing {
        url,
        shop,
        till,
        key: key.expose().to_string(),
    }))
}

/// Starts the till on the current tokio runtime.
pub async fn start(
    store: Store,
    data_dir: &std::path::Path,
    secret_backend: &str,
    opts: Options,
) -> Result<Running> {
    let env = |k: &str| std::env::var(k).ok();
    let secrets = secrets::open(secret_backend, data_dir)?;
    let creds = Credentials::load(secrets.as_ref(), &env)?;
    let settings = Settings::load(&store, &env, creds.is_some())?;
    let sim = if settings.environment == Environment::Demo {
        Some(
            Sim::spawn(demo_sim_config(opts.demo_customer))
                .await
                .map_err(|e| Error::Simulator(e.to_string()))?,
        )
    } else {
        None
    };
    let poll = poll_policy();
    let deadline = poll.deadline;
    let pairing = relay_pairing(&store, secrets.as_ref())?;
    let (client, mut cfg) = duka_core::engine::connect(
        &settings,
        creds.as_ref(),
        sim.as_ref().map(|s| s.base_url()),
        poll,
        pairing.as_ref(),
    )?;
    if let Some(sim) = &sim {
        // No relay in demo mode: the simulator's sink receives callbacks and Transaction
        // Status results for us.
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
            result_url: std::sync::Arc::new(move |attempt: &str| {
                format!("{sink}/status/{attempt}")
            }),
        });
    }
    // DUKA_INFLIGHT_GRACE_MS: how long a `created` attempt may still be on its way in another
    // process (default 45 s). 0 when no other process can be charging (tests after a kill).
    if let Some(ms) = std::env::var("DUKA_INFLIGHT_GRACE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        cfg.in_flight_grace = Duration::from_millis(ms);
    }
    let engine = Engine::start(store, client, cfg);
    if let Some(sim) = &sim {
        let mut rx = sim.subscribe_sink();
        let engine = engine.clone();
        tokio::spawn(async move {
            while let Ok(m) = rx.recv().await {
                let (kind, attempt) = m.path.split_once('/').unwrap_or(("cb", m.path.as_str()));
                let applied = match kind {
                    "status" => engine
                        .apply_status_result(&m.body, Some(attempt))
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
    // Paired with a relay: its websocket brings callbacks while this runs.
    let relay = pairing.map(|p| duka_core::relay::spawn(engine.clone(), p));
    Ok(Running {
        engine,
        sim,
        relay,
        deadline,
        environment: settings.environment,
    })
}
