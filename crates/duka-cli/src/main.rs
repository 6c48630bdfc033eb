//! `duka`: Duka's core, headless, for ops and scripting.
//!
//! Human output by default; `--json` prints the created or listed objects (each with its `id`).
//! Errors print one line on stderr (`{"code","message"}` with `--json`) and exit 1.

mod lines;
mod pay;
mod render;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use duka_core::catalog::{NewProduct, parse_price_list};
use duka_core::config::{self, Credentials};
use duka_core::secrets::{self, Secret, SecretKey};
use duka_core::{Money, Store, time};

#[derive(Parser)]
#[command(
    name = "duka",
    version,
    about = "Duka: an M-Pesa till, headless",
    propagate_version = true
)]
struct Cli {
    /// Where the database and files live [default: the platform's data directory]
    #[arg(long, global = true, env = "DUKA_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print JSON for scripts instead of text
    #[arg(long, global = true)]
    json: bool,
    /// Cashier doing the work [default: the first cashier, made by `duka init`]
    #[arg(long, global = true, env = "DUKA_CASHIER")]
    cashier: Option<String>,
    /// Where secrets are kept: auto (keyring, else file), keyring, file
    #[arg(
        long,
        global = true,
        env = "DUKA_SECRET_BACKEND",
        default_value = "auto"
    )]
    secret_backend: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the data directory and database (safe to run again)
    Init {
        /// Name of the first cashier (a manager) when there is none yet
        #[arg(long, default_value = "Owner")]
        owner: String,
        #[arg(long)]
        shop_name: Option<String>,
        /// demo | sandbox | production | custom
        #[arg(long)]
        environment: Option<String>,
        #[arg(long)]
        shortcode: Option<String>,
        /// paybill | till
        #[arg(long)]
        till_type: Option<String>,
        #[arg(long)]
        party_b: Option<String>,
    },
    /// A worked example with sample products and sales, no credentials needed
    Demo,
    /// Settings (never secrets)
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Daraja credentials and keys, kept in the OS keyring (or the headless file store)
    #[command(subcommand)]
    Secret(SecretCmd),
    #[command(subcommand)]
    Cashier(CashierCmd),
    #[command(subcommand)]
    Product(ProductCmd),
    #[command(subcommand)]
    Sale(SaleCmd),
    #[command(subcommand)]
    Report(ReportCmd),
    /// Charge a sale by M-Pesa STK push and follow it to the end: exit 0 paid, 2 failed, 3 unknown
    Charge {
        #[arg(long)]
        sale: i64,
        /// The customer's phone: 0712 345 678, +254712345678, …
        #[arg(long)]
        phone: String,
        /// Whole shillings [default: what is due]
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        /// Above 250,000, send several requests (each approved by the customer)
        #[arg(long)]
        split: bool,
        /// Return once the request is sent; the poller is not kept running
        #[arg(long)]
        no_wait: bool,
    },
    /// M-Pesa payment attempts, newest first
    Attempts {
        /// Only those not final yet (created, pending, unknown)
        #[arg(long)]
        open: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One attempt with its event log
        #[arg(long)]
        id: Option<String>,
    },
    /// Settle attempts a crash or a power cut left open; waits for those still pending
    Reconcile,
    /// After an unknown attempt, send again: only when no prompt reached the customer's phone
    Resend {
        attempt: String,
        /// The cashier confirms the customer received no M-Pesa prompt
        #[arg(long)]
        no_prompt_reached: bool,
    },
    /// Check an M-Pesa code typed from a customer's SMS against what M-Pesa told Duka
    VerifyCode {
        code: String,
        #[arg(long)]
        sale: i64,
    },
    /// The callback relay: pair this till, see its status
    #[command(subcommand)]
    Relay(RelayCmd),
    /// Incoming payments (customers who paid the shortcode directly), and attaching one to a sale
    Inbox {
        #[command(subcommand)]
        cmd: Option<InboxCmd>,
    },
    /// Export sales as CSV (or JSON with --json)
    Export {
        /// First day, YYYY-MM-DD (Nairobi time)
        #[arg(long)]
        from: String,
        /// Last day, inclusive [default: --from]
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file instead of standard output
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RelayCmd {
    /// Pair with a relay: the pairing string `duka-relay till add` printed, on standard input
    /// (typed or pasted at the prompt, or piped), never on the command line
    Pair {
        /// Refused: a pairing string here would stay in the shell's history and `ps`
        #[arg(hide = true)]
        pairing: Option<String>,
    },
    /// Pairing, last applied message, and whether the relay answers now
    Status,
}

#[derive(Subcommand)]
enum InboxCmd {
    /// Attach an incoming payment to a sale
    Attach {
        trans_id: String,
        #[arg(long)]
        sale: i64,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Effective settings and where each comes from
    Show,
    /// Store a setting: environment, daraja_base_url, shortcode, till_type, party_b, relay_url, shop_name, printer
    Set { key: String, value: String },
}

#[derive(Subcommand)]
enum SecretCmd {
    /// Read the value from standard input (never from the command line) and store it
    Set {
        /// consumer_key | consumer_secret | passkey | relay_key | initiator_password
        key: String,
    },
    Delete {
        key: String,
    },
    /// Which secrets are set and where (never their values)
    Status,
}

#[derive(Subcommand)]
enum CashierCmd {
    Add {
        #[arg(long)]
        name: String,
        /// cashier | manager
        #[arg(long, default_value = "cashier")]
        role: String,
    },
    List,
    /// Set a cashier's sign-in PIN (4 to 8 digits, read from standard input); also unlocks
    Pin {
        #[arg(long)]
        name: String,
    },
    /// Let a cashier locked out by wrong PINs try again
    Unlock {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum ProductCmd {
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, allow_hyphen_values = true)]
        price: String,
        #[arg(long)]
        barcode: Option<String>,
        #[arg(long)]
        sku: Option<String>,
    },
    List {
        /// Include inactive products
        #[arg(long)]
        all: bool,
    },
    /// Import a price list CSV (columns name, price; optional barcode, sku, active); all rows or none
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum SaleCmd {
    /// Ring up a sale. Each --item or --barcode starts a line; --price and --qty after it belong
    /// to it: `--item "Sugar 1kg" --price 150 --qty 2 --barcode 6001 --qty 3`
    New {
        #[arg(long, action = clap::ArgAction::Append)]
        item: Vec<String>,
        #[arg(long, action = clap::ArgAction::Append)]
        barcode: Vec<String>,
        #[arg(long, action = clap::ArgAction::Append, allow_hyphen_values = true)]
        price: Vec<String>,
        #[arg(long, action = clap::ArgAction::Append, allow_hyphen_values = true)]
        qty: Vec<String>,
        /// Cash handed over, applied at once
        #[arg(long, allow_hyphen_values = true)]
        cash: Option<String>,
        /// M-Pesa code from the customer's SMS, applied at once for what is due
        #[arg(long)]
        mpesa_code: Option<String>,
    },
    Show {
        id: i64,
    },
    /// Sales of one day (Nairobi time), newest first
    List {
        #[arg(long)]
        date: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Take cash or a typed M-Pesa code for a sale
    Pay {
        id: i64,
        #[arg(
            long,
            conflicts_with = "mpesa_code",
            required_unless_present = "mpesa_code",
            allow_hyphen_values = true
        )]
        cash: Option<String>,
        #[arg(long)]
        mpesa_code: Option<String>,
        /// Amount for the M-Pesa code [default: what is due]
        #[arg(long, requires = "mpesa_code", allow_hyphen_values = true)]
        amount: Option<String>,
    },
    /// Void a sale that has taken no money
    Void {
        id: i64,
    },
}

#[derive(Subcommand)]
enum ReportCmd {
    /// The day's totals by tender and cashier, and its M-Pesa receipts
    Day {
        #[arg(long)]
        date: Option<String>,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let json = cli.json;
    // Rotated, redacted log files in the data directory (see `duka_app::logs`); a data
    // directory that cannot be made is reported by the command itself.
    if let Ok(dir) = config::data_dir(cli.data_dir.as_deref())
        && dir.is_dir()
    {
        let _ = duka_app::logs::init(
            &dir,
            "duka-cli.log",
            duka_app::logs::stored_level(&dir).as_deref(),
        );
    }
    match run(cli, &matches) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let (code, message) = match e.downcast_ref::<duka_core::Error>() {
                Some(core) => (core.code(), core.to_string()),
                None => ("error", format!("{e:#}")),
            };
            if json {
                eprintln!("{}", serde_json::json!({"code": code, "message": message}));
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::from(1)
        }
    }
}

/// Everything a command needs: the till (without its engine), where it is, who is working.
struct Ctx {
    till: duka_core::Till,
    /// The shop's till or demo mode's: `till` runs its database.
    mode: config::Mode,
    data_dir: PathBuf,
    cashier: String,
    json: bool,
}

/// Which till the data directory runs; credentials are read only when nothing else decides.
fn which_till(cli: &Cli, data_dir: &Path) -> anyhow::Result<config::Mode> {
    let has_credentials = || {
        let secrets = secrets::open(&cli.secret_backend, data_dir)?;
        Ok(Credentials::load(secrets.as_ref(), &env_var)?.is_some())
    };
    Ok(config::Mode::resolve(data_dir, &env_var, &has_credentials)?)
}

fn open(cli: &Cli) -> anyhow::Result<Ctx> {
    let data_dir = config::data_dir(cli.data_dir.as_deref())?;
    let till = which_till(cli, &data_dir)?;
    open_till(cli, data_dir, till)
}

fn open_till(cli: &Cli, data_dir: PathBuf, till: config::Mode) -> anyhow::Result<Ctx> {
    let db = till.db_path(&data_dir);
    if !db.exists() {
        bail!(
            "no Duka database at {} ({} till); run `duka init` first (or pass --data-dir)",
            db.display(),
            till.as_str()
        );
    }
    let till_svc = duka_app::offline(Store::open(&db)?, till)?;
    let cashier = match &cli.cashier {
        Some(c) => till_svc.cashier(c)?.name,
        None => till_svc
            .first_cashier()?
            .map(|c| c.name)
            .context("no cashier yet; run `duka init` or `duka cashier add`")?,
    };
    Ok(Ctx {
        till: till_svc,
        mode: till,
        data_dir,
        cashier,
        json: cli.json,
    })
}

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn run(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<u8> {
    if let Some(code) = payments(&cli)? {
        return Ok(code);
    }
    run_other(cli, matches).map(|()| 0)
}

/// The commands that talk to M-Pesa (through the engine). `None` for any other command.
fn payments(cli: &Cli) -> anyhow::Result<Option<u8>> {
    let code = match &cli.cmd {
        Cmd::Charge {
            sale,
            phone,
            amount,
            split,
            no_wait,
        } => {
            let ctx = open(cli)?;
            let phone = duka_core::Msisdn::parse(phone)?;
            let amount = amount
                .as_deref()
                .map(|a| Money::parse_field(a, "amount"))
                .transpose()?;
            let total = ctx.till.amount_to_push(*sale, amount)?;
            let (json, cashier) = (ctx.json, ctx.cashier.clone());
            let rt = pay::runtime()?;
            rt.block_on(async {
                let run = pay::start(&ctx, &cli.secret_backend).await?;
                let req = pay::ChargeRequest {
                    sale_id: *sale,
                    phone: &phone,
                    total,
                    split: *split,
                    cashier: &cashier,
                    json,
                    wait: !*no_wait,
                };
                let (attempts, code) = pay::charge(&run, req).await?;
                if json {
                    render::print(true, &attempts, String::new);
                }
                run.stop();
                Ok::<u8, anyhow::Error>(code)
            })?
        }
        Cmd::Reconcile => {
            let ctx = open(cli)?;
            let json = ctx.json;
            let rt = pay::runtime()?;
            rt.block_on(async {
                let run = pay::start(&ctx, &cli.secret_backend).await?;
                let report = run.reconcile().await?;
                // Wait for the ones handed to the poller, up to its deadline.
                let mut settled = Vec::new();
                for r in &report {
                    let a = run
                        .wait_settled(
                            &r.attempt_id,
                            run.deadline + std::time::Duration::from_secs(10),
                        )
                        .await?;
                    settled.push(a);
                }
                let out = serde_json::json!({"reconciled": report, "attempts": settled});
                render::print(json, &out, || {
                    if report.is_empty() {
                        return "nothing to reconcile: no open M-Pesa requests".into();
                    }
                    report
                        .iter()
                        .zip(&settled)
                        .map(|(r, a)| {
                            format!(
                                "{} (sale {}): {} → {} by {}: {}\n  {}",
                                r.attempt_id,
                                r.sale_id,
                                r.before,
                                a.state.name(),
                                r.how,
                                r.note,
                                pay::describe(a)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
                run.stop();
                let open = settled.iter().filter(|a| !a.state.is_final()).count();
                Ok::<u8, anyhow::Error>(if open > 0 { 3 } else { 0 })
            })?
        }
        Cmd::Resend {
            attempt,
            no_prompt_reached,
        } => {
            let ctx = open(cli)?;
            let (json, cashier) = (ctx.json, ctx.cashier.clone());
            let rt = pay::runtime()?;
            rt.block_on(async {
                let run = pay::start(&ctx, &cli.secret_backend).await?;
                let a = run.resend(attempt, *no_prompt_reached, &cashier).await?;
                let a = run
                    .wait_settled(&a.id, run.deadline + std::time::Duration::from_secs(10))
                    .await?;
                render::print(json, &a, || format!("{} ({})", pay::describe(&a), a.id));
                run.stop();
                Ok::<u8, anyhow::Error>(pay::exit_code(&a))
            })?
        }
        _ => return Ok(None),
    };
    Ok(Some(code))
}

fn run_other(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    match &cli.cmd {
        Cmd::Charge { .. } | Cmd::Reconcile | Cmd::Resend { .. } => {
            unreachable!("handled by payments()")
        }
        Cmd::Attempts {
            open: only_open,
            limit,
            id,
        } => {
            let ctx = open(&cli)?;
            match id {
                Some(id) => {
                    let a = ctx.till.attempt(id)?;
                    let events = ctx.till.attempt_events(id)?;
                    let out = serde_json::json!({"attempt": a, "events": events});
                    render::print(ctx.json, &out, || {
                        let mut s = format!(
                            "{}\n{}\n",
                            pay::attempts_table(std::slice::from_ref(&a)),
                            pay::describe(&a)
                        );
                        for e in &events {
                            s += &format!(
                                "  {}  {:<10} {:<15} {} → {} ({})\n",
                                time::format_local(e.at),
                                e.source,
                                e.event,
                                e.from_state,
                                e.to_state,
                                e.outcome
                            );
                        }
                        s.trim_end().to_string()
                    });
                }
                None => {
                    let list = ctx.till.attempts(*only_open, *limit)?;
                    render::print(ctx.json, &list, || pay::attempts_table(&list));
                }
            }
            Ok(())
        }
        Cmd::Relay(RelayCmd::Pair { pairing }) => {
            if pairing.is_some() {
                return Err(invalid(
                    "pairing",
                    "the pairing string on standard input (`duka relay pair`, then paste it): on the command line it would stay in the shell's history",
                    "a command-line argument",
                ));
            }
            let ctx = open(&cli)?;
            if ctx.mode == config::Mode::Demo {
                return Err(invalid(
                    "pairing",
                    "the shop's till (demo mode never uses a relay): `duka config set environment production` first",
                    "demo mode",
                ));
            }
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprint!("Paste the pairing string (dukarelay1:…) and press Enter: ");
            }
            let mut pairing = String::new();
            std::io::stdin()
                .read_line(&mut pairing)
                .context("reading the pairing string from standard input")?;
            let secrets = duka_core::secrets::open(&cli.secret_backend, &ctx.data_dir)?;
            let p = ctx.till.pair_relay(secrets.as_ref(), pairing.trim())?;
            let out = serde_json::json!({"relay_url": p.url, "till": p.till, "shop": p.shop, "key_stored_in": secrets.backend()});
            render::print(ctx.json, &out, || {
                format!(
                    "paired with {} as till {} (key in the {} secret store)",
                    p.url,
                    p.till,
                    secrets.backend()
                )
            });
            Ok(())
        }
        Cmd::Relay(RelayCmd::Status) => {
            let ctx = open(&cli)?;
            let secrets = duka_core::secrets::open(&cli.secret_backend, &ctx.data_dir)?;
            let (Some((url, till, _)), true) = (
                ctx.till.pairing_info()?,
                secrets.get(SecretKey::RelayKey)?.is_some(),
            ) else {
                return Err(duka_core::Error::Config(
                    "not paired with a relay: duka relay pair STRING".into(),
                )
                .into());
            };
            struct Paired {
                url: String,
                till: String,
            }
            let p = Paired { url, till };
            let applied = ctx.till.relay_watermark()?;
            let rt = pay::runtime()?;
            let reachable = rt.block_on(async {
                let url = format!("{}/healthz", p.url.trim_end_matches('/'));
                let c = reqwest_lite(&url).await;
                c.unwrap_or_else(|e| format!("unreachable: {e}"))
            });
            let out = serde_json::json!({"relay_url": p.url, "till": p.till, "applied_seq": applied, "healthz": reachable});
            render::print(ctx.json, &out, || {
                format!(
                    "relay {} (till {}): last applied message {applied}; /healthz: {reachable}",
                    p.url, p.till
                )
            });
            Ok(())
        }
        Cmd::Inbox { cmd } => {
            let ctx = open(&cli)?;
            match cmd {
                None => {
                    let list = ctx.till.inbox(100)?;
                    render::print(ctx.json, &list, || {
                        if list.is_empty() {
                            return "no incoming payments waiting".into();
                        }
                        list.iter()
                            .map(|p| {
                                format!(
                                    "{}  {}  {:>14}  {}  {}",
                                    p.trans_id,
                                    time::format_local(p.received_at),
                                    p.amount.to_string(),
                                    p.msisdn.as_deref().unwrap_or("-"),
                                    p.bill_ref.as_deref().unwrap_or("")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                Some(InboxCmd::Attach { trans_id, sale }) => {
                    let op = ReceiptOp::Attach {
                        trans_id: trans_id.to_ascii_uppercase(),
                        sale: *sale,
                    };
                    let s = use_receipt(&cli, &ctx, op)?;
                    render::print(ctx.json, &s, || render::sale(&s));
                }
            }
            Ok(())
        }
        Cmd::VerifyCode { code, sale } => {
            let ctx = open(&cli)?;
            let v = ctx.till.verify_code(*sale, code)?;
            render::print(ctx.json, &v, || v.message.clone());
            Ok(())
        }
        Cmd::Init {
            owner,
            shop_name,
            environment,
            shortcode,
            till_type,
            party_b,
        } => {
            let data_dir = config::data_dir(cli.data_dir.as_deref())?;
            // An environment given here chooses its till (demo mode has its own database).
            let till = match environment {
                Some(e) => {
                    let till = config::Mode::of(config::Environment::parse(e)?);
                    till.choose(&data_dir)?;
                    till
                }
                None => which_till(&cli, &data_dir)?,
            };
            let shop = init(&data_dir, till, owner)?;
            let environment = &environment.clone().filter(|_| till == config::Mode::Shop);
            let values: Vec<(&str, Option<&str>)> = [
                ("shop_name", shop_name),
                ("environment", environment),
                ("shortcode", shortcode),
                ("till_type", till_type),
                ("party_b", party_b),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, Some(v))))
            .collect();
            shop.save_settings(&values)?;
            let out = serde_json::json!({
                "data_dir": data_dir,
                "till": till,
                "database": shop.db_path(),
                "schema_version": shop.schema_version()?,
                "cashiers": shop.staff()?,
            });
            render::print(cli.json, &out, || {
                format!(
                    "Duka is ready in {} (schema v{}).",
                    data_dir.display(),
                    out["schema_version"]
                )
            });
            Ok(())
        }
        Cmd::Demo => demo(&cli),
        Cmd::Config(c) => {
            let ctx = open(&cli)?;
            match c {
                ConfigCmd::Show => {
                    let secrets = secrets::open(&cli.secret_backend, &ctx.data_dir)?;
                    let has_creds = Credentials::load(secrets.as_ref(), &env_var)?.is_some();
                    let s = ctx.till.stored_settings()?;
                    render::print(ctx.json, &s, || {
                        render::settings(&s, secrets.backend(), has_creds)
                    });
                }
                ConfigCmd::Set { key, value } if key == "environment" => {
                    // Choosing an environment chooses its till; the shop's stores which one.
                    let environment = config::Environment::parse(value)?;
                    let till = config::Mode::of(environment);
                    if till == config::Mode::Shop {
                        init(&ctx.data_dir, till, "Owner")?
                            .save_settings(&[(key.as_str(), Some(value.as_str()))])?;
                    }
                    till.choose(&ctx.data_dir)?;
                    render::print(
                        ctx.json,
                        &serde_json::json!({ "key": key, "value": environment.as_str(), "till": till }),
                        || format!("{key} = {} ({} till)", environment.as_str(), till.as_str()),
                    );
                }
                ConfigCmd::Set { key, value } => {
                    ctx.till
                        .save_settings(&[(key.as_str(), Some(value.as_str()))])?;
                    let v = ctx.till.stored_setting(key)?;
                    render::print(
                        ctx.json,
                        &serde_json::json!({ "key": key, "value": v }),
                        || format!("{key} = {}", v.clone().unwrap_or_default()),
                    );
                }
            }
            Ok(())
        }
        Cmd::Secret(c) => {
            let data_dir = config::data_dir(cli.data_dir.as_deref())?;
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let store = secrets::open(&cli.secret_backend, &data_dir)?;
            match c {
                SecretCmd::Set { key } => {
                    let key = SecretKey::parse(key)?;
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
                    store.set(key, &Secret::new(value))?;
                    render::print(
                        cli.json,
                        &serde_json::json!({"key": key.name(), "backend": store.backend()}),
                        || {
                            format!(
                                "{} stored in the {} secret store",
                                key.name(),
                                store.backend()
                            )
                        },
                    );
                }
                SecretCmd::Delete { key } => {
                    let key = SecretKey::parse(key)?;
                    store.delete(key)?;
                    render::print(
                        cli.json,
                        &serde_json::json!({"key": key.name(), "deleted": true}),
                        || format!("{} deleted", key.name()),
                    );
                }
                SecretCmd::Status => {
                    let mut rows = Vec::new();
                    for k in SecretKey::ALL {
                        let env_name = format!("DUKA_{}", k.name().to_ascii_uppercase());
                        let from = if env_var(&env_name).is_some_and(|v| !v.is_empty()) {
                            "env"
                        } else if store.get(k)?.is_some() {
                            store.backend()
                        } else {
                            "not set"
                        };
                        rows.push(serde_json::json!({"key": k.name(), "source": from}));
                    }
                    let out = serde_json::json!({"backend": store.backend(), "secrets": rows});
                    render::print(cli.json, &out, || {
                        let mut s = format!("secret store: {}\n", store.backend());
                        for r in &rows {
                            s += &format!(
                                "  {:<20} {}\n",
                                r["key"].as_str().unwrap_or(""),
                                r["source"].as_str().unwrap_or("")
                            );
                        }
                        s.trim_end().to_string()
                    });
                }
            }
            Ok(())
        }
        Cmd::Cashier(c) => {
            let ctx = open(&cli)?;
            match c {
                CashierCmd::Add { name, role } => {
                    let c = ctx.till.add_staff(name, role)?;
                    render::print(ctx.json, &c, || {
                        format!("cashier {} added ({}), id {}", c.name, c.role, c.id)
                    });
                }
                CashierCmd::List => {
                    let list = ctx.till.staff()?;
                    render::print(ctx.json, &list, || {
                        list.iter()
                            .map(|c| {
                                let lock = match duka_core::store::pin_lock(c.pin_failures) {
                                    duka_core::store::PinLock::Open => String::new(),
                                    _ => format!("  ({} wrong PINs: locked)", c.pin_failures),
                                };
                                format!("{:>4}  {:<24} {}{lock}", c.id, c.name, c.role)
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                CashierCmd::Pin { name } => {
                    // From standard input, never the command line (shell history, `ps`).
                    let mut pin = String::new();
                    std::io::stdin()
                        .read_line(&mut pin)
                        .context("reading the PIN from standard input")?;
                    let c = ctx.till.set_pin(name, pin.trim())?;
                    render::print(ctx.json, &c, || format!("PIN set for {}", c.name));
                }
                CashierCmd::Unlock { name } => {
                    let c = ctx.till.unlock(name)?;
                    render::print(ctx.json, &c, || format!("{} may sign in again", c.name));
                }
            }
            Ok(())
        }
        Cmd::Product(c) => {
            let ctx = open(&cli)?;
            match c {
                ProductCmd::Add {
                    name,
                    price,
                    barcode,
                    sku,
                } => {
                    let p = NewProduct::new(
                        name,
                        Money::parse_field(price, "price")?,
                        barcode.as_deref(),
                        sku.as_deref(),
                    )?;
                    let p = ctx.till.add_product(&p)?;
                    render::print(ctx.json, &p, || {
                        format!("product {} added: {} at {}", p.id, p.name, p.price)
                    });
                }
                ProductCmd::List { all } => {
                    let list = ctx.till.catalogue(*all)?;
                    render::print(ctx.json, &list, || render::products(&list));
                }
                ProductCmd::Import { file } => {
                    let data = std::fs::read(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    let rows = parse_price_list(&file.display().to_string(), &data)?;
                    let sum = ctx.till.import_products(&rows)?;
                    render::print(ctx.json, &sum, || {
                        format!(
                            "{}: {} added, {} updated",
                            file.display(),
                            sum.inserted,
                            sum.updated
                        )
                    });
                }
            }
            Ok(())
        }
        Cmd::Sale(c) => sale(&cli, c, matches),
        Cmd::Report(ReportCmd::Day { date }) => {
            let ctx = open(&cli)?;
            let date = match date {
                Some(d) => time::parse_date(d, "date")?,
                None => time::today(),
            };
            let r = ctx.till.day_report(date)?;
            render::print(ctx.json, &r, || render::day_report(&r));
            Ok(())
        }
        Cmd::Export {
            from,
            to,
            format,
            out,
        } => {
            let ctx = open(&cli)?;
            let from_d = time::parse_date(from, "from")?;
            let to_d = match to {
                Some(t) => time::parse_date(t, "to")?,
                None => from_d,
            };
            let rows = ctx.till.export_rows(from_d, to_d)?;
            let mut sink: Box<dyn Write> = match out {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            match (format.as_str(), ctx.json) {
                ("json", _) | (_, true) => serde_json::to_writer_pretty(&mut sink, &rows)?,
                ("csv", false) => duka_core::store::write_export_csv(&rows, &mut sink)?,
                (other, _) => return Err(invalid("format", "csv or json", other)),
            }
            sink.flush()?;
            Ok(())
        }
    }
}

/// GET a small text page (the relay's /healthz).
async fn reqwest_lite(url: &str) -> Result<String, String> {
    let c = daraja_http();
    let r = c.get(url).send().await.map_err(|e| e.to_string())?;
    r.text().await.map_err(|e| e.to_string())
}

fn daraja_http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

/// A field error with the core's stable `invalid_input` code.
pub fn invalid(
    field: &'static str,
    expected: impl Into<String>,
    got: impl Into<String>,
) -> anyhow::Error {
    duka_core::Error::Invalid {
        field,
        expected: expected.into(),
        got: got.into(),
    }
    .into()
}

/// A command that uses an M-Pesa receipt.
enum ReceiptOp {
    /// A code typed from the customer's SMS.
    Code {
        sale: i64,
        code: String,
        amount: Option<Money>,
    },
    /// An incoming (C2B) payment.
    Attach { trans_id: String, sale: i64 },
}

/// Uses a receipt for a sale. A till paired with a relay claims it shop-wide first, on a
/// running till that waits a few seconds for the connection (without an answer it attaches
/// provisionally, and the claim goes the next time the till is connected).
fn use_receipt(cli: &Cli, ctx: &Ctx, op: ReceiptOp) -> anyhow::Result<duka_core::sale::Sale> {
    // A till never paired needs no secret store (whose keyring probe costs a D-Bus round trip)
    // and no engine.
    let paired = ctx.till.pairing_info()?.is_some() && {
        let secrets = secrets::open(&cli.secret_backend, &ctx.data_dir)?;
        secrets.get(SecretKey::RelayKey)?.is_some()
    };
    let rt = pay::runtime()?;
    rt.block_on(async {
        let run;
        let till: &duka_core::Till = if paired {
            run = pay::start(ctx, &cli.secret_backend).await?;
            if let Some(relay) = run.relay() {
                relay.wait_connected(duka_core::relay::CLAIM_WAIT).await;
            }
            &run
        } else {
            &ctx.till
        };
        let out = match op {
            ReceiptOp::Code { sale, code, amount } => {
                till.pay_code(sale, &code, amount, &ctx.cashier).await
            }
            ReceiptOp::Attach { trans_id, sale } => {
                till.attach_incoming(&trans_id, sale, &ctx.cashier).await
            }
        };
        till.stop();
        Ok(out?)
    })
}

/// Creates the data directory and database, and a first cashier (a manager) if none exists;
/// returns the till (without its engine).
fn init(data_dir: &Path, till: config::Mode, owner: &str) -> anyhow::Result<duka_core::Till> {
    let db = till.db_path(data_dir);
    let dir = db.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let shop = duka_app::offline(Store::open(&db)?, till)?;
    shop.ensure_owner(owner)?;
    Ok(shop)
}
fn sale(cli: &Cli, c: &SaleCmd, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let till = &ctx.till;
    match c {
        SaleCmd::New {
            cash, mpesa_code, ..
        } => {
            let sub = matches
                .subcommand_matches("sale")
                .and_then(|m| m.subcommand_matches("new"))
                .context("internal: sale new arguments")?;
            let lines = lines::inputs(&lines::from_matches(sub)?)?;
            let mut s = till.create_sale(&ctx.cashier, &lines)?;
            let mut change = None;
            if let Some(code) = mpesa_code {
                let op = ReceiptOp::Code {
                    sale: s.id,
                    code: code.clone(),
                    amount: None,
                };
                s = use_receipt(cli, &ctx, op)?;
            }
            if let Some(cash) = cash {
                let paid = till.pay_cash(s.id, Money::parse_field(cash, "cash")?, &ctx.cashier)?;
                s = paid.sale;
                change = Some(paid.change);
            }
            render::print(ctx.json, &s, || {
                let mut out = render::sale(&s);
                if let Some(ch) = change {
                    out += &format!("\nchange: {ch}");
                }
                out
            });
        }
        SaleCmd::Show { id } => {
            let s = till.sale(*id)?;
            render::print(ctx.json, &s, || render::sale(&s));
        }
        SaleCmd::List { date, limit } => {
            let date = match date {
                Some(d) => time::parse_date(d, "date")?,
                None => time::today(),
            };
            let list = till.sales_of_day(date, *limit)?;
            render::print(ctx.json, &list, || render::sales(&list));
        }
        SaleCmd::Pay {
            id,
            cash,
            mpesa_code,
            amount,
        } => {
            let s = if let Some(code) = mpesa_code {
                let amount = amount
                    .as_deref()
                    .map(|a| Money::parse_field(a, "amount"))
                    .transpose()?;
                let op = ReceiptOp::Code {
                    sale: *id,
                    code: code.clone(),
                    amount,
                };
                use_receipt(cli, &ctx, op)?
            } else {
                let cash = cash.as_deref().context("cash: expected an amount")?;
                let paid = till.pay_cash(*id, Money::parse_field(cash, "cash")?, &ctx.cashier)?;
                if !ctx.json {
                    println!("change: {}", paid.change);
                }
                paid.sale
            };
            render::print(ctx.json, &s, || render::sale(&s));
        }
        SaleCmd::Void { id } => {
            let s = till.void_sale(*id)?;
            render::print(ctx.json, &s, || format!("sale {} voided", s.id));
        }
    }
    Ok(())
}

/// A line of `quantity` of the product with this barcode.
fn coded(code: &str, quantity: i64) -> duka_core::till::LineInput {
    duka_core::till::LineInput {
        code: Some(code.into()),
        quantity,
        ..Default::default()
    }
}

/// Sets up a demo data directory with sample products and a few sales, then shows the day.
fn demo(cli: &Cli) -> anyhow::Result<()> {
    // Always demo mode's own database, whatever till the data directory runs: the shop's is
    // never touched.
    let data_dir = config::data_dir(cli.data_dir.as_deref())?;
    init(&data_dir, config::Mode::Demo, "Owner")?;
    let runs_demo = which_till(cli, &data_dir)? == config::Mode::Demo;
    let ctx = open_till(cli, data_dir.clone(), config::Mode::Demo)?;
    let till = &ctx.till;
    let who = ctx.cashier.clone();
    if till.catalogue(true)?.is_empty() {
        let sample = "name,price,barcode\nSugar 1kg,150,6001001\nMilk 500ml,60,6001002\nBread 400g,65,6001003\n\
                      Maize flour 2kg,210,6001004\nCooking oil 1L,380,6001005\nTea leaves 250g,120,6001006\n";
        let rows = parse_price_list("sample", sample.as_bytes())?;
        till.import_products(&rows)?;
        let s1 = till.create_sale(&who, &[coded("6001001", 2), coded("6001002", 1)])?;
        till.pay_cash(s1.id, Money::from_shillings(500)?, &who)?;
        let s2 = till.create_sale(&who, &[coded("6001004", 1), coded("6001005", 1)])?;
        use_receipt(
            cli,
            &ctx,
            ReceiptOp::Code {
                sale: s2.id,
                code: "QKM0FXE6RK".into(),
                amount: None,
            },
        )?;
    }
    // An M-Pesa sale every run: daraja-sim runs in-process, its customer 0700 000 000 pays
    // after 2 seconds, and its callback brings the receipt.
    let sale = till.create_sale(&who, &[coded("6001003", 2)])?;
    let amount = till.amount_to_push(sale.id, None)?;
    let (json, data_dir_s) = (ctx.json, data_dir.display().to_string());
    // The data directory runs the shop's till: the commands below reach the demo with this.
    let prefix = if runs_demo {
        ""
    } else {
        "DUKA_ENVIRONMENT=demo "
    };
    let phone = duka_core::Msisdn::parse("0700000000")?;
    let rt = pay::runtime()?;
    rt.block_on(async {
        let run = pay::start(&ctx, &cli.secret_backend).await?;
        let req = pay::ChargeRequest {
            sale_id: sale.id,
            phone: &phone,
            total: amount,
            split: false,
            cashier: &who,
            json,
            wait: true,
        };
        if !json {
            println!("Demo mode: M-Pesa is simulated (daraja-sim), no credentials needed.\n");
        }
        pay::charge(&run, req).await?;
        let r = run.day_report(time::today())?;
        render::print(json, &r, || {
            format!(
                "\n{}\n\nThe demo till is in {dir}/demo. Try:\n  {p}duka --data-dir {dir} sale new --barcode 6001001 --qty 2\n  {p}duka --data-dir {dir} charge --sale <id> --phone 0712345678   (pays after 5 s)\n  {p}duka --data-dir {dir} charge --sale <id> --phone 0700000200   (the customer cancels)\n  {p}duka --data-dir {dir} report day",
                render::day_report(&r),
                dir = data_dir_s,
                p = prefix
            )
        });
        run.stop();
        Ok::<(), anyhow::Error>(())
    })
}
