//! The path checks: two instances' config, state dir, workspaces, log file and TMPDIR are neither the same place nor nested, each with the fix that moves the one that gives way.

use super::*;

/// How two paths relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relation {
    Same,
    /// The first is inside the second.
    Inside,
    /// The second is inside the first.
    Contains,
}

pub(super) fn relation(a: &Path, b: &Path) -> Option<Relation> {
    if a == b {
        Some(Relation::Same)
    } else if a.starts_with(b) {
        Some(Relation::Inside)
    } else if b.starts_with(a) {
        Some(Relation::Contains)
    } else {
        None
    }
}

pub(super) fn file_name(instance: &Effective) -> String {
    instance.file.file_name().map_or_else(
        || instance.file.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// `` (`state_dir: state-link` in rescue.yaml reaches it through a symlink)``
/// when the declaration spelled the path through a symlink.
pub(super) fn spelled(instance: &Effective, key: &str) -> String {
    instance
        .via_symlink
        .iter()
        .find(|declared| declared.key == key)
        .map(|declared| {
            format!(
                " (`{key}: {}` in {} reaches it through a symlink)",
                declared.written.display(),
                file_name(instance)
            )
        })
        .unwrap_or_default()
}

/// `a`, `a and b`, `a, b and c`.
pub(super) fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

pub(super) fn show(path: &Path) -> String {
    path.display().to_string()
}

pub(super) fn path_problems(
    a: &Effective,
    b: &Effective,
    movers: &Movers,
    problems: &mut Vec<Problem>,
) {
    let pair = vec![a.name.clone(), b.name.clone()];
    let state = relation(&a.state_dir, &b.state_dir);
    // With one state dir, the config, workspace and TMPDIR that default to
    // paths inside it are shared too; the state dir is the one thing to fix.
    let derived =
        |instance: &Effective, path: &Path, default: &str| path == instance.state_dir.join(default);
    let shared_defaults: Vec<&str> = if state == Some(Relation::Same) {
        [
            (
                "config",
                derived(a, &a.config_path, "openclaw.json")
                    && derived(b, &b.config_path, "openclaw.json"),
            ),
            (
                "default workspace",
                derived(a, &a.workspaces[0].path, "workspace")
                    && derived(b, &b.workspaces[0].path, "workspace"),
            ),
            (
                "TMPDIR",
                derived(a, &a.tmpdir, "tmp") && derived(b, &b.tmpdir, "tmp"),
            ),
        ]
        .into_iter()
        .filter_map(|(what, shared)| shared.then_some(what))
        .collect()
    } else {
        Vec::new()
    };

    match state {
        Some(Relation::Same) => {
            let mut message = format!(
                "state dir: {} and {} both use {}{}{}",
                a.name,
                b.name,
                show(&a.state_dir),
                spelled(a, "state_dir"),
                spelled(b, "state_dir"),
            );
            if !shared_defaults.is_empty() {
                message.push_str(&format!(
                    ", so their {}, which default to paths inside it, are shared too",
                    and_list(&shared_defaults)
                ));
            }
            problems.push(Problem {
                resource: Resource::StateDir,
                instances: pair.clone(),
                shared: show(&a.state_dir),
                message,
                fix: {
                    let (moving, other) = movers.pick(a, b, state_dir_mover(a, b));
                    state_dir_fix(moving, other)
                },
            });
        }
        Some(relation) => {
            let (inner, outer) = if relation == Relation::Inside {
                (a, b)
            } else {
                (b, a)
            };
            problems.push(Problem {
                resource: Resource::StateDir,
                instances: pair.clone(),
                shared: show(&outer.state_dir),
                message: format!(
                    "state dir: {}'s state dir {} is inside {}'s state dir {}: nested state dirs share data",
                    inner.name,
                    show(&inner.state_dir),
                    outer.name,
                    show(&outer.state_dir)
                ),
                fix: if movers.pick(inner, outer, (inner, outer)).0.name == outer.name {
                    format!(
                        "move {}'s state dir off {}: set `state_dir:` in {} to a path that does not contain {}'s state dir",
                        outer.name,
                        show(&inner.state_dir),
                        file_name(outer),
                        inner.name
                    )
                } else {
                    format!(
                        "move {}'s state dir out of {}: set `state_dir:` in {} to a sibling, not a child",
                        inner.name,
                        show(&outer.state_dir),
                        file_name(inner)
                    )
                },
            });
        }
        None => {}
    }

    if a.config_path == b.config_path && !shared_defaults.contains(&"config") {
        problems.push(Problem {
            resource: Resource::Config,
            instances: pair.clone(),
            shared: show(&a.config_path),
            message: format!(
                "config: {} and {} both read the OpenClaw config {}{}{}",
                a.name,
                b.name,
                show(&a.config_path),
                spelled(a, "config"),
                spelled(b, "config"),
            ),
            fix: {
                let (moving, _) = movers.pick(a, b, (b, a));
                format!(
                    "give {} its own config: set `config:` in {} (by default it is <state dir>/openclaw.json)",
                    moving.name,
                    file_name(moving)
                )
            },
        });
    }

    workspace_problems(a, b, state.is_some(), &shared_defaults, movers, problems);

    if a.log_file == b.log_file {
        let (moving, _) = movers.pick(a, b, (b, a));
        let both_default = log_is_default(a) && log_is_default(b);
        let (message, fix) = if both_default {
            (
                format!(
                    "log file: {} and {} both write {}: without `logging.file` openclaw names its log after the profile ({}), not after the state dir",
                    a.name,
                    b.name,
                    show(&a.log_file),
                    a.profile.as_deref().map_or_else(
                        || "both use the default profile".to_string(),
                        |profile| format!("both use profile `{profile}`")
                    ),
                ),
                format!(
                    "set `logging.file` in {}'s OpenClaw config {} to a file of its own, or give {} its own `profile:`",
                    moving.name,
                    show(&moving.config_path),
                    moving.name
                ),
            )
        } else {
            (
                format!(
                    "log file: {} and {} both write {}",
                    a.name,
                    b.name,
                    show(&a.log_file)
                ),
                format!(
                    "set a different `logging.file` in {}'s OpenClaw config {}",
                    moving.name,
                    show(&moving.config_path)
                ),
            )
        };
        problems.push(Problem {
            resource: Resource::LogFile,
            instances: pair.clone(),
            shared: show(&a.log_file),
            message,
            fix,
        });
    }

    if a.tmpdir == b.tmpdir && !shared_defaults.contains(&"TMPDIR") {
        problems.push(Problem {
            resource: Resource::Tmpdir,
            instances: pair,
            shared: show(&a.tmpdir),
            message: format!(
                "TMPDIR: {} and {} both use {}{}{}: the gateway keeps its compile cache and other files there",
                a.name,
                b.name,
                show(&a.tmpdir),
                spelled(a, "tmpdir"),
                spelled(b, "tmpdir"),
            ),
            fix: format!(
                "set `tmpdir:` in {} to a dir of its own, or drop it: the default <state dir>/tmp is unique whenever state dirs are",
                file_name(movers.pick(a, b, (b, a)).0)
            ),
        });
    }
}

/// Of two instances sharing a state dir, `(mover, staying)`: the one that
/// wrote its state dir out (one key to change), else the later one.
pub(super) fn state_dir_mover<'a>(
    a: &'a Effective,
    b: &'a Effective,
) -> (&'a Effective, &'a Effective) {
    if b.declaration.state_dir.is_none() && a.declaration.state_dir.is_some() {
        (a, b)
    } else {
        (b, a)
    }
}

/// How to give `moving`, which shares its state dir with `other`, its own.
pub(super) fn state_dir_fix(moving: &Effective, other: &Effective) -> String {
    let own_profile = moving
        .profile
        .as_deref()
        .filter(|profile| other.profile.as_deref() != Some(*profile));
    match (&moving.declaration.state_dir, own_profile) {
        (Some(written), Some(profile)) => format!(
            "change `state_dir: {}` in {} to a path no other instance uses, or remove it: profile `{profile}` alone gives ~/.openclaw-{profile}",
            written.display(),
            file_name(moving)
        ),
        (Some(written), None) => format!(
            "change `state_dir: {}` in {} to a path no other instance uses (e.g. ~/.openclaw-{})",
            written.display(),
            file_name(moving),
            moving.name
        ),
        (None, _) => format!(
            "give {} its own `profile:` in {} (its state dir becomes ~/.openclaw-<profile>), or set `state_dir:` there to a path no other instance uses",
            moving.name,
            file_name(moving)
        ),
    }
}

/// Whether the log file is openclaw's profile-named default.
pub(super) fn log_is_default(instance: &Effective) -> bool {
    instance
        .log_file
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.contains("{date}"))
}

