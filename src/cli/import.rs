//! `openclaw-supervisor import`: read what `openclaw gateway install` left
//! (profile dirs, the vendor's user and system units), write one
//! declaration per gateway with the same ports and paths, run `check`, and
//! print the commands that disable the vendor's units. It changes nothing on
//! the system but the declarations it writes (none with `--dry-run`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use openclaw_supervisor::declaration::{Declaration, HumanDuration, LoadedDeclaration, Role};
use openclaw_supervisor::openclaw::{self, EnvMap};
use openclaw_supervisor::vendor::{self, Scope, UnitGateway};

use super::check::{self, plural};
use super::{Global, exit};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The home directory whose profiles and user units are read (default: $HOME).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// The root under which the system units are read (`<ROOT>/etc/systemd/system`).
    #[arg(long, value_name = "ROOT", default_value = "/")]
    pub systemd_root: PathBuf,
    /// Print what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// One vendor unit found.
struct Unit {
    scope: Scope,
    file_name: String,
    gateway: UnitGateway,
}

/// Everything found about one profile.
#[derive(Default)]
struct Found {
    dir: Option<PathBuf>,
    units: Vec<Unit>,
}

/// The state dirs under `home`, by profile.
fn profile_dirs(home: &Path, found: &mut BTreeMap<Option<String>, Found>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(home).with_context(|| format!("cannot read {}", home.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(profile) = vendor::dir_name_profile(&name)
            && entry.path().is_dir()
        {
            found.entry(profile).or_default().dir = Some(entry.path());
        }
    }
    Ok(())
}

/// The vendor's units in `dir`, by the profile they run.
fn units(
    dir: &Path,
    scope: Scope,
    found: &mut BTreeMap<Option<String>, Found>,
) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    for file_name in names {
        let Some(name_profile) = vendor::unit_name_profile(&file_name) else {
            continue;
        };
        let path = dir.join(&file_name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let gateway = vendor::unit_gateway(&vendor::parse_unit(&text), name_profile);
        found
            .entry(gateway.profile.clone())
            .or_default()
            .units
            .push(Unit {
                scope,
                file_name,
                gateway,
            });
    }
    Ok(())
}

fn scope_word(scope: Scope) -> &'static str {
    match scope {
        Scope::User => "user unit",
        Scope::System => "system unit",
    }
}

/// One declaration to write.
struct Planned {
    name: String,
    file: PathBuf,
    text: String,
    summary: String,
    secret_names: Vec<String>,
    environment_files: Vec<String>,
}

