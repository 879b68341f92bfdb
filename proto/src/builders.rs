//! Realistic pods and containers, for runtimes that build the
//! [`PodSandbox`] and [`Container`] they send plugins, and for tests that
//! should not assemble protobufs by hand (`nri_testkit::builders` is this
//! module).
//!
//! [`PodBuilder`] and [`ContainerBuilder`] start from what containerd sends
//! plugins for an ordinary Kubernetes pod (as upstream Go NRI carries them
//! between containerd and a plugin): the kubelet's labels and annotations,
//! systemd-style cgroup paths, the pod's network namespace, the service
//! environment every container gets, the mounts of `/etc/hosts`,
//! `/dev/termination-log`, `/etc/hostname`, `/etc/resolv.conf`, `/dev/shm`
//! and the service account token, namespaces joined through the sandbox,
//! CPU and memory resources and an OOM score adjustment that match the
//! pod's QoS class. Every setter changes one thing; everything else stays
//! realistic.
//!
//! Everything is deterministic: ids, the pod UID, the pod's IP and pid are
//! derived from the namespace and names, so the same calls build the same
//! bytes in every run, and different names build different ids.
//!
//! ```
//! use nri_proto::api::ContainerState;
//! use nri_proto::builders::{ContainerBuilder, PodBuilder};
//!
//! let pod = PodBuilder::new("web").namespace("shop").label("app", "web").build();
//! assert_eq!(pod.labels["io.kubernetes.pod.namespace"], "shop");
//! assert_eq!(pod.id.len(), 64);
//!
//! let app = ContainerBuilder::new(&pod, "app")
//!     .env("LOG_LEVEL", "debug")
//!     .cpuset("0-1")
//!     .state(ContainerState::ContainerRunning)
//!     .pid(4242)
//!     .build();
//! assert_eq!(app.pod_sandbox_id, pod.id);
//! assert!(app.env.contains(&"LOG_LEVEL=debug".to_string()));
//! assert_eq!(app, ContainerBuilder::new(&pod, "app")
//!     .env("LOG_LEVEL", "debug")
//!     .cpuset("0-1")
//!     .state(ContainerState::ContainerRunning)
//!     .pid(4242)
//!     .build());
//! ```

use std::collections::BTreeMap;

use crate::api::{
    Container, ContainerState, Hooks, Image, LinuxContainer, LinuxCpu, LinuxMemory, LinuxNamespace,
    LinuxPodSandbox, LinuxResources, Mount, PodSandbox, PosixRlimit, User,
};
use crate::optional;

/// When every built container was created: 2026-01-01T00:00:00Z, in
/// nanoseconds since the epoch.
pub const CREATED_AT: i64 = 1_767_225_600_000_000_000;

/// The cluster IP of the `kubernetes` service, in every container's
/// environment.
const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

/// What a pod's QoS class makes of its cgroups, resources and OOM score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QosClass {
    /// Requests equal limits: `kubepods-pod<uid>.slice`, OOM score -997.
    Guaranteed,
    /// Some requests or limits: `kubepods-burstable-pod<uid>.slice`, OOM
    /// score 999. The default.
    #[default]
    Burstable,
    /// No requests or limits: `kubepods-besteffort-pod<uid>.slice`, CPU
    /// shares 2, no memory limit, OOM score 1000.
    BestEffort,
}

impl QosClass {
    /// The class a pod's cgroup parent names.
    fn of_cgroup_parent(parent: &str) -> QosClass {
        if parent.contains("besteffort") {
            QosClass::BestEffort
        } else if parent.contains("burstable") {
            QosClass::Burstable
        } else if parent.starts_with("kubepods-pod") || parent.starts_with("/kubepods/pod") {
            QosClass::Guaranteed
        } else {
            QosClass::Burstable
        }
    }

    /// The slice of a pod of this class.
    fn cgroup_parent(self, uid: &str) -> String {
        let uid = uid.replace('-', "_");
        match self {
            QosClass::Guaranteed => format!("kubepods-pod{uid}.slice"),
            QosClass::Burstable => format!("kubepods-burstable-pod{uid}.slice"),
            QosClass::BestEffort => format!("kubepods-besteffort-pod{uid}.slice"),
        }
    }

