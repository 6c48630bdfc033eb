//! Where Duka keeps its data, and its settings.
//!
//! Settings live in the `settings` table; the environment wins over what is stored
//! (`DUKA_ENVIRONMENT`, `DUKA_DARAJA_BASE_URL`, `DUKA_SHORTCODE`, `DUKA_TILL_TYPE`,
//! `DUKA_PARTY_B`, `DUKA_RELAY_URL`, `DUKA_SHOP_NAME`). Credentials come from the environment
//! (`DUKA_CONSUMER_KEY`, `DUKA_CONSUMER_SECRET`, `DUKA_PASSKEY`), used and never stored, or from
//! the secret store. With no environment chosen and no credentials, Duka runs in demo mode.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::secrets::{Secret, SecretKey, SecretStore};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// daraja-sim in-process; no credentials needed.
    Demo,
    Sandbox,
    Production,
    /// Any Daraja-compatible base URL (`daraja_base_url`), e.g. a standalone daraja-sim.
    Custom,
}

impl Environment {
    pub fn parse(s: &str) -> Result<Environment> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "demo" => Environment::Demo,
            "sandbox" => Environment::Sandbox,
            "production" | "prod" | "live" => Environment::Production,
            "custom" => Environment::Custom,
            _ => {
                return Err(Error::invalid(
                    "environment",
                    "demo, sandbox, production or custom",
                    s,
                ));
            }
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Demo => "demo",
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
            Environment::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum TillType {
    /// `CustomerPayBillOnline`: PartyB is the shortcode.
    Paybill,
    /// `CustomerBuyGoodsOnline`: PartyB is the till number, BusinessShortCode the store number.
    Till,
}

impl TillType {
    pub fn parse(s: &str) -> Result<TillType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "paybill" => Ok(TillType::Paybill),
            "till" | "buygoods" | "buy_goods" => Ok(TillType::Till),
            _ => Err(Error::invalid("till_type", "paybill or till", s)),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TillType::Paybill => "paybill",
            TillType::Till => "till",
        }
    }
}

/// One setting: its stored key, its environment variable, and its validator.
struct Key {
    name: &'static str,
    env: &'static str,
    check: fn(&str) -> Result<String>,
}

fn shortcode(s: &str) -> Result<String> {
    let s = s.trim();
    if (5..=7).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(Error::invalid("shortcode", "5 to 7 digits, e.g. 174379", s))
    }
}

fn party_b(s: &str) -> Result<String> {
    shortcode(s)
        .map_err(|_| Error::invalid("party_b", "the till or paybill number, 5 to 7 digits", s))
}

fn url(s: &str) -> Result<String> {
    let s = s.trim().trim_end_matches('/');
    let ok = (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > "https://".len()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(s.to_string())
    } else {
        Err(Error::invalid("url", "an http:// or https:// URL", s))
    }
}

fn text(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 60 || s.chars().any(char::is_control) {
        return Err(Error::invalid(
            "shop_name",
            "1 to 60 printable characters",
            s,
        ));
    }
    Ok(s.to_string())
}

/// A network receipt printer: `host` or `host:port` (raw ESC/POS, port 9100 by default).
fn printer(s: &str) -> Result<String> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if ok {
        Ok(s.to_string())
    } else {
        Err(Error::invalid(
            "printer",
            "the printer's address, e.g. 192.168.1.50 or 192.168.1.50:9100",
            s,
        ))
    }
}

/// The API operator (initiator) name M-Pesa's portal gave for Transaction Status and Reversal.
fn initiator(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 60 || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid(
            "initiator",
            "the API operator name from the M-Pesa portal (1 to 60 letters, digits or signs, no spaces)",
            s,
        ));
    }
    Ok(s.to_string())
}

/// The path of Safaricom's public certificate (PEM) that seals the initiator's password.
fn certificate(s: &str) -> Result<String> {
    let s = s.trim();
    let bad = |why: &str| {
        Error::invalid(
            "certificate",
            format!("the path of Safaricom's M-Pesa certificate, a PEM file ({why})"),
            s,
        )
    };
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err(bad("empty or unprintable"));
    }
    let pem = std::fs::read_to_string(s).map_err(|e| bad(&e.to_string()))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad("no PEM certificate in it"));
    }
    Ok(s.to_string())
}

