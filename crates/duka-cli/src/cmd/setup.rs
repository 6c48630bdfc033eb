//! Setting a till up: init, config show/set, secrets, and the demo.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use duka_app::settings::{self, Change, Outcome};
use duka_core::catalog::parse_price_list;
use duka_core::config::{self, Credentials, Environment, Mode};
use duka_core::secrets::{self, Secret, SecretKey, SecretStore};
use duka_core::till::LineInput;
use duka_core::{Money, Store, Till, time};
use serde_json::json;

use crate::args::{Cli, ConfigCmd, InitArgs, SecretCmd};
use crate::cmd::sales::{ReceiptOp, use_receipt};
use crate::ctx::{self, Ctx, app_error, env_var, invalid, open, open_till, which_till};
use crate::pay;
use crate::render::{self, SecretSource};

/// Creates the data directory, the database of the till it runs (or of the `--environment`
/// given) with its first cashier, and stores the settings given.
pub fn init(cli: &Cli, a: &InitArgs) -> anyhow::Result<()> {
    let data_dir = config::data_dir(cli.data_dir.as_deref())?;
    let till = init_till(cli, &data_dir, a.environment.as_deref())?;
    let shop = ctx::init(&data_dir, till, &a.owner)?;
    shop.save_settings(&init_values(a, till))?;
    let out = init_report(&data_dir, till, &shop)?;
    render::print(cli.json, &out, || {
        render::ready(&data_dir, &out["schema_version"])
    });
    Ok(())
}

/// What `init --json` prints: where the till is, and its cashiers.
fn init_report(data_dir: &Path, till: Mode, shop: &Till) -> anyhow::Result<serde_json::Value> {
    Ok(json!({
        "data_dir": data_dir,
        "till": till,
        "database": shop.db_path(),
        "schema_version": shop.schema_version()?,
        "cashiers": shop.staff()?,
    }))
}

pub fn config(cli: &Cli, c: &ConfigCmd) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match c {
        ConfigCmd::Show => show(&ctx),
        ConfigCmd::Set { key, value } if key == "environment" => set_environment(&ctx, value),
        ConfigCmd::Set { key, value } => set(&ctx, key, value),
    }
}

pub fn secret(cli: &Cli, c: &SecretCmd) -> anyhow::Result<()> {
    let data_dir = config::data_dir(cli.data_dir.as_deref())?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let store = secrets::open(&cli.secret_backend, &data_dir)?;
    match c {
        SecretCmd::Set { key } => set_secret(cli.json, store.as_ref(), key),
        SecretCmd::Delete { key } => delete_secret(cli.json, store.as_ref(), key),
        SecretCmd::Status => secret_status(cli.json, store.as_ref()),
    }
}

/// Sets up a demo data directory with sample products and a few sales, charges one more by
/// STK push, then shows the day. Always demo mode's own database, whatever till the data
/// directory runs: the shop's is never touched.
pub fn demo(cli: &Cli) -> anyhow::Result<()> {
    let data_dir = config::data_dir(cli.data_dir.as_deref())?;
    ctx::init(&data_dir, Mode::Demo, "Owner")?;
    let runs_demo = which_till(cli, &data_dir)? == Mode::Demo;
    let ctx = open_till(cli, data_dir, Mode::Demo)?;
    sample_data(&ctx)?;
    let req = demo_charge(&ctx)?;
    pay::with_running(&ctx, async |run| {
        ctx.say(render::DEMO_INTRO);
        pay::charge(run, &ctx, &req).await?;
        let r = run.day_report(time::today())?;
        ctx.print(&r, || render::demo(&r, &ctx.data_dir, runs_demo));
        Ok(())
    })
}

fn show(ctx: &Ctx) -> anyhow::Result<()> {
    let secrets = ctx.secrets()?;
    let has_creds = Credentials::load(secrets.as_ref(), &env_var)?.is_some();
    let s = ctx.till.stored_settings()?;
    ctx.print(&s, || render::settings(&s, secrets.backend(), has_creds));
    Ok(())
}

