//! Memory the simulator holds on request (`--sim-allocate-mib`,
//! `--sim-grow-mib-per-sec`), so the supervisor's memory guard has a tree
//! whose resident memory really grows: every page is written, not just
//! reserved.

use std::time::Duration;

use super::output::log;

const MIB: usize = 1024 * 1024;
/// Growth stops here, so a forgotten flag cannot take the host down.
pub const GROW_CAP_MIB: u32 = 2048;
/// Growth comes in this many steps a second.
const STEPS_PER_SEC: u32 = 10;

/// A block of `mib` MiB with every page written (resident, not reserved).
fn resident_block(mib: usize) -> Vec<u8> {
    // A fill other than zero: a zeroed allocation may come untouched from
    // the kernel and add nothing to RSS.
    std::hint::black_box(vec![0xA5u8; mib * MIB])
}

/// Allocates `allocate_mib` at once, then (on a thread) `grow_mib_per_sec`
/// more each second up to [`GROW_CAP_MIB`] in all; holds it all until exit.
pub(super) fn start(allocate_mib: u32, grow_mib_per_sec: u32) {
    if allocate_mib > 0 {
        let block = resident_block(allocate_mib as usize);
        log(&format!("sim: holding {allocate_mib} MiB as asked"));
        // Held until the process exits.
        std::mem::forget(block);
    }
    if grow_mib_per_sec == 0 {
        return;
    }
    log(&format!(
        "sim: growing by {grow_mib_per_sec} MiB a second as asked (up to {GROW_CAP_MIB} MiB)"
    ));
    std::thread::spawn(move || {
        let step_kib = (grow_mib_per_sec as usize * 1024 / STEPS_PER_SEC as usize).max(4);
        let mut held: Vec<Vec<u8>> = Vec::new();
        let mut total_kib = allocate_mib as usize * 1024;
        while total_kib + step_kib <= GROW_CAP_MIB as usize * 1024 {
            held.push(std::hint::black_box(vec![0xA5u8; step_kib * 1024]));
            total_kib += step_kib;
            std::thread::sleep(Duration::from_secs(1) / STEPS_PER_SEC);
        }
        // At the cap: keep what is held until exit.
        std::mem::forget(held);
    });
}
