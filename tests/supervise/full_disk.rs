//! A full state dir: replies say what happened, the intent is saved once
//! it can be, dropped log lines are counted in status.

use std::fs;

use crate::daemon_support::*;

/// Fill the filesystem under `dir` (seen through `/proc/PID/root`): a
/// filler file grows until ENOSPC, then `topped` files grow into the last
/// pages they already have, so no byte more fits anywhere.
fn fill(dir: &std::path::Path, topped: &[&std::path::Path]) {
    use std::io::Write;
    let no_space = |err: &std::io::Error| err.raw_os_error() == Some(libc::ENOSPC);
    let mut filler = fs::File::create(dir.join("filler")).expect("the filler");
    let chunk = vec![b'x'; 64 * 1024];
    let err = loop {
        if let Err(err) = filler.write_all(&chunk) {
            break err;
        }
    };
    assert!(no_space(&err), "the filler ends on ENOSPC: {err}");
    for path in topped {
        let mut file = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .expect("a file to top up");
        let err = loop {
            if let Err(err) = file.write_all(b"#") {
                break err;
            }
        };
        assert!(no_space(&err), "{}: {err}", path.display());
    }
}

#[test]
fn a_full_state_dir_is_said_in_replies_saved_later_and_counted_in_status() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "skipped: a real full disk is a small tmpfs in a mount namespace of the supervisor's own, which needs root"
        );
        return;
    }
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let (mut daemon, _) = Daemon::prepare(&[("q", "")]);
    fs::create_dir_all(&daemon.state_dir).expect("the state dir");
    let target = CString::new(daemon.state_dir.as_os_str().as_bytes()).expect("a C path");
    let (root, tmpfs) = (c"/", c"tmpfs");
    let options = c"size=1m,mode=0700";
    // The state dir is a 1 MiB tmpfs that only the supervisor (and its
    // children) see: it lives in a mount namespace of their own.
    daemon.start_with_setup(|command| unsafe {
        command.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    tmpfs.as_ptr(),
                    target.as_ptr(),
                    tmpfs.as_ptr(),
                    0,
                    options.as_ptr().cast(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    });
    daemon.wait_state("q", "running");
    // The supervisor's view of its state dir.
    let view = std::path::PathBuf::from(format!("/proc/{}/root", daemon.pid()))
        .join(daemon.state_dir.strip_prefix("/").expect("absolute"));
    let log = view.join("logs/q.log");
    let intent = || fs::read_to_string(view.join("intent.json")).unwrap_or_default();
    assert!(log.exists(), "q's output is captured on the tmpfs");

    fill(&view, &[&log]);
    let stop = daemon.client(&["stop", "q"]);
    let said = String::from_utf8_lossy(&stop.stdout).into_owned();
    assert!(stop.status.success(), "q was stopped: {said}");
    assert!(
        said.contains("q: stopping; the stop could not be saved (No space left on device"),
        "{said}"
    );
    daemon.wait_state("q", "stopped");
    assert!(!intent().contains("\"q\""), "not saved: {}", intent());

    // Space returns: the stop is saved without another command.
    fs::remove_file(view.join("filler")).expect("free the space");
    wait_for("the stop to be saved", || {
        intent().contains("\"q\"").then_some(())
    });

    fill(&view, &[&log]);
    let start = daemon.client(&["start", "q"]);
    let said = String::from_utf8_lossy(&start.stdout).into_owned();
    assert!(start.status.success(), "q was started: {said}");
    assert!(
        said.contains("q: starting; the start could not be saved (No space left on device"),
        "{said}"
    );
    daemon.wait_state("q", "running");
    // Its boot lines found no room in its log, nor do those of a restart.
    let dropped_lines = || {
        daemon
            .instance("q")
            .and_then(|q| q["dropped_log_lines"].as_u64())
    };
    let booted = wait_for("dropped lines in status", || {
        dropped_lines().filter(|n| *n > 0)
    });
    let pid = daemon.instance_pid("q");
    assert!(daemon.client(&["restart", "q"]).status.success());
    daemon.wait_new_pid("q", pid);
    daemon.wait_state("q", "running");
    let dropped = wait_for("the restart's lines dropped too", || {
        dropped_lines().filter(|n| *n >= booted + 2)
    });
    let table = String::from_utf8_lossy(&daemon.client(&["status"]).stdout).into_owned();
    assert!(table.contains("q: "), "{table}");
    assert!(
        table.contains(" output lines dropped: logs/q.log"),
        "{table}"
    );
    let json = daemon.status_json();
    assert!(json["instances"][0]["dropped_log_lines"].as_u64() >= Some(dropped));
    // One warning per episode of failed writes (an episode ends at the next
    // line written: q's exit removed its pid record, freeing a page), not
    // one per line.
    let text = daemon.log_text();
    let episodes = text.matches("cannot write a gateway's log").count();
    let ended = text.matches("a gateway's log can be written again").count();
    assert_eq!(episodes, ended + 1, "one warning an episode:\n{text}");

    fs::remove_file(view.join("filler")).expect("free the space again");
    wait_for("the start to be saved", || {
        (!intent().contains("\"q\"")).then_some(())
    });
    // The next line is written, and the episode's end is logged.
    assert!(daemon.client(&["restart", "q"]).status.success());
    wait_for("the log to be writable again", || {
        daemon
            .log_text()
            .contains("a gateway's log can be written again")
            .then_some(())
    });
}
