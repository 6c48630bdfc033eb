//! Products and cashiers.

use rusqlite::{OptionalExtension, Row, params};

use super::Store;
use crate::catalog::{NewProduct, Product};
use crate::error::{Error, Result};
use crate::money::Money;
use crate::time::now_ms;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cashier {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub active: bool,
    /// Whether a PIN is set: a cashier without one cannot sign in.
    pub has_pin: bool,
}

fn cashier_row(r: &Row<'_>) -> rusqlite::Result<Cashier> {
    Ok(Cashier {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        active: r.get(3)?,
        has_pin: r.get(4)?,
    })
}

const CASHIER_COLS: &str = "id, name, role, active, pin_hash IS NOT NULL";

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
    })
}

const PRODUCT_COLS: &str = "id, name, price_cents, barcode, sku, active";

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
    pub fn import_products(&mut self, rows: &[(u64, NewProduct)]) -> Result<ImportSummary> {
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
                        .map(|_| &mut summary.inserted),
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
                        .map(|_| &mut summary.updated),
                    _ => {
                        return Err(Error::Conflict(format!(
                            "line {line}: barcode and sku match two different products; nothing imported"
                        )));
                    }
                };
                match res {
                    Ok(n) => *n += 1,
                    Err(e) if unique_violation(&e).is_some() => {
                        return Err(Error::Conflict(format!(
                            "line {line}: barcode or sku already belongs to another product; nothing imported"
                        )));
                    }
                    Err(e) => return Err(e.into()),
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
        self.conn.execute(
            "UPDATE cashiers SET pin_hash = ?1 WHERE id = ?2",
            params![hash, c.id],
        )?;
        Ok(())
    }

    /// Checks a cashier's PIN. Unknown names, inactive cashiers, cashiers without a PIN and
    /// wrong PINs are all refused with `Error::Denied`.
    pub fn sign_in(&self, name: &str, pin: &str) -> Result<Cashier> {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let denied = || Error::Denied(format!("wrong name or PIN for {}", name.trim()));
        let Some((c, hash)) = self
            .conn
            .query_row(
                &format!("SELECT {CASHIER_COLS}, pin_hash FROM cashiers WHERE name = ?1"),
                [name.trim()],
                |r| Ok((cashier_row(r)?, r.get::<_, Option<String>>(5)?)),
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
        let parsed = PasswordHash::new(&hash).map_err(|_| denied())?;
        argon2::Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .map_err(|_| denied())?;
        Ok(c)
    }
}
