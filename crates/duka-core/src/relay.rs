//! The till's end of the relay: one websocket to `duka-relay`, authenticated with the paired
//! key, resuming after the last `seq` this till applied. Every message goes through the
//! engine (STK callbacks, Transaction Status results) or into the incoming-payments inbox
//! (C2B confirmations) and is acknowledged only after that is committed. Reconnects with
//! jittered backoff; the till works without it (polling carries every payment).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use duka_relay_proto::{FromTill, Kind, Pairing, ToTill};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::engine::{CoreEvent, Engine};
use crate::error::Error;
use crate::time::{Millis, now_ms};

/// The setting holding the last `seq` this till applied.
pub const APPLIED_SEQ: &str = "relay_applied_seq";

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RelayStatus {
    pub connected: bool,
    pub last_message_at: Option<Millis>,
    pub applied_seq: u64,
    /// Messages the relay holds for this till that it has not applied yet.
    pub backlog: u64,
    pub last_error: Option<String>,
}

/// A running relay client. Dropping it does not stop it; call `stop`.
pub struct RelayClient {
    status: Arc<Mutex<RelayStatus>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl RelayClient {
    pub fn status(&self) -> RelayStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// `https://relay.example.com` → `wss://relay.example.com/v1/ws`.
pub fn ws_url(relay: &str) -> String {
    let base = relay.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| base.to_string());
    format!("{base}/v1/ws")
}

pub fn spawn(engine: Engine, pairing: Pairing) -> RelayClient {
    let status = Arc::new(Mutex::new(RelayStatus::default()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(run(engine, pairing, status.clone(), stopped));
    RelayClient { status, stop }
}

fn set(status: &Mutex<RelayStatus>, engine: &Engine, f: impl FnOnce(&mut RelayStatus)) {
    let snapshot = {
        let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        s.clone()
    };
    engine.publish(CoreEvent::Relay { status: snapshot });
}

async fn run(
    engine: Engine,
    pairing: Pairing,
    status: Arc<Mutex<RelayStatus>>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        let outcome = tokio::select! {
            r = session(&engine, &pairing, &status) => r,
            _ = stopped.changed() => return,
        };
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
        tokio::select! {
            _ = tokio::time::sleep(base.mul_f64(jitter)) => {}
            _ = stopped.changed() => return,
        }
    }
}

async fn session(
    engine: &Engine,
    pairing: &Pairing,
    status: &Mutex<RelayStatus>,
) -> Result<(), String> {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(&pairing.url))
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let (mut sink, mut stream) = ws.split();
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
        match next(stream.next().await)? {
            Some(ToTill::Challenge { nonce }) => break nonce,
            Some(other) => return Err(format!("expected a challenge, got {other:?}")),
            None => continue,
        }
    };
    let mut applied: u64 = engine
        .store()
        .setting(APPLIED_SEQ)
        .map_err(|e| e.to_string())?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let key = pairing.key_bytes();
    let hello = FromTill::Hello {
        till: pairing.till.clone(),
        mac: duka_relay_proto::sign(&key, &duka_relay_proto::ws_message(&nonce)),
        resume_after: applied,
    };
    sink.send(send(hello))
        .await
        .map_err(|e| format!("hello: {e}"))?;
    let mut last_seq = loop {
        match next(stream.next().await)? {
            Some(ToTill::Ready { last_seq }) => break last_seq,
            Some(ToTill::Error { code, message }) => {
                return Err(format!("refused by the relay ({code}): {message}"));
            }
            Some(other) => return Err(format!("expected ready, got {other:?}")),
            None => continue,
        }
    };
    set(status, engine, |s| {
        s.connected = true;
        s.applied_seq = applied;
        s.backlog = last_seq.saturating_sub(applied);
        s.last_error = None;
    });
    loop {
        match next(stream.next().await)? {
            Some(ToTill::Message {
                seq,
                kind,
                attempt_id,
                body,
            }) => {
                last_seq = last_seq.max(seq);
                if seq > applied {
                    apply(engine, kind, attempt_id.as_deref(), &body)?;
                    engine
                        .store()
                        .set_setting(APPLIED_SEQ, &seq.to_string())
                        .map_err(|e| e.to_string())?;
                    applied = seq;
                }
                // Acknowledged only after the commit above (a duplicate is acknowledged again).
                sink.send(send(FromTill::Ack { seq }))
                    .await
                    .map_err(|e| format!("ack: {e}"))?;
                set(status, engine, |s| {
                    s.last_message_at = Some(now_ms());
                    s.applied_seq = applied;
                    s.backlog = last_seq.saturating_sub(applied);
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
            Some(ToTill::Error { code, message }) => {
                return Err(format!("relay error ({code}): {message}"));
            }
            Some(_) | None => {}
        }
    }
}

/// Applies one message. A message that can never apply (an unknown attempt, a malformed
/// body) is logged and acknowledged; a failure to commit is returned, so it is not
/// acknowledged and comes again after reconnecting.
fn apply(engine: &Engine, kind: Kind, attempt: Option<&str>, body: &str) -> Result<(), String> {
    let result = match kind {
        Kind::Stk => engine
            .apply_callback(body.as_bytes(), attempt, "relay")
            .map(|_| ()),
        Kind::Status => engine
            .apply_status_result(body.as_bytes(), attempt)
            .map(|_| ()),
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
