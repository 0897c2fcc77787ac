use std::path::PathBuf;

use super::fixtures::{explicit, instance, state, with};
use super::*;
use crate::declaration::Role;
use crate::openclaw::{PortSource, Workspace};

/// (what the row shows, the set, the problems expected: resource and words
/// in the message or the fix)
type Row = (&'static str, Vec<Effective>, Vec<(Resource, &'static str)>);

fn run_rows(rows: Vec<Row>) {
    let mut failures = Vec::new();
    for (what, set, expected) in rows {
        let problems = check(&set);
        let found: Vec<(Resource, String)> = problems
            .iter()
            .map(|problem| (problem.resource, problem.to_string()))
            .collect();
        let matches = found.len() == expected.len()
            && expected.iter().all(|(resource, words)| {
                found
                    .iter()
                    .any(|(got, text)| got == resource && text.contains(words))
            });
        if !matches {
            failures.push(format!("{what}: expected {expected:?}\n  got {found:#?}"));
        }
        for problem in &problems {
            // Every conflict names both instances in its message.
            for name in &problem.instances {
                if !problem.message.contains(name.as_str()) {
                    failures.push(format!(
                        "{what}: `{}` does not name {name}",
                        problem.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_sound_pair_has_no_problems() {
    run_rows(vec![(
        "the guide's main and rescue",
        vec![
            with(instance("main", 18789), |main| main.profile = None),
            with(instance("rescue", 19789), |rescue| {
                rescue.declaration.role = Role::Rescue;
                rescue.declaration.rescue_of = Some("main".to_string());
            }),
        ],
        vec![],
    )]);
}

#[test]
fn config_files_are_unique() {
    run_rows(vec![
        (
            "shared config",
            vec![
                instance("a", 18789),
                with(instance("b", 19789), |b| {
                    b.config_path = PathBuf::from("/h/.openclaw-a/openclaw.json")
                }),
            ],
            vec![(
                Resource::Config,
                "both read the OpenClaw config /h/.openclaw-a/openclaw.json",
            )],
        ),
        (
            "own configs",
            vec![
                with(instance("a", 18789), |a| {
                    a.config_path = PathBuf::from("/etc/oc/a.json")
                }),
                with(instance("b", 19789), |b| {
                    b.config_path = PathBuf::from("/etc/oc/b.json")
                }),
            ],
            vec![],
        ),
    ]);
}

#[test]
fn state_dirs_are_unique_and_not_nested() {
    run_rows(vec![
        (
            "one state dir: reported once, with what follows from it",
            vec![
                with(instance("a", 18789), |a| state(a, "/srv/oc")),
                with(instance("b", 19789), |b| state(b, "/srv/oc")),
            ],
            vec![(
                Resource::StateDir,
                "so their config, default workspace and TMPDIR, which default to paths inside it, are shared too",
            )],
        ),
        (
            "one state dir through a symlink says so",
            vec![
                with(instance("a", 18789), |a| state(a, "/srv/oc")),
                with(instance("b", 19789), |b| {
                    state(b, "/srv/oc");
                    b.via_symlink.push(crate::openclaw::DeclaredPath {
                        key: "state_dir".to_string(),
                        written: PathBuf::from("link"),
                    });
                }),
            ],
            vec![(
                Resource::StateDir,
                "a and b both use /srv/oc (`state_dir: link` in b.yaml reaches it through a symlink)",
            )],
        ),
        (
            "nested",
            vec![
                with(instance("a", 18789), |a| state(a, "/srv/oc")),
                with(instance("b", 19789), |b| state(b, "/srv/oc/b")),
            ],
            vec![
                (
                    Resource::StateDir,
                    "b's state dir /srv/oc/b is inside a's state dir /srv/oc",
                ),
                // b's workspace is then in a's state dir: reported as part of it, not again.
            ],
        ),
        (
            "a shared name prefix is not nesting",
            vec![
                with(instance("a", 18789), |a| state(a, "/h/.openclaw")),
                with(instance("b", 19789), |b| state(b, "/h/.openclaw-b")),
            ],
            vec![],
        ),
    ]);
}

#[test]
fn workspaces_are_unique_not_nested_and_not_in_another_state_dir() {
    run_rows(vec![
        (
            "same workspace",
            vec![
                with(instance("a", 18789), |a| {
                    a.workspaces[0].path = PathBuf::from("/ws")
                }),
                with(instance("b", 19789), |b| {
                    b.workspaces[0].path = PathBuf::from("/ws");
                    b.workspaces[0].source = "workspace".to_string();
                }),
            ],
            vec![(
                Resource::Workspace,
                "remove `workspace:` from b.yaml (the default /h/.openclaw-b/workspace is b's own)",
            )],
        ),
        (
            "nested workspaces",
            vec![
                with(instance("a", 18789), |a| {
                    a.workspaces[0].path = PathBuf::from("/ws")
                }),
                with(instance("b", 19789), |b| {
                    b.workspaces[0].path = PathBuf::from("/ws/b")
                }),
            ],
            vec![(
                Resource::Workspace,
                "b's workspace /ws/b is inside a's workspace /ws",
            )],
        ),
        (
            "a workspace in another instance's state dir (the older guide's layout)",
            vec![
                instance("main", 18789),
                with(instance("rescue", 19789), |rescue| {
                    rescue.workspaces[0].path = PathBuf::from("/h/.openclaw-main/workspace-rescue");
                    rescue.workspaces[0].source = "workspace".to_string();
                }),
            ],
            vec![(
                Resource::Workspace,
                "rescue's workspace /h/.openclaw-main/workspace-rescue is inside main's state dir /h/.openclaw-main (the older guide's",
            )],
        ),
        (
            "a listed agent's workspace, fixed in the config",
            vec![
                instance("a", 18789),
                with(instance("b", 19789), |b| {
                    b.workspaces.push(Workspace {
                        agent: "helper".to_string(),
                        path: PathBuf::from("/h/.openclaw-a/workspace"),
                        source: "agents.list[0].workspace".to_string(),
                    });
                }),
            ],
            vec![(
                Resource::Workspace,
                "a's workspace and b's workspace of agent `helper` are the same dir /h/.openclaw-a/workspace; fix: move b's workspace out of /h/.openclaw-a/workspace: change `agents.list[0].workspace` in /h/.openclaw-b/openclaw.json",
            )],
        ),
        (
            "an instance's own agents may nest inside its own dirs",
            vec![
                with(instance("a", 18789), |a| {
                    a.workspaces.push(Workspace {
                        agent: "x".to_string(),
                        path: PathBuf::from("/h/.openclaw-a/workspace/x"),
                        source: "agents.defaults.workspace".to_string(),
                    });
                }),
                instance("b", 19789),
            ],
            vec![],
        ),
    ]);
}

#[test]
fn log_files_are_unique() {
    run_rows(vec![
        (
            "two default-profile instances with their own state dirs",
            vec![
                with(instance("main", 18789), |main| {
                    main.profile = None;
                    main.log_file = PathBuf::from("/tmp/openclaw/openclaw-{date}.log");
                }),
                with(instance("staging", 19789), |staging| {
                    staging.profile = None;
                    staging.log_file = PathBuf::from("/tmp/openclaw/openclaw-{date}.log");
                }),
            ],
            vec![(
                Resource::LogFile,
                "openclaw names its log after the profile (both use the default profile), not after the state dir",
            )],
        ),
        (
            "the same logging.file",
            vec![
                with(instance("a", 18789), |a| {
                    a.log_file = PathBuf::from("/var/log/oc.log")
                }),
                with(instance("b", 19789), |b| {
                    b.log_file = PathBuf::from("/var/log/oc.log")
                }),
            ],
            vec![(Resource::LogFile, "set a different `logging.file`")],
        ),
        (
            "profile-named logs",
            vec![instance("a", 18789), instance("b", 19789)],
            vec![],
        ),
    ]);
}

#[test]
fn tmpdirs_are_unique() {
    run_rows(vec![
        (
            "shared TMPDIR",
            vec![
                with(instance("a", 18789), |a| a.tmpdir = PathBuf::from("/tmp")),
                with(instance("b", 19789), |b| b.tmpdir = PathBuf::from("/tmp")),
            ],
            vec![(Resource::Tmpdir, "set `tmpdir:` in b.yaml")],
        ),
        (
            "own TMPDIRs",
            vec![instance("a", 18789), instance("b", 19789)],
            vec![],
        ),
    ]);
}

#[test]
fn port_blocks_are_disjoint() {
    run_rows(vec![
        (
            "the guide's 20-port spacing",
            vec![
                instance("main", 18789),
                with(instance("rescue", 18809), |rescue| {
                    rescue.declaration.role = Role::Rescue
                }),
            ],
            vec![(
                Resource::Ports,
                "overlap at 18809..18899: a gateway owns the 111 ports base..base+110 (browser control +2, CDP +3, relay +10, browser profiles' CDP +11..+110); 18789 and 18809 are only 20 apart, as the guide's 20-port spacing allows; fix: move rescue to 19789 (`port: 19789` in rescue.yaml): a port block needs 111 ports, so base ports must be at least 111 apart; the guide's 20-port spacing is not enough",
            )],
        ),
        (
            "110 apart still meet at one port",
            vec![instance("a", 18789), instance("b", 18899)],
            vec![(Resource::Ports, "overlap at 18899")],
        ),
        (
            "111 apart",
            vec![instance("a", 18789), instance("b", 18900)],
            vec![],
        ),
        (
            "the same port",
            vec![
                instance("a", 18789),
                with(instance("b", 18789), |b| {
                    b.port_source = PortSource::BuiltIn
                }),
            ],
            vec![(
                Resource::Ports,
                "both use gateway port 18789 (a: declaration, b: built-in); fix: move b to 19789",
            )],
        ),
        (
            "hashed defaults of main and rescue",
            vec![
                with(instance("main", 23592), |main| {
                    main.port_source = PortSource::ProfileHash
                }),
                with(instance("rescue", 23532), |rescue| {
                    rescue.port_source = PortSource::ProfileHash;
                    rescue.declaration.role = Role::Rescue;
                }),
            ],
            vec![(
                Resource::Ports,
                "main and rescue set no port, so openclaw derives one from each profile name (20000 + fnv1a32(profile) % 40000): main 23592 and rescue 23532, only 60 apart; their blocks 23592..23702 and 23532..23642 overlap at 23592..23642; fix: set `port:` in both declarations, e.g. `port: 18789` in main.yaml and `port: 19789` in rescue.yaml",
            )],
        ),
        (
            "a suggestion skips ports already taken",
            vec![
                instance("a", 18789),
                instance("b", 18800),
                instance("c", 19789),
            ],
            vec![(Resource::Ports, "move b to 20789")],
        ),
    ]);
}

#[test]
fn explicit_cdp_ports_are_part_of_the_footprint() {
    run_rows(vec![
        (
            "a cdpUrl port in the other's block",
            vec![
                with(instance("a", 18789), |a| {
                    a.explicit_ports.push(explicit("browser.cdpUrl", 19792))
                }),
                instance("b", 19789),
            ],
            vec![(
                Resource::Ports,
                "a's `browser.cdpUrl` port 19792 is in b's port block 19789..19899",
            )],
        ),
        (
            "two profiles on one CDP port",
            vec![
                with(instance("a", 18789), |a| {
                    a.explicit_ports
                        .push(explicit("browser.profiles.w.cdpPort", 30000))
                }),
                with(instance("b", 19789), |b| {
                    b.explicit_ports
                        .push(explicit("browser.profiles.x.cdpUrl", 30000))
                }),
            ],
            vec![(
                Resource::Ports,
                "a's `browser.profiles.w.cdpPort` port 30000 is in b's `browser.profiles.x.cdpUrl` port",
            )],
        ),
        (
            "explicit ports inside the own block",
            vec![
                with(instance("a", 18789), |a| {
                    a.explicit_ports.push(explicit("browser.cdpUrl", 18792))
                }),
                instance("b", 19789),
            ],
            vec![],
        ),
    ]);
}

#[test]
fn ports_lie_in_1024_to_65535() {
    run_rows(vec![
        (
            "a privileged port",
            vec![instance("a", 80)],
            vec![(
                Resource::PortRange,
                "a's gateway port 80 (declaration) is below 1024",
            )],
        ),
        (
            "port 0 is not privileged: it is no fixed port at all",
            vec![instance("a", 0)],
            vec![(
                Resource::PortRange,
                "a's gateway port is 0 (declaration): port 0 lets the system pick any free port",
            )],
        ),
        (
            "a CDP port 0",
            vec![with(instance("a", 18789), |a| {
                a.explicit_ports.push(explicit("browser.cdpUrl", 0))
            })],
            vec![(
                Resource::PortRange,
                "`browser.cdpUrl` port is 0: port 0 lets the system pick any free port",
            )],
        ),
        (
            "a privileged CDP port",
            vec![with(instance("a", 18789), |a| {
                a.explicit_ports.push(explicit("browser.cdpUrl", 443))
            })],
            vec![(
                Resource::PortRange,
                "`browser.cdpUrl` port 443 is below 1024",
            )],
        ),
        (
            "a block past 65535 falls back to the shared CDP range",
            vec![instance("a", 65500), instance("b", 18789)],
            vec![
                (
                    Resource::PortRange,
                    "a's port block 65500..65610 runs past 65535, so openclaw moves its browsers' CDP ports to the shared range 18800..18899; fix: move a to 19789",
                ),
                (
                    Resource::Ports,
                    "a's block 65500..65610 runs past 65535, so its CDP ports fall back to the shared 18800..18899, which meets b's block 18789..18899 at 18800..18899; fix: move a to 19789",
                ),
            ],
        ),
        (
            "the last block that fits",
            vec![instance("a", 65425)],
            vec![],
        ),
    ]);
}

#[test]
fn rescue_of_names_an_instance_of_the_set() {
    let rescue = |target: &str| {
        let target = target.to_string();
        with(instance("rescue", 19789), move |rescue| {
            rescue.declaration.role = Role::Rescue;
            rescue.declaration.rescue_of = Some(target);
        })
    };
    run_rows(vec![
        (
            "a typo",
            vec![instance("main", 18789), rescue("mian")],
            vec![(
                Resource::RescueOf,
                "no instance is named `mian`; fix: set `rescue_of:` in rescue.yaml to one of: main",
            )],
        ),
        (
            "present",
            vec![instance("main", 18789), rescue("main")],
            vec![],
        ),
    ]);
}

#[test]
fn every_problem_is_collected() {
    // One pair breaking several rules at once reports each of them.
    let set = vec![
        instance("a", 18789),
        with(instance("b", 18809), |b| {
            b.log_file = PathBuf::from("/tmp/openclaw/openclaw-a-{date}.log");
            b.tmpdir = PathBuf::from("/h/.openclaw-a/tmp");
        }),
    ];
    let resources: Vec<Resource> = check(&set).iter().map(|problem| problem.resource).collect();
    assert_eq!(
        resources,
        [Resource::LogFile, Resource::Tmpdir, Resource::Ports]
    );
}

#[test]
fn ports_in_the_ephemeral_range_get_a_warning_with_a_fix() {
    let ephemeral = 32_768..=60_999;
    let set = vec![
        instance("main", 18_789),
        instance("rescue", 19_789),
        instance("work", 40_000),
        // Its block only reaches into the range.
        instance("edge", 32_700),
    ];
    let warnings = ephemeral_warnings(&set, &ephemeral);
    let names: Vec<&str> = warnings.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["work", "edge"]);
    let (_, work) = &warnings[0];
    for words in [
        "work's ports 40000..40110 lie in the ephemeral port range 32768..60999",
        "net.ipv4.ip_local_port_range",
        "TIME-WAIT",
        // The first base below the range that meets neither main nor rescue.
        "fix: move work below 32768 (`port: 20789` in work.yaml)",
        "net.ipv4.ip_local_reserved_ports=40000-40110",
    ] {
        assert!(work.contains(words), "`{words}` not in: {work}");
    }
    let (_, edge) = &warnings[1];
    assert!(edge.contains("ports 32768..32810"), "{edge}");
    // A warning, never a conflict: the set is still sound.
    assert!(check(&set).is_empty());
}
