#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end on a real runtime: a CRI client → `nri-cri-proxy` (a process)
//! → containerd 1.6 (which has no NRI of its own) → runc, with NRI
//! plugins as processes. What NRI changes is checked where it lands: in
//! what the container itself prints (its environment, its devices, its
//! mounts) and in its cgroup on the host.
//!
//! Needs root and the Debian packages containerd, runc and busybox-static
//! (`.ci/run` installs them). With `CI` set, a missing one fails the test;
//! otherwise the test is skipped, saying why. The checks run in sequence
//! against one containerd, which the test starts on a temporary root and
//! removes with everything it started, even when a check fails.

mod containerd;
mod cri;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nri_core::proto::api::{
    Container, ContainerState, ContainerUpdate, PodSandbox, StopContainerResponse,
};
use nri_core::stub::{HandlerResult, Plugin, Stub};
use nri_cri::cri as api;
use nri_cri::socket::UnixChannel;
use nri_transport_ttrpc::PluginConnector;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use containerd::{BUSYBOX_IMAGE, Containerd};
use cri::{HARNESS, PATIENCE, client, framed, raw_call};

/// What the fake plugin process does: fail one creation, change a running
/// container's memory limit unasked, evict one container for another.
const SCRIPT: &str = r#"
CreateContainer:
  - container: refused
    fail: refused by the end-to-end script
  - container: evictor
    evict:
      - container: victim
        reason: room for the evictor
StartContainer:
  - container: updater
    update_later:
      after: 10ms
      update:
        - container: app
          linux: {resources: {memory: {limit: {value: 100663296}}}}
"#;

/// The memory limit the script sets: 96 MiB.
const UPDATED_LIMIT: u64 = 96 << 20;

/// What every container prints, then it waits to be stopped.
const WORKLOAD: &str = "env; cat /proc/self/limits; ls -l /dev/; cat /proc/self/mountinfo; \
     cat /data/marker 2>/dev/null; echo READY; trap 'exit 0' TERM; \
     while true; do sleep 1; done";

// ----- An observing plugin -------------------------------------------------

#[derive(Debug, Default, Clone)]
struct Seen {
    snapshot: Option<Vec<Container>>,
    /// (event, container name) in order.
    events: Vec<(&'static str, String)>,
}

/// A plugin of the test's own that records what NRI tells it.
struct Observer {
    seen: watch::Sender<Seen>,
}

#[nri_core::plugin]
impl Plugin for Observer {
    async fn synchronize(
        &self,
        _pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        self.seen.send_modify(|s| s.snapshot = Some(containers));
        Ok(Vec::new())
    }

    async fn start_container(&self, _pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.seen
            .send_modify(|s| s.events.push(("StartContainer", container.name)));
        Ok(())
    }

    async fn stop_container(
        &self,
        _pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        self.seen
            .send_modify(|s| s.events.push(("StopContainer", container.name)));
        Ok(StopContainerResponse::default())
    }

    async fn remove_container(&self, _pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.seen
            .send_modify(|s| s.events.push(("RemoveContainer", container.name)));
        Ok(())
    }
}

async fn await_seen(seen: &mut watch::Receiver<Seen>, what: &str, done: impl FnMut(&Seen) -> bool) {
    let waited = tokio::time::timeout(PATIENCE, seen.wait_for(done))
        .await
        .map(|r| r.is_ok());
    assert!(
        waited == Ok(true),
        "the observer waited for {what}: {:?}",
        *seen.borrow()
    );
}

// ----- The proxy and the plugins as processes -------------------------------

/// `nri-cri-proxy` and the plugin processes connected to it.
struct Node {
    dir: PathBuf,
    backend: PathBuf,
    metrics_port: u16,
    proxy: Option<Child>,
    plugins: Vec<Child>,
    observer: Option<watch::Receiver<Seen>>,
}

impl Node {
    fn new(dir: &Path, backend: &Path) -> Node {
        std::fs::create_dir_all(dir).expect("node dir");
        for role in [
            "cri-proxy",
            "echo",
            "ulimit-adjuster",
            "device-injector",
            "fake",
        ] {
            std::os::unix::fs::symlink(HARNESS, dir.join(format!("nri-{role}"))).expect("link");
        }
        std::fs::write(dir.join("script.yaml"), SCRIPT).expect("script");
        std::fs::write(
            dir.join("nri.toml"),
            format!(
                "plugin_path = {:?}\nplugin_request_timeout = \"5s\"\n",
                dir.join("no-plugins").display().to_string()
            ),
        )
        .expect("config");
        // A free port for the metrics endpoint.
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Node {
            dir: dir.to_path_buf(),
            backend: backend.to_path_buf(),
            metrics_port,
            proxy: None,
            plugins: Vec::new(),
            observer: None,
        }
    }

