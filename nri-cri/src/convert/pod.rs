//! A CRI pod sandbox as an NRI [`PodSandbox`].

use nri_proto::api::{LinuxPodSandbox, PodSandbox};

use super::{resources, spec};
use crate::cri;

/// What a runtime knows of a pod sandbox. Every part but the id is
/// optional; the more there is, the more of the NRI pod is filled.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodSource<'a> {
    /// The sandbox id.
    pub id: &'a str,
    /// The config it was created from (RunPodSandbox's request).
    pub config: Option<&'a cri::PodSandboxConfig>,
    /// Its current status.
    pub status: Option<&'a cri::PodSandboxStatus>,
    /// The runtime handler it was run with, when the status does not say.
    pub runtime_handler: &'a str,
    /// The sandbox's process id, 0 when unknown (CRI does not report it).
    pub pid: u32,
    /// The sandbox's OCI runtime spec, for a runtime that builds one.
    /// Missing parts are fine.
    pub spec: Option<&'a oci_spec::runtime::Spec>,
}

/// The NRI view of a pod sandbox.
///
/// Labels and annotations are the config's, overlaid by the status's (what
/// the runtime added); annotations are overlaid by the spec's last, as
/// containerd does. IPs are the primary address followed by the additional
/// ones, none when there is no primary address.
///
/// From the spec come the namespaces (less a network namespace whose path
/// is empty or does not exist: the pod has none, or no longer has it), the
/// cgroups path and the resources; the rest of the Linux part comes from
/// the config. The Linux part is left out when neither has one.
pub fn pod_sandbox(source: &PodSource<'_>) -> PodSandbox {
    let config = source.config;
    let status = source.status;
    let metadata = config
        .and_then(|config| config.metadata.as_ref())
        .or_else(|| status.and_then(|status| status.metadata.as_ref()));
    let mut labels = config.map(|c| c.labels.clone()).unwrap_or_default();
    let mut annotations = config.map(|c| c.annotations.clone()).unwrap_or_default();
    if let Some(status) = status {
        labels.extend(status.labels.clone());
        annotations.extend(status.annotations.clone());
    }
    if let Some(spec) = source.spec {
        annotations.extend(spec::annotations(spec));
    }
    let runtime_handler = status
        .map(|status| status.runtime_handler.as_str())
        .filter(|handler| !handler.is_empty())
        .unwrap_or(source.runtime_handler);
    let linux = config.and_then(|config| config.linux.as_ref());
    PodSandbox {
        id: source.id.to_string(),
        name: metadata.map(|m| m.name.clone()).unwrap_or_default(),
        uid: metadata.map(|m| m.uid.clone()).unwrap_or_default(),
        namespace: metadata.map(|m| m.namespace.clone()).unwrap_or_default(),
        labels,
        annotations,
        runtime_handler: runtime_handler.to_string(),
        linux: linux_pod(linux, source.spec),
        pid: source.pid,
        ips: status.map(ips).unwrap_or_default(),
    }
}

fn linux_pod(
    config: Option<&cri::LinuxPodSandboxConfig>,
    spec: Option<&oci_spec::runtime::Spec>,
) -> Option<LinuxPodSandbox> {
    let spec_linux = spec.filter(|spec| spec.linux().is_some());
    if config.is_none() && spec_linux.is_none() {
        return None;
    }
    let mut linux = config.map_or_else(LinuxPodSandbox::default, |linux| LinuxPodSandbox {
        pod_overhead: linux.overhead.as_ref().map(resources::from_cri),
        pod_resources: linux.resources.as_ref().map(resources::from_cri),
        cgroup_parent: linux.cgroup_parent.clone(),
        ..Default::default()
    });
    if let Some(spec) = spec_linux {
        linux.namespaces = spec::pod_namespaces(spec).unwrap_or_default();
        linux.cgroups_path = spec::cgroups_path(spec).unwrap_or_default();
        linux.resources = spec::linux_resources(spec);
    }
    Some(linux)
}

fn ips(status: &cri::PodSandboxStatus) -> Vec<String> {
    let Some(network) = &status.network else {
        return Vec::new();
    };
    if network.ip.is_empty() {
        return Vec::new();
    }
    std::iter::once(network.ip.clone())
        .chain(network.additional_ips.iter().map(|ip| ip.ip.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: "web".into(),
                uid: "uid-1".into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            labels: [("app".to_string(), "web".to_string())].into(),
            annotations: [("a".to_string(), "config".to_string())].into(),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: "/kubepods/burstable/poduid-1".into(),
                overhead: Some(cri::LinuxContainerResources {
                    cpu_shares: 10,
                    ..Default::default()
                }),
                resources: Some(cri::LinuxContainerResources {
                    memory_limit_in_bytes: 1 << 30,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn status() -> cri::PodSandboxStatus {
        cri::PodSandboxStatus {
            id: "pod-1".into(),
            runtime_handler: "runc".into(),
            annotations: [("a".to_string(), "status".to_string())].into(),
            network: Some(cri::PodSandboxNetworkStatus {
                ip: "10.0.0.2".into(),
                additional_ips: vec![cri::PodIp {
                    ip: "fd00::2".into(),
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_field_comes_from_config_and_status() {
        let (config, status) = (config(), status());
        let pod = pod_sandbox(&PodSource {
            id: "pod-1",
            config: Some(&config),
            status: Some(&status),
            runtime_handler: "ignored",
            pid: 42,
            spec: None,
        });
        assert_eq!(
            (pod.id.as_str(), pod.name.as_str(), pod.uid.as_str()),
            ("pod-1", "web", "uid-1")
        );
        assert_eq!(pod.namespace, "default");
        assert_eq!(pod.runtime_handler, "runc");
        assert_eq!(pod.pid, 42);
        assert_eq!(pod.ips, vec!["10.0.0.2", "fd00::2"]);
        assert_eq!(pod.labels["app"], "web");
        assert_eq!(pod.annotations["a"], "status", "status overlays config");
        let linux = pod.linux.expect("linux");
        assert_eq!(linux.cgroup_parent, "/kubepods/burstable/poduid-1");
        assert!(linux.pod_overhead.is_some() && linux.pod_resources.is_some());
    }

    #[test]
    fn without_a_primary_ip_there_are_none_and_without_status_the_handler_is_given() {
        let config = config();
        let mut status = status();
        status.runtime_handler.clear();
        if let Some(network) = status.network.as_mut() {
            network.ip.clear();
        }
        let pod = pod_sandbox(&PodSource {
            id: "pod-1",
            config: Some(&config),
            status: Some(&status),
            runtime_handler: "kata",
            pid: 0,
            spec: None,
        });
        assert!(pod.ips.is_empty());
        assert_eq!(pod.runtime_handler, "kata");
    }

    #[test]
    fn an_id_alone_is_a_valid_pod() {
        let pod = pod_sandbox(&PodSource {
            id: "only-id",
            ..Default::default()
        });
        assert_eq!(pod.id, "only-id");
        assert!(pod.linux.is_none() && pod.ips.is_empty());
    }
}
