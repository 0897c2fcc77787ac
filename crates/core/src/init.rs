//! `init`'s pure core: the base port of a new instance (a free 111-port
//! block), and the text of the declaration and of the minimal OpenClaw
//! config it writes. The IO (what is declared, which ports are held, the
//! ephemeral range, the random tokens, the files) is in `src/cli/init.rs`.
//!
//! The config keys are openclaw 2026.9.6's, from its package's docs:
//! `gateway.mode`/`port`/`bind`/`auth.mode`/`auth.token`
//! (`docs/gateway/config-gateway.md`), `update.checkOnStart` and
//! `models.catalogRefresh.enabled` (`docs/gateway/config-runtime.md`),
//! `hooks.enabled`/`token`/`path` (`docs/gateway/config-hooks.md`).

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use crate::openclaw::{DEFAULT_PORT, PORT_BLOCK_SPAN};

/// Preferred bases step by one whole block (111 ports) up from the
/// gateway's default port.
pub const BASE_STEP: u32 = PORT_BLOCK_SPAN + 1;
const MIN_PORT: u32 = 1024;
const MAX_PORT: u32 = 65535;
/// The path the hooks are served under (openclaw's default, written out).
pub const HOOKS_PATH: &str = "/hooks";

/// What a new instance's port block must avoid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortWorld {
    /// Ranges the declared instances own, by instance.
    pub taken: Vec<(String, RangeInclusive<u32>)>,
    /// Local ports held now by a socket.
    pub held: BTreeSet<u16>,
    /// The kernel's ephemeral port range, when known.
    pub ephemeral: Option<RangeInclusive<u32>>,
}

/// Why a base port cannot be a new instance's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockProblem {
    #[error("its block {start}..{end} does not lie within 1024..65535")]
    OutOfRange { start: u32, end: u32 },
    #[error("its block {start}..{end} meets ports {other_start}..{other_end} of `{instance}`")]
    Taken {
        start: u32,
        end: u32,
        instance: String,
        other_start: u32,
        other_end: u32,
    },
    #[error("port {port} of its block {start}..{end} is in use now")]
    Held { start: u32, end: u32, port: u16 },
    #[error(
        "its block {start}..{end} meets the ephemeral port range {low}..{high} (net.ipv4.ip_local_port_range)"
    )]
    Ephemeral {
        start: u32,
        end: u32,
        low: u32,
        high: u32,
    },
}

impl PortWorld {
    /// Why the block from `base` cannot be used, or None when it can.
    pub fn problem(&self, base: u16) -> Option<BlockProblem> {
        let (start, end) = (u32::from(base), u32::from(base) + PORT_BLOCK_SPAN);
        let meets = |range: &RangeInclusive<u32>| *range.start() <= end && start <= *range.end();
        if start < MIN_PORT || end > MAX_PORT {
            return Some(BlockProblem::OutOfRange { start, end });
        }
        if let Some((instance, range)) = self.taken.iter().find(|(_, range)| meets(range)) {
            return Some(BlockProblem::Taken {
                start,
                end,
                instance: instance.clone(),
                other_start: *range.start(),
                other_end: *range.end(),
            });
        }
        // `end` is at most 65535 here, so the cast is exact.
        if let Some(port) = self.held.range(base..=end as u16).next() {
            return Some(BlockProblem::Held {
                start,
                end,
                port: *port,
            });
        }
        match &self.ephemeral {
            Some(range) if meets(range) => Some(BlockProblem::Ephemeral {
                start,
                end,
                low: *range.start(),
                high: *range.end(),
            }),
            _ => None,
        }
    }
}

/// The base port for a new instance: 18789 (the gateway's default) or the
/// first step of 111 above it whose block is free; failing those, the
/// steps of 111 below 18789. None when no block fits.
pub fn plan_base_port(world: &PortWorld) -> Option<u16> {
    let default = u32::from(DEFAULT_PORT);
    let upward = (0..)
        .map(|step| default + step * BASE_STEP)
        .take_while(|base| base + PORT_BLOCK_SPAN <= MAX_PORT);
    let downward = (1..)
        .map_while(|step| default.checked_sub(step * BASE_STEP))
        .take_while(|base| *base >= MIN_PORT);
    upward
        .chain(downward)
        .filter_map(|base| u16::try_from(base).ok())
        .find(|base| world.problem(*base).is_none())
}

/// What `init` writes for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    /// The instance name, also its profile.
    pub name: String,
    pub port: u16,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub workspace: PathBuf,
    /// `role: rescue` of this instance, when set.
    pub rescue_of: Option<String>,
    pub standby: bool,
}

