//! The Till service: every domain operation a shell needs, in one place.
//!
//! The desktop commands and the `duka` CLI hold a [`Till`] and call it; none of them touches
//! the store. A till is either *running* (the payment [`Engine`] and, when paired, the relay
//! client: everything works) or *offline* (the store alone: sales, cash, staff, reports; the CLI
//! uses this for commands that never talk to M-Pesa, so they start no poller and no
//! simulator). Every change it makes to a sale, setting, staff member or the inbox is
//! announced as a [`CoreEvent`], whoever caused it.
//!
//! - [`sales`] — products, ringing up, cash, typed codes, incoming payments, void.
//! - [`payments`] — charging by STK push, attempts, resend, reconcile.
//! - [`staff`] — staff, PINs, sign-in.
//! - [`reports`] — the day, exports, what the manager must look at, receipts.
//! - [`backup`] — backups now, daily and at the day close; the list; restoring one.

pub mod backup;
pub mod day;
pub mod payments;
pub mod reports;
pub mod sales;
pub mod staff;

use std::sync::{Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::config::{Mode, Settings};
use crate::engine::{CoreEvent, Engine};
use crate::error::{Error, Result};
use crate::relay::{RelayClient, RelayStatus};
use crate::store::Store;

pub use payments::{ChargePlan, push_amount};
pub use sales::{CashPaid, LineInput};
pub use staff::{DEMO_STAFF, DemoStaff, SignInOptions};

enum Core {
    /// The store alone: nothing that needs M-Pesa.
    Offline {
        store: Mutex<Store>,
        events: broadcast::Sender<CoreEvent>,
    },
    Running {
        engine: Engine,
        relay: Option<RelayClient>,
    },
}

/// One till: its database, and while it runs the engine and relay client. Cheap to share
/// behind an `Arc`; every method takes `&self`.
pub struct Till {
    core: Core,
    mode: Mode,
    settings: Settings,
    backups: backup::BackupState,
}

impl Till {
    /// A till that runs: payments, polling and (when `relay` is given) the relay.
    pub fn running(
        engine: Engine,
        relay: Option<RelayClient>,
        mode: Mode,
        settings: Settings,
    ) -> Till {
        Till::new(Core::Running { engine, relay }, mode, settings)
    }

    /// A till with its store alone (no engine): everything but M-Pesa payments.
    pub fn offline(store: Store, mode: Mode, settings: Settings) -> Till {
        let core = Core::Offline {
            store: Mutex::new(store),
            events: broadcast::channel(64).0,
        };
        Till::new(core, mode, settings)
    }

    fn new(core: Core, mode: Mode, settings: Settings) -> Till {
        let mut till = Till {
            core,
            mode,
            settings,
            backups: backup::BackupState::default(),
        };
        till.backups = backup::BackupState::new(&till.backup_dir(), mode == Mode::Shop);
        till
    }

    /// The store, locked. Only this crate reaches it: shells go through the service.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        match &self.core {
            Core::Offline { store, .. } => store.lock().unwrap_or_else(|p| p.into_inner()),
            Core::Running { engine, .. } => engine.store(),
        }
    }

    /// The engine, for what needs M-Pesa; an offline till refuses.
    pub fn engine(&self) -> Result<&Engine> {
        match &self.core {
            Core::Running { engine, .. } => Ok(engine),
            Core::Offline { .. } => Err(Error::Config(
                "this needs the running till (M-Pesa), which was not started".into(),
            )),
        }
    }

    pub fn relay(&self) -> Option<&RelayClient> {
        match &self.core {
            Core::Running { relay, .. } => relay.as_ref(),
            Core::Offline { .. } => None,
        }
    }

    pub fn relay_status(&self) -> Option<RelayStatus> {
        self.relay().map(|r| r.status())
    }

    /// The shop's till or demo mode's (each has its own database).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The settings this till started with (stored ones overlaid with the environment).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Where this till's database is.
    pub fn db_path(&self) -> std::path::PathBuf {
        self.store().path().to_path_buf()
    }

    /// The database's schema version.
    pub fn schema_version(&self) -> Result<i64> {
        self.store().schema_version()
    }

    /// Every event of this till, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        match &self.core {
            Core::Offline { events, .. } => events.subscribe(),
            Core::Running { engine, .. } => engine.subscribe(),
        }
    }

    pub(crate) fn publish(&self, event: CoreEvent) {
        match &self.core {
            Core::Offline { events, .. } => {
                let _ = events.send(event);
            }
            Core::Running { engine, .. } => engine.publish(event),
        }
    }

    /// Stops the engine, the relay client (an offline till has neither) and the daily
    /// backups.
    pub fn stop(&self) {
        self.backups.stop();
        if let Core::Running { engine, relay } = &self.core {
            engine.shutdown();
            if let Some(r) = relay {
                r.stop();
            }
        }
    }

    /// A setting stored in this till's database (`None` when unset).
    pub fn stored_setting(&self, key: &str) -> Result<Option<String>> {
        crate::config::setting_names()
            .any(|k| k == key)
            .then_some(())
            .ok_or_else(|| Error::invalid("key", "a setting name", key))?;
        self.store().setting(key)
    }

    /// Validates and stores settings in one transaction (`None` clears one), then announces
    /// it. They take effect when the till starts again (the shells restart it).
    pub fn save_settings(&self, values: &[(&str, Option<&str>)]) -> Result<()> {
        let checked: Vec<(&str, Option<String>)> = values
            .iter()
            .map(|(k, v)| {
                Ok((
                    *k,
                    v.map(|v| crate::config::check_setting(k, v)).transpose()?,
                ))
            })
            .collect::<Result<_>>()?;
        let refs: Vec<(&str, Option<&str>)> =
            checked.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        self.store().set_settings(&refs)?;
        self.publish(CoreEvent::SettingsChanged {
            keys: values.iter().map(|(k, _)| k.to_string()).collect(),
        });
        Ok(())
    }

    /// Stores a relay pairing string (`duka-relay till add` prints it): the key goes to the
    /// secret store, the rest to settings, and the till starts from the relay's first
    /// message. Demo mode never pairs: real shop payments must not land in its database.
    pub fn pair_relay(
        &self,
        secrets: &dyn crate::secrets::SecretStore,
        pairing: &str,
    ) -> Result<duka_relay_proto::Pairing> {
        let p = check_pairing(pairing)?;
        // Demo mode may use a relay on this machine only (several demo tills, one shop):
        // Daraja cannot reach it, so no real payment can land in demo's database.
        if self.mode == Mode::Demo && !is_loopback_url(&p.url) {
            return Err(Error::invalid(
                "pairing",
                "in demo mode, a relay on this machine (http://127.0.0.1:…); for a relay on the internet, choose the shop's environment first",
                p.url.as_str(),
            ));
        }
        secrets.set(
            crate::secrets::SecretKey::relay_key(self.mode),
            &crate::secrets::Secret::new(p.key.clone()),
        )?;
        {
            let mut store = self.store();
            store.set_setting("relay_url", &p.url)?;
            store.set_setting("relay_till", &p.till)?;
            store.set_setting("relay_shop", &p.shop)?;
            // A new pairing starts with no watermark; a running relay client of the old
            // pairing cannot write one that counts for this till, since a watermark names its
            // till.
            store.set_setting(crate::relay::WATERMARK, "")?;
        }
        self.publish(CoreEvent::SettingsChanged {
            keys: vec!["relay_url".into(), "relay_till".into(), "relay_shop".into()],
        });
        Ok(p)
    }

    /// The relay this till is paired with: url, till and shop (never the key).
    pub fn pairing_info(&self) -> Result<Option<(String, String, String)>> {
        let store = self.store();
        Ok(
            match (
                store.setting("relay_url")?,
                store.setting("relay_till")?,
                store.setting("relay_shop")?,
            ) {
                (Some(url), Some(till), Some(shop)) => Some((url, till, shop)),
                _ => None,
            },
        )
    }

    /// The number of the last relay message this till applied.
    pub fn relay_watermark(&self) -> Result<u64> {
        Ok(crate::relay::Watermark::load(&self.store())?.seq)
    }

    /// The settings as stored now (overlaid with the environment), which may differ from
    /// those this till started with until it restarts.
    pub fn stored_settings(&self) -> Result<Settings> {
        let env = |k: &str| std::env::var(k).ok();
        Settings::load(&self.store(), &env, self.mode)
    }
}

/// A relay pairing string, read and checked whole (its URL as the `relay_url` setting wants
/// it) before anything of it is stored.
/// Whether a relay URL names this machine (127.0.0.0/8, ::1 or localhost).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn check_pairing(pairing: &str) -> Result<duka_relay_proto::Pairing> {
    let mut p = duka_relay_proto::Pairing::decode(pairing.trim()).map_err(|e| Error::Invalid {
        field: "pairing",
        expected: "the string `duka-relay till add` printed (dukarelay1:…)".into(),
        got: e.0,
    })?;
    p.url = crate::config::check_setting("relay_url", &p.url).map_err(|_| Error::Invalid {
        field: "pairing",
        expected: "a pairing whose relay URL is an http:// or https:// address".into(),
        got: p.url.clone(),
    })?;
    Ok(p)
}

#[cfg(test)]
mod tests;
