//! Property tests of every duka-core parser of what people and files type: amounts, phone
//! numbers, CSV price lists, settings values, dates and M-Pesa codes. None may panic on any
//! input (any Unicode); what round-trips must come back the same. The same parsers are fuzzed
//! by `fuzz/` (scripts/fuzz.sh).

use duka_core::catalog::{MAX_STOCK, parse_price_list};
use duka_core::config::{check_setting, setting_names};
use duka_core::money::{MAX_CENTS, Money};
use duka_core::phone::Msisdn;
use proptest::prelude::*;

/// What people type into an amount field, and what they should not.
fn amount_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9,. ]{0,20}",
        "(KES|Ksh|kshs|SH|Shs|KE|K)?[ .]{0,2}[0-9,]{0,16}(\\.[0-9]{0,3})?",
        "[0-9KESHkesh,. ½€é२०ß🦀-]{0,12}",
    ]
}

fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[+]?[0-9 ().-]{0,16}",
        "(\\+254|254|0)?[71][0-9]{8}",
        "[0-9+ ½€é२🦀-]{0,14}",
    ]
}

proptest! {
    #[test]
    fn money_parsing_never_panics(s in amount_like()) {
        match Money::parse_field(&s, "price") {
            Ok(m) => prop_assert!((0..=MAX_CENTS).contains(&m.cents())),
            Err(e) => prop_assert_eq!(e.code(), "invalid_input"),
        }
    }

    #[test]
    fn money_prints_and_parses_back(cents in 0..=MAX_CENTS, prefix in prop_oneof![Just(""), Just("KES "), Just("Ksh "), Just("Shs. ")]) {
        let m = Money::from_cents(cents).unwrap();
        prop_assert_eq!(m.to_string().parse::<Money>().unwrap(), m);
        prop_assert_eq!(m.plain().parse::<Money>().unwrap(), m);
        prop_assert_eq!(format!("{prefix}{}", m.plain()).parse::<Money>().unwrap(), m);
    }

    #[test]
    fn a_parsed_amount_prints_as_one_that_parses_the_same(s in amount_like()) {
        if let Ok(m) = s.parse::<Money>() {
            prop_assert_eq!(m.plain().parse::<Money>().unwrap(), m);
            prop_assert_eq!(m.to_string().parse::<Money>().unwrap(), m);
        }
    }

    #[test]
    fn phone_parsing_never_panics_and_is_idempotent(s in phone_like()) {
        match Msisdn::parse(&s) {
            Ok(m) => {
                let n = m.as_str();
                prop_assert!(n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()), "{}", n);
                prop_assert!(n.starts_with("2547") || n.starts_with("2541"), "{}", n);
                prop_assert_eq!(Msisdn::parse(n).unwrap(), m.clone());
                prop_assert_eq!(Msisdn::parse(&m.local()).unwrap(), m.clone());
                prop_assert_eq!(m.masked().len(), 11);
            }
            Err(e) => prop_assert_eq!(e.code(), "invalid_input"),
        }
    }

    #[test]
    fn csv_import_never_panics_on_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_price_list(&data)?;
    }

    #[test]
    fn csv_import_never_panics_on_any_cells(
        header in proptest::collection::vec(prop_oneof![
            Just("name".to_string()), Just("price".to_string()), Just("barcode".to_string()),
            Just("sku".to_string()), Just("active".to_string()), Just("stock".to_string()),
            Just("low_stock".to_string()), ".{0,6}"], 0..8),
        rows in proptest::collection::vec(proptest::collection::vec(prop_oneof![".{0,12}", "[0-9+., -]{0,10}"], 0..8), 0..6),
    ) {
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        w.write_record(&header).unwrap();
        for r in &rows {
            w.write_record(r).unwrap();
        }
        check_price_list(&w.into_inner().unwrap())?;
    }

    #[test]
    fn a_written_price_list_reads_back(
        products in proptest::collection::vec(("[A-Za-z0-9é€ ,\"'-]{0,20}[A-Za-z]", 0..=MAX_CENTS, any::<bool>()), 1..8),
    ) {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["name", "price", "active"]).unwrap();
        for (name, cents, active) in &products {
            let price = Money::from_cents(*cents).unwrap();
            w.write_record([name.as_str(), &price.to_string(), if *active { "yes" } else { "no" }]).unwrap();
        }
        let rows = parse_price_list("p.csv", &w.into_inner().unwrap()).unwrap();
        prop_assert_eq!(rows.len(), products.len());
        for ((line, p), (name, cents, active)) in rows.iter().zip(&products) {
            prop_assert!(*line >= 2);
            prop_assert_eq!(&p.name, name.trim());
            prop_assert_eq!(p.price.cents(), *cents);
            prop_assert_eq!(p.active, *active);
        }
    }

    #[test]
    fn settings_values_never_panic_and_normalise_once(
        name in prop_oneof![proptest::sample::select(setting_names().collect::<Vec<_>>()).prop_map(str::to_string), any::<String>()],
        value in prop_oneof![any::<String>(), "https?://[a-z0-9.:/é-]{0,20}", "[0-9 ]{0,9}", "[a-zA-Z_ ]{0,12}", "[0-9.:\\[\\]a-f]{0,20}"],
    ) {
        match check_setting(&name, &value) {
            Ok(v) => prop_assert_eq!(check_setting(&name, &v).unwrap(), v),
            Err(e) => prop_assert_eq!(e.code(), "invalid_input"),
        }
    }

    #[test]
    fn dates_and_mpesa_codes_never_panic(s in prop_oneof![any::<String>(), "[0-9]{4}-[0-9]{2}-[0-9]{2}", "[A-Za-z0-9 é]{8,12}"]) {
        if let Ok(d) = duka_core::time::parse_date(&s, "date") {
            prop_assert_eq!(duka_core::time::parse_date(&d.to_string(), "date").unwrap(), d);
        }
        if let Ok(c) = duka_core::sale::parse_receipt(&s) {
            prop_assert_eq!(duka_core::sale::parse_receipt(&c).unwrap(), c);
        }
        let _ = duka_core::config::Environment::parse(&s);
        let _ = duka_core::config::TillType::parse(&s);
        let _ = duka_core::secrets::SecretKey::parse(&s);
    }
}

fn check_price_list(data: &[u8]) -> Result<(), TestCaseError> {
    match parse_price_list("p.csv", data) {
        Ok(rows) => {
            for (_, p) in rows {
                prop_assert!(!p.name.is_empty());
                prop_assert!((0..=MAX_CENTS).contains(&p.price.cents()));
                for q in [p.stock, p.low_stock].into_iter().flatten() {
                    prop_assert!((0..=MAX_STOCK).contains(&q));
                }
            }
        }
        Err(e) => prop_assert_eq!(e.code(), "bad_file"),
    }
    Ok(())
}
