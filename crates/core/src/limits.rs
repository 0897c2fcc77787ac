//! `limits`: cgroup v2 limits on an instance's process tree (pure).
//!
//! Theory of operation: at start the supervisor enables the `memory`, `cpu`
//! and `pids` controllers for its instances' cgroups where the host lets it
//! (`cgroup::set_up`), and learns for each one that it cannot why not: that
//! is a [`Controllers`]. [`plan`] then turns a declaration's `limits` and
//! those controllers into the files to write in the instance's cgroup (a
//! limit, or `max` to lift one a reload removed) and a [`Limit`] per
//! declared key, applied or not with the reason, which `status` shows. The
//! actor writes the files before each spawn and at a reload that changes
//! the limits (in place: the kernel applies a new `memory.max` to a running
//! tree); a write that fails turns its limit into "not applied" with the
//! error.

use std::collections::BTreeMap;

use crate::declaration::{CpuLimit, LimitsSpec};

/// The least `limits.memory` (a gateway cannot start in less).
pub const MIN_MEMORY: u64 = 64 * 1024 * 1024;

/// The least `limits.pids` (Node alone runs about 11 threads).
pub const MIN_PIDS: u64 = 32;

/// `memory.high` and `memory.max` are kept in pages: a value written is
/// rounded down to a multiple of 4 KiB, so it reads back as written.
const PAGE: u64 = 4096;

/// `memory.high` for a `memory.max`: 90 %, page-aligned.
pub fn memory_high(max: u64) -> u64 {
    max / 10 * 9 / PAGE * PAGE
}

/// `cpu.max`'s period, in microseconds (the kernel's default).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The controllers a limit needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
}

impl Controller {
    pub const ALL: [Controller; 3] = [Controller::Memory, Controller::Cpu, Controller::Pids];

    /// Its name in `cgroup.controllers` (and the `limits` key).
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
        }
    }
}

/// For each controller: enabled in the instances' cgroups, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Controllers(BTreeMap<Controller, Result<(), String>>);

impl Controllers {
    /// Every controller missing for one reason (no cgroup at all).
    pub fn none(reason: &str) -> Controllers {
        Controllers(
            Controller::ALL
                .into_iter()
                .map(|controller| (controller, Err(reason.to_string())))
                .collect(),
        )
    }

    pub fn set(&mut self, controller: Controller, state: Result<(), String>) {
        self.0.insert(controller, state);
    }

    /// Enabled, or why not.
    pub fn get(&self, controller: Controller) -> Result<(), &str> {
        match self.0.get(&controller) {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(why),
            None => Err("it was not tried"),
        }
    }

    /// The names of the enabled controllers.
    pub fn enabled(&self) -> Vec<&'static str> {
        Controller::ALL
            .into_iter()
            .filter(|controller| self.get(*controller).is_ok())
            .map(Controller::name)
            .collect()
    }
}

/// One file to write in the instance's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub file: &'static str,
    pub value: String,
}

/// One declared limit and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub controller: Controller,
    /// As a person reads it: `2 GiB`, `1.5 CPUs`, `512`.
    pub value: String,
    /// Applied, or why not.
    pub applied: Result<(), String>,
}

/// What [`plan`] decided: the files to write, and each declared limit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub writes: Vec<(Controller, Write)>,
    pub limits: Vec<Limit>,
}

impl Plan {
    /// A write to a file of `controller` failed: its limit is not applied.
    pub fn failed(&mut self, controller: Controller, why: String) {
        for limit in &mut self.limits {
            if limit.controller == controller && limit.applied.is_ok() {
                limit.applied = Err(why.clone());
            }
        }
    }
}

/// The files of one controller for a limit, or to lift it (`None`).
fn files(controller: Controller, spec: &LimitsSpec) -> Vec<Write> {
    let write = |file, value: String| Write { file, value };
    match controller {
        Controller::Memory => match spec.memory {
            Some(max) => vec![
                write("memory.high", memory_high(max.as_u64()).to_string()),
                write("memory.max", max.as_u64().to_string()),
            ],
            None => vec![
                write("memory.high", "max".into()),
                write("memory.max", "max".into()),
            ],
        },
        Controller::Cpu => vec![write(
            "cpu.max",
            spec.cpu.map_or("max".into(), |cpu| {
                format!("{} {CPU_PERIOD_US}", cpu_quota_us(cpu))
            }),
        )],
        Controller::Pids => vec![write(
            "pids.max",
            spec.pids.map_or("max".into(), |pids| pids.to_string()),
        )],
    }
}

/// `cpu.max`'s quota for a limit: its share of each period.
pub fn cpu_quota_us(cpu: CpuLimit) -> u64 {
    u64::from(cpu.0) * CPU_PERIOD_US / 1000
}

fn shown(controller: Controller, spec: &LimitsSpec) -> Option<String> {
    match controller {
        Controller::Memory => spec.memory.map(|max| {
            format!("{} (high {})", max.display().iec(), {
                bytesize::ByteSize::b(max.as_u64() / 10 * 9).display().iec()
            })
        }),
        Controller::Cpu => spec.cpu.map(|cpu| cpu.to_string()),
        Controller::Pids => spec.pids.map(|pids| pids.to_string()),
    }
}

