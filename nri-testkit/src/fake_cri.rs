//! A fake CRI runtime: [`FakeCriRuntime`], an in-memory CRI
//! `RuntimeService` (our `runtime.v1` subset, [`nri_cri::cri`]) with
//! containerd-like semantics, served on a real unix socket by
//! [`FakeCriRuntime::serve`], for testing CRI middleware and proxies
//! (nri-cri, `nri-cri-proxy`) against something real-ish.
//!
//! It is the runtime *below* a CRI middleware, reached over CRI; the fake
//! runtime *behind* nri-core (a `Domain` or `RuntimeBackend`) is
//! [`FakeDomain`](crate::domain::FakeDomain).
//!
//! # What it does
//!
//! - **Pods**: RunPodSandbox gives a 64-hex id, a `created_at`, and an IP
//!   (10.88.0.2, 10.88.0.3, …; none on the host network); the pod is
//!   `SANDBOX_READY` until StopPodSandbox makes it `SANDBOX_NOTREADY`
//!   (its IP is then no longer reported). A second pod with the same
//!   metadata (name, namespace, uid, attempt) is `ALREADY_EXISTS`.
//! - **Containers**: CreateContainer keeps the `ContainerConfig` exactly as
//!   received (see [`created_config`](FakeCriRuntime::created_config)) and
//!   goes `CONTAINER_CREATED`; StartContainer `CONTAINER_RUNNING`; an exit
//!   ([`exit`](FakeCriRuntime::exit)) or a stop `CONTAINER_EXITED`, with
//!   `created_at` < `started_at` < `finished_at`, the exit code, and the
//!   reason `Completed` for 0 and `Error` otherwise. A stop, and any
//!   forced stop (StopPodSandbox, RemoveContainer or RemovePodSandbox of a
//!   running container), kills: exit code [`KILLED_EXIT_CODE`] (137,
//!   SIGKILL), reason `Error`. ContainerStatus reports `resources.linux`
//!   from `config.linux.resources`, replaced by each
//!   UpdateContainerResources (history in
//!   [`applied_resources`](FakeCriRuntime::applied_resources)). A second
//!   container with the same metadata in a pod is `ALREADY_EXISTS`.
//! - **Idempotence**, as CRI asks: stopping a stopped pod or container, or
//!   one that never ran, succeeds and changes nothing (a created container
//!   stays created, as in containerd); removing an unknown pod or container
//!   succeeds. Stopping an unknown one is `NOT_FOUND`, as in containerd.
//! - **Errors**: an unknown id is `NOT_FOUND` with a message naming it; an
//!   empty one `INVALID_ARGUMENT`, and so is a request without its config
//!   or metadata; CreateContainer in a pod that is not ready, StartContainer
//!   of a container that is not created (or in a pod that is not ready),
//!   and UpdateContainerResources of an exited container are
//!   `FAILED_PRECONDITION`.
//! - **Listings** honour every filter field: id (exact; no prefixes), state,
//!   pod sandbox id, and label selector (every label with its value), and
//!   list in creation order.
//! - **Version** answers [`RUNTIME_NAME`] and [`RUNTIME_VERSION`].
//!
//! Verbose statuses carry no `info`.
//!
//! # Test controls
//!
//! [`seed_pod`](FakeCriRuntime::seed_pod) and
//! [`seed_container`](FakeCriRuntime::seed_container) add state without a
//! call (as found at start-up); [`exit`](FakeCriRuntime::exit) makes a
//! container exit on its own; [`fail_next`](FakeCriRuntime::fail_next)
//! fails the next call of a method. Every call is recorded, once answered,
//! with its typed request ([`calls`](FakeCriRuntime::calls)), and tests
//! await calls with a real timeout
//! ([`wait_for_call`](FakeCriRuntime::wait_for_call)) instead of sleeping.
//!
//! # Serving
//!
//! [`FakeCriRuntime::serve`] serves our `RuntimeService`'s paths with the
//! fake, and **every other path** (ImageService, RuntimeService methods we
//! do not model, made-up ones) with an echo: the request (path, headers,
//! body bytes with their gRPC frame prefixes) is recorded as a [`RawCall`]
//! and answered `200`, `content-type: application/grpc`, the request body
//! unchanged, and the trailer `grpc-status: 0`. A proxy test can so check
//! byte-identical pass-through both ways.
//!
//! ```
//! use std::time::Duration;
//! use nri_cri::cri::runtime_service_client::RuntimeServiceClient;
//! use nri_cri::cri::{PodSandboxConfig, PodSandboxMetadata, RunPodSandboxRequest};
//! use nri_cri::socket::UnixChannel;
//! use nri_testkit::fake_cri::{FakeCriRuntime, Method};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let server = FakeCriRuntime::new().serve(dir.path().join("cri.sock"))?;
//! let mut client = RuntimeServiceClient::new(UnixChannel::new(server.path()));
//!
//! let config = PodSandboxConfig {
//!     metadata: Some(PodSandboxMetadata { name: "web".into(), ..Default::default() }),
//!     ..Default::default()
//! };
//! let request = RunPodSandboxRequest { config: Some(config), ..Default::default() };
//! let id = client.run_pod_sandbox(request).await?.into_inner().pod_sandbox_id;
//!
//! let call = server.runtime().wait_for_call(Method::RunPodSandbox, Duration::from_secs(5)).await?;
//! assert!(call.succeeded());
//! assert_eq!(server.runtime().pod(&id).map(|pod| pod.ip), Some("10.88.0.2".to_string()));
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod calls;
mod container;
mod echo;
mod filters;
mod ids;
mod pod;
mod server;
mod service;
mod state;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use nri_cri::cri::{ContainerConfig, LinuxContainerResources, PodSandboxConfig};
use tokio::sync::watch;

