//! Updates lose nothing: a database written by the previous release's schema (migrations up to
//! 0008_voided_by, before 0009_sync_outbox) opens with this `Store`, is migrated on that first
//! start, and keeps every row, with the new columns at their defaults.

use super::*;
use crate::sale::SaleStatus;

/// The release before this one: migrations 0001 to 0008.
const PREVIOUS: usize = 8;

/// A shop's day as the previous release wrote it: staff, products with stock, a closed and an
/// open shift, sales paid in cash, by STK push and by a typed code, a discounted one, a parked
/// one, a voided one, M-Pesa attempts (paid, cancelled, unknown) with their event log, a cash
/// refund and an M-Pesa reversal, drawer moves, stock moves, an incoming C2B payment, a sale's
/// corrections and settings. Columns and values as that release's code wrote them.
const FIXTURE: &str = r#"
INSERT INTO cashiers (id, name, role, pin_hash, active, created_at, pin_failures, pin_failed_at) VALUES
  (1, 'Achieng', 'manager', :pin, 1, 1790000000000, 0, NULL),
  (2, 'Kamau', 'cashier', :pin, 1, 1790000001000, 2, 1790000500000);
INSERT INTO products (id, name, price_cents, barcode, sku, active, created_at, updated_at, stock_qty, low_stock) VALUES
  (1, 'Sugar 1kg', 15000, '6001001', 'SUG1', 1, 1790000000000, 1790000000000, 38, 5),
  (2, 'Bread', 6500, '6001002', NULL, 1, 1790000000000, 1790000000000, NULL, NULL),
  (3, 'Cooking oil, 1L', 138050, '6001005', NULL, 0, 1790000000000, 1790000100000, 4, 2);
INSERT INTO shifts (id, cashier_id, opened_at, float_cents, closed_at, closed_by, counted_cents, expected_cents) VALUES
  (1, 2, 1790001000000, 100000, 1790030000000, 1, 163000, 163500),
  (2, 2, 1790086400000, 50000, NULL, NULL, NULL, NULL);
INSERT INTO sales (id, status, cashier_id, total_cents, created_at, updated_at, paid_at, voided_at, shift_id, discount_spec, discount_cents, discount_by, parked_at, void_reason) VALUES
  (1, 'paid', 2, 36500, 1790002000000, 1790002010000, 1790002010000, NULL, 1, NULL, 0, NULL, NULL, NULL),
  (2, 'paid', 2, 30000, 1790003000000, 1790003050000, 1790003050000, NULL, 1, NULL, 0, NULL, NULL, NULL),
  (3, 'paid', 2, 27000, 1790004000000, 1790004020000, 1790004020000, NULL, 1, 'percent:1000', 3000, 1, NULL, NULL),
  (4, 'voided', 2, 6500, 1790005000000, 1790005100000, NULL, 1790005100000, 1, NULL, 0, NULL, NULL, 'customer left'),
  (5, 'open', 2, 15000, 1790087000000, 1790087000000, NULL, NULL, 2, NULL, 0, NULL, 1790087100000, NULL),
  (6, 'awaiting_payment', 2, 13000, 1790088000000, 1790088050000, NULL, NULL, 2, NULL, 0, NULL, NULL, NULL),
  (7, 'paid', 1, 138050, 1790006000000, 1790006060000, 1790006060000, NULL, 1, NULL, 0, NULL, NULL, NULL);
INSERT INTO sale_lines (sale_id, line_no, product_id, description, unit_price_cents, quantity, total_cents, discount_spec, discount_cents, discount_by) VALUES
  (1, 1, 1, 'Sugar 1kg', 15000, 2, 30000, NULL, 0, NULL),
  (1, 2, 2, 'Bread', 6500, 1, 6500, NULL, 0, NULL),
  (2, 1, 1, 'Sugar 1kg', 15000, 2, 30000, NULL, 0, NULL),
  (3, 1, 1, 'Sugar 1kg', 15000, 2, 30000, NULL, 0, NULL),
  (4, 1, 2, 'Bread', 6500, 1, 6500, NULL, 0, NULL),
  (5, 1, 1, 'Sugar 1kg', 15000, 1, 15000, NULL, 0, NULL),
  (6, 1, 2, 'Bread', 6500, 2, 13000, NULL, 0, NULL),
  (7, 1, 3, 'Cooking oil, 1L', 138050, 1, 138050, 'amount:0', 0, NULL);
