//! A CRI container as an NRI [`Container`].

use nri_proto::api::{
    CdiDevice, Container, ContainerState, Image, LinuxContainer, LinuxDevice, Mount,
    SecurityProfile, User, security_profile::ProfileType,
};

use super::{resources, spec};
use crate::cri;

/// What a runtime knows of a container. Every part but the ids is
/// optional; the more there is, the more of the NRI container is filled.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainerSource<'a> {
    /// The container id as NRI plugins know it.
    pub id: &'a str,
    /// The id of its pod sandbox.
    pub pod_sandbox_id: &'a str,
    /// The config it was created from (CreateContainer's request).
    pub config: Option<&'a cri::ContainerConfig>,
    /// Its current status; without one the container is being created.
    pub status: Option<&'a cri::ContainerStatus>,
    /// Its process id, 0 when unknown (CRI does not report it).
    pub pid: u32,
    /// The OCI runtime spec it was (or is being) created with, for a
    /// runtime that builds one. Missing parts are fine.
    pub spec: Option<&'a oci_spec::runtime::Spec>,
}

/// The NRI state of a CRI container state. An exited container is
/// stopped.
pub fn container_state(state: cri::ContainerState) -> ContainerState {
    match state {
        cri::ContainerState::ContainerCreated => ContainerState::ContainerCreated,
        cri::ContainerState::ContainerRunning => ContainerState::ContainerRunning,
        cri::ContainerState::ContainerExited => ContainerState::ContainerStopped,
        cri::ContainerState::ContainerUnknown => ContainerState::ContainerUnknown,
    }
}

