//! Giving back the code pages that only start-up needed.
//!
//! Starting a supervisor runs much of its code once (argument parsing,
//! declaration checks, OpenClaw resolution, the first spawns), and the
//! kernel maps a file's pages around each fault (64 KiB at a time), so
//! after start nearly the whole executable is resident though a
//! supervisor at rest runs a small part of it: timers, the reaper, the
//! control socket, probes. Once start-up is over the daemon asks the
//! kernel to take its executable's read-only pages out of its page tables
//! (`madvise(MADV_PAGEOUT)`). Nothing is lost: they are clean copies of
//! the file, and a page that is needed again comes back from the page
//! cache on its next use (a minor fault, microseconds). Pages another
//! process maps too (a `status` client of the same binary running at that
//! moment) are left as they are. BENCHMARKS.md has the figures.

use std::io;
use std::path::Path;

/// The ranges (start, end) of the read-only mappings of `exe` in a
/// `/proc/self/maps` text: its code and constants, never a writable
/// mapping (relocated data, `.bss`).
pub fn read_only_ranges(maps: &str, exe: &Path) -> Vec<(usize, usize)> {
    let exe = exe.as_os_str().as_encoded_bytes();
    maps.lines()
        .filter_map(|line| {
            // address perms offset dev inode path (the path may hold spaces)
            let mut fields = line.splitn(6, ' ');
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3)?.trim_start();
            if path.as_bytes() != exe || perms.as_bytes().get(1) != Some(&b'-') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (start < end).then_some((start, end))
        })
        .collect()
}

/// Take this process's executable's read-only pages out of its resident
/// set; the bytes advised. Errors: `/proc` unreadable, or a kernel before
/// 5.4 (no `MADV_PAGEOUT`: `EINVAL`).
pub fn page_out_own_code() -> io::Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut advised = 0;
    for (start, end) in read_only_ranges(&maps, &exe) {
        // SAFETY: the range is a whole mapping of this process read from
        // /proc/self/maps; MADV_PAGEOUT only drops clean file pages from
        // the page tables (they fault back from the page cache), so no
        // memory this program uses changes.
        let done =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
        advised += end - start;
    }
    Ok(advised)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0000000-55d0c0200000 r--p 00000000 fd:00 123 /opt/bin/openclaw-supervisor
55d0c0200000-55d0c0a00000 r-xp 00200000 fd:00 123 /opt/bin/openclaw-supervisor
55d0c0a00000-55d0c0b00000 r--p 00a00000 fd:00 123 /opt/bin/openclaw-supervisor
55d0c0b00000-55d0c0b10000 rw-p 00b00000 fd:00 123 /opt/bin/openclaw-supervisor
55d0c0b10000-55d0c0b20000 rw-p 00000000 00:00 0 
55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000100000 r-xp 00000000 fd:00 77 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000200000-7f0000300000 r-xp 00000000 fd:00 99 /opt/bin/openclaw-supervisor-keeper
7f0000400000-7f0000500000 r-xp 00000000 fd:00 55 /opt/bin/my dir/openclaw-supervisor
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
";

    #[test]
    fn only_the_executables_read_only_mappings_are_chosen() {
        let rows: &[(&str, &[(usize, usize)])] = &[
            (
                "/opt/bin/openclaw-supervisor",
                &[
                    (0x55d0c0000000, 0x55d0c0200000),
                    (0x55d0c0200000, 0x55d0c0a00000),
                    (0x55d0c0a00000, 0x55d0c0b00000),
                ],
            ),
            // a path with a space, and a path that is a prefix of another
            (
                "/opt/bin/my dir/openclaw-supervisor",
                &[(0x7f0000400000, 0x7f0000500000)],
            ),
            (
                "/opt/bin/openclaw-supervisor-keeper",
                &[(0x7f0000200000, 0x7f0000300000)],
            ),
            ("/opt/bin/other", &[]),
        ];
        for (exe, want) in rows {
            assert_eq!(read_only_ranges(MAPS, Path::new(exe)), *want, "{exe}");
        }
    }

    #[test]
    fn a_replaced_executable_is_still_found_by_its_deleted_name() {
        let maps = "00400000-00500000 r-xp 00000000 fd:00 1 /opt/bin/sup (deleted)\n";
        assert_eq!(
            read_only_ranges(maps, Path::new("/opt/bin/sup (deleted)")),
            vec![(0x400000, 0x500000)]
        );
        assert!(read_only_ranges("garbage\n\n1-2 r\n", Path::new("/x")).is_empty());
    }

    #[test]
    fn paging_out_keeps_the_code_working() {
        // This test process's own code: advised away, then run again.
        let advised = page_out_own_code().expect("MADV_PAGEOUT on this kernel");
        assert!(advised > 0);
        // still mapped, and this code (paged out above) runs on
        let exe = std::fs::read_link("/proc/self/exe").expect("exe");
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        let total: usize = read_only_ranges(&maps, &exe).iter().map(|(s, e)| e - s).sum();
        assert_eq!(total, advised);
    }
}
