//! Helpers for tests that run the real `openclaw-supervisor` binary over
//! simulated gateways, each test in its own temp dir with its own ports.
//!
//! Every process a test starts carries a unique `OPENCLAW_TEST_TAG` in its
//! environment (children inherit it), so the guard's drop can find and kill
//! every one of them, even after the supervisor itself was SIGKILLed.
#![allow(dead_code)]

mod events;
#[path = "../process_support/mod.rs"]
mod process_support;
#[path = "../sim_support/mod.rs"]
mod sim_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

// Not every test crate uses each of these.
#[allow(unused_imports)]
pub use events::{Events, Follower, is};
#[allow(unused_imports)]
pub use process_support::Lines;
#[allow(unused_imports)]
pub use process_support::{environ, start_time};
#[allow(unused_imports)]
pub use sim_support::{SIM, claim_ports, ephemeral_range, http};

pub const SUPERVISOR: &str = env!("CARGO_BIN_EXE_openclaw-supervisor");

/// How long any wait may take before it fails the test. Generous: tests run
/// in parallel on a 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

static TAGS: AtomicU64 = AtomicU64::new(0);

/// A base port whose 111-port block, a second instance's 1000 up and a
/// third's 2000 up are this test's alone until it ends, below the
/// ephemeral range ([`sim_support::claim_ports`]).
pub fn free_base_port() -> u16 {
    sim_support::claim_ports(2_111)
}

/// Poll `check` every 20 ms until it returns Some, failing at the deadline.
pub fn wait_for<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    sim_support::poll_until(what, DEADLINE, check)
}

/// A POST to one of the simulator's `/__sim/...` control endpoints, which
/// must answer 200.
pub fn sim_post(port: u16, path: &str) {
    let (status, body) = http(port, "POST", path, Duration::from_secs(5))
        .unwrap_or_else(|err| panic!("POST {path} on port {port}: {err}"));
    assert_eq!(status, 200, "POST {path} on port {port}: {body}");
}

/// Make the gateway on `port` exit with `code` (`POST /__sim/crash`).
pub fn crash(port: u16, code: i32) {
    sim_post(port, &format!("/__sim/crash?code={code}"));
}

/// `main` over the simulator, which writes its pid, then each
/// grandchild's, to `<dir>/pids`; `env` are more entries of its `env:`
/// map (`, KEY: "value"`), `extra` more lines of its declaration. Running,
/// with its port and the pid file's first `count` pids.
pub fn main_with_pidfile(env: &str, extra: &str, count: usize) -> (Daemon, u16, Vec<i32>) {
    let port = free_base_port();
    let daemon = Daemon::with(|root| {
        let pidfile = root.join("pids");
        vec![(
            "main.yaml",
            sim_declaration(
                root,
                "main",
                port,
                &format!(
                    "env: {{ OPENCLAW_SIM_PIDFILE: \"{}\"{env} }}\n{extra}",
                    pidfile.display()
                ),
            ),
        )]
    });
    daemon.wait_state("main", "running");
    let pidfile = daemon.path().join("pids");
    let pids = wait_for(&format!("the pid file with {count} pids"), || {
        let pids: Vec<i32> = std::fs::read_to_string(&pidfile)
            .ok()?
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect();
        (pids.len() >= count).then(|| pids[..count].to_vec())
    });
    (daemon, port, pids)
}

/// Whether a pid is alive (not gone, not a zombie).
pub fn alive(pid: i32) -> bool {
    process_support::alive(pid)
}

/// Pids of living processes this test started (tagged `OPENCLAW_TEST_TAG`).
pub fn tagged(tag: &str) -> Vec<i32> {
    process_support::tagged("OPENCLAW_TEST_TAG", tag)
}

/// Write `name`'s OpenClaw config under `root`: local mode on `port`, its
/// own log file, and `gateway_extra` (more keys of `gateway`, e.g. an
/// `auth` token). Returns its path.
pub fn write_sim_config(root: &Path, name: &str, port: u16, gateway_extra: &str) -> PathBuf {
    write_sim_config_with(root, name, port, gateway_extra, "")
}

