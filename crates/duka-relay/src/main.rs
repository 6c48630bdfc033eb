//! `duka-relay`: serve the relay, and manage its shops and tills.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use duka_relay::{Config, Store};
use duka_relay_proto::Pairing;

#[derive(Parser)]
#[command(
    name = "duka-relay",
    version,
    about = "Receives Daraja's callbacks and forwards them to Duka tills"
)]
struct Cli {
    /// Where relay.db lives
    #[arg(
        long,
        global = true,
        env = "DUKA_RELAY_DATA_DIR",
        default_value = "/var/lib/duka-relay"
    )]
    data_dir: PathBuf,
    /// PostgreSQL instead of relay.db: postgres://user:password@host:port/dbname (several relay
    /// processes may share one database; connections are not encrypted, keep it on localhost
    /// or a private network)
    #[arg(long, global = true, env = "DUKA_RELAY_DATABASE")]
    database: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve callbacks and tills
    Serve {
        /// Address to listen on (plain HTTP; put TLS in front, see the README)
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// JSON: max_body, rate_limit_per_ip, no_rate_limit, allow_ips, trusted_proxies, ttl_secs, validation_timeout_ms, keep_records_days
        #[arg(long)]
        config: Option<PathBuf>,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key); otherwise plain HTTP
        /// behind a reverse proxy
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    #[command(subcommand)]
    Till(TillCmd),
    #[command(subcommand)]
    Shop(ShopCmd),
}

#[derive(Subcommand)]
enum TillCmd {
    /// Register a till; prints its id, key and the pairing string to paste into Duka
    Add {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        name: String,
        /// The relay's public base URL, as Daraja and the tills reach it
        #[arg(long, env = "DUKA_RELAY_PUBLIC_URL")]
        url: String,
    },
    List,
    /// Refuse a till's connections and callbacks from now on
    Revoke {
        id: String,
    },
    /// A new key for a till (a stolen or replaced PC): its history stays on the relay, the old
    /// key stops working, and the new pairing string is printed for the replacement
    Rekey {
        id: String,
        /// The relay's public base URL, as Daraja and the tills reach it
        #[arg(long, env = "DUKA_RELAY_PUBLIC_URL")]
        url: String,
    },
}

#[derive(Subcommand)]
enum ShopCmd {
    /// The shop's C2B confirmation and validation URLs (register them with Daraja)
    Urls {
        #[arg(long)]
        shop: String,
        #[arg(long, env = "DUKA_RELAY_PUBLIC_URL")]
        url: String,
    },
    /// What a C2B validation gets when no till answers in time: Completed or Cancelled
    Default {
        #[arg(long)]
        shop: String,
        value: String,
    },
}

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    max_body: Option<usize>,
    rate_limit_per_ip: Option<u32>,
    no_rate_limit: bool,
    allow_ips: Vec<IpAddr>,
    trusted_proxies: Vec<IpAddr>,
    ttl_secs: Option<u64>,
    validation_timeout_ms: Option<u64>,
    /// Tills' own records (sync) not changed for this many days are dropped (0 or absent:
    /// kept for good).
    keep_records_days: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve {
            listen,
            config,
            tls_cert,
            tls_key,
        } => {
            let mut cfg = Config::new(cli.data_dir.clone());
            cfg.database = cli.database.clone();
            if let Some(path) = config {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let f: FileConfig = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a relay config", path.display()))?;
                cfg.max_body = f.max_body.unwrap_or(cfg.max_body);
                cfg.rate_limit_per_ip = if f.no_rate_limit {
                    None
                } else {
                    f.rate_limit_per_ip.or(cfg.rate_limit_per_ip)
                };
                cfg.allow_ips = f.allow_ips;
                cfg.trusted_proxies = f.trusted_proxies;
                cfg.ttl = f.ttl_secs.map(Duration::from_secs).unwrap_or(cfg.ttl);
                cfg.keep_records = f
                    .keep_records_days
                    .filter(|d| *d > 0)
                    .map(|d| Duration::from_secs(d * 24 * 3600));
                cfg.validation_timeout = f
                    .validation_timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(cfg.validation_timeout);
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => {
                    println!("duka-relay listening on https://{}", listener.local_addr()?);
                    duka_relay::run_tls(listener, shutdown, cfg, duka_relay::Tls { cert, key })
                        .await?;
                }
                _ => {
                    println!("duka-relay listening on http://{}", listener.local_addr()?);
                    duka_relay::run(listener, shutdown, cfg).await?;
                }
            }
        }
        Cmd::Till(TillCmd::Add { shop, name, url }) => {
            let store = Store::open_or_connect(&cli.data_dir, cli.database.as_deref()).await?;
            let till = store.add_till(&shop, &name).await?;
            let pairing = Pairing {
                url: url.trim_end_matches('/').to_string(),
                shop: till.shop_id.clone(),
                till: till.id.clone(),
                key: hex::encode(&till.key),
            };
            println!("till {} ({} / {})", till.id, till.shop_name, till.name);
            println!(
                "key {} (keep it secret: it signs this till's callback URLs)",
                pairing.key
            );
            println!(
                "pairing string (paste into Duka: duka relay pair …):\n{}",
                pairing.encode()
            );
        }
        Cmd::Till(TillCmd::List) => {
            let store = Store::open_or_connect(&cli.data_dir, cli.database.as_deref()).await?;
            for t in store.tills().await? {
                println!(
                    "{}  {:<20} {:<20} last seq {:<8} unacked {:<6}{}",
                    t.id,
                    t.shop_name,
                    t.name,
                    t.last_seq,
                    store.unacked(&t.id).await?,
                    if t.revoked { " REVOKED" } else { "" }
                );
            }
        }
        Cmd::Till(TillCmd::Rekey { id, url }) => {
            let store = Store::open_or_connect(&cli.data_dir, cli.database.as_deref()).await?;
            let Some(till) = store.rekey_till(&id).await? else {
                anyhow::bail!("till {id}: no such till, or revoked (a revoked till keeps no key)");
            };
            let pairing = Pairing {
                url: url.trim_end_matches('/').to_string(),
                shop: till.shop_id.clone(),
                till: till.id.clone(),
                key: hex::encode(&till.key),
            };
            println!(
                "till {} ({} / {}) has a new key; the old one is refused from now on",
                till.id, till.shop_name, till.name
            );
            println!(
                "pairing string for the replacement (paste into Duka: duka relay pair, then duka relay restore):\n{}",
                pairing.encode()
            );
        }
        Cmd::Till(TillCmd::Revoke { id }) => {
            let store = Store::open_or_connect(&cli.data_dir, cli.database.as_deref()).await?;
            if !store.revoke_till(&id).await? {
                anyhow::bail!("till {id}: no such till, or already revoked");
            }
            println!("till {id} revoked");
        }
        Cmd::Shop(ShopCmd::Urls { shop, url }) => {
            let store = Store::open_or_connect(&cli.data_dir, cli.database.as_deref()).await?;
            let s = store
                .shop(&shop)
                .await?
                .with_context(|| format!("shop {shop:?} not found"))?;
            let (confirm, validate) = duka_relay_proto::c2b_urls(&url, &s.id, &s.key);
            println!("ConfirmationURL {confirm}\nValidationURL   {validate}");
        }
        Cmd::Shop(ShopCmd::Default { shop, value }) => {
            let store = Store::open_or_connect(&cli.data_dir, cli.database.as_deref()).await?;
            store.set_c2b_default(&shop, &value).await?;
            println!("shop {shop}: C2B validation default {value}");
        }
    }
    Ok(())
}
