//! The payment state machine: a pure function from (state, event) to the next step.
//!
//! ```text
//! created ──push accepted──▶ pending(checkout_id) ──result 0──▶ paid(receipt?)
//!    │                          │  └─final result ≠ 0──▶ failed(code)
//!    │                          └─deadline / unknown code──▶ unknown ──result──▶ paid | failed
//!    ├─push rejected (nothing sent)──▶ failed(code)
//!    └─no answer to the push──▶ unknown
//! ```
//! Facts are idempotent (the same fact twice is `Step::Same`); a fact that contradicts a final
//! state is `Step::Conflict`: recorded and flagged by the caller, never applied.

use std::fmt;

use crate::phone::Msisdn;

/// Code recorded when the cashier confirms that an attempt never reached the customer's phone.
pub const NOT_REACHED: &str = "NOT_REACHED";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AttemptState {
    /// Committed, push not (known to be) sent yet.
    Created,
    /// Daraja accepted the push; the customer has a prompt.
    Pending { checkout_id: String },
    /// Money received. The receipt may come later (the STK query never returns it).
    Paid { receipt: Option<String> },
    /// Final: no money moved for this attempt.
    Failed { code: String },
    /// We do not know: the push got no answer, the deadline passed, or a code we do not know.
    Unknown,
}

impl AttemptState {
    pub fn name(&self) -> &'static str {
        match self {
            AttemptState::Created => "created",
            AttemptState::Pending { .. } => "pending",
            AttemptState::Paid { .. } => "paid",
            AttemptState::Failed { .. } => "failed",
            AttemptState::Unknown => "unknown",
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(
            self,
            AttemptState::Paid { .. } | AttemptState::Failed { .. }
        )
    }
}

/// A fact about an attempt, from wherever it was learned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PaymentEvent {
    /// Daraja answered the push with `ResponseCode 0` and a CheckoutRequestID.
    PushAccepted { checkout_id: String },
    /// Daraja refused the push synchronously: no prompt was sent.
    PushRejected { code: String },
    /// The push may have been sent but no answer came (timeout, connection cut, crash).
    PushNoAnswer,
    /// A ResultCode from a callback, a query, Transaction Status or the cashier.
    Result {
        code: String,
        receipt: Option<String>,
    },
    /// The poller's deadline passed without a final result.
    Deadline,
    /// The cashier confirms the prompt never reached the phone.
    NeverReached,
}

impl PaymentEvent {
    pub fn name(&self) -> &'static str {
        match self {
            PaymentEvent::PushAccepted { .. } => "push_accepted",
            PaymentEvent::PushRejected { .. } => "push_rejected",
            PaymentEvent::PushNoAnswer => "push_no_answer",
            PaymentEvent::Result { .. } => "result",
            PaymentEvent::Deadline => "deadline",
            PaymentEvent::NeverReached => "never_reached",
        }
    }
}

/// What a ResultCode means for a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeClass {
    Success,
    /// Known final failure: no money moved.
    Failed,
    /// Still being processed (`4999`, `500.001.1001`, rate limits on the query).
    Pending,
    /// A code we do not know: needs reconciliation, never treated as failed.
    Unknown,
}

/// Classifies an STK ResultCode (callback or query) with the table of `daraja::codes`
/// (Daraja's documented and observed codes), plus the cashier's own "never reached the phone".
pub fn classify(code: &str) -> CodeClass {
    use daraja::codes::Class;
    if code.trim() == NOT_REACHED {
        return CodeClass::Failed;
    }
    match daraja::codes::class(code) {
        Class::Success => CodeClass::Success,
        Class::Final | Class::Retry => CodeClass::Failed,
        Class::Pending => CodeClass::Pending,
        Class::Unknown => CodeClass::Unknown,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Move to this state (and append an event row).
    To(AttemptState),
    /// Nothing new: a repeated or weaker fact.
    Same,
    /// The fact contradicts what is known: record it, flag it for the manager, keep the state.
    Conflict(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BadTransition {
    pub state: &'static str,
    pub event: &'static str,
}

impl fmt::Display for BadTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "event {} is not possible in state {}",
            self.event, self.state
        )
    }
}

/// The flag text for a success that arrives on an attempt the cashier gave up on.
pub fn late_success_reason(receipt: Option<&str>) -> String {
    format!(
        "{DOUBLE_PAYMENT}: M-Pesa confirmed this request{} after the cashier said no prompt reached the phone; refund it to the customer or keep it against the sale",
        receipt
            .map(|r| format!(" (receipt {r})"))
            .unwrap_or_default()
    )
}

