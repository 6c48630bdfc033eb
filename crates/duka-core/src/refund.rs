//! Refunds: how much a refund gives back, and the M-Pesa reversal's own state machine.
//!
//! ```text
//! requested ──Daraja queued it──▶ accepted(conversation) ──Result 0──▶ reversed(receipt)
//!    │                               └──Result ≠ 0 (known)──▶ failed(code)
//!    ├──refused before sending──▶ failed(code)
//!    └──no answer to the request──▶ unknown ──Result / Transaction Status──▶ reversed | failed
//! ```
//! The same discipline as a charge: the refund is on disk (`requested`) before the request is
//! sent, a request is never sent twice for one refund, a fact that contradicts a final state
//! is flagged, never applied.

use crate::error::{Error, Result};
use crate::money::Money;

/// Where a refund's money goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum RefundTo {
    /// From the drawer, now.
    Cash,
    /// Back to the customer's M-Pesa by Transaction Reversal of the sale's M-Pesa receipt.
    Mpesa,
    /// The shop sent it from its own phone: the M-Pesa code of that transfer, unverified.
    Manual { code: String },
}

impl RefundTo {
    pub fn kind(&self) -> &'static str {
        match self {
            RefundTo::Cash => "cash",
            RefundTo::Mpesa => "mpesa",
            RefundTo::Manual { .. } => "manual",
        }
    }
}

/// A reversal's state (`done` is a cash or manual refund's only state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Done,
    Requested,
    Accepted,
    Reversed,
    Failed,
    Unknown,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Done => "done",
            RefundState::Requested => "requested",
            RefundState::Accepted => "accepted",
            RefundState::Reversed => "reversed",
            RefundState::Failed => "failed",
            RefundState::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<RefundState> {
        Some(match s {
            "done" => RefundState::Done,
            "requested" => RefundState::Requested,
            "accepted" => RefundState::Accepted,
            "reversed" => RefundState::Reversed,
            "failed" => RefundState::Failed,
            "unknown" => RefundState::Unknown,
            _ => return None,
        })
    }

    /// Money has gone back or may still go back: it counts against what the sale took.
    pub fn counts(self) -> bool {
        self != RefundState::Failed
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            RefundState::Done | RefundState::Reversed | RefundState::Failed
        )
    }
}

/// A fact about a reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversalEvent {
    /// Daraja acknowledged the request (`ResponseCode 0`) with this ConversationID.
    Accepted { conversation_id: String },
    /// Daraja refused the request synchronously: nothing was queued.
    Refused { code: String },
    /// The request may have reached Daraja but no answer came.
    NoAnswer,
    /// Daraja's queue timed out on the request (a Result with `ResultType 1`, sent to the
    /// QueueTimeOutURL): whether it will still be processed is not known.
    QueueTimeout,
    /// A manager settled it from the M-Pesa portal or statement: reversed, with the
    /// reversal's receipt, or (`None`) not reversed.
    ByHand { receipt: Option<String> },
    /// The asynchronous Result: `0` with the reversal's receipt, or a failure code.
    Result {
        code: String,
        receipt: Option<String>,
    },
}

/// What a fact does to a reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversalStep {
    To(RefundState),
    Same,
    /// Contradicts what is known: flag it, keep the state.
    Conflict(String),
}

/// A reversal Result code that is final: `0` (reversed) or one Daraja documents as a refusal
/// (nothing moved). Anything else leaves the reversal `unknown` for a person to check.
fn result_class(code: &str) -> Option<bool> {
    let c = code.trim();
    if !c.is_empty() && c.bytes().all(|b| b == b'0') {
        return Some(true);
    }
    // Not R000001 ("already reversed"): money went back by some reversal, so it is not
    // "nothing moved" — a person checks it.
    const FAILED: &[&str] = &[
        "R000002", "1", "11", "21", "2001", "2006", "2028", "8006", "15", "17", "18", "20", "26",
    ];
    FAILED.contains(&c).then_some(false)
}