/// [`write_sim_config`] with `top_extra`, more top-level keys (`hooks: {...}`).
pub fn write_sim_config_with(
    root: &Path,
    name: &str,
    port: u16,
    gateway_extra: &str,
    top_extra: &str,
) -> PathBuf {
    let home = root.join("instances").join(name);
    fs::create_dir_all(&home).expect("instance dir");
    let config = home.join("openclaw.json");
    fs::write(
        &config,
        format!(
            "{{ gateway: {{ mode: \"local\", port: {port}, {gateway_extra} }}, logging: {{ file: \"{}\" }}, {top_extra} }}\n",
            home.join("gateway.log").display()
        ),
    )
    .expect("write config");
    config
}

/// A simulated gateway's declaration: `extra` is more YAML (keys at top level).
pub fn sim_declaration(root: &Path, name: &str, port: u16, extra: &str) -> String {
    let home = root.join("instances").join(name);
    let config = home.join("openclaw.json");
    if !config.exists() {
        write_sim_config(root, name, port, "");
    }
    format!(
        "command: {SIM}\nport: {port}\nstate_dir: {state}\nconfig: {config}\n{extra}\n",
        state = home.join("state").display(),
        config = config.display(),
    )
}

/// A started supervisor over a main and a rescue of it (`role: rescue`,
/// `rescue_of: main`), each with its extra YAML: the supervisor, main's
/// port and the rescue's.
pub fn main_and_rescue(main_extra: &str, rescue_extra: &str) -> (Daemon, u16, u16) {
    let rescue = format!("role: rescue\nrescue_of: main\n{rescue_extra}");
    let (daemon, port) = Daemon::gateways(&[("main", main_extra), ("rescue", &rescue)]);
    (daemon, port, port + 1000)
}

/// One supervisor over a temp dir of declarations.
pub struct Daemon {
    pub root: tempfile::TempDir,
    pub dir: PathBuf,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub tag: String,
    pub child: Option<Child>,
    pub exit: Option<ExitStatus>,
    /// The binary `start` runs, when not [`SUPERVISOR`] (a copy the test
    /// controls); clients always run [`SUPERVISOR`].
    pub program: Option<PathBuf>,
    log: PathBuf,
}

