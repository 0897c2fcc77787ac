//! The whole daemon wired together: the state-dir lock, the control socket,
//! the supervisor loop, the signal handlers and the control server. The
//! command line (`start`, `demo`) and the tests call [`launch`].

use std::future::Future;
use std::sync::Arc;

use crate::control::{self, ControlSocket, ServerOptions, SocketOptions, StateDirLock};
use crate::service::ControlHandler;
use crate::supervisor::{self, Options, SupervisorError, SupervisorHandle};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Lock(#[from] control::LockError),
    #[error(transparent)]
    Socket(#[from] control::BindError),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::listener::BindError),
}

/// Options of the control socket.
#[derive(Debug, Clone, Default)]
pub struct SocketSettings {
    /// A group whose members may use the socket (mode 0660).
    pub group: Option<u32>,
    /// Where to serve `GET /metrics` (`start --metrics`); off when None.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Take the state dir, bind the socket, start every instance. Returns the
/// supervisor's handle and the future that runs until shutdown (SIGTERM,
/// SIGINT or a `shutdown` request), after which every gateway is stopped,
/// the socket is removed and the lock released.
pub async fn launch(
    mut options: Options,
    socket: SocketSettings,
) -> Result<(SupervisorHandle, impl Future<Output = ()>), DaemonError> {
    // After a re-exec: the lock and the listening socket are the old
    // process's, passed through the exec, and its state is in a file.
    // Only with the state file a re-exec writes: variables someone else
    // set make no file elsewhere read (or removed).
    let expected = crate::reexec::state_file(&options.state_dir);
    let handed_over =
        match crate::reexec::take_handed_over(&mut options.inherited_env).and_then(|handed| {
            handed
                .map(|handed| crate::reexec::accept(handed, &expected))
                .transpose()
        }) {
            Ok(handed_over) => handed_over,
            Err(why) => {
                tracing::error!("re-exec: {why}; ignored, starting as after a crash");
                None
            }
        };
    // The state file goes whatever happens next: a start that fails here
    // leaves none behind for a later start to take.
    let state_file = handed_over.as_ref().map(|handed| handed.state_file.clone());
    let forget_state = |err| {
        if let Some(file) = &state_file {
            let _ = std::fs::remove_file(file);
        }
        err
    };
    // One supervisor per state dir: a second one would spawn duplicate
    // gateways over the same pid records.
    let lock = match &handed_over {
        Some(handed) => StateDirLock::inherit(&options.state_dir, handed.lock_fd)
            .map_err(|err| forget_state(DaemonError::from(err)))?,
        None => StateDirLock::acquire(&options.state_dir)?,
    };
    let control_socket = match &handed_over {
        Some(handed) => ControlSocket::inherit(&options.socket_path, handed.listen_fd)
            .map_err(|err| forget_state(DaemonError::from(err)))?,
        None => ControlSocket::bind(
            &options.socket_path,
            SocketOptions {
                group: socket.group,
            },
        )?,
    };
    let gate = control::Gate::default();
    let reexec = supervisor::ReexecSetup {
        exec: supervisor::Exec {
            exe: std::env::current_exe().ok(),
            argv: std::env::args_os().collect(),
            listen_fd: Some(control_socket.raw_fd()),
            lock_fd: Some(lock.raw_fd()),
            gate: gate.clone(),
        },
        saved: handed_over.and_then(|handed| read_saved(&handed.state_file)),
    };
    // Before anything is spawned: a taken port refuses the start.
    let metrics_listener = match socket.metrics {
        Some(addr) => Some(crate::metrics::listener::bind(addr).await?),
        None => None,
    };
    let dir = options.dir.clone();
    let env = Arc::new(options.inherited_env.clone());
    // Before anything is spawned: a SIGTERM during the first spawns shuts
    // down like any other.
    let signals = crate::signals::Signals::register().map_err(DaemonError::Signals)?;
    let (handle, run) =
        supervisor::start(options, reexec, |handle| signals.route(handle.clone())).await?;
    let handler = Arc::new(ControlHandler::new(handle.clone(), dir, env));
    let server_options = ServerOptions {
        allowed_group: socket.group,
        ..ServerOptions::default()
    };
    let (stop_metrics_tx, stop_metrics_rx) = tokio::sync::oneshot::channel::<()>();
    let metrics_server = metrics_listener.map(|listener| {
        let source = Arc::clone(&handler);
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_metrics_rx.await;
            };
            crate::metrics::listener::serve(listener, source, shutdown).await;
        })
    });
    let (stop_server_tx, stop_server_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_server_rx.await;
        };
        if let Err(err) =
            control::serve_gated(control_socket, handler, server_options, gate, shutdown).await
        {
            tracing::error!(error = %err, "the control server stopped");
        }
    });
    let everything = async move {
        run.await;
        let _ = stop_metrics_tx.send(());
        if let Some(metrics_server) = metrics_server {
            let _ = metrics_server.await;
        }
        let _ = stop_server_tx.send(());
        let _ = server.await;
        drop(lock);
    };
    Ok((handle, everything))
}

/// The state the old process saved before it re-executed this one; the
/// file is removed once read. One that cannot be read is logged, and the
/// start goes on as after a crash.
fn read_saved(path: &std::path::Path) -> Option<crate::reexec::SavedState> {
    let bytes = std::fs::read(path);
    let _ = std::fs::remove_file(path);
    let read = bytes
        .map_err(|err| err.to_string())
        .and_then(|bytes| crate::reexec::read(&bytes).map_err(|err| err.to_string()));
    match read {
        Ok(saved) => Some(saved),
        Err(why) => {
            tracing::error!(path = %path.display(), "re-exec: the saved state is unusable ({why}); starting as after a crash");
            None
        }
    }
}
