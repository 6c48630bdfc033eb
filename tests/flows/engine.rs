//! The payment engine against daraja-sim: every simulated customer, the fault matrix, and
//! 200 sales at once. Each test asserts the final state and the events written.

use std::time::Duration;

use daraja_sim::{Behaviour, CallbackMode, Faults, PushState, SimConfig};
use duka_core::Msisdn;
use duka_core::engine::PollPolicy;
use duka_core::payment::AttemptState;
use duka_core::sale::{SaleStatus, TenderKind};
use duka_core::store::Applied;
use duka_tests::engine::{Rig, rig};
use duka_tests::{eventually, fast_sim_prompt, phone};

/// The real schedule, 100 times faster: first query at 50 ms, deadline at 1.8 s.
fn fast_poll() -> PollPolicy {
    PollPolicy::scaled(100.0)
}

const SETTLE: Duration = Duration::from_secs(10);

fn events(r: &Rig, attempt: &str) -> Vec<(String, String, String)> {
    r.db()
        .attempt_events(attempt)
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.source, e.outcome))
        .collect()
}

fn ev(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_simulated_customer_reaches_its_final_state_by_polling_alone() {
    let r = rig(fast_sim_prompt(50), fast_poll(), false).await;
    let cases = [
        ("254700000000", "paid", Some("0"), "Paid."),
        (
            "254700000200",
            "failed",
            Some("1032"),
            "The customer cancelled the request.",
        ),
        (
            "254700000201",
            "failed",
            Some("1"),
            "The customer's M-Pesa balance is not enough. They can top up, then try again.",
        ),
        (
            "254700000202",
            "failed",
            Some("2001"),
            "Wrong M-Pesa PIN. The customer can try again.",
        ),
        (
            "254700000203",
            "failed",
            Some("1037"),
            "No answer from the customer's phone (off, busy or ignored). Try again or take another payment.",
        ),
        (
            "254700000204",
            "failed",
            Some("1019"),
            "The request expired before the customer answered. Try again.",
        ),
        (
            "254700000206",
            "unknown",
            Some("9998"),
            "M-Pesa gave an answer we do not know. Check the customer's SMS before taking another payment.",
        ),
        ("254700000205", "unknown", None, ""),
    ];
    let mut attempts = Vec::new();
    for (p, ..) in &cases {
        let sale = r.sale(100);
        attempts.push(
            r.engine
                .charge(sale, &phone(p), 100, "Wanjiku")
                .await
                .unwrap(),
        );
    }
    for (a, (p, state, code, message)) in attempts.iter().zip(cases) {
        let a = r.engine.wait_settled(&a.id, SETTLE).await.unwrap();
        assert_eq!(a.state.name(), state, "{p}");
        assert_eq!(a.code(), code, "{p}");
        if let Some(c) = code {
            assert_eq!(daraja::codes::lookup(c).en, message, "{p}");
        }
        let sale = r.db().sale(a.sale_id).unwrap();
        assert_eq!(sale.status == SaleStatus::Paid, state == "paid", "{p}");
        let evs = events(&r, &a.id);
        assert_eq!(evs[0], ev(&[("created", "engine", "changed")])[0]);
        assert_eq!(evs[1], ev(&[("push_accepted", "engine", "changed")])[0]);
        let last = evs.last().unwrap();
        if p == "254700000205" {
            assert_eq!(last, &ev(&[("deadline", "poller", "changed")])[0]);
        } else {
            assert_eq!(last, &ev(&[("result", "query", "changed")])[0], "{p}");
        }
        assert_eq!(evs.len(), 3, "{p}: {evs:?}");
    }
    // Paid by query alone: the money is recorded, the receipt is pending.
    let paid = r.db().sale(attempts[0].sale_id).unwrap();
    assert_eq!(paid.tenders[0].kind, TenderKind::MpesaStk);
    assert_eq!(paid.tenders[0].receipt, None);
    eventually("the poller lets go of every attempt", || {
        r.engine.poller_backlog() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_settles_before_the_first_query() {
    // The real schedule: the first query would come 5 s after the push.
    let r = rig(fast_sim_prompt(50), PollPolicy::default(), true).await;
    let sale = r.sale(150);
    let mut rx = r.engine.subscribe();
    let a = r.charge_settled(sale, "254700000000", 150).await;
    let AttemptState::Paid {
        receipt: Some(receipt),
    } = &a.state
    else {
        panic!("{a:?}")
    };
    let s = r.db().sale(sale).unwrap();
    assert_eq!(s.status, SaleStatus::Paid);
    assert_eq!(s.tenders[0].receipt.as_deref(), Some(receipt.as_str()));
    assert!(s.tenders[0].verified);
    assert_eq!(
        events(&r, &a.id).last().unwrap(),
        &ev(&[("result", "callback", "changed")])[0]
    );
    assert!(
        r.sim.log().iter().all(|l| !l.path.contains("query")),
        "no query was needed"
    );
    // The UI hears the sale being paid (it may be sent just after the row is visible).
    let paid_event = tokio::time::timeout(SETTLE, async {
        loop {
            if let duka_core::engine::CoreEvent::SalePaid { sale_id } = rx.recv().await.unwrap()
                && sale_id == sale
            {
                return;
            }
        }
    })
    .await;
    assert!(paid_event.is_ok(), "no SalePaid event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_push_response_is_unknown_and_the_callback_finds_it_by_attempt_id() {
    let r = rig(fast_sim_prompt(50), fast_poll(), true).await;
    r.sim.next_push_faults(Faults {
        drop_push_response: true,
        ..Faults::default()
    });
    let sale = r.sale(100);
    let a = r
        .engine
        .charge(sale, &phone("254700000000"), 100, "Wanjiku")
        .await
        .unwrap();
    assert_eq!(a.state, AttemptState::Unknown);
    assert_eq!(a.checkout_request_id, None);
    eventually("the callback arrives", || {
        matches!(
            r.db().attempt(&a.id).unwrap().state,
            AttemptState::Paid { .. }
        )
    })
    .await;
    let a = r.db().attempt(&a.id).unwrap();
    assert!(a.checkout_request_id.is_some(), "learned from the callback");
    assert_eq!(
        events(&r, &a.id),
        ev(&[
            ("created", "engine", "changed"),
            ("push_no_answer", "engine", "changed"),
            ("result", "callback", "changed")
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_push_response_and_lost_callback_is_surfaced_never_pushed_again() {
    let r = rig(fast_sim_prompt(50), fast_poll(), true).await;
    r.sim.next_push_faults(Faults {
        drop_push_response: true,
        callback: CallbackMode::None,
        ..Faults::default()
    });
    let sale = r.sale(100);
    let a = r
        .engine
        .charge(sale, &phone("254700000000"), 100, "Wanjiku")
        .await
        .unwrap();
    assert_eq!(a.state, AttemptState::Unknown);
    let rec = r.engine.reconcile().await.unwrap();
    assert_eq!(rec.len(), 1);
    assert_eq!(
        (rec[0].how.as_str(), rec[0].after.as_str()),
        ("cashier", "unknown")
    );
    // No second push without the cashier's word; none while the attempt is open.
    let e = r
        .engine
        .resend_after_unknown(&a.id, false, "Wanjiku")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    let e = r
        .engine
        .charge(sale, &phone("254700000000"), 100, "Wanjiku")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    let pushes = r
        .sim
        .log()
        .iter()
        .filter(|l| l.path.contains("stkpush/"))
        .count();
    assert_eq!(pushes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cashier_confirms_no_prompt_then_a_new_push_pays() {
    let r = rig(fast_sim_prompt(50), fast_poll(), true).await;
    // The gateway blocked the push with an HTML page: nothing reached the customer, but the
    // engine cannot know that, so it says unknown and waits for the cashier.
    r.sim.next_push_faults(Faults {
        html_error: true,
        ..Faults::default()
    });
    let sale = r.sale(100);
    let first = r
        .engine
        .charge(sale, &phone("254700000000"), 100, "Wanjiku")
        .await
        .unwrap();
    assert_eq!(first.state, AttemptState::Unknown);
    assert!(
        r.sim.pending_prompts().is_empty(),
        "indeed, no prompt on the phone"
    );
    let second = r
        .engine
        .resend_after_unknown(&first.id, true, "Wanjiku")
        .await
        .unwrap();
    assert_ne!(second.id, first.id);
    assert!(
        matches!(r.db().attempt(&first.id).unwrap().state, AttemptState::Failed { ref code } if code == "NOT_REACHED")
    );
    let second = r.engine.wait_settled(&second.id, SETTLE).await.unwrap();
    assert!(matches!(second.state, AttemptState::Paid { .. }));
    assert_eq!(r.db().sale(sale).unwrap().status, SaleStatus::Paid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_timeouts_html_pages_and_spike_arrest() {
    let r = rig(fast_sim_prompt(50), fast_poll(), true).await;
    // Slow past the client's 1.5 s timeout: sent, unanswered → unknown; the customer pays at
    // ~2 s (99 units) and the callback settles it.
    r.sim.next_push_faults(Faults {
        slow_ms: 2_500,
        ..Faults::default()
    });
    let a = r
        .engine
        .charge(r.sale(100), &phone("254700000199"), 100, "Wanjiku")
        .await
        .unwrap();
    assert_eq!(a.state, AttemptState::Unknown);
    eventually("late callback", || {
        matches!(
            r.db().attempt(&a.id).unwrap().state,
            AttemptState::Paid { .. }
        )
    })
    .await;

    // An HTML page from the gateway: we cannot know what happened → unknown, never failed.
    r.sim.set_faults(Faults {
        html_error: true,
        ..Faults::default()
    });
    let b = r
        .engine
        .charge(r.sale(100), &phone("254711000001"), 100, "Wanjiku")
        .await
        .unwrap();
    assert_eq!(b.state, AttemptState::Unknown);

    // Spike arrest refuses the push outright: failed, nothing sent, a new push is allowed.
    r.sim.set_faults(Faults {
        spike_arrest_per_sec: Some(0),
        ..Faults::default()
    });
    let sale = r.sale(100);
    let c = r
        .engine
        .charge(sale, &phone("254711000002"), 100, "Wanjiku")
        .await
        .unwrap();
    assert_eq!(
        c.state,
        AttemptState::Failed {
            code: "500.003.02".into()
        }
    );
    r.sim.set_faults(Faults::default());
    let d = r.charge_settled(sale, "254700000000", 100).await;
    assert!(matches!(d.state, AttemptState::Paid { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_back_off_on_spike_arrest_and_survive_daraja_being_down() {
    let r = rig(
        SimConfig {
            time_unit_ms: 20,
            ..fast_sim_prompt(50)
        },
        fast_poll(),
        false,
    )
    .await;
    let a = r
        .engine
        .charge(r.sale(100), &phone("254700000110"), 100, "Wanjiku")
        .await
        .unwrap();
    r.sim.set_faults(Faults {
        spike_arrest_per_sec: Some(0),
        ..Faults::default()
    });
    eventually("a spike arrest", || {
        r.sim
            .log()
            .iter()
            .any(|l| l.code.as_deref() == Some("500.003.02"))
    })
    .await;
    r.sim.set_faults(Faults {
        html_error: true,
        ..Faults::default()
    });
    eventually("a gateway error", || {
        r.sim.log().iter().any(|l| l.status == 403)
    })
    .await;
    r.sim.set_faults(Faults::default());
    let a = r.engine.wait_settled(&a.id, SETTLE).await.unwrap();
    assert!(matches!(a.state, AttemptState::Paid { .. }), "{a:?}");
    let spikes = r
        .sim
        .log()
        .iter()
        .filter(|l| l.code.as_deref() == Some("500.003.02"))
        .count();
    assert!(
        spikes <= 2,
        "backed off after the first spike arrest: {spikes}"
    );
    assert!(r.engine.health().await.last_daraja_error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_mid_flow() {
    let r = rig(fast_sim_prompt(50), fast_poll(), false).await;
    let a = r
        .engine
        .charge(r.sale(100), &phone("254700000110"), 100, "Wanjiku")
        .await
        .unwrap();
    r.sim.expire_tokens();
    let a = r.engine.wait_settled(&a.id, SETTLE).await.unwrap();
    assert!(matches!(a.state, AttemptState::Paid { .. }));
    assert_eq!(r.sim.token_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_late_and_out_of_order_callbacks() {
    let r = rig(fast_sim_prompt(50), fast_poll(), true).await;
    // Duplicate: applied once.
    r.sim.next_push_faults(Faults {
        callback: CallbackMode::Duplicate,
        ..Faults::default()
    });
    let a = r
        .engine
        .charge(r.sale(100), &phone("254700000000"), 100, "Wanjiku")
        .await
        .unwrap();
    r.sim.wait_callbacks(2).await;
    let s = r.db().sale(a.sale_id).unwrap();
    assert_eq!(s.tenders.len(), 1);
    // Wait for the second delivery to be applied (or refused as a repeat) before counting.
    eventually("the receipt", || {
        matches!(
            r.db().attempt(&a.id).unwrap().state,
            AttemptState::Paid { receipt: Some(_) }
        )
    })
    .await;
    let evs = events(&r, &a.id);
    // The callback arrived twice and was applied once; a query may have found the payment
    // first (then the callback only adds the receipt).
    assert_eq!(
        evs.iter()
            .filter(|e| e.0 == "result" && e.1 == "callback")
            .count(),
        1,
        "{evs:?}"
    );
    assert!(
        evs.iter().filter(|e| e.0 == "result").count() <= 2,
        "{evs:?}"
    );
    assert!(evs.iter().all(|e| e.2 == "changed"));

    // Late: the query pays first (no receipt), the callback adds the receipt.
    r.sim.next_push_faults(Faults {
        callback_delay_units: 40,
        ..Faults::default()
    });
    let b = r
        .engine
        .charge(r.sale(100), &phone("254700000000"), 100, "Wanjiku")
        .await
        .unwrap();
    let settled = r.engine.wait_settled(&b.id, SETTLE).await.unwrap();
    assert_eq!(settled.state, AttemptState::Paid { receipt: None });
    r.sim.wait_callbacks(3).await;
    eventually("the late receipt", || {
        matches!(
            r.db().attempt(&b.id).unwrap().state,
            AttemptState::Paid { receipt: Some(_) }
        )
    })
    .await;
    let s = r.db().sale(b.sale_id).unwrap();
    assert!(s.tenders[0].verified);
    assert_eq!(
        events(&r, &b.id)
            .iter()
            .map(|e| (e.0.as_str(), e.1.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("created", "engine"),
            ("push_accepted", "engine"),
            ("result", "query"),
            ("result", "callback")
        ]
    );

    // Out of order: the callback arrives while the query still says pending; polling stops.
    r.sim.next_push_faults(Faults {
        query_lag_units: 10_000,
        ..Faults::default()
    });
    let c = r
        .engine
        .charge(r.sale(100), &phone("254700000000"), 100, "Wanjiku")
        .await
        .unwrap();
    let c = r.engine.wait_settled(&c.id, SETTLE).await.unwrap();
    assert!(matches!(c.state, AttemptState::Paid { receipt: Some(_) }));
    eventually("the poller lets go", || r.engine.poller_backlog() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_for_unknown_attempts_and_with_wrong_amounts() {
    let r = rig(fast_sim_prompt(50), fast_poll(), false).await;
    let body = |checkout: &str, amount: u64| {
        serde_json::json!({"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": checkout, "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": amount}, {"Name": "MpesaReceiptNumber", "Value": "UKN1234567"},
            {"Name": "PhoneNumber", "Value": 254700000205u64}]}}}})
        .to_string()
    };
    let e = r
        .engine
        .apply_callback(body("ws_CO_nobody", 100).as_bytes(), None, "callback")
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    let e = r
        .engine
        .apply_callback(
            body("ws_CO_nobody", 100).as_bytes(),
            Some("0123456789abcdef0123456789abcdef"),
            "callback",
        )
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    let e = r
        .engine
        .apply_callback(b"<html>", None, "callback")
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");

    let a = r
        .engine
        .charge(r.sale(100), &phone("254700000205"), 100, "Wanjiku")
        .await
        .unwrap();
    let checkout = a.checkout_request_id.clone().unwrap();
    let got = r
        .engine
        .apply_callback(body(&checkout, 1).as_bytes(), None, "callback")
        .unwrap();
    let Applied::Conflict(flagged) = got else {
        panic!("{got:?}")
    };
    assert!(
        flagged
            .flag
            .as_deref()
            .unwrap()
            .contains("paid 1 from 2547****205 but the attempt asked 100"),
        "{:?}",
        flagged.flag
    );
    assert!(
        matches!(flagged.state, AttemptState::Pending { .. }),
        "not applied"
    );
    assert_eq!(r.db().sale(a.sale_id).unwrap().tenders.len(), 0);
    // The right amount is then applied, and the flag stays for the manager.
    let ok = r
        .engine
        .apply_callback(body(&checkout, 100).as_bytes(), None, "callback")
        .unwrap();
    assert!(matches!(ok, Applied::Changed(_)));
    let a = r.db().attempt(&a.id).unwrap();
    assert!(matches!(a.state, AttemptState::Paid { .. }) && a.flag.is_some());
    assert_eq!(
        events(&r, &a.id)
            .iter()
            .filter(|e| e.2 == "conflict")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sales_charged_at_once_all_settle() {
    let r = duka_tests::engine::rig_timeout(
        SimConfig {
            time_unit_ms: 20,
            default_behaviour: Behaviour::Pay { after_units: 10 },
            ..SimConfig::default()
        },
        // 10 times faster than production (deadline 18 s): settles even on a loaded CI machine.
        PollPolicy::scaled(10.0),
        true,
        false,
        None,
        // 200 pushes at once on a loaded machine: a realistic client timeout.
        std::time::Duration::from_secs(10),
    )
    .await;
    let sales: Vec<i64> = (0..200).map(|_| r.sale(50)).collect();
    let mut tasks = Vec::new();
    for (i, sale) in sales.iter().enumerate() {
        let e = r.engine.clone();
        let sale = *sale;
        tasks.push(tokio::spawn(async move {
            e.charge(
                sale,
                &Msisdn::parse(&format!("2547110{i:05}")).unwrap(),
                50,
                "Wanjiku",
            )
            .await
            .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().id);
    }
    for id in &ids {
        let a = r
            .engine
            .wait_settled(id, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(matches!(a.state, AttemptState::Paid { .. }), "{a:?}");
    }
    let report = r.db().day_report(duka_core::time::today()).unwrap();
    assert_eq!(report.sales_paid, 200);
    assert_eq!(report.taken.cents(), 200 * 5_000);
    assert_eq!(r.sim.token_requests(), 1);
    assert!(
        r.sim
            .log()
            .iter()
            .all(|l| l.code.as_deref() != Some("500.003.02"))
    );
    assert_eq!(
        r.sim
            .log()
            .iter()
            .filter(|l| l.path.contains("stkpush/"))
            .count(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_status_brings_the_receipt_when_the_callback_is_lost() {
    let cfg = SimConfig {
        initiator_private_key_pem: Some(daraja_sim::TEST_INITIATOR_KEY.into()),
        ..fast_sim_prompt(50)
    };
    let r = duka_tests::engine::rig_with(cfg, fast_poll(), true, true).await;
    r.sim.set_faults(Faults {
        callback: CallbackMode::None,
        ..Faults::default()
    });
    let a = r
        .engine
        .charge(r.sale(100), &phone("254700000110"), 100, "Wanjiku")
        .await
        .unwrap();
    eventually("the receipt from Transaction Status", || {
        matches!(
            r.db().attempt(&a.id).unwrap().state,
            AttemptState::Paid { receipt: Some(_) }
        )
    })
    .await;
    let evs = events(&r, &a.id);
    assert_eq!(
        evs.iter()
            .map(|e| (e.0.as_str(), e.1.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("created", "engine"),
            ("push_accepted", "engine"),
            ("result", "query"),
            ("result", "status")
        ]
    );
    let sale = r.db().sale(a.sale_id).unwrap();
    assert!(sale.tenders[0].verified);
    let AttemptState::Paid {
        receipt: Some(receipt),
    } = r.db().attempt(&a.id).unwrap().state
    else {
        panic!()
    };
    let Some(PushState::Done {
        receipt: Some(sim_receipt),
        ..
    }) = r.sim.push_state(a.checkout_request_id.as_deref().unwrap())
    else {
        panic!()
    };
    assert_eq!(receipt, sim_receipt, "the receipt M-Pesa issued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_young_created_attempt_is_left_alone_and_a_push_after_never_reached_is_flagged() {
    let r = rig(fast_sim_prompt(50), fast_poll(), false).await;
    let sale = r.sale(100);
    // Another process has just committed this attempt and is sending its push.
    let a = r
        .db()
        .create_attempt(sale, &phone("254700000205"), 100, "Wanjiku")
        .unwrap();
    let rec = r.engine.reconcile().await.unwrap();
    assert_eq!(
        (rec[0].how.as_str(), rec[0].after.as_str()),
        ("in_flight", "created")
    );
    let e = r
        .engine
        .resend_after_unknown(&a.id, true, "Wanjiku")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("still being sent"), "{e}");
    // Even if a cashier closes it as never reached, the late "accepted" is flagged, not ignored.
    r.db()
        .apply_event(
            &a.id,
            &duka_core::payment::PaymentEvent::NeverReached,
            "cashier",
            None,
        )
        .unwrap();
    let late = r
        .db()
        .apply_event_learning(
            &a.id,
            &duka_core::payment::PaymentEvent::PushAccepted {
                checkout_id: "ws_CO_late".into(),
            },
            "engine",
            None,
            Some("ws_CO_late"),
        )
        .unwrap();
    assert!(matches!(late, Applied::Conflict(_)));
    let a = r.db().attempt(&a.id).unwrap();
    assert!(a.flag.as_deref().unwrap().contains("double payment"));
    assert_eq!(
        a.checkout_request_id.as_deref(),
        Some("ws_CO_late"),
        "kept, so it can be checked"
    );
}

/// A reversal Daraja accepted whose Result never came is looked up by Transaction Status (by
/// the request's ConversationID) when the till reconciles; an answer about the payment that
/// was reversed, not the reversal, settles nothing.
#[tokio::test]
async fn a_reversal_whose_result_was_lost_is_settled_by_transaction_status() {
    use duka_core::refund::RefundState;
    let cfg = SimConfig {
        initiator_private_key_pem: Some(daraja_sim::TEST_INITIATOR_KEY.into()),
        ..fast_sim_prompt(50)
    };
    let r = duka_tests::engine::rig_grace(
        cfg,
        fast_poll(),
        true,
        true,
        None,
        duka_tests::engine::SHORT_TIMEOUT,
        Some(Duration::ZERO),
    )
    .await;
    let sale = r.sale(150);
    let paid = r.charge_settled(sale, "254700000000", 150).await;
    let AttemptState::Paid {
        receipt: Some(original),
    } = paid.state
    else {
        panic!("{paid:?}");
    };
    r.sim.set_faults(daraja_sim::Faults {
        reversal_result_lost: true,
        ..Default::default()
    });
    let refund = r
        .engine
        .refund_to_mpesa(sale, None, "customer returned it", "Wanjiku")
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Accepted, "{refund:?}");
    let reversed = r.sim.reversals();
    assert_eq!(reversed.len(), 1, "M-Pesa did reverse it");

    // A status answer about the original payment ("Completed", its own receipt) is no news.
    let about_payment = serde_json::json!({"Result": {"ResultType": 0, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": "x", "ConversationID": "y", "TransactionID": "TAH0000000",
        "ResultParameters": {"ResultParameter": [
            {"Key": "TransactionStatus", "Value": "Completed"},
            {"Key": "ReceiptNo", "Value": original},
            {"Key": "Amount", "Value": 150.0}]}}});
    let same = r
        .engine
        .apply_reversal_result(
            about_payment.to_string().as_bytes(),
            Some(&refund.id.to_string()),
            "test",
        )
        .unwrap();
    assert_eq!(same.state, RefundState::Accepted, "{same:?}");

    // An error answer to a status query (not found yet, the API user lacks the role) is
    // about the query: on the status URL it never means "the reversal failed".
    let hint = format!("f{}", refund.id);
    for code in ["R000002", "2001"] {
        let answer = serde_json::json!({"Result": {"ResultType": 0, "ResultCode": code,
            "ResultDesc": "no", "OriginatorConversationID": "x", "ConversationID": "y",
            "TransactionID": "OA90000000"}});
        let same = r
            .engine
            .apply_reversal_result(answer.to_string().as_bytes(), Some(&hint), "test")
            .unwrap();
        assert_eq!(same.state, RefundState::Accepted, "{code}: {same:?}");
    }

    let mut events = r.engine.subscribe();
    r.engine.reconcile().await.unwrap();
    let deadline = tokio::time::Instant::now() + SETTLE;
    let done = loop {
        let now = r.db().refund(refund.id).unwrap();
        if now.state.is_final() {
            break now;
        }
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("Transaction Status never answered")
            .unwrap();
    };
    assert_eq!(done.state, RefundState::Reversed, "{done:?}");
    assert_eq!(done.receipt.as_deref(), Some(reversed[0].receipt.as_str()));
    let asked = r.sim.log();
    let asked: Vec<_> = asked
        .iter()
        .filter(|l| l.path.contains("transactionstatus"))
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let answered = r.sim.wait_callbacks(2).await;
    assert!(
        answered
            .last()
            .unwrap()
            .url
            .ends_with(&format!("/v1/reversal/{hint}")),
        "the status answer comes to its own URL: {answered:?}"
    );
    // Nothing more is sent for a settled reversal.
    r.engine.reconcile().await.unwrap();
    let reversal_requests = r
        .sim
        .log()
        .iter()
        .filter(|l| l.path.contains("reversal"))
        .count();
    assert_eq!(reversal_requests, 1);
    assert_eq!(
        r.sim
            .log()
            .iter()
            .filter(|l| l.path.contains("transactionstatus"))
            .count(),
        1
    );
}

/// The queue's timeout notice comes to the same URL with `ResultType 1` and `ResultCode 1`,
/// which elsewhere means "balance too low": read as a failure, it freed the sale for a second
/// refund while M-Pesa could still reverse the first.
#[tokio::test]
async fn a_reversal_whose_queue_timed_out_is_unknown_not_failed_and_blocks_a_second_refund() {
    use duka_core::refund::RefundState;
    let cfg = SimConfig {
        initiator_private_key_pem: Some(daraja_sim::TEST_INITIATOR_KEY.into()),
        ..fast_sim_prompt(50)
    };
    let r = duka_tests::engine::rig_with(cfg, fast_poll(), true, true).await;
    let sale = r.sale(150);
    r.charge_settled(sale, "254700000000", 150).await;
    r.sim.set_faults(daraja_sim::Faults {
        reversal_queue_timeout: true,
        ..Default::default()
    });
    let refund = r
        .engine
        .refund_to_mpesa(sale, None, "customer returned it", "Wanjiku")
        .await
        .unwrap();
    // The sink applies the notice before it answers the simulator, which records the
    // delivery after: two deliveries (the payment's callback, then the notice) mean both are
    // applied. The notice may overtake Daraja's acknowledgement (the simulator sends it at
    // once): the refund is then accepted, else unknown; never failed.
    let delivered = r.sim.wait_callbacks(2).await;
    assert_eq!(delivered[1].result_code, "1", "{delivered:?}");
    assert_eq!(delivered[1].outcome, "200", "{delivered:?}");
    let settled = r.db().refund(refund.id).unwrap();
    assert!(
        matches!(settled.state, RefundState::Unknown | RefundState::Accepted),
        "{settled:?}"
    );
    assert!(
        r.db()
            .open_reversals()
            .unwrap()
            .iter()
            .any(|o| o.id == refund.id)
    );
    // Still counted against the sale: nothing is left to give back by another way.
    let by_hand = duka_core::refund::RefundTo::Manual {
        code: "TKA0000001".into(),
    };
    let e = r
        .db()
        .create_refund(sale, None, "again", &by_hand, "Wanjiku")
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert_eq!(r.db().refunds_of(sale).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_to_mpesa_is_reversed_once_and_its_result_applied() {
    use duka_core::refund::RefundState;
    let cfg = SimConfig {
        initiator_private_key_pem: Some(daraja_sim::TEST_INITIATOR_KEY.into()),
        ..fast_sim_prompt(50)
    };
    let r = duka_tests::engine::rig_with(cfg, fast_poll(), true, true).await;
    let sale = r.sale(150);
    let a = r.charge_settled(sale, "254700000000", 150).await;
    assert!(
        matches!(a.state, AttemptState::Paid { receipt: Some(_) }),
        "{a:?}"
    );
    let mut events = r.engine.subscribe();
    let refund = r
        .engine
        .refund_to_mpesa(sale, None, "customer returned it", "Wanjiku")
        .await
        .unwrap();
    // The sim's Result can come on the signed URL before the request's own answer is
    // recorded: either way the refund knows Daraja's ConversationID.
    assert!(
        matches!(refund.state, RefundState::Accepted | RefundState::Reversed),
        "{refund:?}"
    );
    assert!(
        refund
            .conversation_id
            .as_deref()
            .unwrap()
            .starts_with("AG_")
    );
    let deadline = tokio::time::Instant::now() + SETTLE;
    let done = loop {
        let now = r.db().refund(refund.id).unwrap();
        if now.state.is_final() {
            break now;
        }
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the reversal's result never came")
            .unwrap();
    };
    assert_eq!(done.state, RefundState::Reversed, "{done:?}");
    let reversed = r.sim.reversals();
    assert_eq!(reversed.len(), 1);
    assert_eq!(done.receipt.as_deref(), Some(reversed[0].receipt.as_str()));
    assert_eq!(reversed[0].amount, 150);
    // Nothing is left to give back, and the receipt is not sent twice.
    let e = r
        .engine
        .refund_to_mpesa(sale, None, "again", "Wanjiku")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert_eq!(
        r.sim
            .log()
            .iter()
            .filter(|l| l.path.contains("reversal"))
            .count(),
        1
    );
}
