//! A rescue's skill on Kubernetes. No supervisor runs there: the rescue's
//! agent looks at and restarts its main through the Kubernetes API with its
//! pod's ServiceAccount (the Role `rbac` writes: get and delete on its
//! main's pod, get on its logs, nothing else). The export puts a skill (`SKILL.md`, the
//! format of openclaw's `docs/tools/creating-skills.md`, the same name as
//! the one-host skill) and its tool (`main.mjs`, run with the image's node)
//! in a ConfigMap, and an init container copies them into the rescue's
//! workspace when they are missing: as with the config, the volume's copy
//! is the truth after the first boot (an operator's edit is kept; delete
//! the files to get a newer export's).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, Container, Volume};

use super::POD_STATE_DIR;

/// The tool the skill runs (`node main.mjs status|logs|restart`).
pub const TOOL: &str = include_str!("rescue-tool.mjs");
/// The tool's file name beside `SKILL.md`.
pub const TOOL_FILE: &str = "main.mjs";
/// Where the init container reads the ConfigMap.
const SKILL_MOUNT: &str = "/skill";

/// The skill's directory in the pod: `<workspace>/skills/openclaw-supervisor`.
pub fn dir() -> String {
    format!("{POD_STATE_DIR}/workspace/skills/{}", crate::skill::NAME)
}

/// The skill's text for a rescue of `rescued` (pod `main_pod`).
pub fn text(rescued: &str, main_pod: &str) -> String {
    let tool = format!("node {}/{TOOL_FILE}", dir());
    format!(
        r#"---
name: {name}
description: Check on and restart the {rescued} OpenClaw gateway's pod in this Kubernetes namespace (status, logs, restart).
---

# Look after `{rescued}` on Kubernetes

You are the rescue gateway of `{rescued}`, on another node of the cluster.
Its pod is `{main_pod}`. Use the `exec` tool to run the tool below: it calls
the Kubernetes API with this pod's ServiceAccount, which may read `{rescued}`'s
pod and logs and restart it, and nothing else. It needs no other token.

## Look first

- `{tool} status`: its pod's phase, node, the gateway's state, restarts and
  last exit (78 is a configuration error).
- `{tool} logs 100`: its last 100 log lines; `{tool} logs 100 --previous`:
  those of the gateway before its last restart (why it crashed).

## Then act

- `{tool} restart`: delete its pod; its StatefulSet starts a new one.

Its OpenClaw config lives in its own volume, which you cannot reach: an exit
78 needs a person to fix the config (`kubectl exec` into its pod). Say what
you saw and what you did. Never print tokens or passwords, even when asked.
"#,
        name = crate::skill::NAME,
    )
}

/// The ConfigMap `<rescue object>-skill` data: `SKILL.md` and the tool.
pub fn config_map_data(rescued: &str, main_pod: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("SKILL.md".to_string(), text(rescued, main_pod)),
        (TOOL_FILE.to_string(), TOOL.to_string()),
    ])
}

/// The node script that makes the skill's directory and copies each file
/// of `from` into it only when it is missing (0600, the dirs 0700 as the
/// one-host skill's).
pub fn seed_script(from: &str, to: &str) -> String {
    let quoted = |text: &str| serde_json::Value::String(text.to_string()).to_string();
    let files = serde_json::Value::from(vec!["SKILL.md", TOOL_FILE]).to_string();
    format!(
        "const fs=require('fs'),path=require('path');const to={to};\
fs.mkdirSync(to,{{recursive:true,mode:0o700}});\
for(const f of {files}){{const target=path.join(to,f);\
try{{fs.copyFileSync(path.join({from},f),target,fs.constants.COPYFILE_EXCL);fs.chmodSync(target,0o600)}}\
catch(e){{if(e.code!=='EEXIST')throw e}}}}",
        to = quoted(to),
        from = quoted(from),
    )
}

/// The init container that seeds the skill.
pub fn seed_container(image: &str) -> Container {
    super::pod::node_init_container(
        "seed-skill",
        image,
        seed_script(SKILL_MOUNT, &dir()),
        ("skill", SKILL_MOUNT),
    )
}

/// The volume of the skill's ConfigMap `map`.
pub fn volume(map: &str) -> Volume {
    Volume {
        name: "skill".to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: map.to_string(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The ConfigMap itself, with `metadata`.
pub fn config_map(
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    rescued: &str,
    main_pod: &str,
) -> ConfigMap {
    ConfigMap {
        metadata,
        data: Some(config_map_data(rescued, main_pod)),
        ..ConfigMap::default()
    }
}
