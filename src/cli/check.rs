//! `openclaw-supervisor check`: load, resolve and check the declarations,
//! print each instance's footprint and every problem.
//!
//! Exit codes: 0 sound, 1 conflicts (or, with `--deep`, a config openclaw
//! refuses), 2 a file (or the directory) could not be read or parsed; a
//! broken file wins over conflicts, since the check is incomplete without it.
//!
//! `--deep` also runs `<command> [--profile P] config validate --json` for
//! each instance, with the environment its gateway would get: the installed
//! openclaw's own verdict on the config (the schema is strict: an unknown key
//! makes the gateway exit 78). A command that gives no verdict (not openclaw,
//! too old, not installed) is reported, not counted as a failure.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use openclaw_supervisor::declaration::HumanDuration;
use openclaw_supervisor::isolation::{self, FileError, Problem, Report, Warning};
use openclaw_supervisor::openclaw::channels::Resolved;
use openclaw_supervisor::openclaw::validate::Verdict;
use openclaw_supervisor::openclaw::{Effective, EnvMap};
use openclaw_supervisor::process::Spawner;
use openclaw_supervisor::validator;

use super::{Global, exit};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The declarations directory (overrides --dir).
    #[arg(value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also ask the installed openclaw whether it accepts each config
    /// (`config validate --json`, run as the gateway would be).
    #[arg(long)]
    pub deep: bool,
    /// How long --deep waits for each instance's verdict.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::daemon::parse_duration, requires = "deep")]
    pub timeout: HumanDuration,
}

/// openclaw's verdict on one instance's config.
#[derive(Debug, Serialize)]
struct Deep {
    instance: String,
    config: PathBuf,
    #[serde(flatten)]
    verdict: Verdict,
}

/// Validates every instance's config at once, each with its gateway's env.
fn deep(
    effective: &[Effective],
    inherited: &EnvMap,
    deadline: std::time::Duration,
) -> anyhow::Result<Vec<Deep>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // The one fork and waitpid of this process, as in the daemon.
        let spawner = Spawner::start()?;
        let runs = effective.iter().map(|instance| {
            let spawner = spawner.clone();
            let instance = instance.clone();
            let env = instance.child_env(inherited);
            tokio::spawn(async move {
                let verdict = validator::validate(&spawner, &instance, env, deadline).await;
                Deep {
                    instance: instance.name.clone(),
                    config: instance.config_path.clone(),
                    verdict,
                }
            })
        });
        let mut verdicts = Vec::new();
        for run in runs.collect::<Vec<_>>() {
            verdicts.push(run.await?);
        }
        Ok(verdicts)
    })
}

fn render_deep(verdicts: &[Deep]) -> String {
    let mut out = String::new();
    for deep in verdicts {
        let (name, config) = (&deep.instance, deep.config.display());
        match &deep.verdict {
            Verdict::Valid { warnings } => {
                out.push_str(&format!("openclaw accepts {name}'s config {config}\n"));
                for warning in warnings {
                    out.push_str(&format!("  warning: {warning}\n"));
                }
            }
            Verdict::Invalid { reasons } => {
                out.push_str(&format!(
                    "refused: openclaw refuses {name}'s config {config} (its gateway would exit 78):\n"
                ));
                for reason in reasons {
                    out.push_str(&format!("  {reason}\n"));
                }
            }
            Verdict::Unavailable { why } => {
                out.push_str(&format!(
                    "warning: {name}'s config was not validated: {why}\n"
                ));
            }
        }
    }
    let refused = verdicts
        .iter()
        .filter(|deep| deep.verdict.is_invalid())
        .count();
    out.push_str(&if refused == 0 {
        format!(
            "deep: no config refused among {}\n",
            plural(verdicts.len(), "instance")
        )
    } else {
        format!("deep: {} refused by openclaw\n", plural(refused, "config"))
    });
    out
}

/// The supervisor's environment as a map (variables that are not UTF-8 are
/// skipped: openclaw reads none of them).
pub fn environment() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

pub fn run(global: &Global, args: CheckArgs) -> anyhow::Result<u8> {
    let dir = args.directory.unwrap_or_else(|| global.dir.clone());
    let mut report = match isolation::check_dir(&dir, &environment()) {
        Ok(report) => report,
        Err(err) => {
            if args.json {
                let json = serde_json::json!({ "sound": false, "error": err.to_string() });
                say!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                eprintln!("openclaw-supervisor: {err}");
            }
            return Ok(exit::UNREADABLE);
        }
    };
    let edited_skills: Vec<Warning> = report
        .effective
        .iter()
        .filter_map(|effective| {
            openclaw_supervisor::skill::edited_warning(effective).map(|message| Warning {
                instance: effective.name.clone(),
                message,
            })
        })
        .collect();
    report.warnings.extend(edited_skills);
    let verdicts = match args.deep {
        true => Some(deep(&report.effective, &environment(), args.timeout.get())?),
        false => None,
    };
    let refused = verdicts
        .iter()
        .flatten()
        .any(|deep| deep.verdict.is_invalid());
    if args.json {
        let mut json = JsonReport::from(&report);
        json.sound &= !refused;
        json.deep = verdicts.as_deref();
        say!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", render(&report));
        if let Some(verdicts) = &verdicts {
            print!("{}", render_deep(verdicts));
        }
    }
    Ok(match exit_code(&report) {
        exit::OK if refused => exit::FAILED,
        code => code,
    })
}

