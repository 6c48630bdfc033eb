//! Staff: who may sign in, their PINs (argon2id hashes in the store), and demo mode's staff.

use serde::Serialize;

use super::Till;
use crate::config::Mode;
use crate::engine::CoreEvent;
use crate::error::{Error, Result};
use crate::store::Cashier;

/// The demo shop's staff: name, role, PIN. Shown on demo mode's sign-in screen, never the
/// shop's.
pub const DEMO_STAFF: &[(&str, &str, &str)] =
    &[("Owner", "manager", "1234"), ("Amina", "cashier", "0000")];

/// What the sign-in screen needs.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SignInOptions {
    /// Active staff who can sign in (those with a PIN).
    pub cashiers: Vec<Cashier>,
    /// Nobody has a PIN yet: the first screen creates the manager.
    pub needs_setup: bool,
    /// Demo mode shows its staff and their PINs on the sign-in screen.
    pub demo_staff: Vec<DemoStaff>,
    pub shop_name: String,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct DemoStaff {
    pub name: String,
    pub role: String,
    pub pin: String,
}

impl Till {
    pub fn sign_in_options(&self) -> Result<SignInOptions> {
        let all = self.store().cashiers()?;
        Ok(SignInOptions {
            needs_setup: !all.iter().any(|c| c.has_pin && c.active),
            cashiers: all.into_iter().filter(|c| c.has_pin && c.active).collect(),
            demo_staff: match self.mode {
                Mode::Demo => DEMO_STAFF
                    .iter()
                    .map(|&(name, role, pin)| DemoStaff {
                        name: name.into(),
                        role: role.into(),
                        pin: pin.into(),
                    })
                    .collect(),
                Mode::Shop => Vec::new(),
            },
            shop_name: self.settings.shop_name.clone(),
        })
    }

    /// Checks a PIN. Wrong ones are counted per staff member in the database: the lock holds
    /// across restarts, windows and processes. Slow on purpose (argon2): a shell runs it off
    /// its UI thread.
    pub fn sign_in(&self, name: &str, pin: &str) -> Result<Cashier> {
        self.store().sign_in(name, pin)
    }

    /// First run: creates the manager (or gives an existing one a PIN). Refused once anybody
    /// has a PIN. A bad PIN adds nobody: the name and its PIN are written together.
    pub fn setup_manager(&self, name: &str, pin: &str) -> Result<Cashier> {
        {
            let mut store = self.store();
            if store.cashiers()?.iter().any(|c| c.has_pin) {
                return Err(Error::Denied(
                    "this till is set up already: a manager signs in and adds staff in Settings"
                        .into(),
                ));
            }
            match store.cashier(name.trim()) {
                Ok(c) => store.set_pin(&c.name, pin)?,
                Err(Error::NotFound { .. }) => {
                    store.add_cashier_with_pin(name, "manager", pin)?;
                }
                Err(e) => return Err(e),
            }
        }
        self.publish(CoreEvent::StaffChanged);
        self.sign_in(name.trim(), pin)
    }

    pub fn staff(&self) -> Result<Vec<Cashier>> {
        self.store().cashiers()
    }

    pub fn cashier(&self, name: &str) -> Result<Cashier> {
        self.store().cashier(name)
    }

    /// The first staff member (the CLI's default cashier), if any.
    pub fn first_cashier(&self) -> Result<Option<Cashier>> {
        Ok(self.store().cashiers()?.into_iter().next())
    }

    /// Adds staff without a PIN (the CLI sets it after, from standard input).
    pub fn add_staff(&self, name: &str, role: &str) -> Result<Cashier> {
        let c = self.store().add_cashier(name, role)?;
        self.publish(CoreEvent::StaffChanged);
        Ok(c)
    }

    /// Adds staff with a PIN, in one write.
    pub fn add_staff_with_pin(&self, name: &str, role: &str, pin: &str) -> Result<Cashier> {
        let c = self.store().add_cashier_with_pin(name, role, pin)?;
        self.publish(CoreEvent::StaffChanged);
        Ok(c)
    }

    /// Sets a PIN (which also unlocks).
    pub fn set_pin(&self, name: &str, pin: &str) -> Result<Cashier> {
        let c = {
            let mut store = self.store();
            store.set_pin(name, pin)?;
            store.cashier(name)?
        };
        self.publish(CoreEvent::StaffChanged);
        Ok(c)
    }

    /// Lets a staff member locked out by wrong PINs try again.
    pub fn unlock(&self, name: &str) -> Result<Cashier> {
        let c = self.store().unlock_pin(name)?;
        self.publish(CoreEvent::StaffChanged);
        Ok(c)
    }

    /// A first manager named `owner` when there is nobody yet (`duka init`).
    pub fn ensure_owner(&self, owner: &str) -> Result<()> {
        let mut store = self.store();
        if store.cashiers()?.is_empty() {
            store.add_cashier(owner, "manager")?;
        }
        Ok(())
    }

    /// Demo mode's shop: its staff with their PINs and a few everyday products with
    /// barcodes, so a newcomer can ring up a sale at once. Adds only what is missing; refused
    /// on the shop's till.
    pub fn seed_demo(&self) -> Result<()> {
        if self.mode != Mode::Demo {
            return Err(Error::Denied(
                "demo data goes only into demo mode's till".into(),
            ));
        }
        let mut store = self.store();
        for (name, role, pin) in DEMO_STAFF {
            let c = match store.cashier(name) {
                Ok(c) => c,
                Err(Error::NotFound { .. }) => store.add_cashier(name, role)?,
                Err(e) => return Err(e),
            };
            if !c.has_pin {
                store.set_pin(name, pin)?;
            }
        }
        if store.products(true)?.is_empty() {
            const PRODUCTS: &[(&str, i64, &str)] = &[
                ("Unga 2kg", 210, "6161100000011"),
                ("Sukari 1kg", 180, "6161100000028"),
                ("Maziwa 500ml", 65, "6161100000035"),
                ("Mkate 400g", 65, "6161100000042"),
                ("Mafuta 1L", 340, "6161100000059"),
                ("Sabuni bar", 120, "6161100000066"),
                ("Chai majani 250g", 150, "6161100000073"),
                ("Mayai (1)", 17, "6161100000080"),
            ];
            for (name, shillings, barcode) in PRODUCTS {
                let p = crate::catalog::NewProduct::new(
                    name,
                    crate::Money::from_shillings(*shillings)?,
                    Some(barcode),
                    None,
                )?;
                store.add_product(&p)?;
            }
        }
        Ok(())
    }
}
