//! A cgroup v2 per instance, where the host allows it.
//!
//! Theory of operation: at start the supervisor finds the unified (v2)
//! hierarchy in `/proc/self/mountinfo` (at `/sys/fs/cgroup` on a pure v2
//! host, at `/sys/fs/cgroup/unified` on a hybrid one) and its own v2 cgroup
//! in `/proc/self/cgroup` (the `0::` line). It then tries to create its
//! subtree, `<own cgroup>/openclaw-supervisor.<hash of the state dir>`: the
//! hash makes it unique per supervisor, so parallel tests and several
//! supervisors on one host never share one. When that works (root over a
//! writable unified hierarchy, or a subtree systemd delegated with
//! `Delegate=yes`) the mode is [`Mode::Cgroup`] and each instance's gateway
//! is spawned into `<subtree>/<instance>` (the child writes `0` to its
//! `cgroup.procs` before exec, see `process::Spawner::spawn_into`); else the
//! mode is [`Mode::Marker`] with the reason, and processes are tracked by the
//! spawn marker alone, as before.
//!
//! For `limits` (and `memory.current`) the `memory`, `cpu` and `pids`
//! controllers are enabled in the subtree's `cgroup.subtree_control`, each
//! where the supervisor's own cgroup has it ([`enable_controllers`]). When
//! the own cgroup has a controller without passing it down (a systemd unit
//! with `Delegate=yes`: the unit's cgroup gets the controllers, its
//! `subtree_control` is empty), the supervisor passes it down itself; cgroup
//! v2's no-internal-processes rule allows that only once the own cgroup
//! holds no process, so the supervisor, when it is the only process there,
//! first moves itself into the leaf `<own>/openclaw-supervisor.self` (what
//! systemd's delegation documentation asks of a delegated service). A
//! controller it cannot have is reported with the reason, per limit.
//!
//! A cgroup member is provably an instance's process (membership cannot be
//! escaped, whatever it does with its environment, group or session), so
//! the members of an instance's cgroup are added to its marker-found
//! processes, and the last-resort kill is one write of `1` to `cgroup.kill`.
//! An instance's cgroup is removed (rmdir, once empty) after its processes
//! are gone; the subtree at the supervisor's exit.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::limits::{Controller, Controllers};

mod controllers;
mod events;

pub use controllers::{apply_limits, enable_controllers, parse_controller_list};
pub use events::EventsWatch;

/// The leaf the supervisor moves itself into to pass controllers down (see
/// the module's documentation).
pub const SELF_LEAF: &str = "openclaw-supervisor.self";

/// How an instance's processes are tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Each instance in its own cgroup under this subtree.
    Cgroup(Subtree),
    /// The spawn marker only, for this reason.
    Marker(String),
}

/// How one instance's processes are tracked (its status says it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracking {
    /// In this cgroup directory.
    Cgroup(PathBuf),
    /// By the spawn marker, for this reason.
    Marker(String),
}

impl Tracking {
    /// The tracking of the instance `name` under `mode`.
    pub fn of(mode: &Mode, name: &str) -> Tracking {
        match mode {
            Mode::Cgroup(subtree) => Tracking::Cgroup(subtree.instance_dir(name)),
            Mode::Marker(why) => Tracking::Marker(why.clone()),
        }
    }
}

/// The supervisor's own cgroup subtree (created and writable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtree {
    root: PathBuf,
    controllers: Controllers,
}

