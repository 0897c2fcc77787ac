//! Words for a person: the parser's errors that would otherwise reach the
//! operator as Rust names (`Aliases { aliases: 101 }`) or as a bare list,
//! and names too long to echo whole. Pure functions.

use serde_saphyr::budget::BudgetBreach;

/// How many characters of a long name a message shows.
const SHOWN_CHARS: usize = 40;

/// `name` quoted for a message: whole when short, else its first 40
/// characters, `…` and its length, so a 300-character name does not fill
/// the screen.
pub(crate) fn quoted(name: &str) -> String {
    let length = name.chars().count();
    if length <= SHOWN_CHARS {
        return format!("`{name}`");
    }
    let head: String = name.chars().take(SHOWN_CHARS).collect();
    format!("`{head}…` ({length} characters)")
}

/// The error the parser wraps in alias or snippet context.
fn original(mut err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = err
    {
        err = error;
    }
    err
}

/// The parser's error in words a person acts on, when ours say it better
/// than the library's: unknown keys (with the nearest known one) and safety
/// budgets (in words, not Rust names), a port that is no number. `key` and `written` are the key and the value written at
/// the value written at the error, when known.
pub(super) fn yaml_words(
    err: &serde_saphyr::Error,
    key: Option<&str>,
    written: Option<&str>,
) -> Option<String> {
    match original(err) {
        serde_saphyr::Error::InvalidScalar { ty: "i64", .. } if key == Some("port") => {
            Some(format!(
                "{} is not a port: write a number from 1024 to 65535, e.g. `port: 18789`",
                quoted(written.unwrap_or_default())
            ))
        }
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => Some(unknown_key(field, expected)),
        serde_saphyr::Error::Budget { breach, .. } => Some(budget(breach)),
        _ => None,
    }
}

/// `unknown key `evry`: did you mean `every`?`, and the keys allowed here.
pub(super) fn unknown_key(field: &str, expected: &[&str]) -> String {
    let keys = expected
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let field_shown = quoted(field);
    let Some(nearest) = nearest(field, expected) else {
        return if expected.is_empty() {
            format!("unknown key {field_shown}: this mapping takes no keys")
        } else {
            format!("unknown key {field_shown}: the keys here are {keys}")
        };
    };
    format!("unknown key {field_shown}: did you mean `{nearest}`? (the keys here are {keys})")
}

/// `unknown notification `faild`: did you mean `failed`? (one of ...)`.
pub(super) fn unknown_value(written: &str, what: &str, known: &[&str]) -> String {
    let list = known
        .iter()
        .map(|value| format!("`{value}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match nearest(written, known) {
        Some(nearest) => format!(
            "unknown {what} {}: did you mean `{nearest}`? (one of {list})",
            quoted(written)
        ),
        None => format!("unknown {what} {}: write one of {list}", quoted(written)),
    }
}

/// The known key closest to `written`, if one is close enough to be a typo:
/// at most a third of its letters wrong (and at least one allowed).
fn nearest<'a>(written: &str, known: &[&'a str]) -> Option<&'a str> {
    let lowered = written.to_ascii_lowercase();
    let allowed = (written.chars().count() / 3).max(1);
    known
        .iter()
        .map(|key| (strsim::damerau_levenshtein(&lowered, key), *key))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

/// The flow collection (`[` or `{`) still open at `line` (1-based) that was
/// opened on an earlier line: its line, column and bracket. A bracket left
/// open makes the parser stumble lines later, on the next key; the fault is
/// where the bracket opens. Quoted text and comments are skipped, and only a
/// bracket where a value starts counts (`command: /x[1]` opens nothing).
pub(super) fn unclosed_flow(text: &str, line: u64) -> Option<(u64, u64, char)> {
    let mut open: Vec<(u64, u64, char)> = Vec::new();
    for (number, row) in (1..line).zip(text.lines()) {
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        for (index, ch) in row.chars().enumerate() {
            match (quote, ch) {
                (Some(q), c) if c == q && previous != '\\' => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(ch),
                (None, '#') if previous == ' ' || index == 0 => break,
                (None, '[' | '{') if matches!(previous, ' ' | '[' | '{' | ',') => {
                    open.push((number, index as u64 + 1, ch));
                }
                (None, ']' | '}') if !open.is_empty() => {
                    open.pop();
                }
                _ => {}
            }
            previous = ch;
        }
    }
    open.pop()
}

