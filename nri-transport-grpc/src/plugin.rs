//! The plugin side: [`RuntimeConnection`] serves a plugin's
//! [`PluginHandler`] on an endpoint of its own, accepts the runtime's one
//! connection there (the session), and calls the runtime's `Runtime`
//! service on a channel of its own. [`PluginConnector`] is the same for
//! nri-core's stub. See [`crate::protocol`].

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nri_core::proto::api;
use nri_core::proto::api::plugin_server::{Plugin, PluginServer};
use nri_core::transport::serving::serve_plugin_call;
use nri_core::transport::{
    CallError, CloseReason, ConnectFailure, Connector, PluginHandler, PluginRpc, RuntimeLink,
    RuntimeRequest, RuntimeResponse,
};
use tokio::sync::watch;
use tonic::metadata::AsciiMetadataValue;
use tonic::{Request, Response, Status};

use crate::client::{self, Client};
use crate::codec;
use crate::endpoint::{Endpoint, EndpointError, Listener};
use crate::protocol::{
    ENDPOINT_METADATA, ENV_LAUNCH_TOKEN, ENV_RUNTIME_ENDPOINT, LAUNCH_TOKEN_METADATA,
    MAX_MESSAGE_SIZE, RUNTIME_SERVICE,
};
use crate::server;
use crate::status::{reason, to_tonic};

/// Why a plugin could not connect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Serving the plugin's own endpoint failed.
    #[error("cannot serve the plugin at {endpoint}: {source}")]
    Serve {
        /// The plugin's endpoint.
        endpoint: String,
        /// Why.
        source: std::io::Error,
    },
    /// Dialing the runtime failed.
    #[error("cannot connect to the NRI runtime at {endpoint}: {reason}")]
    Dial {
        /// The runtime's endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// An endpoint (from the environment or given) is unusable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The runtime's endpoint is not a unix socket with a directory, and no
    /// endpoint for the plugin was given.
    #[error("no endpoint for the plugin: give one with serve_at")]
    NoPluginEndpoint,
}

/// Names plugin sockets uniquely within the process.
static SOCKETS: AtomicU64 = AtomicU64::new(0);

/// The endpoint a plugin serves on when none is given: a socket next to a
/// unix runtime socket, or a free loopback port of the runtime's family.
fn default_plugin_endpoint(runtime: &Endpoint) -> Result<Endpoint, ConnectError> {
    match runtime {
        Endpoint::Unix(path) => {
            let dir = path
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .ok_or(ConnectError::NoPluginEndpoint)?;
            let n = SOCKETS.fetch_add(1, Ordering::Relaxed);
            Ok(Endpoint::Unix(dir.join(format!(
                "nri-plugin-{}-{n}.sock",
                std::process::id()
            ))))
        }
        Endpoint::Tcp(address) => Ok(Endpoint::Tcp(if address.is_ipv4() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
        } else {
            SocketAddr::from((Ipv6Addr::LOCALHOST, 0))
        })),
    }
}

/// The socket file a plugin bound: its path, and its device and inode so
/// that only this file is removed, never a later plugin's at the same path.
type SocketFile = (PathBuf, (u64, u64));

/// The identity of the file at `path`.
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

/// Binds the plugin's endpoint; a socket file left at the path (by a dead
/// process with our pid) is replaced, anything else is refused.
async fn bind(endpoint: &Endpoint) -> Result<(Listener, Option<SocketFile>), ConnectError> {
    let failed = |source| ConnectError::Serve {
        endpoint: endpoint.to_string(),
        source,
    };
    match endpoint {
        Endpoint::Unix(path) => {
            use std::os::unix::fs::FileTypeExt;
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if !meta.file_type().is_socket() {
                    return Err(failed(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "exists and is not a socket",
                    )));
                }
                std::fs::remove_file(path).map_err(failed)?;
            }
            let listener = tokio::net::UnixListener::bind(path).map_err(failed)?;
            let file = file_identity(path).map(|identity| (path.clone(), identity));
            Ok((Listener::Unix(listener), file))
        }
        Endpoint::Tcp(address) => Ok((Listener::tcp(*address).await.map_err(failed)?, None)),
    }
}

