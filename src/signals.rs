//! Signals to the supervisor itself: SIGTERM and SIGINT shut down
//! gracefully, SIGHUP rescans the declarations, SIGUSR2 re-executes the
//! supervisor in place (as `reexec` does).

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::supervisor::SupervisorHandle;

/// The supervisor's own signals, taken over before anything is spawned: a
/// SIGTERM in the middle of the first spawns is a shutdown like any other
/// (not the default action, which would leave the gateways spawned so far
/// running without a supervisor).
pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
    user2: Signal,
}

impl Signals {
    /// Take over SIGTERM, SIGINT, SIGHUP and SIGUSR2 from now on; what arrives before
    /// [`Signals::route`] waits for it.
    pub fn register() -> std::io::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
            user2: signal(SignalKind::user_defined2())?,
        })
    }

    /// Route the signals to the supervisor. A second SIGTERM or SIGINT while
    /// shutting down is ignored: the stop of every gateway is already
    /// bounded by its stop timeout.
    pub fn route(self, handle: SupervisorHandle) {
        let Signals {
            mut terminate,
            mut interrupt,
            mut hangup,
            mut user2,
        } = self;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = terminate.recv() => handle.shutdown_because("SIGTERM"),
                    Some(()) = interrupt.recv() => handle.shutdown_because("SIGINT"),
                    Some(()) = hangup.recv() => {
                        tracing::info!("SIGHUP: rescanning the declarations");
                        handle.request_reload();
                    }
                    Some(()) = user2.recv() => {
                        tracing::info!("SIGUSR2: re-executing in place");
                        handle.request_reexec();
                    }
                    else => break,
                }
            }
        });
    }
}
