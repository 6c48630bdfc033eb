//! `LISTEN duka_relay` on a connection of its own: each notification (`till:seq` pairs, comma
//! separated, sent by the committer of any process in the transaction that stored them)
//! becomes a [`Wake`] for the relay's sessions. When the connection is lost it is made again,
//! and then every connected till replays from the store (`Wake::All`), so a notification
//! missed meanwhile costs nothing. A connection that stops answering is noticed by a query
//! every few seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{CHANNEL, SHARED_CHANNEL, describe};
use crate::store::{Shared, Wake};

/// A `Shared` event on the wire, with the process that sent it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Envelope {
    pub(super) from: String,
    #[serde(flatten)]
    pub(super) event: Shared,
}

/// A shared-channel payload from another process as a wake (`None`: this process's own, or
/// not one this build reads).
pub(crate) fn parse_shared(payload: &str, own_tag: &str) -> Option<Wake> {
    let e: Envelope = serde_json::from_str(payload).ok()?;
    if e.from == own_tag {
        return None;
    }
    Some(match e.event {
        Shared::Validate { shop, id, body } => Wake::Validate { shop, id, body },
        Shared::Validation {
            id,
            result_code,
            result_desc,
        } => Wake::Validation {
            id,
            result_code,
            result_desc,
        },
    })
}

/// Parses one payload; anything malformed is skipped (a payload never stops the listener).
pub(crate) fn parse(payload: &str) -> Vec<Wake> {
    payload
        .split(',')
        .filter_map(|item| {
            let (till, seq) = item.split_once(':')?;
            let seq = seq.parse().ok()?;
            (!till.is_empty()).then(|| Wake::Till {
                till: till.to_string(),
                seq,
            })
        })
        .collect()
}

/// The listening connection's `application_name`.
pub const LISTENER_NAME: &str = "duka-relay listen";

pub(super) async fn run(
    config: tokio_postgres::Config,
    tag: String,
    wakes: mpsc::UnboundedSender<Wake>,
    own_pid: Arc<AtomicI32>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen_once(&config, &tag, &wakes, &own_pid).await {
            Ok(()) => return, // nobody wants wakes any more
            Err(e) => {
                tracing::warn!(
                    "LISTEN on {}: {e}; listening again in {backoff:?}",
                    describe(&config)
                );
            }
        }
        if wakes.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// What went wrong, with the server's message when it sent one.
fn message(e: tokio_postgres::Error) -> String {
    crate::Error::from(e).to_string()
}

/// Listens until the connection fails (`Err`) or the receiver is gone (`Ok`).
async fn listen_once(
    config: &tokio_postgres::Config,
    tag: &str,
    wakes: &mpsc::UnboundedSender<Wake>,
    own_pid: &Arc<AtomicI32>,
) -> Result<(), String> {
    let own_pid = own_pid.clone();
    let mut config = config.clone();
    // Named, for pg_stat_activity (and for the test that cuts this connection).
    config.application_name(LISTENER_NAME);
    let (client, mut conn) = config.connect(NoTls).await.map_err(message)?;
    // (channel, payload) of each notification, or why the connection ended.
    let (ntx, mut nrx) = mpsc::unbounded_channel::<Result<(bool, String), String>>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let shared = n.channel() == SHARED_CHANNEL;
                    // This process's own commits: its sessions were handed those already.
                    let own = own_pid.load(Ordering::Relaxed);
                    if !shared && own != 0 && n.process_id() == own {
                        continue;
                    }
                    if ntx.send(Ok((shared, n.payload().to_string()))).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = ntx.send(Err(message(e)));
                    return;
                }
            }
        }
        let _ = ntx.send(Err("connection closed".into()));
    });
    let result = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {SHARED_CHANNEL}"))
            .await
            .map_err(message)?;
        // Listening from here on; whatever was stored before is in the store.
        if wakes.send(Wake::All).is_err() {
            return Ok(());
        }
        let mut check = tokio::time::interval(Duration::from_secs(5));
        check.tick().await;
        loop {
            tokio::select! {
                n = nrx.recv() => match n {
                    Some(Ok((false, payload))) => {
                        for w in parse(&payload) {
                            if wakes.send(w).is_err() {
                                return Ok(());
                            }
                        }
                    }
                    Some(Ok((true, payload))) => {
                        if let Some(w) = parse_shared(&payload, tag)
                            && wakes.send(w).is_err()
                        {
                            return Ok(());
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Err("connection closed".into()),
                },
                _ = check.tick() => {
                    match tokio::time::timeout(Duration::from_secs(5), client.simple_query("SELECT 1")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(message(e)),
                        Err(_) => return Err("no answer for 5 s".into()),
                    }
                    if wakes.is_closed() {
                        return Ok(());
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_and_nonsense_is_skipped() {
        assert_eq!(
            parse("ab12:7,cd34:1"),
            vec![
                Wake::Till {
                    till: "ab12".into(),
                    seq: 7
                },
                Wake::Till {
                    till: "cd34".into(),
                    seq: 1
                }
            ]
        );
        assert!(parse("").is_empty());
        assert_eq!(parse(":1,x,y:z,ok:2,ok:-1").len(), 1);
    }

    #[test]
    fn shared_events_round_trip_and_a_processs_own_are_skipped() {
        let e = Envelope {
            from: "p1".into(),
            event: Shared::Validation {
                id: "ab".into(),
                result_code: "0".into(),
                result_desc: "Accepted".into(),
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            parse_shared(&text, "p2"),
            Some(Wake::Validation {
                id: "ab".into(),
                result_code: "0".into(),
                result_desc: "Accepted".into()
            })
        );
        assert_eq!(parse_shared(&text, "p1"), None, "its own");
        assert_eq!(parse_shared("{not json", "p2"), None);
        assert_eq!(
            parse_shared("{\"from\":\"p3\",\"t\":\"later\"}", "p2"),
            None
        );
    }
}