/// A plugin's connection to the runtime over gRPC. Dropping it closes it.
pub struct RuntimeConnection {
    runtime: Client,
    endpoint: Endpoint,
    endpoint_value: AsciiMetadataValue,
    token: Option<AsciiMetadataValue>,
    close: watch::Sender<bool>,
    ended: watch::Receiver<Option<CloseReason>>,
}

impl std::fmt::Debug for RuntimeConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConnection")
            .field("endpoint", &self.endpoint)
            .field("ended", &*self.ended.borrow())
            .finish_non_exhaustive()
    }
}

impl RuntimeConnection {
    /// Serves `handler` on a fresh endpoint of its own (next to a unix
    /// runtime socket, or a free loopback port) and connects to the runtime
    /// at `runtime`. Register next with [`call`](Self::call).
    pub async fn connect(
        runtime: &Endpoint,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Self, ConnectError> {
        let endpoint = default_plugin_endpoint(runtime)?;
        Self::connect_serving_at(runtime, &endpoint, handler).await
    }

    /// As [`connect`](Self::connect), serving on `endpoint`.
    pub async fn connect_serving_at(
        runtime: &Endpoint,
        endpoint: &Endpoint,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Self, ConnectError> {
        Self::start(runtime, endpoint, None, handler).await
    }

    /// If a runtime launched this process over gRPC (its endpoint is in
    /// `NRI_GRPC_RUNTIME_ENDPOINT`), connects to it as the launched plugin;
    /// `Ok(None)` otherwise.
    pub async fn from_environment(
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Option<Self>, ConnectError> {
        let Some(runtime) = environment_endpoint()? else {
            return Ok(None);
        };
        let token = std::env::var(ENV_LAUNCH_TOKEN).ok();
        let endpoint = default_plugin_endpoint(&runtime)?;
        Self::start(&runtime, &endpoint, token, handler)
            .await
            .map(Some)
    }

    async fn start(
        runtime: &Endpoint,
        endpoint: &Endpoint,
        token: Option<String>,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Self, ConnectError> {
        let (listener, socket) = bind(endpoint).await?;
        let endpoint = listener
            .local_endpoint()
            .map_err(|source| ConnectError::Serve {
                endpoint: endpoint.to_string(),
                source,
            })?;
        let remove_socket = move || {
            if let Some((path, identity)) = &socket
                && file_identity(path) == Some(*identity)
            {
                let _ = std::fs::remove_file(path);
            }
        };
        let dialed = async {
            let stream = runtime.dial().await.map_err(|e| e.to_string())?;
            Client::start(stream).await.map_err(|e| e.to_string())
        };
        let client = match dialed.await {
            Ok(client) => client,
            Err(reason) => {
                remove_socket();
                return Err(ConnectError::Dial {
                    endpoint: runtime.to_string(),
                    reason,
                });
            }
        };
        let metadata = |text: &str| {
            AsciiMetadataValue::try_from(text)
                .map_err(|_| ConnectError::Endpoint(EndpointError::Syntax(text.to_string())))
        };
        let endpoint_value = metadata(&endpoint.to_string())?;
        let token = token.as_deref().map(metadata).transpose()?;
        let (close, closing) = watch::channel(false);
        let (ended_tx, ended) = watch::channel(None);
        let service = PluginServer::new(PluginService {
            handler,
            close: close.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let runtime_channel = client.clone();
        let span = tracing::info_span!("nri_runtime_connection", %endpoint);
        tokio::spawn(tracing::Instrument::instrument(
            session(
                listener,
                remove_socket,
                service,
                closing,
                runtime_channel,
                ended_tx,
            ),
            span,
        ));
        Ok(RuntimeConnection {
            runtime: client,
            endpoint,
            endpoint_value,
            token,
            close,
            ended,
        })
    }

    /// The endpoint this plugin serves on.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Calls the runtime (RegisterPlugin, UpdateContainers). `timeout`
    /// bounds the wait and is the call's deadline; `None` waits until the
    /// answer or the session's end.
    pub async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Option<Duration>,
    ) -> Result<RuntimeResponse, CallError> {
        if let Some(reason) = self.ended.borrow().clone() {
            return Err(CallError::Closed { reason });
        }
        let method = request.method_name();
        let mut metadata = vec![(ENDPOINT_METADATA, self.endpoint_value.clone())];
        if let (RuntimeRequest::RegisterPlugin(_), Some(token)) = (&request, &self.token) {
            metadata.push((LAUNCH_TOKEN_METADATA, token.clone()));
        }
        let message = codec::encode(&request).map_err(|message| CallError::Protocol { message })?;
        let path = client::path(RUNTIME_SERVICE, method);
        let mut ended = self.ended.clone();
        let reply = tokio::select! {
            reply = self.runtime.call(path, method, message, timeout, &metadata) => reply?,
            why = reason(&mut ended) => return Err(CallError::Closed { reason: why }),
        };
        RuntimeResponse::decode(method, reply).map_err(|error| CallError::Protocol {
            message: error.to_string(),
        })
    }

    /// Ends the session and stops serving.
    pub fn close(&self) {
        self.close.send_replace(true);
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.ended.borrow().is_some()
    }

    /// Waits until the session ends (by either side), and says why.
    pub async fn closed(&self) -> CallError {
        CallError::Closed {
            reason: reason(&mut self.ended.clone()).await,
        }
    }
}

impl Drop for RuntimeConnection {
    fn drop(&mut self) {
        self.close.send_replace(true);
    }
}

/// The runtime's endpoint from `NRI_GRPC_RUNTIME_ENDPOINT`, if set.
fn environment_endpoint() -> Result<Option<Endpoint>, EndpointError> {
    match std::env::var(ENV_RUNTIME_ENDPOINT) {
        Ok(text) if !text.is_empty() => Endpoint::parse(&text).map(Some),
        _ => Ok(None),
    }
}

/// The plugin's session: accepts the runtime's one connection, stops
/// listening, serves until the connection ends, the plugin closes, or the
/// plugin's channel to the runtime breaks; then closes everything.
async fn session(
    listener: Listener,
    remove_socket: impl FnOnce(),
    service: PluginServer<PluginService>,
    mut closing: watch::Receiver<bool>,
    runtime: Client,
    ended: watch::Sender<Option<CloseReason>>,
) {
    let channel_ended = |reason: CloseReason| match reason {
        CloseReason::Failed(_) => {
            CloseReason::Failed(format!("the channel to the runtime ended: {reason}"))
        }
        _ => CloseReason::ClosedByPeer(format!("the channel to the runtime ended: {reason}")),
    };
    let accepted = tokio::select! {
        accepted = listener.accept() => accepted.map_err(|e| CloseReason::Failed(format!("cannot accept the runtime's connection: {e}"))),
        _ = closing.wait_for(|close| *close) => Err(CloseReason::ClosedHere("closed by the plugin".to_string())),
        reason = runtime.closed() => Err(channel_ended(reason)),
    };
    drop(listener);
    remove_socket();
    let reason = match accepted {
        Ok(stream) => tokio::select! {
            reason = server::serve(stream, service, closing.clone(), None) => {
                if *closing.borrow() { CloseReason::ClosedHere("closed by the plugin".to_string()) } else { CloseReason::ClosedByPeer(format!("the runtime ended the session: {reason}")) }
            }
            reason = runtime.closed() => channel_ended(reason),
        },
        Err(reason) => reason,
    };
    runtime.close("the session ended");
    tracing::debug!(%reason, "NRI session ended");
    ended.send_replace(Some(reason));
}

/// The plugin's `Plugin` service: each method hands its request to the
/// plugin's handler, as on every transport.
struct PluginService {
    handler: Arc<dyn PluginHandler>,
    close: watch::Sender<bool>,
}

impl PluginService {
    /// Runs the handler on one call. A handler that panicked closes the
    /// session unanswered, as a crashed process would: the call never
    /// returns, and the connection is dropped under it.
    async fn serve<R: PluginRpc>(
        &self,
        request: Request<R>,
    ) -> Result<Response<R::Response>, Status> {
        let request = request.into_inner().into_request();
        match serve_plugin_call(self.handler.as_ref(), request).await {
            Ok(reply) => R::response_from(reply)
                .map(Response::new)
                .map_err(|reply| Status::internal(format!("a {} reply", reply.method().name()))),
            Err(failure) if failure.closes_connection() => {
                self.close.send_replace(true);
                std::future::pending().await
            }
            Err(failure) => Err(to_tonic(failure.status())),
        }
    }
}

/// Implements the generated trait's methods by [`PluginService::serve`].
macro_rules! plugin_methods {
    ($($method:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl Plugin for PluginService {
            $(
                async fn $method(
                    &self,
                    request: Request<api::$request>,
                ) -> Result<Response<api::$response>, Status> {
                    self.serve(request).await
                }
            )*
        }
    };
}

plugin_methods! {
    configure(ConfigureRequest) -> ConfigureResponse;
    synchronize(SynchronizeRequest) -> SynchronizeResponse;
    shutdown(Empty) -> Empty;
    run_pod_sandbox(RunPodSandboxRequest) -> RunPodSandboxResponse;
    update_pod_sandbox(UpdatePodSandboxRequest) -> UpdatePodSandboxResponse;
    post_update_pod_sandbox(PostUpdatePodSandboxRequest) -> PostUpdatePodSandboxResponse;
    stop_pod_sandbox(StopPodSandboxRequest) -> StopPodSandboxResponse;
    remove_pod_sandbox(RemovePodSandboxRequest) -> RemovePodSandboxResponse;
    create_container(CreateContainerRequest) -> CreateContainerResponse;
    post_create_container(PostCreateContainerRequest) -> PostCreateContainerResponse;
    start_container(StartContainerRequest) -> StartContainerResponse;
    post_start_container(PostStartContainerRequest) -> PostStartContainerResponse;
    update_container(UpdateContainerRequest) -> UpdateContainerResponse;
    post_update_container(PostUpdateContainerRequest) -> PostUpdateContainerResponse;
    stop_container(StopContainerRequest) -> StopContainerResponse;
    remove_container(RemoveContainerRequest) -> RemoveContainerResponse;
    state_change(StateChangeEvent) -> Empty;
    validate_container_adjustment(ValidateContainerAdjustmentRequest) -> ValidateContainerAdjustmentResponse;
}

#[async_trait::async_trait]
impl RuntimeLink for RuntimeConnection {
    async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Option<Duration>,
    ) -> Result<RuntimeResponse, CallError> {
        RuntimeConnection::call(self, request, timeout).await
    }

    async fn closed(&self) -> CallError {
        RuntimeConnection::closed(self).await
    }

    fn close(&self) {
        RuntimeConnection::close(self);
    }
}

/// How a plugin built on nri-core's stub reaches its runtime over gRPC:
/// as the plugin a runtime launched (`NRI_GRPC_RUNTIME_ENDPOINT` is set),
/// or by dialing a runtime endpoint.
#[derive(Debug, Clone)]
pub struct PluginConnector {
    runtime: Endpoint,
    serve_at: Option<Endpoint>,
    token: Option<String>,
    launched: bool,
}

impl PluginConnector {
    /// The launching runtime if the environment names one, else `runtime`.
    pub fn from_environment(runtime: Endpoint) -> Result<Self, EndpointError> {
        Ok(match environment_endpoint()? {
            Some(launcher) => PluginConnector {
                runtime: launcher,
                serve_at: None,
                token: std::env::var(ENV_LAUNCH_TOKEN).ok(),
                launched: true,
            },
            None => Self::dial(runtime),
        })
    }

    /// Whether a runtime launched this process over gRPC.
    pub fn launched_by_runtime() -> bool {
        std::env::var_os(ENV_RUNTIME_ENDPOINT).is_some_and(|value| !value.is_empty())
    }

    /// The runtime at `runtime`, whatever the environment says.
    pub fn dial(runtime: Endpoint) -> Self {
        PluginConnector {
            runtime,
            serve_at: None,
            token: None,
            launched: false,
        }
    }

    /// Serves the plugin on `endpoint` instead of a fresh one.
    pub fn serve_at(mut self, endpoint: Endpoint) -> Self {
        self.serve_at = Some(endpoint);
        self
    }
}

#[async_trait::async_trait]
impl Connector for PluginConnector {
    async fn connect(
        &self,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Arc<dyn RuntimeLink>, ConnectFailure> {
        let endpoint = match &self.serve_at {
            Some(endpoint) => endpoint.clone(),
            None => default_plugin_endpoint(&self.runtime)?,
        };
        let connection =
            RuntimeConnection::start(&self.runtime, &endpoint, self.token.clone(), handler).await?;
        Ok(Arc::new(connection))
    }

    fn launched(&self) -> bool {
        self.launched
    }

    fn target(&self) -> String {
        self.runtime.to_string()
    }
}
