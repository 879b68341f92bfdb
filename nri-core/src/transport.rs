//! The transport abstraction: how the runtime side of NRI reaches plugins.
//!
//! A transport accepts plugin connections ([`Transport::accept`]). Each
//! connection lets the runtime call the plugin's `Plugin` service
//! ([`PluginConnection::call`]) and delivers the plugin's calls of the
//! `Runtime` service (RegisterPlugin, UpdateContainers) as [`RuntimeCall`]s
//! for nri-core to answer.
//!
//! The contract is deliberately small so that a transport cannot change NRI
//! semantics: it moves messages and reports failures, nothing more. In
//! particular a transport must
//!
//! - answer every [`PluginConnection::call`] within its `timeout` (return
//!   [`CallError::Timeout`] when it passes) and pass the deadline on to the
//!   peer where the wire protocol can carry it (ttrpc `timeout_nano`, gRPC
//!   deadlines);
//! - report a lost connection as [`CallError::Closed`], to pending and to
//!   later calls alike, and end the connection's [`RuntimeCall`] stream;
//! - report a peer's "no such method" (gRPC/ttrpc code 12) as
//!   [`CallError::Unimplemented`]: nri-core falls back to `StateChange` for
//!   old plugins on that error;
//! - report any other error status from the plugin as [`CallError::Failed`]
//!   with the peer's code and message.
//!
//! Registration order, timeouts policy, retries, ordering of plugins and
//! every merge rule live in nri-core, never in a transport.

mod borrowed;
mod error;
pub mod in_process;
mod messages;
pub mod serving;
mod synchronize;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use borrowed::{
    ContainerEventRef, PodEventRef, UpdateContainerRef, UpdatePodSandboxRef,
    ValidateContainerAdjustmentRef,
};
pub use error::{
    CODE_INTERNAL, CODE_RESOURCE_EXHAUSTED, CODE_UNAVAILABLE, CODE_UNIMPLEMENTED, CODE_UNKNOWN,
    CallError, CloseReason,
};
pub use messages::{
    BorrowRequest, METHODS, Method, PayloadError, PluginRequest, PluginRequestRef, PluginResponse,
    PluginRpc, RuntimeRequest, RuntimeResponse,
};
pub use synchronize::{EncodedSynchronize, SynchronizeRef};

/// How a plugin connection came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The plugin dialed the runtime's socket.
    External,
    /// The runtime launched the plugin; `pid` is its process id if known.
    Launched {
        /// Process id of the plugin.
        pid: Option<u32>,
    },
    /// The plugin runs inside the runtime process.
    Builtin,
}

/// The runtime's end of one plugin connection.
#[async_trait::async_trait]
pub trait PluginConnection: Send + Sync + 'static {
    /// Calls one method of the plugin's `Plugin` service and waits at most
    /// `timeout` for the reply.
    async fn call(
        &self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, CallError>;

    /// Closes the connection. Pending and later calls fail with
    /// [`CallError::Closed`]. Closing twice is harmless.
    async fn close(&self);

    /// How the connection came to be.
    fn origin(&self) -> Origin;

    /// Ends the plugin for good: closes the connection and, for a plugin the
    /// transport launched, waits up to `grace` for its process to exit before
    /// killing it, and reaps it. The default only closes, which is all a
    /// connection without a process needs.
    async fn terminate(&self, grace: Duration) {
        let _ = grace;
        self.close().await;
    }
}

/// The plugin's side of the `Plugin` service: what answers the runtime's
/// calls. Transports serve it, over the wire or in-process.
///
/// An error reaches the runtime as a status: [`CallError::Failed`] keeps its
/// code and message, [`CallError::Unimplemented`] becomes code 12 (the
/// runtime then falls back to `StateChange` where it can), anything else
/// becomes code 2 (`Unknown`) with the error's text.
#[async_trait::async_trait]
pub trait PluginHandler: Send + Sync + 'static {
    /// Handles one call of the `Plugin` service.
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError>;

    /// Decodes the payload of a call of `method` for this handler; wire
    /// transports call it before [`handle`](Self::handle). The default
    /// decodes the whole message. A handler that ignores part of a request
    /// may decode less: the stub skips a Synchronize's pods and containers
    /// for a plugin with no `synchronize` handler.
    fn decode(&self, method: Method, payload: &[u8]) -> Result<PluginRequest, PayloadError> {
        PluginRequest::decode(method, payload)
    }
}

/// The plugin's end of a connection to the runtime, as a plugin-side
/// transport provides it once connected: calls of the runtime's `Runtime`
/// service, and the connection's end.
#[async_trait::async_trait]
pub trait RuntimeLink: Send + Sync + 'static {
    /// Calls the runtime. `timeout` bounds the wait and is passed to the
    /// runtime; `None` waits until the answer or the connection's end.
    async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Option<Duration>,
    ) -> Result<RuntimeResponse, CallError>;

    /// Waits until the connection is closed (by either side) and says why.
    async fn closed(&self) -> CallError;

    /// Closes the connection.
    fn close(&self);
}

/// Why a plugin could not connect to its runtime.
pub type ConnectFailure = Box<dyn std::error::Error + Send + Sync>;

