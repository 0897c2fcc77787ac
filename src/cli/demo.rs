//! `openclaw-supervisor demo`: the supervisor over a simulated `main` and a
//! standby `rescue` gateway in a temporary directory. It shows the main job
//! with nothing installed but Rust: start, a SIGKILL of main (restarted;
//! the rescue is started at once), a wedged main (restarted by liveness),
//! and prints how long each took. Then it keeps running for the operator
//! until Ctrl-C (or `--duration`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use super::Global;
use super::human::duration as human;
use openclaw_supervisor::daemon::{self, SocketSettings};
use openclaw_supervisor::declaration::HumanDuration;
use openclaw_supervisor::instance::Snapshot;
use openclaw_supervisor::lifecycle::StateName;
use openclaw_supervisor::supervisor::{Options, SupervisorHandle};
use openclaw_supervisor::watch::WatchMode;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop after this long instead of waiting for Ctrl-C (e.g. `30s`, `0s`).
    #[arg(long, value_parser = super::daemon::parse_duration)]
    pub duration: Option<HumanDuration>,
    /// Keep the demo directory afterwards.
    #[arg(long)]
    pub keep: bool,
}

/// Two base ports whose 111-port blocks are free, far apart and below the
/// ephemeral range (32768 and up on Linux), where an outgoing connection
/// could take a gateway's port.
fn pick_ports() -> anyhow::Result<(u16, u16)> {
    const SLOTS: u16 = 73; // 20000 + 72 * 150 + 1000 + 110 < 32768
    let seed = (std::process::id() % u32::from(SLOTS)) as u16;
    for attempt in 0..SLOTS {
        let main = 20_000 + ((seed + attempt) % SLOTS) * 150;
        let rescue = main + 1000;
        let free = |base: u16| {
            [0u16, 2, 3, 4, 10]
                .iter()
                .all(|offset| openclaw_supervisor::process::check_port(base + offset).is_ok())
        };
        if free(main) && free(rescue) {
            return Ok((main, rescue));
        }
    }
    anyhow::bail!("no free port pair found between 20000 and 32000")
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

struct Layout {
    dir: PathBuf,
    state_dir: PathBuf,
    socket: PathBuf,
    main_port: u16,
    rescue_port: u16,
}

fn lay_out(root: &Path) -> anyhow::Result<Layout> {
    let (main_port, rescue_port) = pick_ports()?;
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin)?;
    let sim = bin.join("openclaw-gateway-sim");
    std::os::unix::fs::symlink(&exe, &sim).context("cannot link the simulator")?;
    let dir = root.join("supervisor.d");
    for (name, port) in [("main", main_port), ("rescue", rescue_port)] {
        write(
            &root.join(name).join("openclaw.json"),
            &format!(
                "// OpenClaw config (JSON5) of the simulated {name} gateway\n\
                 {{ gateway: {{ mode: \"local\", port: {port}, bind: \"loopback\" }},\n  \
                 logging: {{ file: \"{log}\" }} }}\n",
                log = root.join(name).join("gateway.log").display()
            ),
        )?;
    }
    write(
        &dir.join("main.yaml"),
        &format!(
            "# The main gateway (simulated).\n\
             command: {sim}\n\
             port: {main_port}\n\
             state_dir: {root}/main/state\n\
             config: {root}/main/openclaw.json\n\
             env: {{ OPENCLAW_SIM_START_DELAY: 1s }}\n\
             restart: {{ backoff: {{ initial: 500ms, max: 30s }} }}\n\
             stop: {{ timeout: 10s }}\n\
             probes:\n  \
               startup: {{ every: 200ms }}\n  \
               liveness: {{ every: 1s, timeout: 1s, failures: 2 }}\n",
            sim = sim.display(),
            root = root.display()
        ),
    )?;
    write(
        &dir.join("rescue.yaml"),
        &format!(
            "# The rescue bot: in standby until main fails, back to standby once\n\
             # main has been healthy for its reset_after.\n\
             command: {sim}\n\
             profile: rescue\n\
             port: {rescue_port}\n\
             state_dir: {root}/rescue/state\n\
             config: {root}/rescue/openclaw.json\n\
             role: rescue\n\
             rescue_of: main\n\
             standby: true\n\
             restart: {{ reset_after: 20s }}\n\
             stop: {{ timeout: 10s }}\n\
             probes:\n  \
               startup: {{ every: 100ms }}\n",
            sim = sim.display(),
            root = root.display()
        ),
    )?;
    let state_dir = root.join("supervisor-state");
    Ok(Layout {
        dir,
        socket: state_dir.join("supervisor.sock"),
        state_dir,
        main_port,
        rescue_port,
    })
}

