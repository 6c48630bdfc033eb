//! The settings a till stores: each key, its environment variable and its validator.

use super::{Environment, TillType};
use crate::error::{Error, Result};
use crate::store::Store;

/// One setting: its stored key, its environment variable, and its validator.
pub(super) struct Key {
    pub(super) name: &'static str,
    pub(super) env: &'static str,
    pub(super) check: fn(&str) -> Result<String>,
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

/// The largest discount a cashier gives without a manager, in percent.
fn discount_limit(s: &str) -> Result<String> {
    match s.trim().trim_end_matches('%').trim().parse::<u8>() {
        Ok(p) if p <= 100 => Ok(p.to_string()),
        _ => Err(Error::invalid(
            "discount_limit",
            "a whole percentage from 0 to 100, e.g. 10",
            s,
        )),
    }
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

/// Where backups go: an absolute folder path (a USB stick's folder, say). The folder itself may
/// not exist yet (the first backup makes it) but the place it is in must: a typo or a stick
/// that is not plugged in is caught here, and a backup never makes a mount point's folders on
/// the till's own disk.
fn backup_dir(s: &str) -> Result<String> {
    let s = s.trim();
    let bad = |why: &str| {
        Error::invalid(
            "backup_dir",
            format!(
                "a folder for backups, as a full path, e.g. /media/duka/USB/duka-backups ({why})"
            ),
            s,
        )
    };
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err(bad("empty or unprintable"));
    }
    let path = std::path::Path::new(s);
    if !path.is_absolute() {
        return Err(bad("not a full path"));
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(bad("it is a file, not a folder")),
        Err(_) => {
            let parent = path.parent().filter(|p| p.is_dir());
            if parent.is_none() {
                return Err(bad("neither it nor the folder it is in exists"));
            }
        }
    }
    Ok(s.to_string())
}

/// How many backups are kept in the backup folder (the oldest go first).
fn backup_keep(s: &str) -> Result<String> {
    match s.trim().parse::<u16>() {
        Ok(n) if (1..=365).contains(&n) => Ok(n.to_string()),
        _ => Err(Error::invalid(
            "backup_keep",
            "a whole number of backups from 1 to 365, e.g. 14",
            s,
        )),
    }
}

pub(super) const KEYS: &[Key] = &[
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
        name: "discount_limit",
        env: "DUKA_DISCOUNT_LIMIT",
        check: discount_limit,
    },
    Key {
        name: "log_level",
        env: "DUKA_LOG_LEVEL",
        check: log_level,
    },
    Key {
        name: "backup_dir",
        env: "DUKA_BACKUP_DIR",
        check: backup_dir,
    },
    Key {
        name: "backup_keep",
        env: "DUKA_BACKUP_KEEP",
        check: backup_keep,
    },
];

pub fn setting_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.name)
}

pub(super) fn key(name: &str) -> Result<&'static Key> {
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
