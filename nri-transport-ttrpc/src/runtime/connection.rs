//! The runtime's end of one plugin connection: a ttrpc client of the
//! plugin's `Plugin` service on conn 1 and a server of the `Runtime`
//! service on conn 2, over one trunk.

use std::sync::Arc;
use std::time::Duration;

use nri_core::transport::{
    Accepted, CallError, Origin, PluginConnection, PluginRequestRef, PluginResponse,
};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::frame::ConnId;
use crate::service::{self, PLUGIN_SERVICE, Registration, RuntimeServer};
use crate::trunk::TrunkHandle;
use nri_host::{Admission, Process};

/// How many of a plugin's Runtime-service calls may wait for nri-core.
const CALL_QUEUE: usize = 64;

/// The runtime's end of a plugin connection over ttrpc.
pub struct TtrpcConnection {
    trunk: TrunkHandle,
    client: Client,
    origin: Origin,
    process: Option<Process>,
}

impl std::fmt::Debug for TtrpcConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtrpcConnection")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Starts the runtime's end on `stream` and returns it as nri-core wants it.
/// An external plugin's connection waits in `admission` until it registers.
/// If it cannot start, a launched plugin's process is killed.
pub(crate) fn start(
    stream: UnixStream,
    origin: Origin,
    process: Option<Process>,
    admission: Option<&Arc<Admission>>,
) -> std::io::Result<Accepted> {
    let peer_pid = stream.peer_cred().ok().and_then(|cred| cred.pid());
    let span = tracing::info_span!("nri_plugin_connection", ?origin, peer_pid);
    let (calls_tx, calls) = mpsc::channel(CALL_QUEUE);
    let (trunk, client) = service::start_end(
        stream,
        span,
        ConnId::RUNTIME_SERVICE,
        |trunk| {
            let registration = match admission {
                Some(admission) => {
                    let trunk = trunk.clone();
                    Registration::waiting(admission.enter(move || {
                        trunk.close("too many connections wait to register");
                    }))
                }
                None => Registration::default(),
            };
            Arc::new(RuntimeServer::new(calls_tx, Arc::new(registration)))
        },
        PLUGIN_SERVICE,
    )
    .inspect_err(|_| {
        if let Some(process) = &process {
            process.kill();
        }
    })?;
    tracing::debug!(?origin, peer_pid, "plugin connection started");
    Ok(Accepted {
        connection: Arc::new(TtrpcConnection {
            trunk,
            client,
            origin,
            process,
        }),
        calls,
    })
}

#[async_trait::async_trait]
impl PluginConnection for TtrpcConnection {
    async fn call(
        &self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, CallError> {
        let method = request.method();
        let payload = self
            .client
            .call(method.name(), &request, Some(timeout))
            .await?;
        PluginResponse::decode(method, payload).map_err(|error| CallError::Protocol {
            message: error.to_string(),
        })
    }

    async fn close(&self) {
        self.trunk.close("closed by the runtime");
    }

    fn origin(&self) -> Origin {
        self.origin
    }

    async fn terminate(&self, grace: Duration) {
        self.trunk.close("closed by the runtime");
        if let Some(process) = &self.process {
            process.terminate(grace).await;
        }
    }
}
