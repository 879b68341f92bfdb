//! The harness of the ttrpc transport ([`nri_transport_ttrpc`]): the
//! runtime listens on a real unix socket in a temporary directory and every
//! plugin dials it from this process, serving its handler over the upstream
//! wire protocol.

use std::sync::Arc;

use nri_core::transport::PluginHandler;
use nri_core::transport::{CallError, RuntimeLink, Transport};
use nri_transport_ttrpc::{RuntimeConnection, TtrpcTransport};

use super::harness::{Harness, PluginEnd};

/// Runtime and plugins in one process over real unix sockets.
#[derive(Debug)]
pub struct TtrpcHarness {
    transport: Arc<TtrpcTransport>,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TtrpcHarness {
    /// A harness listening on a fresh socket.
    pub fn new() -> std::io::Result<Self> {
        Self::configured(|transport| transport)
    }

    /// A harness whose transport `configure` sets up (limits).
    pub fn configured(
        configure: impl FnOnce(TtrpcTransport) -> TtrpcTransport,
    ) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("nri").join("nri.sock");
        let transport = TtrpcTransport::listen(&socket).map_err(std::io::Error::other)?;
        Ok(TtrpcHarness {
            transport: Arc::new(configure(transport)),
            socket,
            _dir: dir,
        })
    }

    /// The socket plugins dial.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// Stops listening, closing the socket, and listens again on the same
    /// path, as a runtime that restarts does. Adaptations started before
    /// must be stopped first; start a new one on the harness.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.transport.shut_down();
        let transport = TtrpcTransport::listen(&self.socket).map_err(std::io::Error::other)?;
        self.transport = Arc::new(transport);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Harness for TtrpcHarness {
    fn name(&self) -> &str {
        "ttrpc"
    }

    fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.transport) as Arc<dyn Transport>
    }

    async fn connect(
        &self,
        plugin: Arc<dyn PluginHandler>,
    ) -> Result<Box<dyn PluginEnd>, CallError> {
        let connection = RuntimeConnection::connect(&self.socket, plugin)
            .await
            .map_err(|error| CallError::Closed {
                reason: nri_core::transport::CloseReason::Failed(error.to_string()),
            })?;
        let link: Arc<dyn RuntimeLink> = Arc::new(connection);
        Ok(Box::new(link))
    }
}
