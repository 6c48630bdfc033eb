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
        Error::Db(match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
