//! `export kubernetes`: the declared instances as Kubernetes manifests, a
//! pure function of their effective settings and OpenClaw configs.
//!
//! Each instance becomes a StatefulSet of one replica (its state dir on a
//! PersistentVolumeClaim, the workspace inside it), a Service on the gateway
//! port and, when it has an OpenClaw config, a ConfigMap seeded into the
//! volume only when the volume has no config yet (the vendor's rule:
//! `docs/install/kubernetes.md`, the volume's copy is the truth after first
//! boot). A rescue also gets pod anti-affinity against its main and a
//! ServiceAccount whose Role reads its main's pod and logs and restarts it.
//!
//! Secrets never reach the output: every secret-looking value of the config
//! becomes a `${VAR}` reference (openclaw substitutes them, see
//! `docs/gateway/configuration/environment-variables.md`), every `${VAR}` a
//! `secretKeyRef` into the instance's Secret, which the export never fills:
//! [`Export::secrets`] says which keys to create. Objects are built from the
//! typed structs of `k8s-openapi` and rendered as YAML documents, sorted.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::declaration::Role;
use crate::isolation::{Problem, Resource};
use crate::openclaw::Effective;

mod objects;
mod pod;
mod probes;
mod secrets;
mod skill;

#[cfg(test)]
mod tests;

pub use pod::seed_script;
pub use probes::http_script;
pub use secrets::{SecretKey, is_secret_name, references, sanitize_config};
pub use skill::{TOOL as RESCUE_TOOL, seed_script as skill_seed_script};

/// The vendor's image (its repository and the slim tag of the openclaw
/// version the supervisor is built against), named in words when `--image`
/// is missing. The export writes no registry host of its own: the operator
/// says where the cluster pulls from (the vendor's registry or a mirror).
pub const IMAGE_REPOSITORY: &str = "openclaw/openclaw";
pub const IMAGE_TAG: &str = "2026.9.6-slim";
/// The namespace of the vendor's manifests.
pub const DEFAULT_NAMESPACE: &str = "openclaw";
/// Where the image keeps the gateway's home and state (the vendor's paths).
pub const POD_HOME: &str = "/home/node";
pub const POD_STATE_DIR: &str = "/home/node/.openclaw";
/// The state volume's size (the vendor's PVC).
pub const STATE_VOLUME_SIZE: &str = "10Gi";
/// A Kubernetes object name prefix: `openclaw-main`.
const PREFIX: &str = "openclaw-";
/// A StatefulSet's pods are `<name>-0`, and its controller-revision-hash
/// label is `<name>-<10 chars>`: a label value is at most 63 characters.
const MAX_OBJECT_NAME: usize = 52;

/// How strongly a rescue keeps off its main's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RescueAffinity {
    /// Never on the main's node: unschedulable rather than together.
    #[default]
    Required,
    /// Elsewhere when the scheduler can.
    Preferred,
}

/// What the caller chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub namespace: String,
    pub image: String,
    pub rescue_affinity: RescueAffinity,
}

#[cfg(test)]
impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: DEFAULT_NAMESPACE.to_string(),
            image: format!("registry.example/{IMAGE_REPOSITORY}:{IMAGE_TAG}"),
            rescue_affinity: RescueAffinity::Required,
        }
    }
}

/// One declared instance: its effective settings and its OpenClaw config
/// (parsed; `None` when it has no config file).
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    pub effective: &'a Effective,
    pub config: Option<serde_json::Value>,
}

/// The manifests of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// The instance name; the file is `<instance>.yaml`.
    pub instance: String,
    /// YAML documents separated by `---`.
    pub yaml: String,
}

/// The keys one instance's Secret needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCommand {
    pub instance: String,
    pub secret: String,
    pub keys: Vec<SecretKey>,
}

impl SecretCommand {
    /// `kubectl create secret generic NAME --namespace NS --from-literal=KEY=<KEY> ...`
    /// with placeholders, never values.
    pub fn command(&self, namespace: &str) -> String {
        let mut words = vec![
            "kubectl create secret generic".to_string(),
            self.secret.clone(),
            format!("--namespace {namespace}"),
        ];
        for key in &self.keys {
            words.push(format!("--from-literal={}='<{}>'", key.name, key.name));
        }
        words.join(" ")
    }
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// One per instance, sorted by name.
    pub files: Vec<File>,
    /// The Secrets to create, one per instance.
    pub secrets: Vec<SecretCommand>,
    /// What differs from one host, for the operator (stderr).
    pub notes: Vec<String>,
}

impl Export {
    /// Every file as one stream of YAML documents.
    pub fn joined(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            if !out.is_empty() {
                out.push_str("---\n");
            }
            out.push_str(&file.yaml);
        }
        out
    }

    /// A `kustomization.yaml` listing the files, in `namespace`.
    pub fn kustomization(&self, namespace: &str) -> String {
        let mut out = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n"
        );
        for file in &self.files {
            out.push_str(&format!("  - {}.yaml\n", file.instance));
        }
        out
    }
}

/// Why nothing can be exported; every reason at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct ExportError {
    pub problems: Vec<String>,
}

/// The object name of an instance: `openclaw-<name>`.
pub fn object_name(instance: &str) -> String {
    format!("{PREFIX}{instance}")
}

