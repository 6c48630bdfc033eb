//! Trust: the paths by which a person, an odd network or forged input could lose, double or
//! fake a payment, each closed and proved here against daraja-sim and a real relay.

use std::time::Duration;

use daraja_sim::{CallbackMode, Faults, SimConfig};
use duka_core::engine::{CoreEvent, PollPolicy};
use duka_core::payment::{AttemptState, DOUBLE_PAYMENT, NOT_REACHED};
use duka_core::sale::SaleStatus;
use duka_tests::engine::{SHORT_TIMEOUT, rig, rig_full, rig_grace};
use duka_tests::relay;
use duka_tests::stk_callback as callback;
use duka_tests::{eventually, fast_sim_prompt, phone};
use serde_json::{Value, json};

fn pushes(sim: &daraja_sim::Sim) -> usize {
    sim.log()
        .iter()
        .filter(|l| l.path.contains("stkpush/"))
        .count()
}

/// Waits for a core event matching `f`, at most 20 s.
async fn event(
    rx: &mut tokio::sync::broadcast::Receiver<CoreEvent>,
    what: &str,
    mut f: impl FnMut(&CoreEvent) -> bool,
) -> CoreEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if f(&e) => return e,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("{what}: {e}"),
            Err(_) => panic!("never happened: {what}"),
        }
    }
}

/// #3: the customer pays while M-Pesa's query still says "processing" past the poller's
/// deadline. The cashier's "no prompt reached the phone" must not send a second push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_prompt_reached_is_refused_while_mpesa_is_processing_and_finds_the_payment() {
    let sim = SimConfig {
        faults: Faults {
            callback: CallbackMode::None,
            // The query says "processing" for 3 s after the customer's PIN.
            query_lag_units: 150,
            ..Faults::default()
        },
        ..fast_sim_prompt(500)
    };
    // Deadline 1.8 s.
    let r = rig(sim, PollPolicy::scaled(100.0), false).await;
    let sale = r.sale(100);
    let a = r
        .engine
        .charge(sale, &phone("254712000001"), 100, "Wanjiku")
        .await
        .unwrap();
    let checkout = a.checkout_request_id.clone().unwrap();
    assert!(r.sim.approve(&checkout), "the customer enters the PIN");
    let a = r
        .engine
        .wait_settled(&a.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(a.state, AttemptState::Unknown, "the deadline passed");
    let e = r
        .engine
        .resend_after_unknown(&a.id, true, "Wanjiku")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("still processing"), "{e}");
    assert_eq!(r.db().attempt(&a.id).unwrap().state, AttemptState::Unknown);
    // Asked again once M-Pesa knows: the payment is found, and still nothing is sent.
    let mut last = String::new();
    for _ in 0..200 {
        match r.engine.resend_after_unknown(&a.id, true, "Wanjiku").await {
            Err(e) if e.to_string().contains("still processing") => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => {
                last = e.to_string();
                break;
            }
            Ok(b) => panic!("a second push was sent: {b:?}"),
        }
    }
    assert!(last.contains("was paid"), "{last}");
    assert!(matches!(
        r.db().attempt(&a.id).unwrap().state,
        AttemptState::Paid { .. }
    ));
    assert_eq!(r.db().sale(sale).unwrap().status, SaleStatus::Paid);
    assert_eq!(pushes(&r.sim), 1, "one push in the simulator's log");
}

/// #3: an attempt given up on stays followed; when M-Pesa confirms it after all, the manager is
/// told at once that the customer may have paid twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_success_on_a_given_up_attempt_is_flagged_as_a_possible_double_payment() {
    let r = rig(fast_sim_prompt(500), PollPolicy::scaled(100.0), true).await;
    let mut rx = r.engine.subscribe();
    // The prompt reaches the phone, but the push's answer is lost: no CheckoutRequestID.
    r.sim.next_push_faults(Faults {
        drop_push_response: true,
        ..Faults::default()
    });
    let sale = r.sale(100);
    let first = r
        .engine
        .charge(sale, &phone("254712000002"), 100, "Wanjiku")
        .await
        .unwrap();
    assert_eq!(first.state, AttemptState::Unknown);
    let first_prompt = r.sim.pending_prompts()[0].clone();
    // The customer says no prompt came; the cashier sends a new one.
    let second = r
        .engine
        .resend_after_unknown(&first.id, true, "Wanjiku")
        .await
        .unwrap();
    let given_up = r.db().attempt(&first.id).unwrap();
    assert!(
        matches!(&given_up.state, AttemptState::Failed { code } if code == NOT_REACHED)
            && given_up.followed,
        "{given_up:?}"
    );
    // But the customer does approve the first prompt.
    assert!(r.sim.approve(&first_prompt));
    let e = event(&mut rx, "possible double payment", |e| {
        matches!(e, CoreEvent::PossibleDoublePayment { .. })
    })
    .await;
    let CoreEvent::PossibleDoublePayment { attempt, receipt } = e else {
        unreachable!()
    };
    assert_eq!(attempt.id, first.id);
    assert!(receipt.is_some());
    let flag = attempt.flag.unwrap();
    assert!(
        flag.contains(DOUBLE_PAYMENT) && flag.contains("refund"),
        "{flag}"
    );
    assert!(
        !r.db().attempt(&first.id).unwrap().followed,
        "M-Pesa answered: no longer followed"
    );
    // The money is not counted twice: the sale is paid by neither yet (the second prompt is
    // still out), and nothing was added to it behind the manager's back.
    assert_ne!(r.db().sale(sale).unwrap().status, SaleStatus::Paid);
    assert_eq!(pushes(&r.sim), 2);
    let _ = second;
}