pub use calls::{Call, CriRequest, Method, RawCall, Timeout};
pub use container::FakeContainer;
pub use pod::FakePod;
pub use server::FakeCriServer;

use state::State;

/// The runtime name Version answers.
pub const RUNTIME_NAME: &str = "fake-cri";

/// The runtime version Version answers.
pub const RUNTIME_VERSION: &str = "1.0.0";

/// The runtime API version Version answers.
pub const RUNTIME_API_VERSION: &str = "v1";

/// The exit code of a container the fake stops or kills (SIGKILL: 128 + 9),
/// with the reason `Error`.
pub const KILLED_EXIT_CODE: i32 = 137;

/// Everything the runtime holds, behind one lock (a `watch` channel's, so
/// that waits wake on every change).
#[derive(Debug, Default)]
struct World {
    state: State,
    failures: BTreeMap<Method, VecDeque<tonic::Status>>,
    calls: Vec<Call>,
    raw_calls: Vec<RawCall>,
}

impl World {
    /// What a [`Timeout`] reports as seen.
    fn seen(&self) -> Vec<String> {
        self.calls
            .iter()
            .map(|call| call.method().name().to_string())
            .chain(self.raw_calls.iter().map(|raw| raw.path.clone()))
            .collect()
    }
}

/// An in-memory CRI runtime; see the [module docs](self). Clones share the
/// same runtime.
#[derive(Debug, Clone, Default)]
pub struct FakeCriRuntime {
    world: Arc<watch::Sender<World>>,
}

impl FakeCriRuntime {
    /// An empty runtime.
    pub fn new() -> FakeCriRuntime {
        FakeCriRuntime::default()
    }

