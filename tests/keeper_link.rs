//! The keeper's binary is linked statically where the toolchain has glibc's
//! static archives (build.rs): no dynamic loader, so a keeper's private
//! memory holds no relocations of shared libraries (BENCHMARKS.md "At rest").
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

use std::process::Command;

const KEEPER: &str = env!("CARGO_BIN_EXE_openclaw-supervisor-keeper");

/// Whether an ELF64 little-endian file asks for a program interpreter (the
/// dynamic loader): a `PT_INTERP` program header.
fn has_interpreter(elf: &[u8]) -> bool {
    let read = |at: usize, len: usize| -> u64 {
        elf[at..at + len]
            .iter()
            .rev()
            .fold(0, |value, byte| (value << 8) | u64::from(*byte))
    };
    assert_eq!(&elf[..4], b"\x7fELF", "an ELF file");
    assert_eq!(elf[4], 2, "64-bit");
    let (table, size, count) = (
        read(0x20, 8) as usize,
        read(0x36, 2) as usize,
        read(0x38, 2),
    );
    (0..count as usize).any(|n| read(table + n * size, 4) == 3)
}

#[test]
fn the_keeper_is_linked_statically_where_glibc_has_static_archives() {
    let elf = std::fs::read(KEEPER).expect("the keeper's binary");
    match option_env!("OPENCLAW_SUPERVISOR_KEEPER_LINK") {
        Some("static") => assert!(!has_interpreter(&elf), "{KEEPER} has a PT_INTERP"),
        // No libc.a on this machine, or OPENCLAW_SUPERVISOR_DYNAMIC_KEEPER.
        _ => assert!(
            has_interpreter(&elf),
            "{KEEPER}: a dynamic build without PT_INTERP"
        ),
    }
    // And it runs: without arguments it prints its usage and exits 2.
    let output = Command::new(KEEPER).output().expect("run the keeper");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("usage: openclaw-supervisor-keeper keep")
    );
}

#[test]
fn the_supervisor_itself_stays_dynamic() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_openclaw-supervisor")).expect("the binary");
    assert!(has_interpreter(&elf));
}
