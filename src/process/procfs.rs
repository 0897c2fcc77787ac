//! What `/proc` says about processes: start times, parents, groups,
//! children, trees, environments; and a pidfd. Reads only, no signals.

use std::fs;
use std::os::fd::OwnedFd;

/// `/proc/<pid>/stat` parsed past the command name (which may hold spaces).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rfind(')').map(|i| &stat[i + 1..])?;
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// Start time of a process in clock ticks since boot.
pub fn process_start_time(pid: i32) -> Option<u64> {
    // Field 22 overall; fields after the name start at field 3.
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// The parent of `pid` (`/proc/<pid>/stat` field 4).
pub fn parent_of(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// A pidfd for `pid`: readable once it exits (Linux 5.3 and later).
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; nothing else is touched.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just gave us this descriptor.
    Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

/// Process group of a process.
pub fn process_group_of(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// Whether the process is a zombie (exited, not yet reaped).
pub fn is_zombie(pid: i32) -> bool {
    stat_fields(pid)
        .and_then(|fields| fields.first().cloned())
        .is_some_and(|state| state == "Z")
}

/// The short name of a process (`/proc/<pid>/comm`).
pub fn process_name(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|name| name.trim().to_string())
}

/// Pids of this process's direct children (including reparented orphans).
pub fn own_children() -> Vec<i32> {
    let mut children = Vec::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return children;
    };
    for task in tasks.flatten() {
        if let Ok(list) = fs::read_to_string(task.path().join("children")) {
            children.extend(
                list.split_whitespace()
                    .filter_map(|pid| pid.parse::<i32>().ok()),
            );
        }
    }
    children.sort_unstable();
    children.dedup();
    children
}

/// A process and all its descendants (through `/proc/<pid>/task/*/children`).
pub fn process_tree(root: i32) -> Vec<i32> {
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() && tree.len() < 10_000 {
        let pid = tree[next];
        next += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Ok(list) = fs::read_to_string(task.path().join("children")) {
                tree.extend(
                    list.split_whitespace()
                        .filter_map(|c| c.parse::<i32>().ok()),
                );
            }
        }
    }
    tree
}

/// Every pid on the host.
pub fn all_pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Whether the process's environment has `VAR=value` exactly.
pub fn environ_has(pid: i32, var: &str, value: &str) -> bool {
    environ_var(pid, var).is_some_and(|found| found == value)
}

/// The value of `var` in the process's environment (none for a zombie,
/// whose environment is gone, or a process we may not read).
pub fn environ_var(pid: i32, var: &str) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{var}=");
    environ
        .split(|byte| *byte == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| String::from_utf8_lossy(value).into_owned())
}
