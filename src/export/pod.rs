//! The pod of one instance: its environment (the supervisor's, with the
//! volume's paths), its containers and resources.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, ObjectFieldSelector,
    ResourceRequirements, SecretKeySelector, SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::secrets::{SecretKey, is_secret_name};
use super::{POD_HOME, POD_STATE_DIR};
use crate::openclaw::{Effective, EnvMap};

/// The vendor's optional provider keys: referenced, never required.
pub const OPTIONAL_PROVIDER_KEYS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
];
/// The image's user and group (the vendor's `node`, uid 1000).
pub const POD_USER: i64 = 1000;
const CONFIG_MOUNT: &str = "/config";
const DEFAULT_MEMORY_LIMIT_MIB: u64 = 2048;
const MIB: u64 = 1024 * 1024;

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Value(String),
    Secret { key: String, optional: bool },
    Field(String),
}

/// The container's environment: what the supervisor gives the gateway
/// (external mode, `NO_COLOR`, no `OPENCLAW_NO_RESPAWN`, the declaration's
/// `env:`) with the volume's paths, secret-looking variables and every
/// `${VAR}` of the config as references into `secret`.
pub struct Environment {
    pub vars: Vec<EnvVar>,
    /// The Secret's required keys, sorted.
    pub keys: Vec<SecretKey>,
}