impl Daemon {
    /// A temp dir with `supervisor.d/` holding `files` (name, YAML); not started.
    pub fn new(files: &[(&str, String)]) -> Daemon {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("supervisor.d");
        fs::create_dir_all(&dir).expect("declarations dir");
        for (name, text) in files {
            fs::write(dir.join(name), text).expect("write declaration");
        }
        let tag = format!(
            "{}-{}-{}",
            std::process::id(),
            TAGS.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        Daemon {
            state_dir: root.path().join("state"),
            socket: root.path().join("s.sock"),
            log: root.path().join("supervisor.log"),
            dir,
            root,
            tag,
            child: None,
            exit: None,
            program: None,
        }
    }

    /// Build the declarations with `make(root)` and start the supervisor.
    pub fn with<N: AsRef<Path>>(make: impl FnOnce(&Path) -> Vec<(N, String)>) -> Daemon {
        let mut daemon = Daemon::new(&[]);
        for (name, text) in make(daemon.root.path()) {
            fs::write(daemon.dir.join(name), text).expect("write declaration");
        }
        daemon.start();
        daemon
    }

    /// A started supervisor over simulated gateways, one `(name, extra
    /// YAML)` each: see [`Daemon::prepare`]. The supervisor and the base port.
    pub fn gateways(gateways: &[(&str, &str)]) -> (Daemon, u16) {
        let (mut daemon, port) = Daemon::prepare(gateways);
        daemon.start();
        (daemon, port)
    }

    /// A supervisor over simulated gateways, not started yet: one `(name,
    /// extra YAML)` each in `NAME.yaml`, the first on a free base port, each
    /// next one 1000 ports up. The supervisor and the base port.
    pub fn prepare(gateways: &[(&str, &str)]) -> (Daemon, u16) {
        assert!(
            gateways.len() <= 3,
            "free_base_port claims 3 blocks 1000 apart"
        );
        let port = free_base_port();
        let daemon = Daemon::new(&[]);
        for ((name, extra), i) in gateways.iter().zip(0..) {
            let text = sim_declaration(daemon.path(), name, port + 1000 * i, extra);
            fs::write(daemon.dir.join(format!("{name}.yaml")), text).expect("write declaration");
        }
        (daemon, port)
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn command(&self) -> Command {
        self.command_of(Path::new(SUPERVISOR))
    }

    fn command_of(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        // A relative `dir` is relative to the temp root.
        command
            .current_dir(self.root.path())
            .arg("--dir")
            .arg(&self.dir)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--socket")
            .arg(&self.socket)
            .env("OPENCLAW_TEST_TAG", &self.tag)
            .env("OPENCLAW_SUPERVISOR_LOG", "debug")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null());
        command
    }

    /// Start the supervisor and wait until its socket answers.
    pub fn start(&mut self) {
        self.start_with_env(&[]);
    }

    /// Start the supervisor with extra environment variables.
    pub fn start_with_env(&mut self, env: &[(&str, &str)]) {
        self.launch(&[], env);
    }

    /// Start the supervisor with extra `start` options (`--no-watch`, `--poll`).
    pub fn start_with_options(&mut self, options: &[&str]) {
        self.launch(options, &[]);
    }

    /// Start the supervisor with its command set up further by `setup` (a
    /// `pre_exec`, say) and wait until its socket answers.
    pub fn start_with_setup(&mut self, setup: impl FnOnce(&mut Command)) {
        self.launch_with(&[], &[], setup);
    }

    /// Start the supervisor and wait until its socket answers.
    fn launch(&mut self, options: &[&str], env: &[(&str, &str)]) {
        self.launch_with(options, env, |_| {});
    }

    fn launch_with(
        &mut self,
        options: &[&str],
        env: &[(&str, &str)],
        setup: impl FnOnce(&mut Command),
    ) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("supervisor log");
        let mut command = self.command_of(self.program.as_deref().unwrap_or(Path::new(SUPERVISOR)));
        command
            .arg("start")
            .args(options)
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        setup(&mut command);
        let child = command.spawn().expect("spawn the supervisor");
        self.child = Some(child);
        self.exit = None;
        wait_for("the supervisor's socket to answer", || {
            if let Some(status) = self.try_exit() {
                panic!(
                    "the supervisor exited early ({status}):\n{}",
                    self.log_text()
                );
            }
            self.client(&["version"]).status.success().then_some(())
        });
    }

