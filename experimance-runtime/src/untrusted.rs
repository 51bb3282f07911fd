//! Bytes from the network, made safe to put in a log line.
//!
//! A peer controls topics, payloads, service names in heartbeats, usernames and the text of
//! decode errors that quote them. Written raw, a newline in any of them starts a forged log
//! line, and an escape sequence repaints the operator's terminal. [`Untrusted`] writes them
//! with every control character, line or paragraph separator and bidirectional override
//! escaped, and every byte that is not UTF-8 as `\xNN`.

use std::fmt;

/// Displays bytes that came from a peer so that they stay on one line and cannot steer a
/// terminal: `\n`, `\r` and `\t` as themselves escaped, other control characters (ESC among
/// them) as `\u{1b}`, Unicode line breaks and bidirectional controls as `\u{2028}`, invalid
/// UTF-8 as `\xff`. Everything else is written as it is.
///
/// ```
/// use experimance_runtime::Untrusted;
///
/// let forged = b"ok\n2026-01-01T00:00:00Z  INFO forged\x1b[31m \xff";
/// assert_eq!(
///     Untrusted(forged).to_string(),
///     r"ok\n2026-01-01T00:00:00Z  INFO forged\u{1b}[31m \xff"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Untrusted<'a>(pub &'a [u8]);

impl<'a> Untrusted<'a> {
    /// The same for text that is already UTF-8.
    pub fn str(text: &'a str) -> Untrusted<'a> {
        Untrusted(text.as_bytes())
    }
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            write_escaped(f, chunk.valid())?;
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let mut clean = 0;
    for (at, c) in text.char_indices() {
        if !needs_escape(c) {
            continue;
        }
        f.write_str(&text[clean..at])?;
        match c {
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            _ => write!(f, "\\u{{{:x}}}", u32::from(c))?,
        }
        clean = at + c.len_utf8();
    }
    f.write_str(&text[clean..])
}

/// Control characters (C0, DEL, C1), line and paragraph separators, and the bidirectional
/// embeddings, overrides and isolates that can reorder what a reader sees.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_character_is_escaped() {
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let shown = Untrusted::str(&format!("a{c}b")).to_string();
            assert!(!shown.chars().any(char::is_control), "{c:?} -> {shown:?}");
            assert!(shown.starts_with('a') && shown.ends_with('b'), "{shown:?}");
        }
    }

    #[test]
    fn line_breaks_and_bidi_controls_are_escaped() {
        let shown = Untrusted::str("a\u{2028}b\u{202e}c\u{2066}d").to_string();
        assert_eq!(shown, r"a\u{2028}b\u{202e}c\u{2066}d");
    }

    #[test]
    fn invalid_utf8_is_shown_as_hex() {
        assert_eq!(Untrusted(b"\xc3(\xff").to_string(), r"\xc3(\xff");
        assert_eq!(Untrusted("é→ ok".as_bytes()).to_string(), "é→ ok");
    }
}