INSERT INTO payment_attempts (id, sale_id, phone, amount, state, checkout_request_id, merchant_request_id, result_code, result_desc, receipt, flag, cashier_id, created_at, updated_at, finalized_at, follow) VALUES
  ('0a1b2c3d4e5f60718293a4b5c6d7e8f9', 2, '254708374149', 300, 'failed', 'ws_CO_191220191020363925', '29115-34620561-1', '1032', 'Request cancelled by user', NULL, NULL, 2, 1790003000500, 1790003020000, 1790003020000, 0),
  ('1a1b2c3d4e5f60718293a4b5c6d7e8f9', 2, '254708374149', 300, 'paid', 'ws_CO_191220191020363926', '29115-34620561-2', '0', 'The service request is processed successfully.', 'UKN1234567', NULL, 2, 1790003030000, 1790003050000, 1790003050000, 0),
  ('2a1b2c3d4e5f60718293a4b5c6d7e8f9', 6, '254712345678', 130, 'unknown', 'ws_CO_191220191020363927', '29115-34620561-3', NULL, NULL, NULL, NULL, 2, 1790088010000, 1790088050000, NULL, 1);
INSERT INTO payment_events (id, attempt_id, at, source, event, outcome, from_state, to_state, detail) VALUES
  (1, '0a1b2c3d4e5f60718293a4b5c6d7e8f9', 1790003000500, 'engine', 'created', 'changed', '', 'created', '{"amount":300,"phone":"2547•••••149"}'),
  (2, '0a1b2c3d4e5f60718293a4b5c6d7e8f9', 1790003001000, 'engine', 'push_accepted', 'changed', 'created', 'pending', '{"checkout_id":"ws_CO_191220191020363925"}'),
  (3, '0a1b2c3d4e5f60718293a4b5c6d7e8f9', 1790003020000, 'callback', 'result', 'changed', 'pending', 'failed', '{"code":"1032"}'),
  (4, '1a1b2c3d4e5f60718293a4b5c6d7e8f9', 1790003030000, 'engine', 'created', 'changed', '', 'created', '{"amount":300,"phone":"2547•••••149"}'),
  (5, '1a1b2c3d4e5f60718293a4b5c6d7e8f9', 1790003031000, 'engine', 'push_accepted', 'changed', 'created', 'pending', '{"checkout_id":"ws_CO_191220191020363926"}'),
  (6, '1a1b2c3d4e5f60718293a4b5c6d7e8f9', 1790003050000, 'query', 'result', 'changed', 'pending', 'paid', '{"code":"0","receipt":"UKN1234567"}'),
  (7, '2a1b2c3d4e5f60718293a4b5c6d7e8f9', 1790088010000, 'engine', 'created', 'changed', '', 'created', '{"amount":130,"phone":"2547•••••678"}'),
  (8, '2a1b2c3d4e5f60718293a4b5c6d7e8f9', 1790088050000, 'engine', 'deadline', 'changed', 'pending', 'unknown', '{}');
INSERT INTO tenders (id, sale_id, kind, amount_cents, tendered_cents, change_cents, attempt_id, receipt, verified, cashier_id, created_at, claim, shift_id) VALUES
  (1, 1, 'cash', 36500, 50000, 13500, NULL, NULL, 0, 2, 1790002010000, NULL, 1),
  (2, 2, 'mpesa_stk', 30000, NULL, 0, '1a1b2c3d4e5f60718293a4b5c6d7e8f9', 'UKN1234567', 1, 2, 1790003050000, NULL, 1),
  (3, 3, 'mpesa_code', 27000, NULL, 0, NULL, 'QKM0FXE6RK', 0, 2, 1790004020000, 'won', 1),
  (4, 7, 'cash', 100000, 100000, 0, NULL, NULL, 0, 1, 1790006030000, NULL, 1),
  (5, 7, 'mpesa_code', 38050, NULL, 0, NULL, 'QKM0FXE6RL', 1, 1, 1790006060000, NULL, 1);
