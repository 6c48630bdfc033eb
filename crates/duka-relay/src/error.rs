//! The relay's one error type, with stable codes.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Db(String),
    #[error("io: {0}")]
    Io(String),
    /// The database was written by a newer relay: opening it could lose what that relay added.
    #[error(
        "{path}: database schema version {found} was written by a newer duka-relay (this one knows up to {supported}); refusing to open it, nothing was changed"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The same, for a PostgreSQL database (named without its password).
    #[error(
        "{database}: database schema version {found} was written by a newer duka-relay (this one knows up to {supported}); refusing to use it, nothing was changed"
    )]
    DatabaseTooNew {
        database: String,
        found: i64,
        supported: i64,
    },
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid_input",
            Error::Config(_) => "config",
            Error::Db(_) => "database",
            Error::Io(_) => "io",
            Error::SchemaTooNew { .. } | Error::DatabaseTooNew { .. } => "db_schema_too_new",
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e.to_string())
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Db(pg_message(&e))
    }
}

/// A PostgreSQL error as a sentence: the server's message and SQLSTATE, or the client's
/// error with its causes (tokio-postgres alone says only "error connecting to server").
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s += &format!(": {c}");
        cause = c.source();
    }
    s
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
