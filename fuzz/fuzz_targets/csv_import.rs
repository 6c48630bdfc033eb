//! CSV price lists (`duka product import`, the manager's import screen): any bytes.
#![no_main]

use duka_core::catalog::parse_price_list;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_price_list("fuzz.csv", data) {
        Ok(rows) => {
            for (line, p) in rows {
                assert!(line >= 1);
                assert!(!p.name.is_empty());
                for q in [p.stock, p.low_stock].into_iter().flatten() {
                    assert!((0..=duka_core::catalog::MAX_STOCK).contains(&q));
                }
            }
        }
        Err(e) => {
            assert_eq!(e.code(), "bad_file");
            let _ = e.to_string();
        }
    }
});