/// #3: a given-up attempt with a CheckoutRequestID is queried until M-Pesa answers finally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_up_attempt_is_followed_by_the_poller_until_mpesa_answers() {
    let r = rig(fast_sim_prompt(500), PollPolicy::scaled(100.0), false).await;
    let sale = r.sale(100);
    // A code we do not know ends the first attempt in `unknown` (ResultCode 9998).
    let first = r.charge_settled(sale, "254700000206", 100).await;
    assert_eq!(first.state, AttemptState::Unknown);
    let queries_before = r
        .sim
        .log()
        .iter()
        .filter(|l| l.path.contains("stkpushquery"))
        .count();
    r.engine
        .resend_after_unknown(&first.id, true, "Wanjiku")
        .await
        .unwrap();
    // Still followed: the poller goes on asking about it (every 0.6 s here).
    eventually("the given-up attempt is queried again", || {
        r.sim
            .log()
            .iter()
            .filter(|l| l.path.contains("stkpushquery"))
            .count()
            >= queries_before + 3
    })
    .await;
    assert!(r.db().attempt(&first.id).unwrap().followed);
    let rec = r.engine.reconcile().await.unwrap();
    assert!(
        rec.iter()
            .any(|x| x.attempt_id == first.id && x.how == "followed"),
        "{rec:?}"
    );
}

/// #3: the grace covers the client's own worst case (token, push, and the retry of both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_grace_covers_the_clients_worst_case_push() {
    let r = duka_tests::engine::rig_timeout(
        fast_sim_prompt(500),
        PollPolicy::scaled(100.0),
        false,
        false,
        None,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        r.engine.client().push_worst_case(),
        Duration::from_secs(120)
    );
    assert!(
        r.engine.in_flight_grace() > Duration::from_secs(120),
        "{:?}",
        r.engine.in_flight_grace()
    );
}

/// #3: an attempt another engine was still sending when this one started is not left
/// unfollowed: once its grace is over it is looked at again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_in_flight_at_start_is_looked_at_again_when_its_grace_ends() {
    let r = rig_grace(
        fast_sim_prompt(500),
        PollPolicy::scaled(100.0),
        false,
        false,
        None,
        SHORT_TIMEOUT,
        Some(Duration::from_millis(500)),
    )
    .await;
    let mut rx = r.engine.subscribe();
    let sale = r.sale(100);
    let a = r
        .db()
        .create_attempt(sale, &phone("254712000003"), 100, "Wanjiku")
        .unwrap();
    let rec = r.engine.reconcile().await.unwrap();
    assert_eq!(rec[0].how, "in_flight");
    let id = a.id.clone();
    event(&mut rx, "the attempt is surfaced after its grace", |e| {
        matches!(e, CoreEvent::AttemptChanged { attempt } if attempt.id == id && attempt.state == AttemptState::Unknown)
    })
    .await;
}

/// #4: a body with attempt B's CheckoutRequestID posted to attempt A's valid URL settles
/// neither; a success without its metadata is checked with M-Pesa first; an old URL expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_signed_for_one_attempt_cannot_settle_another() {
    let relay = relay::start().await;
    let pairing = relay.pair("Mama Mboga", "Front");
    let r = rig_full(
        fast_sim_prompt(500),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    let client = duka_core::relay::spawn(r.engine.clone(), pairing.clone());
    eventually("connected", || client.status().connected).await;
    let mut rx = r.engine.subscribe();
    let v = r.pending_attempts(2, "25471", "forge");
    let ((a, _, _), (b, b_checkout, b_phone)) = (&v[0], &v[1]);
    let key = pairing.key_bytes();
    let http = reqwest::Client::new();
    let post = |url: String, body: Value| {
        let http = http.clone();
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // B's success, posted to A's URL.
    let a_url = duka_relay_proto::stk_callback_url(&relay.url, &pairing.till, &key, a);
    let forged = callback(b_checkout, 0, 50, "UKN0000009", b_phone);
    assert_eq!(
        post(a_url, forged).await,
        200,
        "the relay stores what is signed"
    );
    let id = a.clone();
    event(&mut rx, "A flagged as a forgery", |e| {
        matches!(e, CoreEvent::AttemptChanged { attempt } if attempt.id == id && attempt.flag.is_some())
    })
    .await;
    let a_now = r.db().attempt(a).unwrap();
    let b_now = r.db().attempt(b).unwrap();
    assert!(
        matches!(a_now.state, AttemptState::Pending { .. }),
        "{a_now:?}"
    );
    assert!(
        matches!(b_now.state, AttemptState::Pending { .. }),
        "{b_now:?}"
    );
    assert!(a_now.flag.unwrap().contains("forged"));
    // A success without Amount, receipt and phone, on B's own URL: M-Pesa is asked first.
    let b_url = duka_relay_proto::stk_callback_url(&relay.url, &pairing.till, &key, b);
    let bare = json!({"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": b_checkout, "ResultCode": 0, "ResultDesc": "ok"}}});
    assert_eq!(post(b_url, bare).await, 200);
    eventually("M-Pesa asked about B", || {
        r.sim.log().iter().any(|l| l.path.contains("stkpushquery"))
    })
    .await;
    eventually("acknowledged", || {
        relay.relay.store().unacked(&pairing.till).unwrap() == 0
    })
    .await;
    let b_now = r.db().attempt(b).unwrap();
    assert!(
        matches!(b_now.state, AttemptState::Pending { .. }),
        "not paid on a bare success: {b_now:?}"
    );
    // A URL past its expiry is refused by the relay and stored nowhere.
    let old = duka_relay_proto::stk_callback_url_until(&relay.url, &pairing.till, &key, b, 1000);
    let good = callback(b_checkout, 0, 50, "UKN0000010", b_phone);
    assert_eq!(post(old, good).await, 410);
    assert_eq!(relay.relay.metrics.rejected("expired_url"), 1);
    assert_eq!(relay.relay.store().unacked(&pairing.till).unwrap(), 0);
    client.stop();
}

