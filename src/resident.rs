//! The daemon's resident memory: what glibc's allocator keeps. An idle
//! supervisor's heap is small, and glibc would otherwise give each thread
//! that allocates an arena of its own (a tokio worker, the log and journal
//! writers, the file watcher, the blocking pool: each arena keeps its own
//! free pages) and keep what start-up freed (declarations parsed, configs
//! read, instances resolved). BENCHMARKS.md "At rest" has the figures.

/// One malloc arena for every thread. The daemon mostly waits, so threads
/// seldom allocate at once; glibc's per-thread caches serve the small
/// allocations without the arena's lock. Call before any thread starts.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of glibc's allocator; called
    // before the runtime's threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Give back to the kernel the heap pages nobody uses any more (what
/// start-up allocated and freed). Cheap when there is nothing to give.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of glibc's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How long after launch the start-up's garbage is given back: by then
/// every instance has spawned its gateway and shaken hands with its keeper.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(10);

/// [`trim`] once, [`SETTLED`] after launch (a timer that fires once; an
/// idle supervisor wakes for nothing else than its probes). About 0.8 MiB
/// at 200 instances.
pub fn trim_after_start() {
    tokio::spawn(async {
        tokio::time::sleep(SETTLED).await;
        trim();
    });
}