/// How `owner`'s workspace `index` gets away from `away_from`: out of it,
/// or (when the workspace holds it) off it.
pub(super) fn workspace_fix(owner: &Effective, index: usize, away_from: &Path) -> String {
    let workspace = &owner.workspaces[index];
    let own = show(&owner.state_dir.join("workspace"));
    let change = match workspace.source.as_str() {
        "workspace" => format!(
            "remove `workspace:` from {} (the default {own} is {}'s own) or point it elsewhere",
            file_name(owner),
            owner.name
        ),
        "OPENCLAW_WORKSPACE_DIR" => format!(
            "set `workspace: {own}` in {} (the inherited OPENCLAW_WORKSPACE_DIR is shared by every instance that sets none)",
            file_name(owner)
        ),
        "default" => format!(
            "set `workspace:` in {} to a dir of its own, or give {} a state dir of its own",
            file_name(owner),
            owner.name
        ),
        key => format!(
            "change `{key}` in {} to a dir inside {}'s own state dir {}",
            show(&owner.config_path),
            owner.name,
            show(&owner.state_dir)
        ),
    };
    let direction = if away_from.starts_with(&workspace.path) && away_from != workspace.path {
        "off"
    } else {
        "out of"
    };
    format!(
        "move {}'s workspace {direction} {}: {change}",
        owner.name,
        show(away_from)
    )
}

