//! Who may use the socket: the peer's credentials (SO_PEERCRED) against the
//! supervisor's uid, root, and an optional group (the peer's supplementary
//! groups from SO_PEERGROUPS).

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

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

/// `SO_PEERGROUPS` (Linux 4.13), which the libc crate does not export:
/// 59 in the generic socket numbers, 0x3d on sparc.
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_PEERGROUPS: libc::c_int = 59;
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const SO_PEERGROUPS: libc::c_int = 0x3d;

/// Groups asked for at first; a peer in more is read again with room for
/// all (the kernel says how many, with `ERANGE`).
const FIRST_GROUPS: usize = 32;

/// The kernel's own bound on supplementary groups (`NGROUPS_MAX`).
const MAX_GROUPS: usize = 65_536;

/// The supplementary groups the kernel recorded for the peer of `socket`
/// when it connected (`SO_PEERGROUPS`): the connecting process's own, as
/// `SO_PEERCRED` records its uid and gid, whatever became of that process
/// or its pid since. Empty when they cannot be read, which then refuses.
pub(crate) fn peer_groups(socket: BorrowedFd<'_>) -> Vec<u32> {
    match read_peer_groups(socket, FIRST_GROUPS) {
        Ok(groups) => groups,
        Err(err) => {
            tracing::warn!("control socket: cannot read the peer's groups: {err}");
            Vec::new()
        }
    }
}

/// [`peer_groups`] with room for `capacity` groups at first, grown on
/// `ERANGE` to what the kernel says is needed.
fn read_peer_groups(socket: BorrowedFd<'_>, capacity: usize) -> io::Result<Vec<u32>> {
    const GID: usize = std::mem::size_of::<libc::gid_t>();
    let mut capacity = capacity;
    loop {
        let mut groups: Vec<libc::gid_t> = vec![0; capacity];
        let mut len = libc::socklen_t::try_from(capacity * GID)
            .map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))?;
        // SAFETY: the buffer holds `len` bytes and outlives the call; the
        // kernel writes at most `len` bytes into it and the length into `len`.
        let done = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if done == 0 {
            groups.truncate(len as usize / GID);
            return Ok(groups);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) || capacity >= MAX_GROUPS {
            return Err(err);
        }
        // `len` now says how much the peer's groups need.
        capacity = (len as usize / GID).clamp(capacity + 1, MAX_GROUPS);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // Tests start processes of their own.
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

    /// Our own end's peer over a pair is us: its groups are what
    /// `getgroups()` says, its gid our effective gid, and the policy lets a
    /// member of each in (another uid) and keeps a non-member out.
    #[test]
    fn the_peer_groups_of_a_pair_are_our_own() {
        use std::os::fd::AsFd;
        let (_ours, theirs) = std::os::unix::net::UnixStream::pair().expect("a pair");
        let mut expected: Vec<u32> = nix::unistd::getgroups()
            .expect("getgroups")
            .iter()
            .map(|gid| gid.as_raw())
            .collect();
        expected.sort_unstable();
        let mut groups = peer_groups(theirs.as_fd());
        groups.sort_unstable();
        assert_eq!(groups, expected);

        let cred =
            nix::sys::socket::getsockopt(&theirs, nix::sys::socket::sockopt::PeerCredentials)
                .expect("SO_PEERCRED");
        let egid = nix::unistd::getegid().as_raw();
        assert_eq!(cred.gid(), egid);
        let peer = PeerCredentials {
            uid: 4243,
            gid: cred.gid(),
            pid: Some(cred.pid()),
        };
        let policy = |group| PeerPolicy {
            owner_uid: 4242,
            group: Some(group),
        };
        for group in expected.iter().copied().chain([egid]) {
            let verdict = policy(group).check(&peer, || peer_groups(theirs.as_fd()));
            assert!(verdict.is_ok(), "group {group}: {verdict:?}");
        }
        let outsider = (1..)
            .find(|group| *group != egid && !expected.contains(group))
            .expect("a group we are not in");
        let verdict = policy(outsider).check(&peer, || peer_groups(theirs.as_fd()));
        assert!(verdict.is_err(), "group {outsider}: {verdict:?}");
    }

    /// A peer in more groups than the first buffer holds is read whole: a
    /// child given 200 groups connects, and its groups are read starting
    /// with room for one.
    #[test]
    fn many_peer_groups_are_read_past_a_short_buffer() {
        use std::os::fd::AsFd;
        use std::os::unix::process::CommandExt;
        if !nix::unistd::geteuid().is_root() {
            println!("note: skipped, setgroups needs root");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("groups.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let wanted: Vec<libc::gid_t> = (70_000..70_200).collect();
        let address = nix::sys::socket::UnixAddr::new(&path).expect("address");
        let mut child = std::process::Command::new("/bin/true");
        let groups = wanted.clone();
        // SAFETY: between fork and exec only system calls, on memory made
        // before the fork; the connection stays open until `true` exits.
        unsafe {
            child.pre_exec(move || {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                let addr = nix::sys::socket::SockaddrLike::as_ptr(&address);
                let addr_len = nix::sys::socket::SockaddrLike::len(&address);
                if libc::connect(fd, addr, addr_len) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let status = child.status().expect("run the child");
        assert!(status.success(), "{status:?}");
        let (conn, _) = listener.accept().expect("the child's connection");
        let groups = read_peer_groups(conn.as_fd(), 1).expect("SO_PEERGROUPS");
        assert_eq!(groups, wanted);
        assert_eq!(peer_groups(conn.as_fd()), wanted);
    }
}
