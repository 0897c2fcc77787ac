use std::ffi::OsString;
use std::path::Path;

mod cli;

fn main() -> std::process::ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The gateway simulator is built in: called through a link named
    // `openclaw-gateway-sim`, or as `openclaw-supervisor simulate-gateway ...`,
    // this binary is the simulator (so `cargo run -- demo` needs nothing else).
    let called_as = args
        .first()
        .and_then(|arg0| Path::new(arg0).file_name())
        .map(|name| name.to_os_string());
    let reexec = vec![OsString::from("simulate-gateway")];
    if called_as.as_deref() == Some("openclaw-gateway-sim".as_ref()) {
        return openclaw_supervisor::simulator::main_with(args, reexec);
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
        return openclaw_supervisor::simulator::main_with(sim_args, reexec);
    }
    cli::main()
}