/// How much the till logs (`RUST_LOG` wins).
fn log_level(s: &str) -> Result<String> {
    let s = s.trim().to_ascii_lowercase();
    if ["error", "warn", "info", "debug", "trace"].contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(Error::invalid(
            "log_level",
            "error, warn, info, debug or trace",
            s,
        ))
    }
}

const KEYS: &[Key] = &[
    Key {
        name: "environment",
        env: "DUKA_ENVIRONMENT",
        check: |s| Environment::parse(s).map(|e| e.as_str().into()),
    },
    Key {
        name: "daraja_base_url",
        env: "DUKA_DARAJA_BASE_URL",
        check: url,
    },
    Key {
        name: "shortcode",
        env: "DUKA_SHORTCODE",
        check: shortcode,
    },
    Key {
        name: "till_type",
        env: "DUKA_TILL_TYPE",
        check: |s| TillType::parse(s).map(|t| t.as_str().into()),
    },
    Key {
        name: "party_b",
        env: "DUKA_PARTY_B",
        check: party_b,
    },
    Key {
        name: "relay_url",
        env: "DUKA_RELAY_URL",
        check: url,
    },
    Key {
        name: "shop_name",
        env: "DUKA_SHOP_NAME",
        check: text,
    },
    Key {
        name: "printer",
        env: "DUKA_PRINTER",
        check: printer,
    },
    Key {
        name: "initiator",
        env: "DUKA_INITIATOR",
        check: initiator,
    },
    Key {
        name: "certificate",
        env: "DUKA_CERTIFICATE",
        check: certificate,
    },
    Key {
        name: "log_level",
        env: "DUKA_LOG_LEVEL",
        check: log_level,
    },
];

pub fn setting_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.name)
}

fn key(name: &str) -> Result<&'static Key> {
    KEYS.iter().find(|k| k.name == name).ok_or_else(|| {
        Error::invalid(
            "setting",
            format!(
                "one of {}",
                KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            ),
            name,
        )
    })
}

/// Validates a setting without storing it: the value as it would be stored.
pub fn check_setting(name: &str, value: &str) -> Result<String> {
    (key(name)?.check)(value)
}

