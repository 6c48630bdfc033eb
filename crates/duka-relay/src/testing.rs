//! For tests (this crate's and the flows'): a fresh store on the backend the environment
//! names. With `DUKA_TEST_POSTGRES=postgres://user@host:port/db` set, each test gets a
//! database of its own on that server (`CREATE DATABASE` with a random name, dropped
//! best-effort afterwards); otherwise SQLite in the test's directory. With the variable set
//! and the server unreachable, the test fails: it never falls back to SQLite quietly.

use std::path::Path;

use crate::store::{Store, random_hex};

/// The variable that names a PostgreSQL server for the tests.
pub const ENV: &str = "DUKA_TEST_POSTGRES";

/// The server the tests are to use, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var(ENV).ok().filter(|v| !v.trim().is_empty())
}

/// `url` with its database name replaced by `db` (query string kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A database made for one test, dropped (best-effort) with this value.
pub struct TestDatabase {
    /// The URL of the test's own database.
    pub url: String,
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh database on the server `DUKA_TEST_POSTGRES` names. Panics (the test
    /// fails) if the server cannot be reached.
    pub async fn create(server: &str) -> TestDatabase {
        let name = format!("duka_test_{}", random_hex(8));
        let config = crate::store::pg::parse_url(server).expect("DUKA_TEST_POSTGRES");
        let c = crate::store::pg::connect_one(&config)
            .await
            .unwrap_or_else(|e| {
                panic!("{ENV} is set but its PostgreSQL server cannot be reached: {e}")
            });
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        TestDatabase {
            url: with_database(server, &name),
            server: server.to_string(),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Its own thread and runtime: a drop may happen inside or outside a runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(config) = crate::store::pg::parse_url(&server) else {
                    return;
                };
                if let Ok(c) = crate::store::pg::connect_one(&config).await {
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A store for one test: SQLite in `dir`, or a fresh PostgreSQL database when
/// `DUKA_TEST_POSTGRES` is set.
pub struct TestStore {
    pub store: Store,
    pub database: Option<TestDatabase>,
    dir: std::path::PathBuf,
}

impl TestStore {
    pub async fn new(dir: &Path) -> TestStore {
        let database = match postgres_url() {
            Some(server) => Some(TestDatabase::create(&server).await),
            None => None,
        };
        let store = open(dir, database.as_ref()).await;
        TestStore {
            store,
            database,
            dir: dir.to_path_buf(),
        }
    }

    /// SQLite in `dir`, whatever the environment says.
    pub fn sqlite(dir: &Path) -> TestStore {
        TestStore {
            store: Store::open(dir).expect("opening the test store"),
            database: None,
            dir: dir.to_path_buf(),
        }
    }

    /// Runs SQL on the store's database directly (a test's way to change what the relay
    /// holds behind its back); SQL both backends understand.
    pub async fn execute(&self, sql: &str) {
        match &self.database {
            Some(d) => {
                let config = crate::store::pg::parse_url(&d.url).expect("test database URL");
                let c = crate::store::pg::connect_one(&config)
                    .await
                    .expect("connecting");
                c.batch_execute(sql).await.expect("test SQL");
            }
            None => {
                let c = rusqlite::Connection::open(self.dir.join("relay.db")).expect("relay.db");
                c.busy_timeout(std::time::Duration::from_secs(5))
                    .expect("busy timeout");
                c.execute_batch(sql).expect("test SQL");
            }
        }
    }

    /// `--database URL` for a relay process on this store (nothing for SQLite: the data
    /// directory's file).
    pub fn process_args(&self) -> Vec<String> {
        match self.url() {
            Some(u) => vec!["--database".into(), u.into()],
            None => Vec::new(),
        }
    }

    /// The database URL for `--database`, when on PostgreSQL.
    pub fn url(&self) -> Option<&str> {
        self.database.as_ref().map(|d| d.url.as_str())
    }

    /// Opens the same database again, as a restarted relay does, and keeps that handle
    /// instead of the first (drop your clones of the first to close it).
    pub async fn reopen(&mut self) -> Store {
        self.store = self.another().await;
        self.store.clone()
    }

    /// Another handle on the same database, as a second relay process opens it.
    pub async fn another(&self) -> Store {
        open(&self.dir, self.database.as_ref()).await
    }
}

async fn open(dir: &Path, database: Option<&TestDatabase>) -> Store {
    match database {
        Some(d) => Store::connect(&d.url)
            .await
            .expect("connecting the test store"),
        None => Store::open(dir).expect("opening the test store"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5433/postgres", "x"),
            "postgres://u@127.0.0.1:5433/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
    }
}