    fn listen(&self) -> PathBuf {
        self.dir.join("cri.sock")
    }

    fn nri_socket(&self) -> PathBuf {
        self.dir.join("nri.sock")
    }

    fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(name))
            .expect("log file")
    }

    fn plugins_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("plugins.log")).unwrap_or_default()
    }

    fn proxy_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }

    /// Starts the proxy logging in `log_format`, then the plugins, and
    /// waits until all five are connected.
    async fn start(&mut self, log_format: &str) {
        let log = self.log_file("proxy.log");
        let mut proxy = Command::new(self.dir.join("nri-cri-proxy"))
            .arg("--listen")
            .arg(self.listen())
            .arg("--backend")
            .arg(&self.backend)
            .arg("--nri-socket")
            .arg(self.nri_socket())
            .arg("--nri-config")
            .arg(self.dir.join("nri.toml"))
            .args(["--exit-poll", "100ms", "--log-format", log_format])
            .arg("--metrics-address")
            .arg(format!("127.0.0.1:{}", self.metrics_port))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("proxy process");
        let stdout = proxy.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("the proxy starts")
            .expect("stdout");
        assert!(
            ready
                .as_deref()
                .is_some_and(|l| l.contains("serving CRI on")),
            "{ready:?}\n{}",
            self.proxy_log()
        );
        self.proxy = Some(proxy);
        for (role, index, extra) in [
            ("echo", "10", None),
            ("ulimit-adjuster", "20", None),
            ("device-injector", "30", None),
            ("fake", "40", Some(self.dir.join("script.yaml"))),
        ] {
            let mut command = Command::new(self.dir.join(format!("nri-{role}")));
            command
                .arg("--idx")
                .arg(index)
                .arg("--name")
                .arg(role)
                .arg("--socket-path")
                .arg(self.nri_socket())
                .stdin(Stdio::null())
                .stderr(self.log_file("plugins.log"))
                .kill_on_drop(true);
            if let Some(script) = extra {
                command.arg("--script").arg(script);
            }
            self.plugins.push(command.spawn().expect("plugin process"));
        }
        let (seen, observer) = watch::channel(Seen::default());
        let stub = Stub::builder(Observer { seen })
            .index("90")
            .name("observer")
            .build(std::sync::Arc::new(PluginConnector::dial(
                self.nri_socket(),
            )))
            .expect("stub");
        tokio::spawn(async move { stub.run().await });
        self.observer = Some(observer);
        self.plugins_connected(5).await;
    }

    /// Waits until the metrics say `count` plugins are connected.
    async fn plugins_connected(&self, count: usize) {
        let want = format!("nri_active_plugins {count}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let scraped = self.scrape().await;
            if scraped.lines().any(|l| l.trim() == want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{count} plugins did not connect:\n{scraped}\n{}",
                self.proxy_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The proxy's metrics, as Prometheus scrapes them.
    async fn scrape(&self) -> String {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).await
        else {
            return String::new();
        };
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        response
    }

    fn observer(&mut self) -> &mut watch::Receiver<Seen> {
        self.observer.as_mut().expect("started")
    }

    /// Stops the proxy with SIGTERM; the plugins go with their connection.
    async fn stop(&mut self) {
        if let Some(mut proxy) = self.proxy.take() {
            let pid = proxy.id().expect("pid");
            signal(pid, rustix::process::Signal::TERM);
            let status = tokio::time::timeout(PATIENCE, proxy.wait())
                .await
                .expect("the proxy exits")
                .expect("status");
            assert!(status.success(), "{status}\n{}", self.proxy_log());
        }
        for mut plugin in self.plugins.drain(..) {
            if tokio::time::timeout(PATIENCE, plugin.wait()).await.is_err() {
                let _ = plugin.kill().await;
            }
        }
        self.observer = None;
    }
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, signal).expect("signal");
}

