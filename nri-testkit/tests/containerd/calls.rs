//! CRI calls of the end-to-end test, and what the host and the container
//! show of their effects.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nri_cri::cri as api;
use nri_cri::socket::UnixChannel;

use super::node::signal;
use super::{BUSYBOX_IMAGE, Containerd};
use crate::cri::{PATIENCE, raw_call};

/// What every container prints, then it waits to be stopped.
pub const WORKLOAD: &str = "env; cat /proc/self/limits; ls -l /dev/; cat /proc/self/mountinfo; \
     cat /data/marker 2>/dev/null; echo READY; trap 'exit 0' TERM; \
     while true; do sleep 1; done";

pub fn pod_config(
    containerd: &Containerd,
    name: &str,
    annotations: &[(&str, String)],
) -> api::PodSandboxConfig {
    let logs = containerd.root().join("logs").join(name);
    std::fs::create_dir_all(&logs).expect("log dir");
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "e2e".into(),
            attempt: 0,
        }),
        log_directory: logs.display().to_string(),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: containerd.pod_cgroup(name),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: Some(api::NamespaceOption {
                    // No CNI here: the host's network (and so no hostname).
                    network: api::NamespaceMode::Node as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn container_config(name: &str) -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: BUSYBOX_IMAGE.into(),
            ..Default::default()
        }),
        command: vec!["/bin/sh".into(), "-c".into(), WORKLOAD.into()],
        envs: vec![api::KeyValue {
            key: "ROLE".into(),
            value: b"e2e".to_vec(),
        }],
        log_path: format!("{name}.log"),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(api::LinuxContainerResources {
                memory_limit_in_bytes: 128 << 20,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub type Client = api::runtime_service_client::RuntimeServiceClient<UnixChannel>;

/// A pod with its sandbox config.
pub struct Pod {
    pub id: String,
    pub config: api::PodSandboxConfig,
}

pub async fn run_pod(cri: &mut Client, config: api::PodSandboxConfig) -> Pod {
    let id = cri
        .run_pod_sandbox(api::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .expect("RunPodSandbox")
        .into_inner()
        .pod_sandbox_id;
    Pod { id, config }
}

pub async fn create(cri: &mut Client, pod: &Pod, name: &str) -> Result<String, tonic::Status> {
    cri.create_container(api::CreateContainerRequest {
        pod_sandbox_id: pod.id.clone(),
        config: Some(container_config(name)),
        sandbox_config: Some(pod.config.clone()),
    })
    .await
    .map(|r| r.into_inner().container_id)
}

pub async fn start(cri: &mut Client, id: &str) {
    cri.start_container(api::StartContainerRequest {
        container_id: id.into(),
    })
    .await
    .expect("StartContainer");
}

pub async fn run_container(cri: &mut Client, pod: &Pod, name: &str) -> String {
    let id = create(cri, pod, name).await.expect("CreateContainer");
    start(cri, &id).await;
    id
}

pub async fn status(cri: &mut Client, id: &str) -> api::ContainerStatusResponse {
    cri.container_status(api::ContainerStatusRequest {
        container_id: id.into(),
        verbose: true,
    })
    .await
    .expect("ContainerStatus")
    .into_inner()
}

pub async fn state(cri: &mut Client, id: &str) -> api::ContainerState {
    status(cri, id).await.status.expect("status").state()
}

pub async fn wait_for_state(cri: &mut Client, id: &str, want: api::ContainerState) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = state(cri, id).await;
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "{id} is {now:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The verbose info's JSON (containerd: pid, runtimeSpec, ...).
pub async fn info(cri: &mut Client, id: &str) -> serde_json::Value {
    let text = status(cri, id)
        .await
        .info
        .remove("info")
        .expect("verbose info");
    serde_json::from_str(&text).expect("info is JSON")
}

/// Kills a container's process from the host, as if it crashed.
pub async fn kill_container(cri: &mut Client, id: &str) {
    let pid = info(cri, id).await["pid"].as_u64().expect("pid");
    signal(
        u32::try_from(pid).expect("pid"),
        rustix::process::Signal::KILL,
    );
}

/// What the container wrote, once it printed READY (CRI log lines:
/// `time stream tag text`).
pub async fn container_output(pod: &Pod, name: &str) -> String {
    let path = Path::new(&pod.config.log_directory).join(format!("{name}.log"));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter_map(|line| line.splitn(4, ' ').nth(3))
            .collect();
        if lines.contains(&"READY") {
            return lines.join("\n");
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not print READY; its log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The container's memory limit as its cgroup on the host says.
pub async fn cgroup_memory_limit(cri: &mut Client, id: &str) -> u64 {
    let info = info(cri, id).await;
    let path = info["runtimeSpec"]["linux"]["cgroupsPath"]
        .as_str()
        .expect("cgroupsPath")
        .trim_start_matches('/')
        .to_string();
    let v1 = Path::new("/sys/fs/cgroup/memory")
        .join(&path)
        .join("memory.limit_in_bytes");
    let v2 = Path::new("/sys/fs/cgroup").join(&path).join("memory.max");
    let text = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .unwrap_or_else(|e| panic!("the cgroup of {id} ({path}): {e}"));
    text.trim().parse().expect("a limit")
}

/// The names of the containers containerd itself has.
pub async fn names_in_containerd(containerd: &Containerd) -> Vec<String> {
    containerd
        .client()
        .list_containers(api::ListContainersRequest::default())
        .await
        .expect("ListContainers")
        .into_inner()
        .containers
        .into_iter()
        .filter_map(|c| c.metadata.map(|m| m.name))
        .collect()
}

/// The top-level fields of a protobuf message, sorted (a listing's order
/// is not part of what it says).
pub fn sorted_fields(message: &[u8]) -> Vec<Vec<u8>> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let mut buf = message;
    let mut fields = Vec::new();
    while !buf.is_empty() {
        let start = buf;
        let (_, wire) = decode_key(&mut buf).expect("key");
        match wire {
            WireType::Varint => {
                decode_varint(&mut buf).expect("varint");
            }
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut buf).expect("len")).expect("len");
                buf = &buf[len..];
            }
            WireType::SixtyFourBit => buf = &buf[8..],
            WireType::ThirtyTwoBit => buf = &buf[4..],
            other => panic!("unexpected wire type {other:?}"),
        }
        fields.push(start[..start.len() - buf.len()].to_vec());
    }
    fields.sort();
    fields
}

/// One raw call to the proxy and the same to containerd: the answers
/// (body, grpc-status).
pub async fn both(
    proxy: &Path,
    containerd: &Path,
    path: &str,
    body: Bytes,
) -> [(Bytes, String); 2] {
    let mut answers = Vec::new();
    for socket in [proxy, containerd] {
        let (answer, trailers) = raw_call(&UnixChannel::new(socket), path, body.clone()).await;
        let status = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
            .unwrap_or_default();
        answers.push((answer, status));
    }
    [answers.remove(0), answers.remove(0)]
}
