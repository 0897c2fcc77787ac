//! `diff NAME`'s text, pure: the last good config and declaration against
//! the current ones as a unified diff (the `similar` crate), with the value
//! of every secret key redacted, since the output goes to an agent's chat.
//!
//! Redaction works line by line, so a config that no longer parses (the
//! usual reason to look) is still shown: on a line `key: value` (JSON5 or
//! YAML, the key quoted or not) whose key names a secret, the value becomes
//! `<redacted>`, or `<redacted, changed>` on the current side when that
//! key's value (the same key, its n-th occurrence) differs from the good one.

use std::collections::HashMap;

pub const REDACTED: &str = "<redacted>";
pub const REDACTED_CHANGED: &str = "<redacted, changed>";

/// Whether a key holds a secret: the one rule (`crate::secrets`).
pub use crate::secrets::is_secret_key;

/// The secret values on one line: each key naming a secret, with the byte
/// range of its value (quotes included). Values on the same line as their
/// key only, inline objects (`auth: { token: "x" }`) too; a bare value
/// runs to the end of the line (less a trailing `,`), or inside an inline
/// object or list to the next `,`, `}` or `]`.
fn secret_values(line: &str) -> Vec<(&str, std::ops::Range<usize>)> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let skip_spaces = |mut at: usize| {
        while at < bytes.len() && (bytes[at] == b' ' || bytes[at] == b'\t') {
            at += 1;
        }
        at
    };
    // The end of the quoted string starting at `at` (after its last quote).
    let string_end = |at: usize| {
        let quote = bytes[at];
        let mut end = at + 1;
        while end < bytes.len() && bytes[end] != quote {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        (end + 1).min(bytes.len())
    };
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$';
    while i < bytes.len() {
        let (key, after) = match bytes[i] {
            b'"' | b'\'' => {
                let end = string_end(i);
                (&line[i + 1..end.saturating_sub(1).max(i + 1)], end)
            }
            b if is_word(b) => {
                let mut end = i;
                while end < bytes.len() && is_word(bytes[end]) {
                    end += 1;
                }
                (&line[i..end], end)
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
                continue;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let colon = skip_spaces(after);
        if colon >= bytes.len() || bytes[colon] != b':' {
            i = after;
            continue;
        }
        let value_start = skip_spaces(colon + 1);
        if value_start >= bytes.len() || matches!(bytes[value_start], b'{' | b'[') {
            i = value_start;
            continue;
        }
        let value_end = match bytes[value_start] {
            b'"' | b'\'' => string_end(value_start),
            _ if depth > 0 => line[value_start..]
                .find([',', '}', ']'])
                .map_or(bytes.len(), |n| value_start + n),
            _ => line.trim_end().trim_end_matches(',').len().max(value_start),
        };
        let value_end = value_start + line[value_start..value_end].trim_end().len();
        if is_secret_key(key) && value_end > value_start {
            found.push((key, value_start..value_end));
        }
        i = value_end.max(value_start + 1);
    }
    found
}

/// The secret values of `text`: (key, n-th occurrence) -> value.
fn secrets_of(text: &str) -> HashMap<(String, usize), String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut secrets = HashMap::new();
    for line in text.lines() {
        for (key, range) in secret_values(line) {
            let n = seen.entry(key.to_string()).or_default();
            secrets.insert((key.to_string(), *n), line[range].to_string());
            *n += 1;
        }
    }
    secrets
}

/// `text` with every secret value replaced; with `against` (the other
/// side's secrets), a value that differs from its counterpart is marked
/// changed.
fn redact(text: &str, against: Option<&HashMap<(String, usize), String>>) -> String {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut copied = 0;
        for (key, range) in secret_values(line) {
            let n = seen.entry(key.to_string()).or_default();
            let value = &line[range.clone()];
            let changed = against.is_some_and(|other| {
                other.get(&(key.to_string(), *n)).map(String::as_str) != Some(value)
            });
            *n += 1;
            out.push_str(&line[copied..range.start]);
            out.push_str(if changed { REDACTED_CHANGED } else { REDACTED });
            copied = range.end;
        }
        out.push_str(&line[copied..]);
        out.push('\n');
    }
    out
}

/// The good and current text of one file, redacted, as a unified diff with
/// these labels; empty when they are the same.
pub fn redacted_diff(good: &str, current: &str, good_label: &str, current_label: &str) -> String {
    let good_secrets = secrets_of(good);
    let old = redact(good, None);
    let new = redact(current, Some(&good_secrets));
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(good_label, current_label)
        .to_string()
}

/// What `diff NAME` compares.
#[derive(Debug, Clone)]
pub struct DiffInput<'a> {
    pub name: &'a str,
    /// When the last good was recorded, in words (`2026-12-04T22:30:00Z`).
    pub good_at: &'a str,
    pub good_config: &'a str,
    pub good_declaration: &'a str,
    /// None when the config file cannot be read now (it is said so).
    pub current_config: Option<&'a str>,
    pub current_declaration: &'a str,
    pub config_path: &'a str,
}

/// The whole reply of `diff NAME`.
pub fn render(input: &DiffInput<'_>) -> String {
    let config = match input.current_config {
        Some(current) => redacted_diff(
            input.good_config,
            current,
            &format!("{} (last good, {})", input.config_path, input.good_at),
            &format!("{} (now)", input.config_path),
        ),
        None => format!("{} cannot be read now\n", input.config_path),
    };
    let declaration = redacted_diff(
        input.good_declaration,
        input.current_declaration,
        &format!(
            "declaration of {} (last good, {})",
            input.name, input.good_at
        ),
        &format!("declaration of {} (now)", input.name),
    );
    if config.is_empty() && declaration.is_empty() {
        return format!(
            "no change since the last good (at {}): {} and its declaration are as they were\n",
            input.good_at, input.config_path
        );
    }
    let mut out = format!(
        "{}: changes since the last good (at {}); secret values are shown as {REDACTED}\n",
        input.name, input.good_at
    );
    for part in [config, declaration] {
        if !part.is_empty() {
            out.push_str(&part);
            if !part.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}
