//! The keeper process itself: `openclaw-supervisor keep --socket S --spool F
//! [--cgroup DIR] -- PROGRAM ARGS...`, started by the supervisor's spawner
//! with its connection as fd 3 and the gateway's environment and working
//! directory as its own.
//!
//! One thread, blocking IO around `poll(2)`: it starts the gateway (its own
//! process group, stdout and stderr into one pipe, into its cgroup before
//! exec when given), sends `Hello` with the pipe, and then only waits. While
//! a supervisor is connected it does not touch the pipe (the supervisor
//! reads it); while none is (it crashed, or is re-executing) it reads the
//! pipe into the spool file, so the gateway never writes into a pipe nobody
//! reads, and hands the spool over to the next supervisor that connects on
//! the socket. The gateway's exit is held unreaped until the supervisor
//! acknowledges it (so its pid, the group id the supervisor signals, cannot
//! be reused meanwhile); with no supervisor connected it is reaped at once
//! and told to the next one. Once a supervisor has heard the exit the
//! keeper is idle: it listens to nobody else and waits on that connection
//! for the next gateway's spawn spec (`Start`, which it starts as it
//! started the first) or `End`; it ends when that connection closes (a
//! supervisor that crashed or re-executed while it was idle). It ignores
//! SIGHUP, SIGINT and SIGTERM: it ends with its supervisor's word.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;

use super::launch::{Launch, start_gateway};
use super::wire::{Decoder, FromKeeper, Order, VERSION};
use crate::process::ExitKind;

mod args;
mod orders;
mod spooling;

pub use args::{Args, parse};
use orders::{Obey, obey};

/// The descriptor the supervisor's connection arrives on.
pub const CONN_FD: i32 = 3;

/// Output kept while no supervisor is connected; beyond it bytes are
/// counted and dropped (a supervisor gone for good must not fill the disk).
pub const SPOOL_LIMIT: u64 = 64 << 20;

/// The signals a keeper ignores (and its gateway gets back as default): a
/// signal meant for a whole session, process group or unit (a terminal's
/// hangup, Ctrl-C, `systemctl kill` without `--kill-whom`) must not end the
/// keeper and leave its gateway without a parent that learns its exit.
pub(super) const IGNORED: [Signal; 6] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// `openclaw-supervisor keep ...` (`args` after `keep`).
pub fn main(args: &[OsString]) -> ExitCode {
    // SAFETY: fd 3 is the connection the spawner put there for us; we take
    // it once, before anything else opens a descriptor.
    let conn = unsafe { UnixStream::from_raw_fd(CONN_FD) };
    let mut conn = Some(conn);
    let fail = |conn: &mut Option<UnixStream>, why: String| {
        if let Some(conn) = conn.as_mut() {
            let _ = conn.write_all(&FromKeeper::SpawnFailed(why).encode());
        }
        ExitCode::FAILURE
    };
    let is_socket = nix::sys::socket::getsockopt(
        // SAFETY: fd 3 is open for the whole call (taken above).
        &unsafe { std::os::fd::BorrowedFd::borrow_raw(CONN_FD) },
        nix::sys::socket::sockopt::SockType,
    )
    .is_ok();
    if !is_socket {
        // Not started by a supervisor: write nothing into whatever fd 3 is.
        std::mem::forget(conn);
        eprintln!(
            "keeper: descriptor {CONN_FD} is not the supervisor's connection; a keeper is started by openclaw-supervisor"
        );
        return ExitCode::from(2);
    }
    if let Err(err) = set_cloexec(CONN_FD) {
        return fail(&mut conn, format!("keeper: fd {CONN_FD}: {err}"));
    }
    let args = match parse(args) {
        Ok(args) => args,
        Err(why) => return fail(&mut conn, format!("keeper: {why}")),
    };
    if args.wire != Some(VERSION) {
        // A keeper binary of another build (a stale one beside a newer
        // supervisor): refuse before any gateway runs.
        return fail(
            &mut conn,
            format!(
                "keeper: it speaks version {VERSION}, the supervisor {}; install both binaries of one build",
                args.wire
                    .map_or("an unknown one".to_string(), |v| v.to_string())
            ),
        );
    }
    for ignored in IGNORED {
        // SAFETY: setting a disposition to SIG_IGN installs no handler.
        let _ = unsafe { signal(ignored, SigHandler::SigIgn) };
    }
    let listener = match super::bind(&args.socket) {
        Ok(listener) => listener,
        Err(err) => {
            return fail(
                &mut conn,
                format!("keeper: cannot listen on {}: {err}", args.socket.display()),
            );
        }
    };
    let marker = std::env::var(super::MARKER_FOR_GATEWAY).unwrap_or_default();
    let first = Launch {
        program: &args.program,
        args: &args.args,
        env: None,
        cwd: None,
        cgroup: args.cgroup.as_deref(),
        marker: &marker,
    };
    let (pipe, pid) = match start_gateway(&first) {
        Ok(started) => started,
        Err(err) => {
            let _ = std::fs::remove_file(&args.socket);
            return fail(&mut conn, first.failed(&err));
        }
    };
    let mut keeper = Keeper {
        pid,
        start_time: crate::process::process_start_time(pid.as_raw()).unwrap_or(0),
        marker,
        pipe: Some(pipe),
        pidfd: crate::process::pidfd_open(pid.as_raw()),
        exit: None,
        reaped: false,
        told: false,
        spool: args.spool.clone(),
        spooling: None,
        spooled: 0,
        dropped: 0,
        listener,
        conn: None,
        idle: false,
        released: false,
    };
    if let Some(conn) = conn.take() {
        keeper.connect(conn);
    }
    let code = keeper.run();
    let _ = std::fs::remove_file(&args.socket);
    code
}

