//! A reload reads the files off the supervisor's loop: while a read waits
//! (a disk that does not answer; here an OpenClaw config that is a FIFO
//! with nothing written yet), the loop still answers commands and pings the
//! watchdog.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sys::signal::Signal;
use nix::sys::stat::Mode;

use crate::daemon_support::*;

/// The FIFO opened for writing once a reader waits on it: a non-blocking
/// open for writing succeeds only when a reader has it open.
fn open_when_read(fifo: &Path) -> fs::File {
    wait_for("a reader waiting on the FIFO", || {
        fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .ok()
    })
}

#[test]
fn a_reload_waiting_on_a_file_leaves_the_loop_answering() {
    let (daemon, _) = Daemon::gateways(&[("main", "")]);
    daemon.wait_state("main", "running");
    // What `slow`'s config will say, written elsewhere and read back.
    let port = free_base_port();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let text = fs::read_to_string(write_sim_config(elsewhere.path(), "slow", port, ""))
        .expect("the config");
    let home = daemon.path().join("instances").join("slow");
    fs::create_dir_all(&home).expect("slow's home");
    let fifo = home.join("openclaw.json");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let declaration = sim_declaration(daemon.path(), "slow", port, "");
    fs::write(
        daemon.path().join("supervisor.d").join("slow.yaml"),
        declaration,
    )
    .expect("slow's declaration");
    daemon.signal(Signal::SIGHUP);
    // The reload reads slow's config now, and waits: nothing is written yet.
    let mut writer = open_when_read(&fifo);
    // The loop answers meanwhile: `stop` goes through it, and is done.
    let output = daemon.client(&["stop", "main"]);
    assert!(output.status.success(), "{output:?}");
    daemon.wait_state("main", "stopped");
    assert!(
        daemon.instance("slow").is_none(),
        "the reload is still reading"
    );
    // The disk answers: later reads find a plain file (renamed over the
    // FIFO; the waiting read keeps the FIFO), this one the text.
    let plain = home.join("openclaw.json.new");
    fs::write(&plain, &text).expect("the plain config");
    fs::rename(&plain, &fifo).expect("replace the FIFO");
    writer.write_all(text.as_bytes()).expect("write the config");
    drop(writer);
    daemon.wait_state("slow", "running");
}
