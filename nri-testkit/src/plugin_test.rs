//! Testing a plugin: start it against a runtime, drive a lifecycle, assert
//! on what it asked for.
//!
//! A [`PluginTest`] is a runtime in the test: nri-core's runtime API
//! ([`NriApi`]) over a [`FakeDomain`], with the plugin under test joined
//! to it. The plugin runs either
//!
//! - **in-process** ([`PluginTestBuilder::in_process`]): the plugin value on
//!   nri-core's stub, connected through the in-process transport; fast, and
//!   the test can reach into the plugin; or
//! - **as its binary** ([`PluginTestBuilder::binary`]): the executable is
//!   installed in a temporary plugin directory (a symlink `NN-name`, its
//!   configuration in `NN-name.conf` of a temporary configuration
//!   directory) and launched by the runtime as a pre-installed plugin, over
//!   the real ttrpc transport of nri-transport-ttrpc, exactly as containerd
//!   would launch it.
//!
//! Both return once the plugin is registered, configured and synchronized
//! with the pods and containers given to the builder; a plugin that does
//! not get there fails the start with a [`PluginTestError::NotJoined`] that
//! says how far it got (never registered, Configure failed, …), bounded by
//! the runtime's own timeouts, never a hang.
//!
//! Each lifecycle method sends one event through the runtime API and
//! returns what nri-core returns for it: the merged adjustment of a
//! creation ([`Created`]), the resources of an update ([`Updated`]), and
//! what became of the updates and evictions the plugin asked for
//! ([`Applied`](nri_core::runtime_api::Applied)). A plugin's error comes
//! back as [`PluginTestError::Event`]. The domain's store follows the
//! lifecycle as a runtime's would (see each method), so updates and
//! evictions apply to the containers they name; [`PluginTest::domain`]
//! shows them, in order.
//!
//! One convenience: [`PluginTest::create_container`] sends
//! `RunPodSandbox` first when the runtime does not know the pod yet (it was
//! neither given to the builder nor run), since no runtime creates a
//! container in a pod it has not started. Every other method sends exactly
//! its own event.
//!
//! # Example
//!
//! The ulimit adjuster of nri-sample-plugins, in-process:
//!
//! ```
//! use nri_core::proto::api::PosixRlimit;
//! use nri_sample_plugins::create_adjuster::CreateAdjuster;
//! use nri_sample_plugins::ulimit_adjuster;
//! use nri_testkit::builders::{ContainerBuilder, PodBuilder};
//! use nri_testkit::plugin_test::PluginTest;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pod = PodBuilder::new("web")
//!     .annotation(
//!         "ulimits.noderesource.dev/container.app",
//!         "- {type: nofile, soft: 1024, hard: 4096}",
//!     )
//!     .build();
//! let app = ContainerBuilder::new(&pod, "app").build();
//!
//! let t = PluginTest::builder()
//!     .in_process(CreateAdjuster(ulimit_adjuster::adjust))
//!     .await?;
//! let created = t.create_container(&pod, &app).await?;
//! let adjustment = created.adjustment.unwrap_or_default();
//! assert_eq!(
//!     adjustment.rlimits,
//!     [PosixRlimit { r#type: "RLIMIT_NOFILE".into(), hard: 4096, soft: 1024 }]
//! );
//! assert!(t.domain().updates().is_empty());
//! t.stop().await;
//! # Ok(()) }
//! ```
//!
//! The same plugin as a binary differs only in the start:
//!
//! ```no_run
//! # async fn example() -> Result<(), nri_testkit::plugin_test::PluginTestError> {
//! # use nri_testkit::plugin_test::PluginTest;
//! let t = PluginTest::builder()
//!     .config("some: config")
//!     .binary("/path/to/nri-ulimit-adjuster") // env!("CARGO_BIN_EXE_…") in a test
//!     .await?;
//! # t.stop().await; Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nri_core::adaptation::{EventError, Options, PluginInfo, StartError};
use nri_core::discovery::Preinstalled;
use nri_core::proto::api::{
    Container, ContainerEviction, ContainerState, ContainerUpdate, LinuxResources, PodSandbox,
};
use nri_core::proto::identity::{IdentityError, PluginId};
use nri_core::runtime_api::{Created, DomainHandle, NriApi, Stopped, Updated};
use nri_core::stub::{Plugin, RuntimeClient, Stopper, Stub, StubError};
use nri_core::transport::in_process::{self, InProcessConnector};
use nri_core::transport::{
    CallError, ConnectFailure, Connector, LaunchError, PluginHandler, PluginRequest,
    PluginRequestRef, PluginResponse, RuntimeLink, RuntimeRequest, Transport,
};
use nri_transport_ttrpc::TtrpcTransport;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::domain::FakeDomain;
use crate::observed::{Observed, Observer};

