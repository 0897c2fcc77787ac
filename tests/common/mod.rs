//! Fixtures shared by the control tests: a fake handler that answers like a
//! daemon with two instances, and a server on a socket in its own temp dir.

#![allow(dead_code, reason = "each test crate uses a different part of this")]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openclaw_supervisor::control::{
    self, ControlSocket, Handler, Reply, RequestContext, ServerOptions, SocketOptions,
};
use openclaw_supervisor::protocol::{
    ErrorKind, Event, EventKind, InstanceStatus, LogLine, PROTOCOL_VERSION, Paths, Ports, Request,
    Response,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn instance(name: &str) -> InstanceStatus {
    InstanceStatus {
        name: name.to_string(),
        state: String::from("running"),
        pid: Some(100),
        uptime_secs: Some(5),
        ports: Ports {
            base: 18789,
            block_start: 18789,
            block_end: 18889,
            explicit: vec![],
        },
        paths: Paths {
            config: String::from("/c"),
            state_dir: String::from("/s"),
            workspace: String::from("/w"),
            log_file: String::from("/l"),
        },
        declaration_file: format!("/d/{name}.yaml"),
        cpu_percent: Some(0.5),
        memory_bytes: Some(1 << 20),
        ..InstanceStatus::default()
    }
}

pub fn event(index: u64) -> Event {
    Event {
        at: index,
        instance: Some(String::from("main")),
        kind: EventKind::Spawned,
        detail: format!("event {index}"),
        seq: None,
    }
}

/// Answers like a daemon with two instances. Event streams stay open (their
/// senders are kept) until the server ends them; followed logs finish.
#[derive(Default)]
pub struct FakeHandler {
    event_senders: Mutex<Vec<mpsc::Sender<Response>>>,
}

impl Handler for FakeHandler {
    // Written as an `async fn` to show that the trait accepts one.
    async fn handle(&self, request: Request, _context: RequestContext) -> Reply {
        tokio::task::yield_now().await;
        self.answer(request)
    }
}

const KNOWN: [&str; 2] = ["main", "rescue"];

fn unknown(name: &str) -> Reply {
    Reply::One(Response::error(
        ErrorKind::UnknownInstance,
        format!("no instance named `{name}`; known: main, rescue"),
    ))
}

impl FakeHandler {
    fn answer(&self, request: Request) -> Reply {
        match request {
            Request::Stop { name } if name == "panic" => {
                panic!("the fake handler panics on purpose")
            }
            Request::Status { name: None } => Reply::One(Response::Status {
                instances: KNOWN.iter().map(|name| instance(name)).collect(),
                rejected: vec![],
            }),
            Request::Status { name: Some(name) } if KNOWN.contains(&name.as_str()) => {
                Reply::One(Response::Status {
                    instances: vec![instance(&name)],
                    rejected: vec![],
                })
            }
            Request::Status { name: Some(name) }
            | Request::Start { name }
            | Request::Stop { name }
            | Request::Restart { name, .. }
            | Request::Signal { name, .. }
            | Request::Logs {
                name: Some(name), ..
            } if !KNOWN.contains(&name.as_str()) => unknown(&name),
            Request::Stop { name } => Reply::One(Response::ok_with(format!("stopping {name}"))),
            Request::Events { .. } => {
                let (sender, receiver) = mpsc::channel(16);
                for index in 0..5 {
                    sender
                        .try_send(Response::Event(event(index)))
                        .expect("the channel has room for five");
                }
                // Kept so that the stream stays open until the server ends it.
                self.event_senders
                    .lock()
                    .expect("not poisoned")
                    .push(sender);
                Reply::Stream(receiver)
            }
            Request::Logs { follow, .. } => {
                let lines: Vec<LogLine> = ["one", "two", "three"]
                    .into_iter()
                    .map(|text| LogLine {
                        at: None,
                        stream: None,
                        text: text.to_string(),
                        instance: None,
                    })
                    .collect();
                if !follow {
                    return Reply::One(Response::Logs {
                        name: Some(String::from("main")),
                        lines,
                    });
                }
                let (sender, receiver) = mpsc::channel(16);
                for line in lines {
                    sender
                        .try_send(Response::LogLine(line))
                        .expect("the channel has room for three");
                }
                // The sender is dropped here: the stream then finishes.
                Reply::Stream(receiver)
            }
            Request::Version => Reply::One(Response::Version {
                version: String::from("9.9.9-fake"),
                protocol: PROTOCOL_VERSION,
            }),
            _ => Reply::One(Response::ok()),
        }
    }
}

/// A server on a socket in its own temp dir; stopping it (or dropping the
/// guard) triggers the shutdown future.
pub struct TestServer {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn start(options: ServerOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("run").join("supervisor.sock");
        let socket = ControlSocket::bind(&path, SocketOptions::default()).expect("bind");
        Self::serve(dir, path, socket, options)
    }

    pub fn serve(
        dir: tempfile::TempDir,
        path: PathBuf,
        socket: ControlSocket,
        options: ServerOptions,
    ) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let handler = Arc::new(FakeHandler::default());
        let task = tokio::spawn(control::serve(socket, handler, options, async {
            let _ = stopped.await;
        }));
        TestServer {
            _dir: dir,
            path,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(&mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("serve returns after shutdown")
                .expect("serve did not panic")
                .expect("serve succeeded");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
