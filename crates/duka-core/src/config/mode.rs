//! Where a till's data lives, and which till (the shop's or demo mode's) a data directory runs.

use std::path::{Path, PathBuf};

use super::Environment;
use crate::error::{Error, Result};
use crate::store::Store;

/// The data directory: the explicit one (`--data-dir` / `DUKA_DATA_DIR`) or the platform's
/// (`~/.local/share/duka` on Linux, `~/Library/Application Support/ke.duka.duka` on macOS,
/// `%APPDATA%\duka\duka\data` on Windows).
pub fn data_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    directories::ProjectDirs::from("ke", "duka", "duka")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            Error::Config("no home directory: pass --data-dir or set DUKA_DATA_DIR".into())
        })
}

/// The shop's own database: its staff, sales, settings. Never holds demo data.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("duka.db")
}

/// Demo mode's database, beside the shop's and never the same file: its staff (with the PINs
/// the sign-in screen shows), its sample products and its simulated sales stay there.
pub fn demo_db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo").join("duka.db")
}

/// Which of a data directory's two tills runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The shop's till (`duka.db`): sandbox, production or a custom Daraja.
    Shop,
    /// Demo mode (`demo/duka.db`): daraja-sim in-process.
    Demo,
}

/// The file that records which till a data directory runs, written when the manager switches.
const CHOICE_FILE: &str = "till";

impl Mode {
    pub fn db_path(self, data_dir: &Path) -> PathBuf {
        match self {
            Mode::Shop => db_path(data_dir),
            Mode::Demo => demo_db_path(data_dir),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shop => "shop",
            Mode::Demo => "demo",
        }
    }

    /// The till an environment runs in.
    pub fn of(environment: Environment) -> Mode {
        match environment {
            Environment::Demo => Mode::Demo,
            _ => Mode::Shop,
        }
    }

    /// Which till runs: `DUKA_ENVIRONMENT` when set (demo or not); then what the manager last
    /// chose; with no choice yet, the shop's till once it exists or credentials are stored,
    /// demo mode otherwise (`has_credentials` is asked only then). A shop database from before demo mode had its own file, whose
    /// stored environment is demo, is demo data: it moves to the demo database's place.
    pub fn resolve(
        data_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        has_credentials: &dyn Fn() -> Result<bool>,
    ) -> Result<Mode> {
        if let Some(e) = env("DUKA_ENVIRONMENT").filter(|v| !v.trim().is_empty()) {
            let e = Environment::parse(&e)
                .map_err(|e| Error::Config(format!("DUKA_ENVIRONMENT: {e}")))?;
            return Ok(Mode::of(e));
        }
        let choice = data_dir.join(CHOICE_FILE);
        match std::fs::read_to_string(&choice) {
            Ok(s) => {
                return match s.trim() {
                    "shop" => Ok(Mode::Shop),
                    "demo" => Ok(Mode::Demo),
                    other => Err(Error::invalid(
                        "till",
                        format!("shop or demo in {}", choice.display()),
                        other,
                    )),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Config(format!("{}: {e}", choice.display()))),
        }
        let shop = db_path(data_dir);
        if shop.exists() {
            let stored = Store::open(&shop)?.setting("environment")?;
            if stored.as_deref() == Some(Environment::Demo.as_str()) {
                move_legacy_demo(data_dir)?;
                Mode::Demo.choose(data_dir)?;
                return Ok(Mode::Demo);
            }
            // Remembered, so later starts read one small file instead of opening the database
            // (a read-only or full disk only means this check runs again next time).
            if let Err(e) = Mode::Shop.choose(data_dir) {
                tracing::warn!("which till runs could not be recorded: {e}");
            }
            return Ok(Mode::Shop);
        }
        Ok(if has_credentials()? {
            Mode::Shop
        } else {
            Mode::Demo
        })
    }

    /// Records this till as the one the data directory runs (atomically: a crash leaves the old
    /// choice or the new one).
    pub fn choose(self, data_dir: &Path) -> Result<()> {
        let io = |e: std::io::Error| Error::Config(format!("{}: {e}", data_dir.display()));
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let tmp = data_dir.join(format!("{CHOICE_FILE}.tmp"));
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(self.as_str().as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, data_dir.join(CHOICE_FILE)).map_err(io)
    }
}

/// A `duka.db` whose stored environment is demo predates the demo database: it (and its WAL)
/// becomes the demo database, unless one exists already, in which case it is set aside.
fn move_legacy_demo(data_dir: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::Config(format!("{}: {e}", data_dir.display()));
    let demo = demo_db_path(data_dir);
    let target = if demo.exists() {
        data_dir.join("duka.db.demo-before-split")
    } else {
        std::fs::create_dir_all(demo.parent().unwrap_or(data_dir)).map_err(io)?;
        demo
    };
    for suffix in ["", "-wal", "-shm"] {
        let from = data_dir.join(format!("duka.db{suffix}"));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", target.display()));
            std::fs::rename(&from, &to).map_err(io)?;
        }
    }
    Ok(())
}