/// The index a plugin under test registers with unless told.
pub const DEFAULT_INDEX: &str = "10";

/// The name an in-process plugin registers with unless told (a binary's
/// default name is its file name).
pub const DEFAULT_NAME: &str = "plugin-under-test";

/// How long the test kit waits for anything by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// The id of the pod [`PluginTest::settle`] removes: one no plugin ever
/// hears of, since the runtime never tracked it.
const SETTLE_POD: &str = "nri-testkit-settle";

/// Why a [`PluginTest`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginTestError {
    /// The index or name given to the builder is invalid.
    #[error("invalid plugin identity: {0}")]
    Identity(#[from] IdentityError),
    /// The stub refused the plugin (no event handler, …).
    #[error("cannot run the plugin on the stub: {0}")]
    Stub(#[source] StubError),
    /// The plugin binary could not be installed in the plugin directory.
    #[error("cannot install the plugin binary {}: {source}", .path.display())]
    Install {
        /// The binary.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The runtime's NRI could not start.
    #[error("cannot start the runtime's NRI: {0}")]
    Start(#[from] StartError),
    /// The plugin did not become registered and synchronized.
    #[error("plugin {plugin} did not join the runtime: {reason}")]
    NotJoined {
        /// `NN-name` of the plugin.
        plugin: String,
        /// How far it got.
        reason: JoinFailure,
    },
    /// An event failed: the plugin answered an error, plugins' adjustments
    /// conflict, a validator rejected, ….
    #[error("the event failed: {0}")]
    Event(#[from] EventError),
    /// Something awaited did not happen in time.
    #[error("{what} did not happen within {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        after: Duration,
    },
}

/// How far a plugin got before it failed to join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinFailure {
    /// The runtime could not launch the binary.
    #[error("the runtime cannot launch it: {0}")]
    Launch(String),
    /// The runtime never launched the binary (discovery skipped it).
    #[error("the runtime did not launch it (not an executable NN-name in the plugin directory)")]
    NotLaunched,
    /// It connected but did not register in time.
    #[error("it did not register within the registration timeout of {0:?}")]
    NotRegistered(Duration),
    /// Its connection ended before it registered (for a binary: it exited).
    #[error(
        "its connection ended before it registered (for a binary: it exited; \
         PluginTestBuilder::plugin_stderr(true) shows its output)"
    )]
    Disconnected,
    /// The runtime refused its registration.
    #[error("the runtime refused its registration")]
    Refused,
    /// Configure failed.
    #[error("Configure failed: {0}")]
    Configure(String),
    /// Synchronize failed.
    #[error("Synchronize failed: {0}")]
    Synchronize(String),
    /// The in-process stub stopped.
    #[error("its stub stopped: {0}")]
    Stub(String),
    /// None of the above, but it was not joined within this long.
    #[error("it was not registered and synchronized within {0:?}")]
    Timeout(Duration),
}

/// Sets up a [`PluginTest`]: the runtime's state and options, and the
/// plugin's identity and configuration.
#[derive(Debug)]
pub struct PluginTestBuilder {
    pods: Vec<PodSandbox>,
    containers: Vec<Container>,
    config: String,
    index: String,
    name: Option<String>,
    options: Options,
    wait: Duration,
    domain: Option<Arc<FakeDomain>>,
    plugin_stderr: bool,
}

impl Default for PluginTestBuilder {
    fn default() -> Self {
        PluginTestBuilder {
            pods: Vec::new(),
            containers: Vec::new(),
            config: String::new(),
            index: DEFAULT_INDEX.to_string(),
            name: None,
            options: Options::new("nri-testkit", env!("CARGO_PKG_VERSION")).with_plugin_path(None),
            wait: DEFAULT_WAIT,
            domain: None,
            plugin_stderr: false,
        }
    }
}

