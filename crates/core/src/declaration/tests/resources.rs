//! The keys about an instance's resources: the memory guard and the
//! limits, as tables of what is written and what it reads as (or the key
//! and words of its error).

use std::fmt::Debug;

use super::super::*;
use super::parse_text;

/// One row: the text, then what `read` finds in the declaration, or the
/// key the error names and words of its message.
pub(super) type Row<T> = (&'static str, Result<T, (&'static str, &'static str)>);

/// Every row that does not read as expected, all reported at once.
pub(super) fn check_rows<T: PartialEq + Debug>(rows: &[Row<T>], read: impl Fn(&Declaration) -> T) {
    let mut failures = Vec::new();
    for (text, expected) in rows {
        match (parse_text("/d/main.yaml", text), expected) {
            (Ok(loaded), Ok(want)) => {
                let got = read(&loaded.declaration);
                if got != *want {
                    failures.push(format!("{text:?}: {got:?}"));
                }
            }
            (Err(DeclarationError::Invalid { key, message, .. }), Err((want_key, words)))
                if key.as_deref() == Some(*want_key) && message.contains(words) => {}
            (got, _) => failures.push(format!("{text:?}: {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_memory_guard_takes_a_size_and_a_duration_and_refuses_nonsense() {
    // Written, then the size in bytes and `for` in seconds, or the key and
    // words of the error.
    let rows: &[Row<Option<(u64, u64)>>] = &[
        (
            "restart: { memory_above: { size: 1.5GiB, for: 5m } }\n",
            Ok(Some((1_610_612_736, 300))),
        ),
        (
            "restart: { memory_above: { size: 512 MiB, for: 1s } }\n",
            Ok(Some((536_870_912, 1))),
        ),
        (
            "restart: { memory_above: { size: 1048576, for: 90s } }\n",
            Ok(Some((1_048_576, 90))),
        ),
        (
            "restart: { memory_above: { size: 0, for: 5m } }\n",
            Err(("restart.memory_above.size", "a zero size")),
        ),
        (
            "restart: { memory_above: { size: 1GiB, for: 500ms } }\n",
            Err(("restart.memory_above.for", "minimum of 1s")),
        ),
        (
            "restart: { memory_above: { size: 1GiB } }\n",
            // The locator names the last key it passed.
            Err(("restart.memory_above.size", "missing field `for`")),
        ),
        (
            "restart: { memory_above: { size: lots, for: 5m } }\n",
            Err(("restart.memory_above.size", "")),
        ),
        (
            "restart: { memory_above: { size: 1GiB, for: 5m, every: 1s } }\n",
            Err((
                "restart.memory_above.every",
                "unknown key `every`: the keys here are `size`, `for`",
            )),
        ),
    ];
    check_rows(rows, |declaration| {
        declaration
            .restart
            .memory_above
            .map(|g| (g.size.as_u64(), g.duration.get().as_secs()))
    });
}

#[test]
fn limits_take_a_size_cpus_and_a_count_and_refuse_nonsense() {
    // Written, then (memory bytes, thousandths of a CPU, pids), or the key
    // and words of the error.
    /// Memory bytes, thousandths of a CPU, pids.
    type Limits = (Option<u64>, Option<u32>, Option<u64>);
    let rows: &[Row<Limits>] = &[
        (
            "limits: { memory: 2GiB, cpu: 1.5, pids: 512 }\n",
            Ok((Some(2_147_483_648), Some(1500), Some(512))),
        ),
        ("limits: { cpu: 50% }\n", Ok((None, Some(500), None))),
        ("limits: { cpu: 2 }\n", Ok((None, Some(2000), None))),
        ("limits: {}\n", Ok((None, None, None))),
        (
            "limits: { memory: 1MiB }\n",
            Err(("limits.memory", "below the least a gateway can start in")),
        ),
        (
            "limits: { pids: 4 }\n",
            Err(("limits.pids", "Node alone runs about 11")),
        ),
        ("limits: { cpu: 0 }\n", Err(("limits.cpu", "above zero"))),
        (
            "limits: { cpu: fast }\n",
            Err(("limits.cpu", "not a number of CPUs")),
        ),
        (
            "limits: { memory: 1GiB }\nrestart: { memory_above: { size: 1GiB, for: 5m } }\n",
            Err(("restart.memory_above.size", "not below `limits.memory`")),
        ),
        (
            "limits: { memory: 1GiB }\nrestart: { memory_above: { size: 768MiB, for: 5m } }\n",
            Ok((Some(1_073_741_824), None, None)),
        ),
        (
            "limits: { swap: 1GiB }\n",
            Err((
                "limits.swap",
                "unknown key `swap`: the keys here are `memory`, `cpu`, `pids`",
            )),
        ),
    ];
    check_rows(rows, |declaration| {
        let limits = declaration.limits;
        (
            limits.memory.map(|size| size.as_u64()),
            limits.cpu.map(|cpu| cpu.0),
            limits.pids,
        )
    });
}
