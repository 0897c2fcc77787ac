//! The controllers the instances' cgroups get, and the limits written into
//! them (IO edge; the plan is `limits`). See the parent module for why the
//! supervisor may move itself into [`SELF_LEAF`].

use std::fs;
use std::io;
use std::path::Path;

use super::{SELF_LEAF, create_dir, members};
use crate::limits::{Controller, Controllers};

/// The names in a `cgroup.controllers` or `cgroup.subtree_control` file.
pub fn parse_controller_list(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn has_controller(dir: &Path, file: &str, controller: Controller) -> bool {
    fs::read_to_string(dir.join(file))
        .is_ok_and(|text| parse_controller_list(&text).contains(&controller.name()))
}

fn pass_down(dir: &Path, controller: Controller) -> io::Result<()> {
    fs::write(
        dir.join("cgroup.subtree_control"),
        format!("+{}", controller.name()),
    )
}

/// Enable the limits' controllers for the instances' cgroups: in the own
/// cgroup's `subtree_control` when it does not pass one down yet (moving
/// the supervisor into [`SELF_LEAF`] first when it is alone there), then in
/// the subtree's. Each controller it cannot enable says why (IO edge).
pub fn enable_controllers(own_dir: &Path, subtree: &Path) -> Controllers {
    let mut controllers = Controllers::default();
    let mut moved = false;
    for controller in Controller::ALL {
        let name = controller.name();
        let state = if !has_controller(own_dir, "cgroup.controllers", controller) {
            Err(format!(
                "{} does not have it (a hybrid host keeps the controllers on cgroup v1; under systemd the unit needs Delegate=yes)",
                own_dir.display()
            ))
        } else {
            let mut passed = if has_controller(own_dir, "cgroup.subtree_control", controller) {
                Ok(())
            } else {
                pass_down(own_dir, controller)
            };
            if passed
                .as_ref()
                .is_err_and(|err| err.raw_os_error() == Some(nix::libc::EBUSY))
                && !moved
                && members(own_dir) == [std::process::id() as i32]
            {
                match move_into_leaf(own_dir) {
                    Ok(()) => {
                        moved = true;
                        passed = pass_down(own_dir, controller);
                    }
                    Err(err) => {
                        tracing::warn!(cgroup = %own_dir.display(), error = %err, "cannot move the supervisor into its own leaf")
                    }
                }
            }
            match passed {
                Err(err) if err.raw_os_error() == Some(nix::libc::EBUSY) => Err(format!(
                    "{} holds other processes than the supervisor, so cgroup v2 lets none of its controllers pass down (run the supervisor as a unit with Delegate=yes)",
                    own_dir.display()
                )),
                Err(err) => Err(format!(
                    "cannot pass it down from {}: {err}",
                    own_dir.display()
                )),
                Ok(()) => pass_down(subtree, controller)
                    .map_err(|err| format!("cannot enable it in {}: {err}", subtree.display())),
            }
        };
        if state.is_ok() {
            tracing::debug!(controller = name, "controller enabled for the instances");
        }
        controllers.set(controller, state);
    }
    controllers
}

/// Move the supervisor into `<own>/openclaw-supervisor.self`.
fn move_into_leaf(own_dir: &Path) -> io::Result<()> {
    let leaf = own_dir.join(SELF_LEAF);
    create_dir(&leaf)?;
    fs::write(leaf.join("cgroup.procs"), "0")?;
    tracing::info!(cgroup = %leaf.display(), "the supervisor moved into a leaf of its cgroup, to pass controllers down to the instances");
    Ok(())
}

/// Write a plan's files into an instance's cgroup; a write that fails makes
/// its limit "not applied" with the error (IO edge).
pub fn apply_limits(dir: &Path, plan: &mut crate::limits::Plan) {
    let writes = plan.writes.clone();
    for (controller, write) in writes {
        if let Err(err) = fs::write(dir.join(write.file), &write.value) {
            plan.failed(
                controller,
                format!("cannot write {} to {}: {err}", write.value, write.file),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake cgroup directory: regular files stand in for the kernel's.
    fn fake(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).expect("dir");
        for (file, text) in files {
            fs::write(dir.join(file), text).expect("file");
        }
    }

    #[test]
    fn a_controller_the_own_cgroup_lacks_is_missing_with_the_reason() {
        let root = tempfile::tempdir().expect("temp dir");
        let own = root.path().join("own");
        let subtree = own.join("openclaw-supervisor.x");
        fake(
            &own,
            &[
                ("cgroup.controllers", "cpuset cpu io pids\n"),
                ("cgroup.subtree_control", "cpu pids\n"),
            ],
        );
        fake(&subtree, &[("cgroup.subtree_control", "")]);
        let controllers = enable_controllers(&own, &subtree);
        assert_eq!(controllers.enabled(), ["cpu", "pids"]);
        let why = controllers.get(Controller::Memory).expect_err("no memory");
        assert!(
            why.starts_with(&format!("{} does not have it (", own.display())),
            "{why}"
        );
        // Enabled in the subtree: the last write was the last controller's.
        assert_eq!(
            fs::read_to_string(subtree.join("cgroup.subtree_control")).expect("read"),
            "+pids"
        );
    }

    #[test]
    fn a_subtree_that_cannot_enable_a_controller_says_so() {
        let root = tempfile::tempdir().expect("temp dir");
        let own = root.path().join("own");
        fake(
            &own,
            &[
                ("cgroup.controllers", "memory\n"),
                ("cgroup.subtree_control", "memory\n"),
            ],
        );
        let gone = own.join("gone");
        let controllers = enable_controllers(&own, &gone);
        let why = controllers
            .get(Controller::Memory)
            .expect_err("not enabled");
        assert!(
            why.starts_with(&format!("cannot enable it in {}: ", gone.display())),
            "{why}"
        );
    }

    #[test]
    fn limits_are_written_into_the_cgroup_and_a_failed_write_is_reported() {
        let root = tempfile::tempdir().expect("temp dir");
        let spec: crate::declaration::LimitsSpec =
            serde_saphyr::from_str("{ memory: 1GiB, pids: 64 }").expect("limits");
        let mut enabled = Controllers::default();
        for controller in Controller::ALL {
            enabled.set(controller, Ok(()));
        }
        let mut plan = crate::limits::plan(&spec, &enabled);
        apply_limits(root.path(), &mut plan);
        let read = |file: &str| fs::read_to_string(root.path().join(file)).expect(file);
        assert_eq!(read("memory.max"), "1073741824");
        assert_eq!(read("memory.high"), "966365184");
        assert_eq!(read("cpu.max"), "max");
        assert_eq!(read("pids.max"), "64");
        assert!(plan.limits.iter().all(|limit| limit.applied.is_ok()));

        let mut plan = crate::limits::plan(&spec, &enabled);
        apply_limits(&root.path().join("gone"), &mut plan);
        for limit in &plan.limits {
            let why = limit.applied.clone().expect_err("not applied");
            assert!(why.starts_with("cannot write "), "{why}");
        }
    }
}