impl PluginTestBuilder {
    /// A pod that exists before the plugin joins: the plugin sees it in
    /// Synchronize.
    pub fn pod(mut self, pod: PodSandbox) -> Self {
        self.pods.push(pod);
        self
    }

    /// A container that exists before the plugin joins: the plugin sees it
    /// in Synchronize.
    pub fn container(mut self, container: Container) -> Self {
        self.containers.push(container);
        self
    }

    /// The plugin's configuration, passed in Configure (a binary also gets
    /// it as its configuration file).
    pub fn config(mut self, config: &str) -> Self {
        self.config = config.to_string();
        self
    }

    /// The plugin's index (default [`DEFAULT_INDEX`]).
    pub fn index(mut self, index: &str) -> Self {
        self.index = index.to_string();
        self
    }

    /// The plugin's name (default [`DEFAULT_NAME`] in-process, the file
    /// name of a binary).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// How long the runtime waits for the plugin to register (default 5 s).
    pub fn registration_timeout(mut self, timeout: Duration) -> Self {
        self.options.registration_timeout = timeout;
        self
    }

    /// How long the runtime waits for each of the plugin's answers
    /// (default 2 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.options.request_timeout = timeout;
        self
    }

    /// How long the test kit itself waits for anything (default
    /// [`DEFAULT_WAIT`]); starting waits at least for the runtime's
    /// registration timeout plus two request timeouts, so the runtime's
    /// verdict comes first.
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait = timeout;
        self
    }

    /// The runtime's name and version, sent in Configure (default
    /// `nri-testkit` and this crate's version).
    pub fn runtime(mut self, name: &str, version: &str) -> Self {
        self.options.runtime_name = name.to_string();
        self.options.runtime_version = version.to_string();
        self
    }

    /// Adjusts the runtime's other options: builtin plugins, the default
    /// validator, failure policies. The plugin directory is the test
    /// kit's.
    pub fn runtime_options(mut self, adjust: impl FnOnce(&mut Options)) -> Self {
        adjust(&mut self.options);
        self
    }

    /// Uses this domain instead of a fresh [`FakeDomain::default`]; the
    /// builder's pods and containers are added to it.
    pub fn domain(mut self, domain: Arc<FakeDomain>) -> Self {
        self.domain = Some(domain);
        self
    }

    /// Lets a binary plugin write to the test's standard error (default:
    /// the null device, as runtimes do).
    pub fn plugin_stderr(mut self, inherit: bool) -> Self {
        self.plugin_stderr = inherit;
        self
    }

    /// Starts `plugin` on nri-core's stub, connected in-process, and waits
    /// until it is registered and synchronized.
    pub async fn in_process<P: Plugin>(self, plugin: P) -> Result<PluginTest, PluginTestError> {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_NAME.to_string());
        let id = PluginId::new(&self.index, &name)?;
        let (runtime_side, connector) = in_process::transport();
        let connector = ConfiguredConnector {
            inner: connector,
            config: Arc::from(self.config.as_str()),
        };
        let stub = Stub::builder(plugin)
            .index(id.index().as_str())
            .name(id.name())
            .handshake_timeout(self.options.registration_timeout + self.options.request_timeout)
            .build(Arc::new(connector))
            .map_err(PluginTestError::Stub)?;
        let stopper = stub.stopper();
        let runtime = stub.runtime();
        let mut options = self.options.clone();
        options.plugin_path = None;
        let (transport, progress) = watched(Arc::new(runtime_side));
        let mut t = self.start(options, id);
        if let Err(error) = t.api.start(vec![transport]).await {
            t.shutdown().await;
            return Err(error.into());
        }
        let expected = t.joined_plugins() + 1;
        let mut task = tokio::spawn(async move { stub.run().await });
        let ready = t.ready_timeout();
        let waited = tokio::time::timeout(ready, async {
            match t.api.adaptation() {
                Some(adaptation) => tokio::select! {
                    () = adaptation.wait_for_plugins(expected) => None,
                    ended = &mut task => Some(match ended {
                        Ok(Ok(())) => "it returned".to_string(),
                        Ok(Err(error)) => error.to_string(),
                        Err(error) => format!("it panicked or was cancelled: {error}"),
                    }),
                },
                None => Some("NRI is disabled".to_string()),
            }
        })
        .await;
        let stub_ended = waited.ok().flatten();
        t.stub = Some(StubTask {
            // A task that ended was awaited, and must not be again.
            task: stub_ended.is_none().then_some(task),
            stopper,
            runtime,
        });
        if stub_ended.is_none() && t.plugin_info().is_some() {
            return Ok(t);
        }
        if stub_ended.is_some() && progress.borrow().connected {
            // The runtime's side may still be finishing with the connection
            // (recording why it failed); it closes it when done.
            let mut watcher = progress.clone();
            let _ = tokio::time::timeout(ready, watcher.wait_for(|p| p.closed_by_runtime)).await;
        }
        let reason = explain(&progress.borrow(), stub_ended, &t.options, ready);
        Err(t.fail(reason).await)
    }

    /// Installs the executable at `path` as a pre-installed plugin, lets
    /// the runtime launch it over the ttrpc transport, and waits until it
    /// is registered and synchronized.
    pub async fn binary(self, path: impl AsRef<Path>) -> Result<PluginTest, PluginTestError> {
        let path = path.as_ref();
        let install = |source| PluginTestError::Install {
            path: path.to_path_buf(),
            source,
        };
        let binary = std::fs::canonicalize(path).map_err(install)?;
        let name = match &self.name {
            Some(name) => name.clone(),
            None => binary
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let id = PluginId::new(&self.index, &name)?;
        let dir = tempfile::tempdir().map_err(install)?;
        let plugins = dir.path().join("plugins");
        let conf = dir.path().join("conf");
        std::fs::create_dir(&plugins).map_err(install)?;
        std::fs::create_dir(&conf).map_err(install)?;
        std::os::unix::fs::symlink(&binary, plugins.join(id.to_string())).map_err(install)?;
        if !self.config.is_empty() {
            std::fs::write(conf.join(format!("{id}.conf")), &self.config).map_err(install)?;
        }
        let mut options = self.options.clone();
        options.plugin_path = Some(plugins);
        options.plugin_config_path = conf;
        let ttrpc = Arc::new(TtrpcTransport::launch_only().with_plugin_stderr(self.plugin_stderr));
        let (transport, progress) = watched(Arc::clone(&ttrpc) as Arc<dyn Transport>);
        let mut t = self.start(options, id);
        t.binary = Some(BinaryPlugin { ttrpc, _dir: dir });
        let ready = t.ready_timeout();
        // The runtime's start returns once its pre-installed plugins have
        // joined or failed.
        match tokio::time::timeout(ready, t.api.start(vec![transport])).await {
            Ok(Ok(())) if t.plugin_info().is_some() => Ok(t),
            Ok(Err(error)) => {
                t.shutdown().await;
                Err(error.into())
            }
            Ok(Ok(())) | Err(_) => {
                let reason = explain(&progress.borrow(), None, &t.options, ready);
                Err(t.fail(reason).await)
            }
        }
    }

    /// The runtime API over the domain, not started yet.
    fn start(self, options: Options, id: PluginId) -> PluginTest {
        let domain = self.domain.unwrap_or_default();
        for pod in self.pods {
            domain.add_pod(pod);
        }
        for container in self.containers {
            domain.add_container(container);
        }
        let (api, handle) = NriApi::new(Some(options.clone()), Arc::clone(&domain) as _);
        domain.attach(handle.clone());
        PluginTest {
            api,
            handle,
            domain,
            id,
            options,
            wait: self.wait,
            stub: None,
            binary: None,
        }
    }
}

