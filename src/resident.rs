//! The daemon's resident memory at rest: what glibc's allocator keeps, and
//! the executable's pages only start-up needed. BENCHMARKS.md "At rest"
//! has the figures.
//!
//! The heap: glibc would give each thread that allocates an arena of its
//! own (each keeps its own free pages) and keep what start-up freed
//! (declarations parsed, configs read, instances resolved).
//!
//! The code: starting a supervisor runs much of its code once (argument
//! parsing, declaration checks, OpenClaw resolution, the first spawns),
//! and the kernel maps a file's pages around each fault, so after start
//! nearly the whole executable is resident though a supervisor at rest
//! runs a small part of it: timers, the reaper, the control socket,
//! probes. Once start-up is over the daemon drops its executable's clean
//! pages from its page tables (`madvise(MADV_DONTNEED)`). Nothing is lost
//! and nothing is read from disk: they are unmodified copies of the file,
//! they stay in the page cache, and a page needed again is mapped back on
//! its next use (a minor fault, about a microsecond).
//!
//! Only a mapping with no private page may be dropped: `MADV_DONTNEED` on
//! a private file mapping brings back the *file's* bytes, so on relocated
//! data made read-only after start (`PT_GNU_RELRO`: `r--p`, but written by
//! the dynamic loader) it would undo the relocations. `/proc/self/smaps`
//! says per mapping how much is private: `Anonymous:` (in memory) and
//! `Swap:` (a private page swapped out counts there only). Only mappings
//! with neither are chosen, and only read-only ones, which nothing can
//! write to between the reading and the advice.

use std::io;
use std::path::Path;

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

/// The ranges (start, end) of `exe`'s mappings in a `/proc/self/smaps`
/// text that may be dropped: not writable, and no private page in them,
/// in memory or swapped out (`Anonymous: 0 kB` and `Swap: 0 kB`). A
/// mapping missing either line is not chosen.
pub fn clean_code_ranges(smaps: &str, exe: &Path) -> Vec<(usize, usize)> {
    /// The mapping being read: its range, whether it is a candidate, and
    /// which of its two counts said zero so far.
    struct Reading {
        range: (usize, usize),
        candidate: bool,
        no_anonymous: bool,
        no_swap: bool,
    }
    let exe = exe.as_os_str().as_encoded_bytes();
    let mut chosen = Vec::new();
    let mut current: Option<Reading> = None;
    let mut close = |reading: Option<Reading>| {
        if let Some(r) = reading
            && r.candidate
            && r.no_anonymous
            && r.no_swap
        {
            chosen.push(r.range);
        }
    };
    for line in smaps.lines() {
        if let Some((range, candidate)) = mapping_header(line, exe) {
            close(current.take());
            current = Some(Reading {
                range,
                candidate,
                no_anonymous: false,
                no_swap: false,
            });
            continue;
        }
        let Some(reading) = current.as_mut() else {
            continue;
        };
        let zero = |amount: &str| amount.trim() == "0 kB";
        if let Some(amount) = line.strip_prefix("Anonymous:") {
            reading.no_anonymous = zero(amount);
        } else if let Some(amount) = line.strip_prefix("Swap:") {
            reading.no_swap = zero(amount);
        }
    }
    close(current);
    chosen
}

/// A smaps header line (`start-end perms offset dev inode path`): its
/// range, and whether it is a read-only mapping of `exe`. None for a
/// field line (`Key: value`).
fn mapping_header(line: &str, exe: &[u8]) -> Option<((usize, usize), bool)> {
    // the path may hold spaces: split off the first five fields only
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?.as_bytes();
    let path = fields.nth(3).unwrap_or("").trim_start();
    let read_only = perms.len() == 4 && perms[0] == b'r' && perms[1] == b'-';
    Some((
        (start, end),
        start < end && read_only && path.as_bytes() == exe,
    ))
}

/// Drop this process's executable's clean pages from its resident set
/// (see the module text); the bytes advised. Errors: `/proc` unreadable.
pub fn release_own_code() -> io::Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut advised = 0;
    for (start, end) in clean_code_ranges(&smaps, &exe) {
        // SAFETY: the range is a whole read-only mapping of this process's
        // executable with no private page in memory or in swap (read from
        // /proc/self/smaps just now; a read-only mapping cannot gain one),
        // so every page in it equals the file's bytes and faults back from
        // the page cache.
        let done =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
        advised += end - start;
    }
    Ok(advised)
}

/// How long after launch start-up is over: by then every instance has
/// spawned its gateway and shaken hands with its keeper.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(10);