/// Validates and stores a setting.
pub fn set_setting(store: &mut Store, name: &str, value: &str) -> Result<()> {
    let k = key(name)?;
    let v = (k.check)(value)?;
    store.set_setting(k.name, &v)
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Env,
    Stored,
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Settings {
    pub environment: Environment,
    pub daraja_base_url: Option<String>,
    pub shortcode: Option<String>,
    pub till_type: TillType,
    pub party_b: Option<String>,
    pub relay_url: Option<String>,
    pub shop_name: String,
    /// The network receipt printer, if any.
    pub printer: Option<String>,
    /// The API operator for Transaction Status (and reversals), if the shop has one.
    pub initiator: Option<String>,
    /// Where Safaricom's certificate (PEM) for the initiator's password is.
    pub certificate: Option<String>,
    /// `error` … `trace` (the log files; `RUST_LOG` wins); `info` when not set.
    pub log_level: String,
    /// Each setting's source, by name.
    pub sources: Vec<(String, Source)>,
}

impl Settings {
    /// A setting's value by its key name (`None` when unset); `Err` for a name that is not a
    /// setting. Every key of the table has an answer here (tested), so a shell that lists
    /// settings from `rows` shows them all.
    pub fn value(&self, name: &str) -> Result<Option<String>> {
        Ok(match key(name)?.name {
            "environment" => Some(self.environment.as_str().into()),
            "daraja_base_url" => self.daraja_base_url.clone(),
            "shortcode" => self.shortcode.clone(),
            "till_type" => Some(self.till_type.as_str().into()),
            "party_b" => self.party_b.clone(),
            "relay_url" => self.relay_url.clone(),
            "shop_name" => Some(self.shop_name.clone()),
            "printer" => self.printer.clone(),
            "initiator" => self.initiator.clone(),
            "certificate" => self.certificate.clone(),
            "log_level" => Some(self.log_level.clone()),
            other => {
                return Err(Error::Config(format!(
                    "setting {other} has no value in Settings (a bug)"
                )));
            }
        })
    }

    /// Sets a setting by its key name (`None` clears it back to its default), validating the
    /// value as `check_setting` does. The environment is not changed here: it picks the till.
    pub fn set_value(&mut self, name: &str, value: Option<&str>) -> Result<()> {
        let k = key(name)?;
        let v = value.map(|v| (k.check)(v)).transpose()?;
        match k.name {
            "environment" => {}
            "daraja_base_url" => self.daraja_base_url = v,
            "shortcode" => self.shortcode = v,
            "till_type" => {
                self.till_type = v
                    .as_deref()
                    .map(TillType::parse)
                    .transpose()?
                    .unwrap_or(TillType::Paybill)
            }
            "party_b" => self.party_b = v,
            "relay_url" => self.relay_url = v,
            "shop_name" => self.shop_name = v.unwrap_or_else(|| "Duka".into()),
            "printer" => self.printer = v,
            "initiator" => self.initiator = v,
            "certificate" => self.certificate = v,
            "log_level" => self.log_level = v.unwrap_or_else(|| "info".into()),
            other => {
                return Err(Error::Config(format!(
                    "setting {other} cannot be set in Settings (a bug)"
                )));
            }
        }
        Ok(())
    }

    /// Every setting in the key table's order: name, value, where it came from.
    pub fn rows(&self) -> Vec<(&'static str, Option<String>, Source)> {
        KEYS.iter()
            .map(|k| {
                let src = self
                    .sources
                    .iter()
                    .find(|(n, _)| n == k.name)
                    .map(|(_, s)| *s)
                    .unwrap_or(Source::Default);
                (k.name, self.value(k.name).ok().flatten(), src)
            })
            .collect()
    }
}

/// What a shop till needs before it can take M-Pesa payments, checked in one place: by the
/// settings operation before it saves a whole configuration, and by the engine before it
/// starts. `has_secret` says whether a secret is set (typed now, stored, or in the
/// environment). The error names the first missing piece.
pub fn check_ready(settings: &Settings, has_secret: &dyn Fn(SecretKey) -> bool) -> Result<()> {
    let env = settings.environment;
    if env == Environment::Demo {
        return Ok(());
    }
    let missing: Vec<&str> = [
        SecretKey::ConsumerKey,
        SecretKey::ConsumerSecret,
        SecretKey::Passkey,
    ]
    .into_iter()
    .filter(|k| !has_secret(*k))
    .map(|k| k.name())
    .collect();
    if let Some(first) = missing.first() {
        return Err(Error::invalid(
            *first,
            format!(
                "environment {} needs {} (Settings, `duka secret set`, or DUKA_{})",
                env.as_str(),
                missing.join(", "),
                first.to_ascii_uppercase()
            ),
            "not set",
        ));
    }
    settings.required_shortcode()?;
    settings.required_party_b()?;
    if env == Environment::Custom && settings.daraja_base_url.is_none() {
        return Err(Error::invalid(
            "daraja_base_url",
            "an http(s) URL for environment custom",
            "not set",
        ));
    }
    Ok(())
}

impl Settings {
    /// `BusinessShortCode`: the paybill, or a till's store (head office) number.
    pub fn required_shortcode(&self) -> Result<&str> {
        self.shortcode.as_deref().ok_or_else(|| {
            Error::invalid(
                "shortcode",
                format!(
                    "the shortcode, 5 to 7 digits, for environment {} (the paybill, or a till's store number)",
                    self.environment.as_str()
                ),
                "not set",
            )
        })
    }

    /// PartyB for a till (Buy Goods): the till number. `None` for a paybill, whose PartyB is
    /// the shortcode.
    pub fn required_party_b(&self) -> Result<Option<&str>> {
        match self.till_type {
            TillType::Paybill => Ok(None),
            TillType::Till => self.party_b.as_deref().map(Some).ok_or_else(|| {
                Error::invalid(
                    "party_b",
                    "the till number, 5 to 7 digits, for a till (Buy Goods)",
                    "not set",
                )
            }),
        }
    }
}

/// Credentials for Daraja. Never serialised.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub consumer_key: Secret,
    pub consumer_secret: Secret,
    pub passkey: Secret,
    /// The initiator's password (Transaction Status, reversals), when the shop has one.
    pub initiator_password: Option<Secret>,
}