/// A plugin joined to a runtime in the test. See the [module](self) docs.
pub struct PluginTest {
    api: NriApi,
    handle: DomainHandle,
    domain: Arc<FakeDomain>,
    id: PluginId,
    options: Options,
    wait: Duration,
    stub: Option<StubTask>,
    binary: Option<BinaryPlugin>,
}

/// An in-process plugin's stub, running.
struct StubTask {
    /// `None` once it ended and was awaited.
    task: Option<JoinHandle<Result<(), StubError>>>,
    stopper: Stopper,
    runtime: RuntimeClient,
}

/// A binary plugin's transport and directories.
struct BinaryPlugin {
    ttrpc: Arc<TtrpcTransport>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for PluginTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginTest")
            .field("plugin", &self.id)
            .field("in_process", &self.stub.is_some())
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl PluginTest {
    /// Options for a test.
    pub fn builder() -> PluginTestBuilder {
        PluginTestBuilder::default()
    }

    /// The runtime API.
    pub fn api(&self) -> &NriApi {
        &self.api
    }

    /// The domain's handle, to send events the methods here do not cover.
    pub fn handle(&self) -> &DomainHandle {
        &self.handle
    }

    /// The domain: its pods and containers, and the updates and evictions
    /// it was asked for.
    pub fn domain(&self) -> &Arc<FakeDomain> {
        &self.domain
    }

    /// The plugin's identity.
    pub fn plugin_id(&self) -> &PluginId {
        &self.id
    }

    /// The plugin as the runtime sees it (the events it subscribed to);
    /// `None` once the runtime dropped it.
    pub fn plugin_info(&self) -> Option<PluginInfo> {
        self.api
            .adaptation()?
            .plugins()
            .into_iter()
            .find(|plugin| plugin.id == self.id)
    }

    /// The in-process plugin's client of the runtime (what its
    /// `Configuration::runtime` is), to send updates and evictions as the
    /// plugin would outside of any event; `None` for a binary.
    pub fn runtime_client(&self) -> Option<RuntimeClient> {
        self.stub.as_ref().map(|stub| stub.runtime.clone())
    }

    /// Sends RunPodSandbox. The pod joins the domain.
    pub async fn run_pod_sandbox(&self, pod: &PodSandbox) -> Result<(), PluginTestError> {
        self.domain.add_pod(pod.clone());
        Ok(self.handle.run_pod_sandbox(pod).await?)
    }

    /// Sends UpdatePodSandbox.
    pub async fn update_pod_sandbox(
        &self,
        pod: &PodSandbox,
        overhead: Option<LinuxResources>,
        resources: Option<LinuxResources>,
    ) -> Result<(), PluginTestError> {
        Ok(self
            .handle
            .update_pod_sandbox(pod, overhead, resources)
            .await?)
    }

    /// Sends PostUpdatePodSandbox.
    pub async fn post_update_pod_sandbox(&self, pod: &PodSandbox) -> Result<(), PluginTestError> {
        Ok(self.handle.post_update_pod_sandbox(pod).await?)
    }

    /// Sends StopPodSandbox (once, for a running pod, as nri-core does).
    pub async fn stop_pod_sandbox(&self, pod: &PodSandbox) -> Result<(), PluginTestError> {
        Ok(self.handle.stop_pod_sandbox(pod).await?)
    }

    /// Sends RemovePodSandbox. The pod leaves the domain.
    pub async fn remove_pod_sandbox(&self, pod: &PodSandbox) -> Result<(), PluginTestError> {
        let result = self.handle.remove_pod_sandbox(pod).await;
        self.domain.remove_pod(&pod.id);
        Ok(result?)
    }

    /// Sends CreateContainer, after RunPodSandbox if the runtime does not
    /// know the pod yet. Returns the merged adjustment and what became of
    /// the updates and evictions the plugin asked for. The container joins
    /// the domain (and leaves it again if the creation fails).
    pub async fn create_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<Created, PluginTestError> {
        if self.api.pod_state(&pod.id).is_none() {
            self.run_pod_sandbox(pod).await?;
        }
        self.domain.add_container(container.clone());
        let created = self.handle.create_container(pod, container).await;
        if created.is_err() {
            self.domain.remove_container(&container.id);
        }
        Ok(created?)
    }

    /// Sends PostCreateContainer.
    pub async fn post_create_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), PluginTestError> {
        Ok(self.handle.post_create_container(pod, container).await?)
    }

