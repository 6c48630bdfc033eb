//! End-to-end flows of Duka over the real `duka` binary and a real SQLite file.
//!
//! # Contents
//! - `cli` — init, catalog, sales, tenders, reports and export, across restarts.
//! - `bad_input` — clear errors and nothing half written.
//! - `crash` — kill -9 `duka charge` at many points, reconcile, nothing lost or doubled.
//! - `engine` — the payment engine against daraja-sim: customers, faults, 200 at once.
//! - `relay` — daraja-sim → duka-relay → till: delivery, offline backlog, forgeries, C2B fan-out.
//! - `relay_pg` — several relay processes on one PostgreSQL: across processes, failover, claims.
//! - `secrets` — credentials never reach SQLite or output.
//! - `shop` — several tills, one shop: records synced, the shop's day, a wiped till restored.
//! - `trust` — people, odd networks and forged input cannot lose, double or fake a payment.

mod bad_input;
mod cli;
mod crash;
mod engine;
mod relay;
mod relay_pg;
mod secrets;
mod shop;
mod trust;
