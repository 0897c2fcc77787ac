//! Whether a gateway's base port can be bound, and who holds it if not.
//!
//! openclaw 2026.9.6 with `--bind loopback` listens on 127.0.0.1 and then on
//! ::1 (`resolveGatewayListenHosts`, `dist/net-*.mjs`). A holder of
//! 127.0.0.1 (or of the wildcard 0.0.0.0 or a dual-stack ::) makes it fail
//! to start; a holder of ::1 alone (or of a v6-only ::) only makes it log
//! "failed to bind loopback alias ::1:PORT" and serve on 127.0.0.1, while
//! local clients that resolve `localhost` to ::1 reach the holder. So both
//! addresses are checked before a spawn, and either held refuses it.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};

use super::{all_pids, process_name};

/// TCP states in `/proc/net/tcp{,6}` (`st`).
const TCP_LISTEN: &str = "0A";
const TCP_TIME_WAIT: &str = "06";

/// The addresses the gateway binds with `--bind loopback`, in its order.
pub const GATEWAY_HOSTS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

/// Why a gateway's port cannot be bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortTaken {
    #[error(
        "port {port} is held by pid {} ({}) on {}, which is not one of ours: stop it or move this instance to another port",
        holder.pid, holder.program, holder.address
    )]
    Held { port: u16, holder: Holder },
    #[error("port {port} is in use on {host} by another process")]
    Unknown { port: u16, host: IpAddr },
}

/// The process holding a port, and the local address of its socket (the
/// simulator names it with the same type).
pub use openclaw_supervisor_core::holder::PortHolder as Holder;

/// Whether the gateway could bind `port` right now, as it binds it:
/// 127.0.0.1 and ::1 (each with SO_REUSEADDR, as Node does; std sets it
/// too). A wildcard holder (0.0.0.0, ::) blocks those binds as well. Only
/// EADDRINUSE counts: a host without IPv6 cannot bind ::1 and neither does
/// the gateway there. A port with only TIME-WAIT sockets left on it is not
/// held: they end within 60 s and the gateway retries its bind, while a
/// refusal here would put the instance in backoff.
pub fn check_port(port: u16) -> Result<(), PortTaken> {
    for host in GATEWAY_HOSTS {
        let Err(err) = TcpListener::bind((host, port)) else {
            continue;
        };
        if err.kind() != std::io::ErrorKind::AddrInUse {
            continue;
        }
        let sockets = sockets_on(port);
        if !sockets.is_empty() && sockets.iter().all(|s| s.state == TCP_TIME_WAIT) {
            continue;
        }
        return Err(match holder_of(&sockets) {
            Some(holder) => PortTaken::Held { port, holder },
            None => PortTaken::Unknown { port, host },
        });
    }
    Ok(())
}

/// A TCP socket whose local port is the one asked about.
struct PortSocket {
    address: IpAddr,
    /// `st` in hex, as the kernel writes it.
    state: String,
    /// The socket's inode; 0 for a TIME-WAIT socket, which no process owns.
    inode: String,
}

/// A `local_address` of `/proc/net/tcp{,6}` (`HEX_IP:HEX_PORT`, the address
/// as 32-bit words in host byte order), as address and port.
fn parse_local(local: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = local.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let address = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((address, port))
}

/// Every TCP socket (IPv4 and IPv6) whose local port is `port`.
fn sockets_on(port: u16) -> Vec<PortSocket> {
    all_sockets()
        .into_iter()
        .filter(|(local_port, _)| *local_port == port)
        .map(|(_, socket)| socket)
        .collect()
}

/// Every local TCP port (IPv4 and IPv6) held now by a socket that is not in
/// TIME-WAIT: listeners and connections alike, as `/proc/net/tcp{,6}` show
/// them for this network namespace.
pub fn ports_in_use() -> std::collections::BTreeSet<u16> {
    all_sockets()
        .into_iter()
        .filter(|(_, socket)| socket.state != TCP_TIME_WAIT)
        .map(|(port, _)| port)
        .collect()
}

/// Every TCP socket (IPv4 and IPv6) with its local port.
fn all_sockets() -> Vec<(u16, PortSocket)> {
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if let Some((address, local_port)) = parse_local(local) {
                sockets.push((
                    local_port,
                    PortSocket {
                        address,
                        state: state.to_string(),
                        inode: inode.to_string(),
                    },
                ));
            }
        }
    }
    sockets
}

/// The process holding a local TCP port, if any: the one listening on it,
/// or else one whose connection uses it as its local port (an outgoing
/// connection may take any port of the ephemeral range). A socket in
/// TIME-WAIT is held by no process. Found through `/proc/net/tcp{,6}` and
/// the owners' socket fds; only called when a port turns out to be taken,
/// so the scan's cost does not matter.
pub fn port_holder(port: u16) -> Option<Holder> {
    holder_of(&sockets_on(port))
}

