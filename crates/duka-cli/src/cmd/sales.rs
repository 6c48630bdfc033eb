//! Sales: ring one up, show, list, take cash or a typed M-Pesa code, void, correct an
//! unpaid one (add a line, remove one, change a quantity), park and recall one, refund one.

use anyhow::Context;
use duka_core::refund::RefundTo;
use duka_core::sale::Sale;
use duka_core::secrets::SecretKey;
use duka_core::store::SaleEdit;
use duka_core::till::CashPaid;
use duka_core::{Money, Till};

use crate::args::{AddLineArgs, Cli, NewSaleArgs, PayArgs, RefundArgs, RefundCheckArgs, SaleCmd};
use crate::ctx::{Ctx, day, money, open};
use crate::{lines, pay, render};

pub fn run(cli: &Cli, c: &SaleCmd, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match c {
        SaleCmd::New(a) => new(&ctx, a, matches),
        SaleCmd::Show { id } => show(&ctx, *id),
        SaleCmd::List { date, limit } => list(&ctx, date.as_deref(), *limit),
        SaleCmd::Pay(a) => pay(&ctx, a),
        SaleCmd::Void { id, reason } => void(&ctx, *id, reason),
        SaleCmd::AddLine(a) => add_line(&ctx, a),
        SaleCmd::RemoveLine { id, line } => remove_line(&ctx, *id, *line),
        SaleCmd::SetQty { id, line, qty } => set_qty(&ctx, *id, *line, qty),
        SaleCmd::Park { id } => park(&ctx, *id),
        SaleCmd::Recall { id } => recall(&ctx, *id),
        SaleCmd::Parked => parked(&ctx),
        SaleCmd::Discount {
            id,
            line,
            value,
            remove: _,
            approved_by,
        } => discount(&ctx, *id, *line, value.as_deref(), approved_by.as_deref()),
    }
}

/// A discount (none: taken away); the approving manager's PIN comes from standard input.
fn discount(
    ctx: &Ctx,
    id: i64,
    line: Option<i64>,
    value: Option<&str>,
    approved_by: Option<&str>,
) -> anyhow::Result<()> {
    let discount = value
        .map(duka_core::discount::Discount::parse)
        .transpose()?;
    let pin = match approved_by {
        Some(_) => Some(
            crate::ctx::stdin_line("the manager's PIN")?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let approval = approved_by.zip(pin.as_deref());
    let s = ctx
        .till
        .discount(id, line, discount, &ctx.cashier, approval)?;
    ctx.print(&s, || render::sale(&s));
    Ok(())
}

/// A manager refunds a sale: all that is left of it, or the `--line`s, to cash or by hand.
pub fn refund(cli: &Cli, a: &RefundArgs) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let lines = a.line.iter().map(|l| lines::refund_line(l));
    let lines = lines.collect::<anyhow::Result<Vec<_>>>()?;
    let to = match &a.manual_code {
        Some(code) => RefundTo::Manual { code: code.clone() },
        None => RefundTo::Cash,
    };
    let picked = (!lines.is_empty()).then_some(lines.as_slice());
    let r = match a.mpesa {
        true => pay::refund_to_mpesa(&ctx, a.sale, picked, &a.reason)?,
        false => ctx
            .till
            .refund(a.sale, picked, &a.reason, &to, &ctx.cashier)?,
    };
    ctx.print(&r, || render::refunded(&r));
    Ok(())
}

/// A manager settles a reversal or confirms a refund sent by hand, from the M-Pesa statement.
pub fn refund_check(cli: &Cli, a: &RefundCheckArgs) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let r = if a.seen {
        ctx.till.confirm_refund(a.refund, &ctx.cashier)?
    } else {
        let receipt = a.reversed.as_deref().filter(|_| !a.not_reversed);
        ctx.till.settle_reversal(a.refund, receipt, &ctx.cashier)?
    };
    ctx.print(&r, || render::refunded(&r));
    Ok(())
}

pub fn refunds(cli: &Cli, sale: i64) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let list = ctx.till.refunds_of(sale)?;
    ctx.print(&list, || render::refunds(sale, &list));
    Ok(())
}

/// The lines come from the order of the flags (`lines`), which clap's derive does not keep.
fn new(ctx: &Ctx, a: &NewSaleArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let lines = lines::inputs(&lines::from_matches(new_matches(matches)?)?)?;
    let mut s = ctx.till.create_sale(&ctx.cashier, &lines)?;
    if let Some(code) = &a.mpesa_code {
        s = use_receipt(ctx, ReceiptOp::code(s.id, code, None))?;
    }
    let mut change = None;
    if let Some(cash) = &a.cash {
        let paid = pay_cash(ctx, s.id, cash)?;
        (s, change) = (paid.sale, Some(paid.change));
    }
    ctx.print(&s, || render::sale_with_change(&s, change));
    Ok(())
}

/// The sale with the corrections made to it (in JSON, the sale's fields and `edits`).
fn show(ctx: &Ctx, id: i64) -> anyhow::Result<()> {
    let s = ctx.till.sale(id)?;
    let edits = ctx.till.sale_edits(id)?;
    let out = Shown {
        sale: &s,
        edits: &edits,
    };
    ctx.print(&out, || render::sale_shown(&s, &edits));
    Ok(())
}

fn list(ctx: &Ctx, date: Option<&str>, limit: usize) -> anyhow::Result<()> {
    let list = ctx.till.sales_of_day(day(date, "date")?, limit)?;
    ctx.print(&list, || render::sales(&list));
    Ok(())
}

