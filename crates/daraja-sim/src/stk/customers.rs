//! The simulated customer behind each push: pays, fails, lets the prompt time out or stays
//! silent as its phone number's scenario says, unless the phone (the control API) decides
//! first. The decision ends the push.

use std::time::{Duration, Instant};

use super::{callbacks, result_desc};
use crate::config::Behaviour;
use crate::state::{PushState, Receipt, now_ms};
use crate::{App, Shared};

/// The simulated customer: waits for its scenario's timer or a decision from the control API.
pub(super) async fn customer(
    app: App,
    checkout: String,
    behaviour: Behaviour,
    rx: tokio::sync::oneshot::Receiver<(String, String)>,
) {
    let unit = Duration::from_millis(app.cfg.time_unit_ms);
    let timer = match &behaviour {
        Behaviour::Interactive => Some((
            unit * app.cfg.prompt_timeout_units as u32,
            "1037".to_string(),
        )),
        Behaviour::Pay { after_units } => Some((unit * *after_units as u32, "0".to_string())),
        Behaviour::Fail { code, after_units } => Some((unit * *after_units as u32, code.clone())),
        Behaviour::Silent => None,
    };
    let decision = match timer {
        Some((after, code)) => tokio::select! {
            d = rx => d.ok(),
            _ = tokio::time::sleep(after) => Some((code.clone(), result_desc(&code, false).to_string())),
        },
        None => rx.await.ok(),
    };
    if let Some((code, desc)) = decision {
        resolve(&app, &checkout, &code, &desc).await;
    }
}

/// Decides a pending prompt from the control API. False if it is not pending.
pub(crate) fn decide(app: &Shared, checkout: &str, code: &str, desc: Option<&str>) -> bool {
    let mut st = app.state();
    let Some(p) = st.pushes.get_mut(checkout) else {
        return false;
    };
    if p.state != PushState::Pending {
        return false;
    }
    match p.decide.take() {
        Some(tx) => tx
            .send((
                code.to_string(),
                desc.unwrap_or(result_desc(code, false)).to_string(),
            ))
            .is_ok(),
        None => false,
    }
}

/// Ends a push: records the result, frees the phone, then sends the callback(s).
async fn resolve(app: &App, checkout: &str, code: &str, desc: &str) {
    let (url, body, shortcode, faults) = {
        let mut st = app.state();
        let receipt = (code == "0").then(|| st.receipt());
        let items_seed = st.rng.next_u64();
        let include_balance = st.rng.percent(50);
        let Some(p) = st.pushes.get_mut(checkout) else {
            return;
        };
        if p.state != PushState::Pending {
            return;
        }
        let at_ms = now_ms();
        p.state = PushState::Done {
            result_code: code.to_string(),
            result_desc: desc.to_string(),
            receipt: receipt.clone(),
            at_ms,
        };
        p.decided_at = Some(Instant::now());
        p.decide = None;
        let (phone, amount, shortcode) = (p.phone.clone(), p.amount, p.shortcode.clone());
        let (url, merchant, faults) = (
            p.callback_url.clone(),
            p.merchant_request_id.clone(),
            p.faults.clone(),
        );
        if st.locks.get(&phone).is_some_and(|c| c == checkout) {
            st.locks.remove(&phone);
        }
        if let Some(r) = &receipt {
            st.receipts.insert(
                r.clone(),
                Receipt {
                    receipt: r.clone(),
                    checkout_request_id: Some(checkout.to_string()),
                    amount,
                    phone: phone.clone(),
                    shortcode: shortcode.clone(),
                    at_ms,
                },
            );
        }
        let paid = receipt.as_deref().map(|r| callbacks::Paid {
            receipt: r,
            amount,
            phone: &phone,
        });
        let body = callbacks::stk_callback(
            &merchant,
            checkout,
            code,
            desc,
            paid,
            items_seed,
            include_balance,
        );
        (url, body, shortcode, faults)
    };
    callbacks::deliver(app, url, body, shortcode, faults, checkout, code);
}
