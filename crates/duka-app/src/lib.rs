//! # duka-app
//!
//! What every shell (the `duka` CLI, the desktop app) does to start a till: read settings and
//! credentials, start daraja-sim in-process in demo mode (callbacks and Transaction Status
//! results come back through its sink), start the engine, and connect to the relay when
//! paired. Kept out of duka-core so the core never depends on a web server.

#[cfg(feature = "demo")]
pub mod demo;
pub mod logs;
pub mod settings;

use std::time::Duration;

#[cfg(feature = "demo")]
use daraja_sim::Sim;
use duka_core::config::{Credentials, Environment, Mode, Settings};
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
    /// What Daraja (or the way to it) answered: its own code tells a refused key (`auth`)
    /// from no network (`not_sent`) or a Daraja outage (`server_error`).
    #[error("M-Pesa: {0}")]
    Daraja(#[from] daraja::Error),
}

impl Error {
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::Core(e) => ErrorCode::Core(e.error_code()),
            Error::Simulator(_) => ErrorCode::App(AppCode::Simulator),
            Error::Connection(_) => ErrorCode::App(AppCode::ConnectionFailed),
            Error::Daraja(e) => ErrorCode::Daraja(e.error_code()),
        }
    }
}

/// Every error code a shell shows: the core's, Daraja's, and the shells' own. In JSON (and the
/// UI's generated TypeScript) each is its string, e.g. `"disk_full"` or `"auth"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, ts_rs::TS)]
#[serde(untagged)]
pub enum ErrorCode {
    Core(duka_core::ErrorCode),
    Daraja(daraja::ErrorCode),
    App(AppCode),
}

/// The codes of this crate and of the shells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum AppCode {
    /// Demo mode's simulator did not start.
    Simulator,
    /// "Test connection" could not even ask (nothing to ask with).
    ConnectionFailed,
    /// The command needs a signed-in cashier.
    SignedOut,
    /// Only demo mode has this (the simulated phone).
    NotDemo,
    /// A bug or a task that died: the message says what.
    Internal,
}

impl AppCode {
    pub const ALL: [AppCode; 5] = [
        AppCode::Simulator,
        AppCode::ConnectionFailed,
        AppCode::SignedOut,
        AppCode::NotDemo,
        AppCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppCode::Simulator => "simulator",
            AppCode::ConnectionFailed => "connection_failed",
            AppCode::SignedOut => "signed_out",
            AppCode::NotDemo => "not_demo",
            AppCode::Internal => "internal",
        }
    }
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Core(c) => c.as_str(),
            ErrorCode::Daraja(c) => c.as_str(),
            ErrorCode::App(c) => c.as_str(),
        }
    }

    /// Every code, each once.
    pub fn all() -> Vec<ErrorCode> {
        let core = duka_core::ErrorCode::ALL.into_iter().map(ErrorCode::Core);
        let daraja = daraja::ErrorCode::ALL.into_iter().map(ErrorCode::Daraja);
        let app = AppCode::ALL.into_iter().map(ErrorCode::App);
        core.chain(daraja).chain(app).collect()
    }
}

impl From<AppCode> for ErrorCode {
    fn from(c: AppCode) -> ErrorCode {
        ErrorCode::App(c)
    }
}

