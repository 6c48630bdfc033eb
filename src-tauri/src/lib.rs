//! # duka-desktop
//!
//! The desktop app: a thin Tauri 2 shell over duka-core.
//!
//! # Layout
//! - this file — startup (one core handle, demo mode's simulator, resume of open attempts), the
//!   task that forwards `CoreEvent`s to the UI as `core-event`, the command list.
//! - `commands/` — one file per domain; each command is a short wrapper over duka-core.
//! - `error` — `{code, message}` for the UI.

#[cfg(test)]
mod bindings;
pub mod commands;
pub mod error;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use duka_core::secrets::SecretStore;
use duka_core::store::Cashier;

use tauri::{Emitter, Manager};

pub use error::{Result, UiError};

/// The one core handle the app manages: the running till (replaced whole when the manager
/// changes settings), the secret store and who is signed in.
pub struct Duka {
    running: RwLock<Arc<duka_app::Running>>,
    pub data_dir: PathBuf,
    /// Where CSV exports and saved receipts go (see `commands::export_dir`).
    pub export_dir: PathBuf,
    pub secrets: Arc<dyn SecretStore>,
    /// Who is signed in, and on which till (demo mode's staff are not the shop's).
    session: Mutex<Option<(duka_core::config::Mode, Cashier)>>,
}

impl Duka {
    pub fn running(&self) -> Arc<duka_app::Running> {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Who is signed in; every till command needs one.
    pub fn cashier(&self) -> Result<Cashier> {
        let till = self.running().mode();
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            // A session of the other till (a sign-in that raced a switch) is no session.
            .filter(|(t, _)| *t == till)
            .map(|(_, c)| c)
            .ok_or_else(UiError::signed_out)
    }

    /// The signed-in manager; settings, staff and reports need one.
    pub fn manager(&self) -> Result<Cashier> {
        let c = self.cashier()?;
        if c.role == "manager" {
            Ok(c)
        } else {
            Err(UiError::denied(format!(
                "{} is not a manager; a manager must sign in",
                c.name
            )))
        }
    }

    /// Wrong PINs are counted per staff member in the till's database (`Store::sign_in`): the
    /// lock survives a restart and holds in every window and process.
    /// argon2 runs off the UI thread.
    pub async fn sign_in(&self, name: String, pin: String) -> Result<Cashier> {
        let running = self.running();
        let till = running.clone();
        let c = tauri::async_runtime::spawn_blocking(move || till.sign_in(&name, &pin))
            .await
            .map_err(UiError::internal)??;
        self.start_session(running.mode(), c.clone());
        Ok(c)
    }

    /// First run: creates the manager and signs them in (off the UI thread, like sign-in).
    pub async fn setup_manager(&self, name: String, pin: String) -> Result<Cashier> {
        let running = self.running();
        let till = running.clone();
        let c = tauri::async_runtime::spawn_blocking(move || till.setup_manager(&name, &pin))
            .await
            .map_err(UiError::internal)??;
        self.start_session(running.mode(), c.clone());
        Ok(c)
    }

    fn start_session(&self, mode: duka_core::config::Mode, c: Cashier) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some((mode, c));
    }

    pub fn sign_out(&self) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// After a settings save: restarts the till with them, or starts the other till it
    /// switched to. A switch that cannot start leaves the old till serving, and the choice of
    /// till back as it was, so the next start does not open the other one either.
    pub async fn restart_after(
        &self,
        outcome: duka_app::settings::Outcome,
    ) -> Result<Arc<duka_app::Running>> {
        match (self.restart().await, outcome) {
            (Ok(r), _) => Ok(r),
            (Err(e), duka_app::settings::Outcome::Switched { .. }) => {
                self.running().mode().choose(&self.data_dir)?;
                Err(e)
            }
            (Err(e), duka_app::settings::Outcome::Saved) => Err(e),
        }
    }

