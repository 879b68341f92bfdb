//! The plugin side: [`RuntimeConnection`] connects a plugin's
//! [`PluginHandler`] to a runtime, by dialing its socket or by adopting the
//! socket a runtime passed when it launched the plugin, serves the `Plugin`
//! service on conn 1 (every method, `StateChange` included) and calls the
//! runtime's `Runtime` service on conn 2. [`PluginConnector`] is the same
//! for nri-core's stub.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nri_core::transport::{
    CallError, ConnectFailure, Connector, PluginHandler, RuntimeLink, RuntimeRequest,
    RuntimeResponse,
};
use tokio::net::UnixStream;

use crate::client::Client;
use crate::frame::ConnId;
use crate::service::{self, PluginServer, RUNTIME_SERVICE};
use crate::trunk::TrunkHandle;
use nri_core::proto::defaults::PLUGIN_SOCKET_ENV as ENV_PLUGIN_SOCKET;
use nri_host::fd::{self, AdoptError};

/// Why a plugin could not connect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Dialing the runtime's socket failed.
    #[error("cannot connect to the NRI socket {path:?}: {source}")]
    Dial {
        /// The socket path.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The socket named by `NRI_PLUGIN_SOCKET` is unusable.
    #[error(transparent)]
    Inherited(#[from] AdoptError),
    /// The socket could not be registered with tokio.
    #[error("cannot use the socket: {0}")]
    Register(std::io::Error),
}

/// A plugin's connection to the runtime. Dropping it closes the connection.
pub struct RuntimeConnection {
    trunk: TrunkHandle,
    client: Client,
}

impl std::fmt::Debug for RuntimeConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConnection")
            .field("closed", &self.trunk.closed_reason())
            .finish_non_exhaustive()
    }
}

impl RuntimeConnection {
    /// Dials the runtime's socket at `path` and serves `handler`.
    pub async fn connect(
        path: impl AsRef<Path>,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Self, ConnectError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ConnectError::Dial {
                path: path.to_path_buf(),
                source,
            })?;
        Self::from_stream(stream, handler)
    }

    /// If this process was launched by a runtime (`NRI_PLUGIN_SOCKET` is set
    /// and not empty), adopts the socket it names and serves `handler`;
    /// `Ok(None)` otherwise. The socket can be adopted once per process.
    ///
    /// Call it early, before the process opens sockets of its own: the
    /// descriptor is checked to be an open stream socket, which a socket of
    /// the process's own that reused the number would also be.
    pub fn from_environment(handler: Arc<dyn PluginHandler>) -> Result<Option<Self>, ConnectError> {
        let value = match std::env::var(ENV_PLUGIN_SOCKET) {
            Ok(value) if !value.is_empty() => value,
            _ => return Ok(None),
        };
        let stream = fd::adopt(&value)?;
        stream
            .set_nonblocking(true)
            .map_err(ConnectError::Register)?;
        let stream = UnixStream::from_std(stream).map_err(ConnectError::Register)?;
        Self::from_stream(stream, handler).map(Some)
    }

    /// Serves `handler` on an already connected socket. Must be called
    /// inside a tokio runtime.
    pub fn from_stream(
        stream: UnixStream,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Self, ConnectError> {
        let span = tracing::info_span!("nri_runtime_connection");
        let (trunk, client) = service::start_end(
            stream,
            span,
            ConnId::PLUGIN_SERVICE,
            |trunk| Arc::new(PluginServer::new(handler, trunk.clone())),
            RUNTIME_SERVICE,
        )
        .map_err(ConnectError::Register)?;
        Ok(RuntimeConnection { trunk, client })
    }

    /// Calls the runtime (RegisterPlugin, UpdateContainers). `timeout`
    /// bounds the wait and is passed to the runtime; `None` waits until the
    /// answer or the connection's end, as upstream's UpdateContainers does.
    pub async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Option<Duration>,
    ) -> Result<RuntimeResponse, CallError> {
        let method = request.method_name();
        let payload = self.client.call(method, &request, timeout).await?;
        RuntimeResponse::decode(method, payload).map_err(|error| CallError::Protocol {
            message: error.to_string(),
        })
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.trunk.close("closed by the plugin");
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.trunk.closed_reason().is_some()
    }

    /// Waits until the connection closes, and says why.
    pub async fn closed(&self) -> CallError {
        CallError::Closed {
            reason: self.trunk.closed().await,
        }
    }
}

impl Drop for RuntimeConnection {
    fn drop(&mut self) {
        self.trunk.close("closed by the plugin");
    }
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

/// How a plugin built on nri-core's stub reaches its runtime over ttrpc:
/// the socket a launching runtime handed over, or a socket path to dial.
#[derive(Debug, Clone)]
pub struct PluginConnector {
    path: PathBuf,
    launched: bool,
}

impl PluginConnector {
    /// The socket a launching runtime handed over if there is one
    /// (`NRI_PLUGIN_SOCKET` is set and not empty), else the socket at
    /// `path` (upstream's default is [`DEFAULT_SOCKET_PATH`](crate::DEFAULT_SOCKET_PATH)).
    pub fn from_environment(path: impl Into<PathBuf>) -> Self {
        PluginConnector {
            path: path.into(),
            launched: Self::launched_by_runtime(),
        }
    }

    /// Whether a runtime launched this process over ttrpc
    /// (`NRI_PLUGIN_SOCKET` is set and not empty).
    pub fn launched_by_runtime() -> bool {
        std::env::var_os(ENV_PLUGIN_SOCKET).is_some_and(|v| !v.is_empty())
    }

    /// The socket at `path`, whatever the environment says.
    pub fn dial(path: impl Into<PathBuf>) -> Self {
        PluginConnector {
            path: path.into(),
            launched: false,
        }
    }
}

#[async_trait::async_trait]
impl Connector for PluginConnector {
    async fn connect(
        &self,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Arc<dyn RuntimeLink>, ConnectFailure> {
        let connection = if self.launched {
            RuntimeConnection::from_environment(handler)?
                .ok_or("NRI_PLUGIN_SOCKET is no longer set")?
        } else {
            RuntimeConnection::connect(&self.path, handler).await?
        };
        Ok(Arc::new(connection))
    }

    fn launched(&self) -> bool {
        self.launched
    }

    fn target(&self) -> String {
        if self.launched {
            format!("the socket the runtime passed in {ENV_PLUGIN_SOCKET}")
        } else {
            self.path.display().to_string()
        }
    }
}
