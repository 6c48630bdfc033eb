//! Changing a till's settings: one operation for the desktop's Settings form and `duka config
//! set` (`duka init` stores the values it is given on a till it has just made). Every field is checked before anything is written; then the secrets
//! go to the secret store and the settings to the database; the shell restarts the till (or
//! starts the other one) with them.
//!
//! Demo mode and the shop have a database each, and the environment picks which one runs:
//! switching never carries staff, sales or settings across. From demo mode (whose PINs are
//! public) a shop till that is already set up is only switched to, never changed: its own
//! manager signs in there to change it.

use std::path::Path;
use std::time::Duration;

use duka_core::config::{self, Environment, Mode, Settings, Source};
use duka_core::secrets::{Secret, SecretKey, SecretStore};
use duka_core::{Store, Till};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A change to a till's settings.
#[derive(Debug, Default)]
pub struct Change {
    /// The environment chosen (`None`: unchanged). Choosing one chooses its till.
    pub environment: Option<Environment>,
    /// Settings to store (`Some`) or clear (`None`), by key name.
    pub values: Vec<(String, Option<String>)>,
    /// Secrets typed now (never read back).
    pub secrets: Vec<(SecretKey, Secret)>,
    /// A relay pairing string (`duka-relay till add` printed it).
    pub pairing: Option<String>,
    /// The change is a whole configuration (the Settings form): a shop till must come out of
    /// it able to take payments (`config::check_ready`). `duka config set` changes one value
    /// at a time and says afterwards what is still missing.
    pub whole: bool,
}

/// What the shell does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Saved on the till that runs: restart it for the settings to take effect.
    Saved,
    /// The other till (`to`) runs from now on: start it. Nobody is signed in there.
    Switched { to: Mode },
}

/// Checks `change` whole, then writes it for the till that runs in `data_dir` (`current`).
pub fn save(
    data_dir: &Path,
    current: &Till,
    secrets: &dyn SecretStore,
    change: &Change,
) -> Result<Outcome> {
    let from = current.mode();
    let to = change.environment.map(Mode::of).unwrap_or(from);
    let typed = change
        .secrets
        .first()
        .map(|(k, _)| k.name())
        .or(change.pairing.as_ref().map(|_| "relay pairing"));
    // Where the change goes: `None` when it only switches till.
    let other_shop = match (from, to) {
        (_, Mode::Demo) => {
            // Demo mode takes no secrets; it may pair with a relay on this machine (a demo
            // shop of several tills), but not while switching to it.
            let refused = change.secrets.first().map(|(k, _)| k.name()).or(change
                .pairing
                .as_ref()
                .filter(|_| from == Mode::Shop)
                .map(|_| "relay pairing"));
            if let Some(name) = refused {
                return Err(invalid(
                    name,
                    "nothing: demo mode needs none (leave it empty)",
                    "a value",
                ));
            }
            if from == Mode::Shop {
                // The shop's settings stay as they are; demo mode keeps its own.
                Mode::Demo.choose(data_dir)?;
                return Ok(Outcome::Switched { to: Mode::Demo });
            }
            None
        }
        (Mode::Shop, Mode::Shop) => None,
        (Mode::Demo, Mode::Shop) => {
            let shop = Store::open(&Mode::Shop.db_path(data_dir))?;
            if shop.cashiers()?.iter().any(|c| c.has_pin) {
                if let Some(name) = typed {
                    return Err(Error::Core(duka_core::Error::Denied(format!(
                        "{name}: the shop's till is set up already; switch to it with this \
                         field empty, and its manager changes it there"
                    ))));
                }
                Mode::Shop.choose(data_dir)?;
                return Ok(Outcome::Switched { to: Mode::Shop });
            }
            Some(crate::offline(shop, Mode::Shop)?)
        }
    };
    let target = other_shop.as_ref().unwrap_or(current);

    // Everything is checked before anything is written.
    let mut values: Vec<(&str, Option<String>)> = Vec::new();
    if let (Mode::Shop, Some(e)) = (to, change.environment) {
        values.push(("environment", Some(e.as_str().into())));
    }
    let mut after = target.stored_settings()?;
    if let Some(e) = change.environment.filter(|_| to == Mode::Shop) {
        after.environment = e;
    }
    for (name, value) in &change.values {
        let checked = value
            .as_deref()
            .map(|v| config::check_setting(name, v))
            .transpose()?;
        after.set_value(name, checked.as_deref())?;
        values.push((name.as_str(), checked));
    }
    let pairing = change
        .pairing
        .as_deref()
        .map(duka_core::till::check_pairing)
        .transpose()?;
    if let Some(p) = pairing.as_ref().filter(|_| to == Mode::Demo)
        && !duka_core::till::is_loopback_url(&p.url)
    {
        return Err(invalid(
            "pairing",
            "in demo mode, a relay on this machine (http://127.0.0.1:…); for a relay on the internet, choose the shop's environment first",
            &p.url,
        ));
    }
    if change.whole && to == Mode::Shop {
        config::check_ready(&after, &|k| has_secret(secrets, change, k))?;
        if after.initiator.is_some() {
            // Transaction Status needs all three; half of them would be silently off.
            if after.certificate.is_none() {
                return Err(invalid(
                    "certificate",
                    "the path of Safaricom's certificate (PEM) for the initiator",
                    "not set",
                ));
            }
            if !has_secret(secrets, change, SecretKey::InitiatorPassword) {
                return Err(invalid(
                    "initiator_password",
                    "the initiator's password",
                    "not set",
                ));
            }
        }
    }

    for (key, value) in &change.secrets {
        secrets.set(*key, value)?;
    }
    let refs: Vec<(&str, Option<&str>)> = values.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    target.save_settings(&refs)?;
    if let Some(p) = &pairing {
        target.pair_relay(secrets, &p.encode())?;
    }
    if other_shop.is_some() {
        // From demo mode to a shop till nobody has set up: the change is its first settings,
        // and its first start asks for the manager.
        Mode::Shop.choose(data_dir)?;
        return Ok(Outcome::Switched { to: Mode::Shop });
    }
    Ok(Outcome::Saved)
}

