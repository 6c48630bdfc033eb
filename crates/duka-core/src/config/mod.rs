//! Where Duka keeps its data, and its settings.
//!
//! Settings live in the `settings` table; the environment wins over what is stored
//! (`DUKA_ENVIRONMENT`, `DUKA_DARAJA_BASE_URL`, `DUKA_SHORTCODE`, `DUKA_TILL_TYPE`,
//! `DUKA_PARTY_B`, `DUKA_RELAY_URL`, `DUKA_SHOP_NAME`, … one per key of `keys::KEYS`). Credentials come from the environment
//! (`DUKA_CONSUMER_KEY`, `DUKA_CONSUMER_SECRET`, `DUKA_PASSKEY`), used and never stored, or from
//! the secret store. With no environment chosen and no credentials, Duka runs in demo mode.

mod keys;
mod mode;

use crate::error::{Error, Result};
use crate::secrets::{Secret, SecretKey, SecretStore};
use crate::store::Store;

use keys::{KEYS, key};

/// A cashier's discount limit unless the manager sets another, in percent.
pub const DISCOUNT_LIMIT: i64 = 10;
/// How many backups are kept unless the manager sets another number (`backup_keep`).
pub const BACKUP_KEEP: i64 = 14;
pub use keys::{check_setting, set_setting, setting_names};
pub use mode::{Mode, data_dir, db_path, demo_db_path};

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
    /// The largest discount a cashier gives without a manager's PIN, in percent (10 unless set).
    pub discount_limit: i64,
    /// `error` … `trace` (the log files; `RUST_LOG` wins); `info` when not set.
    pub log_level: String,
    /// The folder backups go to; `None`: `backups/` beside the database (`Till::backup_dir`).
    pub backup_dir: Option<String>,
    /// How many backups are kept (14 unless set).
    pub backup_keep: i64,
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
            "discount_limit" => Some(self.discount_limit.to_string()),
            "log_level" => Some(self.log_level.clone()),
            "backup_dir" => self.backup_dir.clone(),
            "backup_keep" => Some(self.backup_keep.to_string()),
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
            "discount_limit" => {
                self.discount_limit = v.and_then(|p| p.parse().ok()).unwrap_or(DISCOUNT_LIMIT)
            }
            "log_level" => self.log_level = v.unwrap_or_else(|| "info".into()),
            "backup_dir" => self.backup_dir = v,
            "backup_keep" => {
                self.backup_keep = v.and_then(|n| n.parse().ok()).unwrap_or(BACKUP_KEEP)
            }
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
            first,
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
            discount_limit: values
                .remove("discount_limit")
                .and_then(|p| p.parse().ok())
                .unwrap_or(DISCOUNT_LIMIT),
            log_level: values.remove("log_level").unwrap_or_else(|| "info".into()),
            backup_dir: values.remove("backup_dir"),
            backup_keep: values
                .remove("backup_keep")
                .and_then(|n| n.parse().ok())
                .unwrap_or(BACKUP_KEEP),
            sources,
        })
    }
}

#[cfg(test)]
mod tests;
