//! The service announces every change it makes, whoever asked for it.

use super::*;
use crate::money::Money;
use crate::till::LineInput;

fn till() -> Till {
    let store = Store::open_in_memory().unwrap();
    let settings = Settings::load(&store, &|_| None, Mode::Demo).unwrap();
    let till = Till::offline(store, Mode::Demo, settings);
    till.add_staff("Wanjiku", "cashier").unwrap();
    till
}

fn line(shillings: i64) -> LineInput {
    LineInput {
        description: Some("Sugar 1kg".into()),
        price: Some(shillings.to_string()),
        quantity: 1,
        ..Default::default()
    }
}

fn drain(rx: &mut broadcast::Receiver<CoreEvent>) -> Vec<String> {
    let mut names = Vec::new();
    while let Ok(e) = rx.try_recv() {
        let v = serde_json::to_value(&e).unwrap();
        names.push(v["type"].as_str().unwrap().to_string());
    }
    names
}

#[test]
fn cash_codes_voids_and_staff_changes_are_announced() {
    let till = till();
    let mut rx = till.subscribe();
    let sale = till.create_sale("Wanjiku", &[line(150)]).unwrap();
    assert_eq!(drain(&mut rx), ["sale_changed"]);

    let part = till
        .pay_cash(sale.id, Money::from_shillings(100).unwrap(), "Wanjiku")
        .unwrap();
    assert_eq!(part.change, Money::ZERO);
    assert_eq!(
        drain(&mut rx),
        ["sale_changed"],
        "part paid: not yet SalePaid"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let paid = rt
        .block_on(till.pay_code(sale.id, "QKM0FXE6RK", None, "Wanjiku"))
        .unwrap();
    assert_eq!(paid.due, Money::ZERO);
    assert_eq!(drain(&mut rx), ["sale_changed", "sale_paid"]);

    let other = till.create_sale("Wanjiku", &[line(60)]).unwrap();
    till.void_sale(other.id, "customer left", "Wanjiku")
        .unwrap();
    assert_eq!(drain(&mut rx), ["sale_changed", "sale_changed"]);

    till.set_pin("Wanjiku", "4321").unwrap();
    till.save_settings(&[("shop_name", Some("Duka la Mama"))])
        .unwrap();
    assert_eq!(drain(&mut rx), ["staff_changed", "settings_changed"]);
}

#[test]
fn a_price_list_with_stock_needs_a_manager_and_announces_the_stock_it_changed() {
    let till = till();
    till.add_staff("Otieno", "manager").unwrap();
    let rows = |csv: &str| crate::catalog::parse_price_list("p.csv", csv.as_bytes()).unwrap();
    let prices = rows("name,price,barcode\nSugar 1kg,150,6001001\nMilk,60,6001002\n");
    till.import_products(&prices, "Wanjiku").unwrap();
    let mut rx = till.subscribe();
    let stocked =
        rows("name,price,barcode,stock,low_stock\nSugar 1kg,150,6001001,,\nMilk,60,6001002,8,2\n");
    let e = till.import_products(&stocked, "Wanjiku").unwrap_err();
    assert_eq!(e.code(), "denied", "{e}");
    assert_eq!(till.product_by_code("6001002").unwrap().stock, None);
    let sum = till.import_products(&stocked, "Otieno").unwrap();
    assert_eq!((sum.inserted, sum.updated), (0, 2));
    // Only Milk's stock changed.
    assert_eq!(drain(&mut rx), ["stock_changed"]);
    assert_eq!(till.product_by_code("6001002").unwrap().stock, Some(8));
    till.import_products(&stocked, "Otieno").unwrap();
    assert!(
        drain(&mut rx).is_empty(),
        "the same stock again changes nothing"
    );
}

#[test]
fn a_bad_line_writes_nothing_and_names_its_field() {
    let till = till();
    let mut bad = line(150);
    bad.price = Some("abc".into());
    let e = till.create_sale("Wanjiku", &[line(10), bad]).unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(e.to_string().starts_with("price:"), "{e}");
    let e = till
        .create_sale(
            "Wanjiku",
            &[LineInput {
                code: Some("404".into()),
                quantity: 1,
                ..Default::default()
            }],
        )
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    assert!(
        till.sales_of_day(crate::time::today(), 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_offline_till_refuses_what_needs_m_pesa_and_a_bad_setting() {
    let till = till();
    let sale = till.create_sale("Wanjiku", &[line(150)]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let phone = crate::Msisdn::parse("0712345678").unwrap();
    let e = rt
        .block_on(till.charge(sale.id, &phone, None, "Wanjiku"))
        .unwrap_err();
    assert_eq!(e.code(), "config");
    assert_eq!(till.amount_to_push(sale.id, None).unwrap(), 150);
    let e = till
        .save_settings(&[("shortcode", Some("12"))])
        .unwrap_err();
    assert!(e.to_string().starts_with("shortcode:"), "{e}");
}

#[test]
fn a_pairing_the_relay_url_check_refuses_stores_nothing_not_even_its_key() {
    use crate::secrets::{MemorySecrets, SecretKey, SecretStore};
    let store = Store::open_in_memory().unwrap();
    let settings = Settings::load(&store, &|_| None, Mode::Shop).unwrap();
    let till = Till::offline(store, Mode::Shop, settings);
    let secrets = MemorySecrets::default();
    let pairing = |url: &str| {
        duka_relay_proto::Pairing {
            url: url.into(),
            shop: "5a".into(),
            till: "7b".into(),
            key: "ab".repeat(32),
        }
        .encode()
    };
    for bad in ["https://", "https://relay example.com"] {
        let e = till.pair_relay(&secrets, &pairing(bad)).unwrap_err();
        assert_eq!(e.code(), "invalid_input", "{bad}: {e}");
        assert!(secrets.get(SecretKey::RelayKey).unwrap().is_none(), "{bad}");
        assert!(till.pairing_info().unwrap().is_none(), "{bad}");
    }
    let p = till
        .pair_relay(&secrets, &pairing("https://relay.example.com/"))
        .unwrap();
    assert_eq!(
        p.url, "https://relay.example.com",
        "stored as the setting wants it"
    );
    assert!(secrets.get(SecretKey::RelayKey).unwrap().is_some());
}

#[test]
fn a_cash_tender_and_a_drawer_move_open_the_drawer_through_the_printer() {
    let printer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = printer.local_addr().unwrap().to_string();
    let mut store = Store::open_in_memory().unwrap();
    crate::config::set_setting(&mut store, "printer", &addr).unwrap();
    let settings = Settings::load(&store, &|_| None, Mode::Shop).unwrap();
    let till = Till::offline(store, Mode::Shop, settings);
    till.add_staff("Otieno", "manager").unwrap();
    let read_kick = || {
        use std::io::Read;
        let (mut conn, _) = printer.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got
    };
    let sale = till.create_sale("Otieno", &[line(150)]).unwrap();
    // Outside a runtime the pulse goes out before pay_cash returns.
    till.pay_cash(sale.id, Money::from_shillings(200).unwrap(), "Otieno")
        .unwrap();
    assert_eq!(read_kick(), crate::receipt::DRAWER_KICK);
    till.drawer_move(
        crate::store::DrawerKind::Open,
        Money::ZERO,
        "change for a customer",
        "Otieno",
    )
    .unwrap();
    assert_eq!(read_kick(), crate::receipt::DRAWER_KICK);
}

#[test]
fn demo_mode_pairs_only_with_a_relay_on_this_machine() {
    use super::is_loopback_url;
    for ok in [
        "http://127.0.0.1:8080",
        "http://127.3.2.1/",
        "https://localhost:9443/relay",
        "http://[::1]:80",
        "http://LOCALHOST",
    ] {
        assert!(is_loopback_url(ok), "{ok}");
    }
    for bad in [
        "https://relay.example.com",
        "http://127.0.0.1.example.com",
        "http://localhost.example.com:80",
        "http://user@127.0.0.1@evil.com",
        "http://10.0.0.1",
        "http://[::2]:80",
        "ftp://127.0.0.1",
        "",
    ] {
        assert!(!is_loopback_url(bad), "{bad}");
    }
}