    /// Sends StartContainer; on success the domain's container is running.
    pub async fn start_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), PluginTestError> {
        self.handle.start_container(pod, container).await?;
        self.domain
            .set_container_state(&container.id, ContainerState::ContainerRunning);
        Ok(())
    }

    /// Sends PostStartContainer.
    pub async fn post_start_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), PluginTestError> {
        Ok(self.handle.post_start_container(pod, container).await?)
    }

    /// Sends UpdateContainer with the requested `resources`. On success the
    /// domain's container gets the resources to apply (the plugin's, else
    /// those requested).
    pub async fn update_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
        resources: Option<LinuxResources>,
    ) -> Result<Updated, PluginTestError> {
        let updated = self
            .handle
            .update_container(pod, container, resources.clone())
            .await?;
        if let Some(applied) = updated.resources.as_ref().or(resources.as_ref()) {
            self.domain.set_container_resources(&container.id, applied);
        }
        Ok(updated)
    }

    /// Sends PostUpdateContainer.
    pub async fn post_update_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), PluginTestError> {
        Ok(self.handle.post_update_container(pod, container).await?)
    }

    /// The runtime stopped the container: it is stopped in the domain, and
    /// StopContainer is sent (once per container, as nri-core does).
    pub async fn stop_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<Stopped, PluginTestError> {
        self.domain
            .set_container_state(&container.id, ContainerState::ContainerStopped);
        Ok(self.handle.stop_container(pod, container).await?)
    }

    /// Sends RemoveContainer (with its StopContainer first if it was not
    /// stopped). The container leaves the domain.
    pub async fn remove_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), PluginTestError> {
        let result = self.handle.remove_container(pod, container).await;
        self.domain.remove_container(&container.id);
        Ok(result?)
    }

    /// The container's process exited (code 0): it is stopped in the
    /// domain and its exit is reported as a runtime reports it, through
    /// [`DomainHandle::notify_container_exit`]. Returns once the resulting
    /// StopContainer reached the plugin ([`settle`](Self::settle)).
    pub async fn container_exit(&self, pod: &PodSandbox, container: &Container) {
        if self
            .domain
            .exit_container(&container.id, 0, "Completed")
            .is_none()
        {
            let mut stopped = container.clone();
            stopped.state = ContainerState::ContainerStopped as i32;
            self.handle.notify_container_exit(pod, &stopped);
        }
        self.settle().await;
    }

    /// Returns once the container exits reported so far (by
    /// [`container_exit`](Self::container_exit), or by evictions the domain
    /// carried out) reached the plugin as StopContainer: it sends an event
    /// about a pod the runtime never knew, which nri-core delivers to no
    /// plugin but only after every exit queued before it.
    pub async fn settle(&self) {
        let barrier = PodSandbox {
            id: SETTLE_POD.to_string(),
            name: SETTLE_POD.to_string(),
            ..Default::default()
        };
        // An unknown pod's removal reaches no plugin and cannot fail.
        let _ = self.handle.remove_pod_sandbox(&barrier).await;
    }

    /// Waits until the domain was asked for at least `count` updates;
    /// returns them all.
    pub async fn wait_updates(
        &self,
        count: usize,
    ) -> Result<Vec<ContainerUpdate>, PluginTestError> {
        tokio::time::timeout(self.wait, self.domain.wait_updates(count))
            .await
            .map_err(|_| PluginTestError::Timeout {
                what: format!(
                    "{count} container updates (the domain got {})",
                    self.domain.updates().len()
                ),
                after: self.wait,
            })
    }

    /// Waits until the domain was asked for at least `count` evictions;
    /// returns them all.
    pub async fn wait_evictions(
        &self,
        count: usize,
    ) -> Result<Vec<ContainerEviction>, PluginTestError> {
        tokio::time::timeout(self.wait, self.domain.wait_evictions(count))
            .await
            .map_err(|_| PluginTestError::Timeout {
                what: format!(
                    "{count} container evictions (the domain got {})",
                    self.domain.evictions().len()
                ),
                after: self.wait,
            })
    }

    /// Stops the runtime's NRI (the plugin gets Shutdown and its connection
    /// closes; a binary is terminated) and the plugin.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        self.domain.detach();
        self.api.stop().await;
        if let Some(stub) = self.stub.take() {
            stub.stopper.stop();
            if let Some(mut task) = stub.task
                && tokio::time::timeout(self.wait, &mut task).await.is_err()
            {
                task.abort();
            }
        }
        if let Some(binary) = self.binary.take() {
            binary.ttrpc.shut_down();
        }
    }

    /// Shuts down and makes the error of a plugin that did not join.
    async fn fail(mut self, reason: JoinFailure) -> PluginTestError {
        self.shutdown().await;
        PluginTestError::NotJoined {
            plugin: self.id.to_string(),
            reason,
        }
    }

    /// How many plugins the runtime lists.
    fn joined_plugins(&self) -> usize {
        self.api
            .adaptation()
            .map_or(0, |adaptation| adaptation.plugins().len())
    }

    /// How long starting may take: long enough for the runtime to decide.
    fn ready_timeout(&self) -> Duration {
        let runtime = self.options.registration_timeout
            + 2 * self.options.request_timeout
            + self.options.shutdown_grace;
        self.wait.max(runtime)
    }
}

