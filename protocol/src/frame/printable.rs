//! Peer-supplied text (reasons, close reasons, request lines) as it may
//! appear in a log line: control characters escaped, so no peer can end
//! our line and forge the next one.

use std::fmt;

/// `text` for a log line: printable characters as they are, control
/// characters (newlines, escapes, NULs…) as `\n`, `\u{1b}` and the like.
pub fn printable(text: &str) -> Printable<'_> {
    Printable(text)
}

/// See [`printable`].
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(&'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if shown_escaped(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Control characters, and the ones that move or reorder text on a
/// terminal: line and paragraph separators, bidirectional controls.
fn shown_escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_start_a_line() {
        let forged = "bye\n[2026-12-01T00:00:00Z INFO] client 1 is active\r\u{1b}[2J\0";
        let shown = printable(forged).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert_eq!(
            shown,
            "bye\\n[2026-12-01T00:00:00Z INFO] client 1 is active\\r\\u{1b}[2J\\u{0}"
        );
        assert_eq!(printable("plain, ünïcode").to_string(), "plain, ünïcode");
        assert_eq!(
            printable("a\u{2028}b\u{202e}c").to_string(),
            "a\\u{2028}b\\u{202e}c"
        );
    }
}
