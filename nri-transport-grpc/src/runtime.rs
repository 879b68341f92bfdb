//! The runtime side: [`GrpcTransport`] serves the `Runtime` service on a
//! unix socket (or loopback TCP), or lets the runtime mount it in a tonic
//! server of its own, dials each registering plugin's endpoint and hands
//! nri-core a [`GrpcConnection`] per plugin session. See
//! [`crate::protocol`] for the rules.

mod connection;
mod sessions;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nri_core::discovery::Preinstalled;
use nri_core::proto::api::runtime_server::RuntimeServer;
use nri_core::transport::{Accepted, LaunchError, Origin, Transport};
pub use nri_host::admission::DEFAULT_MAX_UNREGISTERED;
use nri_host::{Access, Admission, Process, SocketError};
use tokio::sync::{Mutex, mpsc, watch};

pub use connection::GrpcConnection;
pub use sessions::RuntimeService;

use crate::endpoint::{Endpoint, Listener};
use crate::protocol::{
    ENV_LAUNCH_TOKEN, ENV_PLUGIN_IDX, ENV_PLUGIN_NAME, ENV_RUNTIME_ENDPOINT, MAX_MESSAGE_SIZE,
};
use crate::server;
use sessions::{CALL_QUEUE, Sessions};

/// Why the runtime's gRPC endpoint cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// The unix socket (same rules as the ttrpc transport's).
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The TCP address is not loopback.
    #[error(transparent)]
    Endpoint(#[from] crate::EndpointError),
    /// Binding or inspecting the listener failed.
    #[error("cannot listen on {endpoint}: {source}")]
    Io {
        /// Where.
        endpoint: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The runtime's gRPC transport.
///
/// Serving on a socket of its own:
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use nri_transport_grpc::GrpcTransport;
///
/// let grpc = Arc::new(GrpcTransport::listen(nri_transport_grpc::DEFAULT_GRPC_SOCKET_PATH)?);
/// // With ttrpc too, both kinds of plugin in one ordered list:
/// // adaptation.start(vec![ttrpc.clone(), grpc.clone()]).await?;
/// // ... adaptation.stop().await;
/// grpc.shut_down();
/// # Ok(()) }
/// ```
///
/// Mounted in a tonic server the runtime already runs, with its own tower
/// layers around it (see [`runtime_service`](Self::runtime_service)):
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use nri_transport_grpc::{Endpoint, GrpcTransport};
/// use tokio_stream::wrappers::UnixListenerStream;
///
/// let path = "/run/my-runtime/api.sock";
/// let grpc = Arc::new(GrpcTransport::mounted(Endpoint::unix(path)));
/// let listener = tokio::net::UnixListener::bind(path)?;
/// let server = tonic::transport::Server::builder()
///     // .layer(my_auth_layer)
///     .add_service(grpc.runtime_service())
///     .serve_with_incoming(UnixListenerStream::new(listener));
/// tokio::spawn(server);
/// // adaptation.start(vec![grpc.clone()]).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GrpcTransport {
    endpoint: Endpoint,
    /// Shared with the accept loop until shutdown, so that the listener
    /// closes when the loop ends rather than when the transport is dropped.
    /// `None` for a mounted service.
    listener: std::sync::Mutex<Option<Arc<Listener>>>,
    sessions: Arc<Sessions>,
    service: Arc<RuntimeService>,
    /// Channels to the own listener waiting to register.
    admission: Arc<Admission>,
    accepted: Mutex<mpsc::UnboundedReceiver<Accepted>>,
    shutdown: watch::Sender<bool>,
    plugin_stderr: bool,
}

impl GrpcTransport {
    /// Serves on the unix socket at `path`, set up by the same rules as the
    /// ttrpc transport's (`nri_host::socket`): only the runtime's user may
    /// connect (mode 0600 whatever the umask), the directory is created
    /// with mode 0700 when missing and refused when others may write to
    /// it, a stale socket of ours is replaced, anything else is refused,
    /// and the socket is removed on [`shut_down`](Self::shut_down). Must be
    /// called inside a tokio runtime.
    pub fn listen(path: impl AsRef<Path>) -> Result<Self, ListenError> {
        Self::listen_with(path, Access::Owner)
    }

    /// As [`listen`](Self::listen), with `access` deciding who may connect
    /// (e.g. a group, mode 0660).
    pub fn listen_with(path: impl AsRef<Path>, access: Access) -> Result<Self, ListenError> {
        let socket = nri_host::socket::bind_with(path.as_ref(), access)?;
        Self::serve(Listener::Runtime(socket))
    }

    /// Serves on a loopback TCP address, for development (`127.0.0.1:0`
    /// picks a port; see [`endpoint`](Self::endpoint)).
    pub async fn listen_tcp(address: SocketAddr) -> Result<Self, ListenError> {
        let endpoint = Endpoint::tcp(address)?;
        let listener = Listener::tcp(address)
            .await
            .map_err(|source| ListenError::Io {
                endpoint: endpoint.to_string(),
                source,
            })?;
        Self::serve(listener)
    }

    fn serve(listener: Listener) -> Result<Self, ListenError> {
        let endpoint = listener
            .local_endpoint()
            .map_err(|source| ListenError::Io {
                endpoint: "the listener".into(),
                source,
            })?;
        let transport = Self::new(endpoint);
        let listener = Arc::new(listener);
        tokio::spawn(accept_loop(
            Arc::clone(&listener),
            transport.runtime_service(),
            Arc::clone(&transport.sessions),
            Arc::clone(&transport.admission),
            transport.shutdown.subscribe(),
        ));
        *transport
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(listener);
        tracing::info!(endpoint = %transport.endpoint, "listening for NRI plugins over gRPC");
        Ok(transport)
    }

    /// A transport whose `Runtime` service the runtime serves itself, in a
    /// tonic server of its own ([`runtime_service`](Self::runtime_service)),
    /// at `endpoint` (where launched plugins are told to register).
    ///
    /// The runtime's server then owns the connections: closing those that
    /// never register, and limiting how many there are, is up to it (this
    /// transport's own listener closes a connection that has not
    /// registered within the registration timeout). A call over a unix
    /// socket is still tied to the registering process, through the peer
    /// credentials tonic records (`UdsConnectInfo`).
    pub fn mounted(endpoint: Endpoint) -> Self {
        Self::new(endpoint)
    }

    fn new(endpoint: Endpoint) -> Self {
        let (accepted_tx, accepted) = mpsc::unbounded_channel();
        let (shutdown, _) = watch::channel(false);
        let sessions = Arc::new(Sessions::new(accepted_tx, shutdown.subscribe()));
        GrpcTransport {
            endpoint,
            listener: std::sync::Mutex::new(None),
            service: Arc::new(RuntimeService::new(Arc::clone(&sessions))),
            sessions,
            admission: Admission::new(DEFAULT_MAX_UNREGISTERED),
            accepted: Mutex::new(accepted),
            shutdown,
            plugin_stderr: false,
        }
    }

    /// The `Runtime` service as a tonic service, with this crate's message
    /// size limits: add it to a tonic server (any number of times; every
    /// copy feeds this transport), with any tower layers around it.
    pub fn runtime_service(&self) -> RuntimeServer<RuntimeService> {
        RuntimeServer::from_arc(Arc::clone(&self.service))
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    /// How long a connection to this transport's own listener may go
    /// without registering (or, for a plugin's channel that reconnected,
    /// without a call of a registered plugin) before it is closed: by
    /// default nri-core's default registration timeout; give the runtime's
    /// `Options::registration_timeout` when it differs. Applies to
    /// connections accepted from now on.
    pub fn with_registration_timeout(self, timeout: Duration) -> Self {
        self.sessions.set_registration_timeout(timeout);
        self
    }

    /// How many channels to this transport's own listener may wait to
    /// register at once (default [`DEFAULT_MAX_UNREGISTERED`]): past it, the
    /// one that waited longest is closed, so a crowd of idle connections
    /// cannot keep a plugin out. Applies to connections accepted from now
    /// on.
    pub fn with_max_unregistered(self, connections: usize) -> Self {
        self.admission.set_capacity(connections);
        self
    }

    /// Lets launched plugins write to the runtime's standard error (by
    /// default it is the null device).
    pub fn with_plugin_stderr(mut self, inherit: bool) -> Self {
        self.plugin_stderr = inherit;
        self
    }

    /// Where plugins register.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Stops serving: no more channels or registrations (a registration
    /// over a channel already open is refused with `UNAVAILABLE`), the
    /// socket file is removed and the listener closes (as soon as its
    /// accept loop sees the shutdown). Sessions already made, and their plugins'
    /// calls over channels already open, are not touched: nri-core ends
    /// the sessions on stop, saying Shutdown first, as on ttrpc (a runtime
    /// that keeps no reference of its own drops the transport as the stop
    /// begins). Idempotent; also done on drop.
    pub fn shut_down(&self) {
        if self.shutdown.send_replace(true) {
            return;
        }
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(listener) = listener
            && let Listener::Runtime(socket) = &*listener
        {
            socket.remove_file();
        }
    }
}

impl Drop for GrpcTransport {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Accepts plugins' channels until shutdown and serves the `Runtime`
/// service on each until its plugin closes it (a plugin that sees its
/// channel end ends its session, so the shutdown leaves channels open), or
/// it has not registered within `registration`.
async fn accept_loop(
    listener: Arc<Listener>,
    service: RuntimeServer<RuntimeService>,
    sessions: Arc<Sessions>,
    admission: Arc<Admission>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    let service = service.clone();
                    // Only the waiting room closes a channel, to make room.
                    let (close, closing) = watch::channel(false);
                    let registration = server::Registration {
                        timeout: sessions.registration_timeout(),
                        ticket: admission.enter(move || {
                            close.send_replace(true);
                        }),
                    };
                    tokio::spawn(async move {
                        let reason = server::serve(stream, service, closing, Some(registration)).await;
                        tracing::debug!(%reason, "plugin channel ended");
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a plugin's channel");
                    if !(Admission::is_out_of_descriptors(&error) && admission.evict_oldest()) {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            },
            () = until_down(&mut shutdown) => return,
        }
    }
}

/// Resolves once the transport is shut down.
async fn until_down(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|down| *down).await;
}

#[async_trait::async_trait]
impl Transport for GrpcTransport {
    async fn accept(&self) -> Option<Accepted> {
        let mut shutdown = self.shutdown.subscribe();
        let mut accepted = self.accepted.lock().await;
        tokio::select! {
            next = accepted.recv() => next,
            () = until_down(&mut shutdown) => None,
        }
    }

    async fn launch(&self, plugin: &Preinstalled) -> Result<Accepted, LaunchError> {
        let token = sessions::new_token().map_err(|error| LaunchError::Failed {
            path: plugin.path.clone(),
            reason: format!("cannot make a launch token: {error}"),
        })?;
        let endpoint = self.endpoint.to_string();
        let index = plugin.id.index();
        let env = [
            (ENV_PLUGIN_NAME, plugin.id.name()),
            (ENV_PLUGIN_IDX, index.as_str()),
            (ENV_RUNTIME_ENDPOINT, endpoint.as_str()),
            (ENV_LAUNCH_TOKEN, token.as_str()),
        ];
        let process = Process::spawn(plugin, self.plugin_stderr, &env, None)?;
        let pid = process.pid();
        tracing::info!(plugin = %plugin.id, pid, path = ?plugin.path, "launched plugin (gRPC)");
        let connection = Arc::new(GrpcConnection::new(Origin::Launched { pid }, Some(process)));
        let (calls_tx, calls) = mpsc::channel(CALL_QUEUE);
        self.sessions
            .expect_launch(token, Arc::clone(&connection), calls_tx);
        Ok(Accepted { connection, calls })
    }
}