impl Drop for PluginTest {
    fn drop(&mut self) {
        // The handle refers back to the domain; break the cycle.
        self.domain.detach();
        if let Some(stub) = &self.stub {
            stub.stopper.stop();
            if let Some(task) = &stub.task {
                task.abort();
            }
        }
    }
}

/// How far a plugin got in joining, as seen on its connection.
#[derive(Debug, Clone, Default)]
struct Progress {
    connected: bool,
    launch_error: Option<String>,
    registered: bool,
    /// The plugin's stream of calls ended.
    calls_ended: bool,
    /// The runtime closed the connection.
    closed_by_runtime: bool,
    configure: Option<Result<(), String>>,
    synchronize: Option<Result<(), String>>,
}

/// Why a plugin did not join, from what its connection saw.
fn explain(
    progress: &Progress,
    stub_ended: Option<String>,
    options: &Options,
    waited: Duration,
) -> JoinFailure {
    if let Some(error) = &progress.launch_error {
        return JoinFailure::Launch(error.clone());
    }
    // What the runtime saw, with what the plugin's stub says if it ended.
    let both = |runtime: &str| match &stub_ended {
        Some(stub) => format!("{runtime}; the plugin's stub: {stub}"),
        None => runtime.to_string(),
    };
    if let Some(Err(error)) = &progress.configure {
        return JoinFailure::Configure(both(error));
    }
    if let Some(Err(error)) = &progress.synchronize {
        return JoinFailure::Synchronize(both(error));
    }
    if let Some(ended) = stub_ended {
        return JoinFailure::Stub(ended);
    }
    if !progress.connected {
        return if options.plugin_path.is_some() {
            JoinFailure::NotLaunched
        } else {
            JoinFailure::Timeout(waited)
        };
    }
    if !progress.registered {
        return if progress.calls_ended && !progress.closed_by_runtime {
            JoinFailure::Disconnected
        } else {
            JoinFailure::NotRegistered(options.registration_timeout)
        };
    }
    if progress.configure.is_none() && progress.closed_by_runtime {
        return JoinFailure::Refused;
    }
    JoinFailure::Timeout(waited)
}

