//! What `openclaw config validate --json` answered, as a verdict. Pure: the
//! run itself is in `crate::validator`.
//!
//! openclaw 2026.9.6 (`runConfigValidate`, `dist/config-cli-*.mjs`) prints
//! one JSON object on stdout and exits 0 when the config is valid, 1 when
//! it is not:
//!
//! - valid: `{"valid":true,"path":"/abs/openclaw.json","warnings":[]}`
//! - invalid: `{"ok":false,"error":{"type":"cli_error","message":"OpenClaw
//!   config is invalid: ~/openclaw.json"},"valid":false,"path":"...",
//!   "issues":[{"path":"gateway","message":"Unrecognized key: \"wibble\""}]}`
//!   (a JSON5 syntax error is an issue at `<root>`)
//! - no file: `{"ok":false,"error":{"type":"cli_error","message":"file not
//!   found"},"valid":false,"path":"..."}`

use serde::{Deserialize, Serialize};

/// The program's exit as the verdict needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunExit {
    Code(i32),
    Signal(i32),
    /// Killed at the deadline.
    TimedOut,
}

/// One problem openclaw names: where in the config, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The verdict on one instance's OpenClaw config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The gateway will accept it (warnings are only reported).
    Valid { warnings: Vec<Issue> },
    /// The gateway will refuse it (exit 78): the reasons, as openclaw says.
    Invalid { reasons: Vec<String> },
    /// No verdict: the command could not be run, or did not answer like
    /// openclaw (an older version, or not openclaw at all).
    Unavailable { why: String },
}

impl Verdict {
    pub fn is_invalid(&self) -> bool {
        matches!(self, Verdict::Invalid { .. })
    }
}

#[derive(Deserialize)]
struct Answer {
    valid: bool,
    #[serde(default)]
    warnings: Vec<Issue>,
    #[serde(default)]
    issues: Vec<Issue>,
    #[serde(default)]
    error: Option<AnswerError>,
}

#[derive(Deserialize)]
struct AnswerError {
    message: String,
}

/// The verdict from the exit, stdout and stderr of `config validate --json`
/// (stderr only says why there is no verdict).
pub fn verdict(exit: RunExit, stdout: &str, stderr: &str) -> Verdict {
    let code = match exit {
        RunExit::Code(code) => code,
        RunExit::Signal(signal) => {
            return Verdict::Unavailable {
                why: format!("`config validate` was killed by signal {signal}"),
            };
        }
        RunExit::TimedOut => {
            return Verdict::Unavailable {
                why: "`config validate` did not finish in time".to_string(),
            };
        }
    };
    let Some(answer) = answer(stdout) else {
        let first = stdout
            .lines()
            .chain(stderr.lines())
            .find(|line| !line.trim().is_empty());
        return Verdict::Unavailable {
            why: match first {
                Some(line) => format!(
                    "`config validate --json` exited {code} without a JSON verdict: {}",
                    line.trim()
                ),
                None => format!("`config validate --json` exited {code} and printed nothing"),
            },
        };
    };
    match (answer.valid, code) {
        (true, 0) => Verdict::Valid {
            warnings: answer.warnings,
        },
        (false, 1) => {
            let mut reasons: Vec<String> = answer.issues.iter().map(Issue::to_string).collect();
            if reasons.is_empty() {
                reasons.push(
                    answer
                        .error
                        .map(|error| error.message)
                        .unwrap_or_else(|| "invalid".to_string()),
                );
            }
            Verdict::Invalid { reasons }
        }
        (valid, code) => Verdict::Unavailable {
            why: format!("`config validate --json` said valid={valid} but exited {code}"),
        },
    }
}

