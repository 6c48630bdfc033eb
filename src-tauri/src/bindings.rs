//! The UI's TypeScript types, generated from the Rust types the commands and events carry
//! (`ui/src/lib/bindings.ts`). The test below fails when that file is stale; regenerate it with
//! `DUKA_UPDATE_BINDINGS=1 cargo test -p duka-desktop --lib bindings`.

use std::any::TypeId;
use std::collections::BTreeSet;

use ts_rs::TS;

/// One exported type: its name, declaration, and the names of the types it uses.
struct Decl {
    name: String,
    id: TypeId,
    decl: String,
    uses: Vec<(TypeId, String)>,
}

fn decl<T: TS + 'static>() -> Decl {
    Decl {
        name: T::name(),
        id: TypeId::of::<T>(),
        decl: T::decl(),
        uses: T::dependencies()
            .into_iter()
            .map(|d| (d.type_id, d.ts_name))
            .collect(),
    }
}

macro_rules! decls {
    ($($t:ty),* $(,)?) => { vec![$(decl::<$t>()),*] };
}

fn all() -> Vec<Decl> {
    use duka_core::{engine, payment, sale, store, till};
    decls![
        // Errors: `{code, message}`, every code a command can fail with.
        crate::error::UiError,
        duka_app::ErrorCode,
        duka_app::AppCode,
        duka_core::ErrorCode,
        daraja::ErrorCode,
        // Money and people.
        duka_core::Money,
        duka_core::Msisdn,
        store::Cashier,
        till::SignInOptions,
        till::DemoStaff,
        // Sales.
        duka_core::catalog::Product,
        till::LineInput,
        sale::Sale,
        sale::SaleStatus,
        sale::SaleLine,
        sale::Tender,
        sale::TenderKind,
        till::CashPaid,
        // M-Pesa.
        crate::commands::payments::Phone,
        store::Attempt,
        payment::AttemptState,
        store::PaymentEventRow,
        store::IncomingPayment,
        store::TakenBy,
        store::LostClaim,
        till::reports::UsedElsewhere,
        engine::Reconciled,
        daraja::codes::CodeInfo,
        daraja::codes::Class,
        crate::commands::phone::Prompt,
        // Receipts and reports.
        till::reports::ReceiptView,
        duka_core::receipt::Receipt,
        duka_core::receipt::ReceiptTender,
        store::DayReport,
        store::TenderTotal,
        store::CashierTotal,
        store::HourTotal,
        store::ReceiptRow,
        // Settings.
        duka_app::settings::Form,
        duka_app::settings::View,
        duka_app::settings::RelayView,
        duka_app::settings::ConnectionTest,
        duka_app::settings::TestPush,
        duka_app::settings::PushOutcome,
        duka_core::config::Settings,
        duka_core::config::Environment,
        duka_core::config::TillType,
        duka_core::config::Mode,
        duka_core::config::Source,
        // Backups.
        duka_core::backup::BackupFile,
        duka_core::backup::Backups,
        duka_core::backup::BackupStatus,
        duka_core::backup::Restored,
        crate::commands::backup::RestoreDone,
        // A shop's day.
        store::Shift,
        store::ZReport,
        store::DayClose,
        store::Tally,
        store::DrawerMove,
        store::DrawerKind,
        store::Refund,
        store::RefundLine,
        store::RefundLineInput,
        duka_core::refund::RefundState,
        duka_core::refund::RefundTo,
        duka_core::discount::Discount,
        store::SaleEdit,
        store::StockMove,
        till::reports::SlipOf,
        crate::commands::day::Approval,
        crate::commands::day::RefundVia,
        // Health and events.
        crate::commands::system::Status,
        engine::Health,
        duka_core::relay::RelayStatus,
        duka_core::relay::SyncStatus,
        engine::CoreEvent,
        // Several tills, one shop.
        duka_core::shop::ShopDay,
        duka_core::shop::ShopTill,
        duka_core::shop::ShopTotals,
        duka_core::shop::ShopCashier,
        duka_core::shop::ShopReceipt,
        duka_core::shop::ShopAttempt,
        duka_core::shop::ShopShift,
        store::sync::TillDay,
        store::sync::AttemptBrief,
        duka_core::relay::RestoreSummary,
        crate::commands::backup::RelayRestoreDone,
    ]
}

/// The whole file.
pub fn typescript() -> String {
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/src/bindings.rs: do not edit.\n\
         // Regenerate: DUKA_UPDATE_BINDINGS=1 cargo test -p duka-desktop --lib bindings\n",
    );
    for d in all() {
        out.push('\n');
        out.push_str("export ");
        out.push_str(d.decl.trim());
        out.push('\n');
    }
    // ts-rs writes 64-bit integers as `bigint`, but Tauri sends JSON, which JavaScript reads
    // as `number` (every id, amount in cents and time in milliseconds is far below 2^53).
    out.replace("bigint", "number")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings.ts")
    }

    #[test]
    fn every_type_a_binding_uses_is_exported_too() {
        let decls = all();
        let have: BTreeSet<TypeId> = decls.iter().map(|d| d.id).collect();
        let names: BTreeSet<&str> = decls.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names.len(),
            decls.len(),
            "two types share a TypeScript name"
        );
        for d in &decls {
            for (id, name) in &d.uses {
                assert!(
                    have.contains(id),
                    "{} uses {name}, which is not exported",
                    d.name
                );
            }
        }
    }

    #[test]
    fn bindings_ts_is_up_to_date() {
        let want = typescript();
        if std::env::var("DUKA_UPDATE_BINDINGS").is_ok_and(|v| v == "1") {
            std::fs::write(path(), &want).unwrap();
            return;
        }
        let have = std::fs::read_to_string(path()).unwrap_or_default();
        assert!(
            have == want,
            "ui/src/lib/bindings.ts is stale: the Rust types changed. Regenerate it with \
             `DUKA_UPDATE_BINDINGS=1 cargo test -p duka-desktop --lib bindings` and commit it"
        );
    }
}