impl NewInstance {
    /// The declaration file's text.
    pub fn declaration_yaml(&self) -> String {
        let declaration = crate::declaration::Declaration {
            profile: Some(self.name.clone()),
            port: Some(self.port),
            config: Some(self.config.clone()),
            state_dir: Some(self.state_dir.clone()),
            workspace: Some(self.workspace.clone()),
            role: if self.rescue_of.is_some() {
                crate::declaration::Role::Rescue
            } else {
                crate::declaration::Role::Main
            },
            rescue_of: self.rescue_of.clone(),
            standby: self.standby,
            // Its config gets hooks (`config_json`): its agent is woken.
            wake: self
                .rescue_of
                .as_ref()
                .map(|_| crate::declaration::WakeEndpoint::Agent),
            ..Default::default()
        };
        let header = format!(
            "Written by `openclaw-supervisor init {}`; keys: README.md, \"Declaration reference\".",
            self.name
        );
        crate::declaration::to_yaml(&declaration, &[header], &[])
    }

    /// The minimal OpenClaw config: local mode on loopback at the port,
    /// token auth, no update check, no hosted catalogue refresh; for a
    /// rescue, its hooks too, with a token of their own.
    pub fn config_json(&self, gateway_token: &str, hooks_token: Option<&str>) -> String {
        let mut config = serde_json::json!({
            "gateway": {
                "mode": "local",
                "port": self.port,
                "bind": "loopback",
                "auth": { "mode": "token", "token": gateway_token },
            },
            "update": { "checkOnStart": false },
            "models": { "catalogRefresh": { "enabled": false } },
        });
        if let (Some(token), Some(object)) = (hooks_token, config.as_object_mut()) {
            object.insert(
                "hooks".to_string(),
                serde_json::json!({ "enabled": true, "token": token, "path": HOOKS_PATH }),
            );
        }
        format!("{config:#}\n")
    }
}