impl Credentials {
    /// From the environment first (used, never stored), then the secret store. `None` unless
    /// all three are set.
    pub fn load(
        secrets: &dyn SecretStore,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Credentials>> {
        let one = |var: &str, key: SecretKey| -> Result<Option<Secret>> {
            match env(var).filter(|v| !v.is_empty()) {
                Some(v) => Ok(Some(Secret::new(v))),
                None => secrets.get(key),
            }
        };
        let ck = one("DUKA_CONSUMER_KEY", SecretKey::ConsumerKey)?;
        let cs = one("DUKA_CONSUMER_SECRET", SecretKey::ConsumerSecret)?;
        let pk = one("DUKA_PASSKEY", SecretKey::Passkey)?;
        Ok(match (ck, cs, pk) {
            (Some(consumer_key), Some(consumer_secret), Some(passkey)) => Some(Credentials {
                consumer_key,
                consumer_secret,
                passkey,
                initiator_password: one("DUKA_INITIATOR_PASSWORD", SecretKey::InitiatorPassword)?,
            }),
            _ => None,
        })
    }
}

impl Settings {
    /// Stored settings overlaid with the environment, for the till `store` belongs to: demo
    /// mode's database always runs demo; the shop's never does (sandbox unless chosen).
    pub fn load(
        store: &Store,
        env: &dyn Fn(&str) -> Option<String>,
        till: Mode,
    ) -> Result<Settings> {
        let mut values = std::collections::HashMap::new();
        let mut sources = Vec::new();
        for k in KEYS {
            let (v, src) = match env(k.env).filter(|v| !v.trim().is_empty()) {
                Some(v) => (
                    (k.check)(&v).map_err(|e| Error::Config(format!("{}: {e}", k.env)))?,
                    Source::Env,
                ),
                None => match store.setting(k.name)? {
                    Some(v) => (v, Source::Stored),
                    None => {
                        sources.push((k.name.to_string(), Source::Default));
                        continue;
                    }
                },
            };
            values.insert(k.name, v);
            sources.push((k.name.to_string(), src));
        }
        let environment = match (till, values.get("environment")) {
            (Mode::Demo, _) => Environment::Demo,
            (Mode::Shop, None) => Environment::Sandbox,
            (Mode::Shop, Some(e)) => match Environment::parse(e)? {
                Environment::Demo => {
                    return Err(Error::Config(
                        "the shop's database says environment demo, but demo mode has its own \
                         database: choose demo in Settings (or `duka config set environment demo`)"
                            .into(),
                    ));
                }
                e => e,
            },
        };
        if environment == Environment::Custom && !values.contains_key("daraja_base_url") {
            return Err(Error::Config(
                "environment custom needs daraja_base_url (DUKA_DARAJA_BASE_URL)".into(),
            ));
        }
        Ok(Settings {
            environment,
            daraja_base_url: values.remove("daraja_base_url"),
            shortcode: values.remove("shortcode"),
            till_type: values
                .get("till_type")
                .map(|t| TillType::parse(t))
                .transpose()?
                .unwrap_or(TillType::Paybill),
            party_b: values.remove("party_b"),
            relay_url: values.remove("relay_url"),
            shop_name: values.remove("shop_name").unwrap_or_else(|| "Duka".into()),
            printer: values.remove("printer"),
            initiator: values.remove("initiator"),
            certificate: values.remove("certificate"),
            log_level: values.remove("log_level").unwrap_or_else(|| "info".into()),
            sources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MemorySecrets;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn demo_by_default_then_env_wins_over_stored() {
        let mut store = Store::open_in_memory().unwrap();
        let s = Settings::load(&store, &no_env, Mode::Demo).unwrap();
        assert_eq!(s.environment, Environment::Demo);
        assert_eq!(
            Settings::load(&store, &no_env, Mode::Shop)
                .unwrap()
                .environment,
            Environment::Sandbox,
            "the shop's till never runs demo"
        );

        set_setting(&mut store, "shortcode", "174379").unwrap();
        set_setting(&mut store, "till_type", "till").unwrap();
        let env = |k: &str| (k == "DUKA_SHORTCODE").then(|| "600000".to_string());
        let s = Settings::load(&store, &env, Mode::Shop).unwrap();
        assert_eq!(s.shortcode.as_deref(), Some("600000"));
        assert_eq!(s.till_type, TillType::Till);
        assert!(s.sources.contains(&("shortcode".into(), Source::Env)));
        assert!(s.sources.contains(&("till_type".into(), Source::Stored)));
        assert_eq!(
            Settings::load(&store, &no_env, Mode::Shop)
                .unwrap()
                .shortcode
                .as_deref(),
            Some("174379")
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut store = Store::open_in_memory().unwrap();
        let e = set_setting(&mut store, "shortcode", "12ab").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("shortcode: expected 5 to 7 digits"),
            "{e}"
        );
        let e = set_setting(&mut store, "colour", "red").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("setting: expected one of environment"),
            "{e}"
        );
        let env = |k: &str| (k == "DUKA_ENVIRONMENT").then(|| "moon".to_string());
        let e = Settings::load(&store, &env, Mode::Shop).unwrap_err();
        assert!(
            e.to_string()
                .contains("DUKA_ENVIRONMENT: environment: expected demo"),
            "{e}"
        );
        assert!(
            store.setting("shortcode").unwrap().is_none(),
            "nothing half written"
        );
    }

    #[test]
    fn every_key_has_a_value_in_settings() {
        let store = Store::open_in_memory().unwrap();
        let s = Settings::load(&store, &no_env, Mode::Shop).unwrap();
        for k in KEYS {
            assert!(s.value(k.name).is_ok(), "{} has no value", k.name);
        }
        assert_eq!(s.rows().len(), KEYS.len());
        let printer = s.rows().into_iter().find(|r| r.0 == "printer").unwrap();
        assert_eq!((printer.1, printer.2), (None, Source::Default));
        assert!(s.value("colour").is_err());
    }

    #[test]
    fn every_key_but_the_environment_can_be_set_read_back_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let sample = |name: &str| -> String {
            match name {
                "daraja_base_url" | "relay_url" => "https://example.com".into(),
                "shortcode" | "party_b" => "123456".into(),
                "till_type" => "till".into(),
                "shop_name" => "Mama Mboga".into(),
                "printer" => "192.168.1.50:9100".into(),
                "initiator" => "testapi".into(),
                "certificate" => cert.display().to_string(),
                "log_level" => "debug".into(),
                other => panic!("no sample for {other}: add one"),
            }
        };
        let store = Store::open_in_memory().unwrap();
        let mut s = Settings::load(&store, &no_env, Mode::Shop).unwrap();
        let defaults = s.clone();
        for k in KEYS.iter().filter(|k| k.name != "environment") {
            let v = sample(k.name);
            s.set_value(k.name, Some(&v)).unwrap();
            assert_eq!(
                s.value(k.name).unwrap().as_deref(),
                Some(v.as_str()),
                "{}",
                k.name
            );
            s.set_value(k.name, None).unwrap();
            assert_eq!(
                s.value(k.name).unwrap(),
                defaults.value(k.name).unwrap(),
                "{}",
                k.name
            );
        }
        let e = s.set_value("shortcode", Some("12")).unwrap_err();
        assert!(e.to_string().starts_with("shortcode: expected"), "{e}");
        let e = s
            .set_value(
                "certificate",
                Some(&dir.path().join("none.pem").display().to_string()),
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("certificate: expected"), "{e}");
    }

    #[test]
    fn a_shop_till_is_ready_only_with_credentials_shortcode_and_a_tills_number() {
        let store = Store::open_in_memory().unwrap();
        let mut s = Settings::load(&store, &no_env, Mode::Shop).unwrap();
        let all = |_: SecretKey| true;
        let e = check_ready(&s, &|k| k != SecretKey::Passkey).unwrap_err();
        assert!(e.to_string().starts_with("passkey: expected"), "{e}");
        let e = check_ready(&s, &all).unwrap_err();
        assert!(e.to_string().starts_with("shortcode: expected"), "{e}");
        s.set_value("shortcode", Some("174379")).unwrap();
        check_ready(&s, &all).unwrap();
        s.set_value("till_type", Some("till")).unwrap();
        let e = check_ready(&s, &all).unwrap_err();
        assert!(e.to_string().starts_with("party_b: expected"), "{e}");
        s.set_value("party_b", Some("654321")).unwrap();
        check_ready(&s, &all).unwrap();
        s.environment = Environment::Custom;
        let e = check_ready(&s, &all).unwrap_err();
        assert!(
            e.to_string().starts_with("daraja_base_url: expected"),
            "{e}"
        );
        s.environment = Environment::Demo;
        check_ready(&s, &|_| false).unwrap();
    }

    #[test]
    fn which_till_runs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let env_is =
            |v: &'static str| move |k: &str| (k == "DUKA_ENVIRONMENT").then(|| v.to_string());
        // Nothing yet: demo without credentials, the shop's till with them.
        assert_eq!(
            Mode::resolve(d, &no_env, &|| Ok(false)).unwrap(),
            Mode::Demo
        );
        assert_eq!(Mode::resolve(d, &no_env, &|| Ok(true)).unwrap(), Mode::Shop);
        assert_eq!(
            Mode::resolve(d, &env_is("production"), &|| Ok(false)).unwrap(),
            Mode::Shop
        );
        assert_eq!(
            Mode::resolve(d, &env_is("demo"), &|| Ok(true)).unwrap(),
            Mode::Demo
        );
        // A choice wins over credentials, and the environment over a choice.
        Mode::Demo.choose(d).unwrap();
        assert_eq!(Mode::resolve(d, &no_env, &|| Ok(true)).unwrap(), Mode::Demo);
        assert_eq!(
            Mode::resolve(d, &env_is("sandbox"), &|| Ok(true)).unwrap(),
            Mode::Shop
        );
        Mode::Shop.choose(d).unwrap();
        assert_eq!(
            Mode::resolve(d, &no_env, &|| Ok(false)).unwrap(),
            Mode::Shop
        );
        std::fs::write(d.join("till"), "moon").unwrap();
        let e = Mode::resolve(d, &no_env, &|| Ok(false)).unwrap_err();
        assert!(
            e.to_string().starts_with("till: expected shop or demo in "),
            "{e}"
        );
        assert_ne!(Mode::Shop.db_path(d), Mode::Demo.db_path(d));
    }

