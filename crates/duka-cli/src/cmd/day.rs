//! A shop's day: shifts (open with the float, close with a blind count, the Z-report, the day
//! close) and the drawer (pay-outs, cash in, opened without a sale).

use duka_core::store::DrawerKind;
use duka_core::{Error, Money};

use crate::args::{Cli, DrawerArgs, DrawerCmd, ShiftCmd};
use crate::ctx::{Ctx, day, open};
use crate::render;

pub fn shift(cli: &Cli, c: &ShiftCmd) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match c {
        ShiftCmd::Open { float } => open_shift(&ctx, float),
        ShiftCmd::Close { counted } => close_shift(&ctx, counted),
        ShiftCmd::Show { id } => show(&ctx, *id),
        ShiftCmd::Day { date } => day_close(&ctx, date.as_deref()),
    }
}

pub fn drawer(cli: &Cli, c: &DrawerCmd) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match c {
        DrawerCmd::PayOut(a) => drawer_move(&ctx, DrawerKind::PayOut, a),
        DrawerCmd::CashIn(a) => drawer_move(&ctx, DrawerKind::CashIn, a),
        DrawerCmd::Open { reason } => opened(&ctx, reason),
    }
}

fn open_shift(ctx: &Ctx, float: &str) -> anyhow::Result<()> {
    let float = Money::parse_field(float, "float")?;
    let s = ctx.till.open_shift(&ctx.cashier, float)?;
    ctx.print(&s, || render::shift_opened(&s));
    Ok(())
}

/// The count is typed before the expected figure is shown: the Z-report comes after.
fn close_shift(ctx: &Ctx, counted: &str) -> anyhow::Result<()> {
    let counted = Money::parse_field(counted, "counted")?;
    let z = ctx.till.close_shift(counted, &ctx.cashier)?;
    ctx.print(&z, || render::z_report(&z));
    Ok(())
}

/// The shift `--id` names, or the open one (whose report only a manager sees).
fn show(ctx: &Ctx, id: Option<i64>) -> anyhow::Result<()> {
    let id = match id {
        Some(id) => id,
        None => current_shift_id(ctx)?,
    };
    let z = ctx.till.z_report(id, &ctx.cashier)?;
    ctx.print(&z, || render::z_report(&z));
    Ok(())
}

fn day_close(ctx: &Ctx, date: Option<&str>) -> anyhow::Result<()> {
    let d = ctx.till.day_close(day(date, "date")?, &ctx.cashier)?;
    ctx.print(&d, || render::day_close(&d));
    Ok(())
}

fn drawer_move(ctx: &Ctx, kind: DrawerKind, a: &DrawerArgs) -> anyhow::Result<()> {
    let amount = Money::parse_field(&a.amount, "amount")?;
    let m = ctx
        .till
        .drawer_move(kind, amount, &a.reason, &ctx.cashier)?;
    ctx.print(&m, || render::drawer_moved(&m));
    Ok(())
}

/// "No sale": the drawer opened by hand, no money, on the shift's report.
fn opened(ctx: &Ctx, reason: &str) -> anyhow::Result<()> {
    let m = ctx
        .till
        .drawer_move(DrawerKind::Open, Money::ZERO, reason, &ctx.cashier)?;
    ctx.print(&m, || render::drawer_moved(&m));
    Ok(())
}

fn current_shift_id(ctx: &Ctx) -> anyhow::Result<i64> {
    match ctx.till.current_shift()? {
        Some(s) => Ok(s.id),
        None => Err(Error::Conflict("no shift is open: name one with --id".into()).into()),
    }
}