fn c2b_payload(trans_id: &str) -> Value {
    json!({"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20261123101010",
        "TransAmount": "150.00", "BusinessShortCode": "174379", "BillRefNumber": "Sale 3", "InvoiceNumber": "",
        "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 149", "FirstName": "John", "MiddleName": "", "LastName": "Doe"})
}

async fn confirm_c2b(relay: &relay::RunningRelay, shop: &str, trans_id: &str) -> Value {
    let shop = relay.relay.store().shop(shop).unwrap().unwrap();
    let (confirm, _) = duka_relay_proto::c2b_urls(&relay.url, &shop.id, &shop.key);
    reqwest::Client::new()
        .post(&confirm)
        .json(&c2b_payload(trans_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// #5: the till's watermark (50) is above the relay's numbering (10), as after a restored
/// backup: the new confirmation must still reach the inbox, and later ones too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watermark_above_the_relays_numbering_resyncs_and_nothing_is_dropped() {
    let relay = relay::start().await;
    let pairing = relay.pair("Mama Mboga", "Front");
    let r = rig_full(
        fast_sim_prompt(500),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    let store = relay.relay.store();
    for _ in 0..9 {
        store
            .insert(
                vec![pairing.till.clone()],
                duka_relay_proto::Kind::Stk,
                None,
                "{}".into(),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        confirm_c2b(&relay, &pairing.shop, "UKN5000010").await["ResultDesc"],
        "Success"
    );
    let epoch = store.till(&pairing.till).unwrap().unwrap().epoch;
    assert_eq!(store.till(&pairing.till).unwrap().unwrap().last_seq, 10);
    duka_core::relay::Watermark {
        till: pairing.till.clone(),
        epoch,
        seq: 50,
    }
    .save(&mut r.db())
    .unwrap();
    let client = duka_core::relay::spawn(r.engine.clone(), pairing.clone());
    eventually("the confirmation reaches the inbox", || {
        r.db().incoming("UKN5000010").is_ok()
    })
    .await;
    assert!(
        store.till(&pairing.till).unwrap().unwrap().last_seq >= 50,
        "the relay's numbering moved past the till's watermark"
    );
    confirm_c2b(&relay, &pairing.shop, "UKN5000051").await;
    eventually("and the next one", || r.db().incoming("UKN5000051").is_ok()).await;
    client.stop();
}

/// A TCP proxy that can go silent: it keeps every connection open but stops forwarding.
struct Proxy {
    addr: std::net::SocketAddr,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn proxy(to: std::net::SocketAddr) -> Proxy {
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = frozen.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let f = f.clone();
            // Only the connections open when it froze go silent; new ones are forwarded.
            let born_frozen = f.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(to).await else {
                    return;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                let pipe =
                    |mut r: tokio::net::tcp::OwnedReadHalf,
                     mut w: tokio::net::tcp::OwnedWriteHalf,
                     f: std::sync::Arc<std::sync::atomic::AtomicBool>| async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match r.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            // Frozen: swallow the bytes, keep the socket open, say nothing.
                            if f.load(Ordering::SeqCst) && !born_frozen {
                                continue;
                            }
                            if w.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                tokio::join!(pipe(ri, wo, f.clone()), pipe(ro, wi, f));
            });
        }
    });
    Proxy { addr, frozen }
}

/// #6: the network goes silent under an open websocket (no close, no reset). The till must
/// notice, say so, reconnect, and receive what came meanwhile within a bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_dead_relay_connection_is_noticed_and_replaced() {
    let relay = relay::start().await;
    let mut pairing = relay.pair("Mama Mboga", "Front");
    let relay_addr: std::net::SocketAddr = relay.url.trim_start_matches("http://").parse().unwrap();
    let p = proxy(relay_addr).await;
    pairing.url = format!("http://{}", p.addr);
    let r = rig_full(
        fast_sim_prompt(500),
        PollPolicy::default(),
        false,
        false,
        Some(&pairing),
    )
    .await;
    let client = duka_core::relay::spawn_with(
        r.engine.clone(),
        pairing.clone(),
        duka_core::relay::RelayOptions {
            keepalive: Duration::from_millis(200),
            ..Default::default()
        },
    );
    eventually("connected", || client.status().connected).await;
    let mut rx = r.engine.subscribe();
    p.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    confirm_c2b(&relay, &pairing.shop, "UKN6000001").await;
    let e = event(
        &mut rx,
        "the dead connection is reported",
        |e| matches!(e, CoreEvent::Relay { status } if !status.connected),
    )
    .await;
    let CoreEvent::Relay { status } = e else {
        unreachable!()
    };
    assert!(
        status.last_error.as_deref().unwrap_or("").contains("dead"),
        "{status:?}"
    );
    eventually("applied over the new connection", || {
        r.db().incoming("UKN6000001").is_ok()
    })
    .await;
    assert!(client.status().connected);
    client.stop();
}

