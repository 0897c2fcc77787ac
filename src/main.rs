use std::ffi::OsString;
use std::path::Path;

mod cli;

use openclaw_supervisor::simulator::Embedding;
use openclaw_supervisor::{process, reexec};

fn main() -> std::process::ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The gateway simulator is built in: called through a link named
    // `openclaw-gateway-sim`, or as `openclaw-supervisor simulate-gateway ...`,
    // this binary is the simulator (so `cargo run -- demo` needs nothing else).
    let called_as = args
        .first()
        .and_then(|arg0| Path::new(arg0).file_name())
        .map(|name| name.to_os_string());
    let embedding = Embedding {
        reexec_prefix: vec![OsString::from("simulate-gateway")],
        port_holder: process::port_holder,
    };
    if called_as.as_deref() == Some("openclaw-gateway-sim".as_ref()) {
        return openclaw_supervisor::simulator::main_with(args, embedding);
    }
    // A gateway's keeper (`src/keeper/program.rs`): no runtime, no clap,
    // nothing of the daemon; the spawner starts it with its connection as
    // fd 3.
    if args.get(1).map(OsString::as_os_str) == Some("keep".as_ref()) {
        return openclaw_supervisor::keeper::program::main(&args[2..]);
    }
    if args.get(1).map(OsString::as_os_str) == Some("simulate-gateway".as_ref()) {
        let mut sim_args = vec![OsString::from("openclaw-gateway-sim")];
        sim_args.extend(args.into_iter().skip(2));
        return openclaw_supervisor::simulator::main_with(sim_args, embedding);
    }
    if args.get(1).map(OsString::as_os_str) == Some(reexec::CHECK_SUBCOMMAND.as_ref()) {
        return reexec_check(args.get(2));
    }
    cli::main()
}

/// `openclaw-supervisor reexec-check FILE` (hidden): whether this binary
/// reads the state a running supervisor saved before re-executing it. Exit
/// 0, or 1 with the reason on stderr. The running supervisor asks this
/// before its exec, so a binary that cannot read the state is never exec'd.
fn reexec_check(file: Option<&OsString>) -> std::process::ExitCode {
    use std::io::Write;
    let outcome = match file {
        None => Err(format!("usage: {} FILE", reexec::CHECK_SUBCOMMAND)),
        Some(file) => std::fs::read(file)
            .map_err(|err| format!("cannot read {}: {err}", Path::new(file).display()))
            .and_then(|bytes| reexec::read(&bytes).map_err(|err| err.to_string())),
    };
    match outcome {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(why) => {
            let _ = writeln!(std::io::stderr(), "{why}");
            std::process::ExitCode::from(1)
        }
    }
}
