//! A fleet: one real `openclaw-supervisor` over simulated gateways in a temp
//! dir, with what the scenarios need to observe it from outside: the control
//! socket, the pid records under `<state>/run/` (watched with inotify), the
//! gateways' HTTP probes and the supervisor's own `/proc` entries.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use openclaw_supervisor::control;
use openclaw_supervisor::protocol::{InstanceStatus, Request, Response};

/// The supervisor binary: the one Cargo built with this benchmark, or
/// another build to compare (`OPENCLAW_BENCH_SUPERVISOR=/path/to/binary`).
pub fn supervisor() -> PathBuf {
    std::env::var_os("OPENCLAW_BENCH_SUPERVISOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_openclaw-supervisor")))
}
pub const SIM: &str = env!("CARGO_BIN_EXE_openclaw-gateway-sim");

/// How long any wait may take before the benchmark gives up on it.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A gateway owns the 111 ports `base..=base+110`.
const BLOCK: u16 = 111;
/// Base ports start here and stay below the kernel's ephemeral range
/// (32768 up), so a probe's client port never sits on a gateway's port.
const FIRST_BASE: u16 = 9_000;

/// Hands out base ports 111 apart, skipping any already taken on the host.
pub struct Ports {
    next: u16,
}

impl Ports {
    pub fn new() -> Ports {
        Ports { next: FIRST_BASE }
    }

    pub fn take(&mut self) -> u16 {
        loop {
            let base = self.next;
            self.next = self
                .next
                .checked_add(BLOCK)
                .expect("the port plan stays below 65535");
            if std::net::TcpListener::bind(("127.0.0.1", base)).is_ok() {
                return base;
            }
        }
    }
}

/// Poll `check` every `every` until it returns Some; panics at the deadline.
pub fn wait_for<T>(what: &str, every: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(every);
    }
}

pub use crate::process_support::alive;

/// The HTTP status of `GET path` on a loopback port; None when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let timeout = Some(Duration::from_secs(2));
    stream.set_read_timeout(timeout).ok()?;
    stream.set_write_timeout(timeout).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 16];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// The supervisor's own cost as the kernel accounts it: resident memory and
/// CPU time of its process only (children are not included).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub rss_bytes: u64,
    /// The anonymous part of the RSS (heap, stacks); the rest is mapped
    /// files: the binary's code and the shared libraries.
    pub anon_bytes: u64,
    pub cpu: Duration,
}

pub fn usage_of(pid: i32) -> Usage {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{key} in /proc/<pid>/status"))
    };
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .expect("a command name in /proc/<pid>/stat");
    // utime and stime are fields 14 and 15; fields after the name start at 3.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Usage {
        rss_bytes: kib("VmRSS:") * 1024,
        anon_bytes: kib("RssAnon:") * 1024,
        cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second()),
    }
}