/// Once, [`SETTLED`] after launch (a timer that fires once; an idle
/// supervisor wakes for nothing else than its probes): [`trim`] the heap
/// and [`release_own_code`].
pub fn settle_after_start() {
    tokio::spawn(async {
        tokio::time::sleep(SETTLED).await;
        trim();
        match release_own_code() {
            Ok(bytes) => tracing::debug!(bytes, "start-up code released"),
            Err(err) => tracing::debug!("start-up code stays resident: {err}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/opt/bin/openclaw-supervisor";

    /// A smaps text: (header, Anonymous kB) per mapping, none swapped.
    fn smaps(rows: &[(&str, Option<u32>)]) -> String {
        let rows: Vec<_> = rows.iter().map(|(h, a)| (*h, *a, Some(0))).collect();
        smaps_swapped(&rows)
    }

    /// A smaps text: (header, Anonymous kB, Swap kB) per mapping.
    fn smaps_swapped(rows: &[(&str, Option<u32>, Option<u32>)]) -> String {
        let mut text = String::new();
        for (header, anonymous, swap) in rows {
            text.push_str(header);
            text.push_str("\nSize:               2048 kB\nRss:                 512 kB\n");
            if let Some(kb) = anonymous {
                text.push_str(&format!("Anonymous:          {kb} kB\n"));
            }
            text.push_str("AnonHugePages:         0 kB\n");
            if let Some(kb) = swap {
                text.push_str(&format!(
                    "Swap:               {kb} kB\nSwapPss:            {kb} kB\n"
                ));
            }
            text.push_str("VmFlags: rd mr mw me dw sd\n");
        }
        text
    }

    #[test]
    fn a_mapping_with_private_pages_in_swap_is_not_chosen() {
        // RELRO whose relocated pages are all swapped out: Anonymous says 0
        let text = smaps_swapped(&[
            (
                "55d0c0a00000-55d0c0b00000 r--p 00a00000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(0),
                Some(8),
            ),
            (
                "55d0c0200000-55d0c0a00000 r-xp 00200000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(0),
                None,
            ),
            (
                "55d0c0000000-55d0c0200000 r--p 00000000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(0),
                Some(0),
            ),
        ]);
        assert_eq!(
            clean_code_ranges(&text, Path::new(EXE)),
            vec![(0x55d0c0000000, 0x55d0c0200000)]
        );
    }

    #[test]
    fn only_clean_read_only_mappings_of_the_executable_are_chosen() {
        let text = smaps(&[
            // headers and constants
            (
                "55d0c0000000-55d0c0200000 r--p 00000000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(0),
            ),
            // code
            (
                "55d0c0200000-55d0c0a00000 r-xp 00200000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(0),
            ),
            // RELRO: read-only now, but the loader wrote relocations in it
            (
                "55d0c0a00000-55d0c0b00000 r--p 00a00000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(120),
            ),
            // data
            (
                "55d0c0b00000-55d0c0b10000 rw-p 00b00000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(0),
            ),
            ("55d0c0b10000-55d0c0b20000 rw-p 00000000 00:00 0 ", Some(4)),
            (
                "55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0                          [heap]",
                Some(100),
            ),
            (
                "7f0000000000-7f0000100000 r-xp 00000000 fd:00 77 /usr/lib/libc.so.6",
                Some(0),
            ),
            // a longer name that starts with the executable's
            (
                "7f0000200000-7f0000300000 r-xp 00000000 fd:00 99 /opt/bin/openclaw-supervisor-keeper",
                Some(0),
            ),
            // code patched by a debugger: has a private page
            (
                "7f0000300000-7f0000400000 r-xp 00000000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(4),
            ),
            // no Anonymous line: not chosen
            (
                "7f0000400000-7f0000500000 r-xp 00000000 fd:00 123 /opt/bin/openclaw-supervisor",
                None,
            ),
            // executable but writable (text relocations): never
            (
                "7f0000500000-7f0000600000 rwxp 00000000 fd:00 123 /opt/bin/openclaw-supervisor",
                Some(0),
            ),
        ]);
        assert_eq!(
            clean_code_ranges(&text, Path::new(EXE)),
            vec![
                (0x55d0c0000000, 0x55d0c0200000),
                (0x55d0c0200000, 0x55d0c0a00000)
            ]
        );
        assert!(clean_code_ranges(&text, Path::new("/opt/bin/other")).is_empty());
    }

    #[test]
    fn paths_with_spaces_and_deleted_executables_are_matched_whole() {
        let text = smaps(&[
            (
                "7f0000400000-7f0000500000 r-xp 00000000 fd:00 55 /opt/bin/my dir/openclaw-supervisor",
                Some(0),
            ),
            (
                "00400000-00500000 r-xp 00000000 fd:00 1 /opt/bin/sup (deleted)",
                Some(0),
            ),
        ]);
        let rows: &[(&str, &[(usize, usize)])] = &[
            (
                "/opt/bin/my dir/openclaw-supervisor",
                &[(0x7f0000400000, 0x7f0000500000)],
            ),
            ("/opt/bin/my dir", &[]),
            ("/opt/bin/sup (deleted)", &[(0x400000, 0x500000)]),
            ("/opt/bin/sup", &[]),
        ];
        for (exe, want) in rows {
            assert_eq!(clean_code_ranges(&text, Path::new(exe)), *want, "{exe}");
        }
        assert!(
            clean_code_ranges("garbage\n\n1-2 r\nAnonymous: 0 kB\n", Path::new("/x")).is_empty()
        );
    }

    #[test]
    fn releasing_the_code_keeps_it_working_and_leaves_relro_alone() {
        // This test process's own code: dropped, then run again.
        let exe = std::fs::read_link("/proc/self/exe").expect("exe");
        let advised = release_own_code().expect("madvise");
        assert!(advised > 0);
        // the code released above runs on, and is chosen again (clean)
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let again: usize = clean_code_ranges(&smaps, &exe)
            .iter()
            .map(|(s, e)| e - s)
            .sum();
        assert!(again > 0);
        // and the relocated data made read-only (RELRO) is not chosen
        let exe_bytes = exe.as_os_str().as_encoded_bytes();
        let read_only = smaps
            .lines()
            .filter(|line| matches!(mapping_header(line, exe_bytes), Some((_, true))))
            .count();
        assert!(read_only > clean_code_ranges(&smaps, &exe).len());
        // relocated data still points where it should: a formatted string
        // goes through vtables and function pointers in RELRO
        assert_eq!(format!("{:?}", Some(vec![1u8])), "Some([1])");
    }
}