/// Starts every flag that means "the customer may have paid twice".
pub const DOUBLE_PAYMENT: &str = "customer may have paid twice";

/// Whether an attempt the cashier gave up on (`failed(NOT_REACHED)`) must still be followed
/// after this fact: until M-Pesa itself gives a final answer (success or a known failure).
pub fn still_followed(before: &AttemptState, event: &PaymentEvent) -> bool {
    match (before, event) {
        (AttemptState::Failed { code }, PaymentEvent::Result { code: rc, .. })
            if code == NOT_REACHED =>
        {
            !matches!(classify(rc), CodeClass::Success | CodeClass::Failed)
        }
        (_, PaymentEvent::NeverReached) => true,
        (AttemptState::Failed { code }, _) => code == NOT_REACHED,
        _ => false,
    }
}

pub fn transition(state: &AttemptState, event: &PaymentEvent) -> Result<Step, BadTransition> {
    use AttemptState as S;
    use PaymentEvent as E;
    let bad = || BadTransition {
        state: state.name(),
        event: event.name(),
    };
    let step = match (state, event) {
        (S::Created, E::PushAccepted { checkout_id }) => Step::To(S::Pending {
            checkout_id: checkout_id.clone(),
        }),
        (S::Created, E::PushRejected { code }) => Step::To(S::Failed { code: code.clone() }),
        (S::Created, E::PushNoAnswer | E::Deadline) => Step::To(S::Unknown),
        (S::Created | S::Unknown, E::NeverReached) => Step::To(S::Failed {
            code: NOT_REACHED.to_string(),
        }),
        (S::Pending { checkout_id: have }, E::PushAccepted { checkout_id })
            if have == checkout_id =>
        {
            Step::Same
        }
        // The push answer can arrive after other facts: a callback routed by attempt id, or a
        // reconcile in another process that gave up on it. It never undoes a result.
        (S::Unknown, E::PushAccepted { checkout_id }) => Step::To(S::Pending {
            checkout_id: checkout_id.clone(),
        }),
        (S::Unknown, E::PushRejected { code }) => Step::To(S::Failed { code: code.clone() }),
        (S::Unknown | S::Paid { .. } | S::Failed { .. }, E::PushNoAnswer) => Step::Same,
        (S::Failed { code }, E::PushAccepted { .. }) if code == NOT_REACHED => Step::Conflict(
            "the cashier said no prompt reached the phone, but M-Pesa accepted this push: check for a double payment".into(),
        ),
        (S::Paid { .. } | S::Failed { .. }, E::PushAccepted { .. }) => Step::Same,
        (S::Failed { .. }, E::PushRejected { .. }) => Step::Same,
        (S::Paid { .. }, E::PushRejected { code }) => Step::Conflict(format!(
            "paid, then the push was reported rejected ({code})"
        )),
        (S::Pending { .. }, E::Deadline) => Step::To(S::Unknown),
        (S::Unknown, E::Deadline) => Step::Same,
        (S::Created | S::Pending { .. } | S::Unknown, E::Result { code, receipt }) => {
            match classify(code) {
                CodeClass::Success => Step::To(S::Paid {
                    receipt: receipt.clone(),
                }),
                CodeClass::Failed => Step::To(S::Failed { code: code.clone() }),
                CodeClass::Pending => Step::Same,
                CodeClass::Unknown if matches!(state, S::Unknown) => Step::Same,
                CodeClass::Unknown => Step::To(S::Unknown),
            }
        }
        (S::Paid { receipt: have }, E::Result { code, receipt }) => {
            match (classify(code), have, receipt) {
                (CodeClass::Success, None, Some(r)) => Step::To(S::Paid {
                    receipt: Some(r.clone()),
                }),
                (CodeClass::Success, Some(a), Some(b)) if a != b => {
                    Step::Conflict(format!("paid with receipt {a}, then a second receipt {b}"))
                }
                (CodeClass::Success | CodeClass::Pending, _, _) => Step::Same,
                (CodeClass::Failed | CodeClass::Unknown, _, _) => {
                    Step::Conflict(format!("paid, then result code {code}"))
                }
            }
        }
        (S::Paid { .. } | S::Failed { .. }, E::Deadline) => Step::Same,
        // The cashier gave this attempt up ("no prompt reached the phone") and a new push may
        // have been sent: M-Pesa's own final answer replaces the cashier's word, and a late
        // success means the customer may have paid twice.
        (S::Failed { code: have }, E::Result { code, receipt }) if have == NOT_REACHED => {
            match classify(code) {
                CodeClass::Success => Step::Conflict(late_success_reason(receipt.as_deref())),
                CodeClass::Failed => Step::To(S::Failed { code: code.clone() }),
                CodeClass::Pending | CodeClass::Unknown => Step::Same,
            }
        }
        (S::Failed { code: have }, E::Result { code, .. }) => match classify(code) {
            CodeClass::Success => {
                Step::Conflict(format!("failed ({have}), then result code 0 (paid)"))
            }
            _ => Step::Same,
        },
        (S::Failed { code }, E::NeverReached) if code == NOT_REACHED => Step::Same,
        _ => return Err(bad()),
    };
    Ok(step)
}

