//! Links the keeper binary (`openclaw-supervisor-keeper`, one process per
//! instance) statically, where the C toolchain has glibc's static archives.
//!
//! A dynamically linked keeper pays the loader's relocations of its own
//! data, libc's and libgcc's in private memory, in every keeper (about 50
//! KiB each; BENCHMARKS.md "Keepers"). A static-pie keeper still relocates
//! its own data at start (20 KiB more than a fixed-address one); a static,
//! fixed-address keeper relocates nothing. The price is that the keeper's
//! code and data sit at the same address in every keeper (its heap and
//! stack are still randomized); a keeper reads nothing but its supervisor
//! (same user, checked) and copies its gateway's output as bytes.
//! Cargo has no per-binary `-C target-feature=+crt-static`, so this gives
//! that one binary `-static -no-pie` and a directory of linker scripts that
//! stand in for the shared libraries rustc names (`-lgcc_s`, `-lc`, ...) and
//! point at their static archives. Everything else links as before. Where
//! an archive is missing (no `libc.a`), the keeper stays dynamic: it works
//! the same, it only costs more.

use std::path::{Path, PathBuf};
use std::process::Command;

const KEEPER: &str = "openclaw-supervisor-keeper";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Whatever decides the keeper's linking, before any early return: a
    // build after one of these changed links it again.
    println!("cargo:rerun-if-env-changed=OPENCLAW_SUPERVISOR_DYNAMIC_KEEPER");
    println!("cargo:rerun-if-env-changed=CC");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    // The archives are found through the host's C compiler: a cross build
    // keeps the dynamic keeper.
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    if !linux_gnu || !native || std::env::var_os("OPENCLAW_SUPERVISOR_DYNAMIC_KEEPER").is_some() {
        return;
    }
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let shims = out_dir.join("static-keeper");
    match write_shims(&shims) {
        Some(()) => {
            // What tests/keeper_link.rs checks the binary against.
            println!("cargo:rustc-env=OPENCLAW_SUPERVISOR_KEEPER_LINK=static");
            println!("cargo:rustc-link-arg-bin={KEEPER}=-L{}", shims.display());
            println!("cargo:rustc-link-arg-bin={KEEPER}=-static");
            println!("cargo:rustc-link-arg-bin={KEEPER}=-no-pie");
        }
        None => {
            println!("cargo:warning=no static glibc (libc.a) found: {KEEPER} is linked dynamically")
        }
    }
}

/// The linker scripts, or `None` when an archive is missing.
#[allow(clippy::disallowed_methods)] // A build script asks the C compiler; no daemon here.
fn write_shims(dir: &Path) -> Option<()> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let archive = |name: &str| -> Option<PathBuf> {
        let output = Command::new(&compiler)
            .arg(format!("-print-file-name={name}"))
            .output()
            .ok()?;
        let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
        // The compiler answers the bare name when it has no such file.
        (output.status.success() && path.is_absolute() && path.is_file()).then_some(path)
    };
    let runtime = format!(
        "GROUP ( {} {} {} )\n",
        archive("libc.a")?.display(),
        archive("libgcc_eh.a")?.display(),
        archive("libgcc.a")?.display()
    );
    std::fs::create_dir_all(dir).ok()?;
    for name in ["c", "gcc_s"] {
        std::fs::write(dir.join(format!("lib{name}.so")), &runtime).ok()?;
    }
    for name in ["m", "pthread", "dl", "rt", "util"] {
        let script = format!(
            "INPUT ( {} )\n",
            archive(&format!("lib{name}.a"))?.display()
        );
        std::fs::write(dir.join(format!("lib{name}.so")), script).ok()?;
    }
    Some(())
}
