//! Cashiers: add, list, set a PIN, unlock.

use crate::args::{CashierCmd, Cli};
use crate::ctx::{Ctx, open, stdin_line};
use crate::render;

pub fn run(cli: &Cli, c: &CashierCmd) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match c {
        CashierCmd::Add { name, role } => add(&ctx, name, role),
        CashierCmd::List => list(&ctx),
        CashierCmd::Pin { name } => pin(&ctx, name),
        CashierCmd::Unlock { name } => unlock(&ctx, name),
    }
}

fn add(ctx: &Ctx, name: &str, role: &str) -> anyhow::Result<()> {
    let c = ctx.till.add_staff(name, role)?;
    ctx.print(&c, || render::cashier_added(&c));
    Ok(())
}

fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let list = ctx.till.staff()?;
    ctx.print(&list, || render::cashiers(&list));
    Ok(())
}

/// The PIN comes on standard input, never on the command line (shell history, `ps`).
fn pin(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let pin = stdin_line("the PIN")?;
    let c = ctx.till.set_pin(name, pin.trim())?;
    ctx.print(&c, || render::pin_set(&c));
    Ok(())
}

fn unlock(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let c = ctx.till.unlock(name)?;
    ctx.print(&c, || render::unlocked(&c));
    Ok(())
}