pub fn run(global: &Global, args: ImportArgs) -> anyhow::Result<u8> {
    let home = match args
        .home
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
    {
        Some(home) => home,
        None => bail!("HOME is not set: pass --home DIR"),
    };
    let home = openclaw::canonical_path(&home);
    let mut found = BTreeMap::new();
    profile_dirs(&home, &mut found)?;
    units(&home.join(".config/systemd/user"), Scope::User, &mut found)?;
    units(
        &args.systemd_root.join("etc/systemd/system"),
        Scope::System,
        &mut found,
    )?;
    if found.is_empty() {
        eprintln!(
            "openclaw-supervisor: no OpenClaw profile (~/.openclaw, ~/.openclaw-<profile>) and no openclaw-gateway unit found under {}",
            home.display()
        );
        return Ok(exit::FAILED);
    }

    // Resolved as the gateway would be, with the home imported from.
    let mut env = EnvMap::new();
    env.insert("HOME".into(), home.display().to_string());
    if let Ok(path) = std::env::var("PATH") {
        env.insert("PATH".into(), path);
    }
    let profiles: Vec<Option<String>> = found.keys().cloned().collect();
    let main_name = vendor::instance_name(None, &profiles);
    let has_main = found.contains_key(&None);
    let mut planned = Vec::new();
    for (profile, what) in &found {
        let name = vendor::instance_name(profile.as_deref(), &profiles);
        let file = global.dir.join(format!("{name}.yaml"));
        // A user unit wins over a system unit of the same profile.
        let unit = what.units.first().map(|unit| &unit.gateway);
        let mut declaration = Declaration {
            profile: profile.clone(),
            port: unit.and_then(|unit| unit.port),
            state_dir: unit.and_then(|unit| unit.state_dir.clone()),
            config: unit.and_then(|unit| unit.config.clone()),
            env: unit.map(|unit| unit.env.clone()).unwrap_or_default(),
            ..Declaration::default()
        };
        let loaded = LoadedDeclaration {
            name: name.clone(),
            file: file.clone(),
            declaration: declaration.clone(),
            // No `probes:` block: the default probes.
            probes: Default::default(),
        };
        let effective = openclaw::resolve(&loaded, &env)?;
        declaration.port = Some(effective.port);
        declaration.state_dir = Some(effective.state_dir.clone());
        declaration.config = Some(effective.config_path.clone());
        if profile.as_deref() == Some("rescue") && has_main {
            declaration.role = Role::Rescue;
            declaration.rescue_of = Some(main_name.clone());
        }
        let mut sources: Vec<String> = what
            .dir
            .iter()
            .map(|dir| dir.display().to_string())
            .collect();
        sources.extend(
            what.units
                .iter()
                .map(|unit| format!("{} ({})", unit.file_name, scope_word(unit.scope))),
        );
        let header = vec![format!(
            "Imported by `openclaw-supervisor import` from {}.",
            sources.join(" and ")
        )];
        let secret_names = unit
            .map(|unit| unit.secret_names.clone())
            .unwrap_or_default();
        let text = vendor::render(&declaration, &header, &secret_names);
        let summary = format!(
            "{name}: profile {}, port {} ({}), state dir {}, config {}{}",
            profile.as_deref().unwrap_or("default"),
            effective.port,
            if unit.and_then(|unit| unit.port).is_some() {
                "the vendor's unit"
            } else {
                effective.port_source.describe()
            },
            effective.state_dir.display(),
            effective.config_path.display(),
            if declaration.role == Role::Rescue {
                format!(", rescue of {main_name}")
            } else {
                String::new()
            }
        );
        planned.push(Planned {
            name,
            file,
            text,
            summary,
            secret_names,
            environment_files: unit
                .map(|unit| unit.environment_files.clone())
                .unwrap_or_default(),
        });
    }

    let mut seen = std::collections::BTreeSet::new();
    for plan in &planned {
        if !seen.insert(plan.name.as_str()) {
            eprintln!(
                "openclaw-supervisor: two gateways would both be instance `{}` (profile names that differ only in case?): nothing was written; import one, then declare the other by hand under another name",
                plan.name
            );
            return Ok(exit::FAILED);
        }
    }
    for plan in &planned {
        for existing in [plan.file.clone(), plan.file.with_extension("yml")] {
            if existing.exists() {
                eprintln!(
                    "openclaw-supervisor: refusing to overwrite {} (instance `{}`): nothing was written; move it away or import into another --dir",
                    existing.display(),
                    plan.name
                );
                return Ok(exit::FAILED);
            }
        }
    }

    let mut out = std::io::stdout().lock();
    writeln!(out, "found {}:", plural(planned.len(), "gateway"))?;
    for plan in &planned {
        writeln!(out, "  {}", plan.summary)?;
    }
    writeln!(out)?;
    if args.dry_run {
        for plan in &planned {
            writeln!(out, "would write {}:", plan.file.display())?;
            for line in plan.text.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        writeln!(out, "dry run: nothing written, check not run")?;
    } else {
        std::fs::create_dir_all(&global.dir)
            .with_context(|| format!("cannot create {}", global.dir.display()))?;
        for plan in &planned {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&plan.file)
                .with_context(|| format!("cannot create {}", plan.file.display()))?;
            file.write_all(plan.text.as_bytes())
                .with_context(|| format!("cannot write {}", plan.file.display()))?;
            writeln!(out, "wrote {}", plan.file.display())?;
        }
    }
    for plan in &planned {
        for secret in &plan.secret_names {
            writeln!(
                out,
                "note: {}: the vendor's unit sets {secret}; its value was not copied. Give it to the gateway another way (its OpenClaw config, or the supervisor's own environment)",
                plan.name
            )?;
        }
        for file in &plan.environment_files {
            writeln!(
                out,
                "note: {}: the vendor's unit reads EnvironmentFile={file}; it was not read. Give its variables to the supervisor's unit if the gateway needs them",
                plan.name
            )?;
        }
    }
    writeln!(out)?;
    drop(out);

    let code = if args.dry_run {
        exit::OK
    } else {
        check::run(
            global,
            check::CheckArgs {
                directory: Some(global.dir.clone()),
                json: false,
                deep: false,
                timeout: HumanDuration(std::time::Duration::from_secs(30)),
            },
        )?
    };

    let commands: Vec<String> = found
        .values()
        .flat_map(|what| &what.units)
        .map(|unit| vendor::disable_command(unit.scope, &unit.file_name))
        .collect();
    let mut out = std::io::stdout().lock();
    if commands.is_empty() {
        writeln!(out, "\nno vendor unit found: nothing to disable")?;
    } else {
        writeln!(
            out,
            "\nOnce the supervisor's own unit is running (see `openclaw-supervisor install`), disable the vendor's units, so that two supervisors never run one gateway (system units as root):"
        )?;
        for command in &commands {
            writeln!(out, "  {command}")?;
        }
        writeln!(out, "import ran none of them.")?;
    }
    Ok(code)
}
