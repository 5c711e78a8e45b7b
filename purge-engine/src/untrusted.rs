//! Text nova-purge did not write itself (names read from a database or an
//! export file, a server's error message) is shown with its control
//! characters escaped: a cell named with a newline or an escape sequence
//! must not be able to forge a report line or drive the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (and the bidirectional overrides
/// that reorder what a terminal shows) written as an escape: `\n`, `\t`,
/// `\r`, `\e`, or `\u{..}`.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '\r' => escaped.push_str("\\r"),
            '\u{1b}' => escaped.push_str("\\e"),
            c if needs_escape(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(escape("cell1"), "cell1");
        assert_eq!(
            escape("evil\ninstances: 0 deleted\x1b[2K\u{7}\u{202e}x"),
            "evil\\ninstances: 0 deleted\\e[2K\\u{7}\\u{202e}x"
        );
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }
}