/// A secret is there: typed now, stored, or in the environment.
fn has_secret(secrets: &dyn SecretStore, change: &Change, k: SecretKey) -> bool {
    change.secrets.iter().any(|(t, _)| *t == k)
        || secrets.get(k).ok().flatten().is_some()
        || std::env::var(format!("DUKA_{}", k.name().to_ascii_uppercase()))
            .is_ok_and(|v| !v.is_empty())
}

/// What a shop till still needs before it can take M-Pesa payments (`None`: nothing), for a
/// shell to say after a partial change.
pub fn missing_for_payments(till: &Till, secrets: &dyn SecretStore) -> Option<String> {
    if till.mode() == Mode::Demo {
        return None;
    }
    let settings = till.stored_settings().ok()?;
    config::check_ready(&settings, &|k| has_secret(secrets, &Change::default(), k))
        .err()
        .map(|e| e.to_string())
}

fn invalid(field: &'static str, expected: &str, got: &str) -> Error {
    Error::Core(duka_core::Error::Invalid {
        field,
        expected: expected.to_string(),
        got: got.into(),
    })
}

/// The Settings form of the desktop. Empty secrets and an empty pairing string leave what is
/// stored; an empty setting clears it.
#[derive(Debug, Default, Clone, Deserialize, ts_rs::TS)]
#[ts(rename = "SettingsForm")]
pub struct Form {
    pub environment: String,
    #[serde(default)]
    pub daraja_base_url: String,
    #[serde(default)]
    pub shortcode: String,
    #[serde(default)]
    pub till_type: String,
    #[serde(default)]
    pub party_b: String,
    #[serde(default)]
    pub shop_name: String,
    #[serde(default)]
    pub printer: String,
    #[serde(default)]
    pub consumer_key: String,
    #[serde(default)]
    pub consumer_secret: String,
    #[serde(default)]
    pub passkey: String,
    #[serde(default)]
    pub relay_pairing: String,
    /// The API operator for Transaction Status (optional), with its password and the path of
    /// Safaricom's certificate.
    #[serde(default)]
    pub initiator: String,
    #[serde(default)]
    pub initiator_password: String,
    #[serde(default)]
    pub certificate: String,
    /// The backup folder (a full path; empty: `backups/` beside the database) and how many
    /// backups are kept (1 to 365; empty: 14). Left out (`null`), each stays as it is, so a
    /// form that does not show them changes nothing.
    #[serde(default)]
    pub backup_dir: Option<String>,
    #[serde(default)]
    pub backup_keep: Option<String>,
}

fn given(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

impl Form {
    /// The form as a whole change.
    pub fn change(&self) -> Result<Change> {
        let values = [
            ("daraja_base_url", &self.daraja_base_url),
            ("shortcode", &self.shortcode),
            ("till_type", &self.till_type),
            ("party_b", &self.party_b),
            ("shop_name", &self.shop_name),
            ("printer", &self.printer),
            ("initiator", &self.initiator),
            ("certificate", &self.certificate),
        ]
        .into_iter()
        .chain(
            [
                ("backup_dir", &self.backup_dir),
                ("backup_keep", &self.backup_keep),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v))),
        )
        .map(|(k, v)| (k.to_string(), given(v).map(str::to_string)))
        .collect();
        let secrets = [
            (SecretKey::ConsumerKey, &self.consumer_key),
            (SecretKey::ConsumerSecret, &self.consumer_secret),
            (SecretKey::Passkey, &self.passkey),
            (SecretKey::InitiatorPassword, &self.initiator_password),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v).map(|v| (k, Secret::new(v))))
        .collect();
        Ok(Change {
            environment: Some(Environment::parse(&self.environment)?),
            values,
            secrets,
            pairing: given(&self.relay_pairing).map(str::to_string),
            whole: true,
        })
    }
}