/// `inner`, observed for how far its plugin gets in joining, and the
/// watcher of that progress.
fn watched(inner: Arc<dyn Transport>) -> (Arc<dyn Transport>, watch::Receiver<Progress>) {
    let (progress, watcher) = watch::channel(Progress::default());
    let observed = Observed::new(inner, Arc::new(Watcher(progress)));
    (Arc::new(observed), watcher)
}

/// Reports how far the plugin got in joining: its connection, its
/// RegisterPlugin, Configure's and Synchronize's outcome, the end of its
/// calls and the runtime closing it.
struct Watcher(watch::Sender<Progress>);

impl Observer for Watcher {
    type Connection = ();
    type Pending = ();

    fn connected(&self, _: Option<&Preinstalled>) {
        self.0.send_modify(|p| p.connected = true);
    }

    fn launch_failed(&self, error: &LaunchError) {
        if !matches!(error, LaunchError::Unsupported) {
            let reason = error.to_string();
            self.0
                .send_modify(|p| p.launch_error = Some(reason.clone()));
        }
    }

    fn runtime_call(&self, _: &(), request: &RuntimeRequest) {
        if matches!(request, RuntimeRequest::RegisterPlugin(_)) {
            self.0.send_modify(|p| p.registered = true);
        }
    }

    fn calls_ended(&self, _: &()) {
        self.0.send_modify(|p| p.calls_ended = true);
    }

