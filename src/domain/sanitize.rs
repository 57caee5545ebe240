//! Strings from the database or the user on their way to a terminal: control
//! characters and escape sequences must not reach it.

/// Replace control characters (C0, DEL, C1, including ESC) with `�`-free
/// visible placeholders so a hostile name cannot move the cursor or recolour
/// the screen. Tabs and newlines become spaces.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('?'),
            // Bidi overrides can reorder what is shown.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// [`clean`] and cut to at most `max` characters, marking the cut with `…`.
pub fn clean_truncate(s: &str, max: usize) -> String {
    let c = clean(s);
    if c.chars().count() <= max {
        c
    } else {
        let mut t: String = c.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The last non-blank line of a tool's output or log: the line that
/// usually says what went wrong. `fallback` when there is none.
pub fn last_line<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_are_neutralised() {
        assert_eq!(clean("a\u{1b}[2Jb"), "a?[2Jb");
        assert_eq!(clean("x\u{9b}31m"), "x?31m");
        assert_eq!(clean("tab\there"), "tab here");
        assert_eq!(clean_truncate("abcdef", 4), "abc…");
        assert_eq!(last_line("a\n  b  \n\n", "none"), "b");
        assert_eq!(last_line(" \n", "none"), "none");
    }

    proptest! {
        #[test]
        fn no_control_survives(s in "\\PC*|[\\x00-\\x1f\\x7f-\\x9f]*") {
            prop_assert!(!clean(&s).chars().any(char::is_control));
        }
    }
}