// ─── The money path's cross-checks ───────────────────────────────────────────────────────────
//
// Every rule the engine and the store apply before a fact may move money lives below, as a
// pure function returning a decision; the callers only fetch the facts and carry the decision
// out. Their table tests are in `payment/tests.rs`.

/// The open states (`created`, `pending`, `unknown`: money may still move) as an SQL list, for
/// queries over `payment_attempts.state`. A sale has at most one open attempt.
pub const OPEN_STATES_SQL: &str = "('created','pending','unknown')";

impl AttemptState {
    /// Not final: `created`, `pending` or `unknown`, the states in which the sale waits on this
    /// attempt. The opposite of `is_final`. (A `failed(NOT_REACHED)` attempt is final for its
    /// sale but still followed: a late success on it is flagged, see `still_followed`.)
    pub fn is_open(&self) -> bool {
        !self.is_final()
    }

    /// Still on its way to an answer by itself (pushed or being pushed, not yet given up on):
    /// `created` or `pending`. `unknown` waits for a person or a reconcile.
    pub fn is_in_progress(&self) -> bool {
        matches!(self, AttemptState::Created | AttemptState::Pending { .. })
    }
}

/// Whether a `created` attempt may still be on its way to Daraja in this or another process:
/// younger than the grace, or its push answer is held in memory because the disk refused it.
/// Reconcile and resend leave such an attempt alone.
pub fn in_flight(state: &AttemptState, age_ms: i64, grace_ms: i64, answer_unsaved: bool) -> bool {
    matches!(state, AttemptState::Created) && (age_ms < grace_ms || answer_unsaved)
}

/// Which attempt a callback may settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackRoute {
    /// It is this attempt's; `learn` is the CheckoutRequestID to record when the attempt did not
    /// know it yet (the push answer was lost).
    Settle { learn: Option<String> },
    /// Signed for this attempt but carrying another attempt's CheckoutRequestID (or not the one
    /// this attempt has): refused as forged and flagged on the named attempt.
    Forged,
}

/// A callback whose signed URL names attempt `named_id` (which has `named_checkout`, if its
/// push answer was recorded), with `body_checkout` in its body, which belongs to attempt
/// `body_owner` (or none) in the store.
pub fn route_signed_callback(
    named_id: &str,
    named_checkout: Option<&str>,
    body_checkout: &str,
    body_owner: Option<&str>,
) -> CallbackRoute {
    match (named_checkout, body_owner) {
        (Some(have), _) if have != body_checkout => CallbackRoute::Forged,
        (Some(_), _) => CallbackRoute::Settle { learn: None },
        (None, Some(other)) if other != named_id => CallbackRoute::Forged,
        (None, _) => CallbackRoute::Settle {
            learn: Some(body_checkout.to_string()),
        },
    }
}

/// What a callback body says, as far as the money is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackFacts<'a> {
    /// `ResultCode` is zero (M-Pesa says paid).
    pub success: bool,
    pub code: &'a str,
    pub amount: Option<u64>,
    pub receipt: Option<&'a str>,
    pub phone: Option<&'a str>,
}

/// What to do with a callback that reached its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackVerdict {
    /// Apply this fact through the state machine.
    Apply(PaymentEvent),
    /// A success without what a real one carries (Amount, MpesaReceiptNumber, PhoneNumber): not
    /// believed; M-Pesa is asked by query before anything is marked paid.
    VerifyFirst,
    /// It says paid, but not the amount or phone that was asked: flag the attempt with this
    /// reason for the manager; nothing is applied.
    Mismatch(String),
}

