//! The keeper's command line after `keep`, as the spawner writes it:
//! `[--wire N] --socket S --spool F [--cgroup DIR] -- PROGRAM ARGS...`.

use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The wire version the supervisor speaks (`--wire N`).
    pub wire: Option<u32>,
    pub socket: PathBuf,
    pub spool: PathBuf,
    pub cgroup: Option<PathBuf>,
    pub program: OsString,
    pub args: Vec<OsString>,
}

/// The keeper's arguments (after `keep`), as the spawner writes them.
pub fn parse(args: &[OsString]) -> Result<Args, String> {
    let mut wire = None;
    let mut socket = None;
    let mut spool = None;
    let mut cgroup = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.to_str() {
            Some("--socket") => socket = Some(value("--socket")?),
            Some("--spool") => spool = Some(value("--spool")?),
            Some("--cgroup") => cgroup = Some(value("--cgroup")?),
            Some("--wire") => {
                let text = value("--wire")?;
                wire = Some(
                    text.to_str()
                        .and_then(|text| text.parse().ok())
                        .ok_or("--wire needs a number")?,
                );
            }
            Some("--") => {
                let program = rest.next().ok_or("no program after --")?.clone();
                return Ok(Args {
                    wire,
                    socket: socket.ok_or("--socket is missing")?,
                    spool: spool.ok_or("--spool is missing")?,
                    cgroup,
                    program,
                    args: rest.cloned().collect(),
                });
            }
            _ => return Err(format!("unexpected argument {}", arg.to_string_lossy())),
        }
    }
    Err("no -- PROGRAM".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_parse_or_say_what_is_wrong() {
        let parsed = parse(&os(&[
            "--socket", "/s", "--spool", "/p", "--cgroup", "/c", "--", "/bin/gw", "--port", "1",
        ]));
        assert_eq!(
            parsed,
            Ok(Args {
                wire: None,
                socket: "/s".into(),
                spool: "/p".into(),
                cgroup: Some("/c".into()),
                program: "/bin/gw".into(),
                args: os(&["--port", "1"]),
            })
        );
        let with_wire = parse(&os(&[
            "--wire", "1", "--socket", "/s", "--spool", "/p", "--", "/gw",
        ]));
        assert_eq!(with_wire.map(|args| args.wire), Ok(Some(1)));
        let rows: [(&[&str], &str); 6] = [
            (
                &[
                    "--wire", "x", "--socket", "/s", "--spool", "/p", "--", "/gw",
                ],
                "--wire needs a number",
            ),
            (&["--socket", "/s", "--", "/bin/gw"], "--spool is missing"),
            (&["--spool", "/p", "--", "/bin/gw"], "--socket is missing"),
            (&["--socket", "/s", "--spool", "/p"], "no -- PROGRAM"),
            (
                &["--socket", "/s", "--spool", "/p", "--"],
                "no program after --",
            ),
            (&["--bogus"], "unexpected argument --bogus"),
        ];
        for (args, why) in rows {
            assert_eq!(parse(&os(args)), Err(why.to_string()), "{args:?}");
        }
    }
}
