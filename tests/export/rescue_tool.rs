//! The rescue's tool on Kubernetes (`main.mjs`, seeded beside its skill),
//! run by node against a fake Kubernetes API on loopback that records what
//! it is asked: each command's method, path, content type and token, what
//! it prints, and an API refusal in words; and the skill's seed script,
//! which copies only what is missing.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::Command;

use super::cli_support::Run;
use super::{node, sim_support};

const TOKEN: &str = "sa-token-do-not-print";

/// One request as the fake API saw it.
#[derive(Debug)]
struct Seen {
    line: String,
    authorization: String,
    content_type: String,
    body: String,
}

/// Serves one request with `status` and `body`; the request comes back
/// through the handle.
fn api_once(status: &str, body: &str) -> (u16, std::thread::JoinHandle<Seen>) {
    let (listener, port) = sim_support::loopback_listener();
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut seen = Seen {
            line: String::new(),
            authorization: String::new(),
            content_type: String::new(),
            body: String::new(),
        };
        reader.read_line(&mut seen.line).expect("request line");
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("header");
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            let value = value.trim().to_string();
            match name.to_ascii_lowercase().as_str() {
                "authorization" => seen.authorization = value,
                "content-type" => seen.content_type = value,
                "content-length" => length = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).expect("body");
        seen.body = String::from_utf8_lossy(&body).into_owned();
        reader.get_mut().write_all(reply.as_bytes()).expect("reply");
        seen
    });
    (port, handle)
}

fn tool(node: &Path, dir: &Path, port: u16, args: &[&str]) -> Run {
    let script = dir.join("main.mjs");
    std::fs::write(&script, openclaw_supervisor::export::RESCUE_TOOL).expect("write the tool");
    let token = dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("write the token");
    Run::of(
        Command::new(node)
            .env_clear()
            .env("OPENCLAW_SUPERVISOR_NAMESPACE", "team-a")
            .env("OPENCLAW_SUPERVISOR_MAIN_POD", "openclaw-main-0")
            .env("OPENCLAW_SUPERVISOR_MAIN_STATEFULSET", "openclaw-main")
            .env(
                "OPENCLAW_SUPERVISOR_KUBE_API",
                format!("http://127.0.0.1:{port}"),
            )
            .env("OPENCLAW_SUPERVISOR_KUBE_TOKEN_FILE", &token)
            .arg(&script)
            .args(args),
    )
}

#[test]
fn the_rescue_tool_asks_the_api_for_its_main_only() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let pod = r#"{"metadata":{"name":"openclaw-main-0"},"spec":{"nodeName":"worker-1"},
        "status":{"phase":"Running","containerStatuses":[{"name":"gateway","ready":false,"restartCount":4,
        "state":{"waiting":{"reason":"CrashLoopBackOff"}},
        "lastState":{"terminated":{"exitCode":78,"reason":"Error","finishedAt":"2026-12-04T03:00:00Z"}}}]}}"#;
    // (args, the API's answer, what must be asked, what must be printed)
    let rows: [(&[&str], &str, &str, &str, &str); 4] = [
        (
            &["status"],
            pod,
            "GET /api/v1/namespaces/team-a/pods/openclaw-main-0 HTTP/1.1",
            "",
            "restarts: 4",
        ),
        (
            &["logs", "50", "--previous"],
            "line one\nline two\n",
            "GET /api/v1/namespaces/team-a/pods/openclaw-main-0/log?container=gateway&tailLines=50&previous=true HTTP/1.1",
            "",
            "line two",
        ),
        (
            &["logs"],
            "x\n",
            "GET /api/v1/namespaces/team-a/pods/openclaw-main-0/log?container=gateway&tailLines=100 HTTP/1.1",
            "",
            "x",
        ),
        (
            &["restart"],
            "{}",
            "DELETE /api/v1/namespaces/team-a/pods/openclaw-main-0 HTTP/1.1",
            "",
            "deleted pod openclaw-main-0",
        ),
    ];
    for (args, answer, asked, content_type, printed) in rows {
        let (port, api) = api_once("200 OK", answer);
        let run = tool(&node, dir.path(), port, args);
        let seen = api.join().expect("the fake API");
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_eq!(seen.line.trim_end(), asked, "{args:?}");
        assert_eq!(seen.authorization, format!("Bearer {TOKEN}"), "{args:?}");
        assert_eq!(seen.content_type, content_type, "{args:?}");
        assert_eq!(seen.body, "", "{args:?}: the tool sends no body");
        assert!(run.stdout.contains(printed), "{args:?}: {}", run.stdout);
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
        if args == ["status"] {
            assert!(
                run.stdout.contains("last exit: exited 78 Error"),
                "{}",
                run.stdout
            );
            assert!(
                run.stdout.contains("waiting: CrashLoopBackOff"),
                "{}",
                run.stdout
            );
        }
    }
}

#[test]
fn the_rescue_tool_has_no_command_that_patches_the_statefulset() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    // Refused before any call: port 9 (discard) is never asked.
    let run = tool(&node, dir.path(), 9, &["rollout-restart"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("usage: node main.mjs status | logs [N] [--previous] | restart\n"),
        "{}",
        run.stderr
    );
    assert!(!openclaw_supervisor::export::RESCUE_TOOL.contains("PATCH"));
}

#[test]
fn a_refusal_of_the_api_is_said_in_words_and_exits_1() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, api) = api_once(
        "403 Forbidden",
        r#"{"kind":"Status","message":"pods \"openclaw-other-0\" is forbidden"}"#,
    );
    let run = tool(&node, dir.path(), port, &["restart"]);
    api.join().expect("the fake API");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("restart of openclaw-main-0: the API answered 403: pods \"openclaw-other-0\" is forbidden"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_skill_is_seeded_only_where_missing() {
    let Some(node) = node() else { return };
    let root = tempfile::tempdir().expect("temp dir");
    let from = root.path().join("skill");
    let to = root.path().join("workspace/skills/openclaw-supervisor");
    std::fs::create_dir_all(&from).expect("mkdir");
    std::fs::write(from.join("SKILL.md"), "new skill").expect("write");
    std::fs::write(from.join("main.mjs"), "new tool").expect("write");
    let script = openclaw_supervisor::export::skill_seed_script(
        from.to_str().expect("utf-8"),
        to.to_str().expect("utf-8"),
    );
    std::fs::create_dir_all(&to).expect("mkdir");
    std::fs::write(to.join("SKILL.md"), "an operator's edit").expect("write");
    let run = Run::of(Command::new(&node).args(["-e", &script]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(to.join("SKILL.md")).expect("read"),
        "an operator's edit"
    );
    assert_eq!(
        std::fs::read_to_string(to.join("main.mjs")).expect("read"),
        "new tool"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(to.join("main.mjs"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