/// Judges a callback for an attempt that asked `asked_amount` shillings from `asked_phone`.
pub fn judge_callback(
    asked_amount: i64,
    asked_phone: &Msisdn,
    cb: &CallbackFacts,
) -> CallbackVerdict {
    if cb.success {
        if cb.amount.is_none() || cb.receipt.is_none() || cb.phone.is_none() {
            return CallbackVerdict::VerifyFirst;
        }
        let amount_ok = cb
            .amount
            .is_none_or(|x| i64::try_from(x) == Ok(asked_amount));
        let phone_ok = cb.phone.is_none_or(|p| p == asked_phone.as_str());
        if !amount_ok || !phone_ok {
            return CallbackVerdict::Mismatch(format!(
                "callback says paid {} from {} but the attempt asked {} from {}",
                cb.amount.map(|a| a.to_string()).unwrap_or("?".into()),
                cb.phone
                    .and_then(|p| Msisdn::parse(p).ok())
                    .map(|m| m.masked())
                    .unwrap_or("?".into()),
                asked_amount,
                asked_phone.masked()
            ));
        }
    }
    CallbackVerdict::Apply(PaymentEvent::Result {
        code: cb.code.to_string(),
        receipt: cb.receipt.map(str::to_string),
    })
}

/// What to do with a Transaction Status result for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusVerdict {
    /// No receipt, or not a success: nothing to learn.
    Ignore,
    /// Apply the receipt (a success with the receipt, through the state machine).
    Apply(PaymentEvent),
    /// The receipt is for another amount than the attempt asked: flag, apply nothing.
    Mismatch(String),
}

/// The `Amount` of a Transaction Status result, as far as it could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAmount {
    /// No `Amount` parameter (older or partial results): the receipt is taken on its own.
    Missing,
    Whole(u64),
    /// There, but not a whole number of shillings (`"100.50"`, text): not believed.
    Unreadable,
}

/// Judges a Transaction Status result (`success`, its `ReceiptNo` and `Amount`) for an attempt
/// that asked `asked_amount` shillings.
pub fn judge_status_result(
    asked_amount: i64,
    success: bool,
    receipt: Option<&str>,
    amount: StatusAmount,
) -> StatusVerdict {
    let (Some(receipt), true) = (receipt, success) else {
        return StatusVerdict::Ignore;
    };
    match amount {
        StatusAmount::Whole(a) if i64::try_from(a) != Ok(asked_amount) => {
            StatusVerdict::Mismatch(format!(
                "Transaction Status says {receipt} was {a} but the attempt asked {asked_amount}"
            ))
        }
        StatusAmount::Unreadable => StatusVerdict::Mismatch(format!(
            "Transaction Status gave {receipt} with an amount that is not whole shillings; the attempt asked {asked_amount}"
        )),
        StatusAmount::Whole(_) | StatusAmount::Missing => {
            StatusVerdict::Apply(PaymentEvent::Result {
                code: "0".into(),
                receipt: Some(receipt.to_string()),
            })
        }
    }
}

/// A tender already in the store, as the receipt rule needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenderRef {
    pub id: i64,
    pub sale_id: i64,
    /// `cash`, `mpesa_stk` or `mpesa_code` (an attached C2B payment is an `mpesa_code`).
    pub kind: String,
    pub attempt_id: Option<String>,
    pub cents: i64,
}

/// How the money of an attempt that became paid is counted (the receipt rule: one receipt
/// counts once, across every tender of the till).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenderStep {
    /// Nothing to write: this attempt's tender already holds this receipt.
    Nothing,
    /// The attempt's tender exists (paid earlier without a receipt): give it the receipt.
    FillReceipt { tender_id: i64 },
    /// The cashier typed this receipt for this sale, same amount: M-Pesa's word verifies that
    /// tender and no new money is counted.
    VerifyTyped { tender_id: i64 },
    /// Count the money as a new STK tender; with the receipt or, when the receipt already sits
    /// on another tender, without it. `flag` is the reason to flag the attempt, if any.
    Insert {
        with_receipt: bool,
        flag: Option<String>,
    },
    /// Count nothing new and flag: the receipt arrived for this payment but another sale
    /// already holds it.
    Flag(String),
}

