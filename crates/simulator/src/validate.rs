//! `openclaw-gateway-sim [--profile P] config validate [--json]`: the real
//! `openclaw config validate` (`runConfigValidate`,
//! `dist/config-cli-*.mjs` of openclaw 2026.9.6): the same config lookup,
//! output shapes and exit codes (0 valid, 1 not), over the simulator's
//! part of the schema (see `schema.rs`).

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::schema::{self, Issue, line_of};
use super::setup::{Inputs, locate};

/// What to print and the exit code: `(stdout, stderr, code)`.
pub type Output = (String, String, u8);

/// Runs the command over `inputs` (flags and environment).
pub fn run(inputs: &Inputs, as_json: bool) -> Output {
    let located = match locate(inputs) {
        Ok(located) => located,
        Err(refusal) => return (String::new(), format!("{}\n", refusal.message), 1),
    };
    let home = inputs.env.get("HOME").map(String::as_str);
    answer(&located.config_path, home, as_json)
}

/// The answer for the config at `path` (`home` shortens it to `~/…` in
/// messages, as openclaw does).
pub fn answer(path: &Path, home: Option<&str>, as_json: bool) -> Output {
    let shown = short(path, home);
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            let message = match err.kind() {
                io::ErrorKind::NotFound => "file not found".to_string(),
                _ => err.to_string(),
            };
            return if as_json {
                (compact(&failure(&message, path, None)), String::new(), 1)
            } else if err.kind() == io::ErrorKind::NotFound {
                (
                    String::new(),
                    format!(
                        "Config file not found: {shown}\nCreate one with openclaw onboard or run openclaw doctor --fix.\n"
                    ),
                    1,
                )
            } else {
                (
                    String::new(),
                    format!("Config validation error: {message}\n"),
                    1,
                )
            };
        }
    };
    let issues = match json5::from_str::<Value>(&text) {
        Ok(value) => schema::issues(&value),
        Err(err) => vec![Issue {
            path: "<root>".to_string(),
            message: format!("JSON5 parse failed: SyntaxError: JSON5: {err}"),
        }],
    };
    if issues.is_empty() {
        return if as_json {
            (
                compact(&Valid {
                    valid: true,
                    path,
                    warnings: Vec::new(),
                }),
                String::new(),
                0,
            )
        } else {
            (format!("Config valid: {shown}\n"), String::new(), 0)
        };
    }
    let message = format!("OpenClaw config is invalid: {shown}");
    if as_json {
        let body = failure(&message, path, Some(&issues));
        let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
        return (format!("{pretty}\n"), String::new(), 1);
    }
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stderr = format!("{message}\n");
    for issue in &issues {
        stderr.push_str(&format!(
            "  \u{d7} {file}:{} \u{2014} {}: {}\n",
            line_of(&text, &issue.path),
            issue.path,
            issue.message
        ));
    }
    stderr.push_str("\nRun `openclaw doctor --fix` to repair, or fix the keys above manually.\nInspect with openclaw config validate.\n");
    (String::new(), stderr, 1)
}

/// `formatCliJsonFailure` plus `valid` and `path` (and `issues`), in the
/// real key order.
#[derive(Serialize)]
struct Failure<'a> {
    ok: bool,
    error: CliError<'a>,
    valid: bool,
    path: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    issues: Option<&'a [Issue]>,
}

#[derive(Serialize)]
struct CliError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct Valid<'a> {
    valid: bool,
    path: &'a Path,
    warnings: Vec<Issue>,
}

fn failure<'a>(message: &'a str, path: &'a Path, issues: Option<&'a [Issue]>) -> Failure<'a> {
    Failure {
        ok: false,
        error: CliError {
            kind: "cli_error",
            message,
        },
        valid: false,
        path,
        issues,
    }
}

fn compact(value: &impl Serialize) -> String {
    format!("{}\n", serde_json::to_string(value).unwrap_or_default())
}

/// `~/x` for a path under `home`, as openclaw's `shortenHomePath`.
fn short(path: &Path, home: Option<&str>) -> String {
    match home
        .filter(|home| !home.is_empty())
        .and_then(|home| path.strip_prefix(home).ok())
    {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("openclaw.json");
        fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn answers_have_the_real_shapes() {
        let (dir, path) = config("{ gateway: { mode: 'local', port: 18789 } }");
        let (out, err, code) = answer(&path, None, true);
        assert_eq!(
            (out, err, code),
            (
                format!(
                    "{{\"valid\":true,\"path\":\"{}\",\"warnings\":[]}}\n",
                    path.display()
                ),
                String::new(),
                0
            )
        );
        let home = dir.path().to_str().expect("utf-8");
        assert_eq!(
            answer(&path, Some(home), false),
            (
                "Config valid: ~/openclaw.json\n".to_string(),
                String::new(),
                0
            )
        );

        // The same bytes openclaw 2026.9.6 printed for this config (path aside).
        let (_dir, path) = config("{ gateway: { mode: 'local', wibble: 1 } }");
        let (out, _, code) = answer(&path, None, true);
        let expected = format!(
            "{{\n  \"ok\": false,\n  \"error\": {{\n    \"type\": \"cli_error\",\n    \"message\": \"OpenClaw config is invalid: {p}\"\n  }},\n  \"valid\": false,\n  \"path\": \"{p}\",\n  \"issues\": [\n    {{\n      \"path\": \"gateway\",\n      \"message\": \"Unrecognized key: \\\"wibble\\\"\"\n    }}\n  ]\n}}\n",
            p = path.display()
        );
        assert_eq!((out, code), (expected, 1));
        let (_, err, code) = answer(&path, None, false);
        assert_eq!(code, 1);
        assert!(
            err.contains(
                "  \u{d7} openclaw.json:1 \u{2014} gateway: Unrecognized key: \"wibble\"\n"
            ),
            "{err}"
        );

        let missing = dir.path().join("absent.json");
        assert_eq!(
            answer(&missing, None, true),
            (
                format!(
                    "{{\"ok\":false,\"error\":{{\"type\":\"cli_error\",\"message\":\"file not found\"}},\"valid\":false,\"path\":\"{}\"}}\n",
                    missing.display()
                ),
                String::new(),
                1
            )
        );

        let (_dir, path) = config("{ gateway: { mode: 'local', ");
        let (out, _, code) = answer(&path, None, true);
        assert_eq!(code, 1);
        assert!(out.contains("\"path\": \"<root>\""), "{out}");
        assert!(out.contains("JSON5 parse failed"), "{out}");
    }
}
