//! Receipts: a [`Receipt`] built from a sale, laid out as plain text for a thermal printer
//! (32/42/48 columns), as ESC/POS bytes or as a one-page PDF; and sent to a network printer.

use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::money::Money;
use crate::sale::{Sale, SaleLine, SaleStatus, TenderKind};
use crate::time::Millis;

mod layout;
mod slips;

pub use layout::{Printable, Style};
use layout::{center, indent, pair, wrap};
pub use slips::{RefundSlip, ZReportSlip, difference_text, refund_destination};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct ReceiptTender {
    pub kind: TenderKind,
    /// `Cash`, `M-Pesa` (STK push) or `M-Pesa code` (typed by the cashier).
    pub label: &'static str,
    /// What the tender pays towards the sale (for cash: handed over minus change).
    pub amount: Money,
    /// Cash only.
    pub change: Option<Money>,
    /// M-Pesa only: the receipt number, or `pending` while none is known; a typed code not
    /// yet matched ends in ` (unverified)`.
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Receipt {
    pub shop: String,
    pub sale_id: i64,
    pub status: SaleStatus,
    pub cashier: String,
    /// The latest tender's time, else when the sale was rung up (UTC milliseconds).
    pub time: Millis,
    /// `time` in Africa/Nairobi: `2026-11-23 14:05:09`.
    pub time_local: String,
    pub lines: Vec<SaleLine>,
    pub total: Money,
    pub paid: Money,
    pub due: Money,
    pub tenders: Vec<ReceiptTender>,
    /// The sale-wide discount (line discounts are on their lines).
    pub discount: Money,
    /// Given back by refunds.
    pub refunded: Money,
}

/// The ESC/POS pulse that opens a cash drawer wired to the printer's drawer port (pin 2,
/// 50 ms on, 500 ms off).
pub const DRAWER_KICK: &[u8] = &[0x1B, b'p', 0x00, 0x19, 0xFA];

impl Receipt {
    pub fn from_sale(sale: &Sale, shop: &str) -> Receipt {
        let time = sale.tenders.iter().map(|t| t.created_at).max();
        let time = time.unwrap_or(sale.created_at);
        let tenders = sale.tenders.iter().map(|t| {
            let cash = t.kind == TenderKind::Cash;
            let reference = match (&t.receipt, t.kind, t.verified) {
                _ if cash => None,
                (None, ..) => Some("pending".to_string()),
                (Some(r), TenderKind::MpesaCode, false) => Some(format!("{r} (unverified)")),
                (Some(r), ..) => Some(r.clone()),
            };
            let label = match t.kind {
                TenderKind::Cash => "Cash",
                TenderKind::MpesaStk => "M-Pesa",
                TenderKind::MpesaCode => "M-Pesa code",
            };
            let change = cash.then_some(t.change);
            ReceiptTender {
                kind: t.kind,
                label,
                amount: t.amount,
                change,
                reference,
            }
        });
        Receipt {
            shop: shop.trim().to_string(),
            sale_id: sale.id,
            status: sale.status,
            cashier: sale.cashier.clone(),
            time,
            time_local: crate::time::format_local(time),
            lines: sale.lines.clone(),
            total: sale.total,
            paid: sale.paid,
            due: sale.due,
            tenders: tenders.collect(),
            discount: sale.discount,
            refunded: sale.refunded,
        }
    }
}

impl Printable for Receipt {
    fn layout(&self, width: usize) -> Vec<(Style, String)> {
        let w = width.clamp(24, 64);
        let mut out = Vec::new();
        let mut add = |style, lines: Vec<String>| out.extend(lines.into_iter().map(|l| (style, l)));
        let shop = Some(self.shop.as_str()).filter(|s| !s.is_empty());
        add(Style::Title, center(shop.unwrap_or("Duka"), w));
        add(Style::Body, wrap(&format!("Sale #{}", self.sale_id), w));
        add(Style::Body, wrap(&self.time_local, w));
        add(Style::Body, wrap(&format!("Cashier: {}", self.cashier), w));
        if self.status == SaleStatus::Voided {
            add(Style::Body, center("*** VOIDED ***", w));
        }
        add(Style::Body, vec!["-".repeat(w)]);
        for l in &self.lines {
            add(Style::Body, pair(&l.description, l.total, w));
            if l.quantity > 1 {
                let each = format!("{} x {}", l.quantity, l.unit_price);
                add(Style::Body, indent(&each, w));
            }
            if l.discount > Money::ZERO {
                add(Style::Body, indent(&format!("discount -{}", l.discount), w));
            }
        }
        add(Style::Body, vec!["-".repeat(w)]);
        if self.discount > Money::ZERO {
            add(Style::Body, pair("Discount", self.discount, w));
        }
        add(Style::Bold, pair("TOTAL", self.total, w));
        for t in &self.tenders {
            // Cash shows what was handed over, then the change.
            let shown = t.amount.checked_add(t.change.unwrap_or_default());
            let shown = shown.unwrap_or(t.amount);
            add(Style::Body, pair(t.label, shown, w));
            if let Some(r) = &t.reference {
                add(Style::Body, indent(&format!("Receipt: {r}"), w));
            }
            if let Some(c) = t.change {
                add(Style::Body, pair("  Change", c, w));
            }
        }
        if self.due > Money::ZERO {
            add(Style::Body, pair("Paid", self.paid, w));
            add(Style::Bold, pair("DUE", self.due, w));
        }
        if self.refunded > Money::ZERO {
            add(Style::Body, pair("Refunded", self.refunded, w));
        }
        add(Style::Body, vec![String::new()]);
        add(Style::Body, center("Thank you", w));
        out
    }
}

/// Sends bytes to a network receipt printer: raw TCP, port 9100 unless `addr` names one.
pub fn print_tcp(addr: &str, bytes: &[u8], timeout: Duration) -> Result<()> {
    if addr.trim().is_empty() {
        let expected = "a printer address such as 192.168.1.50 or 192.168.1.50:9100";
        return Err(Error::invalid("printer", expected, addr));
    }
    let target = printer_addr(addr);
    let timeout = timeout.max(Duration::from_millis(1)); // zero is refused by the std calls
    let fail = |message: String| Error::Printer {
        addr: target.clone(),
        message,
    };
    let why = |e: std::io::Error| match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            format!("no answer within {} ms", timeout.as_millis())
        }
        _ => e.to_string(),
    };
    let addrs = target.to_socket_addrs();
    let addrs = addrs.map_err(|e| fail(format!("cannot resolve the address: {e}")))?;
    let mut last = None;
    let stream = addrs.into_iter().find_map(|a| {
        TcpStream::connect_timeout(&a, timeout)
            .map_err(|e| last = Some(e))
            .ok()
    });
    let mut stream = stream
        .ok_or_else(|| fail(last.map_or_else(|| "the address resolves to nothing".into(), why)))?;
    let sent = stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.write_all(bytes))
        .and_then(|()| stream.flush())
        .and_then(|()| stream.shutdown(Shutdown::Write));
    sent.map_err(|e| fail(format!("sending the receipt: {}", why(e))))
}

