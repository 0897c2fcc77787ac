//! `openclaw-supervisor export kubernetes [--namespace NS] [--image IMAGE]
//! [--rescue-affinity required|preferred] [OUT]`: the declared instances as
//! Kubernetes manifests (`openclaw_supervisor::export`), printed, or written
//! one file per instance plus a `kustomization.yaml` into OUT.
//!
//! The checks that still matter on a cluster run first, and nothing is
//! printed or written when one fails. The notes (what differs from one
//! host) and the `kubectl create secret` commands, with placeholders, go to
//! stderr; stdout carries only YAML.
//!
//! Exit codes: 0 exported, 1 a check or the export refused, 2 a file could
//! not be read or parsed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

use openclaw_supervisor::export::{self, Instance, Options, RescueAffinity};
use openclaw_supervisor::isolation;

use super::{Global, exit};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: Target,
}

#[derive(Debug, Subcommand)]
pub enum Target {
    /// Manifests for every declared instance: a StatefulSet, a Service, a
    /// seeded ConfigMap, and for a rescue its anti-affinity and RBAC.
    Kubernetes(KubernetesArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Affinity {
    /// Never on its main's node.
    Required,
    /// On another node when the scheduler can.
    Preferred,
}

#[derive(Debug, Args)]
pub struct KubernetesArgs {
    /// The namespace of every object.
    #[arg(long, value_name = "NS", default_value = export::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The gateway image, with the registry your cluster pulls from (the
    /// vendor's `openclaw/openclaw`, slim variant, or your mirror of it).
    #[arg(long, value_name = "IMAGE:TAG", env = "OPENCLAW_SUPERVISOR_IMAGE")]
    pub image: Option<String>,
    /// How a rescue keeps off its main's node.
    #[arg(long, value_enum, default_value_t = Affinity::Required)]
    pub rescue_affinity: Affinity,
    /// Write `<instance>.yaml` files and a kustomization.yaml here instead
    /// of printing.
    #[arg(value_name = "OUT")]
    pub out: Option<PathBuf>,
}

pub fn run(global: &Global, args: ExportArgs) -> anyhow::Result<u8> {
    match args.target {
        Target::Kubernetes(args) => kubernetes(global, args),
    }
}

fn kubernetes(global: &Global, args: KubernetesArgs) -> anyhow::Result<u8> {
    let Some(image) = args.image.filter(|image| !image.trim().is_empty()) else {
        eprintln!("{}", missing_image());
        return Ok(exit::FAILED);
    };
    if let Some(problem) = namespace_problem(&args.namespace) {
        eprintln!("openclaw-supervisor: --namespace: {problem}");
        return Ok(exit::FAILED);
    }
    let report = isolation::check_dir(&global.dir, &super::check::environment())
        .with_context(|| format!("cannot read {}", global.dir.display()))?;
    let mut stderr = std::io::stderr().lock();
    if !report.file_errors.is_empty() {
        for err in &report.file_errors {
            writeln!(stderr, "error: {err}")?;
        }
        writeln!(stderr, "nothing exported")?;
        return Ok(exit::UNREADABLE);
    }
    let problems = export::cluster_problems(&report.problems);
    if !problems.is_empty() {
        for problem in problems {
            writeln!(stderr, "conflict: {problem}")?;
        }
        writeln!(stderr, "nothing exported")?;
        return Ok(exit::FAILED);
    }
    let mut configs = Vec::new();
    for effective in &report.effective {
        configs.push(read_config(
            effective.config_exists,
            &effective.config_path,
        )?);
    }
    let instances: Vec<Instance<'_>> = report
        .effective
        .iter()
        .zip(configs)
        .map(|(effective, config)| Instance { effective, config })
        .collect();
    let options = Options {
        namespace: args.namespace.clone(),
        image,
        rescue_affinity: match args.rescue_affinity {
            Affinity::Required => RescueAffinity::Required,
            Affinity::Preferred => RescueAffinity::Preferred,
        },
    };
    let exported = match export::kubernetes(&instances, &options) {
        Ok(exported) => exported,
        Err(err) => {
            for problem in &err.problems {
                writeln!(stderr, "error: {problem}")?;
            }
            writeln!(stderr, "nothing exported")?;
            return Ok(exit::FAILED);
        }
    };

    match &args.out {
        Some(out) => write_files(out, &exported, &args.namespace)?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(exported.joined().as_bytes())?;
            stdout.flush()?;
        }
    }
    // Only the shared-secret warnings concern a cluster: the others are
    // about this host (a command on PATH, a config file here, its ports).
    for (instance, message) in isolation::shared_secret_warnings(&report.effective) {
        writeln!(stderr, "warning: {instance}: {message}")?;
    }
    for note in &exported.notes {
        writeln!(stderr, "note: {note}")?;
    }
    writeln!(
        stderr,
        "create each instance's Secret before applying (the export never holds a value):"
    )?;
    for secret in &exported.secrets {
        for key in &secret.keys {
            writeln!(
                stderr,
                "  # {}: {} ({})",
                secret.instance, key.name, key.used_by
            )?;
        }
        writeln!(stderr, "  {}", secret.command(&args.namespace))?;
    }
    Ok(exit::OK)
}

/// A namespace is a DNS-1123 label.
fn namespace_problem(namespace: &str) -> Option<String> {
    let valid = !namespace.is_empty()
        && namespace.len() <= 63
        && namespace
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    (!valid).then(|| {
        format!(
            "`{namespace}` is not a DNS-1123 label (lower-case letters, digits and `-`, at most 63)"
        )
    })
}

/// The instance's OpenClaw config, parsed as openclaw reads it (JSON5).
fn read_config(exists: bool, path: &Path) -> anyhow::Result<Option<serde_json::Value>> {
    if !exists {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value =
        json5::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    Ok(Some(value))
}

fn write_files(out: &Path, exported: &export::Export, namespace: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for file in &exported.files {
        let path = out.join(format!("{}.yaml", file.instance));
        std::fs::write(&path, &file.yaml)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let path = out.join("kustomization.yaml");
    std::fs::write(&path, exported.kustomization(namespace))
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut stderr = std::io::stderr().lock();
    writeln!(
        stderr,
        "wrote {} file(s) and kustomization.yaml into {}",
        exported.files.len(),
        out.display()
    )?;
    Ok(())
}

/// Why `--image` has no default, and what to pass.
fn missing_image() -> String {
    format!(
        "openclaw-supervisor: --image is needed: the gateway image with the registry your cluster \
         pulls from, e.g. the vendor's `{repo}:{tag}` (published on GitHub's container registry, \
         as the package's docs/install/kubernetes.md says) or your mirror of it: \
         --image <registry>/{repo}:{tag}. OPENCLAW_SUPERVISOR_IMAGE sets it for every export.",
        repo = export::IMAGE_REPOSITORY,
        tag = export::IMAGE_TAG,
    )
}
