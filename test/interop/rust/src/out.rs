//! JSON lines on stdout (one object per line, nothing else goes there), and the
//! small helpers they need: no serde, to keep the cold build short.

use std::io::Write as _;

/// A JSON string literal, quotes included.
pub fn s(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array of strings.
pub fn list<I: IntoIterator<Item = T>, T: AsRef<str>>(items: I) -> String {
    let parts: Vec<String> = items.into_iter().map(|x| s(x.as_ref())).collect();
    format!("[{}]", parts.join(","))
}

/// A number of milliseconds, to the microsecond.
pub fn ms(seconds: f64) -> String {
    format!("{:.3}", seconds * 1000.0)
}

/// Prints `{"event":"<name>", <fields>}` as one line and flushes it.
pub fn event(name: &str, fields: &[(&str, String)]) {
    let mut line = format!("{{\"event\":{}", s(name));
    for (key, value) in fields {
        line.push(',');
        line.push_str(&s(key));
        line.push(':');
        line.push_str(value);
    }
    line.push_str("}\n");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(line.as_bytes());
    let _ = stdout.flush();
}

/// Prints the error line and exits with code 1.
pub fn fail(message: &str) -> ! {
    event("error", &[("message", s(message))]);
    std::process::exit(1)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