/// A typed M-Pesa code (for what is due, or `--amount`), or cash (the change is printed).
fn pay(ctx: &Ctx, a: &PayArgs) -> anyhow::Result<()> {
    let (s, change) = match &a.mpesa_code {
        Some(code) => {
            let op = ReceiptOp::code(a.id, code, money(a.amount.as_deref(), "amount")?);
            (use_receipt(ctx, op)?, None)
        }
        None => {
            let cash = a.cash.as_deref().context("cash: expected an amount")?;
            let paid = pay_cash(ctx, a.id, cash)?;
            (paid.sale, Some(paid.change))
        }
    };
    ctx.print(&s, || render::paid(&s, change));
    Ok(())
}

fn void(ctx: &Ctx, id: i64, reason: &str) -> anyhow::Result<()> {
    let s = ctx.till.void_sale(id, reason, &ctx.cashier)?;
    ctx.print(&s, || render::voided(&s));
    Ok(())
}

fn add_line(ctx: &Ctx, a: &AddLineArgs) -> anyhow::Result<()> {
    let (item, barcode) = (a.item.as_deref(), a.barcode.as_deref());
    let line = lines::one(item, barcode, a.price.as_deref(), a.qty.as_deref())?;
    let s = ctx.till.add_line(a.id, &line, &ctx.cashier)?;
    ctx.print(&s, || render::sale(&s));
    Ok(())
}

fn remove_line(ctx: &Ctx, id: i64, line: i64) -> anyhow::Result<()> {
    let s = ctx.till.remove_line(id, line, &ctx.cashier)?;
    ctx.print(&s, || render::sale(&s));
    Ok(())
}

fn set_qty(ctx: &Ctx, id: i64, line: i64, qty: &str) -> anyhow::Result<()> {
    let s = ctx
        .till
        .set_quantity(id, line, lines::quantity(qty)?, &ctx.cashier)?;
    ctx.print(&s, || render::sale(&s));
    Ok(())
}

fn park(ctx: &Ctx, id: i64) -> anyhow::Result<()> {
    let s = ctx.till.park_sale(id)?;
    ctx.print(&s, || render::parked(&s));
    Ok(())
}

fn recall(ctx: &Ctx, id: i64) -> anyhow::Result<()> {
    let s = ctx.till.recall_sale(id)?;
    ctx.print(&s, || render::sale(&s));
    Ok(())
}

fn parked(ctx: &Ctx) -> anyhow::Result<()> {
    let list = ctx.till.parked_sales()?;
    ctx.print(&list, || render::parked_sales(&list));
    Ok(())
}

/// `sale show --json`: the sale's own fields, and its corrections.
#[derive(serde::Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    sale: &'a Sale,
    edits: &'a [SaleEdit],
}

/// `sale new`'s own arguments, for the order of its flags.
fn new_matches(matches: &clap::ArgMatches) -> anyhow::Result<&clap::ArgMatches> {
    matches
        .subcommand_matches("sale")
        .and_then(|m| m.subcommand_matches("new"))
        .context("internal: sale new arguments")
}

/// Cash handed over, as typed.
fn pay_cash(ctx: &Ctx, sale: i64, cash: &str) -> anyhow::Result<CashPaid> {
    let cash = Money::parse_field(cash, "cash")?;
    Ok(ctx.till.pay_cash(sale, cash, &ctx.cashier)?)
}

/// A command that uses an M-Pesa receipt.
pub enum ReceiptOp {
    /// A code typed from the customer's SMS.
    Code {
        sale: i64,
        code: String,
        amount: Option<Money>,
    },
    /// An incoming (C2B) payment.
    Attach { trans_id: String, sale: i64 },
}

impl ReceiptOp {
    pub fn code(sale: i64, code: &str, amount: Option<Money>) -> ReceiptOp {
        ReceiptOp::Code {
            sale,
            code: code.into(),
            amount,
        }
    }

    async fn apply(self, till: &Till, cashier: &str) -> anyhow::Result<Sale> {
        Ok(match self {
            ReceiptOp::Code { sale, code, amount } => {
                till.pay_code(sale, &code, amount, cashier).await?
            }
            ReceiptOp::Attach { trans_id, sale } => {
                till.attach_incoming(&trans_id, sale, cashier).await?
            }
        })
    }
}

/// Uses a receipt for a sale. A till paired with a relay claims it shop-wide first, on a
/// running till that waits a few seconds for the connection (without an answer it attaches
/// provisionally, and the claim goes the next time the till is connected).
pub fn use_receipt(ctx: &Ctx, op: ReceiptOp) -> anyhow::Result<Sale> {
    if !relay_paired(ctx)? {
        return pay::runtime()?.block_on(op.apply(&ctx.till, &ctx.cashier));
    }
    pay::with_running(ctx, async |run| {
        if let Some(relay) = run.relay() {
            relay.wait_connected(duka_core::relay::CLAIM_WAIT).await;
        }
        op.apply(run, &ctx.cashier).await
    })
}

/// A till never paired needs no secret store (whose keyring probe costs a D-Bus round trip)
/// and no engine.
fn relay_paired(ctx: &Ctx) -> anyhow::Result<bool> {
    Ok(ctx.till.pairing_info()?.is_some()
        && ctx
            .secrets()?
            .get(SecretKey::relay_key(ctx.mode))?
            .is_some())
}
