//! One-line messages: every start-up error is printed as one line (DESIGN §2.6), but
//! parsers (toml's, with a caret under the column) and plugins write several.

/// Joins the meaningful lines of `message` with `; `, dropping caret and gutter lines.
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .map(|l| l.strip_prefix("| ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `text` with control characters and the characters that reorder text on a terminal
/// (bidirectional overrides and isolates, RFC 9839's "problematic" code points)
/// escaped as `\u{..}`: a config value in an error message is shown, never obeyed.
pub(crate) fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_toml_style_messages() {
        let toml = "TOML parse error at line 1, column 12\n  |\n1 | greeting = 5\n  |            ^\ninvalid type: integer `5`, expected a string\n";
        assert_eq!(
            one_line(toml),
            "TOML parse error at line 1, column 12; 1 | greeting = 5; invalid type: integer `5`, expected a string"
        );
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(escaped("plain `x`"), "plain `x`");
        assert_eq!(escaped("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(escaped("evil\u{202E}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(escaped("tab\there"), "tab\\u{9}here");
    }
}
