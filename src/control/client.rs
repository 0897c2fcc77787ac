//! The client side: connect, send a request, read its reply or stream.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::lines::{Line, LineReader};
use crate::protocol::{
    DecodeError, MAX_RESPONSE_LINE, Request, RequestEnvelope, Response, decode_response,
    encode_request,
};

#[derive(Debug, Error)]
pub enum ClientError {
    /// Nothing listens on the socket: no file there, or a stale one.
    #[error("the supervisor is not running: nothing answers on {} ({source}); start it with `openclaw-supervisor start`", path.display())]
    NotRunning { path: PathBuf, source: io::Error },
    #[error("cannot connect to the supervisor on {}: {source}", path.display())]
    Connect { path: PathBuf, source: io::Error },
    #[error("lost the connection to the supervisor on {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the supervisor on {} closed the connection without replying", path.display())]
    Closed { path: PathBuf },
    #[error("the supervisor sent a reply this client cannot read: {source}")]
    Protocol {
        #[source]
        source: DecodeError,
    },
    #[error("the supervisor's reply is longer than {MAX_RESPONSE_LINE} bytes")]
    TooLarge,
    #[error("the supervisor answered request {got:?} while request {expected} was waiting")]
    UnexpectedId { expected: u64, got: Option<u64> },
}

impl ClientError {
    pub fn is_not_running(&self) -> bool {
        matches!(self, ClientError::NotRunning { .. })
    }
}

