//! The built binary run to its end: exit code and output, for the tests
//! of one-shot commands (`check`, `init`).

use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Run `command` to its end and keep what it said.
    pub fn of(command: &mut Command) -> Run {
        let output = command.output().expect("the binary runs");
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The names of the entries of `dir`, sorted.
#[allow(dead_code)] // not every test binary lists a directory
pub fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the dir exists")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
