//! The transport a plugin reaches its runtime on.

use std::sync::Arc;

use nri_core::transport::Connector;

/// Where a plugin dials its runtime when no runtime launched it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeAddress {
    /// The runtime's NRI socket, over ttrpc (what containerd and CRI-O
    /// serve).
    #[cfg(feature = "ttrpc")]
    Ttrpc(std::path::PathBuf),
    /// A runtime's gRPC endpoint (`unix:///path` or a loopback
    /// `IP:PORT`).
    #[cfg(feature = "grpc")]
    Grpc(nri_transport_grpc::Endpoint),
}

impl Default for RuntimeAddress {
    /// Upstream's socket, `/var/run/nri/nri.sock`, over ttrpc (with the
    /// `ttrpc` feature; else the gRPC socket `/var/run/nri/nri-grpc.sock`).
    fn default() -> Self {
        #[cfg(feature = "ttrpc")]
        {
            RuntimeAddress::Ttrpc(nri_transport_ttrpc::DEFAULT_SOCKET_PATH.into())
        }
        #[cfg(not(feature = "ttrpc"))]
        {
            RuntimeAddress::Grpc(nri_transport_grpc::Endpoint::unix(
                nri_transport_grpc::DEFAULT_GRPC_SOCKET_PATH,
            ))
        }
    }
}

/// Why no connector could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The gRPC endpoint a launching runtime set is unusable.
    #[cfg(feature = "grpc")]
    #[error("the runtime's gRPC endpoint in the environment is unusable: {0}")]
    GrpcEndpoint(#[from] nri_transport_grpc::EndpointError),
}

/// How to reach the runtime: over the transport a launching runtime
/// chose (`NRI_GRPC_RUNTIME_ENDPOINT`, else `NRI_PLUGIN_SOCKET`), else by
/// dialing `address`. Read the environment early, before the process
/// opens sockets of its own (see
/// `nri_transport_ttrpc::RuntimeConnection::from_environment`).
pub fn connector(address: &RuntimeAddress) -> Result<Arc<dyn Connector>, ConnectorError> {
    #[cfg(feature = "grpc")]
    if nri_transport_grpc::PluginConnector::launched_by_runtime() {
        let fallback = match address {
            RuntimeAddress::Grpc(endpoint) => endpoint.clone(),
            #[allow(unreachable_patterns)]
            _ => nri_transport_grpc::Endpoint::unix(nri_transport_grpc::DEFAULT_GRPC_SOCKET_PATH),
        };
        let connector = nri_transport_grpc::PluginConnector::from_environment(fallback)?;
        return Ok(Arc::new(connector));
    }
    #[cfg(feature = "ttrpc")]
    if nri_transport_ttrpc::PluginConnector::launched_by_runtime() {
        let fallback = match address {
            RuntimeAddress::Ttrpc(path) => path.clone(),
            #[allow(unreachable_patterns)]
            _ => nri_transport_ttrpc::DEFAULT_SOCKET_PATH.into(),
        };
        return Ok(Arc::new(
            nri_transport_ttrpc::PluginConnector::from_environment(fallback),
        ));
    }
    Ok(match address {
        #[cfg(feature = "ttrpc")]
        RuntimeAddress::Ttrpc(path) => {
            Arc::new(nri_transport_ttrpc::PluginConnector::dial(path.clone()))
        }
        #[cfg(feature = "grpc")]
        RuntimeAddress::Grpc(endpoint) => {
            Arc::new(nri_transport_grpc::PluginConnector::dial(endpoint.clone()))
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Not launched by a runtime (the test process has no NRI variables):
    /// the address given is dialed. The launched cases run in
    /// `examples/rust/tests` and the harness's gRPC run, as real processes.
    #[test]
    fn without_a_launching_runtime_the_address_is_dialed() {
        assert!(std::env::var_os("NRI_PLUGIN_SOCKET").is_none());
        assert!(std::env::var_os("NRI_GRPC_RUNTIME_ENDPOINT").is_none());
        #[cfg(feature = "ttrpc")]
        {
            assert_eq!(
                RuntimeAddress::default(),
                RuntimeAddress::Ttrpc("/var/run/nri/nri.sock".into())
            );
            let dialed = connector(&RuntimeAddress::Ttrpc("/run/test/nri.sock".into())).unwrap();
            assert_eq!(dialed.target(), "/run/test/nri.sock");
            assert!(!dialed.launched());
        }
        #[cfg(feature = "grpc")]
        {
            let endpoint = nri_transport_grpc::Endpoint::unix("/run/test/nri-grpc.sock");
            let dialed = connector(&RuntimeAddress::Grpc(endpoint.clone())).unwrap();
            assert_eq!(dialed.target(), endpoint.to_string());
            assert!(!dialed.launched());
        }
    }
}