/// The NRI view of a container.
///
/// - name, image, CDI devices, seccomp profile, mounts, devices, command
///   line, environment and resources come from the config, or from the
///   status where the config is not given;
/// - labels are the status's overlaid by the config's; annotations are the
///   status's, overlaid by the spec's, overlaid by the config's;
/// - state, times, exit code, reason and message come from the status
///   (no status: created);
/// - without a spec, the command line is the config's command followed by
///   its arguments (the image's entrypoint is not known at CRI level);
/// - environment values that are not UTF-8 are shown lossily (NRI carries
///   strings); the container itself gets them unchanged.
///
/// With a spec, what it has wins over what CRI says of the same thing, part
/// by part (a part the spec lacks keeps the CRI value): the process's
/// arguments, environment, OOM score adjustment, I/O priority, scheduler,
/// rlimits and user; the mounts (replacing the CRI-derived ones), hooks,
/// and `linux` namespaces, devices, resources, cgroups path, network
/// devices, sysctls, seccomp policy and Intel RDT settings. Without CRI
/// metadata the name is the spec's `io.kubernetes.cri.container-name`
/// annotation, and without a pod sandbox id, its
/// `io.kubernetes.cri.sandbox-id` annotation.
pub fn container(source: &ContainerSource<'_>) -> Container {
    let config = source.config;
    let status = source.status;
    let metadata = config
        .and_then(|config| config.metadata.as_ref())
        .or_else(|| status.and_then(|status| status.metadata.as_ref()));
    let mut labels = status.map(|s| s.labels.clone()).unwrap_or_default();
    let mut annotations = status.map(|s| s.annotations.clone()).unwrap_or_default();
    if let Some(spec) = source.spec {
        annotations.extend(spec::annotations(spec));
    }
    if let Some(config) = config {
        labels.extend(config.labels.clone());
        annotations.extend(config.annotations.clone());
    }
    let state = status.map_or(ContainerState::ContainerCreated, |status| {
        container_state(status.state())
    });
    let cri_mounts = config.map_or_else(
        || status.map(|s| s.mounts.as_slice()).unwrap_or_default(),
        |c| c.mounts.as_slice(),
    );
    let name = metadata.map(|m| m.name.clone()).or_else(|| {
        source
            .spec
            .and_then(|spec| spec::annotation(spec, spec::CONTAINER_NAME))
            .map(str::to_string)
    });
    let pod_sandbox_id = Some(source.pod_sandbox_id)
        .filter(|id| !id.is_empty())
        .or_else(|| {
            source
                .spec
                .and_then(|spec| spec::annotation(spec, spec::SANDBOX_ID))
        })
        .unwrap_or_default();
    let mut linux = linux(config, status);
    if let Some(spec) = source.spec {
        spec::overlay_container_linux(&mut linux, spec);
    }
    let spec = source.spec;
    Container {
        id: source.id.to_string(),
        pod_sandbox_id: pod_sandbox_id.to_string(),
        name: name.unwrap_or_default(),
        state: state as i32,
        labels,
        annotations,
        args: spec.and_then(spec::args).unwrap_or_else(|| {
            config
                .map(|c| c.command.iter().chain(&c.args).cloned().collect())
                .unwrap_or_default()
        }),
        env: spec.and_then(spec::env).unwrap_or_else(|| {
            config
                .map(|c| {
                    c.envs
                        .iter()
                        .map(|kv| format!("{}={}", kv.key, String::from_utf8_lossy(&kv.value)))
                        .collect()
                })
                .unwrap_or_default()
        }),
        mounts: spec
            .and_then(spec::mounts)
            .unwrap_or_else(|| cri_mounts.iter().map(mount).collect()),
        hooks: spec.and_then(spec::hooks),
        linux: Some(linux),
        rlimits: spec.and_then(spec::rlimits).unwrap_or_default(),
        pid: source.pid,
        created_at: status.map_or(0, |s| s.created_at),
        started_at: status.map_or(0, |s| s.started_at),
        finished_at: status.map_or(0, |s| s.finished_at),
        exit_code: status.map_or(0, |s| s.exit_code),
        status_reason: status.map(|s| s.reason.clone()).unwrap_or_default(),
        status_message: status.map(|s| s.message.clone()).unwrap_or_default(),
        cdi_devices: config
            .map(|c| {
                c.cdi_devices
                    .iter()
                    .map(|d| CdiDevice {
                        name: d.name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        user: spec.and_then(spec::user).or_else(|| status.and_then(user)),
        image: image(config, status),
    }
}

fn linux(
    config: Option<&cri::ContainerConfig>,
    status: Option<&cri::ContainerStatus>,
) -> LinuxContainer {
    let config_linux = config.and_then(|c| c.linux.as_ref());
    let requested = config_linux
        .and_then(|linux| linux.resources.as_ref())
        .or_else(|| {
            status
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.linux.as_ref())
        });
    let seccomp = config_linux
        .and_then(|linux| linux.security_context.as_ref())
        .and_then(|context| context.seccomp.as_ref());
    LinuxContainer {
        devices: config
            .map(|c| {
                c.devices
                    .iter()
                    .map(|device| LinuxDevice {
                        path: device.container_path.clone(),
                        ..Default::default()
                    })
                    .collect()
            })
            .unwrap_or_default(),
        resources: requested.map(resources::from_cri),
        oom_score_adj: requested.map(|r| r.oom_score_adj.into()),
        seccomp_profile: seccomp.map(|profile| SecurityProfile {
            profile_type: match profile.profile_type() {
                cri::security_profile::ProfileType::RuntimeDefault => ProfileType::RuntimeDefault,
                cri::security_profile::ProfileType::Unconfined => ProfileType::Unconfined,
                cri::security_profile::ProfileType::Localhost => ProfileType::Localhost,
            } as i32,
            localhost_ref: profile.localhost_ref.clone(),
        }),
        ..Default::default()
    }
}

/// A CRI mount as the bind mount a runtime makes of it.
fn mount(mount: &cri::Mount) -> Mount {
    let mut options = vec!["rbind".to_string()];
    options.push(if mount.readonly { "ro" } else { "rw" }.to_string());
    options.push(
        match mount.propagation() {
            cri::MountPropagation::PropagationPrivate => "rprivate",
            cri::MountPropagation::PropagationHostToContainer => "rslave",
            cri::MountPropagation::PropagationBidirectional => "rshared",
        }
        .to_string(),
    );
    options.extend(mount.mount_options.iter().cloned());
    Mount {
        destination: mount.container_path.clone(),
        r#type: "bind".to_string(),
        source: mount.host_path.clone(),
        options,
    }
}

fn user(status: &cri::ContainerStatus) -> Option<User> {
    let linux = status.user.as_ref()?.linux.as_ref()?;
    Some(User {
        uid: u32::try_from(linux.uid).ok()?,
        gid: u32::try_from(linux.gid).ok()?,
        additional_gids: linux
            .supplemental_groups
            .iter()
            .filter_map(|gid| u32::try_from(*gid).ok())
            .collect(),
    })
}

/// The image: its name as the user gave it, its digest and its config
/// digest; none when all three are unknown.
fn image(
    config: Option<&cri::ContainerConfig>,
    status: Option<&cri::ContainerStatus>,
) -> Option<Image> {
    let spec = config
        .and_then(|c| c.image.as_ref())
        .or_else(|| status.and_then(|s| s.image.as_ref()));
    let name = spec
        .map(|image| {
            if image.user_specified_image.is_empty() {
                image.image.clone()
            } else {
                image.user_specified_image.clone()
            }
        })
        .unwrap_or_default();
    let digest = status.map(|s| s.image_ref.clone()).unwrap_or_default();
    let config_digest = status.map(|s| s.image_id.clone()).unwrap_or_default();
    if name.is_empty() && digest.is_empty() && config_digest.is_empty() {
        return None;
    }
    Some(Image {
        name,
        digest,
        config_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> cri::ContainerConfig {
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: "app".into(),
                attempt: 1,
            }),
            image: Some(cri::ImageSpec {
                image: "sha256:abc".into(),
                user_specified_image: "nginx:1.27".into(),
                ..Default::default()
            }),
            command: vec!["/bin/sh".into()],
            args: vec!["-c".into(), "true".into()],
            envs: vec![
                cri::KeyValue {
                    key: "A".into(),
                    value: b"1".to_vec(),
                },
                cri::KeyValue {
                    key: "BIN".into(),
                    value: vec![0xff],
                },
            ],
            mounts: vec![cri::Mount {
                container_path: "/data".into(),
                host_path: "/var/data".into(),
                readonly: true,
                propagation: cri::MountPropagation::PropagationHostToContainer as i32,
                ..Default::default()
            }],
            devices: vec![cri::Device {
                container_path: "/dev/fuse".into(),
                host_path: "/dev/fuse".into(),
                permissions: "rwm".into(),
            }],
            labels: [("l".to_string(), "config".to_string())].into(),
            annotations: [("a".to_string(), "config".to_string())].into(),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(cri::LinuxContainerResources {
                    memory_limit_in_bytes: 1 << 28,
                    oom_score_adj: 999,
                    ..Default::default()
                }),
                security_context: Some(cri::LinuxContainerSecurityContext {
                    seccomp: Some(cri::SecurityProfile {
                        profile_type: cri::security_profile::ProfileType::Localhost as i32,
                        localhost_ref: "profiles/a.json".into(),
                    }),
                    ..Default::default()
                }),
            }),
            cdi_devices: vec![cri::CdiDevice {
                name: "vendor.com/gpu=0".into(),
            }],
            ..Default::default()
        }
    }

    fn exited() -> cri::ContainerStatus {
        cri::ContainerStatus {
            id: "c1".into(),
            state: cri::ContainerState::ContainerExited as i32,
            created_at: 1,
            started_at: 2,
            finished_at: 3,
            exit_code: 137,
            reason: "OOMKilled".into(),
            message: "out of memory".into(),
            image_ref: "docker.io/library/nginx@sha256:def".into(),
            image_id: "sha256:abc".into(),
            labels: [("l".to_string(), "status".to_string())].into(),
            user: Some(cri::ContainerUser {
                linux: Some(cri::LinuxContainerUser {
                    uid: 1000,
                    gid: 1000,
                    supplemental_groups: vec![5, -1],
                }),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_exited_container_is_stopped_with_reason_and_message() {
        let (config, status) = (config(), exited());
        let c = container(&ContainerSource {
            id: "c1",
            pod_sandbox_id: "pod-1",
            config: Some(&config),
            status: Some(&status),
            pid: 0,
            spec: None,
        });
        assert_eq!(c.state(), ContainerState::ContainerStopped);
        assert_eq!((c.created_at, c.started_at, c.finished_at), (1, 2, 3));
        assert_eq!(c.exit_code, 137);
        assert_eq!(c.status_reason, "OOMKilled");
        assert_eq!(c.status_message, "out of memory");
        assert_eq!(c.labels["l"], "config", "config overlays status");
        let user = c.user.expect("user");
        assert_eq!(
            (user.uid, user.gid, user.additional_gids),
            (1000, 1000, vec![5])
        );
        let image = c.image.expect("image");
        assert_eq!(image.name, "nginx:1.27");
        assert_eq!(image.digest, "docker.io/library/nginx@sha256:def");
        assert_eq!(image.config_digest, "sha256:abc");
    }

    #[test]
    fn a_container_being_created_comes_from_its_config() {
        let config = config();
        let c = container(&ContainerSource {
            id: "c1",
            pod_sandbox_id: "pod-1",
            config: Some(&config),
            ..Default::default()
        });
        assert_eq!(c.state(), ContainerState::ContainerCreated);
        assert_eq!(c.name, "app");
        assert_eq!(c.args, vec!["/bin/sh", "-c", "true"]);
        assert_eq!(c.env, vec!["A=1".to_string(), "BIN=\u{fffd}".to_string()]);
        assert_eq!(c.mounts.len(), 1);
        assert_eq!(c.mounts[0].options, vec!["rbind", "ro", "rslave"]);
        assert_eq!(c.mounts[0].source, "/var/data");
        assert_eq!(c.cdi_devices[0].name, "vendor.com/gpu=0");
        let linux = c.linux.expect("linux");
        assert_eq!(linux.devices[0].path, "/dev/fuse");
        assert_eq!(linux.oom_score_adj.map(|o| o.value), Some(999));
        assert_eq!(
            linux.seccomp_profile.expect("seccomp").profile_type(),
            ProfileType::Localhost
        );
        let memory = linux.resources.and_then(|r| r.memory).expect("memory");
        assert_eq!(memory.limit.map(|l| l.value), Some(1 << 28));
    }

    #[test]
    fn every_cri_state_maps_and_unknown_stays_unknown() {
        use cri::ContainerState as Cri;
        assert_eq!(
            container_state(Cri::ContainerCreated),
            ContainerState::ContainerCreated
        );
        assert_eq!(
            container_state(Cri::ContainerRunning),
            ContainerState::ContainerRunning
        );
        assert_eq!(
            container_state(Cri::ContainerExited),
            ContainerState::ContainerStopped
        );
        assert_eq!(
            container_state(Cri::ContainerUnknown),
            ContainerState::ContainerUnknown
        );
    }

    #[test]
    fn ids_alone_are_a_valid_container() {
        let c = container(&ContainerSource {
            id: "c",
            pod_sandbox_id: "p",
            ..Default::default()
        });
        assert!(c.image.is_none() && c.user.is_none() && c.args.is_empty());
    }
}