/// A v2 hierarchy's mount point, found in `/proc/self/mountinfo`: the fifth
/// field of the line whose filesystem type (after ` - `) is `cgroup2`.
pub fn parse_mountinfo(text: &str) -> Option<PathBuf> {
    text.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        if after.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mount_point = before.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_mount_path(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape_mount_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\' && index + 3 < bytes.len() {
            let octal = std::str::from_utf8(&bytes[index + 1..index + 4]).unwrap_or("");
            if let Ok(value) = u8::from_str_radix(octal, 8) {
                out.push(value);
                index += 4;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The v2 cgroup of a process, from `/proc/<pid>/cgroup`: the path of the
/// `0::` line (absent on a v1-only host); a supervisor that moved itself
/// into its leaf ([`SELF_LEAF`]) answers the cgroup above it.
pub fn parse_own_cgroup(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(|path| path.trim())
        .map(|path| match path.rsplit_once('/') {
            Some(("", leaf)) if leaf == SELF_LEAF => "/".to_string(),
            Some((above, leaf)) if leaf == SELF_LEAF => above.to_string(),
            _ => path.to_string(),
        })
        .filter(|path| path.starts_with('/'))
}

/// The directory of the supervisor's subtree: its own cgroup under the
/// mount, then `openclaw-supervisor.<12 hex of the state dir's SHA-256>`.
pub fn subtree_path(mount: &Path, own: &str, state_dir: &Path) -> PathBuf {
    let digest = sha2::Sha256::digest(state_dir.as_os_str().as_encoded_bytes());
    let hash: String = digest
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    mount
        .join(own.trim_start_matches('/'))
        .join(format!("openclaw-supervisor.{hash}"))
}

/// What the host offers, as read (the pure input of [`decide`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub mount: Option<PathBuf>,
    pub own: Option<String>,
    /// Creating the subtree: `Ok` or the error's words.
    pub created: Option<Result<(), String>>,
}

/// The mode, from what the host offers (pure).
pub fn decide(host: &Host, subtree: Option<PathBuf>) -> Mode {
    let Some(mount) = &host.mount else {
        return Mode::Marker("no cgroup v2 hierarchy is mounted".to_string());
    };
    let Some(_own) = &host.own else {
        return Mode::Marker(format!(
            "cgroup v2 is mounted at {} but this process has no v2 cgroup",
            mount.display()
        ));
    };
    match (&host.created, subtree) {
        (Some(Ok(())), Some(root)) => Mode::Cgroup(Subtree {
            root,
            controllers: Controllers::none("not enabled yet"),
        }),
        (Some(Err(why)), Some(root)) => Mode::Marker(format!(
            "cannot create {}: {why} (not root over a writable hierarchy, and no delegation)",
            root.display()
        )),
        _ => Mode::Marker("the supervisor's cgroup subtree was not tried".to_string()),
    }
}

/// The environment variable that turns cgroups off (`off`): the marker
/// alone, as on a host without cgroup v2 (to compare the modes, or when
/// another tool owns the supervisor's cgroup).
pub const SWITCH_VAR: &str = "OPENCLAW_SUPERVISOR_CGROUPS";

/// The mode given the switch's value (`off`, else cgroups where the host
/// allows them).
pub fn set_up_unless_off(state_dir: &Path, switch: Option<&str>) -> Mode {
    if switch.is_some_and(|value| value.trim().eq_ignore_ascii_case("off")) {
        let mode = Mode::Marker(format!("cgroups turned off ({SWITCH_VAR}=off)"));
        tracing::info!("processes are tracked by their spawn marker: {SWITCH_VAR}=off");
        return mode;
    }
    set_up(state_dir)
}

/// Find the hierarchy and create the supervisor's subtree (IO edge).
pub fn set_up(state_dir: &Path) -> Mode {
    let mount = fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|text| parse_mountinfo(&text));
    let own = fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| parse_own_cgroup(&text));
    let own_dir = match (&mount, &own) {
        (Some(mount), Some(own)) if own == "/" => Some(mount.clone()),
        (Some(mount), Some(own)) => Some(mount.join(own.trim_start_matches('/'))),
        _ => None,
    };
    let subtree = match (&mount, &own) {
        (Some(mount), Some(own)) => Some(subtree_path(mount, own, state_dir)),
        _ => None,
    };
    let created = subtree.as_ref().map(|root| {
        create_dir(root)
            .and_then(|()| writable_procs(root))
            .map_err(|err| err.to_string())
    });
    let mut mode = decide(
        &Host {
            mount,
            own,
            created,
        },
        subtree,
    );
    if let (Mode::Cgroup(subtree), Some(own_dir)) = (&mut mode, &own_dir) {
        subtree.controllers = enable_controllers(own_dir, &subtree.root);
    }
    match &mode {
        Mode::Cgroup(subtree) => {
            tracing::info!(
                cgroup = %subtree.root.display(),
                controllers = %match subtree.controllers.enabled().join(" ") {
                    enabled if enabled.is_empty() => "none".to_string(),
                    enabled => enabled,
                },
                "each instance runs in a cgroup of its own"
            );
            for controller in Controller::ALL {
                if let Err(why) = subtree.controllers.get(controller) {
                    tracing::debug!(
                        controller = controller.name(),
                        reason = why,
                        "controller not enabled"
                    );
                }
            }
        }
        Mode::Marker(why) => {
            tracing::info!(reason = %why, "processes are tracked by their spawn marker")
        }
    }
    mode
}