/// How a plugin reaches its runtime: a plugin-side transport. The stub
/// ([`crate::stub`]) connects through it, and again after a connection
/// ends if it may reconnect.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + 'static {
    /// Connects, serving `handler` on the connection.
    async fn connect(
        &self,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Arc<dyn RuntimeLink>, ConnectFailure>;

    /// Whether the runtime launched this plugin and handed it the
    /// connection (a pre-launched plugin).
    fn launched(&self) -> bool {
        false
    }

    /// Whether connecting again after a connection ended can work: false
    /// for a connection inherited from a launching runtime, which is gone
    /// once used.
    fn can_reconnect(&self) -> bool {
        !self.launched()
    }

    /// What this connects to, for messages (e.g. the socket's path).
    fn target(&self) -> String;
}

/// Calls a plugin method with its request type, returning its response type.
///
/// ```
/// # async fn example(connection: &dyn nri_core::transport::PluginConnection) -> Result<(), nri_core::transport::CallError> {
/// use nri_core::proto::api::ConfigureRequest;
/// use std::time::Duration;
///
/// let reply = nri_core::transport::call(connection, &ConfigureRequest::default(), Duration::from_secs(2)).await?;
/// println!("plugin subscribes to {:#x}", reply.events);
/// # Ok(()) }
/// ```
pub async fn call<R: PluginRpc>(
    connection: &dyn PluginConnection,
    request: &R,
    timeout: Duration,
) -> Result<R::Response, CallError> {
    call_borrowed::<R>(connection, request.borrowed(), timeout).await
}

/// [`call`] with the request in its borrowed form, such as an event's
/// [`ContainerEventRef`].
pub async fn call_borrowed<R: PluginRpc>(
    connection: &dyn PluginConnection,
    request: R::Borrowed<'_>,
    timeout: Duration,
) -> Result<R::Response, CallError> {
    let method = R::METHOD;
    let response = connection.call(R::request_ref(request), timeout).await?;
    R::response_from(response).map_err(|other| CallError::mismatched_reply(method, other.method()))
}

/// A call of the `Runtime` service made by a plugin, waiting for an answer.
#[derive(Debug)]
pub struct RuntimeCall {
    request: RuntimeRequest,
    reply: oneshot::Sender<Result<RuntimeResponse, CallError>>,
}

impl RuntimeCall {
    /// A call and the receiver its answer arrives on; for transports.
    pub fn new(
        request: RuntimeRequest,
    ) -> (Self, oneshot::Receiver<Result<RuntimeResponse, CallError>>) {
        let (reply, answer) = oneshot::channel();
        (RuntimeCall { request, reply }, answer)
    }

    /// What the plugin asked.
    pub fn request(&self) -> &RuntimeRequest {
        &self.request
    }

    /// Splits the call into the request and the means to answer it.
    pub fn into_parts(self) -> (RuntimeRequest, Responder) {
        (self.request, Responder(self.reply))
    }
}

/// Answers one [`RuntimeCall`].
#[derive(Debug)]
pub struct Responder(oneshot::Sender<Result<RuntimeResponse, CallError>>);

impl Responder {
    /// Sends the answer. Returns `false` if the plugin is no longer waiting
    /// (it gave up or disconnected); there is nothing else to do then.
    pub fn reply(self, answer: Result<RuntimeResponse, CallError>) -> bool {
        self.0.send(answer).is_ok()
    }
}

/// A new plugin connection.
pub struct Accepted {
    /// The runtime's end of the connection.
    pub connection: Arc<dyn PluginConnection>,
    /// The plugin's calls of the `Runtime` service, in order. The stream ends
    /// when the connection is lost or closed.
    pub calls: mpsc::Receiver<RuntimeCall>,
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("origin", &self.connection.origin())
            .finish_non_exhaustive()
    }
}

/// Why a transport could not launch a pre-installed plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// This transport does not start processes.
    #[error("this transport cannot launch plugins")]
    Unsupported,
    /// Starting the plugin failed.
    #[error("cannot launch {path:?}: {reason}")]
    Failed {
        /// The plugin's executable.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// A source of plugin connections for the runtime.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Waits for the next plugin connection; `None` once the transport has
    /// shut down and no more connections will come.
    async fn accept(&self) -> Option<Accepted>;

    /// Whether this transport starts pre-installed plugins of this kind:
    /// the adaptation offers a plugin only to the transports that do, in
    /// their order. The default takes executables, which is what a transport
    /// that runs processes (or none at all) handles; a transport that loads
    /// WebAssembly modules takes [`PluginKind::Wasm`](crate::discovery::PluginKind::Wasm).
    /// A transport that wraps another delegates this with [`launch`](Self::launch).
    fn launches(&self, kind: crate::discovery::PluginKind) -> bool {
        kind == crate::discovery::PluginKind::Executable
    }

    /// Starts a pre-installed plugin found by [`crate::discovery`] and
    /// returns the runtime's end of its connection, whose origin is
    /// [`Origin::Launched`]. The plugin then registers over that connection
    /// like an external one. Transports that start no processes keep the
    /// default, which answers [`LaunchError::Unsupported`].
    async fn launch(
        &self,
        plugin: &crate::discovery::Preinstalled,
    ) -> Result<Accepted, LaunchError> {
        let _ = plugin;
        Err(LaunchError::Unsupported)
    }
}
