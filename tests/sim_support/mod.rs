//! Helpers for tests that run the gateway simulator: a temp dir, a free
//! port, a guard that kills everything it started, and a blocking HTTP GET.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub const SIM: &str = env!("CARGO_BIN_EXE_openclaw-gateway-sim");

/// How long any wait in these tests may take before it fails the test.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A port of this test's own: see [`claim_ports`].
pub fn free_port() -> u16 {
    claim_ports(1)
}

/// A loopback listener on a port of this test's own, and its port. The
/// claim checks the port is free, but a program outside the claims may
/// take it before the bind: then another port is claimed.
pub fn loopback_listener() -> (std::net::TcpListener, u16) {
    let mut last = None;
    for _ in 0..10 {
        let port = claim_ports(1);
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => return (listener, port),
            Err(err) => last = Some((port, err)),
        }
    }
    panic!("no claimed port could be bound on loopback: {last:?}")
}

/// Test ports lie in `FIRST_TEST_PORT..LAST_TEST_PORT`, below the kernel's
/// ephemeral range (where any outgoing connection may take a port as its
/// local one; `claim_ports` checks the range), handed out in slots of
/// `SLOT` ports. The demo picks its own ports in 20000..32000 (it cannot
/// know of these claims), so tests keep below that.
const FIRST_TEST_PORT: u16 = 10_000;
const LAST_TEST_PORT: u16 = 20_000;
const SLOT: u16 = 250;

std::thread_local! {
    /// The slots this thread claimed: a test runs on a thread of its own, so
    /// they are released when the test ends (after its locals, the
    /// processes it started among them, are dropped).
    static CLAIMS: std::cell::RefCell<Vec<nix::fcntl::Flock<fs::File>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The first of `count` consecutive ports that are this test's alone until
/// it ends: every test process claims its slots with an flock on one file
/// per slot in a temp dir they all share, so parallel test binaries never
/// get the same ports, and a port no other program is listening on either.
pub fn claim_ports(count: u16) -> u16 {
    use nix::fcntl::{Flock, FlockArg};
    use std::sync::atomic::{AtomicU16, Ordering};
    static ROTATION: AtomicU16 = AtomicU16::new(0);

    let end = LAST_TEST_PORT.min(ephemeral_range().0);
    let total = (end - FIRST_TEST_PORT) / SLOT;
    let need = count.max(1).div_ceil(SLOT);
    assert!(
        need <= total,
        "{count} ports do not fit below the ephemeral range"
    );
    let dir = std::env::temp_dir().join("openclaw-supervisor-test-ports");
    fs::create_dir_all(&dir).expect("the shared port-claim dir");
    // Processes start their search at different slots, so they rarely meet.
    let offset = (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(ROTATION.fetch_add(need, Ordering::Relaxed));
    let candidates = total - need + 1;
    let start = Instant::now();
    loop {
        for i in 0..candidates {
            let first = (offset.wrapping_add(i)) % candidates;
            let mut held = Vec::new();
            for slot in first..first + need {
                let file = fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(dir.join(format!("slot-{slot}")))
                    .expect("a port-claim file");
                match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                    Ok(lock) => held.push(lock),
                    Err(_) => break,
                }
            }
            let base = FIRST_TEST_PORT + first * SLOT;
            if held.len() == usize::from(need)
                && (0..count.min(5))
                    .all(|off| openclaw_supervisor::process::check_port(base + off).is_ok())
            {
                CLAIMS.with(|claims| claims.borrow_mut().extend(held));
                return base;
            }
        }
        // Every slot is claimed by tests running now: wait for one to end.
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no {count} free test ports in {FIRST_TEST_PORT}..{end}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`).
pub fn ephemeral_range() -> (u16, u16) {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut numbers = text.split_whitespace().filter_map(|n| n.parse().ok());
    match (numbers.next(), numbers.next()) {
        (Some(low), Some(high)) => (low, high),
        _ => (32_768, 60_999),
    }
}

/// Polls `check` every 20 ms until it returns Some, failing at the deadline.
pub fn wait_for<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    poll_until(what, DEADLINE, check)
}

/// Polls `check` every 20 ms until it returns Some, failing once `deadline`
/// has passed. The supervisor's tests share it with their own, longer deadline.
pub fn poll_until<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A blocking `GET` (or other method) over HTTP/1.0 to 127.0.0.1: (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    http_to(
        SocketAddr::from(([127, 0, 0, 1], port)),
        method,
        path,
        timeout,
    )
}

/// [`http`] to any address (e.g. `[::1]:port`).
pub fn http_to(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let _ = stream.shutdown(Shutdown::Both);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    http(port, "GET", path, Duration::from_secs(5))
}

/// One simulator run in its own temp dir, killed (with its grandchildren) on drop.
pub struct Sim {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub child: Option<Child>,
    pub status: Option<ExitStatus>,
}

/// Builds a simulator command with a clean environment rooted in `dir`.
pub fn sim_command(dir: &Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(SIM);
    command
        .args(["gateway", "--port", &port.to_string(), "--bind", "loopback"])
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("OPENCLAW_STATE_DIR", dir.join("state"))
        .env("OPENCLAW_CONFIG_PATH", dir.join("openclaw.json"))
        .env("TMPDIR", dir.join("tmp"))
        .env("OPENCLAW_SIM_PIDFILE", dir.join("pids"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.join("stdout.log")).expect("create stdout.log"))
        .stderr(fs::File::create(dir.join("stderr.log")).expect("create stderr.log"))
        // Like the supervisor: the gateway leads its own process group.
        .process_group(0);
    command
}

impl Sim {
    /// A temp dir with a valid config, and a free port.
    pub fn prepare() -> Sim {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join("openclaw.json"),
            "{ gateway: { mode: 'local', bind: 'loopback' }, // JSON5\n}",
        )
        .expect("write config");
        Sim {
            dir,
            port: free_port(),
            child: None,
            status: None,
        }
    }

    pub fn spawn(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        let child = sim_command(self.dir.path(), self.port, extra, env)
            .spawn()
            .expect("spawn the simulator");
        self.child = Some(child);
    }

    /// Starts one and waits until its port answers.
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Sim {
        let mut sim = Sim::prepare();
        sim.spawn(extra, env);
        sim.wait_listening();
        sim
    }

    pub fn pid(&self) -> Pid {
        let child = self.child.as_ref().expect("spawned");
        Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"))
    }

    pub fn wait_listening(&mut self) {
        let port = self.port;
        wait_for("the simulator to answer /healthz", || {
            if let Some(status) = self.try_exit() {
                panic!(
                    "the simulator exited early with {status}: {}",
                    self.stderr()
                );
            }
            get(port, "/healthz").ok()
        });
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the simulator");
    }

    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            let child = self.child.as_mut()?;
            self.status = child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits (bounded) for the simulator to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_for("the simulator to exit", || self.try_exit())
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Lock files in `$STATE_DIR/tmp/openclaw-<uid>/`.
    pub fn lock_files(&self) -> Vec<PathBuf> {
        let dir = self
            .state_dir()
            .join("tmp")
            .join(format!("openclaw-{}", nix::unistd::getuid()));
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "lock"))
            .collect()
    }

    /// Pids from the pid file: the simulator first, then its grandchildren.
    pub fn pidfile(&self) -> Vec<i32> {
        fs::read_to_string(self.dir.path().join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && self.status.is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Grandchildren (the first line is the simulator itself, already reaped).
        for pid in self.pidfile().into_iter().skip(1) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
