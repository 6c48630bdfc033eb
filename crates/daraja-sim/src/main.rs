//! `daraja-sim`: the Daraja simulator as a standalone server, for demo mode and manual tests.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use daraja_sim::SimConfig;

#[derive(Parser)]
#[command(
    name = "daraja-sim",
    version,
    about = "A simulator of Safaricom's M-Pesa Daraja API"
)]
struct Args {
    /// Port to listen on (0 picks a free one; the address is printed)
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// A JSON scenario: any SimConfig fields (credentials, shortcodes, behaviours, faults)
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Seed for every random choice
    #[arg(long)]
    seed: Option<u64>,
    /// Length of a scenario unit in milliseconds (1000 = real seconds)
    #[arg(long)]
    time_unit_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut cfg = match &args.scenario {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str::<SimConfig>(&text)
                .with_context(|| format!("{}: not a valid scenario", p.display()))?
        }
        None => SimConfig::default(),
    };
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(u) = args.time_unit_ms {
        cfg.time_unit_ms = u;
    }
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    println!("daraja-sim listening on http://{addr}");
    println!(
        "consumer key {:?}; shortcodes {:?}",
        cfg.consumer_key,
        cfg.shortcodes
            .iter()
            .map(|s| &s.shortcode)
            .collect::<Vec<_>>()
    );
    daraja_sim::run(
        listener,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
        cfg,
    )
    .await?;
    Ok(())
}
