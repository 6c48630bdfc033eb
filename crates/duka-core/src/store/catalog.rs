//! Products and cashiers.

use rusqlite::{OptionalExtension, Row, params};

use super::Store;
use crate::catalog::{MAX_STOCK, NewProduct, Product, STOCK_EXPECTED};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::time::{Millis, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Cashier {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub active: bool,
    /// Whether a PIN is set: a cashier without one cannot sign in.
    pub has_pin: bool,
    /// Wrong PINs in a row since the last sign-in (see `pin_lock`).
    pub pin_failures: u32,
}

fn cashier_row(r: &Row<'_>) -> rusqlite::Result<Cashier> {
    Ok(Cashier {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        active: r.get(3)?,
        has_pin: r.get(4)?,
        pin_failures: r.get(5)?,
    })
}

const CASHIER_COLS: &str = "id, name, role, active, pin_hash IS NOT NULL, pin_failures";

/// Wrong PINs allowed in a row before sign-in waits.
pub const PIN_FREE_TRIES: u32 = 5;
/// After this many wrong PINs in a row only a manager (or `duka cashier unlock`) opens it.
pub const PIN_HARD_LOCK: u32 = 10;

/// How long sign-in stays shut after `failures` wrong PINs in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinLock {
    Open,
    /// For this long after the last wrong PIN: 30 s after the 5th, doubling with each more.
    For(std::time::Duration),
    /// Until a manager unlocks (or sets a new PIN).
    UntilUnlocked,
}

pub fn pin_lock(failures: u32) -> PinLock {
    if failures < PIN_FREE_TRIES {
        PinLock::Open
    } else if failures >= PIN_HARD_LOCK {
        PinLock::UntilUnlocked
    } else {
        PinLock::For(std::time::Duration::from_secs(
            30 << (failures - PIN_FREE_TRIES),
        ))
    }
}

/// Why `name` cannot sign in now (`failures` in a row, the last at `failed_at`), if it cannot.
fn locked_message(
    name: &str,
    failures: u32,
    failed_at: Option<Millis>,
    now: Millis,
) -> Option<String> {
    match pin_lock(failures) {
        PinLock::Open => None,
        PinLock::UntilUnlocked => Some(format!(
            "{name} is locked after {failures} wrong PINs: a manager must unlock them"
        )),
        PinLock::For(d) => {
            // A clock set back keeps it shut until the clock passes the lock again (a manager
            // can unlock sooner); the wait shown never exceeds the lock's length.
            let until = failed_at.unwrap_or(now) + d.as_millis() as Millis;
            (now < until).then(|| {
                format!(
                    "too many wrong PINs for {name}: try again in {} s",
                    ((until - now + 999) / 1000).min(d.as_secs() as Millis)
                )
            })
        }
    }
}

/// A PIN is 4 to 8 digits.
fn check_pin(pin: &str) -> Result<&str> {
    if (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(pin)
    } else {
        // The PIN itself is never echoed back.
        Err(Error::invalid("pin", "4 to 8 digits", "(hidden)"))
    }
}

/// An argon2id hash of a checked PIN, with a fresh salt.
fn hash_pin(pin: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(check_pin(pin)?.as_bytes(), &salt)
        .map_err(|e| Error::Config(format!("hashing the PIN: {e}")))?
        .to_string())
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct ImportSummary {
    pub inserted: usize,
    pub updated: usize,
}

fn product_row(r: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        id: r.get(0)?,
        name: r.get(1)?,
        price: Money::from_cents(r.get(2)?).map_err(super::bad_column)?,
        barcode: r.get(3)?,
        sku: r.get(4)?,
        active: r.get(5)?,
        stock: r.get(6)?,
        low_stock: r.get(7)?,
    })
}

const PRODUCT_COLS: &str = "id, name, price_cents, barcode, sku, active, stock_qty, low_stock";

fn unique_violation(e: &rusqlite::Error) -> Option<&str> {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Some(msg.as_str())
        }
        _ => None,
    }
}

impl Store {
    pub fn add_product(&mut self, p: &NewProduct) -> Result<Product> {
        let now = now_ms();
        let res = self.conn.execute(
            "INSERT INTO products (name, price_cents, barcode, sku, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![p.name, p.price.cents(), p.barcode, p.sku, p.active, now],
        );
        match res {
            Ok(_) => self.product(self.conn.last_insert_rowid()),
            Err(e) => match unique_violation(&e) {
                Some(m) if m.contains("barcode") => Err(Error::Conflict(format!(
                    "barcode {} is already used by another product",
                    p.barcode.as_deref().unwrap_or("")
                ))),
                Some(m) if m.contains("sku") => Err(Error::Conflict(format!(
                    "sku {} is already used by another product",
                    p.sku.as_deref().unwrap_or("")
                ))),
                _ => Err(e.into()),
            },
        }
    }

