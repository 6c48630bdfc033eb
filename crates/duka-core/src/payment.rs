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

/// Code recorded when the cashier confirms that an attempt never reached the customer's phone.
pub const NOT_REACHED: &str = "NOT_REACHED";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptState as S;
    use PaymentEvent as E;

    fn states() -> Vec<(&'static str, S)> {
        vec![
            ("created", S::Created),
            (
                "pending",
                S::Pending {
                    checkout_id: "ws_A".into(),
                },
            ),
            ("unknown", S::Unknown),
            ("paid-", S::Paid { receipt: None }),
            (
                "paidR1",
                S::Paid {
                    receipt: Some("R1".into()),
                },
            ),
            (
                "failed",
                S::Failed {
                    code: "1032".into(),
                },
            ),
            (
                "failedNR",
                S::Failed {
                    code: NOT_REACHED.into(),
                },
            ),
        ]
    }

    fn events() -> Vec<(&'static str, E)> {
        let r = |c: &str, rc: Option<&str>| E::Result {
            code: c.into(),
            receipt: rc.map(Into::into),
        };
        vec![
            (
                "acceptA",
                E::PushAccepted {
                    checkout_id: "ws_A".into(),
                },
            ),
            (
                "acceptB",
                E::PushAccepted {
                    checkout_id: "ws_B".into(),
                },
            ),
            (
                "rejected",
                E::PushRejected {
                    code: "400.002.02".into(),
                },
            ),
            ("noanswer", E::PushNoAnswer),
            ("ok-", r("0", None)),
            ("okR1", r("0", Some("R1"))),
            ("okR2", r("0", Some("R2"))),
            ("1032", r("1032", None)),
            ("1037", r("1037", None)),
            ("4999", r("4999", None)),
            ("locked", r("500.001.1001", None)),
            ("spike", r("500.003.02", None)),
            ("weird", r("X42", None)),
            ("deadline", E::Deadline),
            ("notreached", E::NeverReached),
        ]
    }

    /// Expected outcome for every (state, event) pair. Legend: `=` Same, `!` Conflict,
    /// `x` BadTransition, otherwise the name of the next state (with its payload checked below).
    #[rustfmt::skip]
    const TABLE: &[(&str, [&str; 15])] = &[
        //           acceptA   acceptB   rejected  noanswer  ok-       okR1      okR2      1032      1037      4999  locked spike weird      deadline   notreached
        ("created",  ["pendA",  "pendB",  "fail400", "unknown", "paid-",  "paidR1", "paidR2", "f1032",  "f1037",  "=",  "=",   "=",  "unknown",  "unknown", "fNR"]),
        ("pending",  ["=",      "x",      "x",       "x",       "paid-",  "paidR1", "paidR2", "f1032",  "f1037",  "=",  "=",   "=",  "unknown",  "unknown", "x"]),
        ("unknown",  ["pendA",  "pendB",  "fail400", "=",       "paid-",  "paidR1", "paidR2", "f1032",  "f1037",  "=",  "=",   "=",  "=",        "=",       "fNR"]),
        ("paid-",    ["=",      "=",      "!",       "=",       "=",      "paidR1", "paidR2", "!",      "!",      "=",  "=",   "=",  "!",        "=",       "x"]),
        ("paidR1",   ["=",      "=",      "!",       "=",       "=",      "=",      "!",      "!",      "!",      "=",  "=",   "=",  "!",        "=",       "x"]),
        ("failed",   ["=",      "=",      "=",       "=",       "!",      "!",      "!",      "=",      "=",      "=",  "=",   "=",  "=",        "=",       "x"]),
        ("failedNR", ["!",      "!",      "=",       "=",       "!",      "!",      "!",      "f1032",  "f1037",  "=",  "=",   "=",  "=",        "=",       "="]),
    ];

    fn expected_state(tag: &str) -> S {
        match tag {
            "pendA" => S::Pending {
                checkout_id: "ws_A".into(),
            },
            "pendB" => S::Pending {
                checkout_id: "ws_B".into(),
            },
            "fail400" => S::Failed {
                code: "400.002.02".into(),
            },
            "unknown" => S::Unknown,
            "paid-" => S::Paid { receipt: None },
            "paidR1" => S::Paid {
                receipt: Some("R1".into()),
            },
            "paidR2" => S::Paid {
                receipt: Some("R2".into()),
            },
            "f1032" => S::Failed {
                code: "1032".into(),
            },
            "f1037" => S::Failed {
                code: "1037".into(),
            },
            "fNR" => S::Failed {
                code: NOT_REACHED.into(),
            },
            other => panic!("bad tag {other}"),
        }
    }

    #[test]
    fn every_state_event_pair() {
        let states = states();
        let events = events();
        assert_eq!(TABLE.len(), states.len());
        let mut checked = 0;
        for ((sname, state), (tname, row)) in states.iter().zip(TABLE) {
            assert_eq!(sname, tname);
            for ((ename, event), want) in events.iter().zip(row.iter()) {
                let got = transition(state, event);
                let ctx = format!("({sname}, {ename})");
                match *want {
                    "x" => assert!(got.is_err(), "{ctx}: want BadTransition, got {got:?}"),
                    "=" => assert_eq!(got, Ok(Step::Same), "{ctx}"),
                    "!" => assert!(
                        matches!(got, Ok(Step::Conflict(_))),
                        "{ctx}: want Conflict, got {got:?}"
                    ),
                    tag => assert_eq!(got, Ok(Step::To(expected_state(tag))), "{ctx}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 7 * 15);
    }

    #[test]
    fn final_states_never_leave_by_a_fact() {
        for (_, s) in states().into_iter().filter(|(_, s)| s.is_final()) {
            for (_, e) in events() {
                if let Ok(Step::To(next)) = transition(&s, &e) {
                    // The only moves out of a final state: paid learns its receipt, and an
                    // attempt the cashier gave up on learns M-Pesa's own failure code.
                    assert!(
                        matches!(
                            (&s, &next),
                            (S::Paid { receipt: None }, S::Paid { receipt: Some(_) })
                        ) || matches!(
                            (&s, &next),
                            (S::Failed { code }, S::Failed { .. }) if code == NOT_REACHED
                        ),
                        "{s:?} -> {next:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_given_up_attempt_is_followed_until_mpesa_answers_finally() {
        let nr = S::Failed {
            code: NOT_REACHED.into(),
        };
        let r = |c: &str| E::Result {
            code: c.into(),
            receipt: Some("R9".into()),
        };
        assert!(still_followed(&S::Unknown, &E::NeverReached));
        assert!(still_followed(&nr, &r("4999")), "still processing");
        assert!(still_followed(&nr, &r("X42")), "a code we do not know");
        assert!(still_followed(&nr, &E::Deadline));
        assert!(!still_followed(&nr, &r("0")), "paid: flagged, done");
        assert!(!still_followed(&nr, &r("1032")), "cancelled: final");
        assert!(!still_followed(
            &S::Failed {
                code: "1032".into()
            },
            &r("0")
        ));
        let Ok(Step::Conflict(why)) = transition(&nr, &r("0")) else {
            panic!()
        };
        assert!(
            why.starts_with(DOUBLE_PAYMENT) && why.contains("R9"),
            "{why}"
        );
    }

    #[test]
    fn unknown_codes_are_never_failures() {
        for code in ["X42", "", "500.002.01", "12345", "1033"] {
            assert_ne!(classify(code), CodeClass::Failed, "{code}");
        }
        assert_eq!(classify(" 0 "), CodeClass::Success);
        assert_eq!(classify("500.003.03"), CodeClass::Pending);
    }
}
