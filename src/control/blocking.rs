//! The one-shot request without a runtime: a blocking std `UnixStream`,
//! for the client commands that send one request and print one reply
//! (`status`, `is-active`, `version`). Starting tokio costs such a command
//! more than its whole exchange with the daemon; the streaming commands
//! keep [`super::client`].
//!
//! It speaks exactly as [`super::request`] does: one request line, a
//! half-close (the daemon frees the client slot once it has replied), one
//! reply line of at most [`MAX_RESPONSE_LINE`] bytes, and the daemon's
//! refusal line as the answer when the request could not be written.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::client::ClientError;
use crate::protocol::{
    MAX_RESPONSE_LINE, Request, RequestEnvelope, Response, decode_response, encode_request,
};

/// Why a blocking request got no reply.
#[derive(Debug)]
pub enum BlockingError {
    /// What the async client would have said.
    Client(ClientError),
    /// No reply within the timeout.
    TimedOut,
}

/// Connects, sends one request and returns its reply (an `error` reply is
/// a reply, not an `Err`), waiting at most `timeout` for each read of it
/// (a daemon that goes quiet that long has not answered).
pub fn request_blocking(
    path: &Path,
    request: Request,
    timeout: Duration,
) -> Result<Response, BlockingError> {
    // A socket timeout (send or receive) is `EAGAIN`.
    let timed_out = |source: &io::Error| {
        matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    };
    let io_error = |source: io::Error| match timed_out(&source) {
        true => BlockingError::TimedOut,
        false => BlockingError::Client(ClientError::Io {
            path: path.to_path_buf(),
            source,
        }),
    };
    let stream = connect(path, timeout).map_err(|source| {
        let path = path.to_path_buf();
        BlockingError::Client(match source.kind() {
            _ if timed_out(&source) => return BlockingError::TimedOut,
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path, source }
            }
            _ => ClientError::Connect { path, source },
        })
    })?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    let mut reader = BufReader::with_capacity(64 * 1024, &stream);
    const ID: u64 = 1;
    let line = encode_request(&RequestEnvelope::new(ID, request));
    if let Err(err) = (&stream).write_all(&line) {
        // Refused before the request went out: the refusal is the answer.
        return match read_line(&mut reader) {
            Ok(Some(line)) => match decode_response(&line) {
                Ok(envelope)
                    if envelope.id.is_none()
                        && matches!(envelope.response, Response::Error { .. }) =>
                {
                    Ok(envelope.response)
                }
                _ => Err(io_error(err)),
            },
            _ => Err(io_error(err)),
        };
    }
    let _ = stream.shutdown(Shutdown::Write);
    let line = match read_line(&mut reader) {
        Ok(Some(line)) => line,
        Ok(None) => {
            return Err(BlockingError::Client(ClientError::Closed {
                path: path.to_path_buf(),
            }));
        }
        Err(err) if err.kind() == io::ErrorKind::FileTooLarge => {
            return Err(BlockingError::Client(ClientError::TooLarge));
        }
        Err(err) => return Err(io_error(err)),
    };
    let envelope = decode_response(&line)
        .map_err(|source| BlockingError::Client(ClientError::Protocol { source }))?;
    match (envelope.id, &envelope.response) {
        (Some(got), _) if got == ID => Ok(envelope.response),
        // Errors about the connection (refused, busy, idle) carry no id.
        (None, Response::Error { .. }) => Ok(envelope.response),
        (got, _) => Err(BlockingError::Client(ClientError::UnexpectedId {
            expected: ID,
            got,
        })),
    }
}

/// Connect, waiting at most `timeout` for room in the daemon's backlog
/// (a daemon that does not accept fills it; a plain blocking connect would
/// then wait for ever): the send timeout is set before the connect, which
/// a Unix socket's connect obeys.
fn connect(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, UnixAddr, connect, setsockopt, socket, sockopt,
    };
    use nix::sys::time::TimeVal;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // at least 1 µs: a zero send timeout means none at all
    let micros = i64::try_from(timeout.as_micros())
        .unwrap_or(i64::MAX)
        .max(1);
    setsockopt(
        &fd,
        sockopt::SendTimeout,
        &TimeVal::new(micros / 1_000_000, micros % 1_000_000),
    )?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &UnixAddr::new(path)?)?;
    Ok(UnixStream::from(fd))
}

