//! What the UI receives when a command fails: `{code, message}`. Never a secret.

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UiError {
    pub code: String,
    pub message: String,
}

impl UiError {
    pub fn new(code: &str, message: impl Into<String>) -> UiError {
        UiError {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<duka_core::Error> for UiError {
    fn from(e: duka_core::Error) -> Self {
        UiError {
            code: e.code().into(),
            message: e.to_string(),
        }
    }
}

impl From<duka_app::Error> for UiError {
    fn from(e: duka_app::Error) -> Self {
        UiError {
            code: e.code().into(),
            message: e.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, UiError>;