struct Keeper {
    pid: Pid,
    start_time: u64,
    marker: String,
    /// The read end of the gateway's output, until EOF.
    pipe: Option<OwnedFd>,
    /// Readable once the gateway exits (none on kernels without pidfds:
    /// then the keeper looks every second).
    pidfd: Option<OwnedFd>,
    exit: Option<ExitKind>,
    reaped: bool,
    /// The connected supervisor has been sent the exit.
    told: bool,
    spool: PathBuf,
    spooling: Option<File>,
    spooled: u64,
    dropped: u64,
    listener: UnixListener,
    conn: Option<(UnixStream, Decoder)>,
    /// Its gateway's exit was heard and it was reaped: waiting for the
    /// supervisor's next order, hearing nobody else.
    idle: bool,
    /// The code its start ran has been given back since its gateway
    /// started (`crate::resident::release_own_code`).
    released: bool,
}

impl Keeper {
    fn run(&mut self) -> ExitCode {
        loop {
            if self.idle {
                match self.wait_for_an_order() {
                    true => return ExitCode::SUCCESS,
                    false => continue,
                }
            }
            self.look_at_the_gateway();
            let connected = self.conn.is_some();
            if connected && self.exit.is_none() && !self.released {
                // Its gateway runs and a supervisor holds it: the keeper
                // waits from here on, running almost none of the code its
                // start ran. Shared by few keepers, that code is most of
                // each one's memory.
                self.released = true;
                let _ = crate::resident::release_own_code();
            }
            let mut fds = vec![PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
            if let Some((conn, _)) = &self.conn {
                fds.push(PollFd::new(conn.as_fd(), PollFlags::POLLIN));
            }
            let pipe_at = fds.len();
            if let (false, Some(pipe)) = (connected, &self.pipe) {
                fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLIN));
            }
            let pidfd_at = fds.len();
            if let (None, Some(pidfd)) = (self.exit, &self.pidfd) {
                fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
            }
            let timeout = match (&self.pidfd, self.exit) {
                (None, None) => PollTimeout::from(1000u16),
                _ => PollTimeout::NONE,
            };
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return ExitCode::FAILURE,
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            let listener_ready = ready(&fds[0]);
            let conn_ready = connected && ready(&fds[1]);
            let pipe_ready = fds.len() > pipe_at && pipe_at != pidfd_at && ready(&fds[pipe_at]);
            drop(fds);
            if conn_ready && self.read_conn() {
                return ExitCode::SUCCESS;
            }
            if pipe_ready {
                self.spool_some();
            }
            // A peer other than our own user is dropped: only it may hold
            // the gateway.
            if listener_ready
                && let Ok((conn, _)) = self.listener.accept()
                && super::peer_is_us(&conn)
            {
                self.connect(conn);
            }
        }
    }

    /// Idle: block on the connection alone; true when the keeper is to end
    /// (`End`, or the connection closed: nobody will give an order).
    fn wait_for_an_order(&mut self) -> bool {
        let Some((conn, _)) = &self.conn else {
            return true;
        };
        let mut fds = [PollFd::new(conn.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return true,
        }
        self.read_conn() || self.conn.is_none()
    }

    /// Peek at the gateway's exit without reaping it; reap it at once when
    /// no supervisor is connected to acknowledge it.
    #[allow(clippy::disallowed_methods)] // The keeper waits for its gateway.
    fn look_at_the_gateway(&mut self) {
        if self.exit.is_none() {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
            self.exit = match waitid(Id::Pid(self.pid), flags) {
                Ok(WaitStatus::Exited(_, code)) => Some(ExitKind::Code(code)),
                Ok(WaitStatus::Signaled(_, signal, _)) => Some(ExitKind::Signal(signal as i32)),
                Ok(_) => None,
                // Not ours to wait for any more: it cannot be told apart.
                Err(_) => Some(ExitKind::Code(-1)),
            };
        }
        if self.exit.is_none() {
            return;
        }
        if self.conn.is_none() {
            self.reap();
        } else if !self.told {
            self.told = true;
            if let Some(exit) = self.exit {
                self.send(&FromKeeper::Exited(exit));
            }
        }
    }

    fn reap(&mut self) {
        if !self.reaped {
            #[allow(clippy::disallowed_methods)] // The keeper reaps its gateway.
            let _ = waitpid(self.pid, None);
            self.reaped = true;
        }
    }

    /// Read what the supervisor sent; true when the keeper's work is done.
    fn read_conn(&mut self) -> bool {
        let Some((conn, decoder)) = self.conn.as_mut() else {
            return false;
        };
        // An order (a whole environment) is a few KiB: one read, not ten.
        let mut buffer = [0u8; 16 * 1024];
        match conn.read(&mut buffer) {
            Ok(0) | Err(_) => {
                // The supervisor is gone: keep its output from here on.
                self.conn = None;
                self.told = false;
                return false;
            }
            Ok(read) => decoder.push(&buffer[..read]),
        }
        let mut orders = Vec::new();
        while let Ok(Some(order)) = decoder.to_keeper() {
            orders.push(order);
        }
        for order in orders {
            match obey(&order, self.idle, self.exit.is_some()) {
                Obey::Reap => {
                    self.reap();
                    // Nothing of that gateway is kept: its pipe is at its
                    // end, its pidfd spent.
                    self.pipe = None;
                    self.pidfd = None;
                    self.idle = true;
                }
                Obey::Start(order) => self.start_next(order),
                Obey::End => return true,
                Obey::Ignore => {}
            }
        }
        false
    }

    /// `Start`: the next gateway, told as a connecting supervisor is told
    /// of one (`Hello` with its pipe, `Replayed`), or why not (idle still).
    fn start_next(&mut self, order: &Order) {
        let launch = Launch {
            program: &order.program,
            args: &order.args,
            env: Some(&order.env),
            cwd: order.cwd.as_deref(),
            cgroup: order.cgroup.as_deref(),
            marker: &order.marker,
        };
        let (pipe, pid) = match start_gateway(&launch) {
            Ok(started) => started,
            Err(err) => {
                let why = launch.failed(&err);
                self.send(&FromKeeper::SpawnFailed(why));
                return;
            }
        };
        self.idle = false;
        self.released = false;
        self.pid = pid;
        self.pidfd = crate::process::pidfd_open(pid.as_raw());
        self.exit = None;
        self.reaped = false;
        self.told = false;
        self.marker.clone_from(&order.marker);
        let hello = FromKeeper::Hello {
            version: VERSION,
            pid: pid.as_raw(),
            start_time: crate::process::process_start_time(pid.as_raw()).unwrap_or(0),
            output: true,
            gone: false,
            marker: order.marker.clone(),
        };
        if let FromKeeper::Hello { start_time, .. } = &hello {
            self.start_time = *start_time;
        }
        // Hello and an empty replay in one write: nothing was spooled
        // while this connection stood.
        let mut bytes = hello.encode();
        bytes.extend(FromKeeper::Replayed { dropped: 0 }.encode());
        let sent = match &self.conn {
            Some((conn, _)) => super::send_with_fd(conn, &bytes, Some(&pipe)).is_ok(),
            None => false,
        };
        self.pipe = Some(pipe);
        if !sent {
            // Its supervisor is gone: keep the gateway for the next one.
            self.conn = None;
        }
    }

    /// A supervisor connected: hand over the pipe and the spool, and the
    /// exit if the gateway is gone already.
    fn connect(&mut self, conn: UnixStream) {
        self.conn = None;
        self.told = false;
        // Whatever was read into the spool is complete: nothing more is
        // read from the pipe while this connection lasts.
        self.spooling = None;
        let hello = FromKeeper::Hello {
            version: VERSION,
            pid: self.pid.as_raw(),
            start_time: self.start_time,
            output: self.pipe.is_some(),
            gone: self.exit.is_some(),
            marker: self.marker.clone(),
        };
        if super::send_with_fd(&conn, &hello.encode(), self.pipe.as_ref()).is_err() {
            return;
        }
        let mut conn = conn;
        if self.replay(&mut conn).is_err() {
            return;
        }
        self.conn = Some((conn, Decoder::default()));
        if self.exit.is_some() {
            self.told = true;
            if let Some(exit) = self.exit {
                self.send(&FromKeeper::Exited(exit));
            }
        }
    }

    fn send(&mut self, message: &FromKeeper) {
        let failed = match self.conn.as_mut() {
            Some((conn, _)) => conn.write_all(&message.encode()).is_err(),
            None => false,
        };
        if failed {
            self.conn = None;
            self.told = false;
        }
    }
}

fn set_cloexec(fd: i32) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    // SAFETY: fd is a descriptor of ours for the whole call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map(|_| ())
}