/// #7: a C2B payment for a shop whose only till was revoked is kept and handed to the next
/// till paired; a revoked till's open connection is closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c2b_for_a_shop_with_no_live_till_is_kept_for_the_next_till_and_a_revoked_till_is_cut_off()
{
    let relay = relay::start_with(|cfg| {
        cfg.rate_limit_per_ip = None;
        cfg.revocation_check = Duration::from_millis(50);
    })
    .await;
    let old = relay.pair("Mama Mboga", "Old");
    let r_old = rig_full(
        fast_sim_prompt(500),
        PollPolicy::default(),
        false,
        false,
        Some(&old),
    )
    .await;
    let c_old = duka_core::relay::spawn(r_old.engine.clone(), old.clone());
    eventually("connected", || c_old.status().connected).await;
    // Revoked from the command line's side (the store, not the running server's handle).
    assert!(relay.relay.store().revoke_till(&old.till).unwrap());
    eventually("the revoked till is cut off", || {
        !c_old.status().connected && relay.relay.connected() == 0
    })
    .await;
    c_old.stop();
    let v = confirm_c2b(&relay, &old.shop, "UKN7000001").await;
    assert_eq!(v["ResultDesc"], "Success");
    assert_eq!(relay.relay.store().held_for_shop(&old.shop).unwrap(), 1);
    let new = relay.pair("Mama Mboga", "New");
    assert_eq!(relay.relay.store().held_for_shop(&old.shop).unwrap(), 0);
    let r_new = rig_full(
        fast_sim_prompt(500),
        PollPolicy::default(),
        false,
        false,
        Some(&new),
    )
    .await;
    let c_new = duka_core::relay::spawn(r_new.engine.clone(), new.clone());
    eventually("the held payment reaches the new till", || {
        r_new.db().incoming("UKN7000001").is_ok()
    })
    .await;
    c_new.stop();
}

/// A relay and two tills of one shop (Front, Back), each connected: its pairing, rig, client.
async fn two_connected_tills() -> (
    relay::RunningRelay,
    [(
        duka_relay_proto::Pairing,
        duka_tests::engine::Rig,
        duka_core::relay::RelayClient,
    ); 2],
) {
    let (relay, tills) = two_tills().await;
    let mut connected = Vec::new();
    for (p, r) in tills {
        let c = duka_core::relay::spawn(r.engine.clone(), p.clone());
        eventually("connected", || c.status().connected).await;
        connected.push((p, r, c));
    }
    let connected: [_; 2] = connected.try_into().unwrap_or_else(|_| unreachable!());
    (relay, connected)
}

/// A relay and two tills of one shop (Front, Back), paired but not connected yet.
async fn two_tills() -> (
    relay::RunningRelay,
    [(duka_relay_proto::Pairing, duka_tests::engine::Rig); 2],
) {
    let relay = relay::start().await;
    let mut tills = Vec::new();
    for name in ["Front", "Back"] {
        let p = relay.pair("Mama Mboga", name);
        let r = rig_full(
            fast_sim_prompt(500),
            PollPolicy::default(),
            false,
            false,
            Some(&p),
        )
        .await;
        tills.push((p, r));
    }
    let tills: [_; 2] = tills.try_into().unwrap_or_else(|_| unreachable!());
    (relay, tills)
}

