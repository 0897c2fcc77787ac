//! The pure core of openclaw-supervisor: what the daemon decides, without
//! doing it. Declarations and their validation, OpenClaw's resolution of a
//! gateway's effective settings, the isolation checks, the lifecycle state
//! machine, the planners (resolution, rescue, limits, memory guard, init)
//! and the control protocol's wire types and codec.
//!
//! This crate has no async runtime, no nix, no HTTP client or server and no
//! process table: its dependencies are declared in its own manifest, so a
//! `tokio::spawn`, a `nix::sys::signal::kill` or an HTTP request here does
//! not compile. It has `libc` for the signal numbers alone (clippy's
//! `disallowed-methods` keeps `libc::waitpid` out; a raw `libc::kill` is
//! review's to catch). The IO it does is reading the files it is given
//! (declarations, OpenClaw configs, token files) and looking a command up on
//! `PATH`.

pub mod breaker;
pub mod declaration;
pub mod holder;
pub mod init;
pub mod isolation;
pub mod lifecycle;
pub mod limits;
pub mod memory_guard;
pub mod openclaw;
pub mod probe;
pub mod protocol;
pub mod rescue;
pub mod resolution;
pub mod secrets;
pub mod spawn;
pub mod unit;
pub mod vendor;

#[cfg(test)]
mod tests {
    /// The names of the crates this crate's manifest depends on (normal
    /// dependencies, the ones that are linked into the daemon).
    fn dependencies(manifest: &str) -> Vec<&str> {
        let mut in_dependencies = false;
        let mut names = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_dependencies = line == "[dependencies]";
            } else if in_dependencies
                && !line.starts_with('#')
                && let Some((name, _)) = line.split_once('=')
            {
                names.push(name.trim());
            }
        }
        names
    }

    #[test]
    fn the_core_has_no_runtime() {
        let names = dependencies(include_str!("../Cargo.toml"));
        assert!(names.contains(&"serde"), "the manifest was read: {names:?}");
        for forbidden in ["tokio", "nix", "hyper", "hyper-util", "sysinfo", "notify"] {
            assert!(
                !names.contains(&forbidden),
                "the pure core must not depend on {forbidden} (ARCHITECTURE.md, \"Pure core\")"
            );
        }
    }

    #[test]
    fn the_manifest_reader_sees_each_dependency() {
        let manifest = "[package]\nname = \"x\"\n\n[dependencies]\n# a note\ntokio = { workspace = true }\nserde = \"1\"\n\n[dev-dependencies]\ntempfile = \"3\"\n";
        assert_eq!(dependencies(manifest), vec!["tokio", "serde"]);
    }
}