    /// Run `start` with `options` when it is expected to refuse: wait
    /// (bounded) for it to exit; its status and what it said on stderr.
    pub fn start_expecting_exit(&mut self, options: &[&str]) -> (ExitStatus, String) {
        let child = self
            .command()
            .arg("start")
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the supervisor");
        self.child = Some(child);
        self.exit = None;
        let status = self.wait_exit();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.as_mut().and_then(|child| child.stderr.take()) {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("read stderr");
        }
        (status, stderr)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("started").id() as i32
    }

    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if let Some(child) = self.child.as_mut().filter(|_| self.exit.is_none()) {
            self.exit = child.try_wait().expect("try_wait");
        }
        self.exit
    }

    /// Wait for the supervisor to exit (bounded).
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_for("the supervisor to exit", || self.try_exit())
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal).expect("signal the supervisor");
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run a client command against this supervisor.
    pub fn client(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("run a client command")
    }

    /// `status --json`, parsed: the whole reply.
    pub fn status_json(&self) -> Value {
        let output = self.client(&["status", "--json"]);
        assert!(
            output.status.success(),
            "status failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log_text()
        );
        serde_json::from_slice(&output.stdout).expect("status --json is JSON")
    }

    /// `events ARGS --json` (the journal's backlog with any of NAME, `-n`,
    /// `--since`), parsed; the command must succeed.
    pub fn journal(&self, args: &[&str]) -> Vec<Value> {
        let mut full = vec!["events"];
        full.extend_from_slice(args);
        full.push("--json");
        let output = self.client(&full);
        assert!(
            output.status.success(),
            "events {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("an event is JSON"))
            .collect()
    }

    /// The status of one instance, if it exists.
    pub fn instance(&self, name: &str) -> Option<Value> {
        let status = self.status_json();
        let list = status
            .get("instances")
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| status.as_array().cloned())
            .unwrap_or_default();
        list.into_iter()
            .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
    }

    pub fn state(&self, name: &str) -> Option<String> {
        self.instance(name)?
            .get("state")?
            .as_str()
            .map(str::to_string)
    }

    pub fn instance_pid(&self, name: &str) -> Option<i32> {
        self.instance(name)?.get("pid")?.as_i64().map(|p| p as i32)
    }

    /// Living processes this test started through the supervisor (its
    /// gateways and theirs), the supervisor itself and the gateways'
    /// keepers left out.
    pub fn descendants(&self) -> Vec<i32> {
        tagged(&self.tag)
            .into_iter()
            .filter(|pid| Some(*pid) != self.child.as_ref().map(|c| c.id() as i32))
            .filter(|pid| !is_keeper(*pid))
            .collect()
    }

    /// The gateways' keepers this test's supervisors started.
    pub fn keepers(&self) -> Vec<i32> {
        tagged(&self.tag)
            .into_iter()
            .filter(|pid| is_keeper(*pid))
            .collect()
    }

    /// SIGKILL every keeper (with a killed supervisor: its gateways are
    /// then nobody's to adopt, leftovers for the next supervisor).
    pub fn kill_keepers(&self) {
        for keeper in self.keepers() {
            let _ = kill(Pid::from_raw(keeper), Signal::SIGKILL);
            wait_for("a killed keeper to be gone", || {
                (!alive(keeper)).then_some(())
            });
        }
    }

    /// Wait until `name` is in `state`; its status then.
    pub fn wait_state(&self, name: &str, state: &str) -> Value {
        wait_for(&format!("{name} to be {state}"), || {
            self.instance(name)
                .filter(|i| i.get("state").and_then(Value::as_str) == Some(state))
        })
    }

    /// Wait until `name` runs a pid other than `old` (any pid when None).
    pub fn wait_new_pid(&self, name: &str, old: Option<i32>) -> i32 {
        wait_for(&format!("a new pid for {name}"), || {
            self.instance_pid(name).filter(|pid| Some(*pid) != old)
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Whatever is left too (a supervisor killed by the test leaves its gateways).
        let running = self.try_exit().is_none();
        process_support::stop_then_sweep(
            self.child.as_mut().filter(|_| running),
            Duration::from_secs(20),
            "OPENCLAW_TEST_TAG",
            &self.tag,
        );
        if std::thread::panicking() {
            eprintln!("--- supervisor log ---\n{}", self.log_text());
            if let Ok(logs) = fs::read_dir(self.state_dir.join("logs")) {
                for log in logs.flatten() {
                    let text = fs::read_to_string(log.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(15).collect();
                    eprintln!("--- {} (last lines) ---", log.path().display());
                    for line in tail.into_iter().rev() {
                        eprintln!("{line}");
                    }
                }
            }
        }
    }
}

/// A process the test starts itself (not the supervisor): it dies of the
/// first SIGTERM, so being alive with the same start time proves that no
/// supervisor ever signalled it. Tagged, so the daemon's guard sweeps it; it
/// is also killed and reaped here.
pub struct Sentinel(std::process::Child);

impl Sentinel {
    pub fn start(daemon: &Daemon, env: &[(&str, &str)]) -> Sentinel {
        let child = std::process::Command::new("sleep")
            .arg("1000")
            .env("OPENCLAW_TEST_TAG", &daemon.tag)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn a sentinel");
        Sentinel(child)
    }

    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `pid` is a gateway's keeper (`openclaw-supervisor keep ...`).
pub fn is_keeper(pid: i32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .is_some_and(|cmdline| cmdline.split(|b| *b == 0).nth(1) == Some(b"keep".as_slice()))
}