/// #2: one C2B payment (and one typed code) pays one sale in the whole shop. Two tills of one
/// shop see the same confirmation; the first to attach it wins at the relay, the other is
/// refused naming the till and sale that have it, and learns it even before trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_attached_on_one_till_of_a_shop_is_refused_on_the_other() {
    use duka_core::relay::with_claim;
    use duka_core::store::Claim;
    let (relay, [(front, r1, c1), (_, r2, c2)]) = two_connected_tills().await;
    assert_eq!(
        confirm_c2b(&relay, &front.shop, "UKN7777777").await["ResultDesc"],
        "Success"
    );
    for r in [&r1, &r2] {
        eventually("in both inboxes", || r.db().inbox(10).unwrap().len() == 1).await;
    }
    let mut events2 = r2.engine.subscribe();
    let (sale1, sale2) = (r1.sale(150), r2.sale(150));
    let attach = |sale: i64| {
        move |s: &mut duka_core::Store, claim: Claim| {
            s.attach_incoming("UKN7777777", sale, "Wanjiku", claim)
        }
    };
    let amount = duka_core::Money::from_shillings(150).unwrap();
    let paid = with_claim(
        &r1.engine,
        Some(&c1),
        "UKN7777777",
        sale1,
        amount,
        attach(sale1),
    )
    .await
    .unwrap();
    assert_eq!(paid.status, SaleStatus::Paid);
    // The other till is told, and shows the payment as taken.
    event(
        &mut events2,
        "the back till learns the receipt is taken",
        |e| matches!(e, CoreEvent::ReceiptTaken { receipt, .. } if receipt == "UKN7777777"),
    )
    .await;
    let inbox = r2.db().inbox(10).unwrap();
    let taken = inbox[0].taken_by.clone().expect("shown as taken");
    assert_eq!(
        (taken.till_name.as_str(), taken.sale.clone()),
        ("Front", sale1.to_string())
    );
    let e = with_claim(
        &r2.engine,
        Some(&c2),
        "UKN7777777",
        sale2,
        amount,
        attach(sale2),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(
        e.to_string()
            .contains(&format!("till Front for its sale {sale1}")),
        "{e}"
    );
    assert_eq!(r2.db().sale(sale2).unwrap().status, SaleStatus::Open);

    // Even a till that never saw the notice (its local check passes) is refused by the relay.
    let code = "QKM0FXE6RK";
    let pay = |sale: i64| {
        move |s: &mut duka_core::Store, claim: Claim| {
            s.pay_mpesa_code(sale, code, None, "Wanjiku", claim)
        }
    };
    let (sale3, sale4) = (r2.sale(150), r1.sale(150));
    with_claim(&r2.engine, Some(&c2), code, sale3, amount, pay(sale3))
        .await
        .unwrap();
    let e = with_claim(&r1.engine, Some(&c1), code, sale4, amount, pay(sale4))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("till Back for its sale {sale3}")),
        "{e}"
    );
    // Asking again is idempotent for the till that has it.
    let seen = std::sync::Mutex::new(Vec::new());
    with_claim(
        &r2.engine,
        Some(&c2),
        code,
        sale3,
        amount,
        |s: &mut duka_core::Store, c| {
            seen.lock().unwrap().push(c);
            s.sale(sale3)
        },
    )
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Claim::Check, Claim::Won]);
    assert_eq!(r1.db().sale(sale4).unwrap().status, SaleStatus::Open);

    // The receipt of an STK payment on one till is the shop's too: typed on the other till
    // from the customer's SMS, it is refused.
    let stk_sale = r1.sale(150);
    let a = r1
        .engine
        .charge(stk_sale, &phone("0700000000"), 150, "Wanjiku")
        .await
        .unwrap();
    let paid = r1
        .engine
        .wait_settled(&a.id, Duration::from_secs(20))
        .await
        .unwrap();
    let AttemptState::Paid {
        receipt: Some(receipt),
    } = paid.state
    else {
        panic!(
            "paid with its receipt (the callback came through the relay): {:?}",
            paid.state
        )
    };
    let shop = relay
        .relay
        .store()
        .till(&front.till)
        .unwrap()
        .unwrap()
        .shop_id;
    eventually("the STK receipt is claimed", || {
        relay
            .relay
            .store()
            .claim_owner(&shop, &receipt)
            .unwrap()
            .is_some()
    })
    .await;
    let typed_sale = r2.sale(150);
    let rcpt = receipt.clone();
    let e = with_claim(
        &r2.engine,
        Some(&c2),
        &receipt,
        typed_sale,
        amount,
        move |s: &mut duka_core::Store, claim: Claim| {
            s.pay_mpesa_code(typed_sale, &rcpt, None, "Wanjiku", claim)
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("till Front for its sale {stk_sale}")),
        "{e}"
    );
    c1.stop();
    c2.stop();
}

