//! The control socket end to end, in process, with a fake handler: limits,
//! hostile clients, modes, peer credentials, stale and live sockets, the
//! state dir lock and streams.
//!
//! Here: limits and hostile clients. `control/files.rs`: the socket file's
//! modes, stale and live sockets, the state dir lock; `control/peer.rs`:
//! peer credentials; `control/streams.rs`: events and followed logs.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod common;
#[path = "control/files.rs"]
mod files;
#[path = "control/peer.rs"]
mod peer;
#[path = "control/streams.rs"]
mod streams;

use std::path::Path;
use std::time::{Duration, Instant};

use openclaw_supervisor::control::{self, Client, ServerOptions};
use openclaw_supervisor::protocol::{
    ErrorKind, Request, Response, ResponseEnvelope, decode_response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use common::{DEADLINE, TestServer, event};

async fn status(path: &Path) -> Vec<String> {
    let response = tokio::time::timeout(
        DEADLINE,
        control::request(path, Request::Status { name: None }),
    )
    .await
    .expect("status answered within the deadline")
    .expect("status request");
    match response {
        Response::Status { instances, .. } => instances.into_iter().map(|i| i.name).collect(),
        other => panic!("expected a status reply, got {other:?}"),
    }
}

/// Reads one reply line from a connection (or its read half), within the
/// deadline.
async fn read_reply(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> ResponseEnvelope {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(DEADLINE, async {
        loop {
            let read = stream.read(&mut byte).await.expect("read a reply");
            assert!(read == 1, "connection closed before a full reply: {line:?}");
            if byte[0] == b'\n' {
                break;
            }
            line.push(byte[0]);
        }
    })
    .await
    .expect("a reply within the deadline");
    decode_response(&line).expect("a well-formed reply")
}

/// Reads until the server closes the connection (EOF or reset).
async fn assert_closed_by_server(stream: &mut UnixStream) {
    let mut sink = vec![0u8; 64 * 1024];
    tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection within the deadline");
}

fn error_kind(response: &Response) -> ErrorKind {
    match response {
        Response::Error { kind, .. } => *kind,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_clients_are_all_served() {
    let mut server = TestServer::start(ServerOptions {
        max_clients: 128,
        ..ServerOptions::default()
    });
    let mut clients = Vec::new();
    for _ in 0..100 {
        let path = server.path.clone();
        clients.push(tokio::spawn(async move {
            let mut client = Client::connect(&path).await.expect("connect");
            for _ in 0..3 {
                let reply = client
                    .call(Request::Status { name: None })
                    .await
                    .expect("status");
                assert!(
                    matches!(reply, Response::Status { ref instances, .. } if instances.len() == 2)
                );
            }
        }));
    }
    for client in clients {
        tokio::time::timeout(DEADLINE, client)
            .await
            .expect("every client is served within the deadline")
            .expect("client task");
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_line_is_refused_and_others_are_still_served() {
    let mut server = TestServer::start(ServerOptions::default());
    let mut hog = UnixStream::connect(&server.path).await.expect("connect");
    hog.write_all(&vec![b'a'; 70 * 1024]).await.expect("write");
    let reply = read_reply(&mut hog).await;
    assert_eq!(reply.id, None);
    assert_eq!(error_kind(&reply.response), ErrorKind::TooLarge);
    assert_closed_by_server(&mut hog).await;
    assert_eq!(status(&server.path).await, ["main", "rescue"]);
    server.stop().await;
}

#[tokio::test]
async fn garbage_gets_an_error_naming_it_and_the_connection_goes_on() {
    let mut server = TestServer::start(ServerOptions::default());
    let mut stream = UnixStream::connect(&server.path).await.expect("connect");
    // (line sent, expected kind, expected id echoed)
    let rows: Vec<(&[u8], ErrorKind, Option<u64>)> = vec![
        (b"\xff\xfe\x00\x01binary\n", ErrorKind::NotUtf8, None),
        (b"{\"v\":1,\n", ErrorKind::MalformedJson, None),
        (
            b"{\"v\":1,\"id\":4,\"request\":{\"type\":\"explode\"}}\n",
            ErrorKind::UnknownRequest,
            Some(4),
        ),
        (
            b"{\"v\":9,\"id\":5,\"request\":{\"type\":\"status\"}}\n",
            ErrorKind::UnsupportedVersion,
            Some(5),
        ),
        (
            b"{\"v\":1,\"id\":6,\"request\":{\"type\":\"stop\"}}\n",
            ErrorKind::MissingField,
            Some(6),
        ),
        (
            b"{\"v\":1,\"id\":7,\"request\":{\"type\":\"status\",\"name\":\"nope\"}}\n",
            ErrorKind::UnknownInstance,
            Some(7),
        ),
    ];
    for (line, kind, id) in rows {
        stream.write_all(line).await.expect("write");
        let reply = read_reply(&mut stream).await;
        assert_eq!(
            error_kind(&reply.response),
            kind,
            "{}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(reply.id, id, "{}", String::from_utf8_lossy(line));
    }
    stream
        .write_all(b"{\"v\":1,\"id\":8,\"request\":{\"type\":\"status\"}}\n")
        .await
        .expect("write");
    let reply = read_reply(&mut stream).await;
    assert_eq!(reply.id, Some(8));
    assert!(
        matches!(reply.response, Response::Status { .. }),
        "{reply:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn silent_client_neither_blocks_others_nor_stays_forever() {
    let mut server = TestServer::start(ServerOptions {
        idle_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    });
    let mut silent = UnixStream::connect(&server.path).await.expect("connect");
    assert_eq!(status(&server.path).await, ["main", "rescue"]);
    let reply = read_reply(&mut silent).await;
    assert_eq!(error_kind(&reply.response), ErrorKind::IdleTimeout);
    assert_closed_by_server(&mut silent).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_dribble_their_request_lose_their_slot() {
    let mut server = TestServer::start(ServerOptions {
        max_clients: 4,
        request_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    // Every slot taken by a client sending a byte now and then, never a
    // whole line (the idle timeout, 60 s, is never reached).
    let mut dribblers = Vec::new();
    for _ in 0..4 {
        let stream = UnixStream::connect(&server.path).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let dribble = tokio::spawn(async move {
            while write.write_all(b" ").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        dribblers.push((read, dribble));
    }
    for (mut read, dribble) in dribblers {
        let reply = read_reply(&mut read).await;
        assert_eq!(reply.id, None);
        assert_eq!(error_kind(&reply.response), ErrorKind::RequestTimeout);
        tokio::time::timeout(DEADLINE, dribble)
            .await
            .expect("the server hangs up on a dribbling client")
            .expect("dribbler task");
    }
    assert_eq!(status(&server.path).await, ["main", "rescue"]);
    server.stop().await;
}

#[tokio::test]
async fn a_new_client_that_sends_nothing_is_closed_after_the_request_timeout() {
    let mut server = TestServer::start(ServerOptions {
        request_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    let mut silent = UnixStream::connect(&server.path).await.expect("connect");
    let reply = read_reply(&mut silent).await;
    assert_eq!(error_kind(&reply.response), ErrorKind::IdleTimeout);
    assert_closed_by_server(&mut silent).await;
    server.stop().await;
}

#[tokio::test]
async fn followers_do_not_take_the_request_slots() {
    let mut server = TestServer::start(ServerOptions {
        max_clients: 1,
        max_followers: 1,
        ..ServerOptions::default()
    });
    let mut events = control::request_stream(&server.path, Request::live_events())
        .await
        .expect("events");
    let first = tokio::time::timeout(DEADLINE, events.next())
        .await
        .expect("an event within the deadline")
        .expect("read");
    assert_eq!(first, Some(Response::Event(event(0))));
    // The one request slot is free again while the stream goes on.
    let reply = control::request(&server.path, Request::Version)
        .await
        .expect("a reply");
    assert!(matches!(reply, Response::Version { .. }), "{reply:?}");
    // Streams have their own limit.
    let mut second = control::request_stream(&server.path, Request::live_events())
        .await
        .expect("a reply");
    let refused = tokio::time::timeout(DEADLINE, second.next())
        .await
        .expect("a reply within the deadline")
        .expect("read")
        .expect("an error line");
    assert_eq!(error_kind(&refused), ErrorKind::Busy);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_its_replies_does_not_block_others() {
    let mut server = TestServer::start(ServerOptions {
        write_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    let hog = UnixStream::connect(&server.path).await.expect("connect");
    // Keep the read half open but never read from it.
    let (_hog_read, mut hog_write) = hog.into_split();
    // Pipeline requests without reading a single reply; the writes stall
    // once both socket buffers are full, and fail once the server hangs up.
    let writer = tokio::spawn(async move {
        let line = b"{\"v\":1,\"id\":1,\"request\":{\"type\":\"status\"}}\n";
        while hog_write.write_all(line).await.is_ok() {}
    });
    for _ in 0..5 {
        assert_eq!(status(&server.path).await, ["main", "rescue"]);
    }
    tokio::time::timeout(DEADLINE, writer)
        .await
        .expect("the server hangs up on a client that does not read")
        .expect("writer task");
    server.stop().await;
}

#[tokio::test]
async fn too_many_clients_get_busy_and_the_admitted_ones_are_served() {
    let mut server = TestServer::start(ServerOptions {
        max_clients: 2,
        ..ServerOptions::default()
    });
    let mut first = Client::connect(&server.path).await.expect("connect");
    let mut second = Client::connect(&server.path).await.expect("connect");
    // A reply proves each was admitted before the third arrives.
    first.call(Request::Version).await.expect("first served");
    second.call(Request::Version).await.expect("second served");
    let third = control::request(&server.path, Request::Version)
        .await
        .expect("a reply");
    assert_eq!(error_kind(&third), ErrorKind::Busy);
    drop(first);
    // The freed slot is reused once the server notices the first left.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let reply = control::request(&server.path, Request::Version)
            .await
            .expect("a reply");
        if matches!(reply, Response::Version { .. }) {
            break;
        }
        assert_eq!(error_kind(&reply), ErrorKind::Busy);
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second
        .call(Request::Version)
        .await
        .expect("second still served");
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_gets_internal_and_the_connection_goes_on() {
    let mut server = TestServer::start(ServerOptions::default());
    let mut client = Client::connect(&server.path).await.expect("connect");
    let reply = client
        .call(Request::Stop {
            name: String::from("panic"),
        })
        .await
        .expect("a reply");
    assert_eq!(error_kind(&reply), ErrorKind::Internal);
    let reply = client
        .call(Request::Status {
            name: Some(String::from("main")),
        })
        .await
        .expect("a reply");
    assert!(matches!(reply, Response::Status { ref instances, .. } if instances.len() == 1));
    server.stop().await;
}
#[tokio::test]
async fn requests_sent_before_a_half_close_are_all_answered() {
    let mut server = TestServer::start(ServerOptions::default());
    let mut stream = UnixStream::connect(&server.path).await.expect("connect");
    stream
        .write_all(
            concat!(
                "{\"v\":1,\"id\":1,\"request\":{\"type\":\"version\"}}\n",
                "{\"v\":1,\"id\":2,\"request\":{\"type\":\"status\",\"name\":\"main\"}}",
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    // The second line has no newline: the end of input frames it.
    stream.shutdown().await.expect("half-close");
    let first = read_reply(&mut stream).await;
    assert_eq!(first.id, Some(1));
    assert!(
        matches!(first.response, Response::Version { .. }),
        "{first:?}"
    );
    let second = read_reply(&mut stream).await;
    assert_eq!(second.id, Some(2));
    assert!(
        matches!(second.response, Response::Status { .. }),
        "{second:?}"
    );
    assert_closed_by_server(&mut stream).await;
    server.stop().await;
}