    /// Starts the till again from its stored settings and secrets (after the manager saved
    /// settings). Open attempts carry over: the new engine resumes them.
    pub async fn restart(&self) -> Result<Arc<duka_app::Running>> {
        // An answer from M-Pesa that the full disk has not taken yet lives in this engine's
        // memory only: it is not replaced until the answer is saved.
        let unsaved = self.running().unsaved_answers();
        if unsaved > 0 {
            return Err(UiError::disk_full(format!(
                "{unsaved} M-Pesa answer(s) are waiting for disk space to be saved: free space on the till's disk first, then save again"
            )));
        }
        // The new till starts first: if it cannot (a bad setting slipped through, a port in
        // use), the old one keeps serving the cashier and the error says why.
        let (store, till) = duka_app::open_till(&self.data_dir, self.secrets.as_ref())?;
        let running = Arc::new(start_running(store, till, self.secrets.clone()).await?);
        // Looked at again now that the new till is ready: an answer that met the full disk
        // while it started is still only in the old engine's memory.
        if self.running().unsaved_answers() > 0 {
            running.stop();
            return Err(UiError::disk_full(
                "an M-Pesa answer is waiting for disk space to be saved: free space on the till's disk first, then save again",
            ));
        }
        if running.mode() != self.running().mode() {
            // Another database: whoever signed in belongs to the other till's staff.
            self.sign_out();
        }
        let old = std::mem::replace(
            &mut *self.running.write().unwrap_or_else(|e| e.into_inner()),
            running.clone(),
        );
        old.stop();
        // Only now: whatever the old engine left open (a charge it was following) is settled
        // by the new one.
        running.resume();
        Ok(running)
    }
}

async fn start_running(
    store: duka_core::Store,
    till: duka_core::config::Mode,
    secrets: Arc<dyn SecretStore>,
) -> Result<duka_app::Running> {
    let opts = duka_app::Options {
        demo_customer: duka_app::DemoCustomer::Interactive,
    };
    // The caller resumes open attempts once this till is the only one running.
    let running = duka_app::start_with_secrets(store, till, secrets, opts).await?;
    if till == duka_core::config::Mode::Demo {
        // A newcomer finds staff with PINs shown on the sign-in screen and a few products, in
        // demo mode's own database: the shop's till never has them.
        running.seed_demo()?;
    }
    Ok(running)
}

/// Opens (creating if needed) the till in `data_dir` and starts it. In demo mode the simulated
/// customers wait for the phone panel (approve, cancel) or time out, like real ones.
pub async fn start(data_dir: &Path, secret_backend: &str) -> Result<Duka> {
    std::fs::create_dir_all(data_dir).map_err(|e| UiError::io(data_dir, e))?;
    let secrets = duka_core::secrets::open(secret_backend, data_dir)?;
    start_with_secrets(data_dir, secrets.into()).await
}

/// `start` with a secret store of the caller's (tests use a memory store they filled).
pub async fn start_with_secrets(data_dir: &Path, secrets: Arc<dyn SecretStore>) -> Result<Duka> {
    let (store, till) = duka_app::open_till(data_dir, secrets.as_ref())?;
    let running = start_running(store, till, secrets.clone()).await?;
    // Whatever a crash or a power cut left open is settled in the background.
    running.resume();
    Ok(Duka {
        running: RwLock::new(Arc::new(running)),
        data_dir: data_dir.to_path_buf(),
        export_dir: commands::export_dir(data_dir),
        secrets,
        session: Mutex::new(None),
    })
}

/// Forwards every core event of this till to the UI (until the till is replaced).
pub fn forward_events<R: tauri::Runtime>(app: &tauri::AppHandle<R>, till: &duka_core::Till) {
    let mut rx = till.subscribe();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    let _ = app.emit("core-event", &event);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("the UI missed {n} core events");
                }
                Err(_) => return,
            }
        }
    });
}

/// `--data-dir DIR` on the command line, else `DUKA_DATA_DIR`, else the platform's data
/// directory (a till run from a USB stick, or a test with a directory of its own).
fn data_dir() -> PathBuf {
    let mut args = std::env::args_os().skip(1);
    let from_args = std::iter::from_fn(|| args.next())
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--data-dir")
        .map(|w| PathBuf::from(&w[1]));
    let explicit = from_args.or_else(|| std::env::var_os("DUKA_DATA_DIR").map(PathBuf::from));
    duka_core::config::data_dir(explicit.as_deref()).unwrap_or_else(|_| PathBuf::from("duka-data"))
}

