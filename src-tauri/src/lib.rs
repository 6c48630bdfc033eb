//! # duka-desktop
//!
//! The desktop app: a thin Tauri 2 shell over duka-core.
//!
//! # Layout
//! - this file — startup (one core handle, demo mode's simulator, resume of open attempts), the
//!   task that forwards `CoreEvent`s to the UI as `core-event`, the command list.
//! - `commands/` — one file per domain; each command is a short wrapper over duka-core.
//! - `error` — `{code, message}` for the UI.

pub mod commands;
pub mod error;

use std::path::{Path, PathBuf};

use tauri::{Emitter, Manager};

pub use error::{Result, UiError};

/// The one core handle the app manages.
pub struct Duka {
    pub running: duka_app::Running,
    pub data_dir: PathBuf,
}

impl Duka {
    pub fn engine(&self) -> &duka_core::engine::Engine {
        &self.running.engine
    }
}

/// Opens (creating if needed) the till in `data_dir` and starts it. In demo mode the simulated
/// customers wait for the phone panel (approve, cancel) or time out, like real ones.
pub async fn start(data_dir: &Path, secret_backend: &str) -> Result<Duka> {
    std::fs::create_dir_all(data_dir).map_err(|e| UiError {
        code: "io".into(),
        message: format!("{}: {e}", data_dir.display()),
    })?;
    let mut store = duka_core::Store::open(&duka_core::config::db_path(data_dir))?;
    if store.cashiers()?.is_empty() {
        store.add_cashier("Owner", "manager")?;
    }
    let opts = duka_app::Options {
        demo_customer: daraja_sim::Behaviour::Interactive,
    };
    let running = duka_app::start(store, data_dir, secret_backend, opts).await?;
    // Whatever a crash or a power cut left open is settled in the background.
    running.engine.resume();
    Ok(Duka {
        running,
        data_dir: data_dir.to_path_buf(),
    })
}

/// Forwards every core event to the UI.
pub fn forward_events<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    engine: &duka_core::engine::Engine,
) {
    let mut rx = engine.subscribe();
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

fn data_dir() -> PathBuf {
    let explicit = std::env::var_os("DUKA_DATA_DIR").map(PathBuf::from);
    duka_core::config::data_dir(explicit.as_deref()).unwrap_or_else(|_| PathBuf::from("duka-data"))
}

/// Registers every command; used by `run` and by the tests.
pub fn with_commands<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::sales::products,
        commands::sales::create_sale,
        commands::sales::get_sale,
        commands::sales::pay_cash,
        commands::sales::pay_code,
        commands::payments::check_phone,
        commands::payments::charge,
        commands::payments::attempts,
        commands::payments::resend,
        commands::payments::reconcile,
        commands::reports::day_report,
        commands::reports::export_csv,
        commands::phone::demo_prompts,
        commands::phone::demo_answer,
        commands::system::health,
        commands::system::cashiers,
        commands::system::result_codes,
    ])
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
            let duka = tauri::async_runtime::block_on(start(&data_dir(), &backend))
                .map_err(|e| e.message)?;
            forward_events(app.handle(), duka.engine());
            app.manage(duka);
            Ok(())
        });
    with_commands(builder)
        .run(tauri::generate_context!())
        .expect("error while running Duka");
}
