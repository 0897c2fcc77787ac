//! Reload as a pure decision: what the rescanned declarations change in
//! what runs. The scan and the reading of the OpenClaw config files happen
//! before ([`super::Supervisor::reload`]); the loop then only applies the
//! [`ReloadPlan`] (commands to the instances, events).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Rejected;
use crate::declaration::Role;
use crate::instance::InstanceConfig;
use crate::openclaw::{Effective, EnvMap};
use crate::resolution;

/// What the planner knows of one instance the supervisor runs.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// What it runs on now.
    pub config: &'a InstanceConfig,
    /// Its OpenClaw config file's fingerprint when last looked at.
    pub fingerprint: Option<u64>,
}

/// What the decision needs besides the two sets.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The control socket, which a rescue's gateway is told of.
    pub socket_path: &'a Path,
    /// The environment the supervisor inherited, under every gateway's.
    pub inherited_env: &'a EnvMap,
}

/// A running instance with a new declaration.
#[derive(Debug, Clone)]
pub struct Reconfigure {
    pub name: String,
    pub config: InstanceConfig,
    /// The change alters what its gateway is spawned with: restart it;
    /// otherwise the change applies in place.
    pub restart: bool,
}

/// A running instance whose OpenClaw config file changed: told so
/// (`Command::Changed`, which retries a gateway that failed on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChanged {
    pub name: String,
    /// The file's fingerprint now (`None`: it cannot be read).
    pub fingerprint: Option<u64>,
}

/// What a reload does, in the order it is applied: the refusals are
/// announced, the removed instances leave, the new ones are added and the
/// changed ones reconfigured, then the changed config files are told.
#[derive(Debug, Clone, Default)]
pub struct ReloadPlan {
    pub add: Vec<Effective>,
    pub reconfigure: Vec<Reconfigure>,
    pub remove: Vec<String>,
    /// Files refused, and running instances that now conflict (no file:
    /// an empty path), which keep running.
    pub rejected: Vec<Rejected>,
    pub changed: Vec<ConfigChanged>,
}

/// The config an instance runs with: its effective settings (its probes
/// among them, as validation worked them out) and for a rescue the control
/// socket in its environment.
pub fn instance_config(effective: Effective, socket_path: &Path) -> InstanceConfig {
    let mut extra_env = EnvMap::new();
    if effective.declaration.role == Role::Rescue {
        extra_env.insert(
            "OPENCLAW_SUPERVISOR_SOCKET".to_string(),
            socket_path.display().to_string(),
        );
    }
    InstanceConfig {
        effective,
        extra_env,
    }
}

