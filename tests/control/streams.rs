//! Streams: events in order, ended at shutdown; followed logs ended when
//! their source ends.

use openclaw_supervisor::control::{self, ServerOptions};
use openclaw_supervisor::protocol::{EndReason, Request, Response};

use crate::common::{DEADLINE, TestServer, event};

#[tokio::test]
async fn events_arrive_in_order_and_end_on_shutdown() {
    let mut server = TestServer::start(ServerOptions::default());
    let path = server.path.clone();
    let mut stream = control::request_stream(&path, Request::live_events())
        .await
        .expect("events");
    for index in 0..5 {
        let next = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("an event within the deadline")
            .expect("read");
        assert_eq!(next, Some(Response::Event(event(index))));
    }
    server.stop().await;
    let end = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("the end within the deadline")
        .expect("read");
    assert_eq!(
        end,
        Some(Response::End {
            reason: EndReason::Shutdown
        })
    );
    assert_eq!(stream.next().await.expect("read"), None);
    assert!(!path.exists(), "the socket file is removed at shutdown");
    let err = control::request(&path, Request::Version)
        .await
        .expect_err("nobody listens now");
    assert!(err.is_not_running(), "{err}");
}

#[tokio::test]
async fn followed_logs_end_with_finished_when_the_source_ends() {
    let mut server = TestServer::start(ServerOptions::default());
    let request = Request::Logs {
        name: Some(String::from("main")),
        lines: Some(10),
        follow: true,
        since_ms: None,
    };
    let mut stream = control::request_stream(&server.path, request)
        .await
        .expect("logs");
    let mut texts = Vec::new();
    let end = loop {
        let next = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("a line within the deadline")
            .expect("read");
        match next {
            Some(Response::LogLine(line)) => texts.push(line.text),
            other => break other,
        }
    };
    assert_eq!(texts, ["one", "two", "three"]);
    assert_eq!(
        end,
        Some(Response::End {
            reason: EndReason::Finished
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn a_daemon_without_the_acknowledgement_loses_no_event_to_the_wait_for_it() {
    // The test server streams events with no `subscribed` first, as a
    // daemon before the acknowledgement did: its first event ends the wait
    // and is handed on, with every one after it.
    let mut server = TestServer::start(ServerOptions::default());
    let mut replies = control::live_events(&server.path).await.expect("events");
    for index in 0..3 {
        let next = tokio::time::timeout(DEADLINE, replies.recv())
            .await
            .expect("an event within the deadline")
            .expect("the reader lives")
            .expect("read");
        assert_eq!(next, Some(Response::Event(event(index))));
    }
    server.stop().await;
}