/// One setting, through the shared settings operation; a shop till then says what it still
/// lacks to take M-Pesa payments.
fn set(ctx: &Ctx, key: &str, value: &str) -> anyhow::Result<()> {
    let change = Change {
        values: vec![(key.into(), Some(value.into()))],
        whole: false,
        ..Default::default()
    };
    let secrets = ctx.secrets()?;
    settings::save(&ctx.data_dir, &ctx.till, secrets.as_ref(), &change).map_err(app_error)?;
    let v = ctx.till.stored_setting(key)?;
    ctx.print(&json!({ "key": key, "value": v }), || {
        let missing = settings::missing_for_payments(&ctx.till, secrets.as_ref());
        render::setting(key, v.as_deref(), missing.as_deref())
    });
    Ok(())
}

/// Choosing an environment chooses its till (demo mode has its own database); the shop's
/// stores which one.
fn set_environment(ctx: &Ctx, value: &str) -> anyhow::Result<()> {
    let environment = Environment::parse(value)?;
    let till = Mode::of(environment);
    if till == Mode::Shop && ctx.mode == Mode::Demo {
        // The shop's till may not exist yet: its database and first cashier come first.
        ctx::init(&ctx.data_dir, Mode::Shop, "Owner")?;
    }
    let outcome = save_environment(ctx, environment)?;
    let kept = shop_kept(ctx, environment, outcome)?;
    // The value the till runs with: a set-up shop till switched to from demo mode keeps its own.
    let value = kept
        .clone()
        .unwrap_or_else(|| environment.as_str().to_string());
    let out = json!({ "key": "environment", "value": value, "till": till });
    ctx.print(&out, || {
        render::environment_set(environment, till, kept.as_deref())
    });
    Ok(())
}

/// The environment through the shared settings operation. Saved on the till that runs, the
/// choice of till is recorded too, as `duka config set environment` always has.
fn save_environment(ctx: &Ctx, environment: Environment) -> anyhow::Result<Outcome> {
    let change = Change {
        environment: Some(environment),
        whole: false,
        ..Default::default()
    };
    let secrets = ctx.secrets()?;
    let outcome =
        settings::save(&ctx.data_dir, &ctx.till, secrets.as_ref(), &change).map_err(app_error)?;
    if outcome == Outcome::Saved {
        Mode::of(environment).choose(&ctx.data_dir)?;
    }
    Ok(outcome)
}

/// From demo mode, a shop till set up already (its staff have PINs) is only switched to: its
/// own manager changes it. The environment it kept, when not the one asked for.
fn shop_kept(
    ctx: &Ctx,
    environment: Environment,
    outcome: Outcome,
) -> anyhow::Result<Option<String>> {
    if ctx.mode != Mode::Demo || outcome != (Outcome::Switched { to: Mode::Shop }) {
        return Ok(None);
    }
    let stored = Store::open(&Mode::Shop.db_path(&ctx.data_dir))?.setting("environment")?;
    Ok(Some(stored.unwrap_or_else(|| "not set".into())).filter(|s| s != environment.as_str()))
}

/// An environment given to `init` chooses its till (demo mode has its own database).
fn init_till(cli: &Cli, data_dir: &Path, environment: Option<&str>) -> anyhow::Result<Mode> {
    let Some(e) = environment else {
        return which_till(cli, data_dir);
    };
    let till = Mode::of(Environment::parse(e)?);
    till.choose(data_dir)?;
    Ok(till)
}