pub fn environment(
    effective: &Effective,
    config_keys: &[SecretKey],
    secret: &str,
    extra: &[(String, String)],
    memory_limit_mib: u64,
) -> Environment {
    let mut pod = effective.clone();
    pod.state_dir = PathBuf::from(POD_STATE_DIR);
    pod.config_path = pod.state_dir.join("openclaw.json");
    pod.tmpdir = PathBuf::from("/tmp");
    pod.declared_workspace = Some(pod.state_dir.join("workspace"));
    let declared = &effective.declaration.env;
    let mut vars: BTreeMap<String, Source> = pod
        .child_env(&EnvMap::new())
        .into_iter()
        .map(|(name, value)| (name, Source::Value(value)))
        .collect();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in declared {
        // A secret by its name, or by its value: a URL with credentials
        // (`http://user:pass@proxy`) whatever the variable is called.
        if is_secret_name(name) || crate::vendor::has_url_credentials(value) {
            vars.insert(
                name.clone(),
                Source::Secret {
                    key: name.clone(),
                    optional: false,
                },
            );
            keys.insert(name.clone(), format!("env: {name}"));
        }
    }
    // The volume's paths win over a declared host path.
    vars.remove("OPENCLAW_HOME");
    for (name, value) in [
        ("HOME", POD_HOME.to_string()),
        ("OPENCLAW_STATE_DIR", POD_STATE_DIR.to_string()),
        (
            "OPENCLAW_CONFIG_PATH",
            pod.config_path.display().to_string(),
        ),
        (
            "OPENCLAW_WORKSPACE_DIR",
            format!("{POD_STATE_DIR}/workspace"),
        ),
        ("TMPDIR", "/tmp".to_string()),
    ] {
        vars.insert(name.to_string(), Source::Value(value));
    }
    vars.entry("NODE_ENV".to_string())
        .or_insert_with(|| Source::Value("production".to_string()));
    // V8 sizes its heap from the node's memory, not the container's limit
    // (the vendor's note): three quarters of the limit.
    vars.entry("NODE_OPTIONS".to_string()).or_insert_with(|| {
        Source::Value(format!("--max-old-space-size={}", memory_limit_mib * 3 / 4))
    });
    for key in config_keys {
        if matches!(vars.get(&key.name), Some(Source::Value(_))) && !is_secret_name(&key.name) {
            continue;
        }
        vars.insert(
            key.name.clone(),
            Source::Secret {
                key: key.name.clone(),
                optional: false,
            },
        );
        keys.entry(key.name.clone())
            .or_insert_with(|| key.used_by.clone());
    }
    if !vars.contains_key("OPENCLAW_GATEWAY_TOKEN") {
        vars.insert(
            "OPENCLAW_GATEWAY_TOKEN".to_string(),
            Source::Secret {
                key: "OPENCLAW_GATEWAY_TOKEN".to_string(),
                optional: false,
            },
        );
        keys.insert(
            "OPENCLAW_GATEWAY_TOKEN".to_string(),
            "the gateway's auth token".to_string(),
        );
    }
    for name in OPTIONAL_PROVIDER_KEYS {
        vars.entry(name.to_string()).or_insert(Source::Secret {
            key: name.to_string(),
            optional: true,
        });
    }
    for (name, value) in extra {
        vars.insert(name.clone(), Source::Value(value.clone()));
    }
    vars.insert(
        "OPENCLAW_SUPERVISOR_NAMESPACE".to_string(),
        Source::Field("metadata.namespace".to_string()),
    );
    let vars = vars
        .into_iter()
        .map(|(name, source)| match source {
            Source::Value(value) => EnvVar {
                name,
                value: Some(value),
                ..EnvVar::default()
            },
            Source::Secret { key, optional } => EnvVar {
                name,
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.to_string(),
                        key,
                        optional: optional.then_some(true),
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
            Source::Field(path) => EnvVar {
                name,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: path,
                        ..ObjectFieldSelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
        })
        .collect();
    Environment {
        vars,
        keys: keys
            .into_iter()
            .map(|(name, used_by)| SecretKey { name, used_by })
            .collect(),
    }
}

/// The memory limit in MiB: the declared `limits.memory`, else 2 GiB (the
/// vendor's; one gateway is about 1 GB resident).
pub fn memory_limit_mib(effective: &Effective) -> u64 {
    effective
        .declaration
        .limits
        .memory
        .map_or(DEFAULT_MEMORY_LIMIT_MIB, |size| size.as_u64().div_ceil(MIB))
}

/// Requests a gateway needs to be scheduled where it fits, limits from
/// the declaration's `limits:` (memory 2 GiB when none is declared).
pub fn resources(effective: &Effective) -> ResourceRequirements {
    let limit = memory_limit_mib(effective);
    let mut limits = BTreeMap::from([("memory".to_string(), Quantity(format!("{limit}Mi")))]);
    if let Some(cpu) = effective.declaration.limits.cpu {
        limits.insert("cpu".to_string(), Quantity(format!("{}m", cpu.0)));
    }
    let requests = BTreeMap::from([
        ("cpu".to_string(), Quantity("250m".to_string())),
        (
            "memory".to_string(),
            Quantity(format!("{}Mi", limit.min(1024))),
        ),
    ]);
    ResourceRequirements {
        limits: Some(limits),
        requests: Some(requests),
        ..ResourceRequirements::default()
    }
}

/// The vendor's container hardening: non-root, no privilege escalation, a
/// read-only root filesystem, every capability dropped.
pub fn hardened() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(POD_USER),
        run_as_group: Some(POD_USER),
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// The node script that makes `<state_dir>/workspace` and copies
/// `<config_dir>/openclaw.json` to `<state_dir>/openclaw.json` (0600, as
/// the gateway writes it) only when no config is there yet: the volume's
/// copy is the truth after the first boot.
pub fn seed_script(config_dir: &str, state_dir: &str) -> String {
    let quoted = |text: String| serde_json::Value::String(text).to_string();
    let workspace = quoted(format!("{state_dir}/workspace"));
    let source = quoted(format!("{config_dir}/openclaw.json"));
    let target = quoted(format!("{state_dir}/openclaw.json"));
    format!(
        "const fs=require('fs');fs.mkdirSync({workspace},{{recursive:true}});\
try{{fs.copyFileSync({source},{target},fs.constants.COPYFILE_EXCL);\
fs.chmodSync({target},0o600)}}catch(e){{if(e.code!=='EEXIST')throw e}}"
    )
}

/// The init container that seeds the config ([`seed_script`]) with the
/// image's own node: no shell, no second image.
pub fn seed_container(image: &str) -> Container {
    let script = seed_script(CONFIG_MOUNT, POD_STATE_DIR);
    node_init_container("seed-config", image, script, ("config", CONFIG_MOUNT))
}

/// An init container that runs `script` with the image's node, the state
/// volume mounted read-write and `from` (a volume, its mount path) read-only.
pub fn node_init_container(
    name: &str,
    image: &str,
    script: String,
    from: (&str, &str),
) -> Container {
    Container {
        name: name.to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(vec!["node".to_string(), "-e".to_string(), script]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("50m".to_string())),
                ("memory".to_string(), Quantity("64Mi".to_string())),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("200m".to_string())),
                ("memory".to_string(), Quantity("128Mi".to_string())),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(hardened()),
        volume_mounts: Some(vec![
            mount("state", POD_STATE_DIR, false),
            mount(from.0, from.1, true),
        ]),
        ..Container::default()
    }
}

/// The gateway container, without its probes.
pub fn gateway_container(effective: &Effective, image: &str, env: Vec<EnvVar>) -> Container {
    let mut args = vec!["/app/dist/index.js".to_string()];
    args.extend(effective.child_args());
    Container {
        name: "gateway".to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(vec!["node".to_string()]),
        args: Some(args),
        working_dir: Some(POD_STATE_DIR.to_string()),
        ports: Some(vec![ContainerPort {
            name: Some("gateway".to_string()),
            container_port: i32::from(effective.port),
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        }]),
        env: Some(env),
        resources: Some(resources(effective)),
        security_context: Some(hardened()),
        // The root filesystem is read-only: HOME is an emptyDir, so what
        // node and npm write under it (`~/.cache`, `~/.npm`, `~/.config`)
        // has a place; the state volume, mounted below it, wins for
        // `.openclaw`.
        volume_mounts: Some(vec![
            mount("home", POD_HOME, false),
            mount("state", POD_STATE_DIR, false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    }
}
