//! The engine setup the M-Pesa commands share (demo mode runs daraja-sim in-process), and the
//! charge loop of `duka charge` and `duka demo`.

use std::time::Duration;

use duka_core::engine::CoreEvent;
use duka_core::payment::AttemptState;
use duka_core::store::Attempt;
use duka_core::{Msisdn, Store, Till};

use crate::ctx::{Ctx, money};
use crate::render::describe;

pub use duka_app::Running;

/// Starts the till for a CLI command: in demo mode, customers pay after 5 s (no phone to show).
/// The engine gets its own connection to the command's database.
pub async fn start(ctx: &Ctx) -> anyhow::Result<Running> {
    let opts = duka_app::Options {
        demo_customer: duka_app::DemoCustomer::PaysAfter(5),
    };
    let store = Store::open(&ctx.till.db_path())?;
    Ok(duka_app::start(store, ctx.mode, &ctx.data_dir, &ctx.secret_backend, opts).await?)
}

/// Runs `f` on the running till (engine, poller, relay), and stops it afterwards.
pub fn with_running<T>(
    ctx: &Ctx,
    f: impl AsyncFnOnce(&Running) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    runtime()?.block_on(async {
        let run = start(ctx).await?;
        let out = f(&run).await;
        run.stop();
        out
    })
}

/// A refund to M-Pesa on the running till: sent, then followed until M-Pesa's Result (or the
/// poll deadline; an unanswered reversal stays open and `duka refunds` shows it later).
pub fn refund_to_mpesa(
    ctx: &Ctx,
    sale: i64,
    lines: Option<&[duka_core::store::RefundLineInput]>,
    reason: &str,
) -> anyhow::Result<duka_core::store::Refund> {
    with_running(ctx, async |run| {
        let mut events = run.subscribe();
        let r = run
            .refund_to_mpesa(sale, lines, reason, &ctx.cashier)
            .await?;
        let deadline = tokio::time::Instant::now() + settle_wait(run);
        loop {
            let now = run.refunds_of(sale)?.into_iter().find(|x| x.id == r.id);
            let now = now.unwrap_or_else(|| r.clone());
            if now.state.is_final() || tokio::time::Instant::now() >= deadline {
                return Ok(now);
            }
            let _ = tokio::time::timeout_at(deadline, events.recv()).await;
        }
    })
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// How long a command waits for an attempt handed to the poller: its deadline, and a margin.
pub fn settle_wait(run: &Running) -> Duration {
    run.deadline + Duration::from_secs(10)
}

/// Waits for each attempt to settle (or for the poller to give up on it), in order.
pub async fn wait_all<'a>(
    run: &Running,
    ids: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<Vec<Attempt>> {
    let mut settled = Vec::new();
    for id in ids {
        settled.push(run.wait_settled(id, settle_wait(run)).await?);
    }
    Ok(settled)
}

/// The exit code for an attempt: 0 paid, 2 failed, 3 not final (unknown).
pub fn exit_code(a: &Attempt) -> u8 {
    match a.state {
        AttemptState::Paid { .. } => 0,
        AttemptState::Failed { .. } => 2,
        _ => 3,
    }
}

/// One `duka charge`.
pub struct ChargeRequest {
    pub sale_id: i64,
    pub phone: Msisdn,
    /// Whole shillings in all.
    pub total: i64,
    /// Consent to several pushes above the per-push limit.
    pub split: bool,
    /// Follow each request to its end (else return once it is sent).
    pub wait: bool,
}

impl ChargeRequest {
    /// What is due on the sale (or `amount`, as typed) to `phone`, as typed; in one push,
    /// followed to the end.
    pub fn new(
        till: &Till,
        sale_id: i64,
        phone: &str,
        amount: Option<&str>,
    ) -> anyhow::Result<ChargeRequest> {
        let phone = Msisdn::parse(phone)?;
        let total = till.amount_to_push(sale_id, money(amount, "amount")?)?;
        Ok(ChargeRequest {
            sale_id,
            phone,
            total,
            split: false,
            wait: true,
        })
    }
}

/// Charges (in parts of at most 250,000 when `split`), printing each state as it changes
/// (unless `--json`). Returns the attempts and the exit code of the last.
pub async fn charge(
    run: &Running,
    ctx: &Ctx,
    req: &ChargeRequest,
) -> anyhow::Result<(Vec<Attempt>, u8)> {
    let plan = duka_core::till::ChargePlan::new(req.total, req.split)?;
    let mut done = Vec::new();
    for part in plan.pushes {
        let settled = push(run, ctx, req, part).await?;
        let code = exit_code(&settled);
        done.push(settled);
        if code != 0 || !req.wait {
            return Ok((done, code));
        }
    }
    Ok((done, 0))
}

/// One STK push of `part` shillings, followed (when `req.wait`) until it settles.
async fn push(run: &Running, ctx: &Ctx, req: &ChargeRequest, part: i64) -> anyhow::Result<Attempt> {
    let json = ctx.json;
    let mut rx = run.subscribe();
    if !json {
        println!(
            "M-Pesa request: KES {part} to {} for sale {}",
            req.phone.local(),
            req.sale_id
        );
    }
    let a = run
        .charge(req.sale_id, &req.phone, Some(part), &ctx.cashier)
        .await?;
    if !json {
        println!("  {} ({})", describe(&a), a.id);
    }
    let shown = std::sync::Mutex::new(describe(&a));
    let show = |attempt: &Attempt| {
        let line = describe(attempt);
        let mut last = shown.lock().unwrap_or_else(|p| p.into_inner());
        if !json && line != *last {
            println!("  {line}");
            *last = line;
        }
    };
    let settled = if req.wait
        && matches!(
            a.state,
            AttemptState::Created | AttemptState::Pending { .. }
        ) {
        let printer = async {
            while let Ok(ev) = rx.recv().await {
                if let CoreEvent::AttemptChanged { attempt } = ev
                    && attempt.id == a.id
                    && attempt.updated_at >= a.updated_at
                {
                    show(&attempt);
                }
            }
        };
        tokio::select! {
            s = run.wait_settled(&a.id, settle_wait(run)) => s?,
            _ = printer => run.attempt(&a.id)?,
        }
    } else {
        a
    };
    show(&settled);
    Ok(settled)
}
