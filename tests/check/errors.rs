//! Files `check` cannot use (exit 2, naming file, line, column and key)
//! and commands that cannot run: errors, and what is only a warning.

use crate::{canonical, check, home, repo};

#[test]
fn a_broken_file_exits_2_naming_file_line_column_and_key_and_the_rest_is_checked() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("main.yaml"), "port: 18789\n").expect("write");
    std::fs::write(
        dir.join("rescue.yaml"),
        "port: 18799\nprobes:\n  liveness: { evry: 10s }\n",
    )
    .expect("write");
    std::fs::write(dir.join("other.yaml"), "port: 18800\n").expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let expected = format!(
        "error: {}:3:15: `probes.liveness.evry`: unknown key `evry`: did you mean `every`?",
        dir.join("rescue.yaml").display()
    );
    assert!(
        run.stdout.contains(&expected),
        "`{expected}` not in:\n{}",
        run.stdout
    );
    // The good files are still checked against each other.
    assert!(
        run.stdout.contains("conflict: ports: main's block"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("unreadable: 1 file could not be used"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_probe_block_start_would_refuse_is_refused_by_check_too() {
    // `failures` has no meaning for the startup probe: the daemon refused
    // it while `check` passed it (two sets of probe rules that disagreed).
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(
        dir.join("main.yaml"),
        "port: 18789\nprobes:\n  startup:\n    failures: 2\n",
    )
    .expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let expected = format!(
        "error: {}:4:5: `probes.startup.failures`: `failures` has no meaning for the startup probe",
        dir.join("main.yaml").display()
    );
    assert!(
        run.stdout.contains(&expected),
        "`{expected}` not in:\n{}",
        run.stdout
    );
}

#[test]
fn a_command_that_cannot_run_is_an_error_and_one_not_on_path_a_warning() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("main.yaml"), "port: 18789\ncommand: ../gw\n").expect("write");
    std::fs::write(
        dir.join("rescue.yaml"),
        "profile: rescue\nport: 19789\ncommand: no-such-gateway\n",
    )
    .expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let gw = home.path().join("gw");
    for words in [
        format!(
            "error: {}: `command`: instance `main`: command {} does not exist",
            dir.join("main.yaml").display(),
            canonical(home.path()) + "/gw"
        ),
        "command `no-such-gateway` not found on PATH".to_string(),
    ] {
        assert!(
            run.stdout.contains(&words),
            "`{words}` not in:\n{}",
            run.stdout
        );
    }
    // Made executable, it passes.
    std::fs::write(&gw, "#!/bin/sh\n").expect("write gw");
    let executable: std::fs::Permissions = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&gw, executable).expect("chmod");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn a_notify_command_that_cannot_run_is_a_warning() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(
        dir.join("main.yaml"),
        "port: 18789\nnotify: { command: [/nonexistent/ntfy-send, --token, s3cret] }\n",
    )
    .expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(
        run.code, 0,
        "a warning, not an error: {}{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains(
            "warning: main: notify: command /nonexistent/ntfy-send does not exist: its runs would fail"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("s3cret"), "{}", run.stdout);
}

#[test]
fn a_broken_openclaw_config_exits_2_naming_its_line_and_column() {
    let home = home();
    let state = home.path().join(".openclaw");
    std::fs::create_dir(&state).expect("mkdir");
    std::fs::write(
        state.join("openclaw.json"),
        "{\n  gateway: { port: 18789 \n}\n",
    )
    .expect("write");
    let dir = repo("supervisor.d");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let config = canonical(&state.join("openclaw.json"));
    assert!(
        run.stdout
            .contains(&format!("error: {config}:4:1: EOF parsing object")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("instance `main`"), "{}", run.stdout);
}
#[test]
fn a_zero_initial_backoff_passes_check_and_a_zero_cap_is_refused() {
    let home = home();
    let dir = home.path().join("sup");
    std::fs::create_dir(&dir).expect("mkdir");
    let file = dir.join("main.yaml");
    std::fs::write(&file, "port: 18789\nrestart:\n  backoff: { initial: 0s }\n").expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert!(
        !run.stdout.contains("error:") && !run.stdout.contains("backoff"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    std::fs::write(
        &file,
        "port: 18789\nrestart:\n  backoff: { initial: 0s, max: 0s }\n",
    )
    .expect("write");
    let run = check(home.path(), &[dir.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let expected = format!(
        "error: {}:3:27: `restart.backoff.max`: a zero cap turns a crash loop into a hot loop",
        file.display()
    );
    assert!(
        run.stdout.contains(&expected),
        "`{expected}` not in:\n{}",
        run.stdout
    );
}
