//! # duka-app
//!
//! What every shell (the `duka` CLI, the desktop app) does to start a till: read settings and
//! credentials, start daraja-sim in-process in demo mode (callbacks and Transaction Status
//! results come back through its sink), start the engine, and connect to the relay when
//! paired. Kept out of duka-core so the core never depends on a web server.

pub mod logs;

use std::time::Duration;

use daraja_sim::{Behaviour, Sim, SimConfig};
use duka_core::config::{Credentials, Environment, Settings, Till};
use duka_core::engine::{Engine, PollPolicy};
use duka_core::{Store, secrets};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] duka_core::Error),
    #[error("demo mode: the Daraja simulator did not start: {0}")]
    Simulator(String),
    #[error("connection test failed: {0}")]
    Connection(String),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Core(e) => e.code(),
            Error::Simulator(_) => "simulator",
            Error::Connection(_) => "connection_failed",
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
    /// The shop's till or demo mode's (each has its own database).
    pub till: Till,
    /// The settings this till started with (stored ones overlaid with the environment): the
    /// one place a shell reads them from.
    pub settings: Settings,
}

impl Running {
    /// The in-process simulator of demo mode (its `/sim/prompts` is the demo phone).
    pub fn sim(&self) -> Option<&Sim> {
        self.sim.as_ref()
    }

    /// The relay client, when this till is paired.
    pub fn relay(&self) -> Option<&duka_core::relay::RelayClient> {
        self.relay.as_ref()
    }

    pub fn relay_status(&self) -> Option<duka_core::relay::RelayStatus> {
        self.relay.as_ref().map(|r| r.status())
    }

    /// Runs `write` with the shop-wide claim on `receipt` settled first
    /// (`duka_core::relay::with_claim`).
    pub async fn with_claim<T>(
        &self,
        receipt: &str,
        sale: i64,
        amount: duka_core::Money,
        write: impl Fn(&mut Store, duka_core::store::Claim) -> duka_core::Result<T>,
    ) -> Result<T> {
        Ok(duka_core::relay::with_claim(
            &self.engine,
            self.relay.as_ref(),
            receipt,
            sale,
            amount,
            write,
        )
        .await?)
    }

    /// A code typed from the customer's SMS, claimed shop-wide (`with_claim`).
    pub async fn pay_mpesa_code(
        &self,
        sale_id: i64,
        code: &str,
        amount: Option<duka_core::Money>,
        cashier: &str,
    ) -> Result<duka_core::sale::Sale> {
        let receipt = duka_core::sale::parse_receipt(code)?;
        let claimed = match amount {
            Some(a) => a,
            None => self.engine.store().sale(sale_id)?.due,
        };
        self.with_claim(&receipt, sale_id, claimed, |store, claim| {
            store.pay_mpesa_code(sale_id, &receipt, amount, cashier, claim)
        })
        .await
    }

    /// An incoming (C2B) payment attached to a sale, claimed shop-wide (`with_claim`).
    pub async fn attach_incoming(
        &self,
        trans_id: &str,
        sale_id: i64,
        cashier: &str,
    ) -> Result<duka_core::sale::Sale> {
        let p = self.engine.store().incoming(trans_id.trim())?;
        self.with_claim(&p.trans_id, sale_id, p.amount, |store, claim| {
            store.attach_incoming(&p.trans_id, sale_id, cashier, claim)
        })
        .await
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

/// Which till `data_dir` runs (`Till::resolve`, with the credentials in `secrets`).
pub fn which_till(data_dir: &std::path::Path, secrets: &dyn secrets::SecretStore) -> Result<Till> {
    let env = |k: &str| std::env::var(k).ok();
    let has_credentials = || Ok(Credentials::load(secrets, &env)?.is_some());
    Ok(Till::resolve(data_dir, &env, &has_credentials)?)
}

/// Opens (creating it and its directory if needed) the database of the till `data_dir` runs.
pub fn open_till(
    data_dir: &std::path::Path,
    secrets: &dyn secrets::SecretStore,
) -> Result<(Store, Till)> {
    let till = which_till(data_dir, secrets)?;
    let path = till.db_path(data_dir);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| duka_core::Error::Config(format!("creating {}: {e}", dir.display())))?;
    }
    Ok((Store::open(&path)?, till))
}

/// Starts the till on the current tokio runtime.
pub async fn start(
    store: Store,
    till: Till,
    data_dir: &std::path::Path,
    secret_backend: &str,
    opts: Options,
) -> Result<Running> {
    let secrets: std::sync::Arc<dyn secrets::SecretStore> =
        secrets::open(secret_backend, data_dir)?.into();
    start_with_secrets(store, till, secrets, opts).await
}

