//! The objects of one instance: ConfigMap, Service, StatefulSet, and for a
//! rescue its ServiceAccount, Role and RoleBinding.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMap, ConfigMapVolumeSource, EmptyDirVolumeSource, KeyToPath,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity,
    PodSecurityContext, PodSpec, PodTemplateSpec, SeccompProfile, Service, ServiceAccount,
    ServicePort, ServiceSpec, Volume, VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::secrets::{Sanitized, SecretKey};
use super::{Options, RescueAffinity, STATE_VOLUME_SIZE, object_name, pod, probes, render};
use crate::declaration::{RestartPolicy, Role as InstanceRole, RollbackMode};
use crate::openclaw::Effective;

/// What one instance turns into.
pub struct Built {
    pub yaml: String,
    pub secret_keys: Vec<SecretKey>,
    pub notes: Vec<String>,
}

/// The Secret an instance's keys live in: `openclaw-<name>-secrets`.
pub fn secret_name(instance: &str) -> String {
    format!("{}-secrets", object_name(instance))
}

/// The labels that select an instance's pod.
fn selector(instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "openclaw".to_string()),
        (
            "app.kubernetes.io/instance".to_string(),
            instance.to_string(),
        ),
    ])
}

fn labels(effective: &Effective) -> BTreeMap<String, String> {
    let mut labels = selector(&effective.name);
    let component = match effective.declaration.role {
        InstanceRole::Main => "main",
        InstanceRole::Rescue => "rescue",
    };
    labels.insert(
        "app.kubernetes.io/component".to_string(),
        component.to_string(),
    );
    labels.insert(
        "app.kubernetes.io/managed-by".to_string(),
        "openclaw-supervisor".to_string(),
    );
    labels
}

fn meta(name: String, effective: &Effective, options: &Options) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(options.namespace.clone()),
        labels: Some(labels(effective)),
        ..ObjectMeta::default()
    }
}

