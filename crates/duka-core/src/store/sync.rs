//! Till → relay sync: the outbox, the till's side of the watermark, and restoring a replaced
//! till from the records the relay kept.
//!
//! Every change to a synced table is copied into `sync_outbox` by a trigger, so it is written
//! in the same transaction as the change whatever code made it (a crash can never keep a sale
//! and lose its outbox row, or the reverse). The triggers are generated from the tables'
//! columns (`install_triggers`, after every migration); a row's JSON carries every column
//! but the PIN columns of `cashiers` (PIN hashes never leave the till: four digits are found
//! from a hash in seconds).
//!
//! While sync is off (no relay, or a relay not reached yet) nothing is recorded: a single till
//! pays nothing for it. When a relay takes this till's records for the first time the whole
//! history is put in the outbox in one transaction ([`Store::sync_start`]), then the relay
//! client sends it in `seq` order and deletes what the relay has committed.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{Error, Result};
use crate::time::Millis;

/// The synced tables, in an order in which their rows can be inserted, with the columns that
/// never leave the till.
pub const SYNCED: &[(&str, &[&str])] = &[
    ("cashiers", &["pin_hash", "pin_failures", "pin_failed_at"]),
    ("products", &[]),
    ("shifts", &[]),
    ("sales", &[]),
    ("sale_lines", &[]),
    ("payment_attempts", &[]),
    ("payment_events", &[]),
    ("tenders", &[]),
    ("c2b_payments", &[]),
    ("receipts_taken", &[]),
    ("lost_claims", &[]),
    ("stk_claims", &[]),
    ("sale_edits", &[]),
    ("drawer_moves", &[]),
    ("refunds", &[]),
    ("refund_lines", &[]),
    ("refund_events", &[]),
    ("stock_moves", &[]),
];

/// The record of a till's day as the till itself counts it (`tbl` of the outbox row; its key
/// is `["YYYY-MM-DD"]`). Not a table: written by the relay client after changes of that day.
pub const DAY_RECORD: &str = "day";

/// The record naming this database's history (key `[]`, body `{"id": …}`).
pub const HISTORY_RECORD: &str = duka_relay_proto::HISTORY_TABLE;

/// The columns that say which days a row is about (a sale paid, a shift opened or closed, a
/// tender taken): with the time of the change itself, the days whose figures it touches.
const DAY_FIELDS: &[&str] = &["created_at", "paid_at", "opened_at", "closed_at", "at"];

/// Figures are brought up to date for the last 31 days, not older ones.
fn days_due_since() -> Millis {
    crate::time::now_ms() - 31 * 86_400_000
}

/// One change on its way to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRow {
    pub seq: u64,
    pub tbl: String,
    pub pk: String,
    /// JSON object of the row; `None`: deleted.
    pub body: Option<String>,
    pub at: Millis,
}

impl OutboxRow {
    /// The Nairobi days whose figures this change touches (as `Store::outbox_days`): the day
    /// it was made and the days its row is about, within the last 31 days.
    pub fn days(&self) -> Vec<NaiveDate> {
        if self.tbl == DAY_RECORD || self.tbl == HISTORY_RECORD {
            return Vec::new();
        }
        let row = self
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
        let since = days_due_since();
        std::iter::once(Some(self.at))
            .chain(
                DAY_FIELDS
                    .iter()
                    .map(|f| row.as_ref().and_then(|v| v[*f].as_i64())),
            )
            .flatten()
            .filter(|t| *t >= since)
            .map(crate::time::nairobi_date)
            .collect()
    }
}

/// Where this till's sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct SyncState {
    pub enabled: bool,
    /// The relay till the records go to.
    pub till: Option<String>,
    /// The highest `seq` the relay has committed.
    pub acked: u64,
    /// Changes waiting to go.
    pub pending: u64,
    /// This database's history (see migration 0009).
    pub history: String,
}

/// What the till does with the relay's records after connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStart {
    /// Send the outbox after this `seq`.
    Send { after: u64 },
    /// The relay holds a history for this till and this till has none: it is a replacement
    /// and can take that history back (`duka relay restore`); nothing is sent meanwhile.
    Restorable,
    /// The relay holds another history under this pairing and this till has its own sales:
    /// nothing is sent (neither may overwrite the other).
    Conflict,
}