/// One connection to the supervisor, for any number of requests in turn.
pub struct Client {
    path: PathBuf,
    reader: LineReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("path", &self.path)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).await.map_err(|source| {
            let path = path.to_path_buf();
            match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning { path, source }
                }
                _ => ClientError::Connect { path, source },
            }
        })?;
        let (read, writer) = stream.into_split();
        Ok(Client {
            path: path.to_path_buf(),
            reader: LineReader::new(read, MAX_RESPONSE_LINE),
            writer,
            next_id: 1,
        })
    }

    /// Sends a request and returns its one reply (an `error` reply is a
    /// reply, not an `Err`). For `events` and followed logs use [`Client::stream`].
    pub async fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        match self.send(request).await {
            Ok(id) => self.reply_to(id).await,
            Err(err) => self.refusal().await.ok_or(err),
        }
    }

    /// Sends a streaming request; the connection is then the stream's.
    pub async fn stream(mut self, request: Request) -> Result<ResponseStream, ClientError> {
        let (id, refusal) = match self.send(request).await {
            Ok(id) => (id, None),
            Err(err) => (0, Some(self.refusal().await.ok_or(err)?)),
        };
        Ok(ResponseStream {
            client: self,
            id,
            done: false,
            refusal,
        })
    }

    /// After a failed write: the daemon may have refused the connection (a
    /// stranger, too many clients) and closed it before the request went
    /// out. Its one error line is still there to read, and says why better
    /// than "broken pipe".
    async fn refusal(&mut self) -> Option<Response> {
        let Ok(Some(Line::Complete(line))) = self.reader.next_line().await else {
            return None;
        };
        match decode_response(&line) {
            Ok(envelope)
                if envelope.id.is_none() && matches!(envelope.response, Response::Error { .. }) =>
            {
                Some(envelope.response)
            }
            _ => None,
        }
    }

    async fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = encode_request(&RequestEnvelope::new(id, request));
        self.writer
            .write_all(&line)
            .await
            .map_err(|source| self.io_error(source))?;
        Ok(id)
    }

    async fn reply_to(&mut self, id: u64) -> Result<Response, ClientError> {
        let line = match self.reader.next_line().await {
            Ok(Some(Line::Complete(line))) => line,
            Ok(Some(Line::TooLong { .. })) => return Err(ClientError::TooLarge),
            Ok(None) => {
                return Err(ClientError::Closed {
                    path: self.path.clone(),
                });
            }
            Err(source) => return Err(self.io_error(source)),
        };
        let envelope = decode_response(&line).map_err(|source| ClientError::Protocol { source })?;
        match (envelope.id, &envelope.response) {
            (Some(got), _) if got == id => Ok(envelope.response),
            // Errors about the connection (refused, busy, idle) carry no id.
            (None, Response::Error { .. }) => Ok(envelope.response),
            (got, _) => Err(ClientError::UnexpectedId { expected: id, got }),
        }
    }

    fn io_error(&self, source: io::Error) -> ClientError {
        // A daemon that refused us may have closed before we wrote.
        ClientError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// The reply lines of a streaming request.
#[derive(Debug)]
pub struct ResponseStream {
    client: Client,
    id: u64,
    done: bool,
    /// The daemon's refusal, read when the request could not be sent.
    refusal: Option<Response>,
}

impl ResponseStream {
    /// The next reply line; the `end` line (or an `error`) is the last
    /// `Some`, then `None`.
    pub async fn next(&mut self) -> Result<Option<Response>, ClientError> {
        if self.done {
            return Ok(None);
        }
        if let Some(refusal) = self.refusal.take() {
            self.done = true;
            return Ok(Some(refusal));
        }
        let response = self.client.reply_to(self.id).await?;
        if matches!(response, Response::End { .. } | Response::Error { .. }) {
            self.done = true;
        }
        Ok(Some(response))
    }
}

/// Connects, sends one request and returns its reply.
pub async fn request(path: &Path, request: Request) -> Result<Response, ClientError> {
    let mut client = Client::connect(path).await?;
    let id = match client.send(request).await {
        Ok(id) => id,
        // Refused before the request went out: the refusal is the answer.
        Err(err) => return client.refusal().await.ok_or(err),
    };
    // Nothing more will be sent, so say so (a half-close): the daemon then
    // frees this connection's client slot as soon as the reply is written,
    // not when it next notices we left. Many short-lived clients would
    // otherwise hold stale slots and be refused as `busy`.
    let _ = client.writer.shutdown().await;
    client.reply_to(id).await
}

/// Connects and sends a streaming request (`events`, followed `logs`).
pub async fn request_stream(path: &Path, request: Request) -> Result<ResponseStream, ClientError> {
    Client::connect(path).await?.stream(request).await
}

/// How long [`live_events`] waits for the daemon's `subscribed` event
/// before it takes the daemon for one older than the acknowledgement and
/// goes on (as clients did before it).
pub const SUBSCRIBED_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One reply of a stream, as its reader task hands it on.
pub type StreamReply = Result<Option<Response>, ClientError>;

/// Subscribes to the live events and returns once the daemon said the
/// subscription is live (its `subscribed` event, not handed on): nothing
/// that happens after this returns is missed. A daemon older than that
/// event sends none: then this returns at its first reply, or after
/// [`SUBSCRIBED_WAIT`], and an event may have gone out before the
/// subscription took hold (so `--wait` also re-reads status now and then). The stream is read by a task
/// of its own (a read cut short by `select!` could lose a line); its
/// replies arrive on the channel, the last one an `end`, an error or
/// `Ok(None)`.
pub async fn live_events(
    path: &Path,
) -> Result<tokio::sync::mpsc::Receiver<StreamReply>, ClientError> {
    let mut stream = request_stream(path, Request::live_events()).await?;
    let (replies_tx, replies) = tokio::sync::mpsc::channel(256);
    let (live_tx, live) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut live_tx = Some(live_tx);
        loop {
            let reply = stream.next().await;
            if let Ok(Some(Response::Event(event))) = &reply
                && event.kind == crate::protocol::EventKind::Subscribed
            {
                if let Some(live) = live_tx.take() {
                    let _ = live.send(());
                }
                continue;
            }
            // Anything else first: a daemon that sends no acknowledgement.
            if let Some(live) = live_tx.take() {
                let _ = live.send(());
            }
            let last = !matches!(reply, Ok(Some(Response::Event(_))));
            if replies_tx.send(reply).await.is_err() || last {
                return;
            }
        }
    });
    let _ = tokio::time::timeout(SUBSCRIBED_WAIT, live).await;
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorKind, ResponseEnvelope, encode_response};
    use tokio::sync::mpsc;

    /// A listener that answers each connection with one `busy` line and
    /// closes it, as the daemon does; each close is reported on the channel.
    async fn refusing_listener(dir: &Path) -> (PathBuf, mpsc::UnboundedReceiver<()>) {
        let path = dir.join("s.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let (closed_tx, closed) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let line = encode_response(&ResponseEnvelope::new(
                    None,
                    Response::error(ErrorKind::Busy, "busy: too many clients"),
                ));
                let _ = stream.write_all(&line).await;
                drop(stream);
                let _ = closed_tx.send(());
            }
        });
        (path, closed)
    }

    #[tokio::test]
    async fn a_refusal_sent_before_the_request_is_the_reply() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, mut closed) = refusing_listener(dir.path()).await;

        // The daemon has closed before the request is written: the write
        // fails (broken pipe), and the refusal is still the answer.
        let mut client = Client::connect(&path).await.expect("connect");
        closed.recv().await.expect("closed");
        let reply = client.call(Request::Version).await.expect("the refusal");
        assert!(
            matches!(
                reply,
                Response::Error {
                    kind: ErrorKind::Busy,
                    ..
                }
            ),
            "{reply:?}"
        );

        let client = Client::connect(&path).await.expect("connect");
        closed.recv().await.expect("closed");
        let mut stream = client
            .stream(Request::live_events())
            .await
            .expect("a stream");
        let first = stream.next().await.expect("a line");
        assert!(
            matches!(
                first,
                Some(Response::Error {
                    kind: ErrorKind::Busy,
                    ..
                })
            ),
            "{first:?}"
        );
        assert!(stream.next().await.expect("end").is_none());
    }
}
