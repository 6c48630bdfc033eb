//! What the UI receives when a command fails: `{code, message}`. Never a secret. The codes
//! are one enum (`duka_app::ErrorCode`), and the UI's TypeScript union is generated from it.

use duka_app::{AppCode, ErrorCode};
use duka_core::ErrorCode as Core;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct UiError {
    pub code: ErrorCode,
    pub message: String,
}

impl UiError {
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> UiError {
        UiError {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn signed_out() -> UiError {
        UiError::new(AppCode::SignedOut, "sign in first")
    }

    pub fn internal(e: impl std::fmt::Display) -> UiError {
        UiError::new(AppCode::Internal, e.to_string())
    }

    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> UiError {
        UiError::new(Core::Io, format!("{}: {e}", path.display()))
    }

    pub fn denied(message: impl Into<String>) -> UiError {
        UiError::new(Core::Denied, message)
    }

    pub fn disk_full(message: impl Into<String>) -> UiError {
        UiError::new(Core::DiskFull, message)
    }
}

impl From<duka_core::Error> for UiError {
    fn from(e: duka_core::Error) -> Self {
        UiError::new(e.error_code(), e.to_string())
    }
}

impl From<duka_app::Error> for UiError {
    fn from(e: duka_app::Error) -> Self {
        UiError::new(e.error_code(), e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, UiError>;
