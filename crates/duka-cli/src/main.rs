//! `duka`: Duka's core, headless, for ops and scripting.
//!
//! Human output by default; `--json` prints the created or listed objects (each with its `id`).
//! Errors print one line on stderr (`{"code","message"}` with `--json`) and exit 1.
//!
//! `args` holds the command line, `ctx` what every command opens, `cmd` one module of
//! handlers per domain, `render` the text for people (`render/day.rs`: shifts, the drawer,
//! refunds, stock).

mod args;
mod cmd;
mod ctx;
mod lines;
mod pay;
mod render;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use duka_core::config;

use args::{Cli, Cmd, ReportCmd};

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
    match run(&cli, &matches) {
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

/// The exit code: the M-Pesa commands say how the payment ended, the others 0.
fn run(cli: &Cli, matches: &clap::ArgMatches) -> anyhow::Result<u8> {
    use cmd::{backup, catalog, day, payments, relay, reports, sales, setup, staff};
    let done = match &cli.cmd {
        Cmd::Charge(a) => return payments::charge(cli, a),
        Cmd::Reconcile => return payments::reconcile(cli),
        Cmd::Resend {
            attempt,
            no_prompt_reached,
        } => return payments::resend(cli, attempt, *no_prompt_reached),
        Cmd::Attempts(a) => payments::attempts(cli, a),
        Cmd::VerifyCode { code, sale } => payments::verify_code(cli, code, *sale),
        Cmd::Relay(c) => relay::run(cli, c),
        Cmd::Inbox { cmd } => relay::inbox(cli, cmd.as_ref()),
        Cmd::Init(a) => setup::init(cli, a),
        Cmd::Demo => setup::demo(cli),
        Cmd::Config(c) => setup::config(cli, c),
        Cmd::Secret(c) => setup::secret(cli, c),
        Cmd::Cashier(c) => staff::run(cli, c),
        Cmd::Product(c) => catalog::run(cli, c),
        Cmd::Sale(c) => sales::run(cli, c, matches),
        Cmd::Report(ReportCmd::Day { date }) => reports::day_report(cli, date.as_deref()),
        Cmd::Report(ReportCmd::Shop { date }) => relay::shop_day(cli, date.as_deref()),
        Cmd::Shift(c) => day::shift(cli, c),
        Cmd::Drawer(c) => day::drawer(cli, c),
        Cmd::Refund(a) => sales::refund(cli, a),
        Cmd::Refunds { sale } => sales::refunds(cli, *sale),
        Cmd::RefundCheck(a) => sales::refund_check(cli, a),
        Cmd::Stock(c) => catalog::stock(cli, c),
        Cmd::Receipt(a) => reports::receipt(cli, a),
        Cmd::Export(a) => reports::export(cli, a),
        Cmd::Backup(c) => backup::run(cli, c),
    };
    done.map(|()| 0)
}