    /// The resources of one default container of this class: CPU shares,
    /// quota, period and memory limit.
    fn default_resources(self) -> (u64, Option<i64>, u64, Option<i64>) {
        const MIB_256: i64 = 256 << 20;
        match self {
            // 500m requested and limited.
            QosClass::Guaranteed => (512, Some(50_000), 100_000, Some(MIB_256)),
            // 100m requested, 500m limit.
            QosClass::Burstable => (102, Some(50_000), 100_000, Some(MIB_256)),
            QosClass::BestEffort => (2, None, 100_000, None),
        }
    }

    /// The kubelet's OOM score adjustment for containers of this class.
    fn oom_score_adj(self) -> i64 {
        match self {
            QosClass::Guaranteed => -997,
            QosClass::Burstable => 999,
            QosClass::BestEffort => 1000,
        }
    }
}

/// Builds a [`PodSandbox`] as containerd reports a Kubernetes pod.
#[derive(Debug, Clone)]
pub struct PodBuilder {
    name: String,
    namespace: String,
    id: Option<String>,
    uid: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    runtime_handler: String,
    ips: Option<Vec<String>>,
    pid: Option<u32>,
    qos: QosClass,
}

impl PodBuilder {
    /// A pod named `name` in namespace `default`.
    pub fn new(name: &str) -> Self {
        PodBuilder {
            name: name.to_string(),
            namespace: "default".to_string(),
            id: None,
            uid: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            runtime_handler: "runc".to_string(),
            ips: None,
            pid: None,
            qos: QosClass::default(),
        }
    }

    /// The Kubernetes namespace.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = ns.to_string();
        self
    }

    /// The sandbox id (default: 64 hex digits derived from namespace and
    /// name).
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_string());
        self
    }

    /// The pod UID (default: UUID-shaped, derived from namespace and name).
    /// The kubelet's labels, the cgroup parent and the paths follow it.
    pub fn uid(mut self, uid: &str) -> Self {
        self.uid = Some(uid.to_string());
        self
    }

    /// Adds or replaces a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.to_string(), v.to_string());
        self
    }

    /// Adds or replaces an annotation.
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.annotations.insert(k.to_string(), v.to_string());
        self
    }

    /// The runtime handler (default `runc`).
    pub fn runtime_handler(mut self, h: &str) -> Self {
        self.runtime_handler = h.to_string();
        self
    }

    /// The pod's only IP (default: `10.244.0.x`, derived from namespace and
    /// name).
    pub fn ip(mut self, ip: &str) -> Self {
        self.ips = Some(vec![ip.to_string()]);
        self
    }

    /// All of the pod's IPs, e.g. two for dual-stack or none for a pod on
    /// the host network.
    pub fn ips(mut self, ips: &[&str]) -> Self {
        self.ips = Some(ips.iter().map(|ip| ip.to_string()).collect());
        self
    }

    /// The sandbox process's pid (default: derived from namespace and
    /// name). Containers join its namespaces through `/proc/<pid>/ns`.
    pub fn pid(mut self, pid: u32) -> Self {
        self.pid = Some(pid);
        self
    }

    /// The pod's QoS class (default [`QosClass::Burstable`]): its cgroup
    /// parent and resources, and the defaults of its containers.
    pub fn qos_class(mut self, qos: QosClass) -> Self {
        self.qos = qos;
        self
    }

    /// The pod.
    pub fn build(self) -> PodSandbox {
        let key = [self.namespace.as_str(), self.name.as_str()];
        let id = self.id.unwrap_or_else(|| hex_id(&["pod", key[0], key[1]]));
        let uid = self.uid.unwrap_or_else(|| uuid(&["uid", key[0], key[1]]));
        let pid = self
            .pid
            .unwrap_or_else(|| 2000 + (digest(&["pid", key[0], key[1]]) % 60_000) as u32);
        let ips = self.ips.unwrap_or_else(|| {
            let host = 2 + digest(&["ip", key[0], key[1]]) % 250;
            vec![format!("10.244.0.{host}")]
        });

        let mut labels = BTreeMap::from([
            ("io.kubernetes.pod.name".to_string(), self.name.clone()),
            (
                "io.kubernetes.pod.namespace".to_string(),
                self.namespace.clone(),
            ),
            ("io.kubernetes.pod.uid".to_string(), uid.clone()),
        ]);
        labels.extend(self.labels);
        let mut annotations = BTreeMap::from([
            (
                "kubernetes.io/config.seen".to_string(),
                "2026-01-01T00:00:00.000000000Z".to_string(),
            ),
            ("kubernetes.io/config.source".to_string(), "api".to_string()),
        ]);
        annotations.extend(self.annotations);

        let cgroup_parent = self.qos.cgroup_parent(&uid);
        let (shares, quota, period, memory) = self.qos.default_resources();
        let linux = LinuxPodSandbox {
            pod_resources: Some(resources(shares, quota, period, memory, false)),
            cgroups_path: format!("{cgroup_parent}:cri-containerd:{id}"),
            cgroup_parent,
            namespaces: vec![
                namespace("network", format!("/var/run/netns/cni-{uid}")),
                namespace("ipc", ""),
                namespace("uts", ""),
            ],
            ..Default::default()
        };
        PodSandbox {
            id,
            name: self.name,
            uid,
            namespace: self.namespace,
            labels,
            annotations,
            runtime_handler: self.runtime_handler,
            linux: Some(linux),
            pid,
            ips,
        }
    }
}