struct Table {
    name: &'static str,
    cols: Vec<String>,
    pk: Vec<String>,
}

fn tables(c: &rusqlite::Connection) -> Result<Vec<Table>> {
    let mut out = Vec::with_capacity(SYNCED.len());
    for (name, skip) in SYNCED {
        let mut st = c.prepare(&format!("PRAGMA table_info({name})"))?;
        let mut cols = Vec::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)?)))?;
        for row in rows {
            let (col, pk_pos) = row?;
            if pk_pos > 0 {
                pk.push((pk_pos, col.clone()));
            }
            if !skip.contains(&col.as_str()) {
                cols.push(col);
            }
        }
        if cols.is_empty() || pk.is_empty() {
            return Err(Error::Config(format!(
                "sync: table {name} has no columns or no primary key"
            )));
        }
        pk.sort();
        out.push(Table {
            name,
            cols,
            pk: pk.into_iter().map(|(_, c)| c).collect(),
        });
    }
    Ok(out)
}

fn body_expr(t: &Table, row: &str) -> String {
    let pairs: Vec<String> = t
        .cols
        .iter()
        .map(|c| format!("'{c}', {row}.\"{c}\""))
        .collect();
    format!("json_object({})", pairs.join(", "))
}

fn pk_expr(t: &Table, row: &str) -> String {
    let cols: Vec<String> = t.pk.iter().map(|c| format!("{row}.\"{c}\"")).collect();
    format!("json_array({})", cols.join(", "))
}

const NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";
const ENABLED: &str = "(SELECT enabled FROM sync_state WHERE id = 1) = 1";

/// (Re)creates the outbox triggers of every synced table from its current columns.
pub(crate) fn install_triggers(tx: &Transaction<'_>) -> Result<()> {
    for t in tables(tx)? {
        let name = t.name;
        let mut sql = String::new();
        for (what, row) in [("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")] {
            let body = if what == "delete" {
                "NULL".to_string()
            } else {
                body_expr(&t, row)
            };
            sql.push_str(&format!(
                "DROP TRIGGER IF EXISTS sync_{name}_{what};
                 CREATE TRIGGER sync_{name}_{what} AFTER {what} ON {name} WHEN {ENABLED}
                 BEGIN
                   INSERT INTO sync_outbox (tbl, pk, body, at)
                   VALUES ('{name}', {}, {body}, {NOW_MS});
                 END;\n",
                pk_expr(&t, row)
            ));
        }
        tx.execute_batch(&sql)?;
    }
    Ok(())
}

/// Puts every row of every synced table in the outbox (a till's first sync, or a relay that
/// lost what it had).
fn snapshot(tx: &Transaction<'_>) -> Result<u64> {
    // The history's name first: the relay then knows whose history it holds.
    let mut n = tx.execute(
        &format!(
            "INSERT INTO sync_outbox (tbl, pk, body, at)
             SELECT '{HISTORY_RECORD}', '[]', json_object('id', history), {NOW_MS} FROM sync_state WHERE id = 1"
        ),
        [],
    )? as u64;
    for t in tables(tx)? {
        n += tx.execute(
            &format!(
                "INSERT INTO sync_outbox (tbl, pk, body, at)
                 SELECT '{}', {}, {}, {NOW_MS} FROM {} AS r",
                t.name,
                pk_expr(&t, "r"),
                body_expr(&t, "r"),
                t.name
            ),
            [],
        )? as u64;
    }
    Ok(n)
}

/// The highest relay position a till believes: far beyond any till's count of its changes
/// (a million a day for ten thousand years), below the protocol's 2^53.
pub const PLAUSIBLE_SEQ: u64 = 1 << 52;

