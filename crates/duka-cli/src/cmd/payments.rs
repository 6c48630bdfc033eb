//! The M-Pesa commands: charge, reconcile, resend, attempts, verify-code.

use serde_json::json;

use crate::args::{AttemptsArgs, ChargeArgs, Cli};
use crate::ctx::open;
use crate::{pay, render};

/// Exit code 0 paid, 2 failed, 3 unknown.
pub fn charge(cli: &Cli, a: &ChargeArgs) -> anyhow::Result<u8> {
    let ctx = open(cli)?;
    let mut req = pay::ChargeRequest::new(&ctx.till, a.sale, &a.phone, a.amount.as_deref())?;
    (req.split, req.wait) = (a.split, !a.no_wait);
    pay::with_running(&ctx, async |run| {
        let (attempts, code) = pay::charge(run, &ctx, &req).await?;
        ctx.print(&attempts, String::new);
        Ok(code)
    })
}

/// Exit code 3 while an attempt is still not final after waiting for it.
pub fn reconcile(cli: &Cli) -> anyhow::Result<u8> {
    let ctx = open(cli)?;
    pay::with_running(&ctx, async |run| {
        let report = run.reconcile().await?;
        // Wait for the ones handed to the poller, up to its deadline.
        let settled = pay::wait_all(run, report.iter().map(|r| r.attempt_id.as_str())).await?;
        let out = json!({"reconciled": report, "attempts": settled});
        ctx.print(&out, || render::reconciled(&report, &settled));
        let open = settled.iter().any(|a| !a.state.is_final());
        Ok(if open { 3 } else { 0 })
    })
}

pub fn resend(cli: &Cli, attempt: &str, no_prompt_reached: bool) -> anyhow::Result<u8> {
    let ctx = open(cli)?;
    pay::with_running(&ctx, async |run| {
        let a = run.resend(attempt, no_prompt_reached, &ctx.cashier).await?;
        let a = run.wait_settled(&a.id, pay::settle_wait(run)).await?;
        ctx.print(&a, || render::resent(&a));
        Ok(pay::exit_code(&a))
    })
}

pub fn attempts(cli: &Cli, a: &AttemptsArgs) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match &a.id {
        Some(id) => {
            let (attempt, events) = (ctx.till.attempt(id)?, ctx.till.attempt_events(id)?);
            let out = json!({"attempt": attempt, "events": events});
            ctx.print(&out, || render::attempt(&attempt, &events));
        }
        None => {
            let list = ctx.till.attempts(a.open, a.limit)?;
            ctx.print(&list, || render::attempts(&list));
        }
    }
    Ok(())
}

pub fn verify_code(cli: &Cli, code: &str, sale: i64) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let v = ctx.till.verify_code(sale, code)?;
    ctx.print(&v, || v.message.clone());
    Ok(())
}
