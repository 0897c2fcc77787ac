//! `openclaw-supervisor demo` stops on Ctrl-C (SIGINT) or SIGTERM at any
//! step, its scripted SIGKILL and wedge of main included, exits 0, and
//! leaves no gateway behind.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

#[path = "process_support/mod.rs"]
mod process_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const SUPERVISOR: &str = env!("CARGO_BIN_EXE_openclaw-supervisor");
const TAG_VAR: &str = "OPENCLAW_TEST_TAG";
/// A hang guard, not a figure: the demo's steps take seconds.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs the demo until it prints a line containing `step`, sends `signal`,
/// and asserts exit 0 with nothing of the demo left running.
fn stop_the_demo_at(step: &str, signal: Signal) {
    let tag = format!("demo-{}-{step}", std::process::id());
    let child = Command::new(SUPERVISOR)
        .arg("demo")
        .env(TAG_VAR, &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the demo");
    let mut demo = process_support::Swept::new(child, TAG_VAR, &tag);
    let stdout = demo.child().stdout.take().expect("piped");
    let mut lines = process_support::Lines::read(stdout);
    lines.wait_line(&format!("{step:?}"), LIMIT, |line| line.contains(step));
    let pid = Pid::from_raw(demo.child().id() as i32);
    kill(pid, signal).expect("signal the demo");
    let exit = demo
        .wait_exit(LIMIT)
        .unwrap_or_else(|| panic!("the demo did not end after {signal} at {step:?}"));
    lines.take_arrived();
    let seen = &lines.seen;
    assert_eq!(
        exit.code(),
        Some(0),
        "{signal} at {step:?}: {exit:?}\n{}",
        seen.join("\n")
    );
    assert_eq!(
        process_support::tagged(TAG_VAR, &tag),
        Vec::<i32>::new(),
        "{signal} at {step:?} left processes behind"
    );
}

#[test]
fn sigterm_as_soon_as_the_demo_has_laid_out_its_files() {
    stop_the_demo_at("openclaw-supervisor demo:", Signal::SIGTERM);
}

#[test]
fn sigint_while_main_is_starting() {
    stop_the_demo_at("ports:", Signal::SIGINT);
}

#[test]
fn sigterm_right_after_main_was_killed() {
    stop_the_demo_at("SIGKILL sent to main's gateway", Signal::SIGTERM);
}

#[test]
fn sigint_while_main_is_wedged() {
    stop_the_demo_at("main's gateway wedged", Signal::SIGINT);
}

#[test]
fn sigint_once_the_demo_waits_for_the_operator() {
    stop_the_demo_at("press Ctrl-C to stop it", Signal::SIGINT);
}