/// One line without its newline (the unterminated rest at the end too);
/// `None` at a clean end; `FileTooLarge` past [`MAX_RESPONSE_LINE`].
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_RESPONSE_LINE).unwrap_or(u64::MAX);
    reader.take(limit + 1).read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.is_empty() {
        return Ok(None);
    }
    if line.len() > MAX_RESPONSE_LINE {
        return Err(io::Error::from(io::ErrorKind::FileTooLarge));
    }
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorKind, ResponseEnvelope, encode_response};
    use std::os::unix::net::UnixListener;

    /// A listener answering its one connection with `reply` once it has
    /// read the request line (or at once, with `before_reading`).
    fn one_reply(dir: &Path, reply: Vec<u8>, before_reading: bool) -> std::path::PathBuf {
        let path = dir.join("s.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            if !before_reading {
                let mut request = Vec::new();
                BufReader::new(&stream)
                    .read_until(b'\n', &mut request)
                    .expect("request");
            }
            let _ = stream.write_all(&reply);
        });
        path
    }

    #[test]
    fn a_daemon_that_accepts_nobody_is_a_timeout_not_a_hang() {
        use nix::sys::socket::{
            AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.sock");
        // A listener that never accepts, its backlog as small as can be:
        // once it is full, a blocking connect waits for room.
        let listener = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&listener),
            &UnixAddr::new(&path).expect("address"),
        )
        .expect("bind");
        listen(&listener, Backlog::new(0).expect("backlog")).expect("listen");
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let asking = path.clone();
        std::thread::spawn(move || {
            let results: Vec<_> = (0..3)
                .map(|_| request_blocking(&asking, Request::Version, Duration::from_millis(50)))
                .collect();
            let _ = done_tx.send(results);
        });
        // A hang is the failure this test is about: it is given far longer
        // than three timeouts, and fails rather than waits for ever.
        let results = done_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the requests hung on a full backlog");
        for result in results {
            assert!(matches!(result, Err(BlockingError::TimedOut)), "{result:?}");
        }
        drop(listener);
    }

    #[test]
    fn a_reply_to_the_request_is_returned() {
        let dir = tempfile::tempdir().expect("temp dir");
        let reply = encode_response(&ResponseEnvelope::new(
            Some(1),
            Response::Version {
                version: "9.9.9".into(),
                protocol: 1,
            },
        ));
        let path = one_reply(dir.path(), reply, false);
        let response =
            request_blocking(&path, Request::Version, Duration::from_secs(30)).expect("a reply");
        assert!(
            matches!(&response, Response::Version { version, .. } if version == "9.9.9"),
            "{response:?}"
        );
    }

    #[test]
    fn a_connection_error_without_an_id_is_the_reply() {
        let dir = tempfile::tempdir().expect("temp dir");
        let reply = encode_response(&ResponseEnvelope::new(
            None,
            Response::error(ErrorKind::Busy, "busy: too many clients"),
        ));
        let path = one_reply(dir.path(), reply, true);
        let response =
            request_blocking(&path, Request::Version, Duration::from_secs(30)).expect("a reply");
        assert!(
            matches!(
                response,
                Response::Error {
                    kind: ErrorKind::Busy,
                    ..
                }
            ),
            "{response:?}"
        );
    }

    #[test]
    fn nothing_listening_is_not_running_and_a_silent_close_is_closed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("none.sock");
        match request_blocking(&missing, Request::Version, Duration::from_secs(30)) {
            Err(BlockingError::Client(err)) => assert!(err.is_not_running(), "{err}"),
            other => panic!("{other:?}"),
        }
        let path = one_reply(dir.path(), Vec::new(), false);
        match request_blocking(&path, Request::Version, Duration::from_secs(30)) {
            Err(BlockingError::Client(ClientError::Closed { .. })) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reply_for_another_request_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let reply = encode_response(&ResponseEnvelope::new(Some(7), Response::ok()));
        let path = one_reply(dir.path(), reply, false);
        match request_blocking(&path, Request::Version, Duration::from_secs(30)) {
            Err(BlockingError::Client(ClientError::UnexpectedId { expected: 1, got })) => {
                assert_eq!(got, Some(7));
            }
            other => panic!("{other:?}"),
        }
    }
}
