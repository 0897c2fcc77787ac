//! How a keeper starts a gateway: its own process group, stdin from
//! `/dev/null`, stdout and stderr into one pipe, the signals the keeper
//! ignores back to default, and in cgroup mode born in its instance's
//! cgroup: `clone3(CLONE_INTO_CGROUP)`, which the kernel does without the
//! migration a write to `cgroup.procs` costs (that write waits for an RCU
//! grace period: milliseconds, most of a respawn). Where `clone3` refuses
//! (an older kernel, a cgroup that cannot take it) the gateway is started
//! as before, `std::process::Command` writing `0` to `cgroup.procs` before
//! exec.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::Pid;

use super::program::IGNORED;

/// One gateway to start: the first from the keeper's command line (its
/// environment and working directory the keeper's own), a next one from
/// an [`super::wire::Order`].
pub(super) struct Launch<'a> {
    pub(super) program: &'a OsString,
    pub(super) args: &'a [OsString],
    /// The whole environment (else the keeper's, the marker handed on).
    pub(super) env: Option<&'a [(OsString, OsString)]>,
    pub(super) cwd: Option<&'a Path>,
    pub(super) cgroup: Option<&'a Path>,
    pub(super) marker: &'a str,
}

impl Launch<'_> {
    /// Why it could not be started, in words.
    pub(super) fn failed(&self, err: &io::Error) -> String {
        let program = self.program.to_string_lossy();
        match self.cgroup {
            Some(dir) => format!(
                "cannot execute {program} in cgroup {}: {err}",
                dir.display()
            ),
            None => format!("cannot execute {program}: {err}"),
        }
    }

    /// The environment as `KEY=VALUE` pairs.
    fn environment(&self) -> Vec<(OsString, OsString)> {
        match self.env {
            Some(env) => env.to_vec(),
            None => std::env::vars_os()
                .filter(|(key, _)| {
                    key != super::MARKER_FOR_GATEWAY && key != crate::process::SPAWN_MARKER_VAR
                })
                .chain([(crate::process::SPAWN_MARKER_VAR.into(), self.marker.into())])
                .collect(),
        }
    }
}

/// Start the gateway: the read end of its output pipe and its pid.
pub(super) fn start_gateway(launch: &Launch) -> io::Result<(OwnedFd, Pid)> {
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    if let Some(dir) = launch.cgroup
        && let Some(started) = clone_into_cgroup(launch, dir, &write_end)
    {
        return started.map(|pid| (read_end, pid));
    }
    let mut command = Command::new(launch.program);
    command
        .args(launch.args)
        .env_clear()
        .envs(launch.environment());
    if let Some(cwd) = launch.cwd {
        command.current_dir(cwd);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end.try_clone()?))
        .stderr(Stdio::from(write_end))
        .process_group(0);
    let procs = match launch.cgroup {
        Some(dir) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))?,
        ),
        None => None,
    };
    // SAFETY: the closure only calls signal(2) and write(2) on a descriptor
    // opened before the fork (async-signal-safe) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            for ignored in IGNORED {
                signal(ignored, SigHandler::SigDfl).map_err(io::Error::from)?;
            }
            if let Some(procs) = &procs {
                let written = nix::unistd::write(procs, b"0").map_err(io::Error::from)?;
                if written != 1 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
            }
            Ok(())
        });
    }
    #[allow(clippy::disallowed_methods)] // The keeper's fork of its gateway.
    let child = command.spawn()?;
    // Dropped without waiting: the keeper reaps by pid.
    Ok((read_end, Pid::from_raw(child.id() as i32)))
}

/// `struct clone_args` of `clone3(2)` up to `cgroup` (its second version).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Everything the child needs, made before the fork: after it the child
/// only makes system calls.
struct Prepared {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
}

impl Prepared {
    fn of(launch: &Launch) -> io::Result<Prepared> {
        let argv = std::iter::once(launch.program.as_os_str())
            .chain(launch.args.iter().map(OsString::as_os_str))
            .map(|arg| c_string(arg.as_bytes()))
            .collect::<io::Result<_>>()?;
        let envp = launch
            .environment()
            .iter()
            .map(|(key, value)| {
                let mut pair = key.as_bytes().to_vec();
                pair.push(b'=');
                pair.extend_from_slice(value.as_bytes());
                c_string(&pair)
            })
            .collect::<io::Result<_>>()?;
        Ok(Prepared {
            program: c_string(launch.program.as_bytes())?,
            argv,
            envp,
            cwd: launch
                .cwd
                .map(|cwd| c_string(cwd.as_os_str().as_bytes()))
                .transpose()?,
        })
    }
}

fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain([std::ptr::null()])
        .collect()
}

/// Start the gateway born in the cgroup `dir`; none when `clone3` refuses
/// before any child exists (then the caller starts it the other way). A
/// program without a `/` is left to `Command` too (its `PATH` search).
fn clone_into_cgroup(launch: &Launch, dir: &Path, output: &OwnedFd) -> Option<io::Result<Pid>> {
    if !launch.program.as_bytes().contains(&b'/') {
        return None;
    }
    let prepared = Prepared::of(launch).ok()?;
    let argv = pointers(&prepared.argv);
    let envp = pointers(&prepared.envp);
    let cgroup = std::fs::File::open(dir).ok()?;
    let devnull = std::fs::File::open("/dev/null").ok()?;
    // The child's exec error comes back on this pipe (closed by its exec).
    let (error_read, error_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM is a fork; the keeper has one thread.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        return None;
    }
    if pid == 0 {
        // SAFETY: in the child of a single-threaded process: only system
        // calls on what was prepared above, then exec or _exit.
        unsafe {
            child(
                &prepared,
                &argv,
                &envp,
                devnull.as_raw_fd(),
                output.as_raw_fd(),
                error_write.as_raw_fd(),
            )
        }
    }
    drop(error_write);
    let pid = Pid::from_raw(pid as i32);
    // The child says `+` as soon as it runs, then its errno if exec
    // failed; its exec closes the pipe.
    let mut said = Vec::with_capacity(5);
    let mut buffer = [0u8; 5];
    loop {
        match nix::unistd::read(&error_read, &mut buffer) {
            Ok(0) => break,
            Ok(read) => said.extend_from_slice(&buffer[..read]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    match said.as_slice() {
        [b'+'] => Some(Ok(pid)),
        [b'+', errno @ ..] if errno.len() == 4 => {
            #[allow(clippy::disallowed_methods)] // The keeper reaps its own child.
            let _ = nix::sys::wait::waitpid(pid, None);
            let mut code = [0u8; 4];
            code.copy_from_slice(errno);
            Some(Err(io::Error::from_raw_os_error(i32::from_ne_bytes(code))))
        }
        // It never ran: killed at birth (after a `cgroup.kill` of that
        // cgroup some kernels kill every child cloned into it). Started
        // the other way instead.
        _ => {
            #[allow(clippy::disallowed_methods)] // The keeper reaps its own child.
            let _ = nix::sys::wait::waitpid(pid, None);
            None
        }
    }
}

/// The child's side: what `Command` does, then exec; on a failure its
/// errno to `error` and exit 127.
unsafe fn child(
    prepared: &Prepared,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    devnull: i32,
    output: i32,
    error: i32,
) -> ! {
    // SAFETY: plain system calls on descriptors and strings that live
    // until exec.
    unsafe {
        libc::write(error, b"+".as_ptr().cast(), 1);
        let fail = || -> ! {
            let errno = *libc::__errno_location();
            libc::write(error, errno.to_ne_bytes().as_ptr().cast(), 4);
            libc::_exit(127)
        };
        for ignored in IGNORED.iter().chain([&Signal::SIGPIPE]) {
            libc::signal(*ignored as i32, libc::SIG_DFL);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        if libc::setpgid(0, 0) != 0
            || libc::dup2(devnull, 0) < 0
            || libc::dup2(output, 1) < 0
            || libc::dup2(output, 2) < 0
        {
            fail();
        }
        if let Some(cwd) = &prepared.cwd
            && libc::chdir(cwd.as_ptr()) != 0
        {
            fail();
        }
        libc::execve(prepared.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_first_gateway_gets_the_keepers_environment_with_the_marker_handed_on() {
        let program = OsString::from("/bin/true");
        let launch = Launch {
            program: &program,
            args: &[],
            env: None,
            cwd: None,
            cgroup: None,
            marker: "main:1:2",
        };
        let env = launch.environment();
        let marker: Vec<_> = env
            .iter()
            .filter(|(key, _)| key == OsStr::new(crate::process::SPAWN_MARKER_VAR))
            .collect();
        assert_eq!(marker.len(), 1);
        assert_eq!(marker[0].1, "main:1:2");
        assert!(
            !env.iter()
                .any(|(key, _)| key == OsStr::new(super::super::MARKER_FOR_GATEWAY))
        );
        let given = [("A".into(), "1".into())];
        let ordered = Launch {
            env: Some(&given),
            ..launch
        };
        assert_eq!(ordered.environment(), given);
    }
}
