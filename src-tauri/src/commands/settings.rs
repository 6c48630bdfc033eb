//! Settings and staff (managers only). Secrets go to the OS keyring (or the documented file
//! fallback) and are never sent back: the UI learns only whether each one is set.

use duka_core::config::{self, Environment, Mode, Settings, Source};
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
    /// The shop's till or demo mode's; each has its own database and staff.
    pub till: Mode,
    /// Saving switched to the other till: nobody is signed in there yet.
    pub signed_out: bool,
}

#[derive(Debug, Serialize)]
pub struct RelayView {
    pub url: String,
    pub till: String,
    pub shop: String,
    pub connected: bool,
}

fn view(duka: &Duka) -> Result<SettingsView> {
    let secrets = duka.secrets.as_ref();
    let running = duka.running();
    let settings = running.stored_settings()?;
    let relay = running.pairing_info()?.map(|(url, till, shop)| RelayView {
        url,
        till,
        shop,
        connected: running.relay_status().is_some_and(|s| s.connected),
    });
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
        till: running.mode(),
        signed_out: false,
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
///
/// Demo mode and the shop have a database each, and the environment picks which one runs:
/// switching never carries staff, sales or settings across. From demo mode (whose PINs are
/// public) a shop till that is already set up is only switched to, never changed: its own
/// manager signs in there to change it. Switching signs out.
#[tauri::command]
pub async fn save_settings<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    duka: State<'_, Duka>,
    form: SettingsForm,
) -> Result<SettingsView> {
    duka.manager()?;
    let environment = Environment::parse(&form.environment)?;
    let current = duka.running().mode();
    let target = Mode::of(environment);
    let secrets = duka.secrets.as_ref();
    let new_secrets = [
        (SecretKey::ConsumerKey, given(&form.consumer_key)),
        (SecretKey::ConsumerSecret, given(&form.consumer_secret)),
        (SecretKey::Passkey, given(&form.passkey)),
    ];
    let typed_secret = new_secrets
        .iter()
        .find(|(_, v)| v.is_some())
        .map(|(k, _)| k.name());
    // Where the form goes: `None` when this save only switches till.
    let shop_store = match (current, target) {
        (_, Mode::Demo) => {
            if let Some(name) = typed_secret.or(given(&form.relay_pairing).map(|_| "relay pairing"))
            {
                return Err(UiError::new(
                    "invalid_input",
                    format!("{name}: demo mode needs none (leave it empty)"),
                ));
            }
            None
        }
        (Mode::Shop, Mode::Shop) => None,
        (Mode::Demo, Mode::Shop) => {
            let shop = duka_core::Store::open(&Mode::Shop.db_path(&duka.data_dir))?;
            if shop.cashiers()?.iter().any(|c| c.has_pin) {
                if let Some(name) =
                    typed_secret.or(given(&form.relay_pairing).map(|_| "relay pairing"))
                {
                    return Err(UiError::new(
                        "denied",
                        format!(
                            "{name}: the shop's till is set up already; switch to it with this \
                             field empty, and its manager changes it there"
                        ),
                    ));
                }
                Mode::Shop.choose(&duka.data_dir)?;
                return switched(&app, &duka).await;
            }
            Some(shop)
        }
    };
    if current == Mode::Shop && target == Mode::Demo {
        // The shop's settings stay as they are; demo mode keeps its own.
        Mode::Demo.choose(&duka.data_dir)?;
        return switched(&app, &duka).await;
    }

    let mut values: Vec<(&str, Option<String>)> = Vec::new();
    if target == Mode::Shop {
        values.push(("environment", Some(environment.as_str().into())));
    }
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
    if target == Mode::Shop {
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
    let refs: Vec<(&str, Option<&str>)> = values.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    let write = |till: &duka_core::Till| -> Result<()> {
        till.save_settings(&refs)?;
        if let Some(p) = &pairing {
            till.pair_relay(secrets, &p.encode())?;
        }
        Ok(())
    };
    if let Some(shop) = shop_store {
        // From demo mode to a shop till nobody has set up: the form is its first settings,
        // and its first start asks for the manager.
        write(&duka_app::offline(shop, Mode::Shop)?)?;
        Mode::Shop.choose(&duka.data_dir)?;
        return switched(&app, &duka).await;
    }
    write(&duka.running())?;
    let running = duka.restart().await?;
    crate::forward_events(&app, &running);
    view(&duka)
}

/// The till was switched: start the other one (which signs out) and say so.
async fn switched<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    duka: &Duka,
) -> Result<SettingsView> {
    let running = match duka.restart().await {
        Ok(r) => r,
        Err(e) => {
            // The old till keeps serving; the next start must not open the other one either.
            duka.running().mode().choose(&duka.data_dir)?;
            return Err(e);
        }
    };
    crate::forward_events(app, &running);
    let mut v = view(duka)?;
    v.signed_out = true;
    Ok(v)
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
    // Demo mode's manager is anyone who reads its PINs: the shop's stored credentials are
    // never sent on their word (to a URL they typed), only what they type themselves.
    let demo = duka.running().mode() == Mode::Demo;
    let secret = |typed: &str, key: SecretKey| -> Result<String> {
        Ok(match given(typed) {
            Some(v) => v.to_string(),
            None if demo => String::new(),
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
    let demo_base = running.demo_url().map(str::to_string);
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
    Ok(duka.running().staff()?)
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
    Ok(duka.running().add_staff_with_pin(&name, &role, &pin)?)
}

#[tauri::command]
pub fn set_staff_pin(duka: State<'_, Duka>, name: String, pin: String) -> Result<()> {
    duka.manager()?;
    duka.running().set_pin(&name, &pin)?;
    Ok(())
}

/// Lets a staff member locked out by wrong PINs try again.
#[tauri::command]
pub fn unlock_staff(duka: State<'_, Duka>, name: String) -> Result<Cashier> {
    duka.manager()?;
    Ok(duka.running().unlock(&name)?)
}