/// `start`, with a secret store the shell keeps (the desktop restarts the till after its
/// settings change, with the same store). `till` says which till `store` is (`open_till`).
pub async fn start_with_secrets(
    store: Store,
    till: Till,
    secret_store: std::sync::Arc<dyn secrets::SecretStore>,
    opts: Options,
) -> Result<Running> {
    let secrets = secret_store.as_ref();
    let env = |k: &str| std::env::var(k).ok();
    let creds = Credentials::load(secrets, &env)?;
    let settings = Settings::load(&store, &env, till)?;
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
    // Demo mode never talks to a relay: real shop payments must not land in demo's database.
    let pairing = match till {
        Till::Shop => relay_pairing(&store, secrets)?,
        Till::Demo => None,
    };
    let (client, mut cfg) = duka_core::engine::connect(
        &settings,
        creds.as_ref(),
        sim.as_ref().map(|s| s.base_url()),
        poll,
        pairing.as_ref(),
        Some(std::sync::Arc::new(secrets::TokenCache(
            secret_store.clone(),
        ))),
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
    // process (default: the Daraja client's worst case for a push, see
    // `Engine::in_flight_grace`). 0 when no other process can be charging (tests after a kill).
    if let Some(ms) = std::env::var("DUKA_INFLIGHT_GRACE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        cfg.in_flight_grace = Some(Duration::from_millis(ms));
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
        till,
        settings,
    })
}

/// Stores a relay pairing string (`duka-relay till add` prints it): the key goes to the secret
/// store, the rest to settings, and the till starts from the relay's first message.
pub fn pair_relay(
    store: &mut Store,
    secrets: &dyn duka_core::secrets::SecretStore,
    pairing: &str,
) -> Result<duka_relay_proto::Pairing> {
    let p = duka_relay_proto::Pairing::decode(pairing.trim()).map_err(|e| {
        duka_core::Error::Invalid {
            field: "pairing",
            expected: "the string `duka-relay till add` printed (dukarelay1:…)".into(),
            got: e.0,
        }
    })?;
    secrets.set(
        duka_core::secrets::SecretKey::RelayKey,
        &duka_core::secrets::Secret::new(p.key.clone()),
    )?;
    duka_core::config::set_setting(store, "relay_url", &p.url)?;
    store.set_setting("relay_till", &p.till)?;
    store.set_setting("relay_shop", &p.shop)?;
    // A new pairing starts with no watermark; a running relay client of the old pairing cannot
    // write one that counts for this till, since a watermark names its till.
    store.set_setting(duka_core::relay::WATERMARK, "")?;
    Ok(p)
}

/// The demo shop's staff: name, role, PIN. Shown on the demo sign-in screen.
pub const DEMO_STAFF: &[(&str, &str, &str)] =
    &[("Owner", "manager", "1234"), ("Amina", "cashier", "0000")];

/// Demo mode's shop: a few everyday products with barcodes and the demo staff, so a newcomer
/// can ring up a sale at once. Adds only what is missing.
pub fn seed_demo(store: &mut Store) -> Result<()> {
    for (name, role, pin) in DEMO_STAFF {
        let c = match store.cashier(name) {
            Ok(c) => c,
            Err(duka_core::Error::NotFound { .. }) => store.add_cashier(name, role)?,
            Err(e) => return Err(e.into()),
        };
        if !c.has_pin {
            store.set_pin(name, pin)?;
        }
    }
    if store.products(true)?.is_empty() {
        const PRODUCTS: &[(&str, i64, &str)] = &[
            ("Unga 2kg", 210, "6161100000011"),
            ("Sukari 1kg", 180, "6161100000028"),
            ("Maziwa 500ml", 65, "6161100000035"),
            ("Mkate 400g", 65, "6161100000042"),
            ("Mafuta 1L", 340, "6161100000059"),
            ("Sabuni bar", 120, "6161100000066"),
            ("Chai majani 250g", 150, "6161100000073"),
            ("Mayai (1)", 17, "6161100000080"),
        ];
        for (name, shillings, barcode) in PRODUCTS {
            let p = duka_core::catalog::NewProduct::new(
                name,
                duka_core::Money::from_shillings(*shillings)?,
                Some(barcode),
                None,
            )?;
            store.add_product(&p)?;
        }
    }
    Ok(())
}

/// "Test connection": asks Daraja (or, in demo mode, the simulator at `demo_base_url`) for an
/// access token with these credentials. Returns how long it took.
pub async fn test_connection(
    environment: Environment,
    daraja_base_url: Option<&str>,
    demo_base_url: Option<&str>,
    consumer_key: &str,
    consumer_secret: &str,
) -> Result<Duration> {
    let target = match environment {
        Environment::Demo => daraja::Environment::Custom(
            demo_base_url
                .ok_or_else(|| Error::Connection("the demo simulator is not running".into()))?
                .to_string(),
        ),
        Environment::Sandbox => daraja::Environment::Sandbox,
        Environment::Production => daraja::Environment::Production,
        Environment::Custom => daraja::Environment::Custom(
            daraja_base_url
                .ok_or_else(|| {
                    Error::Connection("environment custom needs daraja_base_url".into())
                })?
                .to_string(),
        ),
    };
    let (key, secret) = match environment {
        Environment::Demo => (
            duka_core::engine::demo::CONSUMER_KEY,
            duka_core::engine::demo::CONSUMER_SECRET,
        ),
        _ => (consumer_key, consumer_secret),
    };
    if key.is_empty() || secret.is_empty() {
        return Err(Error::Connection(
            "the consumer key and consumer secret are both needed".into(),
        ));
    }
    let client = daraja::Client::new(daraja::Config::new(target, key, secret))
        .map_err(|e| Error::Connection(e.to_string()))?;
    let started = std::time::Instant::now();
    client
        .access_token()
        .await
        .map_err(|e| Error::Connection(e.to_string()))?;
    Ok(started.elapsed())
}
