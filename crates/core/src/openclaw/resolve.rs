//! How a declaration resolves into what its gateway will really use (`resolve`), in openclaw 2026.9.6's own precedence, and the read of its config file.

use super::*;

/// Work out what `decl` will really use, given the supervisor's environment.
pub fn resolve(decl: &LoadedDeclaration, env: &EnvMap) -> Result<Effective, ResolveError> {
    let inherited = env;
    let name = decl.name.clone();
    let file = decl.file.clone();
    let declaration = &decl.declaration;
    let bad_env = |variable: &str, value: &str, problem: &str| ResolveError::BadEnvironment {
        name: name.clone(),
        file: file.clone(),
        variable: variable.to_string(),
        value: value.to_string(),
        problem: problem.to_string(),
    };

    // The declaration's env: is the child's environment, so it counts at the
    // environment level (it can set OPENCLAW_HOME, for instance).
    let mut env = env.clone();
    env.extend(declaration.env.clone());

    let declaration_dir = canonical_path(decl.file.parent().unwrap_or(Path::new(".")));
    let raw_home = non_empty(&env, "OPENCLAW_HOME").or_else(|| non_empty(&env, "HOME"));
    let Some(raw_home) = raw_home else {
        return Err(ResolveError::NoHome { name, file });
    };
    let plain_home = non_empty(&env, "HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let home = canonical_path(&paths::expand(
        Path::new(raw_home),
        &declaration_dir,
        &plain_home,
    ));
    // Declaration and environment paths resolve against the declaration's dir.
    let declared = |path: &Path| canonical_path(&paths::expand(path, &declaration_dir, &home));

    let profile = match &declaration.profile {
        Some(profile) => Some(profile.clone()),
        None => match non_empty(&env, "OPENCLAW_PROFILE") {
            Some(profile) if !is_valid_name(profile) => {
                return Err(bad_env(
                    "OPENCLAW_PROFILE",
                    profile,
                    "is not a valid profile name: fix or unset it, or set `profile:` in the declaration",
                ));
            }
            other => other.map(str::to_string),
        },
    }
    .filter(|profile| !profile.eq_ignore_ascii_case("default"));

    let state_dir = match (
        &declaration.state_dir,
        non_empty(&env, "OPENCLAW_STATE_DIR"),
    ) {
        (Some(path), _) => declared(path),
        (None, Some(path)) => declared(Path::new(path)),
        (None, None) => canonical_path(&match &profile {
            Some(profile) => home.join(format!(".openclaw-{profile}")),
            None => home.join(".openclaw"),
        }),
    };
    let config_path = match (&declaration.config, non_empty(&env, "OPENCLAW_CONFIG_PATH")) {
        (Some(path), _) => declared(path),
        (None, Some(path)) => declared(Path::new(path)),
        (None, None) => canonical_path(&state_dir.join("openclaw.json")),
    };
    // Paths in the config resolve against the gateway's working directory.
    let in_config = |path: &str| canonical_path(&paths::expand(Path::new(path), &state_dir, &home));

    let (config_exists, view) = read_config(&name, &file, &config_path)?;
    let mut warnings = Vec::new();

    // A path is fixed now, against the canonical declaration dir, so the
    // supervisor's working directory never matters; a bare name is looked
    // up on PATH at each spawn, as the gateway's own updates expect.
    let written_command = declaration.command.as_deref().unwrap_or("openclaw");
    let command = if written_command.contains('/') {
        paths::fold(&declaration_dir.join(written_command))
            .display()
            .to_string()
    } else {
        written_command.to_string()
    };
    let command = match crate::spawn::resolve_command(
        &command,
        &declaration_dir,
        env.get("PATH").map(String::as_str),
    ) {
        Ok(_) => command,
        Err(err @ crate::spawn::SpawnError::NotFoundOnPath { .. }) => {
            warnings.push(format!(
                "{err}: the gateway cannot start until it is installed there; set `command:` to its path"
            ));
            written_command.to_string()
        }
        Err(err) => {
            return Err(ResolveError::Command {
                name,
                file,
                problem: format!(
                    "{err}: fix `command:` (a relative path is relative to the declaration's directory {})",
                    declaration_dir.display()
                ),
            });
        }
    };

    if let Some(warning) = declaration
        .notify
        .as_ref()
        .and_then(|notify| notify_command_warning(notify, inherited))
    {
        warnings.push(warning);
    }

    let env_port = match non_empty(&env, "OPENCLAW_GATEWAY_PORT") {
        None => None,
        Some(value) => Some(parse_env_port(value).ok_or_else(|| {
            bad_env(
                "OPENCLAW_GATEWAY_PORT",
                value,
                "is not a port (`N` or `host:N`, N from 1 to 65535): fix or unset it, or set `port:` in the declaration",
            )
        })?),
    };
    let (port, port_source) = if let Some(port) = declaration.port {
        (port, PortSource::Declaration)
    } else if let Some(port) = env_port {
        (port, PortSource::Environment)
    } else if let Some(port) = view.gateway_port {
        (port, PortSource::Config)
    } else if let Some(profile) = &profile {
        (profile_port(profile), PortSource::ProfileHash)
    } else {
        (DEFAULT_PORT, PortSource::BuiltIn)
    };

    let bind = declaration
        .bind
        .clone()
        .or_else(|| view.gateway_bind.clone())
        .unwrap_or_else(|| "loopback".to_string());

    let declared_workspace = declaration.workspace.as_deref().map(declared);
    let config_workspace = view.defaults_workspace.as_deref().map(in_config);
    let env_workspace = declared_workspace.clone().or_else(|| {
        non_empty(&env, "OPENCLAW_WORKSPACE_DIR").map(|path| declared(Path::new(path)))
    });
    if let (Some(from_config), Some(from_declaration)) = (&config_workspace, &declared_workspace)
        && from_config != from_declaration
    {
        warnings.push(format!(
            "the declared workspace {} is overridden by agents.defaults.workspace in {}: the default agent uses {}",
            from_declaration.display(),
            config_path.display(),
            from_config.display()
        ));
    }
    let (default_workspace, default_source) = if let Some(path) = &config_workspace {
        (path.clone(), "agents.defaults.workspace")
    } else if let Some(path) = env_workspace {
        let source = if declared_workspace.is_some() {
            "workspace"
        } else {
            "OPENCLAW_WORKSPACE_DIR"
        };
        (path, source)
    } else {
        (canonical_path(&state_dir.join("workspace")), "default")
    };
    let mut workspaces = vec![Workspace {
        agent: "default".to_string(),
        path: default_workspace,
        source: default_source.to_string(),
    }];
    for (index, (id, workspace)) in view.agents.iter().enumerate() {
        let (path, source) = match (workspace, &config_workspace) {
            (Some(path), _) => (in_config(path), format!("agents.list[{index}].workspace")),
            (None, Some(defaults)) => (
                canonical_path(&defaults.join(id)),
                "agents.defaults.workspace".to_string(),
            ),
            (None, None) => (
                canonical_path(&state_dir.join(format!("workspace-{id}"))),
                "default".to_string(),
            ),
        };
        workspaces.push(Workspace {
            agent: id.clone(),
            path,
            source,
        });
    }

    let log_file = match &view.logging_file {
        Some(path) => in_config(path),
        None => canonical_path(Path::new(DEFAULT_LOG_DIR)).join(match &profile {
            Some(profile) => format!("openclaw-{}-{{date}}.log", log_profile_segment(profile)),
            None => "openclaw-{date}.log".to_string(),
        }),
    };
    let tmpdir = match &declaration.tmpdir {
        Some(path) => declared(path),
        None => canonical_path(&state_dir.join("tmp")),
    };
    let explicit_ports = view
        .cdp_ports
        .iter()
        .map(|(key, port)| ExplicitPort {
            key: key.clone(),
            port: *port,
        })
        .collect();

    if !config_exists
        && !declaration
            .args
            .iter()
            .any(|arg| arg == "--allow-unconfigured")
    {
        warnings.push(format!(
            "the OpenClaw config {} does not exist: the gateway exits 78 (config error) until it does; create it (gateway.mode: local) or add --allow-unconfigured to args",
            config_path.display()
        ));
    }

    if let Some(endpoint) = declaration.wake
        && config_exists
    {
        let unset_variable = view
            .hooks_token_variables
            .iter()
            .find(|name| non_empty(&env, name).is_none_or(|value| value.trim().is_empty()))
            .cloned();
        let token_set = match view.hooks_token {
            Token::Set { .. } => true,
            Token::NotChecked { .. } => {
                !view.hooks_token_variables.is_empty() && unset_variable.is_none()
            }
            Token::Unset => false,
        };
        let settings = hooks::HooksSettings {
            enabled: view.hooks_enabled,
            token: token_set.then(|| hooks::HookToken::new("set")).flatten(),
            path: hooks::DEFAULT_HOOKS_PATH.to_string(),
            unset_variable,
        };
        warnings.extend(hooks::wake_warning(endpoint, &config_path, &settings));
    }

    let channels = credentials::channel_credentials(&view, &env, &config_path, &state_dir, &home);
    warnings.extend(credentials::not_checked_warnings(&channels));

    let mut via_symlink = Vec::new();
    for (key, written, resolved) in [
        ("state_dir", &declaration.state_dir, Some(&state_dir)),
        ("config", &declaration.config, Some(&config_path)),
        (
            "workspace",
            &declaration.workspace,
            declared_workspace.as_ref(),
        ),
        ("tmpdir", &declaration.tmpdir, Some(&tmpdir)),
    ] {
        let (Some(written), Some(resolved)) = (written, resolved) else {
            continue;
        };
        // The declaration's dir and home are canonical already, so only a
        // symlink can make the lexical form differ from the canonical one.
        if &paths::fold(&paths::expand(written, &declaration_dir, &home)) != resolved {
            via_symlink.push(DeclaredPath {
                key: key.to_string(),
                written: written.clone(),
            });
        }
    }

    let tailscale =
        tailscale::of(&declaration.args, view.tailscale_mode.as_deref()).map_err(|mode| {
            bad_env(
                "--tailscale",
                &mode,
                "in `args:` is not a mode: use off, serve or funnel",
            )
        })?;
    let hooks_token = if view.hooks_enabled {
        view.hooks_token.clone()
    } else {
        Token::Unset
    };
    let mut effective = Effective {
        name,
        file,
        command,
        declaration: declaration.clone(),
        probes: decl.probes.clone(),
        profile,
        home,
        state_dir,
        config_path,
        config_exists,
        workspaces,
        log_file,
        tmpdir,
        port,
        port_source,
        bind,
        explicit_ports,
        declared_workspace,
        via_symlink,
        channels,
        warnings,
        tailscale,
        gateway_token: view.gateway_token.clone(),
        hooks_token,
    };
    effective.gateway_token = credentials::gateway_token(
        &declaration.args,
        &effective.gateway_token,
        &effective.child_env(inherited),
    );
    Ok(effective)
}

