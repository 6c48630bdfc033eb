//! One connection to the relay at a time: authenticate, resume, apply and acknowledge
//! messages, send and settle receipt claims; reconnect with jittered backoff.

use super::*;

/// What the client's task shares with its handle.
pub(super) struct Links {
    pub(super) status: Arc<Mutex<RelayStatus>>,
    pub(super) up: tokio::sync::watch::Sender<bool>,
    /// Receipts to give back; they wait here while the relay is out of reach.
    pub(super) releases: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<(String, i64)>>,
    /// Managers' shop-wide questions; unanswered while the relay is out of reach.
    pub(super) shop_days: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<ShopDayRequest>>,
}

/// Sync frames on their way to the relay at once (each up to `SYNC_BATCH` records).
const SYNC_WINDOW: u32 = 8;
pub(super) const SYNC_BATCH: usize = 500;
pub(super) const SYNC_BATCH_BYTES: usize = 256 * 1024;

/// The records of a frame: a record too large for the relay is left out (logged) rather than
/// a frame the relay refuses again and again; a frame left empty carries a placeholder of its
/// top, so the relay acknowledges it and the outbox moves on.
pub(crate) fn frame_records(
    rows: Vec<crate::store::sync::OutboxRow>,
    last: u64,
) -> Vec<duka_relay_proto::Record> {
    let records: Vec<_> = rows
        .into_iter()
        .map(record)
        .filter(|r| {
            let fits = r
                .body
                .as_ref()
                .is_none_or(|b| b.len() <= duka_relay_proto::MAX_RECORD_BODY);
            if !fits {
                tracing::error!(table = %r.table, seq = r.seq, "a record too large for the relay: left out");
            }
            fits
        })
        .collect();
    if !records.is_empty() {
        return records;
    }
    vec![duka_relay_proto::Record {
        seq: last,
        table: "skipped".into(),
        pk: "[]".into(),
        body: None,
        at: crate::time::now_ms(),
    }]
}

pub(crate) fn record(r: crate::store::sync::OutboxRow) -> duka_relay_proto::Record {
    duka_relay_proto::Record {
        seq: r.seq,
        table: r.tbl,
        pk: r.pk,
        body: r.body,
        at: r.at,
    }
}

pub(super) type Claims = tokio::sync::mpsc::UnboundedReceiver<ClaimRequest>;

pub(super) fn set(status: &Mutex<RelayStatus>, engine: &Engine, f: impl FnOnce(&mut RelayStatus)) {
    let snapshot = {
        let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        s.clone()
    };
    engine.publish(CoreEvent::Relay { status: snapshot });
}

pub(super) async fn run(
    engine: Engine,
    pairing: Pairing,
    opts: RelayOptions,
    links: Links,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    mut claims: Claims,
) {
    let status = links.status.clone();
    let mut failures: u32 = 0;
    loop {
        let outcome = tokio::select! {
            r = session(&engine, &pairing, &opts, &links, &mut claims) => r,
            _ = stopped.changed() => return,
        };
        links.up.send_replace(false);
        match outcome {
            Ok(()) => failures = 0,
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!("relay: {e}");
                set(&status, &engine, |s| s.last_error = Some(e));
            }
        }
        set(&status, &engine, |s| s.connected = false);
        // 0.25 s doubling to 30 s, with jitter so a fleet of tills does not reconnect at once.
        let base = Duration::from_millis(250u64.saturating_mul(1 << failures.min(7)))
            .min(Duration::from_secs(30));
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        let wake = tokio::time::Instant::now() + base.mul_f64(jitter);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break,
                _ = stopped.changed() => return,
                // Not connected: a claim gets no answer now (the till attaches provisionally
                // and the claim goes when the connection is back).
                Some(req) = claims.recv() => {
                    let _ = req.reply.send(ClaimAnswer::NoAnswer);
                }
            }
        }
    }
}