impl From<duka_core::ErrorCode> for ErrorCode {
    fn from(c: duka_core::ErrorCode) -> ErrorCode {
        ErrorCode::Core(c)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a simulated customer of demo mode does when the scenario table says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoCustomer {
    /// Waits for the simulated phone (approve, cancel) or times out, like a real one.
    Interactive,
    /// Pays after this many simulated seconds (a shell with no phone to show).
    PaysAfter(u32),
}

/// How the shell wants demo mode.
#[derive(Debug, Clone)]
pub struct Options {
    /// What a simulated customer outside the scenario table does: the CLI has no phone to
    /// show, so its customers pay after 5 s; the desktop shows a phone and waits.
    pub demo_customer: DemoCustomer,
}

/// A running till: the Till service (engine, relay client) and, in demo mode, the simulator
/// it pays through. Derefs to [`duka_core::Till`], whose methods are every operation a shell
/// needs.
pub struct Running {
    till: duka_core::Till,
    #[cfg(feature = "demo")]
    sim: Option<Sim>,
    /// The simulator's base URL in demo mode.
    demo_url: Option<String>,
    /// The poller's deadline: how long a charge may take to settle.
    pub deadline: Duration,
    pub environment: Environment,
}

impl std::ops::Deref for Running {
    type Target = duka_core::Till;
    fn deref(&self) -> &duka_core::Till {
        &self.till
    }
}

impl Running {
    /// The in-process simulator of demo mode (its `/sim/prompts` is the demo phone).
    #[cfg(feature = "demo")]
    pub fn sim(&self) -> Option<&Sim> {
        self.sim.as_ref()
    }

    /// The simulator's base URL in demo mode.
    pub fn demo_url(&self) -> Option<&str> {
        self.demo_url.as_deref()
    }

    /// The payment engine (a running till always has one).
    pub fn engine(&self) -> &Engine {
        self.till.engine().expect("a running till has an engine")
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

/// The relay this till is paired with (`duka relay pair`), if any. Demo mode's pairing counts
/// only with a relay on this machine (Daraja cannot reach it: no real payment lands in demo).
pub fn relay_pairing(
    store: &Store,
    secrets: &dyn duka_core::secrets::SecretStore,
    mode: Mode,
) -> Result<Option<duka_relay_proto::Pairing>> {
    let parts = match (
        store.setting("relay_url")?,
        store.setting("relay_till")?,
        store.setting("relay_shop")?,
    ) {
        (Some(url), Some(till), Some(shop)) => Some((url, till, shop)),
        _ => None,
    };
    pairing_of(parts, secrets, mode)
}

/// `relay_pairing` of a till that runs.
pub fn till_pairing(
    till: &duka_core::Till,
    secrets: &dyn duka_core::secrets::SecretStore,
) -> Result<Option<duka_relay_proto::Pairing>> {
    pairing_of(till.pairing_info()?, secrets, till.mode())
}

/// The pairing from its stored parts (url, till, shop) and the key in `secrets`.
fn pairing_of(
    parts: Option<(String, String, String)>,
    secrets: &dyn duka_core::secrets::SecretStore,
    mode: Mode,
) -> Result<Option<duka_relay_proto::Pairing>> {
    let Some((url, till, shop)) = parts else {
        return Ok(None);
    };
    let Some(key) = secrets.get(duka_core::secrets::SecretKey::relay_key(mode))? else {
        return Ok(None);
    };
    if mode == Mode::Demo && !duka_core::till::is_loopback_url(&url) {
        return Ok(None);
    }
    Ok(Some(duka_relay_proto::Pairing {
        url,
        shop,
        till,
        key: key.expose().to_string(),
    }))
}

/// Which till `data_dir` runs (`Mode::resolve`, with the credentials in `secrets`).
pub fn which_till(data_dir: &std::path::Path, secrets: &dyn secrets::SecretStore) -> Result<Mode> {
    let env = |k: &str| std::env::var(k).ok();
    let has_credentials = || Ok(Credentials::load(secrets, &env)?.is_some());
    Ok(Mode::resolve(data_dir, &env, &has_credentials)?)
}

/// Opens (creating it and its directory if needed) the database of the till `data_dir` runs.
pub fn open_till(
    data_dir: &std::path::Path,
    secrets: &dyn secrets::SecretStore,
) -> Result<(Store, Mode)> {
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
    till: Mode,
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
    till: Mode,
    secret_store: std::sync::Arc<dyn secrets::SecretStore>,
    opts: Options,
) -> Result<Running> {
    let secrets = secret_store.as_ref();
    let env = |k: &str| std::env::var(k).ok();
    let creds = Credentials::load(secrets, &env)?;
    let settings = Settings::load(&store, &env, till)?;
    #[cfg(feature = "demo")]
    let sim = if settings.environment == Environment::Demo {
        Some(
            Sim::spawn(demo::sim_config(opts.demo_customer))
                .await
                .map_err(|e| Error::Simulator(e.to_string()))?,
        )
    } else {
        None
    };
    #[cfg(not(feature = "demo"))]
    if settings.environment == Environment::Demo {
        let _ = opts.demo_customer;
        return Err(Error::Core(duka_core::Error::Config(
            "this build of Duka has no demo mode (built without the `demo` feature): choose the shop's environment".into(),
        )));
    }
    #[cfg(feature = "demo")]
    let demo_url = sim.as_ref().map(|s| s.base_url().to_string());
    #[cfg(not(feature = "demo"))]
    let demo_url: Option<String> = None;
    let poll = poll_policy();
    let deadline = poll.deadline;
    // Demo mode talks only to a relay on this machine (several demo tills, one shop): real
    // shop payments cannot reach it, so none lands in demo's database.
    let pairing = relay_pairing(&store, secrets, till)?;
    let (client, mut cfg) = duka_core::engine::connect(
        &settings,
        creds.as_ref(),
        demo_url.as_deref(),
        poll,
        pairing.as_ref(),
        Some(std::sync::Arc::new(secrets::TokenCache(
            secret_store.clone(),
        ))),
    )?;
    #[cfg(feature = "demo")]
    if let Some(sim) = &sim {
        demo::wire(sim, &mut cfg)?;
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
    let mode = till;
    #[cfg(feature = "demo")]
    if let Some(sim) = &sim {
        demo::forward(sim, &engine);
    }
    // Paired with a relay: its websocket brings callbacks while this runs.
    let relay = pairing.map(|p| duka_core::relay::spawn(engine.clone(), p));
    let environment = settings.environment;
    let till = duka_core::Till::running(engine, relay, mode, settings);
    // The shop's till backs itself up daily (at once when the newest backup is a day old).
    till.start_backups();
    #[cfg(feature = "demo")]
    if let Some(sim) = &sim {
        demo::remember(sim, &till);
    }
    Ok(Running {
        till,
        #[cfg(feature = "demo")]
        sim,
        demo_url,
        deadline,
        environment,
    })
}

pub use duka_core::till::DEMO_STAFF;

/// Where a test of the settings talks to: Daraja's sandbox or production, the custom URL, or
/// (demo mode) the simulator at `demo_base_url`.
pub(crate) fn daraja_target(
    environment: Environment,
    daraja_base_url: Option<&str>,
    demo_base_url: Option<&str>,
) -> Result<daraja::Environment> {
    Ok(match environment {
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
    })
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
    let target = daraja_target(environment, daraja_base_url, demo_base_url)?;
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
    let client = daraja::Client::new(daraja::Config::new(target, key, secret))?;
    let started = std::time::Instant::now();
    client.access_token().await?;
    Ok(started.elapsed())
}

/// Restores the backup `file` into the database of the till `mode` of `data_dir`, which nothing
/// else may have open: a running desktop app or another `duka` command is refused (`conflict`),
/// as are a file that is not a Duka database and one newer than this Duka, all with nothing
/// changed (`duka_core::backup::restore`, `Access::Exclusive`). The database as it was is kept
/// aside; the restored one is opened (migrated when older) before this returns. Restoring the
/// shop's till makes it the one the data directory runs (on a new machine, the restored shop
/// starts, not demo mode).
pub fn restore(
    data_dir: &std::path::Path,
    mode: Mode,
    file: &std::path::Path,
) -> Result<duka_core::backup::Restored> {
    let db = mode.db_path(data_dir);
    let done = duka_core::backup::restore(
        &db,
        file,
        duka_core::backup::Access::Exclusive,
        duka_core::time::now_ms(),
    )?;
    if mode == Mode::Shop {
        Mode::Shop.choose(data_dir)?;
    }
    Ok(done)
}

/// The till in `store` without its engine: everything but M-Pesa (the CLI's commands that
/// never talk to Daraja start no poller and no simulator).
pub fn offline(store: Store, mode: Mode) -> Result<duka_core::Till> {
    let env = |k: &str| std::env::var(k).ok();
    let settings = Settings::load(&store, &env, mode)?;
    Ok(duka_core::Till::offline(store, mode, settings))
}

#[cfg(test)]
mod code_tests {
    use super::*;

    #[test]
    fn every_code_is_its_own_string_and_no_two_crates_share_one() {
        let all = ErrorCode::all();
        for c in &all {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        let mut names: Vec<_> = all.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}

#[cfg(all(test, feature = "demo"))]
mod tests {
    use super::*;

    /// "Test connection" tells the manager which it is: a key M-Pesa refuses, or no way to
    /// M-Pesa at all.
    #[tokio::test]
    async fn a_refused_key_and_no_network_have_their_own_codes() {
        let sim = Sim::spawn(daraja_sim::SimConfig::default()).await.unwrap();
        let url = sim.base_url().to_string();
        let e = test_connection(Environment::Custom, Some(&url), None, "wrong", "wrong")
            .await
            .unwrap_err();
        assert_eq!(e.code(), "auth", "{e}");
        // A port nothing listens on: bound, then closed.
        let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", gone.local_addr().unwrap());
        drop(gone);
        let e = test_connection(Environment::Custom, Some(&dead), None, "k", "s")
            .await
            .unwrap_err();
        assert_eq!(e.code(), "not_sent", "{e}");
        let took = test_connection(
            Environment::Custom,
            Some(&url),
            None,
            &sim.config().consumer_key,
            &sim.config().consumer_secret,
        )
        .await
        .unwrap();
        assert!(took < Duration::from_secs(10));
    }
}