/// `N` or `host:N` (also `[::1]:N`).
pub(super) fn parse_env_port(value: &str) -> Option<u16> {
    let digits = value.rsplit_once(':').map_or(value, |(_, port)| port);
    digits.trim().parse::<u16>().ok().filter(|port| *port != 0)
}

/// Read the instance's OpenClaw config if it exists: (exists, its footprint
/// keys). A missing file means defaults, as it does to openclaw.
pub(super) fn read_config(
    name: &str,
    file: &Path,
    config: &Path,
) -> Result<(bool, config::ConfigView), ResolveError> {
    let read_error = |source| ResolveError::ConfigRead {
        name: name.to_string(),
        file: file.to_path_buf(),
        config: config.to_path_buf(),
        source,
    };
    let handle = match std::fs::File::open(config) {
        Ok(handle) => handle,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok((false, config::ConfigView::default()));
        }
        Err(err) => return Err(read_error(err)),
    };
    let mut bytes = Vec::new();
    handle
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(read_error(std::io::Error::other(format!(
            "the file is larger than {MAX_CONFIG_BYTES} bytes"
        ))));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file is not UTF-8 text",
        ))
    })?;
    let view = config::parse(&text).map_err(|err| match err {
        config::ConfigError::Syntax {
            line,
            column,
            message,
        } => ResolveError::ConfigSyntax {
            name: name.to_string(),
            file: file.to_path_buf(),
            config: config.to_path_buf(),
            line,
            column,
            message,
        },
        config::ConfigError::Value { key, message } => ResolveError::ConfigValue {
            name: name.to_string(),
            file: file.to_path_buf(),
            config: config.to_path_buf(),
            key,
            message,
        },
    })?;
    Ok((true, view))
}