/// Builds a [`Container`] of a pod as containerd reports it to plugins at
/// creation.
#[derive(Debug, Clone)]
pub struct ContainerBuilder {
    container: Container,
    /// The pod's cgroup parent, for the container's cgroups path.
    cgroup_parent: String,
}

impl ContainerBuilder {
    /// Container `name` of `pod`, created and not started. Its id is
    /// derived from the pod's id and `name`.
    pub fn new(pod: &PodSandbox, name: &str) -> Self {
        let cgroup_parent = pod
            .linux
            .as_ref()
            .map(|linux| linux.cgroup_parent.clone())
            .unwrap_or_default();
        let qos = QosClass::of_cgroup_parent(&cgroup_parent);
        let (shares, quota, period, memory) = qos.default_resources();
        let kubelet_pod = format!("/var/lib/kubelet/pods/{}", pod.uid);
        let sandbox = |dir: &str, file: &str| {
            format!(
                "{dir}/io.containerd.grpc.v1.cri/sandboxes/{}/{file}",
                pod.id
            )
        };
        let rw = ["rbind", "rprivate", "rw"];
        let termination_log = hex_prefix(&["termination-log", &pod.id, name], 8);
        let token = hex_prefix(&["token", &pod.uid], 5);
        let mounts = vec![
            bind("/etc/hosts", format!("{kubelet_pod}/etc-hosts"), &rw),
            bind(
                "/dev/termination-log",
                format!("{kubelet_pod}/containers/{name}/{termination_log}"),
                &rw,
            ),
            bind(
                "/etc/hostname",
                sandbox("/var/lib/containerd", "hostname"),
                &rw,
            ),
            bind(
                "/etc/resolv.conf",
                sandbox("/var/lib/containerd", "resolv.conf"),
                &rw,
            ),
            bind("/dev/shm", sandbox("/run/containerd", "shm"), &rw),
            bind(
                "/var/run/secrets/kubernetes.io/serviceaccount",
                format!("{kubelet_pod}/volumes/kubernetes.io~projected/kube-api-access-{token}"),
                &["rbind", "rprivate", "ro"],
            ),
        ];
        let env = [
            (
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
            ("HOSTNAME", pod.name.as_str()),
            ("KUBERNETES_SERVICE_HOST", KUBERNETES_SERVICE_IP),
            ("KUBERNETES_SERVICE_PORT", "443"),
            ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
            ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
            ("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"),
            ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
            ("KUBERNETES_PORT_443_TCP_PORT", "443"),
            ("KUBERNETES_PORT_443_TCP_ADDR", KUBERNETES_SERVICE_IP),
        ]
        .iter()
        .map(|(k, v)| [k, "=", v].concat())
        .collect();
        let sandbox_ns =
            |kind: &str, ns: &str| namespace(kind, format!("/proc/{}/ns/{ns}", pod.pid));
        let linux = LinuxContainer {
            namespaces: vec![
                namespace("pid", ""),
                sandbox_ns("ipc", "ipc"),
                sandbox_ns("uts", "uts"),
                namespace("mount", ""),
                sandbox_ns("network", "net"),
            ],
            resources: Some(resources(shares, quota, period, memory, true)),
            oom_score_adj: optional::int(qos.oom_score_adj()),
            ..Default::default()
        };
        let labels = BTreeMap::from([
            ("io.kubernetes.container.name".to_string(), name.to_string()),
            ("io.kubernetes.pod.name".to_string(), pod.name.clone()),
            (
                "io.kubernetes.pod.namespace".to_string(),
                pod.namespace.clone(),
            ),
            ("io.kubernetes.pod.uid".to_string(), pod.uid.clone()),
        ]);
        let annotations = BTreeMap::from([
            (
                "io.kubernetes.container.hash".to_string(),
                hex_prefix(&["hash", &pod.id, name], 8),
            ),
            (
                "io.kubernetes.container.restartCount".to_string(),
                "0".to_string(),
            ),
            (
                "io.kubernetes.container.terminationMessagePath".to_string(),
                "/dev/termination-log".to_string(),
            ),
            (
                "io.kubernetes.container.terminationMessagePolicy".to_string(),
                "File".to_string(),
            ),
            (
                "io.kubernetes.pod.terminationGracePeriod".to_string(),
                "30".to_string(),
            ),
        ]);
        let container = Container {
            id: hex_id(&["container", &pod.id, name]),
            pod_sandbox_id: pod.id.clone(),
            name: name.to_string(),
            state: ContainerState::ContainerCreated as i32,
            labels,
            annotations,
            args: ["/bin/sh", "-c", "while true; do sleep 3600; done"]
                .map(String::from)
                .to_vec(),
            env,
            mounts,
            hooks: Some(Hooks::default()),
            linux: Some(linux),
            rlimits: vec![PosixRlimit {
                r#type: "RLIMIT_NOFILE".to_string(),
                hard: 1_048_576,
                soft: 1_048_576,
            }],
            created_at: CREATED_AT,
            user: Some(User {
                uid: 0,
                gid: 0,
                additional_gids: vec![0],
            }),
            image: Some(Image {
                name: "docker.io/library/busybox:1.36".to_string(),
                ..Default::default()
            }),
            ..Default::default()
        };
        ContainerBuilder {
            container,
            cgroup_parent,
        }
    }

    /// The container id.
    pub fn id(mut self, id: &str) -> Self {
        self.container.id = id.to_string();
        self
    }

    /// Adds or replaces a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.container.labels.insert(k.to_string(), v.to_string());
        self
    }