INSERT INTO refunds (id, sale_id, shift_id, kind, amount_cents, reason, cashier_id, state, original_receipt, conversation_id, result_code, result_desc, receipt, verified, flag, created_at, updated_at) VALUES
  (1, 1, 1, 'cash', 6500, 'stale bread', 1, 'done', NULL, NULL, NULL, NULL, NULL, 0, NULL, 1790007000000, 1790007000000),
  (2, 2, 1, 'mpesa', 15000, 'wrong sugar', 1, 'reversed', 'UKN1234567', 'AG_20191219_00004e48cf7e3533f581', '0', 'The service request is processed successfully.', 'SKE1AB2CD3', 1, NULL, 1790008000000, 1790008090000);
INSERT INTO refund_lines (refund_id, line_no, quantity, amount_cents, restock) VALUES
  (1, 2, 1, 6500, 0),
  (2, 1, 1, 15000, 1);
INSERT INTO refund_events (id, refund_id, at, source, event, from_state, to_state, detail) VALUES
  (1, 1, 1790007000000, 'cashier', 'cash', '', 'done', '{}'),
  (2, 2, 1790008000000, 'engine', 'requested', '', 'requested', '{}'),
  (3, 2, 1790008001000, 'engine', 'accepted', 'requested', 'accepted', '{"conversation_id":"AG_20191219_00004e48cf7e3533f581"}'),
  (4, 2, 1790008090000, 'result', 'reversed', 'accepted', 'reversed', '{"receipt":"SKE1AB2CD3"}');
INSERT INTO drawer_moves (id, shift_id, kind, amount_cents, reason, cashier_id, at) VALUES
  (1, 1, 'pay_out', 12000, 'porter', 1, 1790009000000),
  (2, 1, 'cash_in', 20000, 'change from the bank', 2, 1790009500000),
  (3, NULL, 'open', 0, 'checked the float', 1, 1790040000000);
INSERT INTO stock_moves (id, product_id, delta, kind, ref, reason, cashier_id, at) VALUES
  (1, 1, 40, 'count', NULL, 'delivery', 1, 1790000500000),
  (2, 1, -2, 'sale', 1, NULL, 2, 1790002010000),
  (3, 1, 1, 'refund', 2, NULL, 1, 1790008090000),
  (4, 1, -1, 'edit', 5, NULL, 2, 1790087050000);
INSERT INTO sale_edits (id, sale_id, at, cashier_id, action, line_no, description, before_qty, after_qty, total_before_cents, total_after_cents) VALUES
  (1, 5, 1790087050000, 2, 'quantity', 1, 'Sugar 1kg', 2, 1, 30000, 15000);
INSERT INTO c2b_payments (trans_id, amount_cents, msisdn, bill_ref, payer_name, trans_time, received_at, sale_id, raw) VALUES
  ('RKTQDLKKM9', 50000, '2547•••••149', 'invoice 7', 'JOHN DOE', '20261121104500', 1790010000000, NULL, '{"TransID":"RKTQDLKKM9"}');
INSERT INTO receipts_taken (receipt, till, till_name, sale, learned_at) VALUES
  ('QKM0FXE6RZ', 'till-b', 'Counter 2', '41', 1790011000000);
INSERT INTO settings (key, value) VALUES
  ('shop_name', 'Mama Mboga'), ('environment', 'sandbox'), ('shortcode', '174379'),
  ('discount_limit', '15'), ('printer', '192.168.1.50:9100');
"#;

/// Every table's columns.
fn columns(c: &Connection) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let cols = c
                .prepare(&format!(
                    "SELECT name FROM pragma_table_info('{t}') ORDER BY cid"
                ))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            (t, cols)
        })
        .collect()
}

