//! What every command starts from: which till the data directory runs, its database, and
//! who is working; and the small parsing helpers the commands share.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use duka_core::config::{self, Credentials};
use duka_core::secrets::{self, SecretStore};
use duka_core::{Money, Store, time};

use crate::args::Cli;

/// Everything a command needs: the till (without its engine), where it is, who is working.
pub struct Ctx {
    pub till: duka_core::Till,
    /// The shop's till or demo mode's: `till` runs its database.
    pub mode: config::Mode,
    pub data_dir: PathBuf,
    pub cashier: String,
    pub json: bool,
    /// `--secret-backend`: where the secret store is.
    pub secret_backend: String,
}

impl Ctx {
    /// The secret store of this data directory.
    pub fn secrets(&self) -> anyhow::Result<Box<dyn SecretStore>> {
        Ok(secrets::open(&self.secret_backend, &self.data_dir)?)
    }

    /// Prints `value` as JSON with `--json`, else the text `human` makes.
    pub fn print<T: serde::Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        crate::render::print(self.json, value, human)
    }

    /// A line for people only (nothing with `--json`).
    pub fn say(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }
}

/// Which till the data directory runs; credentials are read only when nothing else decides.
pub fn which_till(cli: &Cli, data_dir: &Path) -> anyhow::Result<config::Mode> {
    let has_credentials = || {
        let secrets = secrets::open(&cli.secret_backend, data_dir)?;
        Ok(Credentials::load(secrets.as_ref(), &env_var)?.is_some())
    };
    Ok(config::Mode::resolve(data_dir, &env_var, &has_credentials)?)
}

/// The till the data directory runs, which must exist (`duka init`).
pub fn open(cli: &Cli) -> anyhow::Result<Ctx> {
    let data_dir = config::data_dir(cli.data_dir.as_deref())?;
    let till = which_till(cli, &data_dir)?;
    open_till(cli, data_dir, till)
}

pub fn open_till(cli: &Cli, data_dir: PathBuf, till: config::Mode) -> anyhow::Result<Ctx> {
    let db = till.db_path(&data_dir);
    if !db.exists() {
        bail!(
            "no Duka database at {} ({} till); run `duka init` first (or pass --data-dir)",
            db.display(),
            till.as_str()
        );
    }
    let till_svc = duka_app::offline(Store::open(&db)?, till)?;
    let cashier = match &cli.cashier {
        Some(c) => till_svc.cashier(c)?.name,
        None => till_svc
            .first_cashier()?
            .map(|c| c.name)
            .context("no cashier yet; run `duka init` or `duka cashier add`")?,
    };
    Ok(Ctx {
        till: till_svc,
        mode: till,
        data_dir,
        cashier,
        json: cli.json,
        secret_backend: cli.secret_backend.clone(),
    })
}

/// Creates the data directory and database, and a first cashier (a manager) if none exists;
/// returns the till (without its engine).
pub fn init(data_dir: &Path, till: config::Mode, owner: &str) -> anyhow::Result<duka_core::Till> {
    let db = till.db_path(data_dir);
    let dir = db.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let shop = duka_app::offline(Store::open(&db)?, till)?;
    shop.ensure_owner(owner)?;
    Ok(shop)
}

pub fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// A field error with the core's stable `invalid_input` code.
pub fn invalid(
    field: &'static str,
    expected: impl Into<String>,
    got: impl Into<String>,
) -> anyhow::Error {
    duka_core::Error::Invalid {
        field,
        expected: expected.into(),
        got: got.into(),
    }
    .into()
}

/// An amount typed for `field`, if any.
pub fn money(typed: Option<&str>, field: &'static str) -> anyhow::Result<Option<Money>> {
    Ok(typed.map(|a| Money::parse_field(a, field)).transpose()?)
}

/// A whole number typed for `field` (a stock quantity: the Till checks its range).
pub fn whole(typed: &str, field: &'static str) -> anyhow::Result<i64> {
    typed
        .trim()
        .parse::<i64>()
        .map_err(|_| invalid(field, "a whole number, e.g. 12", typed))
}

/// A day typed as YYYY-MM-DD for `field`; today in Nairobi when none.
pub fn day(typed: Option<&str>, field: &'static str) -> anyhow::Result<chrono::NaiveDate> {
    Ok(match typed {
        Some(d) => time::parse_date(d, field)?,
        None => time::today(),
    })
}

/// One line of standard input (a PIN, a pairing string): never on the command line, where
/// the shell's history and `ps` would keep it.
pub fn stdin_line(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .with_context(|| format!("reading {what} from standard input"))?;
    Ok(line)
}

/// A shared operation's error with the core's own code when it is one (`main` prints
/// `duka_core::Error` codes).
pub fn app_error(e: duka_app::Error) -> anyhow::Error {
    match e {
        duka_app::Error::Core(e) => e.into(),
        other => other.into(),
    }
}