/// The gateways' keepers among the children of `supervisor` (issue 16: a
/// process per gateway, which idle figures must count): how many, and their
/// PSS and private dirty memory in all, in bytes, from `smaps_rollup`.
pub fn keepers_of(supervisor: i32) -> (usize, u64, u64) {
    // Each thread's children are listed under that thread.
    let children: String = fs::read_dir(format!("/proc/{supervisor}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .collect::<Vec<_>>()
        .join(" ");
    let mut count = 0;
    let (mut pss, mut private) = (0, 0);
    for pid in children.split_whitespace() {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).nth(1) != Some(b"keep".as_slice()) {
            continue;
        }
        let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let kib = |key: &str| -> u64 {
            rollup
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|value| value.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        count += 1;
        pss += kib("Pss:") * 1024;
        private += kib("Private_Dirty:") * 1024;
    }
    (count, pss, private)
}

/// CPU time of every thread of a process, in nanoseconds, from
/// `/proc/<pid>/task/*/schedstat` (the ticks of `stat` are 10 ms coarse).
/// A thread that ends in between takes its time with it, so this is for
/// windows where the thread set stays put, as it does while idle.
pub fn cpu_nanos(pid: i32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| {
            fs::read_to_string(task.path().join("schedstat"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// What happened to a pid record file, and when the benchmark heard of it.
#[derive(Debug)]
enum RecordEvent {
    Written(String, Instant),
    Removed(String, Instant),
}

/// Watches `<state>/run/` with inotify: the supervisor writes
/// `<name>.json` (temp file, then rename) right after it forks a gateway,
/// and removes it once the gateway and its leftovers are gone. The time is
/// taken in the watcher's thread as the kernel event arrives.
pub struct RunWatch {
    _watcher: notify::RecommendedWatcher,
    events: mpsc::Receiver<RecordEvent>,
    dir: PathBuf,
}

impl RunWatch {
    pub fn new(run_dir: &Path) -> RunWatch {
        use notify::{EventKind, RecursiveMode, Watcher};
        fs::create_dir_all(run_dir).expect("create the run dir");
        let (tx, events) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let at = Instant::now();
                let Ok(event) = event else { return };
                // A rename reports the new name last.
                let Some(name) = event
                    .paths
                    .last()
                    .and_then(|p| p.file_name()?.to_str()?.strip_suffix(".json"))
                    .filter(|n| !n.starts_with('.'))
                    .map(str::to_string)
                else {
                    return;
                };
                let record = match event.kind {
                    EventKind::Remove(_) => RecordEvent::Removed(name, at),
                    EventKind::Create(_)
                    | EventKind::Modify(notify::event::ModifyKind::Name(_)) => {
                        RecordEvent::Written(name, at)
                    }
                    _ => return,
                };
                let _ = tx.send(record);
            })
            .expect("an inotify watcher");
        watcher
            .watch(run_dir, RecursiveMode::NonRecursive)
            .expect("watch the run dir");
        RunWatch {
            _watcher: watcher,
            events,
            dir: run_dir.to_path_buf(),
        }
    }

    /// Forget events already seen.
    pub fn drain(&self) {
        while self.events.try_recv().is_ok() {}
    }

    /// The next time `name`'s record was written, with the pid in it.
    pub fn next_written(&self, name: &str) -> (Instant, i32) {
        loop {
            match self.events.recv_timeout(DEADLINE) {
                Ok(RecordEvent::Written(n, at)) if n == name => {
                    if let Some(pid) = self.pid(name) {
                        return (at, pid);
                    }
                }
                Ok(_) => {}
                Err(_) => panic!("timed out waiting for the pid record of {name}"),
            }
        }
    }

    /// The next time `name`'s record was removed.
    pub fn next_removed(&self, name: &str) -> Instant {
        loop {
            match self.events.recv_timeout(DEADLINE) {
                Ok(RecordEvent::Removed(n, at)) if n == name => return at,
                Ok(_) => {}
                Err(_) => panic!("timed out waiting for the removal of {name}'s pid record"),
            }
        }
    }

    /// The pid in `name`'s record, if there is one.
    pub fn pid(&self, name: &str) -> Option<i32> {
        let text = fs::read(self.dir.join(format!("{name}.json"))).ok()?;
        let record: serde_json::Value = serde_json::from_slice(&text).ok()?;
        record.get("pid")?.as_i64().map(|pid| pid as i32)
    }
}

/// One supervisor over a temp dir of simulated gateways.
pub struct Fleet {
    pub root: tempfile::TempDir,
    pub dir: PathBuf,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    /// Base port of each declared instance, by name.
    pub ports: Vec<(String, u16)>,
    tag: String,
    /// More environment for the supervisor.
    pub env: Vec<(String, String)>,
    child: Option<Child>,
    log: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl Fleet {
    pub fn new() -> Fleet {
        let root = tempfile::tempdir().expect("a temp dir");
        let dir = root.path().join("supervisor.d");
        fs::create_dir_all(&dir).expect("the declarations dir");
        let tag = format!(
            "bench-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        Fleet {
            state_dir: root.path().join("state"),
            socket: root.path().join("s.sock"),
            log: root.path().join("supervisor.log"),
            dir,
            root,
            ports: Vec::new(),
            tag,
            env: Vec::new(),
            child: None,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
        }
    }

    /// The declaration of a simulated gateway; `extra` is more YAML.
    pub fn declaration(&self, name: &str, port: u16, extra: &str) -> String {
        let home = self.root.path().join("instances").join(name);
        fs::create_dir_all(&home).expect("the instance dir");
        let config = home.join("openclaw.json");
        fs::write(
            &config,
            format!(
                "{{ gateway: {{ mode: \"local\", port: {port} }}, logging: {{ file: \"{}\" }} }}\n",
                home.join("gateway.log").display()
            ),
        )
        .expect("write the OpenClaw config");
        format!(
            "command: {SIM}\nport: {port}\nstate_dir: {state}\nconfig: {config}\n{extra}\n",
            state = home.join("state").display(),
            config = config.display(),
        )
    }

    /// Declare an instance: its file appears in the dir whole (written
    /// beside it, then renamed in), as an editor or a deploy tool does.
    /// Returns when it appeared.
    pub fn declare(&mut self, name: &str, port: u16, extra: &str) -> Instant {
        let text = self.declaration(name, port, extra);
        let temp = self.root.path().join(format!(".{name}.yaml.tmp"));
        fs::write(&temp, text).expect("write a declaration");
        let at = Instant::now();
        fs::rename(&temp, self.dir.join(format!("{name}.yaml"))).expect("move a declaration in");
        self.ports.push((name.to_string(), port));
        at
    }

    pub fn undeclare(&mut self, name: &str) {
        fs::remove_file(self.dir.join(format!("{name}.yaml"))).expect("remove a declaration");
        self.ports.retain(|(n, _)| n != name);
    }

    pub fn run_dir(&self) -> PathBuf {
        self.state_dir.join("run")
    }

    /// Start the supervisor (not waiting for anything) and return when it
    /// was spawned. Its log level is the default (info), as in production.
    pub fn spawn(&mut self) -> Instant {
        let log = fs::File::create(&self.log).expect("the supervisor's log");
        let started = Instant::now();
        let child = Command::new(supervisor())
            .arg("--dir")
            .arg(&self.dir)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--socket")
            .arg(&self.socket)
            .arg("start")
            .env("OPENCLAW_BENCH_TAG", &self.tag)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .env_remove("OPENCLAW_SUPERVISOR_LOG")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn the supervisor");
        self.child = Some(child);
        started
    }

    /// Start the supervisor and wait until its socket answers.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_answering();
    }

    pub fn wait_answering(&mut self) {
        wait_for("the supervisor's socket", Duration::from_millis(5), || {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "the supervisor exited early ({status}):\n{}",
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            matches!(self.call(Request::Version), Some(Response::Version { .. })).then_some(())
        });
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("a started supervisor").id() as i32
    }

    pub fn usage(&self) -> Usage {
        usage_of(self.pid())
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// One request on a connection of its own; None when it fails.
    pub fn call(&self, request: Request) -> Option<Response> {
        self.block_on(control::request(&self.socket, request)).ok()
    }

    pub fn status(&self) -> Vec<InstanceStatus> {
        match self.call(Request::Status { name: None }) {
            Some(Response::Status { instances, .. }) => instances,
            other => panic!("status failed: {other:?}"),
        }
    }

    /// Wait until every declared instance is running (startup probe passed).
    pub fn wait_all_running(&self) {
        let wanted = self.ports.len();
        wait_for(
            "every instance to be running",
            Duration::from_millis(100),
            || {
                let status = self.status();
                (status.iter().filter(|i| i.state == "running").count() == wanted).then_some(())
            },
        );
    }

    /// Stop the supervisor gracefully (it stops its gateways), then make
    /// sure nothing tagged with this fleet is left.
    pub fn stop(&mut self) {
        crate::process_support::stop_then_sweep(
            self.child.as_mut(),
            Duration::from_secs(60),
            "OPENCLAW_BENCH_TAG",
            &self.tag,
        );
        self.child = None;
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("--- supervisor log (last lines) ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}