pub(super) async fn session(
    engine: &Engine,
    pairing: &Pairing,
    opts: &RelayOptions,
    links: &Links,
    claims: &mut Claims,
) -> Result<(), String> {
    let status = &*links.status;
    let dead_after = opts.keepalive * 3;
    let (ws, _) = tokio::time::timeout(
        dead_after,
        tokio_tungstenite::connect_async(ws_url(&pairing.url)),
    )
    .await
    .map_err(|_| format!("connecting: no answer in {} s", dead_after.as_secs_f32()))?
    .map_err(|e| format!("connecting: {e}"))?;
    let (mut sink, mut stream) = ws.split();
    // Whatever arrives (a frame, a ping, a pong) proves the connection alive; nothing for
    // `dead_after` means a dead path (a silent network change), which no read would report.
    let read = async |stream: &mut futures_util::stream::SplitStream<_>| match tokio::time::timeout(
        dead_after,
        stream.next(),
    )
    .await
    {
        Ok(frame) => Ok(frame),
        Err(_) => Err(format!(
            "nothing from the relay for {} s: the connection is dead, reconnecting",
            dead_after.as_secs_f32()
        )),
    };
    let next = |frame: Option<Result<Message, _>>| -> Result<Option<ToTill>, String> {
        match frame {
            Some(Ok(Message::Text(t))) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| format!("bad frame: {e}")),
            Some(Ok(Message::Close(_))) | None => Err("the relay closed the connection".into()),
            Some(Ok(_)) => Ok(None),
            Some(Err(e)) => Err(format!("websocket: {e}")),
        }
    };
    let send =
        |f: FromTill| Message::Text(serde_json::to_string(&f).expect("frames serialise").into());
    let nonce = loop {
        match next(read(&mut stream).await?)? {
            Some(ToTill::Challenge { nonce }) => break nonce,
            Some(other) => return Err(format!("expected a challenge, got {other:?}")),
            None => continue,
        }
    };
    let mark = Watermark::load(&engine.store()).map_err(|e| e.to_string())?;
    // A watermark of another till (an earlier pairing) says nothing about this one.
    let (resume_after, epoch) = if mark.till == pairing.till {
        (mark.seq, Some(mark.epoch.clone()))
    } else {
        (0, None)
    };
    let key = pairing.key_bytes();
    let hello = FromTill::Hello {
        till: pairing.till.clone(),
        mac: duka_relay_proto::sign(&key, &duka_relay_proto::ws_message(&nonce)),
        proto: duka_relay_proto::PROTOCOL,
        resume_after,
        epoch,
        query: false,
    };
    sink.send(send(hello))
        .await
        .map_err(|e| format!("hello: {e}"))?;
    let (mut last_seq, epoch, resume_from, relay_proto, sync_seq, history) = loop {
        match next(read(&mut stream).await?)? {
            Some(ToTill::Ready {
                last_seq,
                epoch,
                resume_from,
                proto,
                sync_seq,
                history,
            }) => break (last_seq, epoch, resume_from, proto, sync_seq, history),
            Some(ToTill::Error { code, message }) => {
                return Err(format!("refused by the relay ({code}): {message}"));
            }
            Some(other) => return Err(format!("expected ready, got {other:?}")),
            None => continue,
        }
    };
    if let Some((code, message)) =
        duka_relay_proto::protocol_mismatch(duka_relay_proto::PROTOCOL, relay_proto)
    {
        return Err(format!("refused ({code}): {message}"));
    }
    let resync = resume_from < resume_after || Some(epoch.as_str()) != Some(mark.epoch.as_str());
    if resync {
        tracing::warn!(
            resume_after,
            resume_from,
            "the relay re-syncs this till: every message it holds is applied again"
        );
    }
    // From here on the watermark is the relay's run; what it replays is applied (again).
    let mut mark = Watermark {
        till: pairing.till.clone(),
        epoch,
        seq: resume_from,
    };
    mark.save(&mut engine.store()).map_err(|e| e.to_string())?;
    // This till's records: what the relay has decides what goes (see `Store::sync_start`).
    // A sync that fails pauses the sync, never the session: callbacks keep coming.
    let start = engine
        .store()
        .sync_start(&pairing.till, sync_seq, history.as_deref());
    // Paused by an error (a busy database): tried again on the next tick.
    let mut sync_retry = false;
    let (mut sync_sent, sync_status) = match start {
        Err(e) => {
            tracing::error!("sync paused: {e}");
            sync_retry = true;
            (None, SyncStatus::Off)
        }
        Ok(crate::store::sync::SyncStart::Send { after }) => (Some(after), SyncStatus::Sending),
        Ok(crate::store::sync::SyncStart::Restorable) => {
            tracing::warn!(
                sync_seq,
                "the relay holds this till's history and this database has none: restore it (duka relay restore) before selling"
            );
            (None, SyncStatus::Restorable)
        }
        Ok(crate::store::sync::SyncStart::Conflict) => {
            tracing::error!(
                "the relay holds another history under this pairing and this till has its own sales: nothing is synced (pair this till as a new one)"
            );
            (None, SyncStatus::Conflict)
        }
    };
    let mut sync_in_flight: u32 = 0;
    let mut sync_dirty = true;
    // The days whose figures this till must bring up to date on the relay.
    let mut days: std::collections::BTreeSet<chrono::NaiveDate> = if sync_sent.is_some() {
        let mut d = engine.store().outbox_days().unwrap_or_default();
        d.insert(crate::time::today());
        d
    } else {
        Default::default()
    };
    let pending = engine.store().sync_state().map(|s| s.pending).unwrap_or(0);
    set(status, engine, |s| {
        s.connected = true;
        s.applied_seq = mark.seq;
        s.backlog = last_seq.saturating_sub(mark.seq);
        s.last_error = None;
        s.sync = sync_status;
        s.sync_pending = pending;
    });
    // Claims made while the relay was out of reach (attached provisionally) go first, then the
    // receipts of STK payments not claimed yet (so no other till takes them as typed codes).
    // They are sent a batch at a time from the loop below, which keeps reading meanwhile.
    let mut events = engine.subscribe();
    let mut backlog: std::collections::VecDeque<FromTill> = {
        let store = engine.store();
        let mut p = store.pending_claims().map_err(|e| e.to_string())?;
        p.extend(store.unclaimed_stk_receipts().map_err(|e| e.to_string())?);
        // A relay that re-syncs may be a restored or new one that forgot its claims: what the
        // relay gave this till is claimed again (the same till wins its own claims).
        if resync {
            p.extend(store.won_claims().map_err(|e| e.to_string())?);
        }
        p.into_iter().map(claim_frame).collect()
    };
    links.up.send_replace(true);
    let mut waiting: std::collections::HashMap<String, tokio::sync::oneshot::Sender<ClaimAnswer>> =
        std::collections::HashMap::new();
    let mut next_claim: u64 = 0;
    let mut releases = links.releases.lock().await;
    let mut shop_days = links.shop_days.lock().await;
    let mut day_questions: std::collections::HashMap<
        String,
        tokio::sync::oneshot::Sender<Vec<duka_relay_proto::TillDay>>,
    > = std::collections::HashMap::new();
    let mut next_question: u64 = 0;
    let mut sync_tick = tokio::time::interval(opts.sync_every);
    sync_tick.tick().await;
    let mut ping = tokio::time::interval(opts.keepalive);
    ping.tick().await;
    let mut alive_until = tokio::time::Instant::now() + dead_after;
    loop {
        let frame = tokio::select! {
            _ = std::future::ready(()), if sync_dirty && sync_sent.is_some() && sync_in_flight < SYNC_WINDOW => {
                let after = sync_sent.unwrap_or(0);
                let rows = match engine.store().outbox_after(after, SYNC_BATCH, SYNC_BATCH_BYTES) {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::error!("sync paused: {e}");
                        sync_sent = None;
                        sync_retry = true;
                        set(status, engine, |s| s.sync = SyncStatus::Off);
                        continue;
                    }
                };
                let Some(last) = rows.last().map(|r| r.seq) else {
                    sync_dirty = false;
                    continue;
                };
                for r in &rows {
                    days.extend(r.days());
                }
                sync_sent = Some(last);
                sync_in_flight += 1;
                let records = frame_records(rows, last);
                let frame = FromTill::Sync { records };
                sink.send(send(frame)).await.map_err(|e| format!("sync: {e}"))?;
                continue;
            }
            _ = sync_tick.tick() => {
                if sync_retry && sync_in_flight == 0 {
                    // After what this till knows the relay acknowledged (the relay's position
                    // only rises, so nothing is lost by resuming there).
                    if let Ok(state) = engine.store().sync_state()
                        && state.enabled
                        && state.till.as_deref() == Some(pairing.till.as_str())
                    {
                        sync_sent = Some(state.acked);
                        sync_retry = false;
                        sync_dirty = true;
                        set(status, engine, |s| s.sync = SyncStatus::Sending);
                    }
                }
                if sync_sent.is_some() {
                    // Everything sent and committed: the days it touched get their figures.
                    if !days.is_empty() && !sync_dirty && sync_in_flight == 0 {
                        let mut store = engine.store();
                        for d in std::mem::take(&mut days) {
                            if let Err(e) = store.enqueue_day(d) {
                                tracing::error!("the day's figures for the relay: {e}");
                            }
                        }
                    }
                    sync_dirty = true;
                    let pending = engine.store().sync_state().map(|s| s.pending).unwrap_or(0);
                    set(status, engine, |s| s.sync_pending = pending);
                }
                continue;
            }
            Some(req) = shop_days.recv() => {
                next_question += 1;
                let id = format!("d{next_question}");
                day_questions.retain(|_, w| !w.is_closed());
                day_questions.insert(id.clone(), req.reply);
                let frame = FromTill::ShopDay { id, date: req.date.to_string() };
                sink.send(send(frame)).await.map_err(|e| format!("shop day: {e}"))?;
                continue;
            }
            _ = std::future::ready(()), if !backlog.is_empty() => {
                let n = backlog.len().min(CLAIM_BATCH);
                for f in backlog.drain(..n) {
                    sink.send(send(f)).await.map_err(|e| format!("claim: {e}"))?;
                }
                continue;
            }
            Some((key, sale)) = releases.recv() => {
                // A release queued before a reconnect may be stale: this till has used the
                // receipt since (retried, attached provisionally, paid by STK). Then it is kept.
                let holds = engine.store().holds_receipt(&key).map_err(|e| e.to_string())?;
                if !holds {
                    sink.send(send(FromTill::Release { key, sale: sale.to_string() }))
                        .await
                        .map_err(|e| format!("release: {e}"))?;
                }
                continue;
            }
            event = events.recv() => {
                // Any change may have put rows in the outbox.
                sync_dirty = true;
                // An STK payment just paid here: its receipt is claimed for the shop at once.
                let receipt = match event {
                    Ok(CoreEvent::AttemptChanged { attempt }) => match attempt.state {
                        crate::payment::AttemptState::Paid { receipt: Some(r) } => {
                            Some((r, attempt.sale_id, attempt.amount))
                        }
                        _ => None,
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Missed events may have been payments: look in the store instead.
                        let unclaimed = engine
                            .store()
                            .unclaimed_stk_receipts()
                            .map_err(|e| e.to_string())?;
                        backlog.extend(unclaimed.into_iter().map(claim_frame));
                        None
                    }
                    _ => None,
                };
                if let Some((r, sale, shillings)) = receipt {
                    let frame = FromTill::Claim {
                        id: format!("s{sale}"),
                        key: r,
                        sale: sale.to_string(),
                        amount_cents: Some(shillings * 100),
                    };
                    sink.send(send(frame))
                        .await
                        .map_err(|e| format!("claim: {e}"))?;
                }
                continue;
            }
            Some(req) = claims.recv() => {
                next_claim += 1;
                let id = format!("c{next_claim}");
                let frame = FromTill::Claim {
                    id: id.clone(),
                    key: req.key,
                    sale: req.sale.to_string(),
                    amount_cents: Some(req.amount.cents()),
                };
                waiting.retain(|_, w| !w.is_closed());
                waiting.insert(id, req.reply);
                sink.send(send(frame))
                    .await
                    .map_err(|e| format!("claim: {e}"))?;
                continue;
            }
            f = stream.next() => {
                alive_until = tokio::time::Instant::now() + dead_after;
                f
            }
            _ = tokio::time::sleep_until(alive_until) => {
                return Err(format!(
                    "nothing from the relay for {} s: the connection is dead, reconnecting",
                    dead_after.as_secs_f32()
                ));
            }
            _ = ping.tick() => {
                sink.send(Message::Ping(Vec::new().into()))
                    .await
                    .map_err(|e| format!("ping: {e}"))?;
                continue;
            }
        };
        match next(frame)? {
            Some(ToTill::Message {
                seq,
                kind,
                attempt_id,
                body,
            }) => {
                last_seq = last_seq.max(seq);
                if seq > mark.seq {
                    apply(engine, kind, attempt_id.as_deref(), &body)?;
                    mark.seq = seq;
                    mark.save(&mut engine.store()).map_err(|e| e.to_string())?;
                }
                // Acknowledged only after the commit above (a duplicate is acknowledged again).
                sink.send(send(FromTill::Ack { seq }))
                    .await
                    .map_err(|e| format!("ack: {e}"))?;
                set(status, engine, |s| {
                    s.last_message_at = Some(now_ms());
                    s.applied_seq = mark.seq;
                    s.backlog = last_seq.saturating_sub(mark.seq);
                });
            }
            Some(ToTill::Validate { id, body }) => {
                let (code, desc) = engine.validate_c2b(&body);
                let answer = FromTill::Validation {
                    id,
                    result_code: code,
                    result_desc: desc,
                };
                sink.send(send(answer))
                    .await
                    .map_err(|e| format!("validation: {e}"))?;
            }
            Some(ToTill::ClaimResult {
                id,
                key,
                won,
                till,
                till_name,
                sale,
            }) => {
                let owner = crate::store::TakenBy {
                    till,
                    till_name,
                    sale,
                };
                // Committed before anyone is told: a provisional tender becomes final, or
                // stops counting and is flagged.
                let flagged_before = !won && stk_flagged(engine, &key)?;
                let lost = engine
                    .store()
                    .decide_claim(&key, won, &owner)
                    .map_err(|e| format!("committing a claim result: {e}"))?;
                if !won && !flagged_before && stk_flagged(engine, &key)? {
                    tracing::warn!(
                        "an STK receipt of this till was used first on another till: flagged"
                    );
                    engine.publish(CoreEvent::StkReceiptUsedElsewhere {
                        receipt: key.clone(),
                        by: owner.clone(),
                    });
                }
                if let Some(claim) = lost {
                    tracing::warn!(
                        sale = claim.sale_id,
                        "a receipt attached offline was another till's first: flagged for the manager"
                    );
                    engine.publish(CoreEvent::ClaimLost { claim });
                }
                if let Some(w) = waiting.remove(&id) {
                    let _ = w.send(if won {
                        ClaimAnswer::Won
                    } else {
                        ClaimAnswer::Taken(owner)
                    });
                }
            }
            Some(ToTill::Synced { seq }) => {
                // Committed by the relay: those rows leave the outbox (never beyond what this
                // session sent: an acknowledgement covers what it carried, nothing more).
                if let Err(e) = engine
                    .store()
                    .sync_acked(&pairing.till, seq.min(sync_sent.unwrap_or(0)))
                {
                    // Sent again after the next connection: the relay takes a replay as a no-op.
                    tracing::error!("sync: {e}");
                }
                sync_in_flight = sync_in_flight.saturating_sub(1);
                sync_dirty = true;
            }
            Some(ToTill::ShopDay { id, tills, .. }) => {
                if let Some(w) = day_questions.remove(&id) {
                    let _ = w.send(tills);
                }
            }
            // The relay could not answer a question (its store): the question times out, the
            // session goes on.
            Some(ToTill::Error { code, message }) if code == "store" => {
                tracing::warn!("the relay could not answer: {message}");
            }
            Some(ToTill::Error { code, message }) => {
                return Err(format!("relay error ({code}): {message}"));
            }
            Some(_) | None => {}
        }
    }
}

