//! Binding the gateway port as the real gateway does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::PortHolder;
use super::output::log;
use super::server::{self, SimState};

/// How many times a port in use is retried, `BIND_RETRY_PAUSE` apart.
const BIND_ATTEMPTS: u32 = 5;
const BIND_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Binds the port as openclaw 2026.9.6 does with `--bind loopback`
/// (`resolveGatewayListenHosts`, `dist/net-*.mjs`; the listen loop in
/// `dist/server-start-*.mjs`): 127.0.0.1, then ::1 when the host can bind
/// IPv6 at all. A port in use is retried on each (the real one: 20 retries
/// 500 ms apart; here `BIND_ATTEMPTS`, `BIND_RETRY_PAUSE` apart). When
/// 127.0.0.1 stays taken the gateway fails to start (exit 1, its lines
/// below); when only ::1 does, it warns and serves on 127.0.0.1 alone. Then
/// serves for ever. A bind failure is reported on `failed`, naming the
/// port's holder as `port_holder` finds it.
pub(super) async fn bind_and_serve(
    port: u16,
    port_holder: fn(u16) -> Option<PortHolder>,
    log_file: PathBuf,
    bind_delay: Duration,
    started_at: Instant,
    state: Arc<SimState>,
    failed: mpsc::Sender<String>,
) {
    if !bind_delay.is_zero() {
        log(&format!(
            "sim: waiting {} before binding the port",
            humantime::format_duration(bind_delay)
        ));
        tokio::time::sleep(bind_delay).await;
    }
    let v4 = match bind_retrying(IpAddr::V4(Ipv4Addr::LOCALHOST), port).await {
        Ok(listener) => listener,
        Err(err) => {
            let _ = failed.send(bind_failure(port, &err, port_holder)).await;
            return;
        }
    };
    // `canBindToHost("::1")`: an ephemeral port, to learn whether IPv6 works.
    let v6 = match std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) {
        Err(_) => None,
        Ok(_) => match bind_retrying(IpAddr::V6(Ipv6Addr::LOCALHOST), port).await {
            Ok(listener) => Some(listener),
            Err(err) => {
                // The real line, as the real gateway printed it in a private
                // network namespace with [::1]:PORT held (its subsystem logger
                // turns `gateway: ` into the `[gateway]` tag), after its retries.
                log(&format!(
                    "failed to bind loopback alias ::1:{port} (GatewayLockError: {})",
                    lock_error(Ipv6Addr::LOCALHOST.into(), port, &err)
                ));
                None
            }
        },
    };
    let pid = std::process::id();
    log(&format!("listening on 127.0.0.1:{port} (PID {pid})"));
    if v6.is_some() {
        log(&format!("listening on [::1]:{port} (PID {pid})"));
    }
    log(&format!("log file: {}", log_file.display()));
    let announce = async move {
        tokio::time::sleep_until(tokio::time::Instant::from_std(started_at)).await;
        log("started");
    };
    let alias = async {
        if let Some(v6) = v6 {
            server::serve(v6, Arc::clone(&state)).await;
        }
    };
    tokio::join!(announce, server::serve(v4, Arc::clone(&state)), alias);
}

/// `host:port` bound, a port in use retried `BIND_ATTEMPTS` times.
async fn bind_retrying(host: IpAddr, port: u16) -> std::io::Result<TcpListener> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match TcpListener::bind((host, port)).await {
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && attempt < BIND_ATTEMPTS => {
                tokio::time::sleep(BIND_RETRY_PAUSE).await;
            }
            result => return result,
        }
    }
}

/// The message of the real gateway's `GatewayLockError` for a failed listen.
fn lock_error(host: IpAddr, port: u16, err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::AddrInUse {
        format!("another gateway instance is already listening on ws://{host}:{port}")
    } else {
        format!("failed to bind gateway socket on ws://{host}:{port}: {err}")
    }
}

/// The real gateway's lines when 127.0.0.1 cannot be bound (before its exit
/// 1): the error, the hint, and the port's holder (`formatPortDiagnostics`).
fn bind_failure(
    port: u16,
    err: &std::io::Error,
    port_holder: fn(u16) -> Option<PortHolder>,
) -> String {
    let mut lines = vec![
        format!(
            "Gateway failed to start: {}",
            lock_error(Ipv4Addr::LOCALHOST.into(), port, err)
        ),
        "If the gateway is supervised, stop it with: openclaw gateway stop".to_string(),
    ];
    if err.kind() == std::io::ErrorKind::AddrInUse {
        lines.push(format!("Port {port} is already in use."));
        if let Some(holder) = port_holder(port) {
            let address = std::net::SocketAddr::new(holder.address, port);
            lines.push(format!(
                "- pid {}: {} ({address})",
                holder.pid, holder.program
            ));
        }
    }
    lines.join("\n")
}
