//! The README's set-up block, run literally as a new user would: from a
//! clean copy of the tree, each command as printed (no shell). The test
//! command is skipped inside itself; the demo must print its result table,
//! the command it suggests must work when pasted, and Ctrl-C (SIGINT) must
//! stop everything and exit 0. A README that lies fails CI.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

#[path = "process_support/mod.rs"]
mod process_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const TAG_VAR: &str = "OPENCLAW_TEST_TAG";

/// The first fenced block of README.md, before its first `## ` section:
/// the set-up commands, comments stripped.
fn setup_commands(readme: &str) -> Vec<String> {
    let head = readme.split("\n## ").next().unwrap_or_default();
    let mut lines = head.lines().skip_while(|line| !line.starts_with("```"));
    let fence = lines
        .next()
        .expect("README has a fenced block before its first section");
    assert!(fence.starts_with("```"), "{fence}");
    lines
        .take_while(|line| !line.starts_with("```"))
        .map(|line| {
            line.split(" #")
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// A command line split as a person's shell would split this simple one;
/// anything that needs a real shell is refused, so the README stays literal.
fn words(command: &str) -> Vec<String> {
    assert!(
        !command.contains(['|', '&', ';', '$', '`', '\'', '"', '<', '>']),
        "the set-up command needs no shell: {command}"
    );
    command.split_whitespace().map(String::from).collect()
}

/// Every file of the tree but build output and version control.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the copy");
    for entry in fs::read_dir(from).expect("read the tree").flatten() {
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (source, dest) = (entry.path(), to.join(&name));
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&source, &dest);
        } else if kind.is_file() {
            fs::copy(&source, &dest).expect("copy a file");
        }
    }
}

/// The build directory for the copy: beside this build's own (so that a
/// second run is incremental), never the same one (the copy is another
/// package path, and rebuilding it there would swap the binaries other
/// tests run).
fn copy_target_dir() -> PathBuf {
    let own = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    own.join("readme-literal")
}

#[test]
fn the_readme_setup_block_has_the_demo_and_the_test_command() {
    let readme = include_str!("../README.md");
    let commands = setup_commands(readme);
    assert_eq!(
        commands.len(),
        2,
        "exactly two set-up commands: {commands:?}"
    );
    assert_eq!(words(&commands[0])[..3], ["cargo", "run", "--"]);
    assert!(commands[0].ends_with("demo"), "{}", commands[0]);
    assert_eq!(words(&commands[1])[..2], ["cargo", "test"]);
}

#[test]
fn the_readme_setup_commands_work_literally_on_a_clean_copy() {
    let readme = include_str!("../README.md");
    let root = tempfile::tempdir().expect("temp dir");
    let tree = root.path().join("openclaw-supervisor");
    copy_tree(Path::new(env!("CARGO_MANIFEST_DIR")), &tree);
    let tag = format!("readme-{}", std::process::id());
    for command in setup_commands(readme) {
        let argv = words(&command);
        if argv.get(1).map(String::as_str) == Some("test") {
            // This very test runs inside that command.
            continue;
        }
        run_demo(&tree, &argv, &tag);
    }
}

fn run_demo(tree: &Path, argv: &[String], tag: &str) {
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(tree)
        .env("CARGO_TARGET_DIR", copy_target_dir())
        .env(TAG_VAR, tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {argv:?}: {err}"));
    let mut demo = process_support::Swept::new(child, TAG_VAR, tag);
    let stdout = demo.child().stdout.take().expect("piped stdout");
    let stderr = demo.child().stderr.take().expect("piped stderr");
    let mut errors = process_support::Lines::read(stderr);
    let mut lines = process_support::Lines::read(stdout);
    // The build of a clean copy comes first: a hang guard, not a figure.
    let limit = Duration::from_secs(20 * 60);
    lines.wait_line("the demo's suggested command", limit, |line| {
        line.contains("in another terminal try:")
    });
    let suggested = lines
        .next_within(limit)
        .expect("the suggested command")
        .trim()
        .to_string();
    let seen = lines.seen.clone();
    let printed = seen.join("\n");
    for row in [
        "SIGKILL of main -> replacement pid",
        "SIGKILL of main -> standby rescue answers /startupz",
        "SIGKILL of main -> main running again",
        "main wedged -> restarted",
    ] {
        assert!(printed.contains(row), "no {row:?} row in:\n{printed}");
    }
    // Durations a person reads: `480 ms` or `5.0 s`, never `4991.7 ms`.
    for line in seen.iter().filter(|line| line.contains(" -> ")) {
        let figure = line.rsplit("  ").next().unwrap_or_default().trim();
        let (number, unit) = figure.split_once(' ').unwrap_or_default();
        assert!(
            (unit == "ms" && number.parse::<u32>().is_ok())
                || (unit == "s" && number.parse::<f64>().is_ok()),
            "not a human duration: {line:?}"
        );
    }

    // The command it suggests, pasted into another terminal (elsewhere).
    let pasted = words(&suggested);
    let status = Command::new(&pasted[0])
        .args(&pasted[1..])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap_or_else(|err| panic!("the suggested {suggested:?} does not run: {err}"));
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{suggested}: {status:?}\n{table}");
    assert!(
        table.contains("main") && table.contains("rescue"),
        "{table}"
    );

    // Ctrl-C: `cargo run` has exec'd the demo, so this pid is the demo.
    let pid = Pid::from_raw(demo.child().id() as i32);
    kill(pid, Signal::SIGINT).expect("SIGINT to the demo");
    let exit = demo
        .wait_exit(Duration::from_secs(60))
        .expect("the demo ends after Ctrl-C");
    errors.take_arrived();
    assert!(
        exit.success(),
        "Ctrl-C must exit 0: {exit:?}\n{}",
        errors.seen.join("\n")
    );
    assert_eq!(
        process_support::tagged(TAG_VAR, tag),
        Vec::<i32>::new(),
        "nothing the demo started outlives it"
    );
}

#[test]
fn setup_commands_are_read_from_the_first_block_only() {
    let readme = "# t\n\ntext\n\n```bash\ncargo run -- demo   # one\n\n# a comment\ncargo test   # two\n```\n\n```bash\nnot this\n```\n## Later\n```\nnor this\n```\n";
    assert_eq!(setup_commands(readme), ["cargo run -- demo", "cargo test"]);
}
