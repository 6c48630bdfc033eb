//! Harness for Duka's end-to-end flows: runs the real `duka` binary against a real data
//! directory, one temporary directory per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub mod wait;
pub use wait::{eventually, eventually_async, fast_sim, fast_sim_prompt, phone};

/// Path of the `duka` binary of this workspace, built once if needed.
pub fn duka_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("duka-cli", "duka"))
}

/// Path of the `duka-relay` binary, built once if needed.
pub fn relay_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("duka-relay", "duka-relay"))
}

fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // A benchmark (target/release/deps/…) measures release binaries.
    let exe = std::env::current_exe().expect("current exe");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .is_some_and(|d| d.ends_with("release"));
    let mut args = vec!["build", "--quiet", "-p", package, "--bin", bin];
    if package == "duka-cli" {
        // The crash test's kill points exist only in a build with this feature.
        args.extend(["--features", "test-hooks"]);
    }
    if release {
        args.push("--release");
    }
    let status = Command::new(cargo)
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo build");
    assert!(status.success(), "building {bin} failed");
    // target/debug/deps/flows-xxxx -> target/debug/<bin>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} not found", path.display());
    path
}

/// One till's data directory and a way to run `duka` against it.
pub struct Till {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// The result of one run of `duka`.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "duka failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl Default for Till {
    fn default() -> Self {
        Till::new()
    }
}

