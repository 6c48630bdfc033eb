//! # daraja
//!
//! Safaricom M-Pesa Daraja: wire types and an async client. Knows nothing of sales; Duka's
//! core uses it, and `daraja-sim` stands in for Safaricom in tests and demo mode.
//!
//! # Layout
//! - [`wire`] — request, response, callback and result bodies, parsed leniently.
//! - [`client`] — OAuth (single-flight token cache), STK push and query, C2B register,
//!   Transaction Status.
//! - [`codes`] — STK ResultCodes: final / retry / pending, with English and Swahili messages.
//! - [`validate`] — checks made before sending; the one-timestamp password rule.
//! - [`error`] — one error type that says what to do next, with stable codes.

pub mod client;
pub mod codes;
pub mod error;
pub mod security;
pub mod validate;
pub mod wire;

pub use client::{
    C2bVersion, Client, Config, Environment, Payee, QueryStatus, StkPush, TokenStore, mask,
    mask_checkout, redact_digits,
};
pub use error::{Error, ErrorCode, Result};