    #[test]
    fn a_shop_database_holding_demo_data_moves_to_the_demo_place() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        {
            let mut old = Store::open(&db_path(d)).unwrap();
            set_setting(&mut old, "environment", "demo").unwrap();
            old.add_cashier_with_pin("Owner", "manager", "1234")
                .unwrap();
        }
        assert_eq!(
            Mode::resolve(d, &no_env, &|| Ok(false)).unwrap(),
            Mode::Demo
        );
        assert!(
            !db_path(d).exists(),
            "the shop's place is empty: its first start asks for a manager"
        );
        let demo = Store::open(&demo_db_path(d)).unwrap();
        assert_eq!(demo.cashiers().unwrap()[0].name, "Owner");
        // The demo database, opened as the shop's, would be refused.
        let e = Settings::load(&demo, &no_env, Mode::Shop).unwrap_err();
        assert!(
            e.to_string().contains("demo mode has its own database"),
            "{e}"
        );
    }

    #[test]
    fn credentials_from_env_are_not_stored() {
        let secrets = MemorySecrets::default();
        secrets
            .set(SecretKey::Passkey, &Secret::new("stored-pk"))
            .unwrap();
        let env = |k: &str| match k {
            "DUKA_CONSUMER_KEY" => Some("env-ck".to_string()),
            "DUKA_CONSUMER_SECRET" => Some("env-cs".to_string()),
            _ => None,
        };
        let c = Credentials::load(&secrets, &env).unwrap().unwrap();
        assert_eq!(c.consumer_key.expose(), "env-ck");
        assert_eq!(c.passkey.expose(), "stored-pk");
        assert_eq!(secrets.get(SecretKey::ConsumerKey).unwrap(), None);
        assert!(!format!("{c:?}").contains("env-c"));
        assert!(
            Credentials::load(&MemorySecrets::default(), &env)
                .unwrap()
                .is_none()
        );
    }
}