fn create_dir(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

/// A created cgroup whose `cgroup.procs` cannot be opened for writing is of
/// no use (a read-only mount lets mkdir fail first, but a delegation may be
/// partial).
fn writable_procs(dir: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
        .map(drop)
}

impl Mode {
    /// The controllers the instances' cgroups have, or why not.
    pub fn controllers(&self) -> Controllers {
        match self {
            Mode::Cgroup(subtree) => subtree.controllers.clone(),
            Mode::Marker(why) => Controllers::none(&format!("no cgroup ({why})")),
        }
    }
}

impl Subtree {
    /// The subtree's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cgroup directory of an instance (not created).
    pub fn instance_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Create an instance's cgroup (kept if it exists) and answer its
    /// directory.
    pub fn create_instance(&self, name: &str) -> io::Result<PathBuf> {
        create_dir(&self.root)?;
        let dir = self.instance_dir(name);
        create_dir(&dir)?;
        Ok(dir)
    }

    /// Remove the subtree (the supervisor exits): each instance cgroup that
    /// is empty, then the subtree itself. A cgroup that still has processes
    /// stays (rmdir fails with EBUSY).
    pub fn remove(&self) {
        if let Ok(entries) = fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    remove_dir(&entry.path());
                }
            }
        }
        remove_dir(&self.root);
    }
}

/// Remove a cgroup directory, logging why it stays.
pub fn remove_dir(dir: &Path) {
    match fs::remove_dir(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => tracing::debug!(cgroup = %dir.display(), error = %err, "cgroup not removed"),
    }
}

/// The pids in a cgroup (`cgroup.procs`); none when it is gone.
pub fn members(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| parse_procs(&text))
        .unwrap_or_default()
}