// ----- CRI -----------------------------------------------------------------

fn pod_config(
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

fn container_config(name: &str) -> api::ContainerConfig {
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

type Client = api::runtime_service_client::RuntimeServiceClient<UnixChannel>;

/// A pod with its sandbox config.
struct Pod {
    id: String,
    config: api::PodSandboxConfig,
}

async fn run_pod(cri: &mut Client, config: api::PodSandboxConfig) -> Pod {
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

async fn create(cri: &mut Client, pod: &Pod, name: &str) -> Result<String, tonic::Status> {
    cri.create_container(api::CreateContainerRequest {
        pod_sandbox_id: pod.id.clone(),
        config: Some(container_config(name)),
        sandbox_config: Some(pod.config.clone()),
    })
    .await
    .map(|r| r.into_inner().container_id)
}

async fn start(cri: &mut Client, id: &str) {
    cri.start_container(api::StartContainerRequest {
        container_id: id.into(),
    })
    .await
    .expect("StartContainer");
}

async fn run_container(cri: &mut Client, pod: &Pod, name: &str) -> String {
    let id = create(cri, pod, name).await.expect("CreateContainer");
    start(cri, &id).await;
    id
}

async fn status(cri: &mut Client, id: &str) -> api::ContainerStatusResponse {
    cri.container_status(api::ContainerStatusRequest {
        container_id: id.into(),
        verbose: true,
    })
    .await
    .expect("ContainerStatus")
    .into_inner()
}

async fn state(cri: &mut Client, id: &str) -> api::ContainerState {
    status(cri, id).await.status.expect("status").state()
}

async fn wait_for_state(cri: &mut Client, id: &str, want: api::ContainerState) {
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
async fn info(cri: &mut Client, id: &str) -> serde_json::Value {
    let text = status(cri, id)
        .await
        .info
        .remove("info")
        .expect("verbose info");
    serde_json::from_str(&text).expect("info is JSON")
}

/// Kills a container's process from the host, as if it crashed.
async fn kill_container(cri: &mut Client, id: &str) {
    let pid = info(cri, id).await["pid"].as_u64().expect("pid");
    signal(
        u32::try_from(pid).expect("pid"),
        rustix::process::Signal::KILL,
    );
}

/// What the container wrote, once it printed READY (CRI log lines:
/// `time stream tag text`).
async fn container_output(pod: &Pod, name: &str) -> String {
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
async fn cgroup_memory_limit(cri: &mut Client, id: &str) -> u64 {
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
async fn names_in_containerd(containerd: &Containerd) -> Vec<String> {
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
fn sorted_fields(message: &[u8]) -> Vec<Vec<u8>> {
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

/// One raw call to the proxy and the same to containerd: the answers.
async fn both(
    node: &Node,
    containerd: &Containerd,
    path: &str,
    body: Bytes,
) -> [(Bytes, String); 2] {
    let mut answers = Vec::new();
    for socket in [node.listen(), containerd.socket()] {
        let (answer, trailers) = raw_call(&UnixChannel::new(&socket), path, body.clone()).await;
        let status = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
            .unwrap_or_default();
        answers.push((answer, status));
    }
    [answers.remove(0), answers.remove(0)]
}

// ----- The test ------------------------------------------------------------

fn prerequisites_met() -> bool {
    let missing = containerd::missing_prerequisites();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "the containerd end-to-end test needs: {}",
        missing.join("; ")
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("skipped: {message}");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nri_reaches_real_containers_of_containerd_through_the_proxy() {
    if !prerequisites_met() {
        return;
    }
    let temp = tempfile::tempdir().expect("tempdir");
    let mut containerd = Containerd::start(&temp.path().join("containerd")).await;
    let mut node = Node::new(&temp.path().join("node"), &containerd.socket());
    node.start("text").await;
    let mut cri = client(&node.listen());

    // ---- What the sample plugins add, seen from inside the container.
    let shared = containerd.root().join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    std::fs::write(shared.join("marker"), "mounted by nri-device-injector\n").expect("marker");
    let web = run_pod(
        &mut cri,
        pod_config(
            &containerd,
            "web",
            &[
                (
                    "devices.noderesource.dev/container.app",
                    "- path: /dev/nri-null\n  type: c\n  major: 1\n  minor: 3\n".into(),
                ),
                (
                    "mounts.noderesource.dev/container.app",
                    format!(
                        "- source: {}\n  destination: /data\n  type: bind\n  options: [rbind, ro]\n",
                        shared.display()
                    ),
                ),
                (
                    "ulimits.noderesource.dev/container.limited",
                    "- type: RLIMIT_NOFILE\n  soft: 1024\n  hard: 4096\n".into(),
                ),
            ],
        ),
    )
    .await;
    let app = run_container(&mut cri, &web, "app").await;
    let output = container_output(&web, "app").await;
    let lines: Vec<&str> = output.lines().collect();
    assert!(
        lines.contains(&"NRI_ECHO_10=echo"),
        "env from nri-echo:\n{output}"
    );
    assert!(
        lines.contains(&"ROLE=e2e"),
        "the request's own env:\n{output}"
    );
    let device = lines
        .iter()
        .find(|l| l.ends_with(" nri-null"))
        .unwrap_or_else(|| panic!("/dev/nri-null from nri-device-injector:\n{output}"));
    assert!(device.starts_with('c'), "a character device: {device}");
    assert!(
        device.contains("1,   3") || device.contains("1, 3"),
        "1:3: {device}"
    );
    let mount = lines
        .iter()
        .find(|l| l.split(' ').nth(4) == Some("/data"))
        .unwrap_or_else(|| panic!("/data from nri-device-injector:\n{output}"));
    assert!(
        mount
            .split(' ')
            .nth(5)
            .is_some_and(|o| o.split(',').any(|o| o == "ro")),
        "read-only: {mount}"
    );
    assert!(
        lines.contains(&"mounted by nri-device-injector"),
        "{output}"
    );
    let annotations = status(&mut cri, &app)
        .await
        .status
        .expect("status")
        .annotations;
    assert_eq!(
        annotations.get("echo.nri.dev/10-echo").map(String::as_str),
        Some("true"),
        "annotation from nri-echo: {annotations:?}"
    );

    // ---- rlimits: CRI cannot carry them to containerd 1.6, so the proxy
    // refuses the creation, naming them, and containerd never sees it.
    let refused = create(&mut cri, &web, "limited")
        .await
        .expect_err("rlimits");
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(
        refused.message().contains("rlimits"),
        "{}",
        refused.message()
    );
    assert!(
        !names_in_containerd(&containerd)
            .await
            .contains(&"limited".to_string())
    );

    // ---- A plugin's error fails the creation; nothing is left behind.
    let refused = create(&mut cri, &web, "refused")
        .await
        .expect_err("the plugin fails it");
    assert!(
        refused
            .message()
            .contains("refused by the end-to-end script"),
        "{refused:?}"
    );
    assert!(
        !names_in_containerd(&containerd)
            .await
            .contains(&"refused".to_string())
    );

    // ---- An unsolicited update changes the real cgroup's memory limit
    // (sent when `updater` starts, while `app` runs).
    assert_eq!(cgroup_memory_limit(&mut cri, &app).await, 128 << 20);
    run_container(&mut cri, &web, "updater").await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let limit = cgroup_memory_limit(&mut cri, &app).await;
        if limit == UPDATED_LIMIT {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cgroup's limit is {limit}, not the plugin's {UPDATED_LIMIT}\n{}\n{}",
            node.proxy_log(),
            node.plugins_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // ---- An eviction stops the real container.
    let victim = run_container(&mut cri, &web, "victim").await;
    container_output(&web, "victim").await;
    let evictor = run_container(&mut cri, &web, "evictor").await;
    wait_for_state(&mut cri, &victim, api::ContainerState::ContainerExited).await;
    await_seen(node.observer(), "the victim's stop", |s| {
        s.events.contains(&("StopContainer", "victim".into()))
    })
    .await;
    assert_eq!(
        state(&mut cri, &evictor).await,
        api::ContainerState::ContainerRunning
    );

    // ---- Calls the proxy does not handle pass through untouched.
    let [proxied, direct] = both(
        &node,
        &containerd,
        "/runtime.v1.ImageService/ListImages",
        framed(b""),
    )
    .await;
    assert_eq!(proxied.1, "0");
    assert_eq!(proxied.1, direct.1);
    assert_eq!(
        sorted_fields(&proxied.0[5..]),
        sorted_fields(&direct.0[5..])
    );
    assert!(
        String::from_utf8_lossy(&proxied.0).contains(BUSYBOX_IMAGE),
        "ListImages lists the image"
    );
    let request = api::ContainerStatusRequest {
        container_id: app.clone(),
        verbose: true,
    };
    let [proxied, direct] = both(
        &node,
        &containerd,
        "/runtime.v1.RuntimeService/ContainerStatus",
        framed(&prost::Message::encode_to_vec(&request)),
    )
    .await;
    // Go orders maps anew on every encoding: the same message, decoded.
    assert_eq!(
        (&proxied.1, &direct.1),
        (&"0".to_string(), &"0".to_string())
    );
    let decode = |bytes: &Bytes| {
        <api::ContainerStatusResponse as prost::Message>::decode(&bytes[5..]).expect("decodes")
    };
    let (proxied, direct) = (decode(&proxied.0), decode(&direct.0));
    assert!(
        proxied.info.contains_key("info"),
        "verbose info: {proxied:?}"
    );
    assert_eq!(proxied, direct, "ContainerStatus, verbose");

    // A log call: answered as containerd answers it.
    let mut request = vec![0x0a, u8::try_from(app.len()).expect("short id")];
    request.extend_from_slice(app.as_bytes());
    let [proxied, direct] = both(
        &node,
        &containerd,
        "/runtime.v1.RuntimeService/ReopenContainerLog",
        framed(&request),
    )
    .await;
    assert_eq!((&proxied.1, &proxied.0), (&"0".to_string(), &direct.0));
    assert_eq!(proxied, direct, "ReopenContainerLog");

    // ---- The metrics endpoint: calls, latencies, errors.
    let metrics = node.scrape().await;
    for want in [
        "nri_active_plugins 5",
        "nri_plugin_latency_seconds_bucket{",
        r#"operation="CreateContainer",status="ok""#,
        r#"status="error""#,
    ] {
        assert!(metrics.contains(want), "{want} in:\n{metrics}");
    }

    // ---- containerd restarts under the running proxy: calls fail with
    // UNAVAILABLE meanwhile, an exit in between is not lost.
    let transient = run_container(&mut cri, &web, "transient").await;
    container_output(&web, "transient").await;
    let pid = u32::try_from(
        info(&mut cri, &transient).await["pid"]
            .as_u64()
            .expect("pid"),
    )
    .expect("pid");
    containerd.stop();
    let down = cri
        .version(api::VersionRequest::default())
        .await
        .expect_err("containerd is down");
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
    let down = create(&mut cri, &web, "late")
        .await
        .expect_err("containerd is down");
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
    // The shim still runs the container: its process exits now.
    signal(pid, rustix::process::Signal::KILL);
    containerd.launch().await;
    cri.version(api::VersionRequest::default())
        .await
        .expect("the proxy reconnects");
    assert_eq!(
        state(&mut cri, &app).await,
        api::ContainerState::ContainerRunning
    );
    await_seen(
        node.observer(),
        "the stop of the container that exited meanwhile",
        |s| s.events.contains(&("StopContainer", "transient".into())),
    )
    .await;

    // ---- The seed's scenario: the proxy stops while containers run, one
    // exits, the proxy starts again.
    let gone = run_container(&mut cri, &web, "gone").await;
    container_output(&web, "gone").await;
    node.stop().await;
    kill_container(&mut containerd.client(), &gone).await;
    wait_for_state(
        &mut containerd.client(),
        &gone,
        api::ContainerState::ContainerExited,
    )
    .await;
    // ---- The proxy's log: plain text (stderr is no terminal here), and
    // JSON when asked.
    let text_log = node.proxy_log();
    assert!(text_log.contains("serving CRI"), "{text_log}");
    assert!(
        !text_log.contains('\u{1b}'),
        "colour escapes in the log:\n{text_log}"
    );
    node.start("json").await;
    let json_log = node.proxy_log()[text_log.len()..].to_string();
    let objects: Vec<serde_json::Value> = json_log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        objects
            .iter()
            .any(|o| o["message"] == "serving CRI" && o["level"] == "INFO"),
        "{json_log}"
    );
    await_seen(node.observer(), "the snapshot", |s| s.snapshot.is_some()).await;
    let snapshot = node.observer().borrow().snapshot.clone().expect("snapshot");
    let states: BTreeMap<String, ContainerState> = snapshot
        .iter()
        .map(|c| (c.name.clone(), c.state()))
        .collect();
    assert_eq!(
        states.get("app"),
        Some(&ContainerState::ContainerRunning),
        "{states:?}"
    );
    assert_eq!(
        states.get("evictor"),
        Some(&ContainerState::ContainerRunning),
        "{states:?}"
    );
    assert_eq!(
        states.get("gone"),
        Some(&ContainerState::ContainerStopped),
        "{states:?}"
    );
    assert_eq!(
        states.get("victim"),
        Some(&ContainerState::ContainerStopped),
        "{states:?}"
    );
    cri.remove_container(api::RemoveContainerRequest {
        container_id: gone.clone(),
    })
    .await
    .expect("RemoveContainer");
    await_seen(node.observer(), "the removal", |s| {
        s.events.contains(&("RemoveContainer", "gone".into()))
    })
    .await;
    // A live container's stop after it: every event of `gone` was seen by then.
    cri.stop_container(api::StopContainerRequest {
        container_id: evictor.clone(),
        timeout: 0,
    })
    .await
    .expect("StopContainer");
    await_seen(node.observer(), "the evictor's stop", |s| {
        s.events.contains(&("StopContainer", "evictor".into()))
    })
    .await;
    let events = node.observer().borrow().events.clone();
    assert_eq!(
        events
            .iter()
            .filter(|(_, name)| name == "gone")
            .collect::<Vec<_>>(),
        vec![&("RemoveContainer", "gone".to_string())],
        "no second stop: {events:?}"
    );

    // ---- Tear down through CRI: nothing is left in containerd.
    cri.stop_pod_sandbox(api::StopPodSandboxRequest {
        pod_sandbox_id: web.id.clone(),
    })
    .await
    .expect("StopPodSandbox");
    cri.remove_pod_sandbox(api::RemovePodSandboxRequest {
        pod_sandbox_id: web.id.clone(),
    })
    .await
    .expect("RemovePodSandbox");
    assert_eq!(names_in_containerd(&containerd).await, Vec::<String>::new());
    node.stop().await;
    drop(containerd); // panics if anything is left behind
}