/// The settings `init` was given (the environment only for the shop's till).
fn init_values(a: &InitArgs, till: Mode) -> Vec<(&'static str, Option<&str>)> {
    let environment = a.environment.as_deref().filter(|_| till == Mode::Shop);
    [
        ("shop_name", a.shop_name.as_deref()),
        ("environment", environment),
        ("shortcode", a.shortcode.as_deref()),
        ("till_type", a.till_type.as_deref()),
        ("party_b", a.party_b.as_deref()),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .collect()
}

/// The value comes on standard input, never on the command line.
fn set_secret(json: bool, store: &dyn SecretStore, key: &str) -> anyhow::Result<()> {
    let key = SecretKey::parse(key)?;
    store.set(key, &read_secret(key)?)?;
    let out = json!({"key": key.name(), "backend": store.backend()});
    render::print(json, &out, || render::secret_stored(key, store.backend()));
    Ok(())
}

fn delete_secret(json: bool, store: &dyn SecretStore, key: &str) -> anyhow::Result<()> {
    let key = SecretKey::parse(key)?;
    store.delete(key)?;
    let out = json!({"key": key.name(), "deleted": true});
    render::print(json, &out, || render::secret_deleted(key));
    Ok(())
}

/// Where each secret comes from, never its value.
fn secret_status(json: bool, store: &dyn SecretStore) -> anyhow::Result<()> {
    let rows = SecretKey::ALL
        .into_iter()
        .map(|k| {
            Ok(SecretSource {
                key: k.name(),
                source: secret_source(store, k)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let out = json!({"backend": store.backend(), "secrets": rows});
    render::print(json, &out, || render::secrets(store.backend(), &rows));
    Ok(())
}

/// `env` when a `DUKA_…` variable sets it, else the store's backend, else `not set`.
fn secret_source(store: &dyn SecretStore, k: SecretKey) -> anyhow::Result<&str> {
    let env_name = format!("DUKA_{}", k.name().to_ascii_uppercase());
    Ok(if env_var(&env_name).is_some_and(|v| !v.is_empty()) {
        "env"
    } else if store.get(k)?.is_some() {
        store.backend()
    } else {
        "not set"
    })
}

fn read_secret(key: SecretKey) -> anyhow::Result<Secret> {
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .context("reading the secret from standard input")?;
    let value = value.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err(invalid(
            key.name(),
            "the value on standard input",
            "nothing",
        ));
    }
    Ok(Secret::new(value))
}

const SAMPLE_PRICES: &str = "name,price,barcode\nSugar 1kg,150,6001001\nMilk 500ml,60,6001002\nBread 400g,65,6001003\n\
                             Maize flour 2kg,210,6001004\nCooking oil 1L,380,6001005\nTea leaves 250g,120,6001006\n";

/// Sample products and two sales (cash, a typed M-Pesa code), the first time only.
fn sample_data(ctx: &Ctx) -> anyhow::Result<()> {
    let (till, who) = (&ctx.till, ctx.cashier.as_str());
    if !till.catalogue(true)?.is_empty() {
        return Ok(());
    }
    till.import_products(&parse_price_list("sample", SAMPLE_PRICES.as_bytes())?, who)?;
    let s1 = till.create_sale(who, &[coded("6001001", 2), coded("6001002", 1)])?;
    till.pay_cash(s1.id, Money::from_shillings(500)?, who)?;
    let s2 = till.create_sale(who, &[coded("6001004", 1), coded("6001005", 1)])?;
    use_receipt(ctx, ReceiptOp::code(s2.id, "QKM0FXE6RK", None))?;
    Ok(())
}

/// An M-Pesa sale every run: daraja-sim runs in-process, its customer 0700 000 000 pays
/// after 2 seconds, and its callback brings the receipt.
fn demo_charge(ctx: &Ctx) -> anyhow::Result<pay::ChargeRequest> {
    let sale = ctx.till.create_sale(&ctx.cashier, &[coded("6001003", 2)])?;
    pay::ChargeRequest::new(&ctx.till, sale.id, "0700000000", None)
}

/// A line of `quantity` of the product with this barcode.
fn coded(code: &str, quantity: i64) -> LineInput {
    LineInput {
        code: Some(code.into()),
        quantity,
        ..Default::default()
    }
}