/// The whole history again, numbered after `relay_seq`. Deletions not sent yet stay (a
/// snapshot has no rows for what was deleted): they follow it, so the relay's copy of a row
/// deleted here does not outlive the resend.
fn resend_all(tx: &Transaction<'_>, relay_seq: u64) -> Result<()> {
    let deleted: Vec<(String, String)> = {
        let mut st = tx.prepare(&format!(
            "SELECT tbl, pk FROM sync_outbox WHERE body IS NULL AND tbl != '{DAY_RECORD}' ORDER BY seq"
        ))?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    tx.execute("DELETE FROM sync_outbox", [])?;
    raise_sequence(tx, relay_seq)?;
    snapshot(tx)?;
    for (tbl, pk) in deleted {
        tx.execute(
            &format!("INSERT INTO sync_outbox (tbl, pk, body, at) VALUES (?1, ?2, NULL, {NOW_MS})"),
            params![tbl, pk],
        )?;
    }
    Ok(())
}

fn outbox_sequence(tx: &Transaction<'_>) -> Result<u64> {
    Ok(tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'sync_outbox'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0) as u64)
}

/// Moves the outbox numbering to at least `at_least` (new rows get higher seqs).
fn raise_sequence(tx: &Transaction<'_>, at_least: u64) -> Result<()> {
    if outbox_sequence(tx)? >= at_least {
        return Ok(());
    }
    let updated = tx.execute(
        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'sync_outbox'",
        [at_least as i64],
    )?;
    if updated == 0 {
        tx.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('sync_outbox', ?1)",
            [at_least as i64],
        )?;
    }
    Ok(())
}

fn has_history(tx: &rusqlite::Connection) -> Result<bool> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sales) OR EXISTS (SELECT 1 FROM shifts)",
        [],
        |r| r.get(0),
    )?)
}