async fn http(method: &str, port: u16, path: &str) -> Option<u16> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
        .body(Empty::<bytes::Bytes>::new())
        .ok()?;
    let response = tokio::time::timeout(Duration::from_secs(2), sender.send_request(request))
        .await
        .ok()?
        .ok()?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Some(status)
}

async fn snapshot(handle: &SupervisorHandle, name: &str) -> anyhow::Result<Snapshot> {
    let mut report = handle.status(Some(name.to_string())).await?;
    report
        .instances
        .pop()
        .context("the instance vanished from status")
}

/// Poll (10 ms) until `done` holds, at most `limit`; the time it took.
async fn wait_until<F, Fut>(limit: Duration, mut done: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        if start.elapsed() > limit {
            anyhow::bail!("gave up after {}", humantime::format_duration(limit));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(start.elapsed())
}

async fn scenario(handle: &SupervisorHandle, layout: &Layout) -> anyhow::Result<()> {
    let limit = Duration::from_secs(30);
    let started = wait_until(limit, || async {
        snapshot(handle, "main")
            .await
            .is_ok_and(|s| s.state == StateName::Running)
    })
    .await
    .context("main did not start")?;
    say!(
        "main started (startup probe passed) after {}",
        human(started)
    );

    let old = snapshot(handle, "main")
        .await?
        .pid
        .context("main has no pid")?;
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old),
        nix::sys::signal::Signal::SIGKILL,
    )
    .context("cannot kill main's gateway")?;
    say!("SIGKILL sent to main's gateway (pid {old})");
    let rescue_port = layout.rescue_port;
    let (new_pid, rescue_up) = tokio::join!(
        wait_until(limit, || async {
            snapshot(handle, "main")
                .await
                .is_ok_and(|s| s.pid.is_some_and(|p| p != old))
        }),
        wait_until(limit, || async {
            http("GET", rescue_port, "/startupz").await == Some(200)
        }),
    );
    let new_pid = new_pid.context("main was not restarted")?;
    let rescue_up = rescue_up.context("the rescue did not come up")?;
    let main_ready = wait_until(limit, || async {
        snapshot(handle, "main")
            .await
            .is_ok_and(|s| s.state == StateName::Running)
    })
    .await?;
    let wedged_pid = snapshot(handle, "main")
        .await?
        .pid
        .context("main has no pid")?;
    let main_port = layout.main_port;
    http("POST", main_port, "/__sim/wedge").await;
    say!("main's gateway wedged (answers nothing; its process is alive)");
    let wedge_restart = wait_until(limit, || async {
        snapshot(handle, "main")
            .await
            .is_ok_and(|s| s.pid.is_some_and(|p| p != wedged_pid))
    })
    .await
    .context("the wedged main was not restarted")?;
    say!();
    say!("{:<56} {:>8}", "what", "time");
    say!(
        "{:<56} {:>8}",
        "SIGKILL of main -> replacement pid (backoff 500 ms)",
        human(new_pid)
    );
    say!(
        "{:<56} {:>8}",
        "SIGKILL of main -> standby rescue answers /startupz",
        human(rescue_up)
    );
    say!(
        "{:<56} {:>8}",
        "SIGKILL of main -> main running again",
        human(killed_at.elapsed().min(new_pid + main_ready))
    );
    say!(
        "{:<56} {:>8}",
        "main wedged -> restarted (liveness 2 x 1s, timeout 1s)",
        human(wedge_restart)
    );
    Ok(())
}

