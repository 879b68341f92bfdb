//! What `nri-cri-proxy` runs: a CRI server on one unix socket in front of a
//! CRI runtime's socket (containerd's, CRI-O's), with NRI added at the CRI
//! level.
//!
//! - The lifecycle calls of [`INTERCEPTED`] go through the
//!   [middleware](crate::middleware), whose inner service is a tonic client
//!   of the backend ([`RemoteRuntime`]).
//! - Every other call, of `RuntimeService` or `ImageService` or of a CRI
//!   version newer than ours, is forwarded as it came: headers, body
//!   bytes and trailers, streamed both ways, never decoded.
//! - Exits are found by listing the backend's containers (an
//!   [`ExitWatcher`]), started before NRI so that containers found at
//!   start-up are the baseline; one that exits before any plugin registers
//!   is shown stopped in the plugins' first snapshot.
//!
//! Requests that the middleware intercepts are decoded with our CRI schema
//! and encoded again: fields our schema does not declare (from a CRI newer
//! than ours) are dropped from those requests. Every field of the current
//! CRI API is declared.

#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod cli;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use nri_core::adaptation::{Options, StartError};
use nri_core::transport::Transport;
use nri_host::Access;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use crate::cri;
use crate::cri::runtime_service_client::RuntimeServiceClient;
use crate::cri::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use crate::middleware::{ExitWatcher, NriRuntimeService};
use crate::socket::{ChannelError, Fallback, MAX_MESSAGE_SIZE, Split, UnixChannel, serve};

/// The methods the proxy handles itself; all others are forwarded raw.
pub const INTERCEPTED: &[&str] = &[
    "/runtime.v1.RuntimeService/RunPodSandbox",
    "/runtime.v1.RuntimeService/StopPodSandbox",
    "/runtime.v1.RuntimeService/RemovePodSandbox",
    "/runtime.v1.RuntimeService/UpdatePodSandboxResources",
    "/runtime.v1.RuntimeService/CreateContainer",
    "/runtime.v1.RuntimeService/StartContainer",
    "/runtime.v1.RuntimeService/StopContainer",
    "/runtime.v1.RuntimeService/RemoveContainer",
    "/runtime.v1.RuntimeService/UpdateContainerResources",
];

/// A CRI runtime behind a unix socket, as a `RuntimeService`.
#[derive(Debug, Clone)]
pub struct RemoteRuntime {
    client: RuntimeServiceClient<UnixChannel>,
}

impl RemoteRuntime {
    /// A runtime reached through `channel`.
    pub fn new(channel: UnixChannel) -> RemoteRuntime {
        RemoteRuntime {
            client: RuntimeServiceClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        }
    }
}

macro_rules! forward {
    ($($method:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl RuntimeService for RemoteRuntime {
            $(
                async fn $method(
                    &self,
                    request: Request<cri::$request>,
                ) -> Result<Response<cri::$response>, Status> {
                    self.client.clone().$method(request).await
                }
            )*
        }
    };
}

forward! {
    version(VersionRequest) -> VersionResponse;
    run_pod_sandbox(RunPodSandboxRequest) -> RunPodSandboxResponse;
    stop_pod_sandbox(StopPodSandboxRequest) -> StopPodSandboxResponse;
    remove_pod_sandbox(RemovePodSandboxRequest) -> RemovePodSandboxResponse;
    pod_sandbox_status(PodSandboxStatusRequest) -> PodSandboxStatusResponse;
    list_pod_sandbox(ListPodSandboxRequest) -> ListPodSandboxResponse;
    create_container(CreateContainerRequest) -> CreateContainerResponse;
    start_container(StartContainerRequest) -> StartContainerResponse;
    stop_container(StopContainerRequest) -> StopContainerResponse;
    remove_container(RemoveContainerRequest) -> RemoveContainerResponse;
    list_containers(ListContainersRequest) -> ListContainersResponse;
    container_status(ContainerStatusRequest) -> ContainerStatusResponse;
    update_container_resources(UpdateContainerResourcesRequest) -> UpdateContainerResourcesResponse;
    update_pod_sandbox_resources(UpdatePodSandboxResourcesRequest) -> UpdatePodSandboxResourcesResponse;
}

/// How to run a proxy.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The CRI socket to serve.
    pub listen: PathBuf,
    /// The runtime's CRI socket.
    pub backend: PathBuf,
    /// NRI's options; `None` disables NRI (a plain pass-through proxy).
    pub nri: Option<Options>,
    /// How often the backend's containers are listed to find exits.
    pub exit_poll: Duration,
    /// Who may connect to the CRI socket (the runtime's user only by
    /// default).
    pub access: Access,
}

/// Why a proxy did not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The backend's socket could not be reached.
    #[error("the CRI runtime: {0}")]
    Backend(#[from] ChannelError),
    /// The CRI socket could not be served.
    #[error("the CRI socket: {0}")]
    Listen(#[from] nri_host::SocketError),
    /// NRI did not start.
    #[error("NRI: {0}")]
    Nri(#[from] StartError),
}

/// A running proxy. Dropping it stops serving; [`shut_down`](Proxy::shut_down)
/// also stops NRI's plugins.
pub struct Proxy {
    middleware: NriRuntimeService<RemoteRuntime>,
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    _exits: ExitWatcher,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Connects to the backend, starts watching exits, starts NRI with
    /// `transports`, then serves CRI on `options.listen` (by the NRI socket
    /// rules: directory created 0700, a stale socket replaced, a live one
    /// or a file that is not a socket refused).
    pub async fn start(
        options: ProxyOptions,
        transports: Vec<Arc<dyn Transport>>,
    ) -> Result<Proxy, ProxyError> {
        let backend = UnixChannel::connect(&options.backend).await?;
        let remote = Arc::new(RemoteRuntime::new(backend.clone()));
        let middleware = NriRuntimeService::new(remote, options.nri);
        let exits = middleware.watch_exits(options.exit_poll).await;
        middleware.api().start(transports).await?;
        let socket = nri_host::socket::bind_with(&options.listen, options.access)?;
        let grpc = RuntimeServiceServer::new(middleware.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let forward: Fallback = Arc::new(move |request| {
            let backend = backend.clone();
            Box::pin(async move { forward_raw(&backend, request).await })
        });
        let router = Split::new(grpc, |path| INTERCEPTED.contains(&path), forward);
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(async move {
            serve(socket.listener(), router, async {
                let _ = stopped.await;
            })
            .await;
            socket.remove_file();
        });
        tracing::info!(listen = %options.listen.display(), backend = %options.backend.display(), "serving CRI");
        Ok(Proxy {
            middleware,
            path: options.listen,
            stop: Some(stop),
            server,
            _exits: exits,
        })
    }

    /// The CRI socket served.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The middleware (its runtime API: plugins, states).
    pub fn middleware(&self) -> &NriRuntimeService<RemoteRuntime> {
        &self.middleware
    }

    /// Stops serving CRI (removing the socket) and stops NRI.
    pub async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
        self.middleware.api().stop().await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Forwards a request untouched and returns the backend's answer
/// untouched; a backend that cannot be reached is UNAVAILABLE.
async fn forward_raw(
    backend: &UnixChannel,
    request: http::Request<Incoming>,
) -> http::Response<tonic::body::Body> {
    let path = request.uri().path().to_string();
    match backend.send(request.map(tonic::body::Body::new)).await {
        Ok(response) => response.map(tonic::body::Body::new),
        Err(error) => {
            tracing::warn!(%path, %error, "forwarding to the CRI runtime failed");
            Status::unavailable(format!("CRI runtime: {error}")).into_http()
        }
    }
}
