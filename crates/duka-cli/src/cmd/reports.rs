//! The day report and the export of sales.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use duka_core::store::ExportRow;
use duka_core::till::reports::SlipOf;
use duka_core::time;

use crate::args::{Cli, ExportArgs, ReceiptArgs};
use crate::ctx::{day, invalid, open};
use crate::render;

pub fn day_report(cli: &Cli, date: Option<&str>) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let r = ctx.till.day_report(day(date, "date")?)?;
    ctx.print(&r, || render::day_report(&r));
    Ok(())
}

/// CSV, or JSON with `--json` or `--format json`; to a file or standard output.
pub fn export(cli: &Cli, a: &ExportArgs) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let from = time::parse_date(&a.from, "from")?;
    let to = match &a.to {
        Some(t) => time::parse_date(t, "to")?,
        None => from,
    };
    let rows = ctx.till.export_rows(from, to)?;
    let mut sink = sink(a.out.as_deref())?;
    let format = if ctx.json { "json" } else { a.format.as_str() };
    write_rows(&rows, format, &mut sink)?;
    Ok(sink.flush()?)
}

fn write_rows(rows: &[ExportRow], format: &str, sink: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        "json" => serde_json::to_writer_pretty(sink, rows)?,
        "csv" => duka_core::store::write_export_csv(rows, sink)?,
        other => return Err(invalid("format", "csv or json", other)),
    }
    Ok(())
}

/// The file `--out` names (created), or standard output.
pub fn sink(out: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match out {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    })
}

/// A slip: on standard output as printed (JSON: its lines), saved as PDF, or printed.
pub fn receipt(cli: &Cli, a: &ReceiptArgs) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    let of = match a.of.trim() {
        "sale" => SlipOf::Sale(a.id),
        "refund" => SlipOf::Refund(a.id),
        "shift" | "z" | "z-report" => SlipOf::Shift(a.id),
        other => return Err(invalid("of", "sale, refund or shift", other)),
    };
    if let Some(path) = &a.pdf {
        let pdf = ctx.till.slip_pdf(of, &ctx.cashier)?;
        std::fs::write(path, pdf).with_context(|| format!("writing {}", path.display()))?;
        ctx.say(&format!("saved {}", path.display()));
    } else if a.print {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let printer = rt.block_on(ctx.till.print_slip(of, &ctx.cashier))?;
        ctx.say(&format!("sent to the printer at {printer}"));
    } else {
        let text = ctx.till.slip_text(of, &ctx.cashier)?;
        ctx.print(&text, || text.join("\n"));
    }
    Ok(())
}
