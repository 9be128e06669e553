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
}
