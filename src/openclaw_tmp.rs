//! TEMPORARY stand-ins until the resolution branch lands.
use crate::openclaw::{Effective, EnvMap};

impl Effective {
    pub fn port_block(&self) -> std::ops::RangeInclusive<u32> {
        let base = u32::from(self.port);
        base..=base + 110
    }
    pub fn command(&self) -> &str {
        self.declaration.command.as_deref().unwrap_or("openclaw")
    }
    pub fn child_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(profile) = &self.profile {
            args.push("--profile".to_string());
            args.push(profile.clone());
        }
        args.extend([
            "gateway".to_string(),
            "--port".to_string(),
            self.port.to_string(),
            "--bind".to_string(),
            self.bind.clone(),
        ]);
        args.extend(self.declaration.args.iter().cloned());
        args
    }
    pub fn child_env(&self, inherited: &EnvMap) -> EnvMap {
        let mut env = inherited.clone();
        env.insert(
            "OPENCLAW_STATE_DIR".into(),
            self.state_dir.display().to_string(),
        );
        env.insert(
            "OPENCLAW_CONFIG_PATH".into(),
            self.config_path.display().to_string(),
        );
        env.insert("OPENCLAW_GATEWAY_PORT".into(), self.port.to_string());
        env.insert("TMPDIR".into(), self.tmpdir.display().to_string());
        env.insert("OPENCLAW_SUPERVISOR_MODE".into(), "external".into());
        env.insert("OPENCLAW_NO_RESPAWN".into(), "1".into());
        env.extend(self.declaration.env.clone());
        env
    }
}

/// TEMPORARY: a minimal scan until the resolution branch lands.
pub fn tmp_scan(
    dir: &std::path::Path,
    env: &EnvMap,
) -> (Vec<Effective>, Vec<(std::path::PathBuf, String)>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        errors.push((dir.to_path_buf(), "cannot read dir".to_string()));
        return (ok, errors);
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        match serde_saphyr::from_str::<crate::declaration::Declaration>(&text) {
            Ok(declaration) => {
                let name = declaration.name.clone().unwrap_or_else(|| {
                    path.file_stem()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_string()
                });
                let home = std::path::PathBuf::from(env.get("HOME").cloned().unwrap_or_default());
                let state_dir = declaration
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| home.join(format!(".openclaw-{name}")));
                ok.push(Effective {
                    name,
                    file: path.clone(),
                    profile: declaration.profile.clone(),
                    home,
                    config_path: declaration
                        .config
                        .clone()
                        .unwrap_or_else(|| state_dir.join("openclaw.json")),
                    config_exists: false,
                    workspaces: vec![],
                    log_file: state_dir.join("log"),
                    tmpdir: state_dir.join("tmp"),
                    port: declaration.port.unwrap_or(18789),
                    port_source: crate::openclaw::PortSource::Declaration,
                    bind: "loopback".into(),
                    explicit_ports: vec![],
                    state_dir,
                    declaration,
                });
            }
            Err(err) => errors.push((path, err.to_string())),
        }
    }
    (ok, errors)
}
