#![allow(clippy::unwrap_used, clippy::expect_used)]
// Each test binary uses a part of these helpers.
#![allow(dead_code)]
//! Helpers shared by the integration tests (no nri-testkit: it depends on
//! this crate): a runtime backend that records updates, a plugin handler
//! that journals its calls, a watchdog, and a stock tonic channel over a
//! unix socket.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nri_core::adaptation::{
    Adaptation, FailedEviction, Options, RuntimeBackend, Snapshot, SnapshotError,
};
use nri_core::proto::api::{
    ConfigureResponse, Container, ContainerAdjustment, ContainerEviction, ContainerUpdate,
    CreateContainerResponse, KeyValue, PodSandbox, RegisterPluginRequest,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{
    CallError, PluginHandler, PluginRequest, PluginResponse, RuntimeRequest, RuntimeResponse,
    Transport,
};
use nri_transport_grpc::{GrpcTransport, RuntimeConnection};
use tokio::sync::watch;

/// How long anything a test awaits may take: a watchdog, not a delay.
pub const WATCHDOG: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`WATCHDOG`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WATCHDOG, future).await {
        Ok(output) => output,
        Err(_) => panic!("watchdog: {what} took longer than {WATCHDOG:?}"),
    }
}

pub fn pod() -> PodSandbox {
    PodSandbox {
        id: "pod0".into(),
        name: "pod0".into(),
        uid: "uid-pod0".into(),
        namespace: "default".into(),
        ..Default::default()
    }
}

pub fn container() -> Container {
    Container {
        id: "ctr0".into(),
        pod_sandbox_id: "pod0".into(),
        name: "ctr0".into(),
        ..Default::default()
    }
}

/// A runtime with `pod0`/`ctr0` that records the updates it is asked for.
#[derive(Debug)]
pub struct Runtime {
    updates: watch::Sender<Vec<ContainerUpdate>>,
}

impl Runtime {
    pub fn new() -> Arc<Self> {
        Arc::new(Runtime {
            updates: watch::channel(Vec::new()).0,
        })
    }

    pub fn updates(&self) -> Vec<ContainerUpdate> {
        self.updates.borrow().clone()
    }
}

#[async_trait::async_trait]
impl RuntimeBackend for Runtime {
    async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        Ok(Snapshot {
            pods: vec![pod()],
            containers: vec![container()],
        })
    }

    async fn update_containers(&self, updates: Vec<ContainerUpdate>) -> Vec<ContainerUpdate> {
        self.updates.send_modify(|all| all.extend(updates));
        Vec::new()
    }

    async fn evict_containers(&self, _: Vec<ContainerEviction>) -> Vec<FailedEviction> {
        Vec::new()
    }
}

/// Options of the runtime under test: no pre-installed plugins.
pub fn options() -> Options {
    Options::new("grpc-test-runtime", "0.0.1").with_plugin_path(None)
}

/// Starts an adaptation over [`Runtime`] on `transports`.
pub async fn start(transports: Vec<Arc<dyn Transport>>) -> (Adaptation, Arc<Runtime>) {
    let runtime = Runtime::new();
    let adaptation = Adaptation::new(options(), Arc::clone(&runtime) as _);
    within("start", adaptation.start(transports)).await.unwrap();
    (adaptation, runtime)
}

/// `NN-name` of every plugin the adaptation lists, in invocation order.
pub fn labels(adaptation: &Adaptation) -> Vec<String> {
    adaptation
        .plugins()
        .iter()
        .map(|p| p.id.to_string())
        .collect()
}

/// Calls entries `label:Method`, shared by plugins so that order across
/// plugins shows; awaitable.
#[derive(Debug, Clone)]
pub struct Journal(Arc<watch::Sender<Vec<String>>>);

