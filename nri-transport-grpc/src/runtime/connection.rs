//! The runtime's end of one plugin session: a client of the plugin's
//! `Plugin` service on the connection the runtime dialed. A launched
//! plugin's connection exists before the plugin has registered; its calls
//! fail as closed until then.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use nri_core::transport::{
    CallError, CloseReason, Origin, PluginConnection, PluginRequestRef, PluginResponse,
};
use nri_host::Process;

use crate::client::{self, Client};
use crate::codec;
use crate::protocol::PLUGIN_SERVICE;

/// The runtime's end of a plugin session over gRPC.
pub struct GrpcConnection {
    state: Mutex<State>,
    origin: Origin,
    process: Option<Process>,
}

/// Where the session is.
enum State {
    /// Launched, not registered yet.
    Pending,
    /// Dialed.
    Open(Client),
    /// Closed by the runtime before or after it was dialed.
    Closed,
}

impl std::fmt::Debug for GrpcConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcConnection")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl GrpcConnection {
    pub(crate) fn new(origin: Origin, process: Option<Process>) -> Self {
        GrpcConnection {
            state: Mutex::new(State::Pending),
            origin,
            process,
        }
    }

    /// Gives the connection its dialed client; false (and the client is
    /// closed) if the runtime closed the connection meanwhile.
    pub(crate) fn attach(&self, client: Client) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            State::Pending => {
                *state = State::Open(client);
                true
            }
            State::Open(_) | State::Closed => {
                client.close("the runtime closed this plugin's connection");
                false
            }
        }
    }

    fn client(&self) -> Result<Client, CallError> {
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Open(client) => Ok(client.clone()),
            State::Pending => Err(CallError::Closed {
                reason: CloseReason::Failed("the plugin has not registered".into()),
            }),
            State::Closed => Err(CallError::Closed {
                reason: CloseReason::ClosedHere("closed by the runtime".into()),
            }),
        }
    }

    /// The launched plugin's process, if any.
    pub(crate) fn process(&self) -> Option<&Process> {
        self.process.as_ref()
    }
}

#[async_trait::async_trait]
impl PluginConnection for GrpcConnection {
    async fn call(
        &self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, CallError> {
        let client = self.client()?;
        let method = request.method();
        let message = codec::encode(&request).map_err(|message| CallError::Protocol { message })?;
        let reply = client
            .call(
                client::path(PLUGIN_SERVICE, method.name()),
                method.name(),
                message,
                Some(timeout),
                &[],
            )
            .await?;
        PluginResponse::decode(method, reply).map_err(|error| CallError::Protocol {
            message: error.to_string(),
        })
    }

    async fn close(&self) {
        let previous = std::mem::replace(
            &mut *self.state.lock().unwrap_or_else(PoisonError::into_inner),
            State::Closed,
        );
        if let State::Open(client) = previous {
            client.close("closed by the runtime");
        }
    }

    fn origin(&self) -> Origin {
        self.origin
    }

    async fn terminate(&self, grace: Duration) {
        self.close().await;
        if let Some(process) = &self.process {
            process.terminate(grace).await;
        }
    }
}