impl Till {
    /// A new empty data directory. The secret store is the headless file backend, so tests
    /// never touch the keyring of the machine they run on.
    pub fn new() -> Till {
        Till {
            dir: tempfile::tempdir().expect("tempdir"),
            env: vec![("DUKA_SECRET_BACKEND".into(), "file".into())],
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database this till's commands use: the shop's, or demo mode's own (which one runs
    /// is decided as `duka` decides it, from this till's environment variables).
    pub fn db(&self) -> PathBuf {
        let env = |k: &str| {
            self.env
                .iter()
                .rev()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        };
        let creds = || {
            Ok(
                ["DUKA_CONSUMER_KEY", "DUKA_CONSUMER_SECRET", "DUKA_PASSKEY"]
                    .iter()
                    .all(|k| env(k).is_some()),
            )
        };
        duka_core::config::Mode::resolve(self.dir.path(), &env, &creds)
            .expect("which till")
            .db_path(self.dir.path())
    }

    pub fn with_env(mut self, k: &str, v: &str) -> Till {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let mut cmd = Command::new(duka_bin());
        cmd.arg("--data-dir").arg(self.dir.path()).args(args);
        for var in [
            "DUKA_DATA_DIR",
            "DUKA_ENVIRONMENT",
            "DUKA_SHORTCODE",
            "DUKA_CASHIER",
            "DUKA_CONSUMER_KEY",
            "DUKA_CONSUMER_SECRET",
            "DUKA_PASSKEY",
            "DUKA_PARTY_B",
            "DUKA_TILL_TYPE",
            "DUKA_RELAY_URL",
            "DUKA_DARAJA_BASE_URL",
            "DUKA_SHOP_NAME",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn duka");
        // duka may exit before reading its input (a refused argument): a broken pipe is fine.
        if let Err(e) = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
        {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing duka's stdin: {e}"
            );
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("wait duka");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Starts `duka ARGS` without waiting (for kill tests). Output is discarded.
    pub fn spawn(&self, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Child {
        let mut cmd = Command::new(duka_bin());
        cmd.arg("--data-dir").arg(self.dir.path()).args(args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.envs(extra_env.iter().copied());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn duka")
    }

    /// `duka --json ARGS`, which must succeed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).ok().json()
    }
}

/// An STK callback body as Daraja posts it; a success (`code` 0) carries its metadata.
pub fn stk_callback(
    checkout: &str,
    code: i64,
    amount: u64,
    receipt: &str,
    phone: &str,
) -> serde_json::Value {
    use serde_json::json;
    let mut cb = json!({"MerchantRequestID": "m-1", "CheckoutRequestID": checkout, "ResultCode": code, "ResultDesc": "x"});
    if code == 0 {
        cb["CallbackMetadata"] = json!({"Item": [
            {"Name": "Amount", "Value": amount as f64}, {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "TransactionDate", "Value": 20261123101010u64}, {"Name": "PhoneNumber", "Value": phone.parse::<u64>().unwrap()}]});
    }
    json!({"Body": {"stkCallback": cb}})
}

pub mod engine {
    //! An engine over a real SQLite file, talking to daraja-sim on 127.0.0.1:0, with a
    //! callback receiver that feeds `apply_callback` (the relay's job in production).

    use std::sync::Arc;

    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use daraja::{Client, Config, Environment, Payee};
    use daraja_sim::{Sim, SimConfig};
    use duka_core::engine::{Engine, EngineConfig, PollPolicy};
    use duka_core::sale::NewLine;
    use duka_core::secrets::Secret;
    use duka_core::{Money, Store};

    pub struct Rig {
        pub sim: Sim,
        pub engine: Engine,
        pub dir: tempfile::TempDir,
        pub callbacks_url: String,
    }

    /// Callbacks are delivered when `with_callbacks`; otherwise the placeholder URL reaches
    /// nobody and polling alone carries each payment.
    pub async fn rig(sim_cfg: SimConfig, poll: PollPolicy, with_callbacks: bool) -> Rig {
        rig_with(sim_cfg, poll, with_callbacks, false).await
    }

    /// `with_status`: Transaction Status fetches receipts, its results come to `/v1/status/…`.
    pub async fn rig_with(
        sim_cfg: SimConfig,
        poll: PollPolicy,
        with_callbacks: bool,
        with_status: bool,
    ) -> Rig {
        rig_full(sim_cfg, poll, with_callbacks, with_status, None).await
    }

    /// Short, so "sent but unanswered" can be tested with the simulator's slow_ms.
    pub const SHORT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

    /// With `relay`, callbacks go to the relay's signed URLs (and `with_callbacks` is ignored).
    pub async fn rig_full(
        sim_cfg: SimConfig,
        poll: PollPolicy,
        with_callbacks: bool,
        with_status: bool,
        relay: Option<&duka_relay_proto::Pairing>,
    ) -> Rig {
        rig_timeout(
            sim_cfg,
            poll,
            with_callbacks,
            with_status,
            relay,
            SHORT_TIMEOUT,
        )
        .await
    }

    /// `rig_full` with the Daraja client's request timeout.
    pub async fn rig_timeout(
        sim_cfg: SimConfig,
        poll: PollPolicy,
        with_callbacks: bool,
        with_status: bool,
        relay: Option<&duka_relay_proto::Pairing>,
        client_timeout: std::time::Duration,
    ) -> Rig {
        rig_grace(
            sim_cfg,
            poll,
            with_callbacks,
            with_status,
            relay,
            client_timeout,
            None,
        )
        .await
    }

    /// `rig_timeout` with the engine's in-flight grace set (`None`: derived from the client).
    pub async fn rig_grace(
        sim_cfg: SimConfig,
        poll: PollPolicy,
        with_callbacks: bool,
        with_status: bool,
        relay: Option<&duka_relay_proto::Pairing>,
        client_timeout: std::time::Duration,
        in_flight_grace: Option<std::time::Duration>,
    ) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        rig_in(
            dir,
            sim_cfg,
            poll,
            with_callbacks,
            with_status,
            relay,
            client_timeout,
            in_flight_grace,
        )
        .await
    }

    /// `rig_grace` with the database in `dir` (a small filesystem, for a full disk).
    #[allow(clippy::too_many_arguments)]
    pub async fn rig_in(
        dir: tempfile::TempDir,
        sim_cfg: SimConfig,
        poll: PollPolicy,
        with_callbacks: bool,
        with_status: bool,
        relay: Option<&duka_relay_proto::Pairing>,
        client_timeout: std::time::Duration,
        in_flight_grace: Option<std::time::Duration>,
    ) -> Rig {
        let sim = Sim::spawn(sim_cfg).await.unwrap();
        let mut store = Store::open(&dir.path().join("duka.db")).unwrap();
        // A database restored from the relay has its cashiers already.
        if store.cashier("Wanjiku").is_err() {
            store.add_cashier("Wanjiku", "cashier").unwrap();
        }
        let cfg = sim.config();
        let mut client_cfg = Config::new(
            Environment::Custom(sim.base_url().into()),
            &cfg.consumer_key,
            &cfg.consumer_secret,
        );
        client_cfg.request_timeout = client_timeout;
        let client = Client::new(client_cfg).unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callbacks_url = format!("http://{}/v1/cb", listener.local_addr().unwrap());
        let base = callbacks_url.clone();
        let status_base = callbacks_url.replace("/v1/cb", "/v1/status");
        let callback_url: Arc<dyn Fn(&str) -> String + Send + Sync> = if let Some(p) = relay {
            let (url, till, key) = (p.url.clone(), p.till.clone(), p.key_bytes());
            Arc::new(move |attempt: &str| {
                duka_relay_proto::stk_callback_url(&url, &till, &key, attempt)
            })
        } else if with_callbacks {
            Arc::new(move |attempt: &str| format!("{base}/{attempt}"))
        } else {
            Arc::new(EngineConfig::placeholder_callback)
        };
        let engine = Engine::start(
            store,
            client,
            EngineConfig {
                shortcode: "174379".into(),
                passkey: Secret::new(daraja_sim::config::SANDBOX_PASSKEY),
                payee: Payee::Paybill,
                callback_url,
                poll,
                in_flight_grace,
                status: with_status.then(|| duka_core::engine::StatusConfig {
                    initiator: "testapi".into(),
                    security_credential: Secret::new(
                        daraja::security::security_credential(
                            "Safaricom999!*!",
                            daraja_sim::TEST_INITIATOR_CERT,
                        )
                        .unwrap(),
                    ),
                    result_url: {
                        let base = status_base.clone();
                        Arc::new(move |attempt: &str| format!("{base}/{attempt}"))
                    },
                    reversal_url: {
                        let base = status_base.replace("/v1/status", "/v1/reversal");
                        Arc::new(move |refund: &str| format!("{base}/{refund}"))
                    },
                }),
            },
        );
        let app = axum::Router::new()
            .route(
                "/v1/cb/{attempt}",
                axum::routing::post(
                    |State(e): State<Engine>, Path(attempt): Path<String>, body: Bytes| async move {
                        // Like the relay: acknowledge whatever happens; a bad body is logged.
                        let _ = e.apply_callback(&body, Some(&attempt), "callback");
                        axum::Json(serde_json::json!({"ResultCode": 0, "ResultDesc": "Accepted"}))
                    },
                ),
            )
            .route(
                "/v1/reversal/{refund}",
                axum::routing::post(
                    |State(e): State<Engine>, Path(refund): Path<String>, body: Bytes| async move {
                        let _ = e.apply_reversal_result(&body, Some(&refund), "callback");
                        axum::Json(serde_json::json!({"ResultCode": 0, "ResultDesc": "Accepted"}))
                    },
                ),
            )
            .route(
                "/v1/status/{attempt}",
                axum::routing::post(
                    |State(e): State<Engine>, Path(attempt): Path<String>, body: Bytes| async move {
                        let _ = e.apply_status_result(&body, Some(&attempt));
                        axum::Json(serde_json::json!({"ResultCode": 0, "ResultDesc": "Accepted"}))
                    },
                ),
            )
            .with_state(engine.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Rig {
            sim,
            engine,
            dir,
            callbacks_url,
        }
    }

    impl Rig {
        /// Charges `amount` shillings of `sale` on `phone` and waits (up to 10 s) until the
        /// attempt is final or unknown.
        pub async fn charge_settled(
            &self,
            sale: i64,
            phone: &str,
            amount: i64,
        ) -> duka_core::store::Attempt {
            let a = self
                .engine
                .charge(sale, &crate::phone(phone), amount, "Wanjiku")
                .await
                .unwrap();
            self.engine
                .wait_settled(&a.id, std::time::Duration::from_secs(10))
                .await
                .unwrap()
        }

        /// `n` attempts of 50 shillings on new sales, already `pending` (their pushes are not
        /// the point): `(attempt id, CheckoutRequestID, phone)` each.
        pub fn pending_attempts(
            &self,
            n: usize,
            phone_prefix: &str,
            tag: &str,
        ) -> Vec<(String, String, String)> {
            (0..n)
                .map(|i| {
                    let sale = self.sale(50);
                    let phone = format!("{phone_prefix}{i:07}");
                    let msisdn = duka_core::Msisdn::parse(&phone).unwrap();
                    let a = self
                        .db()
                        .create_attempt(sale, &msisdn, 50, "Wanjiku")
                        .unwrap();
                    let checkout = format!("ws_CO_{tag}{i}");
                    let accepted = duka_core::payment::PaymentEvent::PushAccepted {
                        checkout_id: checkout.clone(),
                    };
                    self.db()
                        .apply_event(&a.id, &accepted, "engine", None)
                        .unwrap();
                    (a.id, checkout, phone)
                })
                .collect()
        }

        /// A connection of the test's own to the till's database: what it reads is what is on
        /// disk (the engine keeps its store to itself).
        pub fn db(&self) -> Store {
            Store::open(&self.dir.path().join("duka.db")).unwrap()
        }

        pub fn sale(&self, shillings: i64) -> i64 {
            self.db()
                .create_sale(
                    "Wanjiku",
                    &[
                        NewLine::free("Sugar 1kg", Money::from_shillings(shillings).unwrap(), 1)
                            .unwrap(),
                    ],
                )
                .unwrap()
                .id
        }
    }
}

pub mod relay {
    //! A duka-relay in-process on 127.0.0.1:0 and tills paired with it, on SQLite, or on a
    //! fresh PostgreSQL database of its own when `DUKA_TEST_POSTGRES` names a server (see
    //! `duka_relay::testing`).

    use std::future::Future;
    use std::sync::Arc;

    use duka_relay::testing::TestStore;
    use duka_relay::{Config, Relay, Store};
    use duka_relay_proto::Pairing;

    pub struct RunningRelay {
        pub url: String,
        pub relay: RelayHandle,
        pub dir: tempfile::TempDir,
        /// The store's backend (keeps a PostgreSQL test database alive while the relay is).
        pub store: TestStore,
    }

    /// The relay, as tests use it: everything of [`Relay`] (it derefs to it), and `store()`
    /// with the reads and admin writes answering at once, for `eventually` conditions.
    #[derive(Clone)]
    pub struct RelayHandle(pub Arc<Relay>);

    impl std::ops::Deref for RelayHandle {
        type Target = Relay;
        fn deref(&self) -> &Relay {
            &self.0
        }
    }

    impl RelayHandle {
        pub fn store(&self) -> Blocking<'_> {
            Blocking(self.0.store())
        }
    }

    /// Runs `f` to completion from synchronous code inside the test's (multi-thread) runtime.
    pub fn block<F: Future>(f: F) -> F::Output {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
    }

    /// The relay's store with its reads and admin writes made synchronous (each awaited on
    /// the spot); the writes the relay itself makes stay async.
    pub struct Blocking<'a>(pub &'a Store);

    impl Blocking<'_> {
        pub fn unacked(&self, till: &str) -> duka_relay::Result<u64> {
            block(self.0.unacked(till))
        }
        pub fn shop(
            &self,
            id_or_name: &str,
        ) -> duka_relay::Result<Option<duka_relay::store::Shop>> {
            block(self.0.shop(id_or_name))
        }
        pub fn till(&self, id: &str) -> duka_relay::Result<Option<duka_relay::store::Till>> {
            block(self.0.till(id))
        }
        pub fn pending(
            &self,
            till: &str,
            after: u64,
            limit: usize,
        ) -> duka_relay::Result<Vec<duka_relay::store::Stored>> {
            block(self.0.pending(till, after, limit))
        }
        pub fn claim_owner(
            &self,
            shop: &str,
            key: &str,
        ) -> duka_relay::Result<Option<(String, String)>> {
            block(self.0.claim_owner(shop, key))
        }
        pub fn held_for_shop(&self, shop: &str) -> duka_relay::Result<u64> {
            block(self.0.held_for_shop(shop))
        }
        pub fn revoke_till(&self, id: &str) -> duka_relay::Result<bool> {
            block(self.0.revoke_till(id))
        }
        pub fn set_c2b_default(&self, shop: &str, default: &str) -> duka_relay::Result<()> {
            block(self.0.set_c2b_default(shop, default))
        }
        pub fn add_till(
            &self,
            shop: &str,
            name: &str,
        ) -> duka_relay::Result<duka_relay::store::Till> {
            block(self.0.add_till(shop, name))
        }
        pub async fn insert(
            &self,
            tills: Vec<String>,
            kind: duka_relay_proto::Kind,
            attempt_id: Option<String>,
            body: Arc<str>,
        ) -> duka_relay::Result<Vec<duka_relay::store::Stored>> {
            self.0.insert(tills, kind, attempt_id, body).await
        }
    }

    pub async fn start() -> RunningRelay {
        start_with(|cfg| cfg.rate_limit_per_ip = None).await
    }

    /// A relay with its configuration adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> RunningRelay {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path().to_path_buf());
        adjust(&mut cfg);
        let store = TestStore::new(dir.path()).await;
        cfg.database = store.url().map(str::to_string);
        let relay = Relay::new(store.store.clone(), cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(duka_relay::serve(
            listener,
            std::future::pending(),
            relay.clone(),
        ));
        RunningRelay {
            url,
            relay: RelayHandle(relay),
            dir,
            store,
        }
    }

    impl RunningRelay {
        pub fn pair(&self, shop: &str, name: &str) -> Pairing {
            let t = self.relay.store().add_till(shop, name).unwrap();
            Pairing {
                url: self.url.clone(),
                shop: t.shop_id,
                till: t.id,
                key: hex_encode(&t.key),
            }
        }
    }

    /// A free port on 127.0.0.1 (for a relay process that must come back on the same one).
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Starts the `duka-relay` binary on `127.0.0.1:port` with extra `serve` arguments, and
    /// returns once it prints that it listens (no sleeping), with that line.
    pub fn spawn_process(
        dir: &std::path::Path,
        port: u16,
        extra: &[&str],
    ) -> (std::process::Child, String) {
        use std::io::BufRead;
        let mut child = std::process::Command::new(crate::relay_bin())
            .args([
                "--data-dir",
                dir.to_str().unwrap(),
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(extra)
            // DUKA_TEST_RELAY_LOG=debug (a filter) shows the processes' logs on stderr.
            .env(
                "RUST_LOG",
                std::env::var("DUKA_TEST_RELAY_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(if std::env::var_os("DUKA_TEST_RELAY_LOG").is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        assert!(line.contains("listening"), "{line}");
        if std::env::var_os("DUKA_TEST_RELAY_LOG").is_some() {
            std::thread::spawn(move || {
                for l in out.lines().map_while(Result::ok) {
                    eprintln!("[relay :{port}] {l}");
                }
            });
        }
        (child, line)
    }

    /// A data directory and a store (SQLite there, or a fresh PostgreSQL database) for relay
    /// processes: the binary, started with `--database` when on PostgreSQL.
    pub struct ProcessStore {
        pub dir: tempfile::TempDir,
        pub store: TestStore,
    }

    impl ProcessStore {
        pub async fn new() -> ProcessStore {
            let dir = tempfile::tempdir().unwrap();
            let store = TestStore::new(dir.path()).await;
            ProcessStore { dir, store }
        }

        /// SQLite in a fresh directory, whatever the environment says.
        pub fn sqlite() -> ProcessStore {
            let dir = tempfile::tempdir().unwrap();
            let store = TestStore::sqlite(dir.path());
            ProcessStore { dir, store }
        }

        /// `duka-relay till add` run as the operator runs it; the pairing string it printed.
        pub fn till_add(&self, shop: &str, name: &str, url: &str) -> Pairing {
            let out = std::process::Command::new(crate::relay_bin())
                .arg("--data-dir")
                .arg(self.dir.path())
                .args(self.store.process_args())
                .args(["till", "add", "--shop", shop, "--name", name, "--url", url])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "till add: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = String::from_utf8(out.stdout).unwrap();
            Pairing::decode(out.lines().last().unwrap()).unwrap()
        }

        /// `spawn_process` on this store.
        pub fn spawn(&self, port: u16, extra: &[&str]) -> (std::process::Child, String) {
            let db = self.store.process_args();
            let mut args: Vec<&str> = db.iter().map(String::as_str).collect();
            args.extend_from_slice(extra);
            spawn_process(self.dir.path(), port, &args)
        }
    }

    /// A TCP front for relay processes, as a load balancer: each connection goes to the first
    /// of `backends` that accepts it, bytes copied both ways until either side closes.
    pub async fn front(backends: Vec<std::net::SocketAddr>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let backends = Arc::new(backends);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let backends = backends.clone();
                tokio::spawn(async move {
                    for b in backends.iter() {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(b).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn hex_encode(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}

pub mod disk {
    //! A small real filesystem (tmpfs, mounted for the test) that can be filled up: the full
    //! disk a till meets. Needs root (as CI runs); unmounted when dropped.

    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    pub struct SmallDisk {
        root: tempfile::TempDir,
    }

    impl SmallDisk {
        /// A tmpfs of `size` (e.g. "4m").
        pub fn mount(size: &str) -> SmallDisk {
            let root = tempfile::tempdir().expect("tempdir");
            let ok = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(root.path())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                ok,
                "mounting a {size} tmpfs for the full-disk test failed: it needs root (CI runs as root)"
            );
            SmallDisk { root }
        }

        pub fn path(&self) -> &Path {
            self.root.path()
        }

        /// Fills the disk to the last byte; returns the filler (delete it to free space).
        pub fn fill(&self) -> PathBuf {
            let path = self.root.path().join("filler");
            let mut f = std::fs::File::create(&path).expect("filler");
            for chunk in [1 << 20, 1 << 12, 1] {
                let buf = vec![0u8; chunk];
                while f.write_all(&buf).is_ok() {}
            }
            let _ = f.sync_all();
            path
        }
    }

    impl Drop for SmallDisk {
        fn drop(&mut self) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.root.path())
                .status();
        }
    }
}
