//! `openclaw-supervisor init NAME [--rescue-of MAIN] [--standby] [--port N]`:
//! write a declaration for a new instance and, for it, a minimal OpenClaw
//! config (mode 0600, holding its generated tokens), after proving that the
//! new instance conflicts with no declared one. Refuses to overwrite
//! anything. The choices are `openclaw_supervisor::init`'s (pure); this is
//! the IO around them.

use std::collections::BTreeMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;

use openclaw_supervisor::declaration::{is_valid_name, parse};
use openclaw_supervisor::init::{NewInstance, PortWorld, plan_base_port, token_text};
use openclaw_supervisor::isolation::{self, Loaded};
use openclaw_supervisor::openclaw::{Effective, EnvMap, random_bytes, resolve};
use openclaw_supervisor::process::ports_in_use;

use super::{Global, exit};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The new instance's name; also its profile and its file, `<dir>/NAME.yaml`.
    pub name: String,
    /// Make it the rescue of this declared instance (`role: rescue`, hooks on).
    #[arg(long, value_name = "MAIN")]
    pub rescue_of: Option<String>,
    /// Start it only when the instance it rescues fails.
    #[arg(long, requires = "rescue_of")]
    pub standby: bool,
    /// The base port (default: 18789, or the first free 111-port block above it).
    #[arg(long, value_name = "N", value_parser = openclaw_supervisor::declaration::parse_cli_port)]
    pub port: Option<u16>,
}

/// The declared instances; none when the directory does not exist yet.
fn declared(dir: &Path, env: &EnvMap) -> anyhow::Result<Loaded> {
    if !dir.exists() {
        return Ok(Loaded {
            effective: Vec::new(),
            file_errors: Vec::new(),
            refused: Default::default(),
        });
    }
    Ok(isolation::load_dir_resolved(dir, env, &BTreeMap::new())?)
}

/// `new` resolved as `check` will resolve it from `file`.
fn resolved(file: &Path, new: &NewInstance, env: &EnvMap) -> anyhow::Result<Effective> {
    let loaded = parse(file, &new.declaration_yaml())?;
    Ok(resolve(&loaded, env)?)
}

fn generated_token() -> anyhow::Result<String> {
    let bytes = random_bytes().context("cannot read the kernel's random source for a token")?;
    Ok(token_text(&bytes))
}