/// #2, offline: a till that cannot reach the relay attaches provisionally; when it connects
/// the claim goes, and a race it lost is flagged and stops counting (never counted twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_attached_offline_that_lost_the_race_is_flagged_not_counted_twice() {
    use duka_core::relay::with_claim;
    use duka_core::store::Claim;
    let (_relay, [(front, r1), (back, r2)]) = two_tills().await;
    let c1 = duka_core::relay::spawn(r1.engine.clone(), front.clone());
    eventually("front connected", || c1.status().connected).await;
    // The back till's network is down: its relay is unreachable.
    let unreachable = duka_relay_proto::Pairing {
        url: format!("http://127.0.0.1:{}", relay::free_port()),
        ..back.clone()
    };
    let offline = duka_core::relay::spawn(r2.engine.clone(), unreachable);
    let code = "SFT4M2N8PQ";
    let amount = duka_core::Money::from_shillings(150).unwrap();
    let pay = |sale: i64| {
        move |s: &mut duka_core::Store, claim: Claim| {
            s.pay_mpesa_code(sale, code, None, "Wanjiku", claim)
        }
    };
    let (front_sale, back_sale, other_back_sale) = (r1.sale(150), r2.sale(150), r2.sale(60));
    // Back attaches first, but offline: provisionally (the sale is paid for now).
    let s = with_claim(
        &r2.engine,
        Some(&offline),
        code,
        back_sale,
        amount,
        pay(back_sale),
    )
    .await
    .unwrap();
    assert_eq!(s.status, SaleStatus::Paid);
    assert_eq!(r2.db().pending_claims().unwrap().len(), 1);
    // A provisional code that nobody else claims stays the back till's.
    let own = "TGU5N3P9QR";
    with_claim(
        &r2.engine,
        Some(&offline),
        own,
        other_back_sale,
        duka_core::Money::from_shillings(60).unwrap(),
        |s: &mut duka_core::Store, c| s.pay_mpesa_code(other_back_sale, own, None, "Wanjiku", c),
    )
    .await
    .unwrap();
    // Front is online and claims the same code: it wins at the relay.
    with_claim(
        &r1.engine,
        Some(&c1),
        code,
        front_sale,
        amount,
        pay(front_sale),
    )
    .await
    .unwrap();
    offline.stop();

    // Back's network returns: its claims go, the lost race is flagged for the manager.
    let mut events = r2.engine.subscribe();
    let c2 = duka_core::relay::spawn(r2.engine.clone(), back.clone());
    let lost = event(&mut events, "the lost race is flagged", |e| {
        matches!(e, CoreEvent::ClaimLost { .. })
    })
    .await;
    let CoreEvent::ClaimLost { claim } = lost else {
        unreachable!()
    };
    assert_eq!((claim.receipt.as_str(), claim.sale_id), (code, back_sale));
    assert_eq!(claim.winner.till_name, "Front");
    assert_eq!(claim.winner.sale, front_sale.to_string());
    eventually("no claim left to send", || {
        r2.db().pending_claims().unwrap().is_empty()
    })
    .await;
    // Not counted twice: the back sale is due again, the code does not count in its day, the
    // manager's list has it; the other provisional code was won and stays.
    let s = r2.db().sale(back_sale).unwrap();
    assert_ne!(s.status, SaleStatus::Paid);
    assert_eq!(s.due, duka_core::Money::from_shillings(150).unwrap());
    assert_eq!(r2.db().lost_claims().unwrap().len(), 1);
    assert_eq!(
        r2.db().sale(other_back_sale).unwrap().status,
        SaleStatus::Paid
    );
    let day = r2.db().day_report(duka_core::time::today()).unwrap();
    let receipts: Vec<String> = day
        .mpesa_receipts
        .iter()
        .filter_map(|m| m.receipt.clone())
        .collect();
    assert!(!receipts.contains(&code.to_string()), "{receipts:?}");
    assert_eq!(r1.db().sale(front_sale).unwrap().status, SaleStatus::Paid);
    // And the back till now refuses the code outright.
    let e = r2
        .db()
        .pay_mpesa_code(other_back_sale, code, None, "Wanjiku", Claim::Local)
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    c1.stop();
    c2.stop();
}

/// #2: claims are protocol 3; a till that speaks 2 would attach receipts without claiming
/// them, so the relay refuses it with a message saying to update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_speaking_the_protocol_before_claims_is_refused_with_a_clear_message() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let relay = relay::start().await;
    let p = relay.pair("Mama Mboga", "Old");
    let (mut ws, _) = tokio_tungstenite::connect_async(duka_core::relay::ws_url(&relay.url))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no challenge")
    };
    let nonce = serde_json::from_str::<Value>(&t).unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    let mac = duka_relay_proto::sign(&p.key_bytes(), &duka_relay_proto::ws_message(&nonce));
    let hello = json!({"type": "hello", "till": p.till, "mac": mac, "proto": 2, "resume_after": 0});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no answer")
    };
    let err: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "till_outdated");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("update Duka on this till"),
        "{err}"
    );
}

