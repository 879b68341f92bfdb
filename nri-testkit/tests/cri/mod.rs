//! What the CRI tests share: a fake CRI runtime on a real socket, the proxy
//! in front of it with NRI on a real ttrpc socket, sample plugins as real
//! child processes, and a CRI client.

#![allow(dead_code)] // each test file uses part of it

pub mod observer;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nri_core::adaptation::Options;
use nri_core::stub::{Plugin, Stub};
use nri_cri::cri;
use nri_cri::cri::runtime_service_client::RuntimeServiceClient;
use nri_cri::proxy::{Proxy, ProxyOptions};
use nri_cri::socket::UnixChannel;
use nri_testkit::fake_cri::{FakeCriRuntime, FakeCriServer};
use nri_transport_ttrpc::{PluginConnector, TtrpcTransport};
use tokio::process::{Child, Command};

/// The harness binary, which is any sample plugin and the proxy by name.
pub const HARNESS: &str = env!("CARGO_BIN_EXE_nri-harness");

/// Long enough for anything on a loaded machine; tests await events.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub fake: FakeCriRuntime,
    pub server: FakeCriServer,
    pub children: Vec<Child>,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeCriRuntime::new();
        let server = fake.serve(dir.path().join("backend.sock")).expect("serve");
        Setup {
            dir,
            fake,
            server,
            children: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn nri_socket(&self) -> PathBuf {
        self.path("nri/nri.sock")
    }

    /// The proxy, in this process, in front of the fake runtime.
    pub async fn proxy(&self) -> Proxy {
        self.proxy_with_timeouts(Duration::from_secs(10), Duration::from_secs(5))
            .await
    }

    /// The proxy, with NRI's registration and request timeouts.
    pub async fn proxy_with_timeouts(&self, registration: Duration, request: Duration) -> Proxy {
        let transport = TtrpcTransport::listen(self.nri_socket()).expect("NRI socket");
        let nri = Options::new("fake-cri", "0.1")
            .with_plugin_path(None)
            .with_timeouts(registration, request);
        Proxy::start(
            ProxyOptions {
                listen: self.path("cri.sock"),
                backend: self.server.path().to_path_buf(),
                nri: Some(nri),
                exit_poll: Duration::from_millis(50),
                access: Default::default(),
            },
            vec![Arc::new(transport)],
        )
        .await
        .expect("proxy starts")
    }

    /// A sample plugin of nri-sample-plugins as a child process connecting to the
    /// NRI socket.
    pub fn plugin_process(&mut self, sample: &str, index: &str) {
        let link = self.path(&format!("nri-{sample}"));
        if !link.exists() {
            std::os::unix::fs::symlink(HARNESS, &link).expect("link");
        }
        let child = Command::new(&link)
            .arg("--idx")
            .arg(index)
            .arg("--socket-path")
            .arg(self.nri_socket())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("plugin process");
        self.children.push(child);
    }

    /// A plugin of the test's own, in this process, over the NRI socket.
    pub fn plugin_in_process<P: Plugin>(&self, plugin: P, index: &str, name: &str) -> Arc<Stub<P>> {
        let stub = Arc::new(
            Stub::builder(plugin)
                .index(index)
                .name(name)
                .build(Arc::new(PluginConnector::dial(self.nri_socket())))
                .expect("stub"),
        );
        let running = Arc::clone(&stub);
        tokio::spawn(async move { running.run().await });
        stub
    }
}

/// A CRI client of the socket at `path`.
pub fn client(path: &Path) -> RuntimeServiceClient<UnixChannel> {
    RuntimeServiceClient::new(UnixChannel::new(path))
}

/// Waits until `count` plugins have registered with the proxy's NRI.
pub async fn plugins_registered(proxy: &Proxy, count: usize) {
    let adaptation = proxy.middleware().api().adaptation().expect("NRI enabled");
    tokio::time::timeout(PATIENCE, adaptation.wait_for_plugins(count))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{count} plugins did not register: {:?}",
                adaptation.plugins()
            )
        });
}

pub fn pod_config(name: &str, annotations: &[(&str, &str)]) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: format!("/kubepods/pod-{name}"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn container_config(name: &str) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: "registry.example/app:1".into(),
            ..Default::default()
        }),
        command: vec!["/app".into()],
        envs: vec![cri::KeyValue {
            key: "PORT".into(),
            value: b"8080".to_vec(),
        }],
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                cpu_shares: 256,
                memory_limit_in_bytes: 128 << 20,
                memory_swap_limit_in_bytes: 256 << 20,
                oom_score_adj: 900,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A raw gRPC request: the 5-byte frame prefix and a message.
pub fn framed(message: &[u8]) -> Bytes {
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    body.extend_from_slice(message);
    Bytes::from(body)
}

/// Sends a raw gRPC request; returns the response body and its trailers.
pub async fn raw_call(
    channel: &UnixChannel,
    path: &str,
    body: Bytes,
) -> (Bytes, Option<http::HeaderMap>) {
    let request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(http_body_util::Full::new(body)))
        .expect("request");
    let response = channel.send(request).await.expect("response");
    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned();
    (collected.to_bytes(), trailers)
}

/// Waits until the proxy process `child` (its standard output piped) says
/// it serves CRI; `log` tells what it logged, for the failure message.
pub async fn wait_until_serving(child: &mut Child, log: impl Fn() -> String) {
    use tokio::io::AsyncBufReadExt as _;
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("the proxy did not start:\n{}", log()))
        .expect("stdout");
    assert!(
        ready
            .as_deref()
            .is_some_and(|l| l.contains("serving CRI on")),
        "{ready:?}\n{}",
        log()
    );
}