/// Create `path` with `text`, mode `mode`; never over an existing file.
fn create_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn run(global: &Global, args: InitArgs) -> anyhow::Result<u8> {
    let name = args.name.to_ascii_lowercase();
    if !is_valid_name(&name) {
        bail!(
            "`{}` is not a valid instance name: 1-64 of a-z 0-9 _ -, starting with a letter or digit",
            args.name.chars().take(64).collect::<String>()
        );
    }
    let dir = &global.dir;
    let file = dir.join(format!("{name}.yaml"));
    let env = super::check::environment();
    let loaded = declared(dir, &env)?;
    let existing = ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|path| path.exists());
    if let Some(path) = existing {
        return refuse(&format!(
            "{} already exists; init never overwrites a declaration: edit it, or choose another name",
            path.display()
        ));
    }
    if loaded.effective.iter().any(|other| other.name == name) || loaded.refused.contains(&name) {
        return refuse(&format!(
            "an instance named `{name}` is already declared in {}: choose another name",
            dir.display()
        ));
    }
    if let Some(main) = &args.rescue_of
        && !loaded.effective.iter().any(|other| &other.name == main)
    {
        return refuse(&format!(
            "no instance named `{main}` is declared in {}: run `openclaw-supervisor init {main}` first",
            dir.display()
        ));
    }

    let world = PortWorld {
        taken: isolation::taken_ranges(&loaded.effective),
        held: ports_in_use(),
        ephemeral: isolation::ephemeral_port_range(),
    };
    let port = match args.port {
        Some(port) => match world.problem(port) {
            Some(problem) => {
                return refuse(&format!(
                    "port {port} cannot be {name}'s: {problem}; leave out --port to have a free block chosen"
                ));
            }
            None => port,
        },
        None => match plan_base_port(&world) {
            Some(port) => port,
            None => return refuse("no free 111-port block outside the ephemeral port range"),
        },
    };

    // A first pass with `~` finds the places as openclaw would (OPENCLAW_HOME,
    // else HOME); the declaration then names them absolutely.
    let home_relative = PathBuf::from(format!("~/.openclaw-{name}"));
    let mut new = NewInstance {
        name: name.clone(),
        port,
        config: home_relative.join("openclaw.json"),
        state_dir: home_relative.clone(),
        workspace: home_relative.join("workspace"),
        rescue_of: args.rescue_of.clone(),
        standby: args.standby,
    };
    let draft = resolved(&file, &new, &env)?;
    new.config = draft.config_path.clone();
    new.state_dir = draft.state_dir.clone();
    new.workspace = draft
        .declared_workspace
        .clone()
        .unwrap_or_else(|| draft.state_dir.join("workspace"));
    let candidate = resolved(&file, &new, &env)?;
    if candidate.config_exists {
        return refuse(&format!(
            "{} already exists; init never overwrites an OpenClaw config: declare this gateway by hand (README, \"Declaration reference\"), or choose another name",
            candidate.config_path.display()
        ));
    }
    let mut all = loaded.effective.clone();
    all.push(candidate);
    let problems: Vec<String> = isolation::check(&all)
        .into_iter()
        .filter(|problem| problem.instances.contains(&name))
        .map(|problem| problem.to_string())
        .collect();
    if !problems.is_empty() {
        return refuse(&format!(
            "{name} would conflict with what is declared:\n  {}",
            problems.join("\n  ")
        ));
    }

    let gateway_token = generated_token()?;
    let hooks_token = match args.rescue_of {
        Some(_) => Some(generated_token()?),
        None => None,
    };
    let config_text = new.config_json(&gateway_token, hooks_token.as_deref());
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&new.state_dir)
        .with_context(|| format!("cannot create {}", new.state_dir.display()))?;
    if let Some(parent) = new.config.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    create_new(&new.config, &config_text, 0o600)?;
    if let Err(err) = create_new(&file, &new.declaration_yaml(), 0o644) {
        // Leave nothing half-written: the config is ours, just made.
        let _ = std::fs::remove_file(&new.config);
        return Err(err);
    }

    let mut out = std::io::stdout().lock();
    let end = u32::from(port) + openclaw_supervisor::openclaw::PORT_BLOCK_SPAN;
    writeln!(
        out,
        "wrote {}: instance {name}, profile {name}, port {port} (its block {port}..{end})",
        file.display()
    )?;
    if let Some(main) = &new.rescue_of {
        let when = if new.standby {
            "started only when it fails"
        } else {
            "running beside it"
        };
        writeln!(out, "  role rescue of {main}, {when}")?;
    }
    writeln!(
        out,
        "wrote {} (mode 0600): local mode, loopback, token auth, no update check, no catalogue refresh",
        new.config.display()
    )?;
    writeln!(
        out,
        "  gateway.auth.token: generated, in {}",
        new.config.display()
    )?;
    if hooks_token.is_some() {
        writeln!(
            out,
            "  hooks.token: generated (hooks on at {}), in {}",
            openclaw_supervisor::init::HOOKS_PATH,
            new.config.display()
        )?;
    }
    writeln!(out, "  state dir {}", new.state_dir.display())?;
    writeln!(out, "  workspace {}", new.workspace.display())?;
    let dir_option = if *dir == Path::new("supervisor.d") {
        String::new()
    } else {
        format!(" --dir {}", dir.display())
    };
    writeln!(out, "next:")?;
    writeln!(
        out,
        "  openclaw-supervisor{dir_option} check      # prove the set is sound"
    )?;
    writeln!(
        out,
        "  openclaw-supervisor{dir_option} start      # run it in the foreground"
    )?;
    writeln!(
        out,
        "  openclaw-supervisor{dir_option} install    # or as a systemd service"
    )?;
    Ok(exit::OK)
}

/// Print why `init` wrote nothing; exit 1.
fn refuse(why: &str) -> anyhow::Result<u8> {
    eprintln!("openclaw-supervisor: init: refused, nothing written: {why}");
    Ok(exit::FAILED)
}
