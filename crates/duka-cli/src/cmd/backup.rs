//! Backups: one now, the list, and a restore (which needs the database closed everywhere else).

use std::path::Path;

use duka_core::backup::{Backups, Restored};
use duka_core::config::{self, Mode};
use duka_core::time::format_local;

use crate::args::{BackupCmd, Cli};
use crate::ctx::{app_error, open, open_till};

pub fn run(cli: &Cli, c: &BackupCmd) -> anyhow::Result<()> {
    match c {
        BackupCmd::Now => {
            let ctx = open(cli)?;
            let f = ctx.till.backup_now(&ctx.cashier)?;
            ctx.print(&f, || f.path.clone());
            Ok(())
        }
        BackupCmd::List => {
            let ctx = open(cli)?;
            let b = ctx.till.backups(&ctx.cashier)?;
            ctx.print(&b, || list(&b));
            Ok(())
        }
        BackupCmd::Restore { file, demo } => restore(cli, file, *demo),
    }
}

/// Restores the shop's till (demo mode's with `--demo`). A file that would be refused is
/// refused before anything is opened; a till that exists must be replaced by its manager
/// (`--cashier`, the first cashier by default), whose check closes the database again before
/// the restore takes it for itself alone.
fn restore(cli: &Cli, file: &Path, demo: bool) -> anyhow::Result<()> {
    let data_dir = config::data_dir(cli.data_dir.as_deref())?;
    let mode = if demo { Mode::Demo } else { Mode::Shop };
    duka_core::backup::check(file)?;
    if mode.db_path(&data_dir).exists() {
        let ctx = open_till(cli, data_dir.clone(), mode)?;
        let who = ctx.till.cashier(&ctx.cashier)?;
        if who.role != "manager" {
            return Err(duka_core::Error::Denied(format!(
                "{}: restoring a backup needs a manager (--cashier NAME)",
                who.name
            ))
            .into());
        }
    }
    let r = duka_app::restore(&data_dir, mode, file).map_err(app_error)?;
    crate::render::print(cli.json, &r, || restored(&r));
    Ok(())
}

fn restored(r: &Restored) -> String {
    let mut s = format!(
        "restored {} into {} (schema version {}",
        r.from, r.database, r.backup_schema_version
    );
    if r.schema_version != r.backup_schema_version {
        s += &format!(", migrated to {}", r.schema_version);
    }
    s += ")";
    if let Some(aside) = &r.kept_aside {
        s += &format!("\nthe database as it was is kept at {aside}");
    }
    s
}

fn list(b: &Backups) -> String {
    let mut s = format!(
        "backups in {} (the newest {} are kept)",
        b.status.dir, b.keep
    );
    if let Some((at, why)) = &b.status.last_error {
        s += &format!("\nthe last backup failed at {}: {why}", format_local(*at));
    }
    if b.files.is_empty() {
        s += "\nno backups yet: `duka backup now` takes one";
        return s;
    }
    s += &format!(
        "\n{:<36} {:>10}  {:<19}  {}",
        "file", "size", "taken", "schema"
    );
    for f in &b.files {
        s += &format!(
            "\n{:<36} {:>10}  {:<19}  {}",
            f.file,
            size(f.size),
            format_local(f.at),
            f.schema_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "not a Duka database".into())
        );
    }
    s
}

fn size(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b < K {
        format!("{bytes} B")
    } else if b < K * K {
        format!("{:.1} KiB", b / K)
    } else if b < K * K * K {
        format!("{:.1} MiB", b / (K * K))
    } else {
        format!("{:.1} GiB", b / (K * K * K))
    }
}
