//! Table tests for the state machine and every money-path rule of `payment`.

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

// ─── The cross-checks ────────────────────────────────────────────────────────────────────────

#[test]
fn open_and_final_states_split_every_state_and_match_the_sql_list() {
    for (name, s) in states() {
        assert_ne!(s.is_open(), s.is_final(), "{name}");
        let quoted = format!("'{}'", s.name());
        assert_eq!(OPEN_STATES_SQL.contains(&quoted), s.is_open(), "{name}");
    }
    assert_eq!(
        OPEN_STATES_SQL.matches('\'').count(),
        6,
        "three states listed"
    );
    let in_progress: Vec<_> = states()
        .into_iter()
        .filter(|(_, s)| s.is_in_progress())
        .map(|(n, _)| n)
        .collect();
    assert_eq!(in_progress, ["created", "pending"]);
}

#[test]
fn in_flight_only_for_a_young_or_unsaved_created_attempt() {
    #[rustfmt::skip]
    let table = [
        // state,                 age,    grace, unsaved, in flight
        (S::Created,              0,      1000,  false,   true),
        (S::Created,              999,    1000,  false,   true),
        (S::Created,              1000,   1000,  false,   false),
        (S::Created,              50_000, 1000,  true,    true),
        (S::Unknown,              0,      1000,  true,    false),
        (S::Pending { checkout_id: "ws".into() }, 0, 1000, false, false),
        (S::Paid { receipt: None }, 0,    1000,  false,   false),
    ];
    for (state, age, grace, unsaved, want) in table {
        assert_eq!(
            in_flight(&state, age, grace, unsaved),
            want,
            "{state:?} {age} {unsaved}"
        );
    }
}

#[test]
fn a_signed_callback_settles_only_its_own_attempt() {
    use CallbackRoute::{Forged, Settle};
    #[rustfmt::skip]
    let table = [
        // named attempt's checkout, body checkout, owner of body checkout, route
        (Some("ws_A"), "ws_A", Some("a1"), Settle { learn: None }),
        (Some("ws_A"), "ws_B", Some("a2"), Forged),
        (Some("ws_A"), "ws_B", None,       Forged),
        (None,         "ws_A", None,       Settle { learn: Some("ws_A".to_string()) }),
        (None,         "ws_A", Some("a1"), Settle { learn: Some("ws_A".to_string()) }),
        (None,         "ws_B", Some("a2"), Forged),
    ];
    for (have, body, owner, want) in table {
        assert_eq!(
            route_signed_callback("a1", have, body, owner),
            want,
            "{have:?} {body} {owner:?}"
        );
    }
}

#[test]
fn a_success_callback_is_believed_only_with_the_asked_amount_and_phone() {
    let asked = Msisdn::parse("0712345678").unwrap();
    let facts = |success, amount, receipt, phone| CallbackFacts {
        success,
        code: if success { "0" } else { "1032" },
        amount,
        receipt,
        phone,
    };
    let paid = |r: &str| {
        CallbackVerdict::Apply(E::Result {
            code: "0".into(),
            receipt: Some(r.into()),
        })
    };
    let ph = Some("254712345678");
    let other = Some("254799999999");
    #[rustfmt::skip]
    let table = [
        (facts(true, Some(100), Some("R1"), ph),    Some(paid("R1"))),
        (facts(true, None,      Some("R1"), ph),    Some(CallbackVerdict::VerifyFirst)),
        (facts(true, Some(100), None,       ph),    Some(CallbackVerdict::VerifyFirst)),
        (facts(true, Some(100), Some("R1"), None),  Some(CallbackVerdict::VerifyFirst)),
        (facts(true, Some(1),   Some("R1"), ph),    None),
        (facts(true, Some(u64::MAX), Some("R1"), ph), None),
        (facts(true, Some(100), Some("R1"), other), None),
        (facts(false, None,     None,       None),  Some(CallbackVerdict::Apply(E::Result { code: "1032".into(), receipt: None }))),
        // A failure's amount or phone does not matter: no money moved.
        (facts(false, Some(1),  None,       other), Some(CallbackVerdict::Apply(E::Result { code: "1032".into(), receipt: None }))),
    ];
    for (f, want) in table {
        let got = judge_callback(100, &asked, &f);
        match want {
            Some(w) => assert_eq!(got, w, "{f:?}"),
            None => {
                let CallbackVerdict::Mismatch(why) = &got else {
                    panic!("{f:?}: want a mismatch, got {got:?}")
                };
                assert!(why.contains("asked 100"), "{why}");
                assert!(
                    !why.contains("712345678") && !why.contains("799999999"),
                    "phones masked: {why}"
                );
            }
        }
    }
}

#[test]
fn a_status_result_applies_a_receipt_of_the_asked_amount_only() {
    let apply = StatusVerdict::Apply(E::Result {
        code: "0".into(),
        receipt: Some("R1".into()),
    });
    use StatusAmount::{Missing, Unreadable, Whole};
    assert_eq!(
        judge_status_result(100, true, Some("R1"), Whole(100)),
        apply
    );
    assert_eq!(judge_status_result(100, true, Some("R1"), Missing), apply);
    assert!(matches!(
        judge_status_result(100, true, Some("R1"), Unreadable),
        StatusVerdict::Mismatch(w) if w.contains("not whole")
    ));
    assert_eq!(
        judge_status_result(100, false, Some("R1"), Whole(100)),
        StatusVerdict::Ignore
    );
    assert_eq!(
        judge_status_result(100, true, None, Whole(100)),
        StatusVerdict::Ignore
    );
    assert!(matches!(
        judge_status_result(100, true, Some("R1"), Whole(99)),
        StatusVerdict::Mismatch(w) if w.contains("R1") && w.contains("99") && w.contains("100")
    ));
}

