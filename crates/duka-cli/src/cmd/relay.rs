//! The callback relay (pair, status) and the inbox of incoming payments.

use duka_core::secrets::SecretKey;
use serde_json::json;

use crate::args::{Cli, InboxCmd, RelayCmd};
use crate::cmd::sales::{ReceiptOp, use_receipt};
use crate::ctx::{Ctx, invalid, open, stdin_line};
use crate::{pay, render};

pub fn run(cli: &Cli, c: &RelayCmd) -> anyhow::Result<()> {
    match c {
        RelayCmd::Pair { pairing } => pair(cli, pairing.is_some()),
        RelayCmd::Status => status(cli),
        RelayCmd::Restore => restore(cli),
        RelayCmd::Sync => sync(cli),
    }
}

/// This till's records to the relay, now.
fn sync(cli: &Cli) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let pairing = full_pairing(&ctx)?;
    let db = ctx.till.db_path();
    let summary = pay::runtime()?.block_on(duka_core::relay::sync_once(&db, &pairing))?;
    ctx.print(&summary, || {
        format!(
            "Sent {} record(s); the relay has this till's records up to {}.",
            summary.sent, summary.relay_seq
        )
    });
    Ok(())
}

/// The paired relay's full pairing (with its key, from the secret store).
fn full_pairing(ctx: &Ctx) -> anyhow::Result<duka_relay_proto::Pairing> {
    let secrets = ctx.secrets()?;
    duka_app::till_pairing(&ctx.till, secrets.as_ref())?.ok_or_else(|| {
        duka_core::Error::Config(
            "not paired with a relay: duka relay pair (then paste the string)".into(),
        )
        .into()
    })
}

/// A replacement till takes its history back from the relay.
fn restore(cli: &Cli) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let pairing = full_pairing(&ctx)?;
    let db = ctx.till.db_path();
    let json = ctx.json;
    drop(ctx);
    let summary = pay::runtime()?.block_on(duka_core::relay::restore(&db, &pairing, |n| {
        if !json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\r{n} records fetched");
        }
    }))?;
    if !json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!();
    }
    render::print(json, &summary, || {
        format!(
            "Restored {} records from the relay: {} sales; the next sale is number {}.\n\
             PINs never leave a till: set each one again with `duka cashier pin --name NAME`.",
            summary.records, summary.sales, summary.next_sale
        )
    });
    Ok(())
}

/// The whole shop's day, over a question-only connection to the relay.
pub fn shop_day(cli: &Cli, date: Option<&str>) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let day = crate::ctx::day(date, "date")?;
    // The manager check comes before the relay is asked anything.
    ctx.till.shop_day_from(day, &ctx.cashier, Vec::new())?;
    let pairing = full_pairing(&ctx)?;
    let tills = pay::runtime()?.block_on(duka_core::relay::ask_shop_day(&pairing, day))?;
    let shop = ctx.till.shop_day_from(day, &ctx.cashier, tills)?;
    ctx.print(&shop, || render::shop_day(&shop));
    Ok(())
}

pub fn inbox(cli: &Cli, c: Option<&InboxCmd>) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match c {
        None => list(&ctx),
        Some(InboxCmd::Attach { trans_id, sale }) => attach(&ctx, trans_id, *sale),
    }
}

/// The pairing string comes on standard input only.
fn pair(cli: &Cli, on_command_line: bool) -> anyhow::Result<()> {
    if on_command_line {
        return Err(not_on_command_line());
    }
    let ctx = open(cli)?;
    let pairing = read_pairing()?;
    let secrets = ctx.secrets()?;
    let p = ctx.till.pair_relay(secrets.as_ref(), pairing.trim())?;
    let out = json!({"relay_url": p.url, "till": p.till, "shop": p.shop, "key_stored_in": secrets.backend()});
    ctx.print(&out, || render::paired(&p.url, &p.till, secrets.backend()));
    Ok(())
}

fn status(cli: &Cli) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let (url, till) = pairing(&ctx)?;
    let applied = ctx.till.relay_watermark()?;
    let sync = ctx.till.sync_state()?;
    let healthz = pay::runtime()?.block_on(healthz(&url));
    let out = json!({"relay_url": url, "till": till, "applied_seq": applied, "healthz": healthz, "sync": sync});
    ctx.print(&out, || {
        let mut text = render::relay_status(&url, &till, applied, &healthz);
        text.push_str(&if sync.enabled {
            format!(
                "\nRecords: {} change(s) waiting to go; the relay has them up to {}",
                sync.pending, sync.acked
            )
        } else {
            "\nRecords: not synced yet (they go when the till first reaches the relay)".to_string()
        });
        text
    });
    Ok(())
}

fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let list = ctx.till.inbox(100)?;
    ctx.print(&list, || render::inbox(&list));
    Ok(())
}

fn attach(ctx: &Ctx, trans_id: &str, sale: i64) -> anyhow::Result<()> {
    let op = ReceiptOp::Attach {
        trans_id: trans_id.to_ascii_uppercase(),
        sale,
    };
    let s = use_receipt(ctx, op)?;
    ctx.print(&s, || render::sale(&s));
    Ok(())
}

fn not_on_command_line() -> anyhow::Error {
    invalid(
        "pairing",
        "the pairing string on standard input (`duka relay pair`, then paste it): on the command line it would stay in the shell's history",
        "a command-line argument",
    )
}

/// The pairing string from standard input, with a prompt when it is a terminal.
fn read_pairing() -> anyhow::Result<String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("Paste the pairing string (dukarelay1:…) and press Enter: ");
    }
    stdin_line("the pairing string")
}

/// The relay's URL and this till's id there, when the till is paired (and has its key).
fn pairing(ctx: &Ctx) -> anyhow::Result<(String, String)> {
    let secrets = ctx.secrets()?;
    match (
        ctx.till.pairing_info()?,
        secrets.get(SecretKey::relay_key(ctx.mode))?.is_some(),
    ) {
        (Some((url, till, _)), true) => Ok((url, till)),
        _ => Err(duka_core::Error::Config(
            "not paired with a relay: duka relay pair STRING".into(),
        )
        .into()),
    }
}

/// GETs the relay's /healthz: its answer, or why there was none.
async fn healthz(relay_url: &str) -> String {
    let url = format!("{}/healthz", relay_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let answer = async {
        let r = client.get(&url).send().await.map_err(|e| e.to_string())?;
        r.text().await.map_err(|e| e.to_string())
    };
    answer
        .await
        .unwrap_or_else(|e: String| format!("unreachable: {e}"))
}
