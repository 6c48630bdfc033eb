//! Products: add, list, import a price list.

use std::path::Path;

use anyhow::Context;
use duka_core::Money;
use duka_core::catalog::{NewProduct, parse_price_list};

use crate::args::{Cli, ProductCmd};
use crate::ctx::{Ctx, open};
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
    let sum = ctx.till.import_products(&rows)?;
    ctx.print(&sum, || render::imported(file, &sum));
    Ok(())
}
