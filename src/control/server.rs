//! The socket server: accepts connections, checks peers, frames lines and
//! hands each decoded request to the daemon's [`Handler`].
//!
//! One task per connection, so a slow or hostile client only ever holds its
//! own task: reads are bounded in size and time, writes in time. A request
//! slot is held while a connection may send requests: the first must arrive
//! soon, and each line must be complete within the request timeout of its
//! first byte, so clients that dribble cannot keep the slots. A stream
//! (followed logs, events) trades its request slot for a follower slot.

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::gate::Gate;
use super::lines::{Line, LineReader};
use super::peer::{PeerCredentials, PeerPolicy, peer_groups};
use super::socket::ControlSocket;
use crate::protocol::{
    EndReason, ErrorKind, MAX_LINE, MAX_RESPONSE_LINE, Request, Response, ResponseEnvelope,
    decode_request, encode_response,
};

/// What the daemon does with a request. The server never touches an
/// instance itself; it only calls this.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        request: Request,
        context: RequestContext,
    ) -> impl Future<Output = Reply> + Send;
}

/// Who asked, for the daemon's audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestContext {
    pub peer: PeerCredentials,
}

/// A handler's answer: one line, or a stream of lines (followed logs,
/// events). The server writes `end` itself when the sender is dropped
/// (reason `finished`) or the daemon shuts down (reason `shutdown`); a
/// handler may also send an `end` or an `error` to close the stream early.
///
/// The sending side must never block the daemon on a slow client: send with
/// `try_send`, or from a task of its own, and say `dropped` in an event when
/// it had to skip some.
#[derive(Debug)]
pub enum Reply {
    One(Response),
    Stream(mpsc::Receiver<Response>),
    /// One line, then `written` is told it is out (a re-exec waits for
    /// that), then the line `after` gives, if any, before the next request.
    Handover {
        response: Response,
        written: tokio::sync::oneshot::Sender<()>,
        after: tokio::sync::oneshot::Receiver<Response>,
    },
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::One(response)
    }
}

/// Limits of the server. `Default` gives the daemon's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// Connections that may send requests at once; one more gets a `busy`
    /// error and is closed. Streams do not count (see `max_followers`).
    pub max_clients: usize,
    /// Open streams (followed logs, events) at once; one more gets `busy`.
    pub max_followers: usize,
    /// A connection with no request for this long gets `idle_timeout` and is
    /// closed (an open stream is not idle). A new connection's first request
    /// must start within `request_timeout` when that is shorter.
    pub idle_timeout: Duration,
    /// A request line must be complete this long after its first byte, or
    /// the connection gets `request_timeout` and is closed.
    pub request_timeout: Duration,
    /// A reply line that cannot be written within this long (the client
    /// stopped reading) closes the connection.
    pub write_timeout: Duration,
    /// The longest request line, newline included.
    pub max_line: usize,
    /// The supervisor's uid: it, root and `allowed_group` may connect.
    pub owner_uid: u32,
    pub allowed_group: Option<u32>,
    /// How long connections may take to finish once shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_clients: 128,
            max_followers: 128,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_line: MAX_LINE,
            owner_uid: nix::unistd::geteuid().as_raw(),
            allowed_group: None,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// Serves the socket until `shutdown` completes, then stops accepting, ends
/// open streams with `end`/`shutdown`, waits up to `shutdown_grace` for the
/// connections, and removes the socket file. Returns an error only when the
/// listener cannot be registered with the runtime.
pub async fn serve<H: Handler>(
    socket: ControlSocket,
    handler: Arc<H>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_gated(socket, handler, options, Gate::default(), shutdown).await
}