/// #13: the disk fills up. Before the push: the attempt cannot be saved, so nothing is sent,
/// and the cashier reads why. During the push (Daraja has it, the answer cannot be saved): the
/// answer is kept and saved once space is freed, the payment is followed to paid, and a resend
/// is refused meanwhile. One push in all; nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_before_or_during_a_charge_loses_nothing_and_sends_nothing_unrecorded() {
    let disk = duka_tests::disk::SmallDisk::mount("4m");
    let dir = tempfile::tempdir_in(disk.path()).unwrap();
    let r = duka_tests::engine::rig_in(
        dir,
        SimConfig {
            time_unit_ms: 20,
            prompt_timeout_units: 3000,
            default_behaviour: daraja_sim::Behaviour::Interactive,
            ..SimConfig::default()
        },
        PollPolicy::scaled(100.0),
        false,
        false,
        None,
        SHORT_TIMEOUT,
        None,
    )
    .await;
    let sale = r.sale(100);
    // A customer who answers the prompt when the test says so.
    let customer = phone("0711111111");
    // SQLite reuses the space its write-ahead log already has: empty it first, so the next
    // write needs new space, as on a till whose log was just checkpointed.
    let db = r.dir.path().join("duka.db");
    let empty_wal = || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        assert_eq!(
            std::fs::metadata(db.with_extension("db-wal"))
                .unwrap()
                .len(),
            0
        );
    };

    // Full before the charge: refused, clearly, and no push left the till.
    empty_wal();
    let filler = disk.fill();
    let e = r
        .engine
        .charge(sale, &customer, 100, "Wanjiku")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "disk_full", "{e}");
    assert!(e.to_string().contains("disk is full"), "{e}");
    assert_eq!(
        pushes(&r.sim),
        0,
        "nothing sent that the till could not record"
    );
    std::fs::remove_file(&filler).unwrap();

    // Full while Daraja holds the push: its (slow) answer cannot be saved.
    r.sim.next_push_faults(Faults {
        slow_ms: 600,
        ..Faults::default()
    });
    let engine = r.engine.clone();
    let charging = tokio::spawn(async move {
        engine
            .charge(sale, &phone("0711111111"), 100, "Wanjiku")
            .await
    });
    // The prompt is on the phone; Daraja's answer to the till is still on its way.
    eventually("Daraja has the push", || r.sim.pending_prompts().len() == 1).await;
    empty_wal();
    let filler = disk.fill();
    let e = charging.await.unwrap().unwrap_err();
    assert_eq!(e.code(), "disk_full", "{e}");
    let attempt = r.db().attempts(true, 10).unwrap()[0].clone();
    assert_eq!(
        attempt.state,
        AttemptState::Created,
        "saved before the push"
    );
    assert_eq!(
        r.engine.unsaved_answers(),
        1,
        "Daraja's answer is kept in memory"
    );
    // The cashier may not send it again while the answer waits for the disk.
    let e = r
        .engine
        .resend_after_unknown(&attempt.id, true, "Wanjiku")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    // Space comes back: the kept answer is saved, the payment followed to paid.
    std::fs::remove_file(&filler).unwrap();
    eventually("the kept answer is saved", || {
        r.db()
            .attempt(&attempt.id)
            .unwrap()
            .checkout_request_id
            .is_some()
    })
    .await;
    let prompt = r.sim.pending_prompts()[0].clone();
    r.sim.approve(&prompt);
    let paid = r
        .engine
        .wait_settled(&attempt.id, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        matches!(paid.state, AttemptState::Paid { .. }),
        "{:?}",
        paid.state
    );
    assert!(
        paid.checkout_request_id.is_some(),
        "the kept CheckoutRequestID was saved"
    );
    assert_eq!(r.engine.unsaved_answers(), 0);
    assert_eq!(pushes(&r.sim), 1, "one push in all");
    assert_eq!(r.db().sale(sale).unwrap().status, SaleStatus::Paid);
}

/// #2: codes typed before the till was paired are claimed once it connects, so another till
/// cannot use them afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_typed_before_pairing_are_claimed_when_the_till_connects() {
    use duka_core::store::Claim;
    let relay = relay::start().await;
    let front = relay.pair("Mama Mboga", "Front");
    let r = rig_full(
        fast_sim_prompt(500),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    let sale = r.sale(80);
    r.db()
        .pay_mpesa_code(sale, "TKP2H7M4ZX", None, "Wanjiku", Claim::Local)
        .unwrap();
    let c = duka_core::relay::spawn(r.engine.clone(), front.clone());
    let shop = relay
        .relay
        .store()
        .till(&front.till)
        .unwrap()
        .unwrap()
        .shop_id;
    eventually("the earlier code is claimed for this till", || {
        relay
            .relay
            .store()
            .claim_owner(&shop, "TKP2H7M4ZX")
            .unwrap()
            == Some((front.till.clone(), sale.to_string()))
    })
    .await;
    eventually("and nothing is left to send", || {
        r.db().pending_claims().unwrap().is_empty()
    })
    .await;
    c.stop();
}

/// #2: a receipt the relay gave a till that could not use it after all (its sale changed
/// while the relay answered) is given back, and the shop's other tills may then use it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_receipt_that_could_not_be_used_is_given_back_to_the_shop() {
    use duka_core::relay::with_claim;
    use duka_core::store::Claim;
    let (relay, [(front, r1, c1), (_, r2, c2)]) = two_connected_tills().await;
    let code = "UPX8R2D6WQ";
    let amount = duka_core::Money::from_shillings(90).unwrap();
    let (s1, s2) = (r1.sale(90), r2.sale(90));
    let mut events2 = r2.engine.subscribe();
    // The front till wins the claim, then finds the sale paid by other means meanwhile.
    let e = with_claim(
        &r1.engine,
        Some(&c1),
        code,
        s1,
        amount,
        |s: &mut duka_core::Store, c| {
            if c == Claim::Won {
                return Err(duka_core::Error::Conflict(format!(
                    "sale {s1} is already paid"
                )));
            }
            s.sale(s1)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "conflict");
    event(&mut events2, "the back till heard it was taken", |e| {
        matches!(e, CoreEvent::ReceiptTaken { .. })
    })
    .await;
    let shop = relay
        .relay
        .store()
        .till(&front.till)
        .unwrap()
        .unwrap()
        .shop_id;
    eventually("given back at the relay", || {
        relay
            .relay
            .store()
            .claim_owner(&shop, code)
            .unwrap()
            .is_none()
    })
    .await;
    eventually("the back till knows it is free", || {
        r2.db().taken_elsewhere(code).unwrap().is_none()
    })
    .await;
    let paid = with_claim(
        &r2.engine,
        Some(&c2),
        code,
        s2,
        amount,
        |s: &mut duka_core::Store, c| s.pay_mpesa_code(s2, code, None, "Wanjiku", c),
    )
    .await
    .unwrap();
    assert_eq!(paid.status, SaleStatus::Paid);
    c1.stop();
    c2.stop();
}

