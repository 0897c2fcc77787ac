//! A gateway simulator that speaks the real openclaw gateway contract.
//! See `openclaw_supervisor::simulator` and the README's "Gateway simulator".

fn main() -> std::process::ExitCode {
    openclaw_supervisor::simulator::main()
}