    /// Adds or replaces an annotation.
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.container
            .annotations
            .insert(k.to_string(), v.to_string());
        self
    }

    /// Sets an environment variable: replaces the entry of `k` if there is
    /// one, else appends `k=v`.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        let entry = format!("{k}={v}");
        let prefix = format!("{k}=");
        match self
            .container
            .env
            .iter_mut()
            .find(|e| e.starts_with(&prefix))
        {
            Some(existing) => *existing = entry,
            None => self.container.env.push(entry),
        }
        self
    }

    /// The command line, replacing the default.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.container.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Adds a mount, replacing any mount at the same destination.
    pub fn mount(mut self, destination: &str, source: &str, kind: &str, options: &[&str]) -> Self {
        let mount = Mount {
            destination: destination.to_string(),
            r#type: kind.to_string(),
            source: source.to_string(),
            options: options.iter().map(|o| o.to_string()).collect(),
        };
        let mounts = &mut self.container.mounts;
        match mounts.iter_mut().find(|m| m.destination == destination) {
            Some(existing) => *existing = mount,
            None => mounts.push(mount),
        }
        self
    }

    /// CPU shares, CFS quota and CFS period.
    pub fn cpu(mut self, shares: u64, quota: i64, period: u64) -> Self {
        let cpu = self.cpu_mut();
        cpu.shares = optional::uint64(shares);
        cpu.quota = optional::int64(quota);
        cpu.period = optional::uint64(period);
        self
    }

    /// The CPU set, e.g. `0-3`.
    pub fn cpuset(mut self, cpus: &str) -> Self {
        self.cpu_mut().cpus = cpus.to_string();
        self
    }

    /// The memory limit in bytes; the swap limit follows it, as the
    /// kubelet sets it on nodes without swap.
    pub fn memory_limit(mut self, bytes: i64) -> Self {
        let memory = self
            .resources_mut()
            .memory
            .get_or_insert_with(LinuxMemory::default);
        memory.limit = optional::int64(bytes);
        memory.swap = optional::int64(bytes);
        self
    }

    /// The OOM score adjustment (default: the pod's QoS class's).
    pub fn oom_score_adj(mut self, adj: i64) -> Self {
        self.linux_mut().oom_score_adj = optional::int(adj);
        self
    }

    /// The lifecycle state. A running container gets a start time, a
    /// stopped one a start and an exit time (exit code 0).
    pub fn state(mut self, state: ContainerState) -> Self {
        let c = &mut self.container;
        c.state = state as i32;
        let started = CREATED_AT + 1_000_000_000;
        match state {
            ContainerState::ContainerRunning | ContainerState::ContainerPaused => {
                c.started_at = started;
            }
            ContainerState::ContainerStopped => {
                c.started_at = started;
                c.finished_at = started + 1_000_000_000;
                c.status_reason = "Completed".to_string();
            }
            ContainerState::ContainerCreated | ContainerState::ContainerUnknown => {}
        }
        self
    }

    /// The pid of the container's process (0, the default, until started).
    pub fn pid(mut self, pid: u32) -> Self {
        self.container.pid = pid;
        self
    }

    /// The image the container runs.
    pub fn image(mut self, name: &str) -> Self {
        self.container.image = Some(Image {
            name: name.to_string(),
            ..Default::default()
        });
        self
    }

    /// The process user and group (default root).
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.container.user = Some(User {
            uid,
            gid,
            additional_gids: vec![gid],
        });
        self
    }

    /// The container.
    pub fn build(self) -> Container {
        let mut container = self.container;
        let cgroups_path = format!("{}:cri-containerd:{}", self.cgroup_parent, container.id);
        container
            .linux
            .get_or_insert_with(LinuxContainer::default)
            .cgroups_path = cgroups_path;
        container
    }

    fn linux_mut(&mut self) -> &mut LinuxContainer {
        self.container
            .linux
            .get_or_insert_with(LinuxContainer::default)
    }

    fn resources_mut(&mut self) -> &mut LinuxResources {
        self.linux_mut()
            .resources
            .get_or_insert_with(LinuxResources::default)
    }

    fn cpu_mut(&mut self) -> &mut LinuxCpu {
        self.resources_mut()
            .cpu
            .get_or_insert_with(LinuxCpu::default)
    }
}