/// The files to write and the state of each declared limit.
pub fn plan(spec: &LimitsSpec, controllers: &Controllers) -> Plan {
    let mut plan = Plan::default();
    for controller in Controller::ALL {
        let enabled = controllers.get(controller);
        if enabled.is_ok() {
            for write in files(controller, spec) {
                plan.writes.push((controller, write));
            }
        }
        if let Some(value) = shown(controller, spec) {
            plan.limits.push(Limit {
                controller,
                value,
                applied: enabled.map_err(|why| {
                    format!(
                        "the {} controller is not available: {why}",
                        controller.name()
                    )
                }),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> LimitsSpec {
        serde_saphyr::from_str(yaml).expect("limits")
    }

    fn all_enabled() -> Controllers {
        let mut controllers = Controllers::default();
        for controller in Controller::ALL {
            controllers.set(controller, Ok(()));
        }
        controllers
    }

    fn writes(plan: &Plan) -> Vec<(&str, &str)> {
        plan.writes
            .iter()
            .map(|(_, write)| (write.file, write.value.as_str()))
            .collect()
    }

    #[test]
    fn each_limit_becomes_its_files_where_the_controller_is_enabled() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "{ memory: 2GiB, cpu: 1.5, pids: 512 }",
                &[
                    ("memory.high", "1932734464"),
                    ("memory.max", "2147483648"),
                    ("cpu.max", "150000 100000"),
                    ("pids.max", "512"),
                ],
            ),
            (
                "{ cpu: 50% }",
                &[
                    ("memory.high", "max"),
                    ("memory.max", "max"),
                    ("cpu.max", "50000 100000"),
                    ("pids.max", "max"),
                ],
            ),
            (
                "{ cpu: 2 }",
                &[
                    ("memory.high", "max"),
                    ("memory.max", "max"),
                    ("cpu.max", "200000 100000"),
                    ("pids.max", "max"),
                ],
            ),
            (
                "{}",
                &[
                    ("memory.high", "max"),
                    ("memory.max", "max"),
                    ("cpu.max", "max"),
                    ("pids.max", "max"),
                ],
            ),
        ];
        for (yaml, expected) in cases {
            let plan = plan(&spec(yaml), &all_enabled());
            assert_eq!(writes(&plan), *expected, "{yaml}");
            assert!(
                plan.limits.iter().all(|limit| limit.applied.is_ok()),
                "{yaml}: {plan:?}"
            );
        }
    }

    #[test]
    fn a_limit_whose_controller_is_missing_is_not_applied_with_the_reason() {
        let mut controllers = all_enabled();
        controllers.set(
            Controller::Memory,
            Err("the host keeps it on cgroup v1".to_string()),
        );
        let plan = plan(&spec("{ memory: 1GiB, pids: 64 }"), &controllers);
        assert_eq!(
            writes(&plan),
            [("cpu.max", "max"), ("pids.max", "64")],
            "nothing is written for a missing controller"
        );
        assert_eq!(
            plan.limits,
            [
                Limit {
                    controller: Controller::Memory,
                    value: "1.0 GiB (high 921.6 MiB)".to_string(),
                    applied: Err(
                        "the memory controller is not available: the host keeps it on cgroup v1"
                            .to_string()
                    ),
                },
                Limit {
                    controller: Controller::Pids,
                    value: "64".to_string(),
                    applied: Ok(()),
                },
            ]
        );
    }

    #[test]
    fn without_a_cgroup_nothing_is_written_and_every_limit_says_why() {
        let plan = plan(
            &spec("{ memory: 1GiB, cpu: 1, pids: 64 }"),
            &Controllers::none("no cgroup v2 hierarchy is mounted"),
        );
        assert!(plan.writes.is_empty());
        let reasons: Vec<_> = plan
            .limits
            .iter()
            .map(|limit| (limit.value.as_str(), limit.applied.clone().unwrap_err()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "1.0 GiB (high 921.6 MiB)",
                    "the memory controller is not available: no cgroup v2 hierarchy is mounted"
                        .to_string()
                ),
                (
                    "1 CPU",
                    "the cpu controller is not available: no cgroup v2 hierarchy is mounted"
                        .to_string()
                ),
                (
                    "64",
                    "the pids controller is not available: no cgroup v2 hierarchy is mounted"
                        .to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_failed_write_turns_its_limit_into_not_applied() {
        let mut plan = plan(&spec("{ memory: 1GiB, cpu: 1 }"), &all_enabled());
        plan.failed(Controller::Cpu, "cannot write cpu.max: EINVAL".to_string());
        assert_eq!(plan.limits[0].applied, Ok(()));
        assert_eq!(
            plan.limits[1].applied,
            Err("cannot write cpu.max: EINVAL".to_string())
        );
    }

    #[test]
    fn cpu_limits_are_read_and_shown() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("1", Ok("1 CPU")),
            ("1.5", Ok("1.5 CPUs")),
            ("0.25", Ok("0.25 CPUs")),
            ("\"50%\"", Ok("0.5 CPUs")),
            ("\"150 %\"", Ok("1.5 CPUs")),
            ("\"2\"", Ok("2 CPUs")),
            ("0", Err("above zero")),
            ("-1", Err("above zero")),
            ("0.001", Err("below the least")),
            ("lots", Err("not a number of CPUs")),
            ("\"%\"", Err("not a number of CPUs")),
        ];
        for (written, expected) in cases {
            let parsed: Result<LimitsSpec, _> = serde_saphyr::from_str(&format!("cpu: {written}"));
            match (parsed, expected) {
                (Ok(spec), Ok(shown)) => {
                    assert_eq!(spec.cpu.map(|cpu| cpu.to_string()).as_deref(), Some(*shown))
                }
                (Err(err), Err(words)) => {
                    assert!(err.to_string().contains(words), "{written}: {err}")
                }
                (got, want) => panic!("{written}: got {got:?}, want {want:?}"),
            }
        }
    }
}