    /// Runs `f` on the world, under its lock, and wakes the waits.
    fn modify<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let mut result = None;
        self.world.send_modify(|world| result = Some(f(world)));
        // `send_modify` runs the closure exactly once.
        result.unwrap_or_else(|| unreachable!("send_modify did not run its closure"))
    }

    /// Reads the world under its lock.
    fn read<T>(&self, f: impl FnOnce(&World) -> T) -> T {
        f(&self.world.borrow())
    }

    // --- Seeding and simulating -------------------------------------------

    /// Adds a ready pod made from `config` (with no runtime handler),
    /// without a call, as a runtime has it at start-up; returns its id.
    /// Unlike RunPodSandbox it checks nothing.
    pub fn seed_pod(&self, config: PodSandboxConfig) -> String {
        self.modify(|world| world.state.add_pod(config, String::new()))
    }

    /// Adds a container made from `config` to the pod `pod_id`, created,
    /// or running if `running`, without a call; returns its id. Fails
    /// `NOT_FOUND` for an unknown pod and `FAILED_PRECONDITION` for a
    /// running container in a pod that is not ready.
    pub fn seed_container(
        &self,
        pod_id: &str,
        config: ContainerConfig,
        running: bool,
    ) -> Result<String, tonic::Status> {
        self.modify(|world| world.state.seed_container(pod_id, config, running))
    }

    /// The running container `container_id` exits on its own with
    /// `exit_code`, reason `Completed` for 0 and `Error` otherwise. Fails
    /// `NOT_FOUND` for an unknown container and `FAILED_PRECONDITION` for
    /// one that does not run.
    pub fn exit(&self, container_id: &str, exit_code: i32) -> Result<(), tonic::Status> {
        self.modify(|world| world.state.exit(container_id, exit_code, None, ""))
    }

    /// Like [`exit`](Self::exit), with the reason (such as `OOMKilled`) and
    /// message ContainerStatus then reports.
    pub fn exit_with(
        &self,
        container_id: &str,
        exit_code: i32,
        reason: &str,
        message: &str,
    ) -> Result<(), tonic::Status> {
        self.modify(|world| {
            world
                .state
                .exit(container_id, exit_code, Some(reason), message)
        })
    }

    /// Fails the next call of `method` with `status`, before it changes
    /// anything. Several queue up, one per call.
    pub fn fail_next(&self, method: Method, status: tonic::Status) {
        self.modify(|world| world.failures.entry(method).or_default().push_back(status));
    }

    // --- Snapshots -------------------------------------------------------

    /// The pod `id`, if it exists.
    pub fn pod(&self, id: &str) -> Option<FakePod> {
        self.read(|world| world.state.pod(id).cloned())
    }

    /// The container `id`, if it exists.
    pub fn container(&self, id: &str) -> Option<FakeContainer> {
        self.read(|world| world.state.container(id).cloned())
    }

    /// Every pod, in the order they were created.
    pub fn pods(&self) -> Vec<FakePod> {
        self.read(|world| world.state.pods().to_vec())
    }

    /// Every container, in the order they were created.
    pub fn containers(&self) -> Vec<FakeContainer> {
        self.read(|world| world.state.containers().to_vec())
    }

    /// The config the container `id` was created (or seeded) with, exactly
    /// as received; kept after the container is removed.
    pub fn created_config(&self, id: &str) -> Option<ContainerConfig> {
        self.read(|world| world.state.created_config(id).cloned())
    }

    /// The Linux resources of every UpdateContainerResources that applied
    /// to the container `id` (those that carried Linux resources and
    /// succeeded), in order; kept after the container is removed.
    pub fn applied_resources(&self, id: &str) -> Vec<LinuxContainerResources> {
        self.read(|world| world.state.applied_resources(id).to_vec())
    }

    /// Every `RuntimeService` call handled, in the order they took effect.
    pub fn calls(&self) -> Vec<Call> {
        self.read(|world| world.calls.clone())
    }

    /// The calls of `method` handled, in order.
    pub fn calls_of(&self, method: Method) -> Vec<Call> {
        self.read(|world| {
            world
                .calls
                .iter()
                .filter(|call| call.method() == method)
                .cloned()
                .collect()
        })
    }

    /// Every request echoed (paths other than our `RuntimeService`'s), in
    /// order.
    pub fn raw_calls(&self) -> Vec<RawCall> {
        self.read(|world| world.raw_calls.clone())
    }

    // --- Waiting ---------------------------------------------------------

    /// Waits until `found` finds something in the world, for at most
    /// `timeout`. `found` runs under the runtime's lock: it must not call
    /// the runtime.
    async fn wait_world<T>(
        &self,
        waiting_for: impl FnOnce() -> String,
        timeout: Duration,
        mut found: impl FnMut(&World) -> Option<T>,
    ) -> Result<T, Timeout> {
        let mut receiver = self.world.subscribe();
        let mut result = None;
        let waited = tokio::time::timeout(
            timeout,
            receiver.wait_for(|world| {
                result = found(world);
                result.is_some()
            }),
        )
        .await
        // The guard `wait_for` returns is dropped here: `seen` locks again.
        .is_ok_and(|changed| changed.is_ok());
        match result {
            Some(result) if waited => Ok(result),
            _ => Err(Timeout {
                waited: timeout,
                waiting_for: waiting_for(),
                seen: self.read(World::seen),
            }),
        }
    }

    /// The first call of `method`, already handled or the next one, waiting
    /// for at most `timeout`.
    pub async fn wait_for_call(&self, method: Method, timeout: Duration) -> Result<Call, Timeout> {
        self.wait_for_call_matching(timeout, |call| call.method() == method)
            .await
            .map_err(|timeout| Timeout {
                waiting_for: format!("a {method} call"),
                ..timeout
            })
    }

    /// The first call `matches`, already handled or to come, waiting for
    /// at most `timeout`. `matches` runs under the runtime's lock: it must
    /// not call the runtime.
    pub async fn wait_for_call_matching(
        &self,
        timeout: Duration,
        mut matches: impl FnMut(&Call) -> bool,
    ) -> Result<Call, Timeout> {
        self.wait_world(
            || "a matching call".to_string(),
            timeout,
            |world| world.calls.iter().find(|call| matches(call)).cloned(),
        )
        .await
    }

    /// What `found` finds in the calls handled (all of them, in order, each
    /// time one is added), waiting for at most `timeout`; `waiting_for`
    /// says what for, in the [`Timeout`]. `found` runs under the runtime's
    /// lock: it must not call the runtime.
    ///
    /// For instance the third StopContainer:
    /// `wait_for_calls("3 stops", timeout, |calls| calls.iter().filter(|c| c.method() == Method::StopContainer).nth(2).cloned())`.
    pub async fn wait_for_calls<T>(
        &self,
        waiting_for: &str,
        timeout: Duration,
        mut found: impl FnMut(&[Call]) -> Option<T>,
    ) -> Result<T, Timeout> {
        self.wait_world(
            || waiting_for.to_string(),
            timeout,
            |world| found(&world.calls),
        )
        .await
    }

    /// The first echoed request on `path`, already received or the next
    /// one, waiting for at most `timeout`.
    pub async fn wait_for_raw_call(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<RawCall, Timeout> {
        self.wait_world(
            || format!("a raw call on {path}"),
            timeout,
            |world| world.raw_calls.iter().find(|raw| raw.path == path).cloned(),
        )
        .await
    }
}

#[cfg(test)]
mod tests;