/// Registers every command; used by `run` and by the tests.
pub fn with_commands<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::auth::sign_in_options,
        commands::auth::sign_in,
        commands::auth::sign_out,
        commands::auth::session,
        commands::auth::setup_manager,
        commands::sales::products,
        commands::sales::recent_sales,
        commands::sales::create_sale,
        commands::sales::get_sale,
        commands::sales::void_sale,
        commands::sales::park_sale,
        commands::sales::recall_sale,
        commands::sales::parked_sales,
        commands::sales::add_line,
        commands::sales::remove_line,
        commands::sales::set_quantity,
        commands::sales::pay_cash,
        commands::sales::pay_code,
        commands::payments::check_phone,
        commands::payments::charge,
        commands::payments::attempts,
        commands::payments::resend,
        commands::payments::reconcile,
        commands::payments::incoming,
        commands::payments::attach_incoming,
        commands::receipts::get_receipt,
        commands::receipts::print_receipt,
        commands::receipts::save_receipt_pdf,
        commands::day::current_shift,
        commands::day::open_shift,
        commands::day::close_shift,
        commands::day::z_report,
        commands::day::day_close,
        commands::day::drawer_move,
        commands::day::discount,
        commands::day::refund,
        commands::day::refunds_of,
        commands::day::settle_reversal,
        commands::day::confirm_refund,
        commands::day::low_stock,
        commands::day::track_stock,
        commands::day::count_stock,
        commands::day::stock_moves,
        commands::day::slip_text,
        commands::day::print_slip,
        commands::day::save_slip_pdf,
        commands::reports::day_report,
        commands::reports::shop_day,
        commands::backup::restore_from_relay,
        commands::reports::export_csv,
        commands::reports::problem_attempts,
        commands::reports::lost_claims,
        commands::reports::receipts_used_elsewhere,
        commands::settings::get_settings,
        commands::settings::save_settings,
        commands::settings::test_connection,
        commands::settings::test_push,
        commands::settings::check_settings,
        commands::settings::staff,
        commands::settings::add_staff,
        commands::settings::set_staff_pin,
        commands::settings::unlock_staff,
        commands::backup::backup_now,
        commands::backup::backups,
        commands::backup::restore_backup,
        commands::phone::demo_prompts,
        commands::phone::demo_answer,
        commands::system::health,
        commands::system::result_codes,
        commands::system::ui_ready,
    ])
}

/// A till screen needs no GPU compositing, WebGL or back/forward cache: without them WebKitGTK
/// keeps far less memory (measured in `benches/desktop.rs`), and it draws the same.
fn lean_webview<R: tauri::Runtime>(w: &tauri::WebviewWindow<R>) {
    #[cfg(target_os = "linux")]
    let _ = w.with_webview(|wv| {
        use webkit2gtk::{
            CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
        };
        let view = wv.inner();
        if let Some(s) = WebViewExt::settings(&view) {
            // Without compositing the web process keeps ~95 MB less (PSS 123 vs 217 MB idle).
            // WebKitWebDriver's screenshots then never answer: the E2E suite reads Xvfb's
            // framebuffer instead.
            s.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            s.set_enable_webgl(false);
            s.set_enable_page_cache(false);
        }
        if let Some(ctx) = view.context() {
            ctx.set_cache_model(CacheModel::DocumentViewer);
        }
    });
    #[cfg(not(target_os = "linux"))]
    let _ = w;
}

pub fn run() {
    let builder = tauri::Builder::default()
        // One Duka per machine: a second launch brings the running window forward instead of
        // opening the same database twice.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.unminimize();
                let _ = w.set_focus();
            }
        }))
        // The window comes back where and how big the cashier left it.
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .setup(|app| {
            let backend = std::env::var("DUKA_SECRET_BACKEND").unwrap_or_else(|_| "auto".into());
            let dir = data_dir();
            // Rotated, redacted log files in the data directory (see `duka_app::logs`).
            if let Err(e) = duka_app::logs::init(
                &dir,
                "duka.log",
                duka_app::logs::stored_level(&dir).as_deref(),
            ) {
                eprintln!("duka: no log file in {}: {e}", dir.display());
            }
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "Duka starting");
            let duka = tauri::async_runtime::block_on(start(&dir, &backend)).map_err(|e| {
                tracing::error!("Duka did not start: {}", e.message);
                e.message
            })?;
            forward_events(app.handle(), &duka.running());
            app.manage(duka);
            if let Some(w) = app.get_webview_window("main") {
                lean_webview(&w);
            }
            Ok(())
        });
    with_commands(builder)
        .run(tauri::generate_context!())
        .expect("error while running Duka");
}