/// A token's text: 32 random bytes as 64 hex digits.
pub fn token_text(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(
        taken: &[RangeInclusive<u32>],
        held: &[u16],
        ephemeral: Option<RangeInclusive<u32>>,
    ) -> PortWorld {
        PortWorld {
            taken: taken
                .iter()
                .map(|range| ("other".to_string(), range.clone()))
                .collect(),
            held: held.iter().copied().collect(),
            ephemeral,
        }
    }

    #[test]
    fn the_planner_takes_the_first_free_block_in_steps_of_111() {
        let linux = Some(32768..=60999);
        let cases: &[(&str, PortWorld, Option<u16>)] = &[
            ("nothing taken", world(&[], &[], linux.clone()), Some(18789)),
            (
                "main's block taken",
                world(&[18789..=18899], &[], linux.clone()),
                Some(18900),
            ),
            (
                "two blocks taken",
                world(&[18789..=18899, 18900..=19010], &[], linux.clone()),
                Some(19011),
            ),
            (
                "a block 20 above the default meets the first two steps",
                world(&[18809..=18919], &[], linux.clone()),
                Some(19011),
            ),
            (
                "an explicit CDP port in the default block",
                world(&[18850..=18850], &[], None),
                Some(18900),
            ),
            (
                "a held port at the top of the default block",
                world(&[], &[18899], linux.clone()),
                Some(18900),
            ),
            (
                "a held port just past the default block does not matter",
                world(&[], &[18900], linux.clone()),
                Some(18789),
            ),
            (
                "held ports in the first steps",
                world(&[], &[18789, 18950, 19100, 19200], linux.clone()),
                Some(19233),
            ),
            (
                "an ephemeral range from 18000 pushes above it",
                world(&[], &[], Some(18000..=60999)),
                Some(61080),
            ),
            (
                "an ephemeral range from 18000 to the top pushes below the default",
                world(&[], &[], Some(18000..=65535)),
                Some(17790),
            ),
            (
                "an ephemeral range over everything above 1024",
                world(&[], &[], Some(1024..=65535)),
                None,
            ),
            (
                "no ephemeral range known",
                world(&[], &[], None),
                Some(18789),
            ),
        ];
        for (what, world, expected) in cases {
            assert_eq!(plan_base_port(world), *expected, "{what}");
            if let Some(base) = expected {
                assert_eq!(world.problem(*base), None, "{what}");
            }
        }
    }

    #[test]
    fn the_planner_moves_to_steps_below_the_default_when_all_above_are_taken() {
        let world = world(&[18789..=65535], &[], None);
        assert_eq!(plan_base_port(&world), Some(18789 - 111));
    }

    #[test]
    fn a_chosen_port_is_refused_with_the_reason() {
        let world = PortWorld {
            taken: vec![("main".to_string(), 18789..=18899)],
            held: [20000].into_iter().collect(),
            ephemeral: Some(32768..=60999),
        };
        let cases: &[(u16, Option<&str>)] = &[
            (
                18850,
                Some("its block 18850..18960 meets ports 18789..18899 of `main`"),
            ),
            (
                19950,
                Some("port 20000 of its block 19950..20060 is in use now"),
            ),
            (
                32700,
                Some(
                    "its block 32700..32810 meets the ephemeral port range 32768..60999 (net.ipv4.ip_local_port_range)",
                ),
            ),
            (
                65500,
                Some("its block 65500..65610 does not lie within 1024..65535"),
            ),
            (
                80,
                Some("its block 80..190 does not lie within 1024..65535"),
            ),
            (18900, None),
        ];
        for (base, expected) in cases {
            let problem = world.problem(*base).map(|problem| problem.to_string());
            assert_eq!(problem.as_deref(), *expected, "{base}");
        }
    }

    fn instance(rescue_of: Option<&str>, standby: bool) -> NewInstance {
        NewInstance {
            name: "rescue".to_string(),
            port: 18900,
            config: PathBuf::from("/home/u/.openclaw-rescue/openclaw.json"),
            state_dir: PathBuf::from("/home/u/.openclaw-rescue"),
            workspace: PathBuf::from("/home/u/.openclaw-rescue/workspace"),
            rescue_of: rescue_of.map(str::to_string),
            standby,
        }
    }

    #[test]
    fn the_declaration_parses_back_to_what_was_asked() {
        let cases = [(None, false), (Some("main"), false), (Some("main"), true)];
        for (rescue_of, standby) in cases {
            let new = instance(rescue_of, standby);
            let text = new.declaration_yaml();
            let loaded = crate::declaration::parse(std::path::Path::new("rescue.yaml"), &text)
                .expect("the written declaration parses");
            let declaration = loaded.declaration;
            assert_eq!(declaration.profile.as_deref(), Some("rescue"));
            assert_eq!(declaration.port, Some(18900));
            assert_eq!(declaration.config, Some(new.config.clone()));
            assert_eq!(declaration.state_dir, Some(new.state_dir.clone()));
            assert_eq!(declaration.workspace, Some(new.workspace.clone()));
            assert_eq!(declaration.rescue_of.as_deref(), rescue_of);
            assert_eq!(declaration.standby, standby);
            let role = if rescue_of.is_some() {
                crate::declaration::Role::Rescue
            } else {
                crate::declaration::Role::Main
            };
            assert_eq!(declaration.role, role, "{text}");
            let wake = rescue_of.map(|_| crate::declaration::WakeEndpoint::Agent);
            assert_eq!(declaration.wake, wake, "{text}");
        }
    }

    #[test]
    fn names_that_yaml_reads_as_other_things_stay_names() {
        for name in ["null", "true", "no", "off", "123", "0x1f", "1e3"] {
            let mut new = instance(Some(name), false);
            new.name = name.to_string();
            let text = new.declaration_yaml();
            let loaded = crate::declaration::parse(std::path::Path::new("x.yaml"), &text)
                .unwrap_or_else(|err| panic!("{name}: {err}\n{text}"));
            assert_eq!(loaded.declaration.profile.as_deref(), Some(name), "{text}");
            assert_eq!(
                loaded.declaration.rescue_of.as_deref(),
                Some(name),
                "{text}"
            );
        }
    }

    #[test]
    fn the_config_has_the_keys_asked_and_hooks_only_for_a_rescue() {
        let main: serde_json::Value =
            json5::from_str(&instance(None, false).config_json("g-token", None)).expect("JSON5");
        let expected = serde_json::json!({
            "gateway": { "mode": "local", "port": 18900, "bind": "loopback",
                         "auth": { "mode": "token", "token": "g-token" } },
            "update": { "checkOnStart": false },
            "models": { "catalogRefresh": { "enabled": false } },
        });
        assert_eq!(main, expected);
        let rescue: serde_json::Value =
            json5::from_str(&instance(Some("main"), true).config_json("g-token", Some("h-token")))
                .expect("JSON5");
        assert_eq!(
            rescue["hooks"],
            serde_json::json!({ "enabled": true, "token": "h-token", "path": "/hooks" })
        );
    }

    #[test]
    fn tokens_are_64_hex_digits() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x01;
        let token = token_text(&bytes);
        assert_eq!(token.len(), 64);
        assert!(token.starts_with("ab00"));
        assert!(token.ends_with("0001"));
    }
}
