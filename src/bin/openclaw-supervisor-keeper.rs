//! A gateway's keeper on its own: the same program as `openclaw-supervisor
//! keep`, in a binary that links nothing of the daemon, so each keeper's
//! private memory (the pages the loader relocates, its heap and stack)
//! stays small. The supervisor runs it when it lies beside its own binary
//! (`cargo install` puts it there) and falls back to `openclaw-supervisor
//! keep` otherwise (`cargo run`). See `openclaw_supervisor::keeper`.

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|arg| arg.to_str()) {
        Some("keep") => openclaw_supervisor::keeper::program::main(&args[2..]),
        _ => {
            eprintln!(
                "usage: openclaw-supervisor-keeper keep --socket S --spool F [--cgroup DIR] -- PROGRAM ARGS...\n(started by openclaw-supervisor, one per instance)"
            );
            std::process::ExitCode::from(2)
        }
    }
}