pub(super) fn agent_label(instance: &Effective, index: usize) -> String {
    let workspace = &instance.workspaces[index];
    if workspace.agent == "default" {
        format!("{}'s workspace", instance.name)
    } else {
        format!(
            "{}'s workspace of agent `{}`",
            instance.name, workspace.agent
        )
    }
}

pub(super) fn workspace_problems(
    a: &Effective,
    b: &Effective,
    state_dirs_conflict: bool,
    shared_defaults: &[&str],
    movers: &Movers,
    problems: &mut Vec<Problem>,
) {
    let pair = vec![a.name.clone(), b.name.clone()];
    for (index_a, workspace_a) in a.workspaces.iter().enumerate() {
        for (index_b, workspace_b) in b.workspaces.iter().enumerate() {
            if index_a == 0 && index_b == 0 && shared_defaults.contains(&"default workspace") {
                continue;
            }
            let Some(relation) = relation(&workspace_a.path, &workspace_b.path) else {
                continue;
            };
            let (message, fix) = match relation {
                Relation::Same => (
                    format!(
                        "workspace: {} and {} are the same dir {}",
                        agent_label(a, index_a),
                        agent_label(b, index_b),
                        show(&workspace_a.path)
                    ),
                    match movers.forced(a, b) {
                        Some((moving, _)) if moving.name == a.name => {
                            workspace_fix(a, index_a, &workspace_a.path)
                        }
                        _ => workspace_fix(b, index_b, &workspace_b.path),
                    },
                ),
                Relation::Inside => (
                    format!(
                        "workspace: {} {} is inside {} {}",
                        agent_label(a, index_a),
                        show(&workspace_a.path),
                        agent_label(b, index_b),
                        show(&workspace_b.path)
                    ),
                    match movers.forced(a, b) {
                        Some((moving, _)) if moving.name == b.name => {
                            workspace_fix(b, index_b, &workspace_a.path)
                        }
                        _ => workspace_fix(a, index_a, &workspace_b.path),
                    },
                ),
                Relation::Contains => (
                    format!(
                        "workspace: {} {} is inside {} {}",
                        agent_label(b, index_b),
                        show(&workspace_b.path),
                        agent_label(a, index_a),
                        show(&workspace_a.path)
                    ),
                    match movers.forced(a, b) {
                        Some((moving, _)) if moving.name == a.name => {
                            workspace_fix(a, index_a, &workspace_b.path)
                        }
                        _ => workspace_fix(b, index_b, &workspace_a.path),
                    },
                ),
            };
            problems.push(Problem {
                resource: Resource::Workspace,
                instances: pair.clone(),
                shared: show(&workspace_a.path),
                message,
                fix,
            });
        }
    }
    if state_dirs_conflict {
        // Already reported as a state dir conflict, of which this is a part.
        return;
    }
    for (owner, other) in [(a, b), (b, a)] {
        for (index, workspace) in owner.workspaces.iter().enumerate() {
            if relation(&workspace.path, &other.state_dir).is_none() {
                continue;
            }
            // Meeting one of the other's workspaces is reported above already.
            if other
                .workspaces
                .iter()
                .any(|theirs| relation(&workspace.path, &theirs.path).is_some())
            {
                continue;
            }
            let older_layout = workspace.path.parent() == Some(other.state_dir.as_path())
                && workspace
                    .path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with("workspace-"));
            let guide_note = if older_layout {
                " (the older guide's `~/.openclaw/workspace-<profile>` layout does this)"
            } else {
                ""
            };
            problems.push(Problem {
                resource: Resource::Workspace,
                instances: pair.clone(),
                shared: show(&other.state_dir),
                message: format!(
                    "workspace: {} {} is inside {}'s state dir {}{guide_note}",
                    agent_label(owner, index),
                    show(&workspace.path),
                    other.name,
                    show(&other.state_dir)
                ),
                fix: match movers.forced(owner, other) {
                    Some((moving, _)) if moving.name == other.name => format!(
                        "move {}'s state dir off {}: set `state_dir:` in {} to a path that does not contain {}'s workspace",
                        other.name,
                        show(&workspace.path),
                        file_name(other),
                        owner.name
                    ),
                    _ => workspace_fix(owner, index, &other.state_dir),
                },
            });
        }
    }
}
