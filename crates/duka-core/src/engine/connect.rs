//! From settings and credentials to a Daraja client and the engine's configuration.

use std::sync::Arc;

use daraja::{Client, Payee};

use super::{EngineConfig, PollPolicy, StatusConfig};
use crate::error::{Error, Result};
use crate::secrets::Secret;

/// The public sandbox-style defaults daraja-sim runs with, used in demo mode.
pub mod demo {
    pub const CONSUMER_KEY: &str = "duka-demo-key";
    pub const CONSUMER_SECRET: &str = "duka-demo-secret";
    pub const SHORTCODE: &str = "174379";
    /// Safaricom's public sandbox passkey for 174379 (not a secret).
    pub const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
}

/// Builds the Daraja client and engine configuration from settings and credentials.
/// `demo_base_url` is the in-process simulator's URL in demo mode (the caller starts it).
pub fn connect(
    settings: &crate::config::Settings,
    credentials: Option<&crate::config::Credentials>,
    demo_base_url: Option<&str>,
    poll: PollPolicy,
    relay: Option<&duka_relay_proto::Pairing>,
    token_store: Option<Arc<dyn daraja::TokenStore>>,
) -> Result<(Client, EngineConfig)> {
    use crate::config::Environment as Env;
    let demo = settings.environment == Env::Demo;
    let (environment, key, secret, passkey, shortcode, payee) = match settings.environment {
        Env::Demo => {
            let base = demo_base_url
                .ok_or_else(|| Error::Config("demo mode needs the simulator running".into()))?;
            (
                daraja::Environment::Custom(base.to_string()),
                demo::CONSUMER_KEY.to_string(),
                demo::CONSUMER_SECRET.to_string(),
                Secret::new(demo::PASSKEY),
                demo::SHORTCODE.to_string(),
                Payee::Paybill,
            )
        }
        env => {
            crate::config::check_ready(settings, &|_| credentials.is_some())
                .map_err(|e| Error::Config(e.to_string()))?;
            let c = credentials.ok_or_else(|| Error::Config("credentials".into()))?;
            let shortcode = settings.required_shortcode()?.to_string();
            let payee = match settings.required_party_b()? {
                None => Payee::Paybill,
                Some(t) => Payee::Till {
                    till_number: t.to_string(),
                },
            };
            let environment = match env {
                Env::Sandbox => daraja::Environment::Sandbox,
                Env::Production => daraja::Environment::Production,
                _ => daraja::Environment::Custom(
                    settings.daraja_base_url.clone().unwrap_or_default(),
                ),
            };
            (
                environment,
                c.consumer_key.expose().to_string(),
                c.consumer_secret.expose().to_string(),
                c.passkey.clone(),
                shortcode,
                payee,
            )
        }
    };
    let mut daraja_cfg = daraja::Config::new(environment, &key, &secret);
    // Demo mode's simulator restarts with every till: its tokens are worth nothing after.
    if !demo {
        daraja_cfg.token_store = token_store;
    }
    let client = Client::new(daraja_cfg).map_err(|e| Error::Config(e.to_string()))?;
    Ok((
        client,
        EngineConfig {
            shortcode,
            passkey,
            payee,
            callback_url: match relay {
                Some(p) => {
                    let (url, till, key) = (p.url.clone(), p.till.clone(), p.key_bytes());
                    Arc::new(move |attempt: &str| {
                        duka_relay_proto::stk_callback_url(&url, &till, &key, attempt)
                    })
                }
                None => Arc::new(EngineConfig::placeholder_callback),
            },
            poll,
            in_flight_grace: None,
            status: match (demo, relay) {
                (false, Some(p)) => status_config(settings, credentials, p),
                _ => None,
            },
        },
    ))
}

/// Transaction Status for a shop till: an initiator, its password and Safaricom's certificate,
/// and a relay to bring the result back (a till has no public URL of its own). Anything
/// missing leaves it off (logged): the till sells without it, and a receipt the query did not
/// give arrives with the callback or the customer's SMS.
fn status_config(
    settings: &crate::config::Settings,
    credentials: Option<&crate::config::Credentials>,
    relay: &duka_relay_proto::Pairing,
) -> Option<StatusConfig> {
    let password = credentials.and_then(|c| c.initiator_password.as_ref());
    let (Some(initiator), Some(cert_path), Some(password)) =
        (&settings.initiator, &settings.certificate, password)
    else {
        if settings.initiator.is_some() {
            tracing::warn!(
                "Transaction Status is off: the initiator needs its password (secret initiator_password) and Safaricom's certificate (setting certificate)"
            );
        }
        return None;
    };
    let sealed = std::fs::read_to_string(cert_path)
        .map_err(|e| e.to_string())
        .and_then(|pem| {
            daraja::security::security_credential(password.expose(), &pem)
                .map_err(|e| e.to_string())
        });
    match sealed {
        Ok(credential) => {
            let (url, till, key) = (relay.url.clone(), relay.till.clone(), relay.key_bytes());
            let (url2, till2, key2) = (url.clone(), till.clone(), key.clone());
            Some(StatusConfig {
                initiator: initiator.clone(),
                security_credential: Secret::new(credential),
                result_url: Arc::new(move |attempt: &str| {
                    duka_relay_proto::status_result_url(&url, &till, &key, attempt)
                }),
                reversal_url: Arc::new(move |refund: &str| {
                    duka_relay_proto::reversal_result_url(&url2, &till2, &key2, refund)
                }),
            })
        }
        Err(e) => {
            tracing::warn!("Transaction Status is off: certificate {cert_path}: {e}");
            None
        }
    }
}