impl Store {
    pub fn sync_state(&self) -> Result<SyncState> {
        let (enabled, till, acked, history): (bool, Option<String>, i64, String) =
            self.conn.query_row(
                "SELECT enabled, till, acked, history FROM sync_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
        let pending: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sync_outbox", [], |r| r.get(0))?;
        Ok(SyncState {
            enabled,
            till,
            acked: acked as u64,
            pending: pending as u64,
            history,
        })
    }

    /// Decides, in one transaction, what to send to relay till `till` that says it has
    /// committed this till's records up to `relay_seq`:
    /// - a relay new to this till's records: the whole history goes in the outbox;
    /// - a relay that lost records (its `relay_seq` below what it acknowledged): the same;
    /// - a relay ahead of this till's own numbering (this till's database came from a backup):
    ///   the numbering moves past it and the whole history goes again (this till's rows win);
    /// - otherwise everything after what the relay acknowledged follows (again, where an
    ///   acknowledgement was lost: the relay takes a replay as a no-op).
    ///
    /// A relay holding a history this till never sent is a replacement's chance to restore
    /// ([`SyncStart::Restorable`]) or, when this till has sales of its own, a conflict.
    pub fn sync_start(
        &mut self,
        till: &str,
        relay_seq: u64,
        relay_history: Option<&str>,
    ) -> Result<SyncStart> {
        let tx = self.write()?;
        let (enabled, was, acked, history): (bool, Option<String>, i64, String) = tx.query_row(
            "SELECT enabled, till, acked, history FROM sync_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let acked = acked as u64;
        let ours = enabled && was.as_deref() == Some(till);
        if relay_seq > PLAUSIBLE_SEQ {
            // No till numbers that many changes: someone with this till's key forged it.
            // Nothing is sent (a numbering raised there would never fit a frame again).
            tracing::error!(
                relay_seq,
                "sync: the relay's position for this till is beyond any till's numbering: nothing is sent; the relay's operator should give this till a new key"
            );
            return Ok(SyncStart::Conflict);
        }
        let start = if !ours && relay_seq > 0 && relay_history == Some(history.as_str()) {
            // The relay holds this very history: this database is an older copy of itself (a
            // backup from before its first sync). Its numbering moves past the relay's and its
            // whole history goes again: this till's rows win.
            tracing::warn!(
                relay_seq,
                "sync: the relay holds this till's own history from a later copy: sending it again"
            );
            tx.execute(
                "UPDATE sync_state SET enabled = 1, till = ?1, acked = ?2 WHERE id = 1",
                params![till, relay_seq as i64],
            )?;
            resend_all(&tx, relay_seq)?;
            SyncStart::Send { after: relay_seq }
        } else if !ours {
            if relay_seq > 0 {
                let start = if has_history(&tx)? {
                    SyncStart::Conflict
                } else {
                    SyncStart::Restorable
                };
                return Ok(start);
            }
            tx.execute("DELETE FROM sync_outbox", [])?;
            tx.execute(
                "UPDATE sync_state SET enabled = 1, till = ?1, acked = 0 WHERE id = 1",
                [till],
            )?;
            let n = snapshot(&tx)?;
            tracing::info!(records = n, "sync: this till's history goes to the relay");
            SyncStart::Send { after: 0 }
        } else if relay_seq < acked || relay_seq > outbox_sequence(&tx)? {
            tracing::warn!(
                relay_seq,
                acked,
                "sync: the relay's records of this till do not match what it acknowledged: sending the whole history again"
            );
            tx.execute(
                "UPDATE sync_state SET acked = ?1 WHERE id = 1",
                [relay_seq as i64],
            )?;
            resend_all(&tx, relay_seq)?;
            SyncStart::Send { after: relay_seq }
        } else {
            // Only what the relay acknowledged to this till has left the outbox; what it says
            // it has beyond that is sent again (a replay changes nothing there). Its word alone
            // never deletes a row: a forged position would make this till drop unsent ones.
            SyncStart::Send { after: acked }
        };
        tx.commit()?;
        Ok(start)
    }

    /// Outbox rows after `after`, in order: at most `limit` rows or about `max_bytes` of JSON.
    pub fn outbox_after(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<OutboxRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, tbl, pk, body, at FROM sync_outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st.query_map(params![after as i64, limit as i64], |r| {
            Ok(OutboxRow {
                seq: r.get::<_, i64>(0)? as u64,
                tbl: r.get(1)?,
                pk: r.get(2)?,
                body: r.get(3)?,
                at: r.get(4)?,
            })
        })?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for row in rows {
            let row = row?;
            // What the row takes in a frame: its body is escaped again there.
            let size = row.body.as_ref().map_or(0, |b| {
                b.len() + b.bytes().filter(|c| *c == b'"' || *c == b'\\').count()
            }) + row.pk.len() * 2
                + 64;
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(row);
        }
        Ok(out)
    }

    /// The relay committed everything up to `seq`: those rows leave the outbox.
    pub fn sync_acked(&mut self, till: &str, seq: u64) -> Result<()> {
        let tx = self.write()?;
        let n = tx.execute(
            "UPDATE sync_state SET acked = max(acked, ?1) WHERE id = 1 AND till = ?2",
            params![seq as i64, till],
        )?;
        if n == 1 {
            tx.execute("DELETE FROM sync_outbox WHERE seq <= ?1", [seq as i64])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The Nairobi days whose figures the changes waiting in the outbox touch (their day
    /// records are due): the day each change was made, and the days its row is about (a sale
    /// paid, a shift opened, a tender taken: a whole history put in the outbox today is about
    /// many days). At most the last 31 days: older figures are not brought up to date.
    pub fn outbox_days(&self) -> Result<BTreeSet<NaiveDate>> {
        let fields: Vec<String> = DAY_FIELDS
            .iter()
            .map(|f| format!("SELECT '{f}' AS k"))
            .collect();
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT DISTINCT t FROM (
                SELECT at AS t FROM sync_outbox WHERE tbl NOT IN ('{DAY_RECORD}', '{HISTORY_RECORD}')
                UNION SELECT json_extract(body, '$.' || f.k) FROM sync_outbox, ({}) AS f
                WHERE tbl NOT IN ('{DAY_RECORD}', '{HISTORY_RECORD}') AND body IS NOT NULL
            ) WHERE t >= ?1",
            fields.join(" UNION ")
        ))?;
        let times = st.query_map([days_due_since()], |r| r.get::<_, i64>(0))?;
        let mut out = BTreeSet::new();
        for t in times {
            out.insert(crate::time::nairobi_date(t?));
        }
        Ok(out)
    }

    /// Puts this till's own figures for `date` in the outbox (replacing any not sent yet).
    /// Nothing while sync is off.
    pub fn enqueue_day(&mut self, date: NaiveDate) -> Result<()> {
        let enabled: bool =
            self.conn
                .query_row("SELECT enabled FROM sync_state WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        if !enabled {
            return Ok(());
        }
        let day = self.till_day(date)?;
        let body = serde_json::to_string(&day).expect("serialisable");
        let pk = serde_json::to_string(&[date.to_string()]).expect("serialisable");
        let tx = self.write()?;
        tx.execute(
            "DELETE FROM sync_outbox WHERE tbl = ?1 AND pk = ?2",
            params![DAY_RECORD, pk],
        )?;
        tx.execute(
            "INSERT INTO sync_outbox (tbl, pk, body, at) VALUES (?1, ?2, ?3, ?4)",
            params![DAY_RECORD, pk, body, crate::time::now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// This till's day: the day report, the day close and the M-Pesa requests a manager must
    /// look at, exactly as this till shows them.
    pub fn till_day(&self, date: NaiveDate) -> Result<TillDay> {
        Ok(TillDay {
            date,
            report: self.day_report(date)?,
            close: self.day_close(date)?,
            attention: self.attempts_needing_attention()?,
        })
    }

    /// M-Pesa requests not final yet or flagged, newest first (at most 200).
    pub fn attempts_needing_attention(&self) -> Result<Vec<AttemptBrief>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT a.id, a.sale_id, a.state, a.amount, a.phone, a.flag, a.created_at, c.name
             FROM payment_attempts a JOIN cashiers c ON c.id = a.cashier_id
             WHERE a.state IN {} OR a.flag IS NOT NULL
             ORDER BY a.created_at DESC LIMIT 200",
            crate::payment::OPEN_STATES_SQL
        ))?;
        let rows = st.query_map([], |r| {
            let phone: String = r.get(4)?;
            Ok(AttemptBrief {
                id: r.get(0)?,
                sale_id: r.get(1)?,
                state: r.get(2)?,
                amount: r.get(3)?,
                phone: crate::phone::Msisdn::parse(&phone)
                    .map(|m| m.masked())
                    .unwrap_or_default(),
                flag: r.get(5)?,
                created_at: r.get(6)?,
                cashier: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every synced row of every synced table as the outbox writes it (JSON, by key): what a
    /// restored till must have, row for row.
    pub fn synced_rows(&self) -> Result<std::collections::BTreeMap<&'static str, Vec<String>>> {
        let mut out = std::collections::BTreeMap::new();
        for t in tables(&self.conn)? {
            let mut st = self.conn.prepare(&format!(
                "SELECT {} FROM {} AS r ORDER BY {}",
                body_expr(&t, "r"),
                t.name,
                t.pk.iter()
                    .map(|c| format!("r.\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            out.insert(t.name, rows.collect::<rusqlite::Result<_>>()?);
        }
        Ok(out)
    }

    // ---- restoring a replaced till ----

    /// How many sales this till has, and the number the next one gets.
    pub fn sales_count_and_next(&self) -> Result<(i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT count(*), coalesce(max(id), 0) + 1 FROM sales",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Whether a restore from the relay may go into this till: no sales or shifts of its own.
    pub fn restore_allowed(&self) -> Result<()> {
        if has_history(&self.conn)? {
            return Err(Error::invalid(
                "restore",
                "a till with no sales or shifts of its own (restore into a new data directory)",
                "this till already has sales",
            ));
        }
        Ok(())
    }

    /// Makes this till the one it replaces, in one transaction: its staff, products and stock
    /// give way to the old till's records (`records`, in the relay's order), this till syncs to
    /// `till` from `relay_seq` on, and its new changes are numbered after it. All or nothing: a
    /// restore cut off, refused or failing leaves the till as it was (run it again).
    ///
    /// Every table and column name is checked against this till's schema (a record that does
    /// not fit refuses the restore). Rows whose parent never came (the relay's retention
    /// dropped an old sale that a later refund refers to) are left out and counted: a till that
    /// restores most of its history beats one that cannot start. Incoming payments that
    /// reached this PC already stay, merged with the old till's by receipt, and go to the relay.
    pub fn restore_records(
        &mut self,
        records: &[OutboxRow],
        till: &str,
        relay_seq: u64,
    ) -> Result<u64> {
        let tables: HashMap<&'static str, Table> = tables(&self.conn)?
            .into_iter()
            .map(|t| (t.name, t))
            .collect();
        // A row may come before its parent (the relay orders by last change): foreign keys
        // are checked once, at the end, inside the transaction.
        self.conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        let done = self.restore_unchecked(&tables, records, till, relay_seq);
        self.conn.execute_batch("PRAGMA foreign_keys = ON")?;
        done
    }

    fn restore_unchecked(
        &mut self,
        tables: &HashMap<&'static str, Table>,
        records: &[OutboxRow],
        till: &str,
        relay_seq: u64,
    ) -> Result<u64> {
        if relay_seq == 0
            || !records
                .iter()
                .any(|r| r.tbl == "cashiers" && r.body.is_some())
        {
            return Err(Error::invalid(
                "restore",
                "a relay holding this till's history (its staff at least)",
                "no records of this till on the relay: nothing was changed",
            ));
        }
        if relay_seq > PLAUSIBLE_SEQ {
            return Err(Error::invalid(
                "restore",
                "a relay position within a till's numbering",
                relay_seq.to_string(),
            ));
        }
        let tx = self.write()?;
        if has_history(&tx)? {
            return Err(Error::invalid(
                "restore",
                "a till with no sales or shifts of its own (restore into a new data directory)",
                "this till already has sales",
            ));
        }
        tx.execute("UPDATE sync_state SET enabled = 0 WHERE id = 1", [])?;
        for t in ["stock_moves", "drawer_moves", "products", "cashiers"] {
            tx.execute(&format!("DELETE FROM {t}"), [])?;
        }
        // A record that does not fit (an unknown table, not JSON, breaking a rule of the
        // schema: forged, or from a newer Duka) is left out and counted rather than refusing
        // the whole restore: one bad record must not keep a replacement from starting for
        // ever. Unknown columns are not written (PIN columns among them).
        let mut left_out = 0u64;
        for rec in records {
            let Some(body) = &rec.body else { continue };
            if rec.tbl == DAY_RECORD {
                continue;
            }
            if rec.tbl == HISTORY_RECORD {
                // The replacement carries on the old till's history.
                match serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_string))
                    .filter(|id| (1..=64).contains(&id.len()))
                {
                    Some(id) => {
                        tx.execute("UPDATE sync_state SET history = ?1 WHERE id = 1", [id])?;
                    }
                    None => left_out += 1,
                }
                continue;
            }
            let Some(t) = tables.get(rec.tbl.as_str()) else {
                tracing::warn!(table = %rec.tbl, "restore: a record of no table of this till, left out");
                left_out += 1;
                continue;
            };
            let Ok(row) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(body)
            else {
                tracing::warn!(table = %rec.tbl, "restore: a record that is not a JSON object, left out");
                left_out += 1;
                continue;
            };
            let mut cols = Vec::with_capacity(row.len());
            let mut vals: Vec<rusqlite::types::Value> = Vec::with_capacity(row.len());
            for (k, v) in row {
                if !t.cols.contains(&k) {
                    continue;
                }
                use rusqlite::types::Value as V;
                vals.push(match v {
                    serde_json::Value::Null => V::Null,
                    serde_json::Value::Bool(b) => V::Integer(b as i64),
                    serde_json::Value::Number(n) => match n.as_i64() {
                        Some(i) => V::Integer(i),
                        None => V::Real(n.as_f64().unwrap_or(0.0)),
                    },
                    serde_json::Value::String(s) => V::Text(s),
                    other => V::Text(other.to_string()),
                });
                cols.push(format!("\"{k}\""));
            }
            if cols.is_empty() {
                left_out += 1;
                continue;
            }
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            tx.execute_batch("SAVEPOINT record")?;
            let written = tx
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
                    t.name,
                    cols.join(", "),
                    marks.join(", ")
                ))
                .and_then(|mut st| st.execute(rusqlite::params_from_iter(vals)));
            match written {
                Ok(_) => tx.execute_batch("RELEASE record")?,
                Err(e) => {
                    tracing::warn!(table = %rec.tbl, "restore: a record this till's schema refuses ({e}), left out");
                    tx.execute_batch("ROLLBACK TO record; RELEASE record")?;
                    left_out += 1;
                }
            }
        }
        let dropped = drop_orphans(&tx)? + left_out;
        let broken: Option<(String, i64)> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((table, row)) = broken {
            return Err(Error::invalid(
                "restore",
                "records that hold together",
                format!("{table} row {row} refers to a record that is not there"),
            ));
        }
        tx.execute("DELETE FROM sync_outbox", [])?;
        raise_sequence(&tx, relay_seq)?;
        tx.execute(
            "UPDATE sync_state SET enabled = 1, till = ?1, acked = ?2 WHERE id = 1",
            params![till, relay_seq as i64],
        )?;
        // What this PC had of its own and kept goes to the relay, numbered after its history.
        for t in local::kept(tables) {
            tx.execute(
                &format!(
                    "INSERT INTO sync_outbox (tbl, pk, body, at)
                     SELECT '{}', {}, {}, {NOW_MS} FROM {} AS r",
                    t.name,
                    pk_expr(t, "r"),
                    body_expr(t, "r"),
                    t.name
                ),
                [],
            )?;
        }
        tx.commit()?;
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "restore: records whose parent the relay no longer keeps were left out"
            );
        }
        Ok(dropped)
    }
}

mod local {
    use super::Table;
    use std::collections::HashMap;

    /// The tables a restore keeps this PC's rows of (merged with the old till's by key).
    pub(super) fn kept<'a>(all: &'a HashMap<&'static str, Table>) -> Vec<&'a Table> {
        ["c2b_payments", "receipts_taken"]
            .iter()
            .filter_map(|n| all.get(n))
            .collect()
    }
}

/// Deletes rows whose parent row is not there, again until none goes; returns how many.
/// `payment_events` is append-only (its triggers refuse a delete): its guard is lifted for
/// this transaction only.
fn drop_orphans(tx: &Transaction<'_>) -> Result<u64> {
    let mut fks = Vec::new();
    for (name, _) in SYNCED {
        let mut st = tx.prepare(
            "SELECT \"table\", \"from\", coalesce(\"to\", 'rowid') FROM pragma_foreign_key_list(?1)",
        )?;
        let rows = st.query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (parent, from, to) = row?;
            let not_null: bool = tx.query_row(
                "SELECT \"notnull\" FROM pragma_table_info(?1) WHERE name = ?2",
                params![name, from],
                |r| r.get(0),
            )?;
            fks.push((*name, parent, from, to, not_null));
        }
    }
    tx.execute_batch("DROP TRIGGER payment_events_no_delete;")?;
    let mut dropped = 0u64;
    for _ in 0..SYNCED.len() + 1 {
        let mut round = 0;
        for (child, parent, from, to, not_null) in &fks {
            // A row that cannot be without its parent goes; one that only points at it (a
            // line's product, a tender's request) stays, pointing at nothing.
            let orphaned = format!(
                "\"{from}\" IS NOT NULL AND \"{from}\" NOT IN (SELECT \"{to}\" FROM {parent})"
            );
            round += if *not_null {
                tx.execute(&format!("DELETE FROM {child} WHERE {orphaned}"), [])?
            } else {
                tx.execute(
                    &format!("UPDATE {child} SET \"{from}\" = NULL WHERE {orphaned}"),
                    [],
                )?
            } as u64;
        }
        dropped += round;
        if round == 0 {
            break;
        }
    }
    tx.execute_batch(
        "CREATE TRIGGER payment_events_no_delete BEFORE DELETE ON payment_events
         BEGIN SELECT RAISE(ABORT, 'payment_events is append-only'); END;",
    )?;
    Ok(dropped)
}

/// An M-Pesa request a manager must look at (not final, or flagged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct AttemptBrief {
    pub id: String,
    pub sale_id: i64,
    pub state: String,
    /// Whole shillings.
    pub amount: i64,
    /// Masked.
    pub phone: String,
    pub flag: Option<String>,
    pub created_at: Millis,
    pub cashier: String,
}

/// One till's day as it counts it (the `day` record it syncs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct TillDay {
    pub date: NaiveDate,
    pub report: super::DayReport,
    pub close: super::DayClose,
    pub attention: Vec<AttemptBrief>,
}

#[cfg(test)]
mod tests;
