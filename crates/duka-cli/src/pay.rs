//! The M-Pesa commands: charge, attempts, reconcile, resend, verify-code, and the engine setup
//! they share (demo mode runs daraja-sim in-process).

use std::time::Duration;

use duka_core::engine::CoreEvent;
use duka_core::payment::AttemptState;
use duka_core::store::Attempt;
use duka_core::{Msisdn, Store, time};

pub use duka_app::Running;

/// Starts the till for a CLI command: in demo mode, customers pay after 5 s (no phone to show).
/// The engine gets its own connection to the command's database.
pub async fn start(ctx: &crate::Ctx, secret_backend: &str) -> anyhow::Result<Running> {
    let opts = duka_app::Options {
        demo_customer: duka_app::DemoCustomer::PaysAfter(5),
    };
    let store = Store::open(&ctx.till.db_path())?;
    Ok(duka_app::start(store, ctx.mode, &ctx.data_dir, secret_backend, opts).await?)
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// What the cashier reads for an attempt's state.
pub fn describe(a: &Attempt) -> String {
    match &a.state {
        AttemptState::Created => "sending the M-Pesa request…".into(),
        AttemptState::Pending { .. } => format!("waiting for the customer to enter their PIN on {}", a.phone.local()),
        AttemptState::Paid { receipt: Some(r) } => format!("PAID: M-Pesa receipt {r}"),
        AttemptState::Paid { receipt: None } => "PAID (M-Pesa receipt pending: it arrives with the callback or the customer's SMS)".into(),
        AttemptState::Failed { code } if code == duka_core::payment::NOT_REACHED => "closed: the cashier confirmed no prompt reached the phone".into(),
        AttemptState::Failed { code } => format!(
            "FAILED ({code}): {}{}",
            daraja::codes::lookup(code).en,
            a.result_desc.as_deref().filter(|d| !d.is_empty() && daraja::codes::lookup(code).class == daraja::codes::Class::Unknown).map(|d| format!(" [{d}]")).unwrap_or_default()
        ),
        AttemptState::Unknown => match (&a.unknown_code, &a.checkout_request_id) {
            (Some(c), _) => format!("UNKNOWN: M-Pesa answered {c}, which Duka does not know. Check the customer's SMS; `duka reconcile` asks again."),
            (None, Some(_)) => "UNKNOWN: M-Pesa gave no final answer in time. Check the customer's SMS; `duka reconcile` asks again.".into(),
            (None, None) => "UNKNOWN: no answer from M-Pesa to the request. Ask the customer whether a prompt arrived; do not charge again until you know (`duka reconcile`, `duka resend`).".into(),
        },
    }
}

pub fn exit_code(a: &Attempt) -> u8 {
    match a.state {
        AttemptState::Paid { .. } => 0,
        AttemptState::Failed { .. } => 2,
        _ => 3,
    }
}

/// Charges (in parts of at most 250,000 when `split`), printing each state as it changes.
/// One `duka charge`.
pub struct ChargeRequest<'a> {
    pub sale_id: i64,
    pub phone: &'a Msisdn,
    /// Whole shillings in all.
    pub total: i64,
    /// Consent to several pushes above the per-push limit.
    pub split: bool,
    pub cashier: &'a str,
    pub json: bool,
    pub wait: bool,
}

pub async fn charge(run: &Running, req: ChargeRequest<'_>) -> anyhow::Result<(Vec<Attempt>, u8)> {
    let ChargeRequest {
        sale_id,
        phone,
        total,
        split,
        cashier,
        json,
        wait,
    } = req;
    let plan = duka_core::till::ChargePlan::new(total, split)?;
    let mut done = Vec::new();
    for part in plan.pushes {
        let mut rx = run.subscribe();
        if !json {
            println!(
                "M-Pesa request: KES {part} to {} for sale {sale_id}",
                phone.local()
            );
        }
        let a = run.charge(sale_id, phone, Some(part), cashier).await?;
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
        let settled = if wait
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
                s = run.wait_settled(&a.id, run.deadline + Duration::from_secs(10)) => s?,
                _ = printer => run.attempt(&a.id)?,
            }
        } else {
            a
        };
        show(&settled);
        let code = exit_code(&settled);
        done.push(settled);
        if code != 0 || !wait {
            return Ok((done, code));
        }
    }
    Ok((done, 0))
}

pub fn attempts_table(list: &[Attempt]) -> String {
    if list.is_empty() {
        return "no payment attempts".into();
    }
    let mut s = format!(
        "{:<32}  {:>6}  {:<12} {:>9}  {:<8} {:<8} {}\n",
        "attempt", "sale", "phone", "amount", "state", "code", "since"
    );
    for a in list {
        s += &format!(
            "{:<32}  {:>6}  {:<12} {:>9}  {:<8} {:<8} {}{}\n",
            a.id,
            a.sale_id,
            a.phone.masked(),
            a.amount,
            a.state.name(),
            a.code().unwrap_or("-"),
            time::format_local(a.created_at),
            a.flag
                .as_deref()
                .map(|f| format!("\n      FLAGGED: {f}"))
                .unwrap_or_default()
        );
    }
    s.trim_end().to_string()
}