/// Resources with these CPU settings and memory limit; a container's also
/// limit swap (to the memory limit) and set `memory.oom.group`.
fn resources(
    shares: u64,
    quota: Option<i64>,
    period: u64,
    memory: Option<i64>,
    container: bool,
) -> LinuxResources {
    let mut unified = BTreeMap::new();
    if container && memory.is_some() {
        unified.insert("memory.oom.group".to_string(), "1".to_string());
    }
    LinuxResources {
        memory: memory.map(|limit| LinuxMemory {
            limit: optional::int64(limit),
            swap: if container {
                optional::int64(limit)
            } else {
                None
            },
            ..Default::default()
        }),
        cpu: Some(LinuxCpu {
            shares: optional::uint64(shares),
            quota: quota.and_then(optional::int64),
            period: optional::uint64(period),
            ..Default::default()
        }),
        unified,
        ..Default::default()
    }
}

fn namespace(kind: &str, path: impl Into<String>) -> LinuxNamespace {
    LinuxNamespace {
        r#type: kind.to_string(),
        path: path.into(),
    }
}

fn bind(destination: &str, source: String, options: &[&str]) -> Mount {
    Mount {
        destination: destination.to_string(),
        r#type: "bind".to_string(),
        source,
        options: options.iter().map(|o| o.to_string()).collect(),
    }
}

