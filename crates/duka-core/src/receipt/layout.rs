//! What every printed slip shares: a layout of styled lines, and that layout as plain text,
//! ESC/POS bytes or a one-page PDF; and the helpers that lay out text in columns.

use crate::money::Money;

/// How a line of a slip is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Centred, emphasised and double height (the shop's name).
    Title,
    Body,
    Bold,
}

/// A slip the till prints: a sale's receipt, a refund, a Z-report.
pub trait Printable {
    /// The slip as styled lines of at most `width` characters.
    fn layout(&self, width: usize) -> Vec<(Style, String)>;

    /// The slip as lines of at most `width` characters (`width` clamped to 24..=64).
    fn text(&self, width: usize) -> Vec<String> {
        self.layout(width).into_iter().map(|(_, l)| l).collect()
    }

    /// ESC/POS for a printer `width` columns wide: ASCII text between commands, then a cut.
    fn escpos(&self, width: usize) -> Vec<u8> {
        let mut out = vec![0x1B, b'@'];
        for (style, line) in self.layout(width) {
            let (before, text, after): (&[u8], _, &[u8]) = match style {
                // Centred by the printer, emphasised and double height.
                Style::Title => (
                    b"\x1Ba\x01\x1B!\x18",
                    ascii(line.trim()),
                    b"\x1B!\x00\x1Ba\x00",
                ),
                Style::Bold => (b"\x1BE\x01", ascii(&line), b"\x1BE\x00"),
                Style::Body => (b"", ascii(&line), b""),
            };
            out.extend([before, text.as_bytes(), b"\n", after].concat());
        }
        out.extend(b"\x1Bd\x04\x1DV\x00"); // feed 4 lines, full cut
        out
    }

    /// A one-page PDF 1.4, 80 mm wide, in 8 pt Courier: the 42-column text layout.
    fn pdf(&self) -> Vec<u8> {
        const WIDTH: f64 = 226.77; // 80 mm
        const SIZE: f64 = 8.0; // Courier glyphs are 0.6 em: 42 columns take 201.6 pt
        const LEADING: f64 = 10.0;
        const MARGIN: f64 = 18.0;
        let lines = self.layout(42);
        let height = 2.0 * MARGIN + LEADING * lines.len() as f64;
        let x = (WIDTH - 42.0 * 0.6 * SIZE) / 2.0;
        let top = height - MARGIN - SIZE;
        let mut content = format!("BT\n/F1 {SIZE} Tf\n{LEADING} TL\n{x:.2} {top:.2} Td\n");
        let mut font = "F1";
        for (style, line) in &lines {
            let want = if *style == Style::Body { "F1" } else { "F2" };
            if want != font {
                content.push_str(&format!("/{want} {SIZE} Tf\n"));
                font = want;
            }
            content.push_str(&format!("({}) Tj T*\n", pdf_escape(&ascii(line))));
        }
        content.push_str("ET\n");
        let len = content.len();
        let font = |name| format!("<< /Type /Font /Subtype /Type1 /BaseFont /{name} >>");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {WIDTH:.2} {height:.2}] \
                 /Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> /Contents 4 0 R >>"
            ),
            format!("<< /Length {len} >>\nstream\n{content}endstream"),
            font("Courier"),
            font("Courier-Bold"),
        ];
        // A binary comment after the header marks the file as binary for transfer tools.
        let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for (i, body) in objects.iter().enumerate() {
            xref.push_str(&format!("{:010} 00000 n \n", out.len()));
            out.extend(format!("{} 0 obj\n{body}\nendobj\n", i + 1).bytes());
        }
        let start = out.len();
        out.extend(xref.bytes());
        let n = objects.len() + 1;
        out.extend(
            format!("trailer\n<< /Size {n} /Root 1 0 R >>\nstartxref\n{start}\n%%EOF\n").bytes(),
        );
        out
    }
}

/// One char in, one char out: control and non-ASCII characters become `?`.
pub(crate) fn ascii(s: &str) -> String {
    let keep = |c: char| c.is_ascii() && !c.is_ascii_control();
    s.chars().map(|c| if keep(c) { c } else { '?' }).collect()
}

pub(crate) fn pdf_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

/// Word-wraps to lines of at most `w` chars (not bytes), cutting words longer than `w`.
pub(crate) fn wrap(s: &str, w: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur: Vec<char> = Vec::new();
    let clean = s.replace(char::is_control, " ");
    for word in clean.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while !word.is_empty() {
            let gap = usize::from(!cur.is_empty());
            if cur.len() + gap + word.len() <= w {
                cur.extend(" ".chars().take(gap).chain(word.drain(..)));
            } else if !cur.is_empty() {
                lines.push(cur.drain(..).collect());
            } else {
                lines.push(word.drain(..w).collect());
            }
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur.into_iter().collect());
    }
    lines
}

pub(crate) fn center(s: &str, w: usize) -> Vec<String> {
    let pad = |l: String| format!("{}{l}", " ".repeat((w - l.chars().count()) / 2));
    wrap(s, w).into_iter().map(pad).collect()
}

pub(crate) fn indent(s: &str, w: usize) -> Vec<String> {
    wrap(s, w - 2).iter().map(|l| format!("  {l}")).collect()
}

/// `left` and an amount flush right on one line; a long `left` wraps with the amount on its
/// first line, or above the amount's own line when the width leaves too little room.
pub(crate) fn pair(left: &str, amount: Money, w: usize) -> Vec<String> {
    let right = amount.to_string();
    let lead = &left[..left.len() - left.trim_start().len()];
    let room = w.saturating_sub(right.len() + 1 + lead.len());
    if room < 8 {
        let mut lines = wrap(left, w);
        lines.push(format!("{right:>w$}"));
        return lines;
    }
    let mut lines = wrap(left, room);
    lines.iter_mut().for_each(|l| l.insert_str(0, lead));
    let pad = w - lines[0].chars().count() - right.len();
    lines[0] = format!("{}{}{right}", lines[0], " ".repeat(pad));
    lines
}