/// Every object of `effective`, rendered, with the Secret keys it needs
/// and the notes about what differs from one host.
pub fn build(effective: &Effective, config: Option<&Sanitized>, options: &Options) -> Built {
    let name = object_name(&effective.name);
    let secret = secret_name(&effective.name);
    let mut notes = Vec::new();
    let mut yaml = Vec::new();

    if let Some(config) = config {
        let map = ConfigMap {
            metadata: meta(format!("{name}-config"), effective, options),
            data: Some(BTreeMap::from([(
                "openclaw.json".to_string(),
                config.text.clone(),
            )])),
            ..ConfigMap::default()
        };
        yaml.push(render(&[map]));
    }
    let service = Service {
        metadata: meta(name.clone(), effective, options),
        // Headless: a StatefulSet's `serviceName` must name a headless
        // Service for its pod's DNS name (`openclaw-main-0.openclaw-main`);
        // the Service's name resolves to the pod's address, and `kubectl
        // port-forward svc/openclaw-main` reaches the pod through the
        // selector as with a ClusterIP Service.
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            cluster_ip: Some("None".to_string()),
            selector: Some(selector(&effective.name)),
            ports: Some(vec![ServicePort {
                name: Some("gateway".to_string()),
                port: i32::from(effective.port),
                target_port: Some(IntOrString::String("gateway".to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    yaml.push(render(&[service]));
    if effective.bind == "loopback" {
        notes.push(format!(
            "instance `{}`: `bind: loopback` answers only inside its pod: reach it with `kubectl port-forward -n {} svc/{name} {port}:{port}`; its Service carries traffic only with a non-loopback bind (and gateway auth)",
            effective.name,
            options.namespace,
            port = effective.port
        ));
    }

    if !matches!(effective.bind.as_str(), "loopback" | "lan" | "auto") {
        notes.push(format!(
            "instance `{}`: `bind: {}`: its probes fetch 127.0.0.1 inside the pod, which answers with `loopback`, `lan` or `auto`",
            effective.name, effective.bind
        ));
    }
    let mut extra = Vec::new();
    let mut affinity = None;
    let mut service_account = None;
    let rescued = match (effective.declaration.role, &effective.declaration.rescue_of) {
        (InstanceRole::Rescue, Some(main)) => Some(main.clone()),
        _ => None,
    };
    if let Some(main) = &rescued {
        let main_object = object_name(main);
        let main_pod = format!("{main_object}-0");
        extra.push((
            "OPENCLAW_SUPERVISOR_MAIN_STATEFULSET".to_string(),
            main_object.clone(),
        ));
        extra.push(("OPENCLAW_SUPERVISOR_MAIN_POD".to_string(), main_pod.clone()));
        let term = PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some(selector(main)),
                ..LabelSelector::default()
            }),
            topology_key: "kubernetes.io/hostname".to_string(),
            ..PodAffinityTerm::default()
        };
        let anti = match options.rescue_affinity {
            RescueAffinity::Required => PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term]),
                ..PodAntiAffinity::default()
            },
            RescueAffinity::Preferred => PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    k8s_openapi::api::core::v1::WeightedPodAffinityTerm {
                        pod_affinity_term: term,
                        weight: 100,
                    },
                ]),
                ..PodAntiAffinity::default()
            },
        };
        affinity = Some(Affinity {
            pod_anti_affinity: Some(anti),
            ..Affinity::default()
        });
        service_account = Some(name.clone());
        yaml.extend(rbac(effective, &name, &main_pod, options));
        let skill_map = super::skill::config_map(
            meta(format!("{name}-skill"), effective, options),
            main,
            &main_pod,
        );
        yaml.push(render(&[skill_map]));
        if effective.declaration.standby {
            notes.push(format!(
                "instance `{}`: `standby: true` has no cluster form (no supervisor wakes it when `{main}` fails): it runs from the start, on another node",
                effective.name
            ));
        }
    }

    let memory = pod::memory_limit_mib(effective);
    let config_keys = config.map(|config| config.keys.clone()).unwrap_or_default();
    let environment = pod::environment(effective, &config_keys, &secret, &extra, memory);
    let mut gateway = pod::gateway_container(effective, &options.image, environment.vars);
    let translated = probes::translate_all(&effective.probes, effective.port);
    gateway.startup_probe = translated.startup;
    gateway.liveness_probe = translated.liveness;
    gateway.readiness_probe = translated.readiness;

    let stop = &effective.declaration.stop;
    if stop.signal != crate::declaration::StopSignal::TERM {
        notes.push(format!(
            "instance `{}`: `stop.signal: {}`: Kubernetes stops a container with SIGTERM",
            effective.name, stop.signal
        ));
    }
    if effective.declaration.restart.policy != RestartPolicy::Always {
        notes.push(format!(
            "instance `{}`: a StatefulSet's pod always restarts; `restart.policy` does not carry over",
            effective.name
        ));
    }
    notes.extend(supervisor_only_notes(effective));
    if effective.declaration.limits.pids.is_some() {
        notes.push(format!(
            "instance `{}`: `limits.pids` has no per-container form (the kubelet's podPidsLimit is per node)",
            effective.name
        ));
    }

    let scratch = |name: &str| Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    };
    let mut volumes = vec![scratch("home"), scratch("tmp")];
    let mut init_containers = Vec::new();
    if config.is_some() {
        volumes.insert(
            0,
            Volume {
                name: "config".to_string(),
                config_map: Some(ConfigMapVolumeSource {
                    name: format!("{name}-config"),
                    items: Some(vec![KeyToPath {
                        key: "openclaw.json".to_string(),
                        path: "openclaw.json".to_string(),
                        ..KeyToPath::default()
                    }]),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
        );
        init_containers.push(pod::seed_container(&options.image));
    }
    if rescued.is_some() {
        volumes.push(super::skill::volume(&format!("{name}-skill")));
        init_containers.push(super::skill::seed_container(&options.image));
    }
    let grace =
        i64::try_from(stop.timeout.0.as_secs() + u64::from(stop.timeout.0.subsec_nanos() > 0))
            .unwrap_or(i64::MAX);
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(effective)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            automount_service_account_token: Some(service_account.is_some()),
            service_account_name: service_account,
            affinity,
            security_context: Some(PodSecurityContext {
                fs_group: Some(pod::POD_USER),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_string(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            termination_grace_period_seconds: Some(grace),
            init_containers: (!init_containers.is_empty()).then_some(init_containers),
            containers: vec![gateway],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    };
    let set = StatefulSet {
        metadata: meta(name.clone(), effective, options),
        spec: StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(name.clone()),
            selector: LabelSelector {
                match_labels: Some(selector(&effective.name)),
                ..LabelSelector::default()
            },
            template,
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("state".to_string()),
                    labels: Some(selector(&effective.name)),
                    ..ObjectMeta::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".to_string(),
                            Quantity(STATE_VOLUME_SIZE.to_string()),
                        )])),
                        ..VolumeResourceRequirements::default()
                    }),
                    ..PersistentVolumeClaimSpec::default()
                }),
                ..PersistentVolumeClaim::default()
            }]),
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    };
    yaml.push(render(&[set]));

    Built {
        yaml: yaml.join("---\n"),
        secret_keys: environment.keys,
        notes,
    }
}