#[test]
fn one_receipt_counts_once_across_tenders() {
    let t = |id, sale_id, kind: &str, attempt: Option<&str>, cents| TenderRef {
        id,
        sale_id,
        kind: kind.into(),
        attempt_id: attempt.map(Into::into),
        cents,
    };
    let own = t(1, 7, "mpesa_stk", Some("a1"), 10_000);
    let typed_here = t(2, 7, "mpesa_code", None, 10_000);
    let typed_here_other_amount = t(3, 7, "mpesa_code", None, 5_000);
    let typed_elsewhere = t(4, 8, "mpesa_code", None, 10_000);
    let stk_elsewhere = t(5, 8, "mpesa_stk", Some("a9"), 10_000);
    let r = Some("R1");
    use TenderStep as T;
    let inserted_flagged = |step: &T| matches!(step, T::Insert { with_receipt: false, flag: Some(f) } if f.contains("R1"));
    assert_eq!(
        paid_attempt_tender(7, 10_000, r, None, None),
        T::Insert {
            with_receipt: true,
            flag: None
        }
    );
    assert_eq!(
        paid_attempt_tender(7, 10_000, None, None, None),
        T::Insert {
            with_receipt: false,
            flag: None
        }
    );
    assert_eq!(
        paid_attempt_tender(7, 10_000, r, Some(&own), None),
        T::FillReceipt { tender_id: 1 }
    );
    assert_eq!(
        paid_attempt_tender(7, 10_000, r, Some(&own), Some(&own)),
        T::Nothing
    );
    assert!(
        matches!(paid_attempt_tender(7, 10_000, r, Some(&own), Some(&stk_elsewhere)), T::Flag(f) if f.contains("sale 8"))
    );
    assert_eq!(
        paid_attempt_tender(7, 10_000, r, None, Some(&typed_here)),
        T::VerifyTyped { tender_id: 2 }
    );
    assert!(inserted_flagged(&paid_attempt_tender(
        7,
        10_000,
        r,
        None,
        Some(&typed_here_other_amount)
    )));
    assert!(inserted_flagged(&paid_attempt_tender(
        7,
        10_000,
        r,
        None,
        Some(&typed_elsewhere)
    )));
    assert!(inserted_flagged(&paid_attempt_tender(
        7,
        10_000,
        r,
        None,
        Some(&stk_elsewhere)
    )));
    // A typed code already verified by another attempt is not verified twice.
    let typed_used = t(6, 7, "mpesa_code", Some("a2"), 10_000);
    assert!(inserted_flagged(&paid_attempt_tender(
        7,
        10_000,
        r,
        None,
        Some(&typed_used)
    )));
}

#[test]
fn a_resend_needs_the_cashiers_word_an_unknown_attempt_and_mpesas_answer() {
    let pending = S::Pending {
        checkout_id: "ws_A".into(),
    };
    #[rustfmt::skip]
    let table: [(&S, Option<&str>, bool, bool, &str); 8] = [
        // state,       checkout,   in flight, confirmed, guard
        (&S::Unknown,   Some("ws_A"), false,   true,      "ask"),
        (&S::Unknown,   None,         false,   true,      "push"),
        (&S::Created,   None,         false,   true,      "push"),
        (&S::Created,   None,         true,    true,      "refuse:still being sent"),
        (&S::Unknown,   Some("ws_A"), false,   false,     "refuse:confirmation"),
        (&pending,      Some("ws_A"), false,   true,      "refuse:is pending"),
        (&S::Paid { receipt: None }, Some("ws_A"), false, true, "refuse:is paid"),
        (&S::Failed { code: "1032".into() }, Some("ws_A"), false, true, "refuse:is failed"),
    ];
    for (state, checkout, in_flight, confirmed, want) in table {
        let got = resend_guard("a1", state, checkout, in_flight, confirmed);
        let ok = match (want, &got) {
            ("ask", ResendGuard::AskMpesa { checkout_id }) => checkout_id == "ws_A",
            ("push", ResendGuard::GiveUpThenPush) => true,
            (w, ResendGuard::Refuse(why)) => {
                w.strip_prefix("refuse:").is_some_and(|p| why.contains(p))
            }
            _ => false,
        };
        assert!(
            ok,
            "{state:?} {checkout:?} {in_flight} {confirmed}: want {want}, got {got:?}"
        );
    }
    let failed = S::Failed {
        code: "1032".into(),
    };
    let paid = S::Paid { receipt: None };
    assert_eq!(
        resend_after_answer("a1", &ResendAnswer::Settled(&failed)),
        ResendNext::Push
    );
    assert_eq!(
        resend_after_answer("a1", &ResendAnswer::Settled(&S::Unknown)),
        ResendNext::GiveUpThenPush
    );
    assert!(matches!(
        resend_after_answer("a1", &ResendAnswer::Settled(&paid)),
        ResendNext::Refuse { paid: true, .. }
    ));
    assert!(
        matches!(resend_after_answer("a1", &ResendAnswer::StillProcessing), ResendNext::Refuse { paid: false, reason } if reason.contains("still processing"))
    );
    assert!(
        matches!(resend_after_answer("a1", &ResendAnswer::NoAnswer("network")), ResendNext::Refuse { paid: false, reason } if reason.contains("nothing was sent"))
    );
}
