//! Who may use the socket: the peer's credentials (SO_PEERCRED) against the
//! supervisor's uid, root, and an optional group.

use std::fmt;

/// The credentials the kernel recorded for the peer when it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

impl fmt::Display for PeerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {} gid {}", self.uid, self.gid)?;
        if let Some(pid) = self.pid {
            write!(f, " pid {pid}")?;
        }
        Ok(())
    }
}

/// The rule: root, the supervisor's own uid, or a member of `group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerPolicy {
    pub owner_uid: u32,
    pub group: Option<u32>,
}

impl PeerPolicy {
    /// `Ok` when the peer may talk to the daemon, else the reason for the
    /// refusal. `supplementary` is asked only when the group decides it.
    pub fn check(
        &self,
        peer: &PeerCredentials,
        supplementary: impl FnOnce() -> Vec<u32>,
    ) -> Result<(), String> {
        if peer.uid == 0 || peer.uid == self.owner_uid {
            return Ok(());
        }
        if let Some(group) = self.group
            && (peer.gid == group || supplementary().contains(&group))
        {
            return Ok(());
        }
        let group = match self.group {
            Some(group) => format!(", or a member of group {group}"),
            None => String::new(),
        };
        Err(format!(
            "refused: uid {} may not use this socket; only root, uid {} (the supervisor's){group} may",
            peer.uid, self.owner_uid
        ))
    }
}

/// The supplementary groups of a live process, from `/proc/PID/status`.
/// Empty when the process is gone, which then refuses it.
pub(crate) fn process_groups(pid: Option<i32>) -> Vec<u32> {
    let Some(pid) = pid else {
        return Vec::new();
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|status| parse_groups(&status))
        .unwrap_or_default()
}

/// Parses the `Groups:` line of `/proc/PID/status`.
pub(crate) fn parse_groups(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|gid| gid.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_allowed_by_uid_root_or_group() {
        let peer = |uid, gid| PeerCredentials {
            uid,
            gid,
            pid: Some(1),
        };
        // (policy, peer, supplementary groups, allowed)
        let rows = vec![
            (
                PeerPolicy {
                    owner_uid: 1000,
                    group: None,
                },
                peer(1000, 1000),
                vec![],
                true,
            ),
            (
                PeerPolicy {
                    owner_uid: 1000,
                    group: None,
                },
                peer(0, 0),
                vec![],
                true,
            ),
            (
                PeerPolicy {
                    owner_uid: 1000,
                    group: None,
                },
                peer(1001, 1000),
                vec![],
                false,
            ),
            (
                PeerPolicy {
                    owner_uid: 1000,
                    group: None,
                },
                peer(1001, 1001),
                vec![1000],
                false,
            ),
            (
                PeerPolicy {
                    owner_uid: 1000,
                    group: Some(50),
                },
                peer(1001, 50),
                vec![],
                true,
            ),
            (
                PeerPolicy {
                    owner_uid: 1000,
                    group: Some(50),
                },
                peer(1001, 1001),
                vec![7, 50],
                true,
            ),
            (
                PeerPolicy {
                    owner_uid: 1000,
                    group: Some(50),
                },
                peer(1001, 1001),
                vec![7],
                false,
            ),
            (
                PeerPolicy {
                    owner_uid: 0,
                    group: None,
                },
                peer(65534, 65534),
                vec![],
                false,
            ),
        ];
        for (policy, peer, groups, allowed) in rows {
            let verdict = policy.check(&peer, || groups.clone());
            assert_eq!(verdict.is_ok(), allowed, "{policy:?} {peer}: {verdict:?}");
            if let Err(reason) = verdict {
                assert!(reason.starts_with("refused: uid "), "{reason}");
            }
        }
    }

    #[test]
    fn groups_line_of_proc_status_is_parsed() {
        let rows = vec![
            (
                "Name:\tx\nGroups:\t4 24 27 1000 \nNgid:\t0\n",
                vec![4, 24, 27, 1000],
            ),
            ("Groups:\t\n", vec![]),
            ("Name:\tx\n", vec![]),
        ];
        for (status, expected) in rows {
            assert_eq!(parse_groups(status), expected, "{status:?}");
        }
    }
}
