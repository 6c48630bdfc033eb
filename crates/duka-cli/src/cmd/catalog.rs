//! Products: add, list, import and export a price list; the stock kept of them.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use duka_core::Money;
use duka_core::catalog::{NewProduct, parse_price_list, write_price_list};

use crate::args::{Cli, ProductCmd, StockCmd};
use crate::ctx::{Ctx, open, whole};
use crate::render;

pub fn run(cli: &Cli, c: &ProductCmd) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match c {
        ProductCmd::Add {
            name,
            price,
            barcode,
            sku,
        } => add(&ctx, name, price, barcode.as_deref(), sku.as_deref()),
        ProductCmd::List { all } => list(&ctx, *all),
        ProductCmd::Import { file } => import(&ctx, file),
        ProductCmd::Export { out } => export(&ctx, out.as_deref()),
    }
}

pub fn stock(cli: &Cli, c: &StockCmd) -> anyhow::Result<()> {
    let ctx = open(cli)?;
    match c {
        StockCmd::Track {
            product,
            on_hand,
            low,
        } => track(&ctx, *product, on_hand, low.as_deref()),
        StockCmd::Untrack { product } => untrack(&ctx, *product),
        StockCmd::Count {
            product,
            counted,
            reason,
        } => count(&ctx, *product, counted, reason),
        StockCmd::Low => low(&ctx),
        StockCmd::Moves { product, limit } => moves(&ctx, *product, *limit),
    }
}

fn add(
    ctx: &Ctx,
    name: &str,
    price: &str,
    barcode: Option<&str>,
    sku: Option<&str>,
) -> anyhow::Result<()> {
    let p = NewProduct::new(name, Money::parse_field(price, "price")?, barcode, sku)?;
    let p = ctx.till.add_product(&p)?;
    ctx.print(&p, || render::product_added(&p));
    Ok(())
}

fn list(ctx: &Ctx, all: bool) -> anyhow::Result<()> {
    let list = ctx.till.catalogue(all)?;
    ctx.print(&list, || render::products(&list));
    Ok(())
}

/// All rows or none.
fn import(ctx: &Ctx, file: &Path) -> anyhow::Result<()> {
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let rows = parse_price_list(&file.display().to_string(), &data)?;
    let sum = ctx.till.import_products(&rows, &ctx.cashier)?;
    ctx.print(&sum, || render::imported(file, &sum));
    Ok(())
}

/// Every product, inactive ones too, so that importing the file back changes nothing.
fn export(ctx: &Ctx, out: Option<&Path>) -> anyhow::Result<()> {
    let list = ctx.till.catalogue(true)?;
    let mut sink = crate::cmd::reports::sink(out)?;
    if ctx.json {
        serde_json::to_writer_pretty(&mut sink, &list)?;
    } else {
        write_price_list(&list, &mut sink)?;
    }
    Ok(sink.flush()?)
}

/// Stock kept from here: what is on hand now (a count), and the low-stock line.
fn track(ctx: &Ctx, product: i64, on_hand: &str, low: Option<&str>) -> anyhow::Result<()> {
    let on_hand = whole(on_hand, "on_hand")?;
    let low = low.map(|l| whole(l, "low")).transpose()?;
    let p = ctx
        .till
        .track_stock(product, Some(on_hand), low, &ctx.cashier)?;
    ctx.print(&p, || render::stock_kept(&p));
    Ok(())
}

fn untrack(ctx: &Ctx, product: i64) -> anyhow::Result<()> {
    let p = ctx.till.track_stock(product, None, None, &ctx.cashier)?;
    ctx.print(&p, || render::stock_kept(&p));
    Ok(())
}

fn count(ctx: &Ctx, product: i64, counted: &str, reason: &str) -> anyhow::Result<()> {
    let counted = whole(counted, "counted")?;
    let m = ctx
        .till
        .count_stock(product, counted, reason, &ctx.cashier)?;
    ctx.print(&m, || render::stock_counted(&m, counted));
    Ok(())
}

fn low(ctx: &Ctx) -> anyhow::Result<()> {
    let list = ctx.till.low_stock()?;
    ctx.print(&list, || render::low_stock(&list));
    Ok(())
}

fn moves(ctx: &Ctx, product: i64, limit: usize) -> anyhow::Result<()> {
    let list = ctx.till.stock_moves(product, limit)?;
    ctx.print(&list, || render::stock_moves(product, &list));
    Ok(())
}
