//! The client commands end to end: the real binary against an in-process
//! server with a fake handler. Exit codes and output are what scripts use.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{DEADLINE, TestServer};
use openclaw_supervisor::control::ServerOptions;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw-supervisor");

/// Kills the child if the test fails before it exits.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(socket: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs a client command to its end, off the runtime's threads.
async fn run(socket: &Path, args: &[&str]) -> Output {
    let mut command = command(socket, args);
    tokio::task::spawn_blocking(move || {
        let mut guard = ChildGuard(command.spawn().expect("spawn the client"));
        let deadline = Instant::now() + DEADLINE;
        while guard.0.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < deadline, "the client did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut pipe) = guard.0.stdout.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stdout).expect("stdout");
        }
        if let Some(mut pipe) = guard.0.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
        }
        let code = guard
            .0
            .wait()
            .expect("wait")
            .code()
            .expect("exited, not killed");
        Output {
            code,
            stdout,
            stderr,
        }
    })
    .await
    .expect("client runner")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_command_end_to_end() {
    let mut server = TestServer::start(ServerOptions::default());
    let socket = server.path.clone();
    // (args, exit code, text stdout must contain, text stderr must contain)
    let rows: Vec<(Vec<&str>, i32, &str, &str)> = vec![
        (vec!["status"], 0, "NAME    ROLE  STATE    PID", ""),
        (vec!["status"], 0, "\nrescue  main  running  100", ""),
        (vec!["status", "main"], 0, "main (main): running", ""),
        (vec!["status", "nope"], 4, "", "no instance named `nope`"),
        (vec!["stop", "main"], 0, "stopping main", ""),
        (vec!["stop", "nope"], 1, "", "no instance named `nope`"),
        (vec!["restart", "main"], 0, "restart main: ok", ""),
        (vec!["signal", "main", "HUP"], 0, "signal main: ok", ""),
        (vec!["logs", "main", "-n", "3"], 0, "one\ntwo\nthree\n", ""),
        (vec!["logs", "main", "-f"], 0, "one\ntwo\nthree\n", ""),
        (
            vec!["logs", "nope", "-f"],
            1,
            "",
            "no instance named `nope`",
        ),
        (vec!["reload"], 0, "reload: ok", ""),
        (vec!["shutdown"], 0, "shutdown: ok", ""),
        (vec!["version"], 0, "supervisor 9.9.9-fake (protocol 1)", ""),
    ];
    for (args, code, stdout, stderr) in rows {
        let output = run(&socket, &args).await;
        let shown = format!("{args:?}: {} / {}", output.stdout, output.stderr);
        assert_eq!(output.code, code, "{shown}");
        assert!(output.stdout.contains(stdout), "{shown}");
        assert!(output.stderr.contains(stderr), "{shown}");
        assert!(
            !output.stdout.contains('\x1b'),
            "no colour off a terminal: {shown}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_is_machine_readable() {
    let mut server = TestServer::start(ServerOptions::default());
    let output = run(&server.path, &["status", "--json"]).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let value: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    let names: Vec<&str> = value["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|instance| instance["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["main", "rescue"]);
    assert!(value["rejected"].as_array().expect("rejected").is_empty());
    server.stop().await;
}

#[tokio::test]
async fn not_running_exits_3_naming_the_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("nobody-here.sock");
    for args in [
        vec!["status"],
        vec!["stop", "main"],
        vec!["events"],
        vec!["logs", "main", "-f"],
    ] {
        let output = run(&socket, &args).await;
        assert_eq!(output.code, 3, "{args:?}: {}", output.stderr);
        assert!(
            output.stderr.contains(&socket.display().to_string()),
            "{args:?}: {}",
            output.stderr
        );
        assert!(output.stderr.contains("not running"), "{}", output.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_until_the_supervisor_shuts_down() {
    let mut server = TestServer::start(ServerOptions::default());
    for json in [false, true] {
        let mut args = vec!["events"];
        if json {
            args.push("--json");
        }
        let mut child = ChildGuard(command(&server.path, &args).spawn().expect("spawn"));
        let stdout = child.0.stdout.take().expect("stdout");
        let lines = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .take(5)
                .collect::<Result<Vec<String>, _>>()
                .expect("read events")
        });
        let lines = tokio::time::timeout(DEADLINE, lines)
            .await
            .expect("five events within the deadline")
            .expect("reader");
        for (index, line) in lines.iter().enumerate() {
            if json {
                let value: serde_json::Value = serde_json::from_str(line).expect("json");
                assert_eq!(value["detail"], format!("event {index}"));
                assert_eq!(value["kind"], "spawned");
            } else {
                assert!(
                    line.ends_with(&format!("main spawned event {index}")),
                    "{line}"
                );
            }
        }
        if json {
            // The last one is ended by the supervisor going away.
            server.stop().await;
            let deadline = Instant::now() + DEADLINE;
            let status = loop {
                if let Some(status) = child.0.try_wait().expect("try_wait") {
                    break status;
                }
                assert!(Instant::now() < deadline, "events did not end at shutdown");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(status.code(), Some(0));
        }
    }
}