/// Checks what a form gives, value by value, as a save would (the first-run setup checks each
/// step before the next): the first bad field is named, nothing is written.
pub fn check(form: &Form) -> Result<()> {
    let change = form.change()?;
    for (key, value) in &change.values {
        if let Some(v) = value {
            config::check_setting(key, v)?;
        }
    }
    if let Some(p) = &change.pairing {
        duka_core::till::check_pairing(p)?;
    }
    Ok(())
}

/// What the Settings screen shows. Secrets are never sent back: only whether each is set.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(rename = "SettingsView")]
pub struct View {
    pub settings: Settings,
    /// Settings fixed by environment variables (the form shows them read-only).
    pub from_env: Vec<String>,
    pub consumer_key_set: bool,
    pub consumer_secret_set: bool,
    pub passkey_set: bool,
    pub initiator_password_set: bool,
    /// `keyring`, `file` or `memory`.
    pub secret_backend: String,
    pub relay: Option<RelayView>,
    /// The shop's till or demo mode's; each has its own database and staff.
    pub till: Mode,
    /// Saving switched to the other till: nobody is signed in there yet.
    pub signed_out: bool,
}

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct RelayView {
    pub url: String,
    pub till: String,
    pub shop: String,
    pub connected: bool,
}

/// The settings of the till that runs, for the Settings screen.
pub fn view(till: &Till, secrets: &dyn SecretStore) -> Result<View> {
    let settings = till.stored_settings()?;
    let relay = till.pairing_info()?.map(|(url, id, shop)| RelayView {
        url,
        till: id,
        shop,
        connected: till.relay_status().is_some_and(|s| s.connected),
    });
    Ok(View {
        from_env: settings
            .sources
            .iter()
            .filter(|(_, s)| *s == Source::Env)
            .map(|(k, _)| k.clone())
            .collect(),
        settings,
        consumer_key_set: secrets.get(SecretKey::ConsumerKey)?.is_some(),
        consumer_secret_set: secrets.get(SecretKey::ConsumerSecret)?.is_some(),
        passkey_set: secrets.get(SecretKey::Passkey)?.is_some(),
        initiator_password_set: secrets.get(SecretKey::InitiatorPassword)?.is_some(),
        secret_backend: secrets.backend().to_string(),
        relay,
        till: till.mode(),
        signed_out: false,
    })
}

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ConnectionTest {
    pub environment: Environment,
    pub millis: u64,
}

/// The form's Daraja URL, checked (`None`: none typed).
fn form_base_url(form: &Form) -> Result<Option<String>> {
    Ok(given(&form.daraja_base_url)
        .map(|u| config::check_setting("daraja_base_url", u))
        .transpose()?)
}

/// A secret as typed in the form, else the stored one, except in demo mode (whose manager is
/// anyone who reads its PINs): there only what is typed, never the shop's stored secrets.
fn typed_or_stored(
    running: &crate::Running,
    secrets: &dyn SecretStore,
    typed: &str,
    key: SecretKey,
) -> Result<String> {
    Ok(match given(typed) {
        Some(v) => v.to_string(),
        None if running.mode() == Mode::Demo => String::new(),
        None => secrets
            .get(key)?
            .map(|s| s.expose().to_string())
            .unwrap_or_default(),
    })
}

/// "Test connection" with the form's environment and credentials: a token request. Stored
/// credentials fill what the form leaves empty, except in demo mode, whose manager is anyone
/// who reads its PINs: the shop's credentials are never sent on their word (to a URL they
/// typed), only what they type themselves.
pub async fn test_form(
    running: &crate::Running,
    secrets: &dyn SecretStore,
    form: &Form,
) -> Result<ConnectionTest> {
    let environment = Environment::parse(&form.environment)?;
    let base = form_base_url(form)?;
    let secret = |typed: &str, key: SecretKey| typed_or_stored(running, secrets, typed, key);
    let key = secret(&form.consumer_key, SecretKey::ConsumerKey)?;
    let consumer_secret = secret(&form.consumer_secret, SecretKey::ConsumerSecret)?;
    let took: Duration = crate::test_connection(
        environment,
        base.as_deref(),
        running.demo_url(),
        &key,
        &consumer_secret,
    )
    .await?;
    Ok(ConnectionTest {
        environment,
        millis: took.as_millis() as u64,
    })
}