/// Why `instance` cannot name Kubernetes objects (a DNS-1123 label of at
/// most [`MAX_OBJECT_NAME`] characters with its prefix), or None.
pub fn name_problem(instance: &str) -> Option<String> {
    let name = object_name(instance);
    let label = name
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !name.ends_with('-');
    if !label {
        return Some(format!(
            "instance `{instance}`: `{name}` is not a DNS-1123 name (lower-case letters, digits and `-`, ending in a letter or digit): rename the instance (`name:` or the file name), e.g. `{}`",
            suggest_name(instance)
        ));
    }
    if name.len() > MAX_OBJECT_NAME {
        return Some(format!(
            "instance `{instance}`: `{name}` is {} characters, a StatefulSet name may have {MAX_OBJECT_NAME} (its pod and revision labels add to it): use a shorter name",
            name.len()
        ));
    }
    None
}

fn suggest_name(instance: &str) -> String {
    let lowered: String = instance
        .chars()
        .map(|char| match char {
            'A'..='Z' => char.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '-' => char,
            _ => '-',
        })
        .collect();
    lowered.trim_end_matches('-').to_string()
}

/// The isolation problems that still matter when each instance has its own
/// pod, network namespace and volume: a shared config, state dir or
/// workspace (their contents would be copied twice, or one seeded config
/// would run two gateways on the same bots), a shared channel credential,
/// a rescue of no instance. Ports, log files, TMPDIRs and Tailscale routes
/// are per pod there, so their conflicts are left out.
pub fn cluster_problems(problems: &[Problem]) -> Vec<&Problem> {
    problems
        .iter()
        .filter(|problem| {
            matches!(
                problem.resource,
                Resource::Config
                    | Resource::StateDir
                    | Resource::Workspace
                    | Resource::ChannelCredential
                    | Resource::RescueOf
            )
        })
        .collect()
}

/// The manifests of every instance. Refuses (every reason at once) names
/// that cannot name objects and configs whose secrets cannot be referenced.
pub fn kubernetes(instances: &[Instance<'_>], options: &Options) -> Result<Export, ExportError> {
    let mut problems: Vec<String> = instances
        .iter()
        .filter_map(|instance| name_problem(&instance.effective.name))
        .collect();
    let mut sanitized = BTreeMap::new();
    for instance in instances {
        let name = &instance.effective.name;
        match &instance.config {
            None => {
                sanitized.insert(name.clone(), None);
            }
            Some(config) => match sanitize_config(config) {
                Ok(clean) => {
                    sanitized.insert(name.clone(), Some(clean));
                }
                Err(refused) => problems.extend(refused.into_iter().map(|problem| {
                    format!(
                        "instance `{name}` ({}): {problem}",
                        instance.effective.config_path.display()
                    )
                })),
            },
        }
    }
    if !problems.is_empty() {
        return Err(ExportError { problems });
    }

    let mut sorted: Vec<&Instance<'_>> = instances.iter().collect();
    sorted.sort_by(|a, b| a.effective.name.cmp(&b.effective.name));
    let names: BTreeSet<&str> = sorted
        .iter()
        .map(|instance| instance.effective.name.as_str())
        .collect();
    let mut files = Vec::new();
    let mut secrets = Vec::new();
    let mut notes = vec![format!(
        "ports: each pod has its own network namespace, so the 111-port spacing one host needs does not apply; every instance keeps its declared port ({})",
        sorted
            .iter()
            .map(|instance| format!("{} {}", instance.effective.name, instance.effective.port))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    for instance in &sorted {
        let effective = instance.effective;
        let config = sanitized.get(&effective.name).cloned().flatten();
        if config.is_none() {
            notes.push(format!(
                "instance `{}`: no OpenClaw config at {}, so no ConfigMap: its gateway exits 78 until its volume holds one (write one, e.g. with `openclaw-supervisor init`, and export again)",
                effective.name,
                effective.config_path.display()
            ));
        }
        let built = objects::build(effective, config.as_ref(), options);
        notes.extend(built.notes);
        if effective.declaration.role == Role::Rescue
            && let Some(main) = &effective.declaration.rescue_of
            && !names.contains(main.as_str())
        {
            notes.push(format!(
                "instance `{}`: its main `{main}` is not exported: its anti-affinity and Role name objects of another export",
                effective.name
            ));
        }
        files.push(File {
            instance: effective.name.clone(),
            yaml: built.yaml,
        });
        secrets.push(SecretCommand {
            instance: effective.name.clone(),
            secret: objects::secret_name(&effective.name),
            keys: built.secret_keys,
        });
    }
    Ok(Export {
        files,
        secrets,
        notes,
    })
}

/// Renders typed objects as YAML documents separated by `---`.
fn render<T: Serialize>(objects: &[T]) -> String {
    let mut out = String::new();
    for object in objects {
        if !out.is_empty() {
            out.push_str("---\n");
        }
        // Long one-line strings (the probe scripts) stay on one line: a
        // folded scalar would be correct but hard to read and to diff.
        let mut options = serde_saphyr::SerializerOptions::default();
        options.folded_wrap_chars = usize::MAX;
        match serde_saphyr::to_string_with_options(object, options) {
            Ok(text) => out.push_str(&text),
            // The k8s-openapi structs are plain data: serializing them to
            // YAML has no failure mode; keep the stream well-formed anyway.
            Err(err) => out.push_str(&format!("# not rendered: {err}\n")),
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