/// Decide a reload: `current` (what runs, by name) against `plan` (the
/// resolution of the rescan against it). `fingerprints` holds, for the
/// running instances the plan keeps, their OpenClaw config file's
/// fingerprint read now (from the path the plan gives them); a name
/// missing there is taken as unchanged.
pub fn plan_reload(
    current: &BTreeMap<String, Current>,
    plan: resolution::Plan,
    fingerprints: &BTreeMap<String, Option<u64>>,
    context: &Context,
) -> ReloadPlan {
    let mut rejected = plan.rejected;
    // The running set itself conflicts (an OpenClaw config file changed
    // under a running instance): reported, nothing changes.
    rejected.extend(plan.standing.into_iter().map(|conflict| Rejected {
        file: PathBuf::new(),
        name: conflict.instances.first().cloned(),
        reason: conflict.message,
    }));
    let remove = current
        .keys()
        .filter(|name| !plan.wanted.contains_key(*name))
        .cloned()
        .collect();
    let mut add = Vec::new();
    let mut reconfigure = Vec::new();
    let mut changed = Vec::new();
    for (name, effective) in plan.wanted {
        let Some(running) = current.get(&name) else {
            add.push(effective);
            continue;
        };
        if let Some(&now) = fingerprints.get(&name)
            && now != running.fingerprint
        {
            changed.push(ConfigChanged {
                name: name.clone(),
                fingerprint: now,
            });
        }
        if running.config.effective != effective {
            let config = instance_config(effective, context.socket_path);
            let restart = running.config.spawn_differs(&config, context.inherited_env);
            reconfigure.push(Reconfigure {
                name,
                config,
                restart,
            });
        }
    }
    ReloadPlan {
        add,
        reconfigure,
        remove,
        rejected,
        changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isolation::fixtures::{instance, with};
    use crate::resolution::{FileError, Scan};

    const SOCKET: &str = "/run/sup/control.sock";

    fn broken(file: &str, name: Option<&str>) -> FileError {
        FileError {
            file: PathBuf::from(format!("/sup/{file}")),
            name: name.map(str::to_string),
            reason: format!("/sup/{file}: broken"),
        }
    }

    fn rescue_of(effective: Effective, main: &str) -> Effective {
        with(effective, |effective| {
            effective.declaration.role = Role::Rescue;
            effective.declaration.rescue_of = Some(main.to_string());
        })
    }

    /// What a plan says, by name: (add, reconfigure with restart, remove,
    /// rejected labels, changed).
    #[derive(Debug, PartialEq, Eq)]
    struct Said {
        add: Vec<String>,
        reconfigure: Vec<(String, bool)>,
        remove: Vec<String>,
        rejected: Vec<String>,
        changed: Vec<String>,
    }

    fn said(plan: &ReloadPlan) -> Said {
        Said {
            add: plan.add.iter().map(|e| e.name.clone()).collect(),
            reconfigure: plan
                .reconfigure
                .iter()
                .map(|r| (r.name.clone(), r.restart))
                .collect(),
            remove: plan.remove.clone(),
            rejected: plan.rejected.iter().map(Rejected::label).collect(),
            changed: plan.changed.iter().map(|c| c.name.clone()).collect(),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    /// One row: what, the running instances with the fingerprint each was
    /// last seen with, the scanned declarations, the refused files, the
    /// fingerprints read now, then the plan: add, reconfigure (restart?),
    /// remove, rejected labels, changed.
    #[derive(Default)]
    struct Row {
        what: &'static str,
        current: Vec<(Effective, Option<u64>)>,
        scanned: Vec<Effective>,
        errors: Vec<FileError>,
        now: Vec<(&'static str, Option<u64>)>,
        add: &'static [&'static str],
        reconfigure: &'static [(&'static str, bool)],
        remove: &'static [&'static str],
        rejected: &'static [&'static str],
        changed: &'static [&'static str],
    }

    fn rows() -> Vec<Row> {
        let a = || instance("a", 18789);
        let b = || instance("b", 19789);
        vec![
            Row {
                what: "a new declaration is added",
                current: vec![(a(), Some(1))],
                scanned: vec![a(), b()],
                now: vec![("a", Some(1))],
                add: &["b"],
                ..Row::default()
            },
            Row {
                what: "a declaration whose file is gone is removed",
                current: vec![(a(), Some(1)), (b(), Some(2))],
                scanned: vec![a()],
                now: vec![("a", Some(1))],
                remove: &["b"],
                ..Row::default()
            },
            Row {
                what: "a change the gateway is not spawned with applies in place",
                current: vec![(a(), Some(1))],
                scanned: vec![with(a(), |a| {
                    a.declaration.stop.timeout.0 = std::time::Duration::from_secs(5);
                })],
                now: vec![("a", Some(1))],
                reconfigure: &[("a", false)],
                ..Row::default()
            },
            Row {
                what: "a new port restarts the gateway",
                current: vec![(a(), Some(1))],
                scanned: vec![instance("a", 20789)],
                now: vec![("a", Some(1))],
                reconfigure: &[("a", true)],
                ..Row::default()
            },
            Row {
                what: "a declared variable restarts the gateway",
                current: vec![(a(), Some(1))],
                scanned: vec![with(a(), |a| {
                    a.declaration
                        .env
                        .insert("LOG_LEVEL".to_string(), "debug".to_string());
                })],
                now: vec![("a", Some(1))],
                reconfigure: &[("a", true)],
                ..Row::default()
            },
            Row {
                what: "an instance becoming a rescue restarts (the socket joins its environment)",
                current: vec![(a(), Some(1)), (b(), Some(2))],
                scanned: vec![a(), rescue_of(b(), "a")],
                now: vec![("a", Some(1)), ("b", Some(2))],
                reconfigure: &[("b", true)],
                ..Row::default()
            },
            Row {
                what: "nothing changed, nothing to do",
                current: vec![(a(), Some(1)), (b(), None)],
                scanned: vec![a(), b()],
                now: vec![("a", Some(1)), ("b", None)],
                ..Row::default()
            },
            Row {
                what: "a broken file is rejected, its instance keeps running",
                current: vec![(a(), Some(1)), (b(), Some(2))],
                scanned: vec![b()],
                errors: vec![broken("a.yaml", Some("a"))],
                now: vec![("a", Some(1)), ("b", Some(2))],
                rejected: &["a.yaml"],
                ..Row::default()
            },
            Row {
                what: "a change onto another's ports is rejected, the instance runs as it did",
                current: vec![(a(), Some(1)), (b(), Some(2))],
                scanned: vec![instance("a", 19800), b()],
                now: vec![("a", Some(1)), ("b", Some(2))],
                rejected: &["a.yaml"],
                ..Row::default()
            },
            Row {
                what: "running instances that now conflict are reported by name, not stopped",
                current: vec![(a(), Some(1)), (instance("c", 18800), Some(3))],
                scanned: vec![a(), instance("c", 18800)],
                now: vec![("a", Some(1)), ("c", Some(3))],
                rejected: &["a"],
                ..Row::default()
            },
            Row {
                what: "a config file that changed alone is told to its instance",
                current: vec![(a(), Some(1)), (b(), Some(2))],
                scanned: vec![a(), b()],
                now: vec![("a", Some(7)), ("b", Some(2))],
                changed: &["a"],
                ..Row::default()
            },
            Row {
                what: "a config file gone, or back, is a change",
                current: vec![(a(), Some(1)), (b(), None)],
                scanned: vec![a(), b()],
                now: vec![("a", None), ("b", Some(2))],
                changed: &["a", "b"],
                ..Row::default()
            },
            Row {
                what: "a config file changed under a reconfigured instance is told too",
                current: vec![(a(), Some(1))],
                scanned: vec![instance("a", 20789)],
                now: vec![("a", Some(2))],
                reconfigure: &[("a", true)],
                changed: &["a"],
                ..Row::default()
            },
            Row {
                what: "at once: one added, one removed, one changed in place",
                current: vec![(a(), Some(1)), (b(), Some(2))],
                scanned: vec![
                    with(a(), |a| {
                        a.declaration.stop.signal = crate::declaration::StopSignal::INT;
                    }),
                    instance("c", 20789),
                ],
                now: vec![("a", Some(1))],
                add: &["c"],
                reconfigure: &[("a", false)],
                remove: &["b"],
                ..Row::default()
            },
        ]
    }

    #[test]
    fn plan_reload_adds_removes_reconfigures_and_keeps_what_is_refused() {
        let inherited: EnvMap = [("PATH".to_string(), "/usr/bin".to_string())].into();
        let context = Context {
            socket_path: Path::new(SOCKET),
            inherited_env: &inherited,
        };
        let mut failures = Vec::new();
        for row in rows() {
            let configs: BTreeMap<String, (InstanceConfig, Option<u64>)> = row
                .current
                .into_iter()
                .map(|(effective, fingerprint)| {
                    let name = effective.name.clone();
                    let config = instance_config(effective, context.socket_path);
                    (name, (config, fingerprint))
                })
                .collect();
            let current: BTreeMap<String, Current> = configs
                .iter()
                .map(|(name, (config, fingerprint))| {
                    let fingerprint = *fingerprint;
                    (
                        name.clone(),
                        Current {
                            config,
                            fingerprint,
                        },
                    )
                })
                .collect();
            let running: BTreeMap<String, Effective> = configs
                .iter()
                .map(|(name, (config, _))| (name.clone(), config.effective.clone()))
                .collect();
            // As loading names a refused file: its instance and its stem.
            let refused = row
                .errors
                .iter()
                .flat_map(|error| {
                    let stem = error
                        .file
                        .file_stem()
                        .map(|stem| stem.to_string_lossy().to_string());
                    error.name.clone().into_iter().chain(stem)
                })
                .collect();
            let resolved = resolution::plan(
                Scan {
                    effective: row.scanned,
                    file_errors: row.errors,
                    refused,
                },
                &running,
            );
            let now = row
                .now
                .iter()
                .map(|(name, fingerprint)| (name.to_string(), *fingerprint))
                .collect();
            let plan = plan_reload(&current, resolved, &now, &context);
            let expected = Said {
                add: names(row.add),
                reconfigure: row
                    .reconfigure
                    .iter()
                    .map(|(name, restart)| (name.to_string(), *restart))
                    .collect(),
                remove: names(row.remove),
                rejected: names(row.rejected),
                changed: names(row.changed),
            };
            let got = said(&plan);
            if got != expected {
                failures.push(format!(
                    "{}:\n  expected {expected:?}\n  got      {got:?}\n  rejected {:#?}",
                    row.what, plan.rejected
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn a_reconfigured_instance_gets_the_new_declaration_and_a_rescue_the_socket() {
        let inherited = EnvMap::new();
        let context = Context {
            socket_path: Path::new(SOCKET),
            inherited_env: &inherited,
        };
        let main = instance_config(instance("main", 18789), context.socket_path);
        let rescue = instance_config(instance("rescue", 19789), context.socket_path);
        let current: BTreeMap<String, Current> = [
            (
                "main".to_string(),
                Current {
                    config: &main,
                    fingerprint: None,
                },
            ),
            (
                "rescue".to_string(),
                Current {
                    config: &rescue,
                    fingerprint: None,
                },
            ),
        ]
        .into();
        let wanted = [
            instance("main", 20789),
            rescue_of(instance("rescue", 19789), "main"),
        ];
        let resolved = resolution::Plan {
            wanted: wanted
                .into_iter()
                .map(|effective| (effective.name.clone(), effective))
                .collect(),
            ..resolution::Plan::default()
        };
        let plan = plan_reload(&current, resolved, &BTreeMap::new(), &context);
        let configs: BTreeMap<&str, &InstanceConfig> = plan
            .reconfigure
            .iter()
            .map(|change| (change.name.as_str(), &change.config))
            .collect();
        assert_eq!(configs["main"].effective.port, 20789);
        assert!(configs["main"].extra_env.is_empty());
        assert_eq!(
            configs["rescue"]
                .extra_env
                .get("OPENCLAW_SUPERVISOR_SOCKET"),
            Some(&SOCKET.to_string())
        );
        assert!(plan.changed.is_empty(), "no fingerprint read, none changed");
    }
}