    pub fn product(&self, id: i64) -> Result<Product> {
        self.conn
            .query_row(
                &format!("SELECT {PRODUCT_COLS} FROM products WHERE id = ?1"),
                [id],
                product_row,
            )
            .optional()?
            .ok_or_else(|| Error::not_found("product", id))
    }

    /// Finds an active product by barcode or SKU.
    pub fn product_by_code(&self, code: &str) -> Result<Product> {
        self.conn
            .query_row(
                &format!("SELECT {PRODUCT_COLS} FROM products WHERE (barcode = ?1 OR sku = ?1) AND active = 1"),
                [code.trim()],
                product_row,
            )
            .optional()?
            .ok_or_else(|| Error::not_found("product with barcode/sku", code))
    }

    pub fn products(&self, include_inactive: bool) -> Result<Vec<Product>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {PRODUCT_COLS} FROM products WHERE active = 1 OR ?1 ORDER BY name COLLATE NOCASE, id"
        ))?;
        let rows = st.query_map([include_inactive], product_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Imports a price list in one transaction: a row whose barcode or SKU matches an existing
    /// product updates it, any other row adds a product. All or nothing.
    ///
    /// A row's `stock` sets what is on hand as a stock count by `cashier` would, with a
    /// `count` move whose reason is `import` (none when the quantity is what Duka had); a
    /// product not kept in stock yet starts being kept. Its `low_stock` sets the low-stock
    /// line. `None` in either leaves that product's stock as it is.
    pub fn import_products(
        &mut self,
        rows: &[(u64, NewProduct)],
        cashier: &str,
    ) -> Result<ImportSummary> {
        for (_, p) in rows {
            for (field, q) in [("stock", p.stock), ("low_stock", p.low_stock)] {
                if let Some(q) = q.filter(|q| !(0..=MAX_STOCK).contains(q)) {
                    return Err(Error::invalid(field, STOCK_EXPECTED, q.to_string()));
                }
            }
        }
        let cashier_id = self.cashier(cashier)?.id;
        let now = now_ms();
        let tx = self.write()?;
        let mut summary = ImportSummary {
            inserted: 0,
            updated: 0,
        };
        {
            let mut find = tx.prepare("SELECT id FROM products WHERE barcode = ?1 OR sku = ?2")?;
            let mut update = tx.prepare(
                "UPDATE products SET name = ?2, price_cents = ?3, barcode = ?4, sku = ?5, active = ?6, updated_at = ?7 WHERE id = ?1",
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO products (name, price_cents, barcode, sku, active, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?;
            for (line, p) in rows {
                let ids: Vec<i64> = if p.barcode.is_some() || p.sku.is_some() {
                    find.query_map(params![p.barcode, p.sku], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?
                } else {
                    Vec::new()
                };
                let res = match ids.as_slice() {
                    [] => insert
                        .execute(params![
                            p.name,
                            p.price.cents(),
                            p.barcode,
                            p.sku,
                            p.active,
                            now
                        ])
                        .map(|_| (tx.last_insert_rowid(), &mut summary.inserted)),
                    [id] => update
                        .execute(params![
                            id,
                            p.name,
                            p.price.cents(),
                            p.barcode,
                            p.sku,
                            p.active,
                            now
                        ])
                        .map(|_| (*id, &mut summary.updated)),
                    _ => {
                        return Err(Error::Conflict(format!(
                            "line {line}: barcode and sku match two different products; nothing imported"
                        )));
                    }
                };
                let id = match res {
                    Ok((id, n)) => {
                        *n += 1;
                        id
                    }
                    Err(e) if unique_violation(&e).is_some() => {
                        return Err(Error::Conflict(format!(
                            "line {line}: barcode or sku already belongs to another product; nothing imported"
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                if let Some(q) = p.stock {
                    super::stock::set_on_hand(&tx, id, q, "import", cashier_id, now)?;
                }
                if let Some(low) = p.low_stock {
                    tx.execute(
                        "UPDATE products SET low_stock = ?2 WHERE id = ?1",
                        params![id, low],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(summary)
    }

    // ---- cashiers ----

    pub fn add_cashier(&mut self, name: &str, role: &str) -> Result<Cashier> {
        self.insert_cashier(name, role, None)
    }

    /// A cashier and their PIN in one statement: a bad PIN adds nobody.
    pub fn add_cashier_with_pin(&mut self, name: &str, role: &str, pin: &str) -> Result<Cashier> {
        let hash = hash_pin(pin)?;
        self.insert_cashier(name, role, Some(&hash))
    }

    fn insert_cashier(
        &mut self,
        name: &str,
        role: &str,
        pin_hash: Option<&str>,
    ) -> Result<Cashier> {
        let name = crate::catalog::product_name(name).map_err(|_| {
            Error::invalid("cashier", "a name of 1 to 80 printable characters", name)
        })?;
        if role != "cashier" && role != "manager" {
            return Err(Error::invalid("role", "cashier or manager", role));
        }
        let res = self.conn.execute(
            "INSERT INTO cashiers (name, role, created_at, pin_hash) VALUES (?1, ?2, ?3, ?4)",
            params![name, role, now_ms(), pin_hash],
        );
        match res {
            Ok(_) => self.cashier(&name),
            Err(e) if unique_violation(&e).is_some() => {
                Err(Error::Conflict(format!("cashier {name} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// By name, case-insensitively.
    pub fn cashier(&self, name: &str) -> Result<Cashier> {
        self.conn
            .query_row(
                &format!("SELECT {CASHIER_COLS} FROM cashiers WHERE name = ?1"),
                [name.trim()],
                cashier_row,
            )
            .optional()?
            .ok_or_else(|| Error::not_found("cashier", name))
    }

    pub fn cashiers(&self) -> Result<Vec<Cashier>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {CASHIER_COLS} FROM cashiers ORDER BY name"
        ))?;
        let rows = st.query_map([], cashier_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Sets (or changes) a cashier's PIN. Only an argon2id hash with its own salt is stored.
    pub fn set_pin(&mut self, name: &str, pin: &str) -> Result<()> {
        let c = self.cashier(name)?;
        let hash = hash_pin(pin)?;
        // A new PIN is also an unlock.
        self.conn.execute(
            "UPDATE cashiers SET pin_hash = ?1, pin_failures = 0, pin_failed_at = NULL WHERE id = ?2",
            params![hash, c.id],
        )?;
        Ok(())
    }

    /// A manager lets a locked-out cashier try their PIN again.
    pub fn unlock_pin(&mut self, name: &str) -> Result<Cashier> {
        let c = self.cashier(name)?;
        self.conn.execute(
            "UPDATE cashiers SET pin_failures = 0, pin_failed_at = NULL WHERE id = ?1",
            [c.id],
        )?;
        self.cashier(name)
    }

    /// Checks a cashier's PIN. Unknown names, inactive cashiers, cashiers without a PIN and
    /// wrong PINs are all refused with `Error::Denied`; after `PIN_FREE_TRIES` wrong PINs in a
    /// row even the right one is refused with `Error::Locked` for a while (`pin_lock`). The
    /// count is in the database, so neither a restart nor another process resets it.
    pub fn sign_in(&self, name: &str, pin: &str) -> Result<Cashier> {
        self.sign_in_at(name, pin, crate::time::now_ms())
    }

    /// `sign_in` at the instant `now` (tests step the clock instead of sleeping).
    pub fn sign_in_at(&self, name: &str, pin: &str, now: Millis) -> Result<Cashier> {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let denied = || Error::Denied(format!("wrong name or PIN for {}", name.trim()));
        let Some((c, hash, failed_at)) = self
            .conn
            .query_row(
                &format!(
                    "SELECT {CASHIER_COLS}, pin_hash, pin_failed_at FROM cashiers WHERE name = ?1"
                ),
                [name.trim()],
                |r| {
                    Ok((
                        cashier_row(r)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<Millis>>(7)?,
                    ))
                },
            )
            .optional()?
        else {
            return Err(denied());
        };
        let Some(hash) = hash.filter(|_| c.active) else {
            return Err(Error::Denied(format!(
                "{} cannot sign in: no PIN is set or the cashier is inactive; ask a manager",
                c.name
            )));
        };
        if let Some(m) = locked_message(&c.name, c.pin_failures, failed_at, now) {
            return Err(Error::Locked(m));
        }
        let parsed = PasswordHash::new(&hash).map_err(|_| denied())?;
        if argon2::Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_err()
        {
            // Counted in the database before the answer: a crash or a second till cannot
            // forget it. The increment is relative, so two processes both count.
            let failures: u32 = self.conn.query_row(
                "UPDATE cashiers SET pin_failures = pin_failures + 1, pin_failed_at = ?1 \
                 WHERE id = ?2 RETURNING pin_failures",
                params![now, c.id],
                |r| r.get(0),
            )?;
            return Err(match locked_message(&c.name, failures, Some(now), now) {
                Some(m) => Error::Locked(format!("wrong PIN; {m}")),
                None => denied(),
            });
        }
        if c.pin_failures > 0 {
            self.conn.execute(
                "UPDATE cashiers SET pin_failures = 0, pin_failed_at = NULL WHERE id = ?1",
                [c.id],
            )?;
        }
        Ok(Cashier {
            pin_failures: 0,
            ..c
        })
    }
}