/// `10.0.0.5` → `10.0.0.5:9100`, `::1` → `[::1]:9100`; an address with a port is kept.
fn printer_addr(addr: &str) -> String {
    let a = addr.trim();
    let bare = a.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return SocketAddr::new(ip, 9100).to_string();
    }
    let port = a
        .rsplit_once(':')
        .filter(|(host, _)| !host.contains(':') || host.ends_with(']'));
    match port.map(|(_, p)| p.parse::<u16>()) {
        Some(Ok(_)) => a.to_string(),
        _ => format!("{a}:9100"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::PaymentEvent;
    use crate::sale::NewLine;
    use crate::{Msisdn, Store};

    const SHOP: &str = "Mama Njeri's Duka";
    const LONG: &str = "Maziwa Mala 500ml ya Brookside — pakiti kubwa sana kwa familia nzima";

    fn m(shillings: i64) -> Money {
        Money::from_shillings(shillings).unwrap()
    }

    /// A real store on a temp file with one sale of `items`; `pay` tenders it.
    fn receipt(items: &[(&str, i64, i64)], pay: impl FnOnce(&mut Store, i64)) -> Receipt {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("duka.db")).unwrap();
        s.add_cashier("Wanjiku", "cashier").unwrap();
        let lines: Vec<NewLine> = items
            .iter()
            .map(|(d, p, q)| NewLine::free(d, m(*p), *q).unwrap())
            .collect();
        let id = s.create_sale("Wanjiku", &lines).unwrap().id;
        pay(&mut s, id);
        Receipt::from_sale(&s.sale(id).unwrap(), SHOP)
    }

    /// KES 1,350: a typed M-Pesa code for 350, then 1,500 cash (change 500).
    fn paid() -> Receipt {
        let items = [
            ("Sugar 1kg", 150, 1),
            (LONG, 60, 2),
            ("Chai (Ketepa) 100g \\ box", 1_000, 1),
            ("Crème brûlée", 80, 1),
        ];
        receipt(&items, |s, id| {
            s.pay_mpesa_code(
                id,
                "qkm0fxe6rk",
                Some(m(350)),
                "Wanjiku",
                crate::store::Claim::Local,
            )
            .unwrap();
            assert_eq!(s.pay_cash(id, m(1_500), "Wanjiku").unwrap().1, m(500));
        })
    }

    fn has(text: &[String], start: &str, end: &str) -> bool {
        text.iter()
            .any(|l| l.starts_with(start) && l.ends_with(end))
    }

    #[test]
    fn text_fits_and_says_what_was_paid() {
        let r = paid();
        for w in [24, 32, 42, 48, 64] {
            let text = r.text(w);
            assert!(
                text.iter().all(|l| l.chars().count() <= w),
                "{w}: {text:#?}"
            );
            assert_eq!(
                text[0],
                format!("{}{SHOP}", " ".repeat((w - SHOP.len()) / 2))
            );
            let has = |start, end| has(&text, start, end);
            assert!(
                has("TOTAL ", " KES 1,350.00") && has("Cash ", " KES 1,500.00"),
                "{text:#?}"
            );
            assert!(has("  Change ", " KES 500.00") && has("  2 x KES 60.00", "60.00"));
            assert!(has("M-Pesa code ", " KES 350.00") && has("Crème brûlée ", " KES 80.00"));
            assert!(
                text.iter()
                    .flat_map(|l| l.split_whitespace())
                    .any(|x| x == "QKM0FXE6RK")
            );
            assert!(!has("DUE", ""), "fully paid");
            assert_eq!(text.last().unwrap().trim(), "Thank you");
            // The long description wraps with nothing lost; its amount on its first line.
            let at = text.iter().position(|l| l.starts_with("Maziwa")).unwrap();
            assert!(text[at].ends_with(" KES 120.00"), "{:?}", text[at]);
            let end = at
                + text[at..]
                    .iter()
                    .position(|l| l.starts_with("  2 x"))
                    .unwrap();
            let words: Vec<&str> = text[at..end]
                .iter()
                .flat_map(|l| l.split_whitespace())
                .collect();
            assert!(
                LONG.split_whitespace().all(|x| words.contains(&x)),
                "{w}: {words:?}"
            );
        }
        let text = r.text(48);
        assert!(
            text.contains(&"  Receipt: QKM0FXE6RK (unverified)".into()),
            "{text:#?}"
        );
        assert!(text.contains(&r.time_local) && r.time_local.len() == 19);
        assert_eq!(r.text(10), r.text(24), "width clamped");
    }

    #[test]
    fn mpesa_without_a_receipt_number_is_pending_and_dues_show() {
        // Paid by an STK push whose result came from a query: no receipt number yet.
        let r = receipt(&[("Unga 2kg", 200, 1), ("Sabuni", 50, 1)], |s, id| {
            let phone = Msisdn::parse("0708374149").unwrap();
            let a = s.create_attempt(id, &phone, 200, "Wanjiku").unwrap();
            let accepted = PaymentEvent::PushAccepted {
                checkout_id: "ws_CO_1".into(),
            };
            s.apply_event(&a.id, &accepted, "engine", None).unwrap();
            let ok = PaymentEvent::Result {
                code: "0".into(),
                receipt: None,
            };
            s.apply_event(&a.id, &ok, "query", Some("processed"))
                .unwrap();
        });
        assert_eq!(r.tenders[0].label, "M-Pesa");
        let text = r.text(32);
        assert!(text.contains(&"  Receipt: pending".into()), "{text:#?}");
        assert!(has(&text, "M-Pesa ", " KES 200.00") && has(&text, "DUE ", " KES 50.00"));
        assert!(!has(&text, "  Change", ""), "no change for M-Pesa");
    }

    #[test]
    fn escpos_is_ascii_between_known_commands() {
        let mut r = paid();
        r.lines[0].description = "Sukari\x1b@ ya Mumias €".into();
        let bytes = r.escpos(48);
        assert!(bytes.starts_with(&[0x1B, 0x40]));
        assert!(bytes.ends_with(&[0x1D, b'V', 0]), "full cut last");
        // Walk the stream: only our commands, printable ASCII and line feeds.
        let (mut text, mut i) = (String::new(), 0);
        while i < bytes.len() {
            match &bytes[i..] {
                [0x1B, b'@', ..] => i += 2,
                [0x1B, b'a' | b'!' | b'E' | b'd', _, ..] | [0x1D, b'V', 0, ..] => i += 3,
                [b @ (b'\n' | 0x20..=0x7E), ..] => (text.push(*b as char), i += 1).1,
                rest => panic!("byte {i}: {:02X?}", &rest[..rest.len().min(4)]),
            }
        }
        assert!(text.starts_with(&format!("{SHOP}\n")), "{text}");
        assert!(
            text.contains("Sukari @ ya Mumias ?") && text.contains("Cr?me br?l?e"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.len() <= 48));
        let total = format!(
            "\x1BE\x01TOTAL{}KES 1,350.00\n\x1BE\x00",
            " ".repeat(48 - 17)
        );
        assert!(
            bytes.windows(total.len()).any(|w| w == total.as_bytes()),
            "TOTAL emphasised"
        );
    }

    #[test]
    fn pdf_xref_points_at_every_object() {
        let pdf = paid().pdf();
        assert!(pdf.starts_with(b"%PDF-1.4\n") && pdf.ends_with(b"%%EOF\n"));
        let tail = std::str::from_utf8(&pdf[15..]).unwrap(); // all ASCII after the header
        let at = |off: usize| std::str::from_utf8(&pdf[off..]).unwrap();
        let start: usize = tail.rsplit('\n').nth(2).unwrap().parse().unwrap();
        assert!(tail.ends_with(&format!("\nstartxref\n{start}\n%%EOF\n")));
        let xref = at(start)
            .strip_prefix("xref\n0 7\n0000000000 65535 f \n")
            .unwrap();
        for obj in 1..7 {
            let e = &xref[(obj - 1) * 20..obj * 20];
            assert!(e.ends_with(" 00000 n \n"), "{e:?}");
            assert!(
                at(e[..10].parse().unwrap()).starts_with(&format!("{obj} 0 obj\n")),
                "{obj}"
            );
        }
        assert!(xref[120..].starts_with("trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n"));
        assert!(
            tail.contains("(Chai \\(Ketepa\\) 100g \\\\ box ") && tail.contains("(Cr?me br?l?e ")
        );
        assert!(tail.contains("/BaseFont /Courier ") && tail.contains("/MediaBox [0 0 226.77 "));
        let (_, len) = tail.split_once("<< /Length ").unwrap();
        let (len, rest) = len.split_once(" >>\nstream\n").unwrap();
        assert!(
            rest[len.parse::<usize>().unwrap()..].starts_with("endstream"),
            "exact /Length"
        );
    }

    #[test]
    fn print_tcp_sends_exactly_the_bytes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let got = std::thread::spawn(move || {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut listener.accept().unwrap().0, &mut got).unwrap();
            got
        });
        let bytes = paid().escpos(42);
        print_tcp(&addr, &bytes, Duration::from_secs(5)).unwrap();
        assert_eq!(got.join().unwrap(), bytes);
    }

    #[test]
    fn print_tcp_errors_name_the_printer() {
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = print_tcp(&free.to_string(), b"x", Duration::from_secs(2)).unwrap_err();
        assert_eq!(e.code(), "printer");
        assert_eq!(e.to_string(), format!("printer {free}: connection refused"));
        let e = print_tcp(" ", b"x", Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.code(), "invalid_input");
        assert_eq!(printer_addr("10.0.0.5"), "10.0.0.5:9100");
        assert_eq!(printer_addr(" 10.0.0.5:9101 "), "10.0.0.5:9101");
        assert_eq!(printer_addr("::1"), "[::1]:9100");
        assert_eq!(printer_addr("[::1]:9200"), "[::1]:9200");
        assert_eq!(printer_addr("printer.local"), "printer.local:9100");
    }
}