/// A table's rows, reading only `cols`, sorted.
fn rows(c: &Connection, table: &str, cols: &[String]) -> Vec<String> {
    let list = cols
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut st = c
        .prepare(&format!("SELECT {list} FROM \"{table}\""))
        .unwrap();
    let mut out: Vec<String> = st
        .query_map([], |r| {
            let row: Vec<rusqlite::types::Value> = (0..cols.len())
                .map(|i| r.get(i))
                .collect::<rusqlite::Result<_>>()?;
            Ok(format!("{row:?}"))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    out.sort();
    out
}

fn pin_hash(pin: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    argon2::Argon2::default()
        .hash_password(pin.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

#[test]
fn a_database_of_the_previous_release_migrates_on_first_start_with_nothing_lost() {
    assert_eq!(
        SCHEMA_VERSION as usize,
        PREVIOUS + 1,
        "update PREVIOUS with each release"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("duka.db");
    let old = create_at_version(&path, PREVIOUS).unwrap();
    let pin = pin_hash("1234");
    let mut sql = FIXTURE.replace(":pin", &format!("'{pin}'"));
    sql.insert_str(0, "PRAGMA foreign_keys = ON; BEGIN;");
    sql.push_str("COMMIT;");
    old.execute_batch(&sql).unwrap();
    let fk: i64 = old
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "the fixture is a consistent database");
    let version: i64 = old
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, PREVIOUS as i64);
    let before_cols = columns(&old);
    let before: Vec<Vec<String>> = before_cols
        .iter()
        .map(|(t, cols)| rows(&old, t, cols))
        .collect();
    assert!(
        before_cols
            .iter()
            .zip(&before)
            .filter(|(_, r)| !r.is_empty())
            .count()
            >= 15,
        "the fixture fills the tables a shop uses"
    );
    drop(old);

    // The first start of the new release.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let after_cols = columns(&store.conn);
    for ((table, cols), want) in before_cols.iter().zip(&before) {
        let now = after_cols
            .iter()
            .find(|(t, _)| t == table)
            .unwrap_or_else(|| panic!("table {table} is gone"));
        for c in cols {
            assert!(now.1.contains(c), "{table}.{c} is gone");
        }
        assert_eq!(
            &rows(&store.conn, table, cols),
            want,
            "{table}: every row, unchanged"
        );
    }
    // What this release adds: the sync outbox, off and empty until a relay takes the
    // records (a till that never pairs pays nothing for it).
    let added: Vec<String> = after_cols
        .iter()
        .flat_map(|(t, cols)| {
            let old = before_cols.iter().find(|(o, _)| o == t).map(|(_, c)| c);
            cols.iter()
                .filter(move |c| old.is_none_or(|o| !o.contains(c)))
                .map(move |c| format!("{t}.{c}"))
        })
        .collect();
    assert!(
        !added.is_empty()
            && added
                .iter()
                .all(|c| c.starts_with("sync_outbox.") || c.starts_with("sync_state.")),
        "{added:?}"
    );
    let sync = store.sync_state().unwrap();
    assert!(!sync.enabled && sync.pending == 0, "{sync:?}");

    // And the till reads it all through the current code.
    let voided = store.sale(4).unwrap();
    assert_eq!(voided.status, SaleStatus::Voided);
    assert_eq!(voided.void_reason.as_deref(), Some("customer left"));
    assert_eq!(voided.voided_by, None);
    let stk = store.sale(2).unwrap();
    assert_eq!(stk.tenders[0].receipt.as_deref(), Some("UKN1234567"));
    assert_eq!(stk.refunded.cents(), 15000);
    assert_eq!(store.sale(3).unwrap().discount.cents(), 3000);
    assert!(store.sale(5).unwrap().parked);
    let a = store.attempt("1a1b2c3d4e5f60718293a4b5c6d7e8f9").unwrap();
    assert_eq!(
        a.state,
        crate::payment::AttemptState::Paid {
            receipt: Some("UKN1234567".into())
        }
    );
    assert_eq!(store.attempt_events(&a.id).unwrap().len(), 3);
    assert_eq!(
        store.attempts(true, 100).unwrap().len(),
        1,
        "the unknown one is open"
    );
    let z = store.z_report(1).unwrap();
    assert_eq!(z.shift.counted.map(|m| m.cents()), Some(163000));
    assert_eq!(store.current_shift().unwrap().map(|s| s.id), Some(2));
    assert_eq!(
        store.refunds_of(2).unwrap()[0].receipt.as_deref(),
        Some("SKE1AB2CD3")
    );
    assert_eq!(store.product(1).unwrap().stock, Some(38));
    assert_eq!(
        store.setting("shop_name").unwrap().as_deref(),
        Some("Mama Mboga")
    );
    assert_eq!(store.sign_in("Achieng", "1234").unwrap().role, "manager");
    drop(store);
    // A second start changes nothing more.
    assert_eq!(
        Store::open(&path).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}
