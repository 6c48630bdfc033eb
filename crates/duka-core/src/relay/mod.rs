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

mod restore;
mod session;
pub use restore::{RestoreSummary, SyncSummary, ask_shop_day, restore, sync_once};
use session::{Links, run};

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
    /// How often the till looks for changes to sync that no event announced (another process
    /// on the same database) and brings its day figures on the relay up to date.
    pub sync_every: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            keepalive: Duration::from_secs(10),
            sync_every: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct RelayStatus {
    pub connected: bool,
    pub last_message_at: Option<Millis>,
    pub applied_seq: u64,
    /// Messages the relay holds for this till that it has not applied yet.
    pub backlog: u64,
    pub last_error: Option<String>,
    /// This till's records on the relay (see [`SyncStatus`]).
    pub sync: SyncStatus,
    /// Changes not yet committed by the relay.
    pub sync_pending: u64,
}

/// Where this till's records stand with the relay.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Not connected yet.
    #[default]
    Off,
    /// Sending (or sent) every change.
    Sending,
    /// The relay holds this till's history and this till has none: restore it
    /// (`duka relay restore`) before selling; nothing is sent meanwhile.
    Restorable,
    /// The relay holds another history under this pairing and this till has its own: nothing
    /// is sent (neither overwrites the other); pair this till as a new one.
    Conflict,
}

/// A running relay client. Dropping it does not stop it; call `stop`.
pub struct RelayClient {
    status: Arc<Mutex<RelayStatus>>,
    stop: tokio::sync::watch::Sender<bool>,
    claims: tokio::sync::mpsc::UnboundedSender<ClaimRequest>,
    releases: tokio::sync::mpsc::UnboundedSender<(String, i64)>,
    shop_days: tokio::sync::mpsc::UnboundedSender<ShopDayRequest>,
    connected: tokio::sync::watch::Receiver<bool>,
}

/// How long a manager's shop-wide view waits for the relay.
pub const SHOP_DAY_WAIT: Duration = Duration::from_secs(5);

struct ShopDayRequest {
    date: chrono::NaiveDate,
    reply: tokio::sync::oneshot::Sender<Vec<duka_relay_proto::TillDay>>,
}

/// How long a till waits for the relay to answer a claim before attaching provisionally.
pub const CLAIM_WAIT: Duration = Duration::from_secs(3);

/// The relay's word on a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAnswer {
    /// The receipt is this till's, for the sale claimed.
    Won,
    /// Another till of the shop has it.
    Taken(crate::store::TakenBy),
    /// No answer (not connected, or not within `CLAIM_WAIT`): attach provisionally.
    NoAnswer,
}

struct ClaimRequest {
    key: String,
    sale: i64,
    amount: crate::Money,
    reply: tokio::sync::oneshot::Sender<ClaimAnswer>,
}

impl RelayClient {
    /// Waits until the relay session is up, at most `timeout` (a one-shot CLI command that
    /// has just started the client). Whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.connected.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Gives back a receipt the relay gave this till for `sale` that it could not use after
    /// all; sent now, or when the connection is back (while this process runs).
    pub fn release(&self, key: &str, sale: i64) {
        let _ = self.releases.send((key.to_string(), sale));
    }

    /// Asks the relay for receipt `key` (normalised) for `sale`; waits at most `CLAIM_WAIT`.
    pub async fn claim(&self, key: &str, sale: i64, amount: crate::Money) -> ClaimAnswer {
        if !self.status().connected {
            return ClaimAnswer::NoAnswer;
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        let req = ClaimRequest {
            key: key.to_string(),
            sale,
            amount,
            reply,
        };
        if self.claims.send(req).is_err() {
            return ClaimAnswer::NoAnswer;
        }
        match tokio::time::timeout(CLAIM_WAIT, rx).await {
            Ok(Ok(a)) => a,
            _ => ClaimAnswer::NoAnswer,
        }
    }

    /// The shop's day from the relay: every till of the shop with the figures it synced for
    /// `date` (this till's own come from its own database: see `crate::shop`).
    pub async fn shop_day(
        &self,
        date: chrono::NaiveDate,
    ) -> crate::Result<Vec<duka_relay_proto::TillDay>> {
        let unreachable = || {
            Error::Config(
                "the relay is out of reach: the shop's day needs it (this till's own day is in the day report)".into(),
            )
        };
        if !self.status().connected {
            return Err(unreachable());
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.shop_days
            .send(ShopDayRequest { date, reply })
            .map_err(|_| unreachable())?;
        match tokio::time::timeout(SHOP_DAY_WAIT, rx).await {
            Ok(Ok(tills)) => Ok(tills),
            _ => Err(unreachable()),
        }
    }

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

/// Runs `write` with the shop-wide claim on `receipt` for `sale` settled first. No relay:
/// `Claim::Local`. Paired: everything is checked first (`Claim::Check`, nothing written), then
/// the relay decides — won, the write is final; taken, it is refused naming the till and sale
/// that have it; no answer, it is written provisionally and the claim goes when the relay is
/// back (a lost race is then flagged: `CoreEvent::ClaimLost`).
pub async fn with_claim<T>(
    engine: &Engine,
    relay: Option<&RelayClient>,
    receipt: &str,
    sale: i64,
    amount: crate::Money,
    write: impl Fn(&mut crate::store::Store, crate::store::Claim) -> crate::Result<T>,
) -> crate::Result<T> {
    use crate::store::Claim;
    let Some(relay) = relay else {
        return write(&mut engine.store(), Claim::Local);
    };
    write(&mut engine.store(), Claim::Check)?;
    let claim = match relay.claim(receipt, sale, amount).await {
        ClaimAnswer::Won => {
            // The relay gave it to us; if the sale changed meanwhile and it cannot be used,
            // it is given back so no till of the shop is refused it for nothing.
            let written = write(&mut engine.store(), Claim::Won);
            if written.is_err() {
                relay.release(receipt, sale);
            }
            return written;
        }
        ClaimAnswer::NoAnswer => Claim::Provisional,
        ClaimAnswer::Taken(by) => {
            // Usually recorded already (with the answer); the check below refuses naming it.
            let mut store = engine.store();
            if store.taken_elsewhere(receipt)?.is_none() {
                store.learn_taken(receipt, &by)?;
            }
            return write(&mut store, Claim::Check);
        }
    };
    write(&mut engine.store(), claim)
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
    let (claims, claims_rx) = tokio::sync::mpsc::unbounded_channel();
    let (releases, releases_rx) = tokio::sync::mpsc::unbounded_channel();
    let (shop_days, shop_days_rx) = tokio::sync::mpsc::unbounded_channel();
    let (up, connected) = tokio::sync::watch::channel(false);
    let links = Links {
        status: status.clone(),
        up,
        releases: tokio::sync::Mutex::new(releases_rx),
        shop_days: tokio::sync::Mutex::new(shop_days_rx),
    };
    tokio::spawn(run(engine, pairing, opts, links, stopped, claims_rx));
    RelayClient {
        status,
        stop,
        claims,
        releases,
        shop_days,
        connected,
    }
}
