//! A test instance shared by the isolation and resolution tests.

use std::path::{Path, PathBuf};

use crate::declaration::Declaration;
use crate::openclaw::{Effective, ExplicitPort, PortSource, Workspace};

/// An instance with a state dir, config, workspace, log and TMPDIR of its
/// own, on `port` (declared).
pub fn instance(name: &str, port: u16) -> Effective {
    let state_dir = PathBuf::from(format!("/h/.openclaw-{name}"));
    Effective {
        name: name.to_string(),
        file: PathBuf::from(format!("/sup/{name}.yaml")),
        command: "openclaw".to_string(),
        declaration: Declaration::default(),
        probes: Default::default(),
        profile: Some(name.to_string()),
        home: PathBuf::from("/h"),
        config_path: state_dir.join("openclaw.json"),
        config_exists: true,
        workspaces: vec![Workspace {
            agent: "default".to_string(),
            path: state_dir.join("workspace"),
            source: "default".to_string(),
        }],
        log_file: PathBuf::from(format!("/tmp/openclaw/openclaw-{name}-{{date}}.log")),
        tmpdir: state_dir.join("tmp"),
        state_dir,
        port,
        port_source: PortSource::Declaration,
        bind: "loopback".to_string(),
        explicit_ports: Vec::new(),
        declared_workspace: None,
        via_symlink: Vec::new(),
        channels: Vec::new(),
        warnings: Vec::new(),
        tailscale: Default::default(),
        gateway_token: Default::default(),
        hooks_token: Default::default(),
    }
}

pub fn with(mut instance: Effective, change: impl FnOnce(&mut Effective)) -> Effective {
    change(&mut instance);
    instance
}

pub fn state(instance: &mut Effective, dir: &str) {
    let dir = Path::new(dir);
    instance.state_dir = dir.to_path_buf();
    instance.config_path = dir.join("openclaw.json");
    instance.workspaces[0].path = dir.join("workspace");
    instance.tmpdir = dir.join("tmp");
}

pub fn explicit(key: &str, port: u16) -> ExplicitPort {
    ExplicitPort {
        key: key.to_string(),
        port,
    }
}