/// Decides `TenderStep` for attempt `attempt_id` of `sale_id` (asking `cents`), paid with
/// `receipt` (if known), given its own tender (`own`) and the tender that holds `receipt`.
pub fn paid_attempt_tender(
    sale_id: i64,
    cents: i64,
    receipt: Option<&str>,
    own: Option<&TenderRef>,
    holder: Option<&TenderRef>,
) -> TenderStep {
    let r = receipt.unwrap_or("");
    match (own, holder) {
        (Some(own), None) => TenderStep::FillReceipt { tender_id: own.id },
        (Some(own), Some(h)) if own.id == h.id => TenderStep::Nothing,
        (Some(_), Some(h)) => TenderStep::Flag(format!(
            "receipt {r} arrived for this payment but is already recorded on sale {}",
            h.sale_id
        )),
        (None, None) => TenderStep::Insert {
            with_receipt: receipt.is_some(),
            flag: None,
        },
        (None, Some(h))
            if h.sale_id == sale_id
                && h.kind == "mpesa_code"
                && h.attempt_id.is_none()
                && h.cents == cents =>
        {
            TenderStep::VerifyTyped { tender_id: h.id }
        }
        // The money arrived, but its receipt already sits on another tender (a mistyped or
        // reused code, or another amount): count the money once, without the receipt, and flag.
        (None, Some(h)) => TenderStep::Insert {
            with_receipt: false,
            flag: Some(format!(
                "receipt {r} is already recorded on sale {} (a typed code, another amount or another payment)",
                h.sale_id
            )),
        },
    }
}

/// Whether a resend may go ahead, before M-Pesa is asked anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendGuard {
    /// No: the reason, for the cashier.
    Refuse(String),
    /// Daraja accepted the old push: ask M-Pesa how it ended before anything is sent.
    AskMpesa { checkout_id: String },
    /// Nothing can be asked (no CheckoutRequestID): on the cashier's word, give the old
    /// attempt up and push again.
    GiveUpThenPush,
}

/// The resend rule: a new push for a sale only when its attempt is `unknown` (or `created`
/// after a crash and no longer in flight), and only on the cashier's confirmation that no
/// prompt reached the phone.
pub fn resend_guard(
    attempt_id: &str,
    state: &AttemptState,
    checkout_id: Option<&str>,
    in_flight: bool,
    cashier_confirms_no_prompt: bool,
) -> ResendGuard {
    if !cashier_confirms_no_prompt {
        return ResendGuard::Refuse(
            "a new M-Pesa request needs the cashier's confirmation that no prompt reached the phone".into(),
        );
    }
    if in_flight {
        return ResendGuard::Refuse(format!(
            "attempt {attempt_id} is still being sent; wait a minute, then check again"
        ));
    }
    if !matches!(state, AttemptState::Unknown | AttemptState::Created) {
        return ResendGuard::Refuse(format!(
            "attempt {attempt_id} is {}; only an unknown attempt can be sent again",
            state.name()
        ));
    }
    match checkout_id {
        Some(c) => ResendGuard::AskMpesa {
            checkout_id: c.to_string(),
        },
        None => ResendGuard::GiveUpThenPush,
    }
}

/// What M-Pesa said about the old push when asked before a resend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendAnswer<'a> {
    /// The query says it is still being processed.
    StillProcessing,
    /// The query gave a result, applied: the attempt's state after it.
    Settled(&'a AttemptState),
    /// The query failed (its error code).
    NoAnswer(&'a str),
}

/// What happens after M-Pesa was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendNext {
    /// Nothing is sent: the reason, for the cashier. `paid`: M-Pesa says the customer paid
    /// (the receipt is worth fetching).
    Refuse { reason: String, paid: bool },
    /// M-Pesa's own final failure: no money moved, a new push is safe at once.
    Push,
    /// A code Duka does not know: the cashier's word decides; the old attempt is given up on
    /// (and stays followed), then the new push goes out.
    GiveUpThenPush,
}

pub fn resend_after_answer(attempt_id: &str, answer: &ResendAnswer) -> ResendNext {
    match answer {
        ResendAnswer::StillProcessing => ResendNext::Refuse {
            reason: format!(
                "M-Pesa is still processing attempt {attempt_id}: the customer may be entering their PIN. Do not charge again; wait for the answer"
            ),
            paid: false,
        },
        ResendAnswer::Settled(AttemptState::Paid { .. }) => ResendNext::Refuse {
            reason: format!(
                "M-Pesa says attempt {attempt_id} was paid: the customer has paid, do not charge again"
            ),
            paid: true,
        },
        ResendAnswer::Settled(AttemptState::Failed { .. }) => ResendNext::Push,
        ResendAnswer::Settled(_) => ResendNext::GiveUpThenPush,
        ResendAnswer::NoAnswer(code) => ResendNext::Refuse {
            reason: format!(
                "could not ask M-Pesa how attempt {attempt_id} ended ({code}); nothing was sent. Try again when M-Pesa answers"
            ),
            paid: false,
        },
    }
}

#[cfg(test)]
mod tests;