/// The command that reaches this demo's supervisor, as a person can paste
/// it: the bare program name when `openclaw-supervisor` on PATH is this very
/// program, else this program's absolute path (e.g. `target/debug/...` under
/// `cargo run`), which works from any directory.
fn status_command(socket: &Path) -> String {
    let exe = std::env::current_exe().ok();
    let path_var = std::env::var("PATH").ok();
    let on_path = openclaw_supervisor::process::resolve_command(
        "openclaw-supervisor",
        Path::new("."),
        path_var.as_deref(),
    )
    .ok();
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let program = match (&exe, &on_path) {
        (Some(exe), Some(found)) if same(exe, found) => String::from("openclaw-supervisor"),
        (Some(exe), _) => exe.display().to_string(),
        (None, _) => String::from("openclaw-supervisor"),
    };
    format!("{program} --socket {} status", socket.display())
}

/// Resolves at the first SIGTERM or SIGINT.
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Whether a signal came since the last look (without waiting).
    async fn pending(&mut self) -> bool {
        tokio::select! {
            biased;
            _ = self.terminate.recv() => true,
            _ = self.interrupt.recv() => true,
            () = std::future::ready(()) => false,
        }
    }
}

pub fn run(_global: &Global, args: DemoArgs) -> anyhow::Result<u8> {
    super::daemon::init_tracing_with_default(super::daemon::LogFormat::Text, "warn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Ctrl-C or SIGTERM at any moment stops the demo and exits 0: the
    // handlers are in place before anything is laid out or spawned.
    let signals = runtime.block_on(async { StopSignals::install() })?;
    let root =
        std::env::temp_dir().join(format!("openclaw-supervisor-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let result = runtime.block_on(demo(&root, &args, signals));
    if args.keep {
        say!("kept {}", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
    result?;
    Ok(super::exit::OK)
}

async fn demo(root: &Path, args: &DemoArgs, mut signals: StopSignals) -> anyhow::Result<()> {
    // Laying out is quick and spawns nothing; a signal meanwhile waits.
    let layout = lay_out(root)?;
    if signals.pending().await {
        say!("stopped before anything was started");
        return Ok(());
    }
    say!("openclaw-supervisor demo: a simulated main and a standby rescue gateway");
    say!("  declarations: {}", layout.dir.display());
    say!(
        "  child logs:   {}",
        layout.state_dir.join("logs").display()
    );
    say!("  socket:       {}", layout.socket.display());
    say!(
        "  ports:        main {}, rescue {} (each owns a block of 111 ports)",
        layout.main_port,
        layout.rescue_port
    );
    say!();
    let options = Options {
        dir: layout.dir.clone(),
        state_dir: layout.state_dir.clone(),
        socket_path: layout.socket.clone(),
        inherited_env: std::env::vars().collect(),
        watch: WatchMode::Events,
        strict: false,
    };
    let (handle, run) = daemon::launch(options, SocketSettings::default()).await?;
    let mut supervisor = tokio::spawn(run);
    // From here on the supervisor's own signal handling stops both
    // gateways (one path, as under `start`); a signal that came before it
    // was in place is still pending here.
    if signals.pending().await {
        handle.shutdown();
    }
    drop(signals);
    let stopped = "\nstopped: both gateways were stopped gracefully";
    let outcome = tokio::select! {
        outcome = scenario(&handle, &layout) => outcome,
        _ = &mut supervisor => {
            say!("{stopped}");
            return Ok(());
        }
    };
    if let Err(err) = &outcome {
        eprintln!("demo: {err:#}");
    }
    say!();
    match args.duration {
        Some(duration) => {
            say!("the supervisor keeps running for {duration}; then it stops both gateways")
        }
        None => say!(
            "the supervisor keeps running; in another terminal try:\n  {}\n\
             press Ctrl-C to stop it (both gateways are stopped gracefully)",
            status_command(&layout.socket)
        ),
    }
    if let Some(duration) = args.duration {
        tokio::select! {
            () = tokio::time::sleep(duration.get()) => handle.shutdown(),
            _ = &mut supervisor => {
                say!("{stopped}");
                return outcome;
            }
        }
    }
    let _ = supervisor.await;
    say!("{stopped}");
    outcome
}