fn holder_of(sockets: &[PortSocket]) -> Option<Holder> {
    let owned = |listening: bool| -> Vec<(String, IpAddr)> {
        sockets
            .iter()
            .filter(|s| (s.state == TCP_LISTEN) == listening)
            .filter(|s| s.state != TCP_TIME_WAIT && s.inode != "0")
            .map(|s| (format!("socket:[{}]", s.inode), s.address))
            .collect()
    };
    // A listener first: that is the holder the gateway's bind meets.
    for links in [owned(true), owned(false)] {
        if links.is_empty() {
            continue;
        }
        for pid in all_pids() {
            let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(target) = fs::read_link(fd.path()) else {
                    continue;
                };
                if let Some((_, address)) = links
                    .iter()
                    .find(|(link, _)| target.as_os_str() == link.as_str())
                {
                    return Some(Holder {
                        pid,
                        program: process_name(pid).unwrap_or_else(|| "?".into()),
                        address: *address,
                    });
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpStream};
    use std::time::{Duration, Instant};

    use super::*;

    fn own_pid() -> i32 {
        std::process::id() as i32
    }

    #[test]
    fn a_listening_port_is_in_use() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("address").port();
        assert!(ports_in_use().contains(&port));
    }

    #[test]
    fn local_addresses_parse_as_the_kernel_writes_them() {
        // Rows as /proc/net/tcp{,6} show them on a little-endian host.
        let rows: &[(&str, Option<(&str, u16)>)] = &[
            ("0100007F:4965", Some(("127.0.0.1", 18789))),
            ("00000000:0016", Some(("0.0.0.0", 22))),
            (
                "00000000000000000000000001000000:4965",
                Some(("::1", 18789)),
            ),
            ("00000000000000000000000000000000:0050", Some(("::", 80))),
            (
                "0000000000000000FFFF00000100007F:4965",
                Some(("::ffff:127.0.0.1", 18789)),
            ),
            ("0100007F", None),
            ("XYZ:0050", None),
            ("0100007F:XYZ", None),
        ];
        if cfg!(target_endian = "big") {
            return;
        }
        for (local, expected) in rows {
            let expected = expected.map(|(ip, port)| (ip.parse::<IpAddr>().unwrap(), port));
            assert_eq!(parse_local(local), expected, "{local}");
        }
    }

    /// A listener on `address` and the port it got.
    fn listen_on(address: &str) -> (TcpListener, u16) {
        let listener = TcpListener::bind(address).unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    #[test]
    fn a_holder_of_any_address_the_gateway_binds_is_named() {
        // Ephemeral ports: each row's listener picks its own.
        let rows: &[(&str, &str)] = &[
            ("127.0.0.1:0", "127.0.0.1"),
            ("[::1]:0", "::1"),
            ("0.0.0.0:0", "0.0.0.0"),
            ("[::]:0", "::"),
        ];
        for (bind, address) in rows {
            let (listener, port) = listen_on(bind);
            let taken = check_port(port).expect_err(bind);
            let expected = Holder {
                pid: own_pid(),
                program: process_name(own_pid()).unwrap(),
                address: address.parse().unwrap(),
            };
            assert_eq!(
                taken,
                PortTaken::Held {
                    port,
                    holder: expected
                },
                "{bind}"
            );
            assert!(
                taken.to_string().contains(&format!("on {address},")),
                "{taken}"
            );
            drop(listener);
            assert_eq!(check_port(port), Ok(()), "{bind} released");
            assert_eq!(port_holder(port), None);
        }
    }

    /// The TCP states of the sockets whose local port is `port`.
    fn states_on(port: u16) -> Vec<String> {
        sockets_on(port)
            .into_iter()
            .map(|socket| socket.state)
            .collect()
    }

    #[test]
    fn a_port_left_in_time_wait_by_a_client_is_not_held() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let port = client.local_addr().unwrap().port();
        let (accepted, _) = server.accept().unwrap();
        // The client closes first: its side ends in TIME-WAIT.
        drop(client);
        drop(accepted);
        let start = Instant::now();
        while states_on(port) != ["06"] {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "port {port} never reached TIME-WAIT: {:?}",
                states_on(port)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            check_port(port),
            Ok(()),
            "no process holds a port in TIME-WAIT"
        );
        assert_eq!(port_holder(port), None);
    }

    #[test]
    fn a_connection_using_the_port_names_its_process() {
        let server = TcpListener::bind("[::1]:0").unwrap();
        let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let local: SocketAddr = client.local_addr().unwrap();
        let (_accepted, _) = server.accept().unwrap();
        let taken = check_port(local.port()).expect_err("the gateway could not bind it either");
        let PortTaken::Held { holder, .. } = taken else {
            panic!("the connection's owner is found: {taken}");
        };
        assert_eq!(holder.pid, own_pid());
        assert_eq!(holder.address, local.ip());
    }
}
