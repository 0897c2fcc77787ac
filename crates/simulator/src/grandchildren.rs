//! Grandchildren on request (`--sim-grandchildren`, `--sim-setsid-grandchildren`,
//! `--sim-child-clean-env`): started before the runtime exists, each the
//! simulator again in its hidden `--sim-grandchild` mode that only waits to
//! be killed; and the pid file that lists them.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use super::output::log;
use super::{SimBehaviour, write_atomically};

/// The grandchild mode: do nothing until a signal ends the process.
pub(super) fn wait_until_killed() -> ! {
    loop {
        nix::unistd::pause();
    }
}

pub(super) fn start_grandchildren(
    behaviour: &SimBehaviour,
    reexec_prefix: &[OsString],
    pid: u32,
) -> Result<Vec<Child>, String> {
    let mut children = Vec::new();
    let wanted = behaviour.sim_grandchildren
        + behaviour.sim_setsid_grandchildren
        + u32::from(behaviour.sim_child_clean_env);
    if wanted > 0 {
        let exe = std::env::current_exe().map_err(|err| {
            format!("sim: cannot find its own executable to start grandchildren: {err}")
        })?;
        for index in 0..wanted {
            let escape = index >= behaviour.sim_grandchildren;
            let clean_env =
                index >= behaviour.sim_grandchildren + behaviour.sim_setsid_grandchildren;
            let mut command = Command::new(&exe);
            command
                .args(reexec_prefix)
                .arg("--sim-grandchild")
                .stdin(Stdio::null());
            if clean_env {
                command.env_clear();
            }
            if behaviour.sim_child_ignore_sigterm {
                command.arg("--sim-grandchild-ignore-sigterm");
            }
            if escape {
                // SAFETY: setsid is async-signal-safe and touches no memory of
                // the parent; it runs in the forked child just before exec.
                unsafe {
                    command.pre_exec(|| {
                        nix::unistd::setsid().map_err(std::io::Error::from)?;
                        Ok(())
                    });
                }
            }
            #[allow(clippy::disallowed_methods)]
            // The simulator is a program of its own, not the daemon.
            let child = command.spawn().map_err(|err| {
                format!(
                    "sim: cannot start a grandchild from {}: {err}",
                    exe.display()
                )
            })?;
            log(&format!(
                "sim: started grandchild {} ({})",
                child.id(),
                if clean_env {
                    "escaped with setsid, with an empty environment"
                } else if escape {
                    "escaped with setsid"
                } else {
                    "in the gateway's process group"
                }
            ));
            children.push(child);
        }
    }
    if let Some(pidfile) = &behaviour.sim_pidfile {
        let mut text = format!("{pid}\n");
        for child in &children {
            text.push_str(&format!("{}\n", child.id()));
        }
        write_atomically(pidfile, &text).map_err(|err| {
            format!(
                "sim: cannot write the pid file {}: {err}",
                pidfile.display()
            )
        })?;
    }
    Ok(children)
}