fn exit_code(report: &Report) -> u8 {
    if !report.file_errors.is_empty() {
        exit::UNREADABLE
    } else if !report.problems.is_empty() {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// The JSON shape: the report plus what a reader would otherwise compute.
#[derive(Serialize)]
struct JsonReport<'a> {
    sound: bool,
    instances: Vec<JsonInstance<'a>>,
    problems: &'a [Problem],
    file_errors: &'a [FileError],
    warnings: &'a [Warning],
    /// With `--deep`: openclaw's verdict on each config.
    #[serde(skip_serializing_if = "Option::is_none")]
    deep: Option<&'a [Deep]>,
}

#[derive(Serialize)]
struct JsonInstance<'a> {
    #[serde(flatten)]
    effective: &'a Effective,
    /// `[first, last]`, inclusive.
    port_block: [u32; 2],
}

impl<'a> From<&'a Report> for JsonReport<'a> {
    fn from(report: &'a Report) -> Self {
        JsonReport {
            sound: report.is_sound(),
            instances: report
                .effective
                .iter()
                .map(|effective| {
                    let block = effective.port_block();
                    JsonInstance {
                        effective,
                        port_block: [*block.start(), *block.end()],
                    }
                })
                .collect(),
            problems: &report.problems,
            file_errors: &report.file_errors,
            warnings: &report.warnings,
            deep: None,
        }
    }
}

/// Columns padded to their widest cell; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[column]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The channel credentials of every instance, where each is taken from
/// (never the value), and whether it could be compared; empty when no
/// instance has a channel account.
fn channel_table(report: &Report) -> String {
    let mut rows = vec![
        [
            "INSTANCE",
            "CHANNEL",
            "ACCOUNT",
            "CREDENTIAL",
            "COMPARED",
            "FROM",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    for instance in &report.effective {
        for credential in &instance.channels {
            let compared = match credential.resolved {
                Resolved::Checked(_) => "yes",
                Resolved::NotChecked(_) => "not checked",
            };
            rows.push(vec![
                instance.name.clone(),
                credential.channel.clone(),
                credential.account.clone(),
                credential.what.clone(),
                compared.to_string(),
                credential.source.clone(),
            ]);
        }
    }
    if rows.len() == 1 {
        return String::new();
    }
    format!("{}\n", table(&rows))
}

fn render(report: &Report) -> String {
    let mut out = String::new();
    if !report.effective.is_empty() {
        let mut ports = vec![
            ["INSTANCE", "PROFILE", "PORT", "FROM", "BLOCK", "CDP PORTS"]
                .map(str::to_string)
                .to_vec(),
        ];
        let mut paths = vec![["INSTANCE", "WHAT", "PATH"].map(str::to_string).to_vec()];
        for instance in &report.effective {
            let block = instance.port_block();
            let cdp = if instance.explicit_ports.is_empty() {
                "-".to_string()
            } else {
                instance
                    .explicit_ports
                    .iter()
                    .map(|explicit| format!("{} ({})", explicit.port, explicit.key))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            ports.push(vec![
                instance.name.clone(),
                instance
                    .profile
                    .clone()
                    .unwrap_or_else(|| "default".to_string()),
                instance.port.to_string(),
                instance.port_source.describe().to_string(),
                format!("{}..{}", block.start(), block.end()),
                cdp,
            ]);
            let missing = if instance.config_exists {
                ""
            } else {
                " (missing)"
            };
            let mut row = |what: String, path: String| {
                paths.push(vec![instance.name.clone(), what, path]);
            };
            row(
                "config".into(),
                format!("{}{missing}", instance.config_path.display()),
            );
            row("state dir".into(), instance.state_dir.display().to_string());
            for workspace in &instance.workspaces {
                let what = if workspace.agent == "default" {
                    "workspace".to_string()
                } else {
                    format!("workspace ({})", workspace.agent)
                };
                row(what, workspace.path.display().to_string());
            }
            row("log".into(), instance.log_file.display().to_string());
            row("tmpdir".into(), instance.tmpdir.display().to_string());
        }
        out.push_str(&table(&ports));
        out.push('\n');
        out.push_str(&table(&paths));
        out.push('\n');
        out.push_str(&channel_table(report));
    }
    for warning in &report.warnings {
        out.push_str(&format!(
            "warning: {}: {}\n",
            warning.instance, warning.message
        ));
    }
    for error in &report.file_errors {
        out.push_str(&format!("error: {error}\n"));
    }
    for problem in &report.problems {
        out.push_str(&format!(
            "conflict: {}\n  fix: {}\n",
            problem.message, problem.fix
        ));
    }
    if !report.warnings.is_empty() || !report.file_errors.is_empty() || !report.problems.is_empty()
    {
        out.push('\n');
    }
    let instances = plural(report.effective.len(), "instance");
    out.push_str(&if !report.file_errors.is_empty() {
        format!(
            "unreadable: {} could not be used; {} checked, {} found among them\n",
            plural(report.file_errors.len(), "file"),
            instances,
            plural(report.problems.len(), "conflict")
        )
    } else if !report.problems.is_empty() {
        format!(
            "conflicts: {} among {instances}\n",
            plural(report.problems.len(), "problem")
        )
    } else {
        format!("sound: {instances}, no conflicts\n")
    });
    out
}

pub(super) fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
