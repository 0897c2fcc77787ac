//! The gateway a conformance run drives: the simulator, or the real
//! `openclaw` when `OPENCLAW_CONFORMANCE_GATEWAY` (its path) and
//! `OPENCLAW_CONFORMANCE_PATH` (a `PATH` holding `node`) are set. Either is
//! spawned with exactly what the supervisor would give it
//! (`Effective::spawn_spec`), in a process group of its own that is
//! SIGKILLed when the [`Gateway`] is dropped.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use openclaw_supervisor::declaration::parse;
use openclaw_supervisor::openclaw::{Effective, EnvMap, resolve};

pub const SIM: &str = env!("CARGO_BIN_EXE_openclaw-gateway-sim");

pub struct Target {
    /// The program the declaration names.
    pub command: PathBuf,
    /// The `PATH` the gateway gets.
    pub path: String,
    pub real: bool,
    /// How long a boot or an exit may take before the step fails.
    pub deadline: Duration,
}

impl Target {
    pub fn from_env() -> Target {
        match (
            std::env::var("OPENCLAW_CONFORMANCE_GATEWAY"),
            std::env::var("OPENCLAW_CONFORMANCE_PATH"),
        ) {
            (Ok(gateway), Ok(path)) if !gateway.is_empty() => Target {
                command: PathBuf::from(gateway),
                path,
                real: true,
                deadline: Duration::from_secs(240),
            },
            _ => Target {
                command: PathBuf::from(SIM),
                path: std::env::var("PATH").unwrap_or_default(),
                real: false,
                deadline: Duration::from_secs(10),
            },
        }
    }

    pub fn name(&self) -> &'static str {
        if self.real {
            "the real gateway"
        } else {
            "the simulator"
        }
    }

    /// What only the simulator needs to show its starting phase: a start
    /// delay (the real gateway takes seconds anyway).
    pub fn own_env(&self) -> &'static [(&'static str, &'static str)] {
        if self.real {
            &[]
        } else {
            &[("OPENCLAW_SIM_START_DELAY", "1s")]
        }
    }
}

/// One spawned gateway, its output in files of its own.
pub struct Gateway {
    pub dir: PathBuf,
    pub port: u16,
    pub effective: Effective,
    pub child: Child,
    pub status: Option<ExitStatus>,
    pub spawned: Instant,
}

/// The OpenClaw config of every boot (`extra` adds top-level keys).
pub fn config(dir: &Path, port: u16, extra: &str) -> String {
    format!(
        r#"// conformance (JSON5)
{{ gateway: {{ mode: "local", port: {port}, bind: "loopback",
             auth: {{ mode: "token", token: "tok-conformance" }} }},
  update: {{ checkOnStart: false }},
  models: {{ catalogRefresh: {{ enabled: false }} }},
  discovery: {{ mdns: {{ mode: "off" }} }},
  agents: {{ defaults: {{ workspace: "{workspace}" }} }},{extra}
}}
"#,
        workspace = dir.join("workspace").display()
    )
}

impl Gateway {
    /// Declares and spawns a gateway in `dir` as the supervisor would.
    pub fn spawn(
        target: &Target,
        dir: &Path,
        port: u16,
        profile: &str,
        config_extra: &str,
        declared_env: &[(&str, &str)],
        inherited_extra: &[(&str, &str)],
    ) -> Gateway {
        fs::create_dir_all(dir).expect("the boot's dir");
        let config_path = dir.join("openclaw.json");
        fs::write(&config_path, config(dir, port, config_extra)).expect("write the config");
        let mut env = format!("  PATH: {:?}\n", target.path);
        for (key, value) in target.own_env().iter().chain(declared_env) {
            env.push_str(&format!("  {key}: {value:?}\n"));
        }
        let yaml = format!(
            "profile: {profile}\ncommand: {:?}\nport: {port}\nconfig: {:?}\nstate_dir: {:?}\nenv:\n{env}",
            target.command,
            config_path,
            dir.join("state"),
        );
        let file = dir.join("gateway.yaml");
        fs::write(&file, &yaml).expect("write the declaration");
        let loaded = parse(&file, &yaml).expect("the declaration parses");
        let mut inherited: EnvMap = [("HOME", dir.join("home").display().to_string())]
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect();
        inherited.insert("PATH".into(), target.path.clone());
        for (key, value) in inherited_extra {
            inherited.insert(key.to_string(), value.to_string());
        }
        let effective = resolve(&loaded, &inherited).expect("the declaration resolves");
        for made in [&effective.state_dir, &effective.tmpdir] {
            fs::create_dir_all(made).expect("state dir and TMPDIR");
        }
        let spec = effective
            .spawn_spec(&inherited, [])
            .expect("the command is found");
        let child = Command::new(&spec.program)
            .args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .current_dir(spec.cwd.as_deref().unwrap_or(dir))
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("stdout.log")).expect("stdout.log"))
            .stderr(fs::File::create(dir.join("stderr.log")).expect("stderr.log"))
            .process_group(0)
            .spawn()
            .expect("spawn the gateway");
        Gateway {
            dir: dir.to_path_buf(),
            port,
            effective,
            child,
            status: None,
            spawned: Instant::now(),
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits i32"))
    }

    /// stdout then stderr, terminal escapes kept.
    pub fn raw_output(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("stdout.log"), read("stderr.log"))
    }

    /// stdout then stderr without terminal escapes.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&strip_ansi_escapes::strip(self.raw_output())).into_owned()
    }

    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    pub fn signal(&self, signal: Signal) {
        nix::sys::signal::kill(self.pid(), signal).expect("signal the gateway");
    }

    /// `gateway.*.lock` files (not the `*.lock.sqlite` databases).
    pub fn lock_files(&self) -> Vec<PathBuf> {
        let dir = self
            .effective
            .state_dir
            .join("tmp")
            .join(format!("openclaw-{}", nix::unistd::getuid()));
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| {
                        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                        name.starts_with("gateway.") && name.ends_with(".lock")
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // The whole group: the real gateway's workers are in it.
        let _ = killpg(self.pid(), Signal::SIGKILL);
        if self.status.is_none() {
            let _ = self.child.wait();
        }
    }
}

/// A `GET` to `addr`: (status, body).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    crate::sim_support::http_to(addr, "GET", path, Duration::from_secs(5))
}
