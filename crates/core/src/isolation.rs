//! Pure isolation checks over a whole set of effective settings: proof that
//! no two instances share a config, a state dir, a workspace, a log file, a
//! TMPDIR, a port, a host-wide Tailscale route or a channel credential (a
//! bot token).
//!
//! Every problem is collected (never first-only), and each names the
//! instances, the shared thing and a concrete fix. Paths arrive canonical
//! (see `openclaw::canonical_path`), so comparing them is comparing places.
//! [`check_dir`] is the one entry point that loads, resolves and checks a
//! declarations directory: `check`, the daemon's start and its reload all
//! call it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::openclaw::Effective;

mod channels;
mod ports;
mod report;
mod routes;
mod secrets;

#[cfg(test)]
mod fix_tests;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
mod paths;
#[cfg(test)]
mod route_tests;
#[cfg(test)]
mod tests;
use paths::{file_name, path_problems, show};

pub use ports::taken_ranges;
pub use report::{
    FileError, Loaded, Report, Warning, check_dir, ephemeral_port_range, load_dir_resolved,
};
pub use routes::GATEWAY_HTTPS_PORT;
pub use secrets::shared_secret_warnings;

/// What two instances share (or what one instance gets wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Config,
    StateDir,
    Workspace,
    LogFile,
    Tmpdir,
    /// Port footprints that intersect.
    Ports,
    /// A port outside 1024..65535, or a block that runs past 65535.
    PortRange,
    /// `rescue_of` names no instance of the set.
    RescueOf,
    /// Two Tailscale Serve/Funnel claims of the device's HTTPS route.
    TailscaleRoute,
    /// Two enabled channel accounts resolve to one token.
    ChannelCredential,
}

/// One isolation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub resource: Resource,
    /// The instances involved: two for a conflict, one for a range problem.
    pub instances: Vec<String>,
    /// The shared thing: a path, or a port range such as `18809..18899`.
    pub shared: String,
    /// What is wrong, naming the instances and the resource.
    pub message: String,
    /// A concrete change that removes the problem.
    pub fix: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; fix: {}", self.message, self.fix)
    }
}

/// Warnings (not conflicts) for `instances` whose ports meet the kernel's
/// ephemeral port range `ephemeral`: one per instance, by name.
pub fn ephemeral_warnings(
    instances: &[Effective],
    ephemeral: &std::ops::RangeInclusive<u32>,
) -> Vec<(String, String)> {
    instances
        .iter()
        .filter_map(|instance| {
            ports::ephemeral_warning(instance, instances, ephemeral)
                .map(|message| (instance.name.clone(), message))
        })
        .collect()
}

/// Which side of a conflict its fix asks to change. By default (`check`,
/// `start`) the instance whose move is smallest; a reload ranks the
/// instances it is adding or changing above the running ones, so the fix
/// names the file being added or changed, never the running instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Movers {
    rank: BTreeMap<String, u8>,
}

impl Movers {
    /// Rank `name`: of two conflicting instances, the higher rank moves.
    /// Unranked instances have rank 0.
    pub fn rank(&mut self, name: &str, rank: u8) {
        self.rank.insert(name.to_string(), rank);
    }

    /// `(mover, staying)` when the ranks of `a` and `b` decide it.
    fn forced<'a>(
        &self,
        a: &'a Effective,
        b: &'a Effective,
    ) -> Option<(&'a Effective, &'a Effective)> {
        let rank = |instance: &Effective| self.rank.get(&instance.name).copied().unwrap_or(0);
        match rank(a).cmp(&rank(b)) {
            std::cmp::Ordering::Greater => Some((a, b)),
            std::cmp::Ordering::Less => Some((b, a)),
            std::cmp::Ordering::Equal => None,
        }
    }

    /// `(mover, staying)`: the ranks' choice, else `default`'s.
    fn pick<'a>(
        &self,
        a: &'a Effective,
        b: &'a Effective,
        default: (&'a Effective, &'a Effective),
    ) -> (&'a Effective, &'a Effective) {
        self.forced(a, b).unwrap_or(default)
    }
}

/// Every isolation problem within `instances`, each fix asking the smaller move.
pub fn check(instances: &[Effective]) -> Vec<Problem> {
    check_with(instances, &Movers::default(), &BTreeSet::new())
}

/// Every isolation problem within `instances`; each fix of a conflict
/// between two instances changes the one `movers` picks. `refused` names
/// instances that some file declares but that are not in the set (their
/// file is broken or refused): a rescue of one is not told it rescues
/// nothing, the refused file is reported already.
pub fn check_with(
    instances: &[Effective],
    movers: &Movers,
    refused: &BTreeSet<String>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for instance in instances {
        problems.extend(ports::range_problems(instance, instances));
    }
    for (index, a) in instances.iter().enumerate() {
        for b in &instances[index + 1..] {
            path_problems(a, b, movers, &mut problems);
            problems.extend(ports::overlap_problems(a, b, instances, movers));
            problems.extend(routes::route_problem(a, b, movers));
            problems.extend(channels::credential_problems(a, b, movers));
        }
    }
    problems.extend(rescue_problems(instances, refused));
    problems
}

fn rescue_problems(instances: &[Effective], refused: &BTreeSet<String>) -> Vec<Problem> {
    let names: Vec<&str> = instances
        .iter()
        .map(|instance| instance.name.as_str())
        .collect();
    instances
        .iter()
        .filter_map(|instance| {
            let target = instance.declaration.rescue_of.as_deref()?;
            if names.contains(&target) || refused.contains(target) {
                return None;
            }
            Some(Problem {
                resource: Resource::RescueOf,
                instances: vec![instance.name.clone()],
                shared: target.to_string(),
                message: format!(
                    "rescue_of: {} rescues `{target}`, but no instance is named `{target}`",
                    instance.name
                ),
                fix: {
                    let others: Vec<&str> = names
                        .iter()
                        .filter(|name| **name != instance.name)
                        .copied()
                        .collect();
                    if others.is_empty() {
                        format!(
                            "declare an instance named `{target}`, or remove `rescue_of:` from {}",
                            file_name(instance)
                        )
                    } else {
                        format!(
                            "set `rescue_of:` in {} to one of: {}; or declare an instance named `{target}`",
                            file_name(instance),
                            others.join(", ")
                        )
                    }
                },
            })
        })
        .collect()
}

/// The canonical paths an instance owns, for callers that show them.
pub fn owned_paths(instance: &Effective) -> Vec<(&'static str, PathBuf)> {
    let mut owned = vec![
        ("config", instance.config_path.clone()),
        ("state dir", instance.state_dir.clone()),
    ];
    owned.extend(
        instance
            .workspaces
            .iter()
            .map(|workspace| ("workspace", workspace.path.clone())),
    );
    owned.push(("log", instance.log_file.clone()));
    owned.push(("tmpdir", instance.tmpdir.clone()));
    owned
}
