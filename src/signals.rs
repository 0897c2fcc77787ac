//! Signals to the supervisor itself: SIGTERM and SIGINT shut down
//! gracefully, SIGHUP rescans the declarations.

use tokio::signal::unix::{SignalKind, signal};

use crate::supervisor::SupervisorHandle;

/// Route the supervisor's own signals to its loop. A second SIGTERM or
/// SIGINT while shutting down is ignored: the stop of every gateway is
/// already bounded by its stop timeout.
pub fn install(handle: SupervisorHandle) -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = terminate.recv() => {
                    tracing::info!("SIGTERM: shutting down");
                    handle.shutdown();
                }
                Some(()) = interrupt.recv() => {
                    tracing::info!("SIGINT: shutting down");
                    handle.shutdown();
                }
                Some(()) = hangup.recv() => {
                    tracing::info!("SIGHUP: rescanning the declarations");
                    handle.request_reload();
                }
                else => break,
            }
        }
    });
    Ok(())
}