/// Whether this till's STK receipt `key` is flagged as used first on another till.
pub(super) fn stk_flagged(engine: &Engine, key: &str) -> Result<bool, String> {
    engine
        .store()
        .held_receipt_lost(key)
        .map_err(|e| e.to_string())
}

/// Claims sent per turn of the session loop (which reads between turns).
pub(super) const CLAIM_BATCH: usize = 32;

pub(super) fn claim_frame(c: crate::store::PendingClaim) -> FromTill {
    FromTill::Claim {
        id: format!("p{}", c.sale_id),
        key: c.receipt,
        sale: c.sale_id.to_string(),
        amount_cents: Some(c.amount.cents()),
    }
}

/// Applies one message. A message that can never apply (an unknown attempt, a malformed
/// body) is logged and acknowledged; a failure to commit is returned, so it is not
/// acknowledged and comes again after reconnecting.
pub(super) fn apply(
    engine: &Engine,
    kind: Kind,
    attempt: Option<&str>,
    body: &str,
) -> Result<(), String> {
    let result = match kind {
        Kind::Stk => engine
            .apply_callback(body.as_bytes(), attempt, "relay")
            .map(|_| ()),
        Kind::Status => engine
            .apply_status_result(body.as_bytes(), attempt)
            .map(|_| ()),
        Kind::Reversal => engine
            .apply_reversal_result(body.as_bytes(), attempt, "relay")
            .map(|_| ()),
        Kind::Claimed => match serde_json::from_str::<duka_relay_proto::Claimed>(body) {
            Ok(c) if c.released => crate::sale::parse_receipt(&c.key)
                .and_then(|receipt| engine.store().forget_taken(&receipt, &c.till)),
            Ok(c) => crate::sale::parse_receipt(&c.key).and_then(|receipt| {
                let by = crate::store::TakenBy {
                    till: c.till,
                    till_name: c.till_name,
                    sale: c.sale,
                };
                engine.store().learn_taken(&receipt, &by)?;
                engine.publish(CoreEvent::ReceiptTaken { receipt, by });
                Ok(())
            }),
            Err(e) => Err(Error::invalid(
                "claimed",
                "the relay's claimed notice",
                e.to_string(),
            )),
        },
        Kind::C2bConfirm => match daraja::wire::parse_c2b(body.as_bytes()) {
            Ok(p) => engine.record_incoming(&p, body).map(|_| ()),
            Err(e) => Err(Error::invalid(
                "c2b",
                "Daraja's C2B confirmation JSON",
                e.to_string(),
            )),
        },
    };
    match result {
        Ok(()) => Ok(()),
        Err(Error::Db(e)) => Err(format!("committing a relay message: {e}")),
        Err(e) => {
            tracing::warn!(kind = kind.as_str(), "relay message not applied: {e}");
            Ok(())
        }
    }
}
