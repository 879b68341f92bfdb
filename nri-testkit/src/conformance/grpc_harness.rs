//! The harness of the gRPC transport ([`nri_transport_grpc`]): the runtime
//! serves on a real unix socket in a temporary directory, every plugin
//! serves its handler on a socket of its own next to it and registers from
//! this process.

use std::sync::Arc;

use nri_core::transport::PluginHandler;
use nri_core::transport::{CallError, RuntimeLink, Transport};
use nri_transport_grpc::{Endpoint, GrpcTransport, RuntimeConnection};

use super::harness::{Harness, PluginEnd};

/// Runtime and plugins in one process over real unix sockets, on gRPC.
#[derive(Debug)]
pub struct GrpcHarness {
    transport: Arc<GrpcTransport>,
    _dir: tempfile::TempDir,
}

impl GrpcHarness {
    /// A harness serving on a fresh socket. Must be called inside a tokio
    /// runtime.
    pub fn new() -> std::io::Result<Self> {
        Self::configured(|transport| transport)
    }

    /// A harness whose transport `configure` sets up (limits, timeouts).
    pub fn configured(
        configure: impl FnOnce(GrpcTransport) -> GrpcTransport,
    ) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("nri").join("nri-grpc.sock");
        let transport = GrpcTransport::listen(&socket).map_err(std::io::Error::other)?;
        Ok(GrpcHarness {
            transport: Arc::new(configure(transport)),
            _dir: dir,
        })
    }

    /// Where plugins register.
    pub fn endpoint(&self) -> &Endpoint {
        self.transport.endpoint()
    }
}

#[async_trait::async_trait]
impl Harness for GrpcHarness {
    fn name(&self) -> &str {
        "grpc"
    }

    fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.transport) as Arc<dyn Transport>
    }

    async fn connect(
        &self,
        plugin: Arc<dyn PluginHandler>,
    ) -> Result<Box<dyn PluginEnd>, CallError> {
        let connection = RuntimeConnection::connect(self.transport.endpoint(), plugin)
            .await
            .map_err(|error| CallError::Closed {
                reason: nri_core::transport::CloseReason::Failed(error.to_string()),
            })?;
        let link: Arc<dyn RuntimeLink> = Arc::new(connection);
        Ok(Box::new(link))
    }
}