/// [`serve`], accepting only while `gate` is open (a re-exec closes it and
/// waits for the open connections to finish).
pub async fn serve_gated<H: Handler>(
    socket: ControlSocket,
    handler: Arc<H>,
    options: ServerOptions,
    gate: Gate,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let ControlSocket { listener, file } = socket;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let (stop, stopped) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(options.max_clients));
    let followers = Arc::new(Semaphore::new(options.max_followers));
    let policy = PeerPolicy {
        owner_uid: options.owner_uid,
        group: options.allowed_group,
    };
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = gate.changed() => {}
            accepted = listener.accept(), if !gate.is_paused() => match accepted {
                Ok((stream, _)) => {
                    if let Some(admitted) = admit(stream, &policy, &slots) {
                        let connection = Connection {
                            handler: handler.clone(),
                            options,
                            stopped: stopped.clone(),
                            followers: followers.clone(),
                            open: gate.open(),
                        };
                        connections.spawn(connection.run(admitted));
                    }
                }
                Err(err) => {
                    // Out of descriptors, most likely: back off instead of
                    // spinning; the daemon itself is unaffected.
                    tracing::warn!("control socket: cannot accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    // New clients now get "connection refused", which reads as "not running".
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("control socket: closing connections still busy at shutdown");
        connections.shutdown().await;
    }
    drop(file);
    Ok(())
}

struct Admitted {
    stream: UnixStream,
    peer: PeerCredentials,
    slot: OwnedSemaphorePermit,
}

/// Checks the peer and takes a client slot; refuses with one error line.
fn admit(stream: UnixStream, policy: &PeerPolicy, slots: &Arc<Semaphore>) -> Option<Admitted> {
    let peer = match stream.peer_cred() {
        Ok(cred) => PeerCredentials {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        },
        Err(err) => {
            tracing::warn!("control socket: cannot read the peer's credentials: {err}");
            refuse(
                &stream,
                ErrorKind::Refused,
                "refused: the peer's credentials are unknown",
            );
            return None;
        }
    };
    if let Err(reason) = policy.check(&peer, || peer_groups(stream.as_fd())) {
        tracing::warn!("control socket: {reason} ({peer})");
        refuse(&stream, ErrorKind::Refused, &reason);
        return None;
    }
    match slots.clone().try_acquire_owned() {
        Ok(slot) => Some(Admitted { stream, peer, slot }),
        Err(_) => {
            tracing::warn!("control socket: too many clients, refusing {peer}");
            refuse(
                &stream,
                ErrorKind::Busy,
                "busy: too many clients are connected; try again shortly",
            );
            None
        }
    }
}

/// Writes one error line without waiting: a fresh connection's send buffer
/// is empty, and the accept loop must never block on a client.
fn refuse(stream: &UnixStream, kind: ErrorKind, message: &str) {
    let line = encode_response(&ResponseEnvelope::new(None, Response::error(kind, message)));
    let _ = stream.try_write(&line);
}

struct Connection<H> {
    handler: Arc<H>,
    options: ServerOptions,
    stopped: watch::Receiver<bool>,
    followers: Arc<Semaphore>,
    /// Counted by the gate while it may bring or answer a request.
    open: super::gate::Open,
}

/// How reading the next request ended, when it did not bring a line.
enum Unread {
    /// Nothing arrived within this long.
    Idle(Duration),
    /// The line was not complete within the request timeout.
    Slow,
    /// The peer left or the read failed.
    Gone,
}

/// Whether the connection goes on after a reply.
enum Next {
    Continue,
    Close,
}

impl<H: Handler> Connection<H> {
    async fn run(mut self, admitted: Admitted) {
        let Admitted { stream, peer, slot } = admitted;
        let mut slot = Some(slot);
        let (read, write) = stream.into_split();
        let mut reader = LineReader::new(read, self.options.max_line);
        let mut writer = Writer {
            write,
            timeout: self.options.write_timeout,
        };
        let context = RequestContext { peer };
        // A client connects to ask something: its first request must start
        // soon, or it would hold a request slot for the whole idle timeout.
        let mut idle = self.options.idle_timeout.min(self.options.request_timeout);
        loop {
            let next = tokio::select! {
                biased;
                () = wait_stopped(&mut self.stopped) => return,
                next = read_request(&mut reader, idle, self.options.request_timeout) => next,
            };
            idle = self.options.idle_timeout;
            let line = match next {
                Err(Unread::Idle(waited)) => {
                    let message = format!(
                        "idle timeout: no request within {}s; closing",
                        waited.as_secs_f64()
                    );
                    writer
                        .send(None, Response::error(ErrorKind::IdleTimeout, message))
                        .await;
                    return;
                }
                Err(Unread::Slow) => {
                    let message = format!(
                        "request timeout: the request line was not complete within {}s of its first byte; closing",
                        self.options.request_timeout.as_secs_f64()
                    );
                    writer
                        .send(None, Response::error(ErrorKind::RequestTimeout, message))
                        .await;
                    return;
                }
                Err(Unread::Gone) | Ok(None) => return,
                Ok(Some(Line::TooLong { read })) => {
                    let message = format!(
                        "line too large: more than {} bytes (read {read}); the limit is {}; closing",
                        self.options.max_line.min(read),
                        self.options.max_line
                    );
                    writer
                        .send(None, Response::error(ErrorKind::TooLarge, message))
                        .await;
                    return;
                }
                Ok(Some(Line::Complete(line))) => line,
            };
            let envelope = match decode_request(&line) {
                Ok(envelope) => envelope,
                Err(err) => {
                    let reply = err.to_response();
                    if !writer.send(reply.id, reply.response).await {
                        return;
                    }
                    continue;
                }
            };
            let id = Some(envelope.id);
            let next = match self.call(envelope.request, context).await {
                Reply::One(response) => match writer.send(id, response).await {
                    true => Next::Continue,
                    false => Next::Close,
                },
                Reply::Handover {
                    response,
                    written,
                    after,
                } => {
                    let sent = writer.send(id, response).await;
                    let _ = written.send(());
                    match after.await {
                        Ok(response) if sent => match writer.send(id, response).await {
                            true => Next::Continue,
                            false => Next::Close,
                        },
                        _ if sent => Next::Continue,
                        _ => Next::Close,
                    }
                }
                Reply::Stream(receiver) => {
                    // A follower does not count against the request slots.
                    match self.followers.clone().try_acquire_owned() {
                        Ok(_follower) => {
                            drop(slot.take());
                            self.open.release();
                            self.stream(id, receiver, &mut writer, &mut reader).await;
                        }
                        Err(_) => {
                            tracing::warn!("control socket: too many followers, refusing {peer}");
                            let message = format!(
                                "busy: {} streams (followed logs, events) are open; try again shortly",
                                self.options.max_followers
                            );
                            writer
                                .send(id, Response::error(ErrorKind::Busy, message))
                                .await;
                        }
                    }
                    // A stream is the last request of its connection.
                    Next::Close
                }
            };
            if let Next::Close = next {
                return;
            }
        }
    }

    /// Runs the handler in a task of its own so that a panic in it becomes
    /// an `internal` error reply instead of a dead connection.
    async fn call(&self, request: Request, context: RequestContext) -> Reply {
        let handler = self.handler.clone();
        let kind = request.type_name();
        let task = tokio::spawn(async move { handler.handle(request, context).await });
        match task.await {
            Ok(reply) => reply,
            Err(err) => {
                tracing::error!("control socket: the {kind} handler failed: {err}");
                Reply::One(Response::error(
                    ErrorKind::Internal,
                    format!(
                        "internal: the {kind} request failed inside the supervisor; see its log"
                    ),
                ))
            }
        }
    }

    async fn stream(
        &mut self,
        id: Option<u64>,
        mut receiver: mpsc::Receiver<Response>,
        writer: &mut Writer,
        reader: &mut LineReader<OwnedReadHalf>,
    ) {
        loop {
            tokio::select! {
                biased;
                () = wait_stopped(&mut self.stopped) => {
                    let end = Response::End { reason: EndReason::Shutdown };
                    writer.send(id, end).await;
                    return;
                }
                // Anything the client sends now is dropped; its leaving
                // ends the stream at once, not at the next event.
                () = reader.discard_until_closed() => return,
                item = receiver.recv() => {
                    let Some(response) = item else {
                        let end = Response::End { reason: EndReason::Finished };
                        writer.send(id, end).await;
                        return;
                    };
                    let last = matches!(response, Response::End { .. } | Response::Error { .. });
                    if !writer.send(id, response).await || last {
                        return;
                    }
                }
            }
        }
    }
}

/// The next request line: its first byte within `idle`, the rest within
/// the request timeout of that byte.
async fn read_request(
    reader: &mut LineReader<OwnedReadHalf>,
    idle: Duration,
    request_timeout: Duration,
) -> Result<Option<Line>, Unread> {
    if !reader.has_pending() {
        match tokio::time::timeout(idle, reader.wait_for_data()).await {
            Err(_elapsed) => return Err(Unread::Idle(idle)),
            Ok(Err(_)) => return Err(Unread::Gone),
            Ok(Ok(())) => {}
        }
    }
    match tokio::time::timeout(request_timeout, reader.next_line()).await {
        Err(_elapsed) => Err(Unread::Slow),
        Ok(Err(_)) => Err(Unread::Gone),
        Ok(Ok(line)) => Ok(line),
    }
}

async fn wait_stopped(stopped: &mut watch::Receiver<bool>) {
    // A dropped sender means the server is gone: stop as well.
    let _ = stopped.wait_for(|stopped| *stopped).await;
}

struct Writer {
    write: OwnedWriteHalf,
    timeout: Duration,
}

impl Writer {
    /// Writes one reply line; false when the connection is no longer usable
    /// (the client left, or stopped reading for longer than the timeout).
    async fn send(&mut self, id: Option<u64>, response: Response) -> bool {
        let mut line = encode_response(&ResponseEnvelope::new(id, response));
        if line.len() > MAX_RESPONSE_LINE {
            // Clients refuse longer lines; tell them why instead.
            let message = format!(
                "too large: the reply is {} bytes, clients accept at most {MAX_RESPONSE_LINE}; ask for less (fewer log lines, one instance)",
                line.len()
            );
            line = encode_response(&ResponseEnvelope::new(
                id,
                Response::error(ErrorKind::TooLarge, message),
            ));
        }
        match tokio::time::timeout(self.timeout, self.write.write_all(&line)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_elapsed) => {
                tracing::debug!("control socket: a client stopped reading its replies; closing it");
                false
            }
        }
    }
}