    fn plugin_called(
        &self,
        _: &(),
        request: PluginRequestRef<'_>,
        outcome: &Result<PluginResponse, CallError>,
        _: Duration,
    ) {
        let configure = matches!(request, PluginRequestRef::Configure(_));
        let synchronize = matches!(request, PluginRequestRef::Synchronize(_));
        if configure || synchronize {
            let result = outcome.as_ref().map(drop).map_err(ToString::to_string);
            self.0.send_modify(|p| {
                let slot = if configure {
                    &mut p.configure
                } else {
                    &mut p.synchronize
                };
                // The first failure of a split Synchronize is the one.
                if !matches!(slot, Some(Err(_))) {
                    *slot = Some(result);
                }
            });
        }
    }

    fn closing(&self, _: &()) {
        self.0.send_modify(|p| p.closed_by_runtime = true);
    }
}

/// Connects in-process, passing the test's configuration in Configure as a
/// runtime passes a pre-installed plugin's.
struct ConfiguredConnector {
    inner: InProcessConnector,
    config: Arc<str>,
}

#[async_trait::async_trait]
impl Connector for ConfiguredConnector {
    async fn connect(
        &self,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Arc<dyn RuntimeLink>, ConnectFailure> {
        let handler = Arc::new(WithConfig {
            inner: handler,
            config: Arc::clone(&self.config),
        });
        Connector::connect(&self.inner, handler).await
    }

    fn target(&self) -> String {
        self.inner.target()
    }
}

/// A plugin handler whose Configure carries the test's configuration.
struct WithConfig {
    inner: Arc<dyn PluginHandler>,
    config: Arc<str>,
}

#[async_trait::async_trait]
impl PluginHandler for WithConfig {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        let request = match request {
            PluginRequest::Configure(mut configure) if !self.config.is_empty() => {
                configure.config = self.config.to_string();
                PluginRequest::Configure(configure)
            }
            other => other,
        };
        self.inner.handle(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options::new("t", "1")
            .with_plugin_path(None)
            .with_timeouts(Duration::from_millis(300), Duration::from_secs(1))
    }

    #[test]
    fn failures_are_explained_by_how_far_the_plugin_got() {
        let wait = Duration::from_secs(3);
        let mut launched = options();
        launched.plugin_path = Some(PathBuf::from("/plugins"));
        let explain =
            |progress: Progress, options: &Options| explain(&progress, None, options, wait);

        assert_eq!(
            explain(Progress::default(), &launched),
            JoinFailure::NotLaunched
        );
        let connected = Progress {
            connected: true,
            ..Default::default()
        };
        assert_eq!(
            explain(connected.clone(), &launched),
            JoinFailure::NotRegistered(Duration::from_millis(300))
        );
        let exited = Progress {
            calls_ended: true,
            ..connected.clone()
        };
        assert_eq!(explain(exited, &launched), JoinFailure::Disconnected);
        let timed_out = Progress {
            calls_ended: true,
            closed_by_runtime: true,
            ..connected.clone()
        };
        assert_eq!(
            explain(timed_out, &launched),
            JoinFailure::NotRegistered(Duration::from_millis(300))
        );
        let misconfigured = Progress {
            registered: true,
            configure: Some(Err("bad config".into())),
            ..connected.clone()
        };
        assert_eq!(
            explain(misconfigured, &options()),
            JoinFailure::Configure("bad config".into())
        );
        let unsynced = Progress {
            registered: true,
            configure: Some(Ok(())),
            synchronize: Some(Err("timeout".into())),
            ..connected
        };
        assert_eq!(
            explain(unsynced, &options()),
            JoinFailure::Synchronize("timeout".into())
        );
        assert_eq!(
            explain(Progress::default(), &options()),
            JoinFailure::Timeout(wait)
        );
    }
}