/// #2 with #5: a relay restored from a backup forgets the claims made since; the tills claim
/// again what it had given them when it re-syncs, so a receipt stays one till's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_forgot_its_claims_learns_them_again_on_resync() {
    use duka_core::relay::with_claim;
    let relay = relay::start().await;
    let front = relay.pair("Mama Mboga", "Front");
    let r = rig_full(
        fast_sim_prompt(500),
        PollPolicy::default(),
        false,
        false,
        Some(&front),
    )
    .await;
    let c = duka_core::relay::spawn(r.engine.clone(), front.clone());
    eventually("connected", || c.status().connected).await;
    let (code, sale) = ("UQW3E5R7TY", r.sale(70));
    with_claim(
        &r.engine,
        Some(&c),
        code,
        sale,
        duka_core::Money::from_shillings(70).unwrap(),
        |s: &mut duka_core::Store, cl| s.pay_mpesa_code(sale, code, None, "Wanjiku", cl),
    )
    .await
    .unwrap();
    c.stop();
    // The relay's claims are lost (a restore) and its numbering run changes.
    relay
        .store
        .execute("DELETE FROM claims; UPDATE tills SET epoch = 'restored';")
        .await;
    let shop = relay
        .relay
        .store()
        .till(&front.till)
        .unwrap()
        .unwrap()
        .shop_id;
    assert!(
        relay
            .relay
            .store()
            .claim_owner(&shop, code)
            .unwrap()
            .is_none()
    );
    let c = duka_core::relay::spawn(r.engine.clone(), front.clone());
    eventually("claimed again", || {
        relay.relay.store().claim_owner(&shop, code).unwrap()
            == Some((front.till.clone(), sale.to_string()))
    })
    .await;
    c.stop();
}

/// Review: a till paired with a long history claims it in batches while it keeps reading (no
/// burst that could stall the connection), and a code it attached before pairing — counted
/// there, perhaps verified — is kept when another till had used it first, and flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_a_till_with_history_claims_it_in_batches_and_keeps_what_it_holds() {
    use duka_core::relay::with_claim;
    use duka_core::store::Claim;
    let (relay, [(front, r1), (back, r2)]) = two_tills().await;
    // Back's history before pairing: 300 typed codes, one of which Front will use first.
    let mut codes = Vec::new();
    for i in 0..300 {
        let code = format!("HST{i:07}");
        let sale = r2.sale(10);
        r2.db()
            .pay_mpesa_code(sale, &code, None, "Wanjiku", Claim::Local)
            .unwrap();
        codes.push((code, sale));
    }
    let (shared, back_sale) = codes[7].clone();
    let c1 = duka_core::relay::spawn(r1.engine.clone(), front.clone());
    eventually("front connected", || c1.status().connected).await;
    let front_sale = r1.sale(10);
    let ten = duka_core::Money::from_shillings(10).unwrap();
    with_claim(
        &r1.engine,
        Some(&c1),
        &shared,
        front_sale,
        ten,
        |s: &mut duka_core::Store, c| s.pay_mpesa_code(front_sale, &shared, None, "Wanjiku", c),
    )
    .await
    .unwrap();
    let mut events = r2.engine.subscribe();
    let c2 = duka_core::relay::spawn(r2.engine.clone(), back.clone());
    event(
        &mut events,
        "the shared code is flagged on the back till",
        |e| matches!(e, CoreEvent::StkReceiptUsedElsewhere { receipt, .. } if *receipt == shared),
    )
    .await;
    eventually("the whole history is claimed", || {
        r2.db().pending_claims().unwrap().is_empty()
    })
    .await;
    assert!(c2.status().connected, "the connection stayed up");
    let shop = relay
        .relay
        .store()
        .till(&back.till)
        .unwrap()
        .unwrap()
        .shop_id;
    assert_eq!(
        relay
            .relay
            .store()
            .claim_owner(&shop, &codes[299].0)
            .unwrap(),
        Some((back.till.clone(), codes[299].1.to_string()))
    );
    // Kept and counted where it was attached; the manager sees the clash.
    assert_eq!(r2.db().sale(back_sale).unwrap().status, SaleStatus::Paid);
    assert!(r2.db().lost_claims().unwrap().is_empty());
    assert!(r2.db().held_receipt_lost(&shared).unwrap());

    // A stale give-back (this till holds the receipt) is not sent; a real one is, after it.
    c2.release(&codes[3].0, codes[3].1);
    let free = "FRE0000001";
    c2.release(free, 1);
    with_claim(
        &r2.engine,
        Some(&c2),
        free,
        1,
        ten,
        |s: &mut duka_core::Store, c| {
            if c == Claim::Won {
                return Err(duka_core::Error::Conflict("changed meanwhile".into()));
            }
            s.sale(1)
        },
    )
    .await
    .unwrap_err();
    eventually("the real give-back reached the relay", || {
        relay
            .relay
            .store()
            .claim_owner(&shop, free)
            .unwrap()
            .is_none()
    })
    .await;
    assert!(
        relay
            .relay
            .store()
            .claim_owner(&shop, &codes[3].0)
            .unwrap()
            .is_some(),
        "the stale one was not sent"
    );
    c1.stop();
    c2.stop();
}
