//! One module per domain. Each handler parses what was typed, calls the Till service (the
//! offline till in `Ctx`, or the running one from `pay::with_running`), and renders the result
//! (`render`, or JSON with `--json`).

pub mod backup;
pub mod catalog;
pub mod day;
pub mod payments;
pub mod relay;
pub mod reports;
pub mod sales;
pub mod setup;
pub mod staff;
