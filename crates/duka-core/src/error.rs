//! The one error type of duka-core. Every variant has a stable `code()` that the CLI, the
//! desktop UI (`{code, message}`) and scripts can match on; messages are for people.

use std::path::PathBuf;

/// A row of a file that could not be read (CSV import), with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

/// Every code `Error::code` gives. Never change one once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(rename = "CoreErrorCode")]
pub enum ErrorCode {
    InvalidInput,
    NotFound,
    Conflict,
    BadTransition,
    BadFile,
    DbNotDuka,
    DbSchemaTooNew,
    DiskFull,
    ReadOnly,
    Database,
    Io,
    SecretStore,
    Config,
    Printer,
    NoPrinter,
    Denied,
    /// A cashier may not do this alone: a manager's PIN approves it (a discount above the
    /// limit).
    NeedsApproval,
    Locked,
    Forged,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidInput,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::BadTransition,
        ErrorCode::BadFile,
        ErrorCode::DbNotDuka,
        ErrorCode::DbSchemaTooNew,
        ErrorCode::DiskFull,
        ErrorCode::ReadOnly,
        ErrorCode::Database,
        ErrorCode::Io,
        ErrorCode::SecretStore,
        ErrorCode::Config,
        ErrorCode::Printer,
        ErrorCode::NoPrinter,
        ErrorCode::Denied,
        ErrorCode::NeedsApproval,
        ErrorCode::Locked,
        ErrorCode::Forged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::BadTransition => "bad_transition",
            ErrorCode::BadFile => "bad_file",
            ErrorCode::DbNotDuka => "db_not_duka",
            ErrorCode::DbSchemaTooNew => "db_schema_too_new",
            ErrorCode::DiskFull => "disk_full",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::Database => "database",
            ErrorCode::Io => "io",
            ErrorCode::SecretStore => "secret_store",
            ErrorCode::Config => "config",
            ErrorCode::Printer => "printer",
            ErrorCode::NoPrinter => "no_printer",
            ErrorCode::Denied => "denied",
            ErrorCode::NeedsApproval => "needs_approval",
            ErrorCode::Locked => "locked",
            ErrorCode::Forged => "forged",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from a person or a script: names the field and what was expected.
    #[error("{field}: expected {expected}, got {got:?}")]
    Invalid {
        field: &'static str,
        expected: String,
        got: String,
    },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The request is well formed but the current state forbids it (sale already paid, …).
    #[error("{0}")]
    Conflict(String),
    #[error("payment state machine: {0}")]
    BadTransition(#[from] crate::payment::BadTransition),
    #[error("{path}: {} bad row(s), nothing imported:\n{}", errors.len(), render_lines(errors))]
    BadFile {
        path: String,
        errors: Vec<LineError>,
    },
    #[error("{path}: not a Duka database ({reason}); refusing to open it, nothing was changed")]
    NotDukaDb { path: PathBuf, reason: String },
    #[error(
        "{path}: database schema version {found} was written by a newer Duka (this one knows up to {supported}); refusing to open it, nothing was changed"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A database failure. A full disk and a read-only database say so in words a shop
    /// owner can act on (and have their own codes, `disk_full` and `read_only`).
    #[error("{}", db_message(.0))]
    Db(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret store ({backend}): {message}")]
    Secret {
        backend: &'static str,
        message: String,
    },
    #[error("configuration: {0}")]
    Config(String),
    /// A sign-in or a permission refused.
    #[error("{0}")]
    Denied(String),
    /// Allowed with a manager's approval only (their PIN at the till).
    #[error("{0}")]
    NeedsApproval(String),
    /// Sign-in refused, even with the right PIN, after too many wrong ones.
    #[error("{0}")]
    Locked(String),
    /// A message that claims to be from M-Pesa but cannot be (a callback whose signed URL
    /// names another attempt than its body): refused, logged, nothing applied.
    #[error("refused as forged: {0}")]
    Forged(String),
    /// A receipt printer could not be reached or did not take the bytes.
    #[error("printer {addr}: {message}")]
    Printer { addr: String, message: String },
    /// A receipt was to be printed on a till that has no printer set.
    #[error(
        "no printer is set: a manager adds its address in Settings, or save the receipt as PDF"
    )]
    NoPrinter,
}

fn db_message(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => format!(
            "the till's disk is full ({e}): nothing more can be saved until space is freed; \
             what was saved before is safe"
        ),
        Some(rusqlite::ErrorCode::ReadOnly) => format!(
            "the till's database cannot be written ({e}): check the disk and the file's \
             permissions; what was saved before is safe"
        ),
        _ => format!("database: {e}"),
    }
}

fn render_lines(errors: &[LineError]) -> String {
    errors
        .iter()
        .map(|e| format!("  line {}: {}", e.line, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    /// Stable machine-readable code. Never change one once released.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The code as a value (its JSON and TypeScript form is the string `code()` returns).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::Invalid { .. } => ErrorCode::InvalidInput,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::BadTransition(_) => ErrorCode::BadTransition,
            Error::BadFile { .. } => ErrorCode::BadFile,
            Error::NotDukaDb { .. } => ErrorCode::DbNotDuka,
            Error::SchemaTooNew { .. } => ErrorCode::DbSchemaTooNew,
            Error::Db(e) => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DiskFull) => ErrorCode::DiskFull,
                Some(rusqlite::ErrorCode::ReadOnly) => ErrorCode::ReadOnly,
                _ => ErrorCode::Database,
            },
            Error::Io { .. } => ErrorCode::Io,
            Error::Secret { .. } => ErrorCode::SecretStore,
            Error::Config(_) => ErrorCode::Config,
            Error::Printer { .. } => ErrorCode::Printer,
            Error::NoPrinter => ErrorCode::NoPrinter,
            Error::Denied(_) => ErrorCode::Denied,
            Error::NeedsApproval(_) => ErrorCode::NeedsApproval,
            Error::Locked(_) => ErrorCode::Locked,
            Error::Forged(_) => ErrorCode::Forged,
        }
    }

    pub(crate) fn invalid(
        field: &'static str,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            field,
            expected: expected.into(),
            got: got.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serialises_as_its_string() {
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "codes are distinct");
    }
}
