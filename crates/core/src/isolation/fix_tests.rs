//! Which side of a conflict its fix asks to change: the smaller move in
//! `check`, the file being added or changed in a reload.

use std::path::PathBuf;

use super::fixtures::{explicit, instance, state, with};
use super::*;
use crate::openclaw::PortSource;

/// One fix per row: the set, the instance ranked to move (none: the
/// default rule), and the words the fix must hold and must not hold.
type FixRow = (
    &'static str,
    Vec<Effective>,
    Option<&'static str>,
    &'static str,
    &'static str,
);

fn run_fix_rows(rows: Vec<FixRow>) {
    let mut failures = Vec::new();
    for (what, set, ranked, wanted, unwanted) in rows {
        let mut movers = Movers::default();
        if let Some(name) = ranked {
            movers.rank(name, 2);
        }
        let problems = check_with(&set, &movers, &Default::default());
        if problems.len() != 1 {
            failures.push(format!("{what}: one problem expected, got {problems:#?}"));
            continue;
        }
        let fix = &problems[0].fix;
        if !fix.contains(wanted) || (!unwanted.is_empty() && fix.contains(unwanted)) {
            failures.push(format!(
                "{what}: the fix should hold `{wanted}` and not `{unwanted}`: {fix}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn check_asks_the_smaller_port_move_not_the_later_name() {
    run_fix_rows(vec![
        (
            "a's port is the higher: moving a is the smaller move",
            vec![instance("a", 18800), instance("b", 18750)],
            None,
            "move a to 19750 (`port: 19750` in a.yaml)",
            "b.yaml",
        ),
        (
            "b's port is the higher: b moves",
            vec![instance("a", 18750), instance("b", 18800)],
            None,
            "move b to 19750 (`port: 19750` in b.yaml)",
            "a.yaml",
        ),
        (
            "an equal move: the weaker port source",
            vec![
                instance("a", 18789),
                with(instance("b", 18789), |b| {
                    b.port_source = PortSource::BuiltIn
                }),
            ],
            None,
            "move b to 19789",
            "a.yaml",
        ),
    ]);
}

#[test]
fn the_ranked_instance_is_the_one_each_fix_changes() {
    let shared_state = |name: &str, port: u16, wrote: bool| {
        with(instance(name, port), |i| {
            state(i, "/h/.openclaw-shared");
            if wrote {
                i.declaration.state_dir = Some(PathBuf::from("/h/.openclaw-shared"));
            }
        })
    };
    run_fix_rows(vec![
        (
            "ports: the newcomer at the lower port moves, not the running one",
            vec![instance("extra", 18700), instance("main", 18789)],
            Some("extra"),
            "move extra to 19789 (`port: 19789` in extra.yaml)",
            "main.yaml",
        ),
        (
            "ports, both hashed: only the ranked one is asked to set a port",
            vec![
                with(instance("a", 23592), |a| {
                    a.port_source = PortSource::ProfileHash
                }),
                with(instance("b", 23532), |b| {
                    b.port_source = PortSource::ProfileHash
                }),
            ],
            Some("b"),
            "in b.yaml",
            "a.yaml",
        ),
        (
            "an explicit port in the ranked one's block",
            vec![
                with(instance("a", 18789), |a| {
                    a.explicit_ports.push(explicit("browser.cdpUrl", 19792))
                }),
                instance("b", 19789),
            ],
            Some("b"),
            "move b to",
            "change `browser.cdpUrl`",
        ),
        (
            "state dir: the ranked one, though the other wrote it out",
            vec![
                shared_state("a", 18789, true),
                shared_state("b", 19789, false),
            ],
            Some("b"),
            "b.yaml",
            "a.yaml",
        ),
        (
            "nested state dirs: the ranked outer one moves",
            vec![
                with(instance("a", 18789), |a| state(a, "/h/.openclaw-b/inner")),
                instance("b", 19789),
            ],
            Some("b"),
            "move b's state dir off /h/.openclaw-b/inner",
            "a.yaml",
        ),
        (
            "config: the ranked earlier name",
            vec![
                instance("a", 18789),
                with(instance("b", 19789), |b| {
                    b.config_path = PathBuf::from("/h/.openclaw-a/openclaw.json")
                }),
            ],
            Some("a"),
            "give a its own config: set `config:` in a.yaml",
            "b.yaml",
        ),
        (
            "log file",
            vec![
                with(instance("a", 18789), |a| {
                    a.log_file = PathBuf::from("/var/log/oc.log")
                }),
                with(instance("b", 19789), |b| {
                    b.log_file = PathBuf::from("/var/log/oc.log")
                }),
            ],
            Some("a"),
            "in a's OpenClaw config /h/.openclaw-a/openclaw.json",
            "b's",
        ),
        (
            "tmpdir",
            vec![
                with(instance("a", 18789), |a| a.tmpdir = PathBuf::from("/tmp")),
                with(instance("b", 19789), |b| b.tmpdir = PathBuf::from("/tmp")),
            ],
            Some("a"),
            "set `tmpdir:` in a.yaml",
            "b.yaml",
        ),
        (
            "the same workspace",
            vec![
                instance("a", 18789),
                with(instance("b", 19789), |b| {
                    b.workspaces[0].path = PathBuf::from("/h/.openclaw-a/workspace")
                }),
            ],
            Some("a"),
            "move a's workspace",
            "move b's",
        ),
        (
            "a workspace inside the ranked one's: the outer one moves off it",
            vec![
                with(instance("a", 18789), |a| {
                    a.workspaces[0].path = PathBuf::from("/w/shared/a")
                }),
                with(instance("b", 19789), |b| {
                    b.workspaces[0].path = PathBuf::from("/w/shared")
                }),
            ],
            Some("b"),
            "move b's workspace off /w/shared/a",
            "move a's",
        ),
        (
            "a workspace inside the ranked one's state dir: its state dir moves",
            vec![
                with(instance("a", 18789), |a| {
                    a.workspaces[0].path = PathBuf::from("/h/.openclaw-b/work-a")
                }),
                instance("b", 19789),
            ],
            Some("b"),
            "move b's state dir off /h/.openclaw-b/work-a",
            "move a's",
        ),
    ]);
}
