//! Commands, one file per domain. Each is a short wrapper over duka-core.

pub mod payments;
pub mod phone;
pub mod reports;
pub mod sales;
pub mod system;