/// `cgroup.procs`: one pid a line.
pub fn parse_procs(text: &str) -> Vec<i32> {
    text.lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// `cgroup.events`' `populated` key: whether a process is in the cgroup or
/// its descendants.
pub fn parse_populated(text: &str) -> Option<bool> {
    text.lines().find_map(|line| match line.split_once(' ')? {
        ("populated", "1") => Some(true),
        ("populated", "0") => Some(false),
        _ => None,
    })
}

/// Kill every process of a cgroup with one write of `1` to `cgroup.kill`.
/// False when the file is not there (kernels before 5.14) or the write
/// failed: the caller SIGKILLs each member then.
pub fn kill(dir: &Path) -> bool {
    let path = dir.join("cgroup.kill");
    path.exists() && fs::write(&path, "1").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v2_mount_is_found_in_mountinfo() {
        let hybrid = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
";
        let pure = "\
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
        let v1_only = "\
33 31 0:28 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
";
        let escaped = "\
40 24 0:30 / /mnt/my\\040cgroups rw - cgroup2 none rw
";
        let rows: &[(&str, Option<&str>)] = &[
            (hybrid, Some("/sys/fs/cgroup/unified")),
            (pure, Some("/sys/fs/cgroup")),
            (v1_only, None),
            ("", None),
            (escaped, Some("/mnt/my cgroups")),
            ("garbage line\n", None),
        ];
        for (text, expected) in rows {
            assert_eq!(
                parse_mountinfo(text),
                expected.map(PathBuf::from),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_own_cgroup_is_the_zero_line() {
        let rows: &[(&str, Option<&str>)] = &[
            ("0::/\n", Some("/")),
            (
                "12:memory:/user.slice\n1:name=systemd:/x\n0::/system.slice/oc.service\n",
                Some("/system.slice/oc.service"),
            ),
            ("12:memory:/user.slice\n", None),
            ("", None),
            ("0::garbage\n", None),
            (
                "0::/system.slice/oc.service/openclaw-supervisor.self\n",
                Some("/system.slice/oc.service"),
            ),
            ("0::/openclaw-supervisor.self\n", Some("/")),
            (
                "0::/x/not-openclaw-supervisor.self\n",
                Some("/x/not-openclaw-supervisor.self"),
            ),
        ];
        for (text, expected) in rows {
            assert_eq!(parse_own_cgroup(text).as_deref(), *expected, "{text:?}");
        }
    }

    #[test]
    fn the_subtree_is_unique_per_state_dir_and_under_the_own_cgroup() {
        let mount = Path::new("/sys/fs/cgroup/unified");
        let a = subtree_path(mount, "/", Path::new("/var/lib/a"));
        let b = subtree_path(mount, "/", Path::new("/var/lib/b"));
        assert_ne!(a, b);
        assert_eq!(a, subtree_path(mount, "/", Path::new("/var/lib/a")));
        assert_eq!(a.parent(), Some(mount));
        let name = a.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.starts_with("openclaw-supervisor."), "{name}");
        assert_eq!(name.len(), "openclaw-supervisor.".len() + 12, "{name}");
        let delegated = subtree_path(
            Path::new("/sys/fs/cgroup"),
            "/system.slice/oc.service",
            Path::new("/var/lib/a"),
        );
        assert_eq!(
            delegated.parent(),
            Some(Path::new("/sys/fs/cgroup/system.slice/oc.service"))
        );
    }

    #[test]
    fn the_mode_is_cgroup_only_when_the_subtree_was_created() {
        let root = PathBuf::from("/sys/fs/cgroup/unified/openclaw-supervisor.0123456789ab");
        let host = |mount: bool, own: bool, created: Option<Result<(), String>>| Host {
            mount: mount.then(|| PathBuf::from("/sys/fs/cgroup/unified")),
            own: own.then(|| "/".to_string()),
            created,
        };
        let rows: Vec<(Host, Option<PathBuf>, Result<(), &str>)> = vec![
            (host(true, true, Some(Ok(()))), Some(root.clone()), Ok(())),
            (
                host(false, false, None),
                None,
                Err("no cgroup v2 hierarchy"),
            ),
            (host(true, false, None), None, Err("has no v2 cgroup")),
            (
                host(true, true, Some(Err("Read-only file system".into()))),
                Some(root.clone()),
                Err("Read-only file system"),
            ),
            (
                host(true, true, Some(Err("Permission denied".into()))),
                Some(root.clone()),
                Err("no delegation"),
            ),
        ];
        for (host, subtree, expected) in rows {
            let mode = decide(&host, subtree);
            match (&mode, expected) {
                (Mode::Cgroup(subtree), Ok(())) => assert_eq!(subtree.root(), root),
                (Mode::Marker(why), Err(words)) => assert!(why.contains(words), "{why}"),
                _ => panic!("{host:?}: {mode:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn procs_and_events_are_parsed() {
        assert_eq!(parse_procs("12\n345\n\n"), vec![12, 345]);
        assert_eq!(parse_procs(""), Vec::<i32>::new());
        assert_eq!(parse_populated("populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(parse_populated("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(parse_populated("frozen 0\n"), None);
    }
}