/// How the first-run setup's KES 1 test push ended.
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// The owner approved it: the shortcode, till number and passkey are right.
    Paid,
    /// M-Pesa said no: `result_code` and `result_desc` say why (a wrong till number comes
    /// back as the request "not permitted according to product assignment", 2028).
    Failed,
    /// Still pending when the prompt must have expired.
    NoAnswer,
}

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct TestPush {
    pub outcome: PushOutcome,
    pub result_code: Option<String>,
    pub result_desc: Option<String>,
    /// How long it took, the owner's PIN included.
    pub millis: u64,
}

/// The first-run setup's test: a KES 1 STK push with the form's shortcode, payee, passkey and
/// credentials (stored ones where the form leaves them empty, except in demo mode) to `phone`,
/// followed by the STK query until M-Pesa has an answer or the prompt has expired. Nothing is
/// saved; the shilling is the shop's own (it is paid to the shop).
pub async fn test_push(
    running: &crate::Running,
    secrets: &dyn SecretStore,
    form: &Form,
    phone: &str,
) -> Result<TestPush> {
    let environment = Environment::parse(&form.environment)?;
    let base = form_base_url(form)?;
    let secret = |typed: &str, key: SecretKey| typed_or_stored(running, secrets, typed, key);
    let demo_env = environment == Environment::Demo;
    let (key, consumer_secret, passkey) = if demo_env {
        use duka_core::engine::demo as d;
        let passkey = given(&form.passkey).unwrap_or(d::PASSKEY).to_string();
        (
            d::CONSUMER_KEY.to_string(),
            d::CONSUMER_SECRET.to_string(),
            passkey,
        )
    } else {
        (
            secret(&form.consumer_key, SecretKey::ConsumerKey)?,
            secret(&form.consumer_secret, SecretKey::ConsumerSecret)?,
            secret(&form.passkey, SecretKey::Passkey)?,
        )
    };
    let shortcode = match given(&form.shortcode) {
        Some(s) => config::check_setting("shortcode", s)?,
        None if demo_env => duka_core::engine::demo::SHORTCODE.to_string(),
        None => {
            return Err(Error::Core(duka_core::Error::Config(
                "shortcode: the PayBill number, or the store number of a Buy Goods till, is needed"
                    .into(),
            )));
        }
    };
    let till_type = config::TillType::parse(given(&form.till_type).unwrap_or("paybill"))?;
    let payee = match till_type {
        config::TillType::Paybill => daraja::Payee::Paybill,
        config::TillType::Till => {
            let till_number = given(&form.party_b).ok_or_else(|| {
                Error::Core(duka_core::Error::Config(
                    "party_b: a Buy Goods till needs its till number (the store number is the shortcode)".into(),
                ))
            })?;
            daraja::Payee::Till {
                till_number: config::check_setting("party_b", till_number)?,
            }
        }
    };
    let target = crate::daraja_target(environment, base.as_deref(), running.demo_url())?;
    if key.is_empty() || consumer_secret.is_empty() || passkey.is_empty() {
        return Err(Error::Connection(
            "the consumer key, consumer secret and passkey are all needed".into(),
        ));
    }
    let client = daraja::Client::new(daraja::Config::new(target, &key, &consumer_secret))?;
    let started = std::time::Instant::now();
    let push = daraja::StkPush {
        shortcode: shortcode.clone(),
        passkey: passkey.clone(),
        payee,
        amount: 1,
        phone: phone.to_string(),
        callback_url: duka_core::engine::EngineConfig::placeholder_callback("setup-test"),
        account_reference: "Duka test".into(),
        description: "Setup test".into(),
    };
    let answer = client.stk_push(&push).await?;
    let checkout = answer.checkout_request_id.clone();
    // The prompt lives about a minute on the phone; the query says how it ended.
    let deadline = started + Duration::from_secs(120);
    loop {
        tokio::time::sleep(Duration::from_millis(750)).await;
        let status = client.stk_query(&shortcode, &passkey, &checkout).await;
        let done = |outcome, code: Option<String>, desc: Option<String>| TestPush {
            outcome,
            result_code: code,
            result_desc: desc,
            millis: started.elapsed().as_millis() as u64,
        };
        match status {
            Ok(daraja::QueryStatus::Done {
                result_code,
                result_desc,
            }) => {
                let paid = result_code.is_zero();
                let outcome = if paid {
                    PushOutcome::Paid
                } else {
                    PushOutcome::Failed
                };
                return Ok(done(
                    outcome,
                    Some(result_code.as_str().to_string()),
                    Some(result_desc),
                ));
            }
            Ok(daraja::QueryStatus::Pending { .. }) | Err(daraja::Error::RateLimited { .. })
                if std::time::Instant::now() < deadline => {}
            Ok(daraja::QueryStatus::Pending { .. }) | Err(daraja::Error::RateLimited { .. }) => {
                return Ok(done(PushOutcome::NoAnswer, None, None));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