/// What only a supervisor does, which the export drops: `wake`, `notify`
/// and `rollback: auto` watch the gateway's exits and probes, and no
/// supervisor runs on the cluster.
pub fn supervisor_only_notes(effective: &Effective) -> Vec<String> {
    let name = &effective.name;
    let declaration = &effective.declaration;
    let mut notes = Vec::new();
    if let Some(wake) = declaration.wake {
        notes.push(format!(
            "instance `{name}`: `wake: {}` is dropped (no supervisor sees its main fail, so none posts to its hooks): nothing replaces it; the rescue acts when asked on its own channels, with its skill (`main.mjs status`, `logs`, `restart`)",
            wake.as_str()
        ));
    }
    if declaration.notify.is_some() {
        notes.push(format!(
            "instance `{name}`: `notify:` is dropped (no supervisor emits its events): nothing replaces it in the export; alert on the pod's restarts and readiness with the cluster's monitoring"
        ));
    }
    if declaration.rollback == RollbackMode::Auto {
        notes.push(format!(
            "instance `{name}`: `rollback: auto` is dropped (no last known good is kept on the volume): an exit 78 crash-loops the pod until a person fixes `openclaw.json` in its volume (`kubectl exec`)"
        ));
    }
    notes
}

/// A rescue's ServiceAccount, and a Role bound to it that lets it read its
/// main's pod and logs and restart it by deleting the pod: the cluster's
/// form of the supervisor socket, held to the main's pod by
/// `resourceNames`. No `patch` on the StatefulSet: a patched pod template
/// would run anything with main's Secret and volume, which would undo
/// "tokens not shared". No `list` nor `watch`: with `resourceNames` they
/// only work with a field selector, so they would promise what a plain
/// `kubectl get pods` is denied.
fn rbac(effective: &Effective, name: &str, main_pod: &str, options: &Options) -> Vec<String> {
    let rule = |resource: &str, object: &str, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: Some(vec![object.to_string()]),
        verbs: verbs.iter().map(|verb| verb.to_string()).collect(),
        ..PolicyRule::default()
    };
    let account = ServiceAccount {
        metadata: meta(name.to_string(), effective, options),
        ..ServiceAccount::default()
    };
    let role = Role {
        metadata: meta(name.to_string(), effective, options),
        rules: Some(vec![
            rule("pods", main_pod, &["get", "delete"]),
            rule("pods/log", main_pod, &["get"]),
        ]),
    };
    let binding = RoleBinding {
        metadata: meta(name.to_string(), effective, options),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "Role".to_string(),
            name: name.to_string(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: name.to_string(),
            namespace: Some(options.namespace.clone()),
            ..Subject::default()
        }]),
    };
    vec![render(&[account]), render(&[role]), render(&[binding])]
}