pub fn reversal_step(state: RefundState, event: &ReversalEvent) -> Result<ReversalStep> {
    use RefundState as S;
    use ReversalEvent as E;
    let bad = || {
        Error::Conflict(format!(
            "a reversal in state {} cannot take that fact",
            state.as_str()
        ))
    };
    Ok(match (state, event) {
        (S::Done, _) => return Err(bad()),
        (S::Unknown | S::Accepted, E::ByHand { receipt: Some(_) }) => ReversalStep::To(S::Reversed),
        (S::Unknown | S::Accepted, E::ByHand { receipt: None }) => ReversalStep::To(S::Failed),
        // Still being sent, or already final: nothing for a person to settle.
        (S::Requested | S::Reversed | S::Failed, E::ByHand { .. }) => return Err(bad()),
        (S::Requested, E::Accepted { .. }) => ReversalStep::To(S::Accepted),
        (S::Requested, E::Refused { .. }) => ReversalStep::To(S::Failed),
        (S::Requested, E::NoAnswer) => ReversalStep::To(S::Unknown),
        (S::Unknown, E::Accepted { .. }) => ReversalStep::To(S::Accepted),
        (S::Unknown, E::Refused { .. }) => ReversalStep::To(S::Failed),
        (S::Accepted | S::Unknown | S::Reversed | S::Failed, E::NoAnswer) => ReversalStep::Same,
        (S::Requested | S::Accepted, E::QueueTimeout) => ReversalStep::To(S::Unknown),
        (S::Unknown | S::Reversed | S::Failed, E::QueueTimeout) => ReversalStep::Same,
        (S::Accepted | S::Reversed | S::Failed, E::Accepted { .. } | E::Refused { .. }) => {
            ReversalStep::Same
        }
        (S::Requested | S::Accepted | S::Unknown, E::Result { code, .. }) => {
            match result_class(code) {
                Some(true) => ReversalStep::To(S::Reversed),
                Some(false) => ReversalStep::To(S::Failed),
                None if state == S::Unknown => ReversalStep::Same,
                None => ReversalStep::To(S::Unknown),
            }
        }
        (S::Reversed, E::Result { code, .. }) => match result_class(code) {
            Some(true) => ReversalStep::Same,
            _ => ReversalStep::Conflict(format!("reversed, then result code {code}")),
        },
        // M-Pesa's final word wins: the customer was paid back, so the refund counts again.
        (S::Failed, E::Result { code, .. }) => match result_class(code) {
            Some(true) => ReversalStep::To(S::Reversed),
            _ => ReversalStep::Same,
        },
    })
}

/// A sold line as the refund rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoldLine {
    pub line_no: i64,
    pub quantity: i64,
    /// The line's total after its own discount.
    pub total: Money,
    /// Already refunded of this line (refunds that count).
    pub refunded_qty: i64,
    pub refunded: Money,
}

/// What a refund gives back for `qty` of a line, as a share of what the sale took: the
/// line's part of the sale total (after a sale discount), in proportion to the quantity;
/// the last units of a line take what is left of it, so a line refunded in parts adds up to
/// the whole. `sale_total` and `subtotal` (the lines' totals before the sale discount).
pub fn line_refund(line: &SoldLine, qty: i64, sale_total: Money, subtotal: Money) -> Result<Money> {
    let left = line.quantity - line.refunded_qty;
    if qty < 1 || qty > left {
        return Err(Error::invalid(
            "quantity",
            format!(
                "1 to {left} (line {} sold {}, {} refunded already)",
                line.line_no, line.quantity, line.refunded_qty
            ),
            qty.to_string(),
        ));
    }
    // The line's share of the sale total, in i128 (cents × quantities overflow i64).
    let share = if subtotal.cents() == 0 {
        0
    } else {
        (line.total.cents() as i128 * sale_total.cents() as i128 / subtotal.cents() as i128) as i64
    };
    let cents = if qty == left {
        share - line.refunded.cents()
    } else {
        (share as i128 * qty as i128 / line.quantity as i128) as i64
    };
    Money::from_cents(cents.max(0))
}

