//! # duka-core
//!
//! Everything a Duka till does, with no user interface: the desktop shell (`src-tauri`) and
//! the `duka` CLI are thin layers over this crate.
//!
//! # Layout
//! - [`money`] — KES as integer cents; parsing and `KES 1,250.00` formatting.
//! - [`phone`] — Kenyan MSISDN normalisation and masking.
//! - [`time`] — UTC storage, Africa/Nairobi days and Daraja timestamps.
//! - [`catalog`] — products and the CSV price list.
//! - [`sale`] — sales, lines, tenders, change.
//! - [`receipt`] — receipts as text, ESC/POS bytes and PDF; printing over TCP.
//! - [`payment`] — the pure payment state machine `transition(state, event)`.
//! - [`engine`] — charge, poll, callbacks, reconcile; `CoreEvent`s for the UI.
//! - [`store`] — the SQLite store: migrations, sales, attempts with their event log, reports.
//! - [`till`] — the Till service: every operation a shell needs (sales, payments, staff,
//!   reports, receipts, settings); shells never touch the store.
//! - [`backup`] — copies of the database (SQLite's online backup API), keeping the last N,
//!   and restoring one.
//! - [`relay`] — the till's websocket to duka-relay: resume, apply, ack after commit.
//! - [`secrets`] — `SecretStore`: OS keyring, headless file fallback, memory for tests.
//! - [`config`] — data directory, settings (environment wins), credentials.
//! - [`error`] — the crate's one error type, with stable codes.

pub mod backup;
pub mod catalog;
pub mod config;
pub mod discount;
pub mod engine;
pub mod error;
pub mod money;
pub mod payment;
pub mod phone;
pub mod receipt;
pub mod refund;
pub mod relay;
pub mod sale;
pub mod secrets;
pub mod shop;
pub mod store;
pub mod till;
pub mod time;

pub use error::{Error, ErrorCode, Result};
pub use money::Money;
pub use phone::Msisdn;
pub use store::Store;
pub use till::Till;