/// The first JSON object on stdout: the whole output, or from the first
/// line that opens one (a line of noise before it is tolerated).
fn answer(stdout: &str) -> Option<Answer> {
    let mut offset = 0;
    for line in stdout.split_inclusive('\n') {
        if line.trim_start().starts_with('{') {
            let mut stream =
                serde_json::Deserializer::from_str(&stdout[offset..]).into_iter::<Answer>();
            if let Some(Ok(answer)) = stream.next() {
                return Some(answer);
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs captured from openclaw 2026.9.6 in a private network namespace.
    const VALID: &str =
        "{\"valid\":true,\"path\":\"/tmp/deep-real/v/openclaw.json\",\"warnings\":[]}\n";
    const UNKNOWN_KEY: &str = r#"{
  "ok": false,
  "error": {
    "type": "cli_error",
    "message": "OpenClaw config is invalid: ~/openclaw.json"
  },
  "valid": false,
  "path": "/tmp/deep-real/i/openclaw.json",
  "issues": [
    {
      "path": "gateway",
      "message": "Unrecognized key: \"wibble\""
    }
  ]
}
"#;
    const THREE_ISSUES: &str = r#"{
  "ok": false,
  "error": {
    "type": "cli_error",
    "message": "OpenClaw config is invalid: /tmp/deep-real/t/openclaw.json"
  },
  "valid": false,
  "path": "/tmp/deep-real/t/openclaw.json",
  "issues": [
    {
      "path": "gateway.port",
      "message": "Invalid input: expected number, received string"
    },
    {
      "path": "gateway.auth",
      "message": "Unrecognized keys: \"foo\", \"bar\""
    },
    {
      "path": "<root>",
      "message": "Unrecognized key: \"wibble\""
    }
  ]
}
"#;
    const SYNTAX: &str = r#"{
  "ok": false,
  "error": {
    "type": "cli_error",
    "message": "OpenClaw config is invalid: /tmp/deep-real/s/openclaw.json"
  },
  "valid": false,
  "path": "/tmp/deep-real/s/openclaw.json",
  "issues": [
    {
      "path": "<root>",
      "message": "JSON5 parse failed: SyntaxError: JSON5: invalid character ',' at 1:41"
    }
  ]
}
"#;
    const MISSING: &str = "{\"ok\":false,\"error\":{\"type\":\"cli_error\",\"message\":\"file not found\"},\"valid\":false,\"path\":\"/tmp/deep-real/m/openclaw.json\"}\n";

    fn invalid(reasons: &[&str]) -> Verdict {
        Verdict::Invalid {
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn unavailable(verdict: &Verdict, needle: &str) -> bool {
        matches!(verdict, Verdict::Unavailable { why } if why.contains(needle))
    }

    #[test]
    fn real_answers_become_verdicts() {
        let rows: [(RunExit, &str, Verdict); 5] = [
            (RunExit::Code(0), VALID, Verdict::Valid { warnings: vec![] }),
            (
                RunExit::Code(1),
                UNKNOWN_KEY,
                invalid(&["gateway: Unrecognized key: \"wibble\""]),
            ),
            (
                RunExit::Code(1),
                THREE_ISSUES,
                invalid(&[
                    "gateway.port: Invalid input: expected number, received string",
                    "gateway.auth: Unrecognized keys: \"foo\", \"bar\"",
                    "<root>: Unrecognized key: \"wibble\"",
                ]),
            ),
            (
                RunExit::Code(1),
                SYNTAX,
                invalid(&[
                    "<root>: JSON5 parse failed: SyntaxError: JSON5: invalid character ',' at 1:41",
                ]),
            ),
            (RunExit::Code(1), MISSING, invalid(&["file not found"])),
        ];
        for (exit, stdout, expected) in rows {
            assert_eq!(verdict(exit, stdout, ""), expected, "{stdout}");
        }
    }

    #[test]
    fn warnings_of_a_valid_config_are_kept() {
        let stdout = r#"{"valid":true,"path":"/x","warnings":[{"path":"gateway.bind","message":"deprecated"}]}"#;
        assert_eq!(
            verdict(RunExit::Code(0), stdout, ""),
            Verdict::Valid {
                warnings: vec![Issue {
                    path: "gateway.bind".into(),
                    message: "deprecated".into()
                }]
            }
        );
    }

    #[test]
    fn a_line_of_noise_before_the_answer_is_tolerated() {
        let stdout = format!("[plugins] loading\n{UNKNOWN_KEY}");
        assert!(verdict(RunExit::Code(1), &stdout, "").is_invalid());
    }

    #[test]
    fn anything_else_gives_no_verdict() {
        // (exit, stdout, stderr, words of the reason)
        let rows: [(RunExit, &str, &str, &str); 8] = [
            (RunExit::TimedOut, "", "", "did not finish"),
            (RunExit::Signal(9), "", "", "signal 9"),
            (RunExit::Code(0), "", "", "printed nothing"),
            (
                RunExit::Code(1),
                "",
                "error: unknown command 'config'\n",
                "exited 1 without a JSON verdict: error: unknown command 'config'",
            ),
            (
                RunExit::Code(1),
                "usage: x\n",
                "error: y\n",
                "exited 1 without a JSON verdict: usage: x",
            ),
            (
                RunExit::Code(0),
                "{\"ok\":true}",
                "",
                "without a JSON verdict",
            ),
            // The answer and the exit status disagree.
            (RunExit::Code(1), VALID, "", "valid=true but exited 1"),
            (
                RunExit::Code(0),
                UNKNOWN_KEY,
                "",
                "valid=false but exited 0",
            ),
        ];
        for (exit, stdout, stderr, needle) in rows {
            let got = verdict(exit, stdout, stderr);
            assert!(unavailable(&got, needle), "{stdout}: {got:?}");
        }
    }
}
