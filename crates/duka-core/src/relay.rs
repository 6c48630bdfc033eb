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

/// The setting holding the watermark: `till:epoch:seq`, the last `seq` this till applied from
/// the relay's numbering run `epoch`. A watermark of another till (a new pairing) or another
/// run (a restored or new relay) is not trusted: the relay re-syncs and the till re-applies
/// idempotently.
pub const WATERMARK: &str = "relay_watermark";

/// The last message applied from the relay, and the numbering run it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermark {
    pub till: String,
    pub epoch: String,
    pub seq: u64,
}

impl Watermark {
    /// Reads the setting; anything unreadable is "nothing applied" (the relay then replays).
    pub fn parse(s: &str) -> Watermark {
        let mut it = s.splitn(3, ':');
        match (it.next(), it.next(), it.next().and_then(|n| n.parse().ok())) {
            (Some(till), Some(epoch), Some(seq)) => Watermark {
                till: till.into(),
                epoch: epoch.into(),
                seq,
            },
            _ => Watermark::default(),
        }
    }

    pub fn load(store: &crate::store::Store) -> crate::Result<Watermark> {
        Ok(store
            .setting(WATERMARK)?
            .map(|s| Watermark::parse(&s))
            .unwrap_or_default())
    }

    pub fn save(&self, store: &mut crate::store::Store) -> crate::Result<()> {
        store.set_setting(
            WATERMARK,
            &format!("{}:{}:{}", self.till, self.epoch, self.seq),
        )
    }
}

/// How the till keeps the connection honest.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// The till pings this often; a connection on which nothing at all (not even the pong)
    /// arrives for `3 × keepalive` is dead and is replaced.
    pub keepalive: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            keepalive: Duration::from_secs(10),
        }
    }
}

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
    spawn_with(engine, pairing, RelayOptions::default())
}

pub fn spawn_with(engine: Engine, pairing: Pairing, opts: RelayOptions) -> RelayClient {
    let status = Arc::new(Mutex::new(RelayStatus::default()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(run(engine, pairing, opts, status.clone(), stopped));
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
    opts: RelayOptions,
    status: Arc<Mutex<RelayStatus>>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        let outcome = tokio::select! {
            r = session(&engine, &pairing, &opts, &status) => r,
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
    opts: &RelayOptions,
    status: &Mutex<RelayStatus>,
) -> Result<(), String> {
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
    };
    sink.send(send(hello))
        .await
        .map_err(|e| format!("hello: {e}"))?;
    let (mut last_seq, epoch, resume_from) = loop {
        match next(read(&mut stream).await?)? {
            Some(ToTill::Ready {
                last_seq,
                epoch,
                resume_from,
            }) => break (last_seq, epoch, resume_from),
            Some(ToTill::Error { code, message }) => {
                return Err(format!("refused by the relay ({code}): {message}"));
            }
            Some(other) => return Err(format!("expected ready, got {other:?}")),
            None => continue,
        }
    };
    if resume_from < resume_after || Some(epoch.as_str()) != Some(mark.epoch.as_str()) {
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
    set(status, engine, |s| {
        s.connected = true;
        s.applied_seq = mark.seq;
        s.backlog = last_seq.saturating_sub(mark.seq);
        s.last_error = None;
    });
    let mut ping = tokio::time::interval(opts.keepalive);
    ping.tick().await;
    let mut alive_until = tokio::time::Instant::now() + dead_after;
    loop {
        let frame = tokio::select! {
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