/// What M-Pesa can give back for `amount`: whole shillings, a part shilling counted as one
/// (the customer's favour), never more than `receipt_amount` (what that payment brought).
pub fn mpesa_refund_amount(amount: Money, receipt_amount: Money) -> Money {
    let up = Money::from_shillings(amount.shillings_up()).unwrap_or(amount);
    up.min(receipt_amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefundState as S;

    fn m(c: i64) -> Money {
        Money::from_cents(c).unwrap()
    }

    #[test]
    fn a_reversal_moves_only_forward_and_contradictions_are_flagged() {
        let acc = ReversalEvent::Accepted {
            conversation_id: "AG_1".into(),
        };
        let ok = ReversalEvent::Result {
            code: "0".into(),
            receipt: Some("SKE1".into()),
        };
        let twice = ReversalEvent::Result {
            code: "R000001".into(),
            receipt: None,
        };
        let odd = ReversalEvent::Result {
            code: "X9".into(),
            receipt: None,
        };
        let refused = ReversalEvent::Refused {
            code: "400.002.02".into(),
        };
        let by_hand_yes = ReversalEvent::ByHand {
            receipt: Some("SKE1".into()),
        };
        let by_hand_no = ReversalEvent::ByHand { receipt: None };
        #[rustfmt::skip]
        let table: &[(S, &ReversalEvent, Option<ReversalStep>)] = &[
            (S::Requested, &acc, Some(ReversalStep::To(S::Accepted))),
            (S::Requested, &refused, Some(ReversalStep::To(S::Failed))),
            (S::Requested, &ReversalEvent::NoAnswer, Some(ReversalStep::To(S::Unknown))),
            (S::Requested, &ok, Some(ReversalStep::To(S::Reversed))),
            (S::Accepted, &ok, Some(ReversalStep::To(S::Reversed))),
            // "Already reversed": some reversal paid the customer back; not "nothing moved".
            (S::Accepted, &twice, Some(ReversalStep::To(S::Unknown))),
            (S::Accepted, &ReversalEvent::QueueTimeout, Some(ReversalStep::To(S::Unknown))),
            (S::Requested, &ReversalEvent::QueueTimeout, Some(ReversalStep::To(S::Unknown))),
            (S::Reversed, &ReversalEvent::QueueTimeout, Some(ReversalStep::Same)),
            (S::Failed, &ReversalEvent::QueueTimeout, Some(ReversalStep::Same)),
            // M-Pesa's final word wins over an earlier failure.
            (S::Failed, &ok, Some(ReversalStep::To(S::Reversed))),
            (S::Accepted, &odd, Some(ReversalStep::To(S::Unknown))),
            (S::Unknown, &odd, Some(ReversalStep::Same)),
            (S::Unknown, &ok, Some(ReversalStep::To(S::Reversed))),
            (S::Unknown, &acc, Some(ReversalStep::To(S::Accepted))),
            (S::Accepted, &acc, Some(ReversalStep::Same)),
            (S::Reversed, &ok, Some(ReversalStep::Same)),
            (S::Reversed, &acc, Some(ReversalStep::Same)),
            (S::Failed, &twice, Some(ReversalStep::Same)),
            (S::Failed, &odd, Some(ReversalStep::Same)),
            (S::Done, &ok, None),
            (S::Unknown, &by_hand_yes, Some(ReversalStep::To(S::Reversed))),
            (S::Accepted, &by_hand_no, Some(ReversalStep::To(S::Failed))),
            (S::Requested, &by_hand_yes, None),
            (S::Reversed, &by_hand_no, None),
            (S::Failed, &by_hand_yes, None),
        ];
        for (state, event, want) in table {
            let got = reversal_step(*state, event).ok();
            assert_eq!(&got, want, "{state:?} {event:?}");
        }
        assert!(matches!(
            reversal_step(S::Reversed, &twice),
            Ok(ReversalStep::Conflict(_))
        ));
    }

    #[test]
    fn a_line_refunded_in_parts_adds_up_to_its_share_and_never_more() {
        // 3 × 100.00 = 300.00 of a 500.00 subtotal; the sale gave 50.00 off (total 450.00).
        let mut line = SoldLine {
            line_no: 1,
            quantity: 3,
            total: m(30_000),
            refunded_qty: 0,
            refunded: Money::ZERO,
        };
        let (total, sub) = (m(45_000), m(50_000));
        let first = line_refund(&line, 1, total, sub).unwrap();
        assert_eq!(first, m(9_000), "a third of its 270.00 share");
        line.refunded_qty = 1;
        line.refunded = first;
        let second = line_refund(&line, 1, total, sub).unwrap();
        line.refunded_qty = 2;
        line.refunded = line.refunded.checked_add(second).unwrap();
        let last = line_refund(&line, 1, total, sub).unwrap();
        assert_eq!(first.cents() + second.cents() + last.cents(), 27_000);
        line.refunded_qty = 3;
        assert!(line_refund(&line, 1, total, sub).is_err(), "nothing left");
        line.refunded_qty = 1;
        assert!(
            line_refund(&line, 3, total, sub).is_err(),
            "above what is left"
        );
        assert!(line_refund(&line, 0, total, sub).is_err());
        // Odd cents: 3 × 33.33 = 99.99, no discount.
        let odd = SoldLine {
            line_no: 2,
            quantity: 3,
            total: m(9_999),
            refunded_qty: 0,
            refunded: Money::ZERO,
        };
        assert_eq!(line_refund(&odd, 1, m(9_999), m(9_999)).unwrap(), m(3_333));
        assert_eq!(line_refund(&odd, 3, m(9_999), m(9_999)).unwrap(), m(9_999));
    }

    #[test]
    fn mpesa_gives_back_whole_shillings_up_to_the_receipt() {
        assert_eq!(mpesa_refund_amount(m(10_050), m(20_000)), m(10_100));
        assert_eq!(mpesa_refund_amount(m(10_000), m(20_000)), m(10_000));
        assert_eq!(mpesa_refund_amount(m(19_950), m(19_900)), m(19_900));
    }
}
