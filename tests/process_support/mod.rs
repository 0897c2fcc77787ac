//! Process bookkeeping shared by the integration tests and the benchmark:
//! every process they start carries a tag in its environment (children
//! inherit it), so whatever is left at the end can be found and killed, even
//! after the supervisor itself was SIGKILLed.
#![allow(dead_code)]

use std::fs;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Whether a pid is alive (not gone, not a zombie).
pub fn alive(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rfind(')')
                .map(|i| stat[i + 1..].split_whitespace().next() != Some("Z"))
        })
        .unwrap_or(false)
}

/// Pids of living processes whose environment has `var=tag`.
pub fn tagged(var: &str, tag: &str) -> Vec<i32> {
    let wanted = format!("{var}={tag}");
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|entry| entry == wanted.as_bytes())
            }) && alive(*pid)
        })
        .collect()
}

/// Stop a supervisor gracefully (SIGTERM: it stops its gateways), waiting at
/// most `grace` before SIGKILL; then kill whatever carries `var=tag`.
pub fn stop_then_sweep(supervisor: Option<&mut Child>, grace: Duration, var: &str, tag: &str) {
    if let Some(child) = supervisor {
        if let Ok(None) = child.try_wait() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < grace {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    for _ in 0..5 {
        let left = tagged(var, tag);
        if left.is_empty() {
            break;
        }
        for pid in left {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
