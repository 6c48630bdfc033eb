//! Settings and staff (managers only). Secrets go to the OS keyring (or the documented file
//! fallback) and are never sent back: the UI learns only whether each one is set.

use duka_core::config::{self, Credentials, Environment, Settings, Source};
use duka_core::secrets::{Secret, SecretKey};
use duka_core::store::Cashier;
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::{Duka, Result, UiError};

#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub settings: Settings,
    /// Settings fixed by environment variables (the form shows them read-only).
    pub from_env: Vec<String>,
    pub consumer_key_set: bool,
    pub consumer_secret_set: bool,
    pub passkey_set: bool,
    /// `keyring`, `file` or `memory`.
    pub secret_backend: &'static str,
    pub relay: Option<RelayView>,
}

#[derive(Debug, Serialize)]
pub struct RelayView {
    pub url: String,
    pub till: String,
    pub shop: String,
    pub connected: bool,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn view(duka: &Duka) -> Result<SettingsView> {
    let secrets = duka.secrets.as_ref();
    let running = duka.running();
    let store = running.engine.store();
    let creds = Credentials::load(secrets, &env)?;
    let settings = Settings::load(&store, &env, creds.is_some())?;
    let relay = match (
        store.setting("relay_url")?,
        store.setting("relay_till")?,
        store.setting("relay_shop")?,
    ) {
        (Some(url), Some(till), Some(shop)) => Some(RelayView {
            url,
            till,
            shop,
            connected: running.relay_status().is_some_and(|s| s.connected),
        }),
        _ => None,
    };
    Ok(SettingsView {
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
        secret_backend: secrets.backend(),
        relay,
    })
}

#[tauri::command]
pub fn get_settings(duka: State<'_, Duka>) -> Result<SettingsView> {
    duka.manager()?;
    view(&duka)
}

/// The settings form. Empty secrets and an empty pairing string leave what is stored.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
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
}

fn given(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

/// Every field is checked before anything is written; then the secrets go to the secret store,
/// the settings to the database in one transaction, and the till restarts with them.
#[tauri::command]
pub async fn save_settings<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    duka: State<'_, Duka>,
    form: SettingsForm,
) -> Result<SettingsView> {
    duka.manager()?;
    let environment = Environment::parse(&form.environment)?;
    let mut values: Vec<(&str, Option<String>)> =
        vec![("environment", Some(environment.as_str().into()))];
    for (name, value) in [
        ("daraja_base_url", &form.daraja_base_url),
        ("shortcode", &form.shortcode),
        ("till_type", &form.till_type),
        ("party_b", &form.party_b),
        ("shop_name", &form.shop_name),
        ("printer", &form.printer),
    ] {
        values.push((
            name,
            given(value)
                .map(|v| config::check_setting(name, v))
                .transpose()?,
        ));
    }
    let pairing = given(&form.relay_pairing)
        .map(|p| {
            duka_relay_proto::Pairing::decode(p).map_err(|e| {
                UiError::new(
                    "invalid_input",
                    format!(
                        "relay pairing: expected the string `duka-relay till add` printed (dukarelay1:…), got {}",
                        e.0
                    ),
                )
            })
        })
        .transpose()?;
    let secrets = duka.secrets.as_ref();
    let new_secrets = [
        (SecretKey::ConsumerKey, given(&form.consumer_key)),
        (SecretKey::ConsumerSecret, given(&form.consumer_secret)),
        (SecretKey::Passkey, given(&form.passkey)),
    ];
    if environment != Environment::Demo {
        let missing: Vec<&str> = new_secrets
            .iter()
            .filter(|(k, v)| v.is_none() && secrets.get(*k).ok().flatten().is_none())
            .map(|(k, _)| k.name())
            .collect();
        if !missing.is_empty() {
            return Err(UiError::new(
                "invalid_input",
                format!(
                    "{}: {} needs {}",
                    missing[0],
                    environment.as_str(),
                    missing.join(", ")
                ),
            ));
        }
        if given(&form.shortcode).is_none() {
            return Err(UiError::new(
                "invalid_input",
                format!(
                    "shortcode: {} needs the shortcode, 5 to 7 digits",
                    environment.as_str()
                ),
            ));
        }
        if environment == Environment::Custom && given(&form.daraja_base_url).is_none() {
            return Err(UiError::new(
                "invalid_input",
                "daraja_base_url: environment custom needs an http(s) URL",
            ));
        }
    }
    if form.till_type.trim() == "till" && given(&form.party_b).is_none() {
        return Err(UiError::new(
            "invalid_input",
            "party_b: a till (Buy Goods) needs the till number, 5 to 7 digits",
        ));
    }

    for (key, value) in new_secrets {
        if let Some(v) = value {
            secrets.set(key, &Secret::new(v))?;
        }
    }
    {
        let engine = duka.engine();
        let mut store = engine.store();
        let refs: Vec<(&str, Option<&str>)> =
            values.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        store.set_settings(&refs)?;
        if let Some(p) = &pairing {
            duka_app::pair_relay(&mut store, secrets, &p.encode())?;
        }
    }
    let running = duka.restart().await?;
    crate::forward_events(&app, &running.engine);
    view(&duka)
}

#[derive(Debug, Serialize)]
pub struct ConnectionTest {
    pub environment: String,
    pub millis: u64,
}

/// "Test connection": a token request with the form's environment and credentials (stored ones
/// where the form leaves them empty).
#[tauri::command]
pub async fn test_connection(duka: State<'_, Duka>, form: SettingsForm) -> Result<ConnectionTest> {
    duka.manager()?;
    let environment = Environment::parse(&form.environment)?;
    let base = given(&form.daraja_base_url)
        .map(|u| config::check_setting("daraja_base_url", u))
        .transpose()?;
    let secret = |typed: &str, key: SecretKey| -> Result<String> {
        Ok(match given(typed) {
            Some(v) => v.to_string(),
            None => duka
                .secrets
                .get(key)?
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
        })
    };
    let key = secret(&form.consumer_key, SecretKey::ConsumerKey)?;
    let consumer_secret = secret(&form.consumer_secret, SecretKey::ConsumerSecret)?;
    let running = duka.running();
    let demo_base = running.sim().map(|s| s.base_url().to_string());
    let took = duka_app::test_connection(
        environment,
        base.as_deref(),
        demo_base.as_deref(),
        &key,
        &consumer_secret,
    )
    .await?;
    Ok(ConnectionTest {
        environment: environment.as_str().into(),
        millis: took.as_millis() as u64,
    })
}

#[tauri::command]
pub fn staff(duka: State<'_, Duka>) -> Result<Vec<Cashier>> {
    duka.manager()?;
    Ok(duka.engine().store().cashiers()?)
}

/// Adds a cashier or manager with a PIN, in one go.
#[tauri::command]
pub fn add_staff(
    duka: State<'_, Duka>,
    name: String,
    role: String,
    pin: String,
) -> Result<Cashier> {
    duka.manager()?;
    Ok(duka
        .engine()
        .store()
        .add_cashier_with_pin(&name, &role, &pin)?)
}

#[tauri::command]
pub fn set_staff_pin(duka: State<'_, Duka>, name: String, pin: String) -> Result<()> {
    duka.manager()?;
    Ok(duka.engine().store().set_pin(&name, &pin)?)
}