/// `N` 64-bit digests of `parts` (FNV-1a, with a separator between parts,
/// finished with the splitmix64 mixer), varied by salts `0..N`. They are
/// computed side by side in one pass over `parts`: each is a chain of
/// multiplications, and one after another they took four times as long.
fn digests<const N: usize>(parts: &[&str]) -> [u64; N] {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hashes: [u64; N] = std::array::from_fn(|salt| {
        0xcbf2_9ce4_8422_2325 ^ (salt as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    });
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            for hash in &mut hashes {
                *hash ^= u64::from(byte);
                *hash = hash.wrapping_mul(PRIME);
            }
        }
    }
    hashes.map(|mut z| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// The first of [`digests`].
fn digest(parts: &[&str]) -> u64 {
    let [first] = digests(parts);
    first
}

/// 64 hex digits derived from `parts`, like a containerd id: written into
/// one string rather than four joined (the bench builds a pod and a
/// container per lifecycle, in the runtime's process).
fn hex_id(parts: &[&str]) -> String {
    use std::fmt::Write as _;
    let mut id = String::with_capacity(64);
    for digest in digests::<4>(parts) {
        // Writing into a String cannot fail.
        let _ = write!(id, "{digest:016x}");
    }
    id
}

/// The first `len` (at most 16) of [`hex_id`]'s digits, without computing
/// the other digests.
fn hex_prefix(parts: &[&str], len: usize) -> String {
    let mut digits = format!("{:016x}", digest(parts));
    digits.truncate(len);
    digits
}

/// A version-4-shaped UUID derived from `parts`, like a pod UID.
fn uuid(parts: &[&str]) -> String {
    let hex = hex_id(parts);
    let variant = ['8', '9', 'a', 'b'][usize::from(hex.as_bytes()[16] % 4)];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::api::CreateContainerRequest;
    use prost::Message;

    use super::*;

    fn request(pod: &PodSandbox, container: &Container) -> Vec<u8> {
        CreateContainerRequest {
            pod: Some(pod.clone()),
            container: Some(container.clone()),
        }
        .encode_to_vec()
    }

    #[test]
    fn the_default_create_request_is_about_the_size_of_upstreams_recorded_one() {
        let pod = PodBuilder::new("bench-pod-0").build();
        let container = ContainerBuilder::new(&pod, "app").build();
        let len = request(&pod, &container).len();
        println!("default CreateContainerRequest: {len} bytes");
        // Upstream's recorded CreateContainerRequest is 2,648 bytes.
        assert!((2_200..=3_300).contains(&len), "{len} bytes");
    }

    #[test]
    fn the_same_calls_build_the_same_bytes() {
        let build = || {
            let pod = PodBuilder::new("web").namespace("shop").build();
            let container = ContainerBuilder::new(&pod, "app").build();
            request(&pod, &container)
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn ids_differ_by_namespace_and_name_and_look_like_containerds() {
        let a = PodBuilder::new("web").build();
        let b = PodBuilder::new("web").namespace("other").build();
        let c = PodBuilder::new("api").build();
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_ne!(a.uid, b.uid);
        for pod in [&a, &b, &c] {
            assert_eq!(pod.id.len(), 64);
            assert!(pod.id.bytes().all(|b| b.is_ascii_hexdigit()));
            let groups: Vec<usize> = pod.uid.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{}", pod.uid);
            assert_eq!(&pod.uid[14..15], "4");
        }
        let app = ContainerBuilder::new(&a, "app").build();
        let sidecar = ContainerBuilder::new(&a, "sidecar").build();
        let other_pods_app = ContainerBuilder::new(&c, "app").build();
        assert_ne!(app.id, sidecar.id);
        assert_ne!(app.id, other_pods_app.id);
        assert_eq!(app.id.len(), 64);
    }

    #[test]
    fn defaults_carry_what_the_kubelet_and_containerd_set() {
        let pod = PodBuilder::new("web")
            .uid("0000aaaa-bb00-4c00-8d00-eeeeffff0000")
            .build();
        assert_eq!(pod.labels["io.kubernetes.pod.uid"], pod.uid);
        let linux = pod.linux.as_ref().unwrap();
        assert_eq!(
            linux.cgroup_parent,
            "kubepods-burstable-pod0000aaaa_bb00_4c00_8d00_eeeeffff0000.slice"
        );
        assert_eq!(
            linux.namespaces[0].path,
            "/var/run/netns/cni-0000aaaa-bb00-4c00-8d00-eeeeffff0000"
        );

        let c = ContainerBuilder::new(&pod, "app").build();
        assert_eq!(c.state, ContainerState::ContainerCreated as i32);
        assert_eq!(c.labels["io.kubernetes.container.name"], "app");
        assert_eq!(c.annotations["io.kubernetes.container.restartCount"], "0");
        let destinations: Vec<&str> = c.mounts.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(
            destinations,
            [
                "/etc/hosts",
                "/dev/termination-log",
                "/etc/hostname",
                "/etc/resolv.conf",
                "/dev/shm",
                "/var/run/secrets/kubernetes.io/serviceaccount"
            ]
        );
        assert!(
            c.env
                .iter()
                .any(|e| e == "KUBERNETES_SERVICE_HOST=10.96.0.1")
        );
        let linux = c.linux.as_ref().unwrap();
        assert_eq!(
            linux.cgroups_path,
            format!(
                "{}:cri-containerd:{}",
                pod.linux.as_ref().unwrap().cgroup_parent,
                c.id
            )
        );
        assert_eq!(
            linux.namespaces[4].path,
            format!("/proc/{}/ns/net", pod.pid)
        );
        let cpu = linux.resources.as_ref().unwrap().cpu.as_ref().unwrap();
        assert_eq!(cpu.shares, optional::uint64(102u64));
        assert_eq!(linux.oom_score_adj, optional::int(999));
    }

    #[test]
    fn qos_classes_shape_cgroups_resources_and_oom_scores() {
        let pod = PodBuilder::new("batch")
            .qos_class(QosClass::BestEffort)
            .build();
        assert!(
            pod.linux
                .as_ref()
                .unwrap()
                .cgroup_parent
                .starts_with("kubepods-besteffort-pod")
        );
        let c = ContainerBuilder::new(&pod, "job").build();
        let linux = c.linux.unwrap();
        let resources = linux.resources.unwrap();
        assert_eq!(resources.memory, None);
        assert_eq!(resources.cpu.unwrap().shares, optional::uint64(2u64));
        assert_eq!(linux.oom_score_adj, optional::int(1000));

        let pod = PodBuilder::new("db")
            .qos_class(QosClass::Guaranteed)
            .build();
        let c = ContainerBuilder::new(&pod, "db").build();
        assert_eq!(c.linux.unwrap().oom_score_adj, optional::int(-997));
    }

    #[test]
    fn setters_replace_what_they_name_and_keep_the_rest() {
        let pod = PodBuilder::new("web")
            .id("p1")
            .label("app", "web")
            .annotation("a", "b")
            .runtime_handler("kata")
            .ip("192.168.1.5")
            .pid(77)
            .build();
        assert_eq!(pod.id, "p1");
        assert_eq!(pod.labels["app"], "web");
        assert_eq!(pod.annotations["a"], "b");
        assert_eq!(pod.runtime_handler, "kata");
        assert_eq!(pod.ips, ["192.168.1.5"]);
        assert_eq!(pod.pid, 77);

        let c = ContainerBuilder::new(&pod, "app")
            .id("c1")
            .env("PATH", "/bin")
            .env("EXTRA", "1")
            .args(&["sleep", "inf"])
            .mount("/etc/hosts", "/tmp/hosts", "bind", &["ro"])
            .mount("/data", "/srv/data", "bind", &["rbind", "rw"])
            .cpu(512, 20_000, 100_000)
            .cpuset("2-3")
            .memory_limit(1 << 30)
            .state(ContainerState::ContainerRunning)
            .pid(4242)
            .build();
        assert_eq!(c.id, "c1");
        assert_eq!(c.env[0], "PATH=/bin");
        assert_eq!(c.env.last().unwrap(), "EXTRA=1");
        assert_eq!(c.args, ["sleep", "inf"]);
        assert_eq!(c.mounts[0].source, "/tmp/hosts");
        assert_eq!(c.mounts.last().unwrap().destination, "/data");
        assert_eq!(c.mounts.len(), 7);
        let linux = c.linux.unwrap();
        assert!(linux.cgroups_path.ends_with(":cri-containerd:c1"));
        let resources = linux.resources.unwrap();
        let cpu = resources.cpu.unwrap();
        assert_eq!(
            (cpu.shares, cpu.quota, cpu.period, cpu.cpus.as_str()),
            (
                optional::uint64(512u64),
                optional::int64(20_000),
                optional::uint64(100_000u64),
                "2-3"
            )
        );
        assert_eq!(resources.memory.unwrap().limit, optional::int64(1 << 30));
        assert_eq!(c.state, ContainerState::ContainerRunning as i32);
        assert_eq!(c.pid, 4242);
        assert!(c.started_at > c.created_at);
    }
}