impl Journal {
    pub fn new() -> Self {
        Journal(Arc::new(watch::channel(Vec::new()).0))
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    pub fn clear(&self) {
        self.0.send_modify(Vec::clear);
    }

    /// Waits until `entry` has been journaled.
    pub async fn wait_for(&self, entry: &str) {
        let mut watcher = self.0.subscribe();
        let _ = watcher
            .wait_for(|entries| entries.iter().any(|e| e == entry))
            .await;
    }

    fn record(&self, entry: String) {
        self.0.send_modify(|entries| entries.push(entry));
    }
}

/// A plugin that subscribes to `events`, journals every call and adjusts
/// created containers with the env var `<name>=<index>`.
#[derive(Debug)]
pub struct Recorder {
    pub index: String,
    pub name: String,
    events: EventMask,
    journal: Journal,
}

impl Recorder {
    pub fn new(index: &str, name: &str, events: EventMask, journal: &Journal) -> Arc<Self> {
        Arc::new(Recorder {
            index: index.into(),
            name: name.into(),
            events,
            journal: journal.clone(),
        })
    }

    pub fn label(&self) -> String {
        format!("{}-{}", self.index, self.name)
    }
}

#[async_trait::async_trait]
impl PluginHandler for Recorder {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        let method = request.method();
        self.journal
            .record(format!("{}:{}", self.label(), method.name()));
        use PluginResponse as R;
        Ok(match request {
            PluginRequest::Configure(_) => R::Configure(Box::new(ConfigureResponse {
                events: self.events.bits(),
            })),
            PluginRequest::Synchronize(_) => R::Synchronize(Box::default()),
            PluginRequest::Shutdown(_) => R::Shutdown(Box::default()),
            PluginRequest::RunPodSandbox(_) => R::RunPodSandbox(Box::default()),
            PluginRequest::CreateContainer(_) => {
                R::CreateContainer(Box::new(CreateContainerResponse {
                    adjust: Some(ContainerAdjustment {
                        env: vec![KeyValue {
                            key: self.name.clone(),
                            value: self.index.clone(),
                        }],
                        ..Default::default()
                    }),
                    ..Default::default()
                }))
            }
            _ => {
                return Err(CallError::Unimplemented {
                    method: method.name().into(),
                });
            }
        })
    }
}

/// The RegisterPlugin call of `plugin`.
pub fn registration(plugin: &Recorder) -> RuntimeRequest {
    RuntimeRequest::RegisterPlugin(RegisterPluginRequest {
        plugin_name: plugin.name.clone(),
        plugin_idx: plugin.index.clone(),
        nri_version: "v0.12.2".into(),
    })
}

/// Registers `plugin` over its gRPC connection; the registration must
/// succeed.
pub async fn register(connection: &RuntimeConnection, plugin: &Recorder) {
    let answer = within(
        "RegisterPlugin",
        connection.call(registration(plugin), Some(Duration::from_secs(5))),
    )
    .await;
    assert!(
        matches!(answer, Ok(RuntimeResponse::RegisterPlugin(_))),
        "{answer:?}"
    );
}

/// A temporary directory with the runtime's socket path in it.
pub struct Dir {
    pub root: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Dir {
            root: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
}

/// A stock tonic channel to the unix socket at `path`.
pub async fn unix_channel(path: &Path) -> tonic::transport::Channel {
    let path = path.to_path_buf();
    // The URI is required by tonic and ignored by the connector.
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .unwrap()
}

/// `message` as a request carrying `nri-plugin-endpoint: endpoint`.
pub fn from_endpoint<T>(message: T, endpoint: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("nri-plugin-endpoint", endpoint.parse().unwrap());
    request
}

/// A `Recorder` named `name` (index 10, subscribed to CreateContainer),
/// connected to `transport` and registered; returns once the adaptation
/// has it among its plugins (it is the adaptation's only one).
pub async fn joined(
    transport: &GrpcTransport,
    adaptation: &Adaptation,
    name: &str,
) -> (RuntimeConnection, Arc<Recorder>, Journal) {
    let journal = Journal::new();
    let plugin = Recorder::new(
        "10",
        name,
        EventMask::of([Event::CreateContainer]),
        &journal,
    );
    let connection = RuntimeConnection::connect(transport.endpoint(), plugin.clone())
        .await
        .unwrap();
    register(&connection, &plugin).await;
    within("joining", adaptation.wait_for_plugins(1)).await;
    (connection, plugin, journal)
}