/// A breached parser budget, in words: what the file does too much of, and
/// that a declaration never needs it.
fn budget(breach: &BudgetBreach) -> String {
    let what = match breach {
        BudgetBreach::Aliases { .. } | BudgetBreach::AliasAnchorRatio { .. } => {
            "uses more than 100 YAML aliases (`*name`): a declaration needs a few at most".to_string()
        }
        BudgetBreach::Anchors { .. } => {
            "defines more than 100 YAML anchors (`&name`): a declaration needs a few at most"
                .to_string()
        }
        BudgetBreach::Documents { .. } => {
            "holds more than one YAML document (`---`): a declaration is a single document"
                .to_string()
        }
        BudgetBreach::Depth { .. } => {
            "nests deeper than 16 levels: a declaration nests three or four".to_string()
        }
        BudgetBreach::MergeKeys { .. } => {
            "uses more than 100 YAML merge keys (`<<`): a declaration needs a few at most"
                .to_string()
        }
        BudgetBreach::Events { .. }
        | BudgetBreach::Nodes { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => {
            "is larger, once its aliases are expanded, than any declaration needs: write the values out, or use fewer aliases".to_string()
        }
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => format!(
            "holds more than {} bytes of text, more than any declaration needs",
            super::MAX_DECLARATION_BYTES
        ),
        _ => "is more complex than any declaration needs (the YAML parser's safety limits refused it)".to_string(),
    };
    format!("the file {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_and_short_ones_shown_whole() {
        let rows = [
            ("main".to_string(), "`main`".to_string()),
            ("a".repeat(40), format!("`{}`", "a".repeat(40))),
            (
                "é".repeat(41),
                format!("`{}…` (41 characters)", "é".repeat(40)),
            ),
        ];
        for (name, expected) in rows {
            assert_eq!(quoted(&name), expected, "{name}");
        }
    }

    #[test]
    fn the_bracket_left_open_is_found() {
        type Open = Option<(u64, u64, char)>;
        let rows: &[(&str, u64, Open)] = &[
            ("args: [a, b\nrole: main\n", 2, Some((1, 7, '['))),
            ("env: { A: b\nrole: main\n", 2, Some((1, 6, '{'))),
            ("args: [a, b]\nrole: main: x\n", 2, None),
            ("args: [a,\n  b]\nrole: main: x\n", 3, None),
            ("args: ['[', b\nrole: main\n", 2, Some((1, 7, '['))),
            ("command: /x[1 # [\nrole: main: x\n", 2, None),
            ("args: [a, b\n", 1, None),
        ];
        for (text, line, expected) in rows {
            assert_eq!(unclosed_flow(text, *line), *expected, "{text:?}");
        }
    }

    #[test]
    fn an_unknown_key_suggests_the_nearest_known_one() {
        let keys = ["http", "tcp", "every", "timeout", "failures"];
        let rows = [
            ("evry", "did you mean `every`?"),
            ("Every", "did you mean `every`?"),
            ("timout", "did you mean `timeout`?"),
            ("failrues", "did you mean `failures`?"),
            ("htp", "did you mean `http`?"),
            (
                "zzz",
                "unknown key `zzz`: the keys here are `http`, `tcp`, `every`",
            ),
        ];
        for (written, words) in rows {
            let message = unknown_key(written, &keys);
            assert!(message.contains(words), "{written}: {message}");
        }
        assert_eq!(
            unknown_key("x", &[]),
            "unknown key `x`: this mapping takes no keys"
        );
    }
}
