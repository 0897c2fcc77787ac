//! Writing a declaration (for `init` and `import`): only the keys they
//! set, each string quoted so that YAML reads it back as that string (a
//! name like `null`, `no` or `123` included), comments before and after.

use std::fmt::Write as _;
use std::path::Path;

use super::{Declaration, Role};

/// A YAML scalar that reads back as `text`: JSON's double-quoted string is
/// one.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn path(path: &Path) -> String {
    quoted(&path.to_string_lossy())
}

/// The YAML text of `decl`: `header` and `footer` lines as comments, and
/// the keys `init` and `import` set (name, profile, port, state_dir,
/// config, workspace, role, rescue_of, standby, wake, env) when they differ from
/// the defaults. The text parses back to `decl` for those keys.
pub fn to_yaml(decl: &Declaration, header: &[String], footer: &[String]) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        let _ = writeln!(out, "{text}");
    };
    for comment in header {
        line(format!("# {comment}"));
    }
    if let Some(name) = &decl.name {
        line(format!("name: {}", quoted(name)));
    }
    if let Some(profile) = &decl.profile {
        line(format!("profile: {}", quoted(profile)));
    }
    if let Some(port) = decl.port {
        line(format!("port: {port}"));
    }
    if let Some(state_dir) = &decl.state_dir {
        line(format!("state_dir: {}", path(state_dir)));
    }
    if let Some(config) = &decl.config {
        line(format!("config: {}", path(config)));
    }
    if let Some(workspace) = &decl.workspace {
        line(format!("workspace: {}", path(workspace)));
    }
    if decl.role == Role::Rescue {
        line("role: rescue".to_string());
    }
    if let Some(rescued) = &decl.rescue_of {
        line(format!("rescue_of: {}", quoted(rescued)));
    }
    if decl.standby {
        line("standby: true".to_string());
    }
    if let Some(wake) = decl.wake {
        line(format!("wake: {}", wake.as_str()));
    }
    if !decl.env.is_empty() {
        line("env:".to_string());
        for (key, value) in &decl.env {
            line(format!("  {}: {}", quoted(key), quoted(value)));
        }
    }
    for comment in footer {
        line(format!("# {comment}"));
    }
    out
}
