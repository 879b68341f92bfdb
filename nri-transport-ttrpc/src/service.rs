//! The two NRI services on ttrpc (containerd/nri `pkg/api/api_ttrpc.pb.go`):
//! their wire names, how nri-core's message enums are serialized into
//! envelopes, and the servers of each side.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use nri_core::transport::{
    Method, PayloadError, PluginHandler, PluginRequest, PluginRequestRef, PluginResponse,
    RuntimeCall, RuntimeRequest, RuntimeResponse, serving,
};
use tokio::sync::mpsc;

use crate::client::{self, Client};
use crate::frame::ConnId;
use crate::message::code;
use crate::message::envelope::{self, EncodeError, Payload};
use crate::server::{Reply, ServerInbound, Service, Status};
use crate::trunk::{Inbound, TrunkHandle};

/// One end of an NRI connection: starts the trunk on `stream`, serves the
/// service `serve` makes (it may keep the trunk) on conn `served`, and
/// returns a client of `called` on the other conn. The runtime serves
/// `Runtime` on conn 2 and calls `Plugin` on conn 1; a plugin the reverse.
pub(crate) fn start_end(
    stream: tokio::net::UnixStream,
    span: tracing::Span,
    served: ConnId,
    serve: impl FnOnce(&TrunkHandle) -> Arc<dyn Service>,
    called: &'static str,
) -> std::io::Result<(TrunkHandle, Client)> {
    let calling = if served == ConnId::PLUGIN_SERVICE {
        ConnId::RUNTIME_SERVICE
    } else {
        ConnId::PLUGIN_SERVICE
    };
    TrunkHandle::start(stream, span, |trunk| {
        let (client, responses) = client::pair(calling, called, trunk.clone());
        let server = ServerInbound::new(served, serve(trunk), trunk.clone());
        let endpoints: Vec<(ConnId, Box<dyn Inbound>)> =
            vec![(served, Box::new(server)), (calling, Box::new(responses))];
        (endpoints, client)
    })
}

/// The `Plugin` service, served by plugins on conn 1, and the `Runtime`
/// service, served by the runtime on conn 2.
pub use nri_core::proto::defaults::{PLUGIN_SERVICE, RUNTIME_SERVICE};

macro_rules! payload {
    ($($ty:ty),*) => {$(
        impl Payload for $ty {
            fn len(&self) -> usize {
                self.encoded_len()
            }
            fn write(&self, out: &mut Vec<u8>) -> Result<(), prost::EncodeError> {
                // The envelope already knows the length: no second pass.
                self.encode_raw(out);
                Ok(())
            }
        }
    )*};
}

payload!(
    PluginRequest,
    PluginResponse,
    RuntimeRequest,
    RuntimeResponse
);

/// Only requests go through [`envelope::encode_request_into`], which does
/// not ask for the length.
impl Payload for PluginRequestRef<'_> {
    fn len(&self) -> usize {
        self.encoded_len()
    }
    fn write(&self, out: &mut Vec<u8>) -> Result<(), prost::EncodeError> {
        // Each event's pod and container without a length pass either.
        self.append_to(out);
        Ok(())
    }
}

/// Serializes a reply; one too large for ttrpc is answered with code 8, as
/// in Go, and one that cannot be serialized with code 13.
fn body(payload: &impl Payload) -> Reply {
    envelope::encode_reply(0, payload).map_err(|error| match error {
        EncodeError::Oversized(oversized) => {
            Status::new(code::RESOURCE_EXHAUSTED, oversized.to_string())
        }
        other => Status::new(code::INTERNAL, format!("cannot encode reply: {other}")),
    })
}

fn undecodable(error: PayloadError) -> Status {
    match error {
        PayloadError::UnknownMethod(method) => {
            Status::new(code::UNIMPLEMENTED, format!("method {method}"))
        }
        other => Status::new(code::INTERNAL, other.to_string()),
    }
}

/// The plugin side's server of the `Plugin` service: decodes each call for
/// the plugin's [`PluginHandler`] and encodes its answer. A handler that
/// panics is treated like a crash: the connection closes, as it would if
/// the plugin's process died.
pub struct PluginServer {
    handler: Arc<dyn PluginHandler>,
    trunk: TrunkHandle,
}

impl PluginServer {
    /// Serves `handler`; a panic in it closes `trunk`.
    pub fn new(handler: Arc<dyn PluginHandler>, trunk: TrunkHandle) -> Self {
        PluginServer { handler, trunk }
    }
}

impl Service for PluginServer {
    fn name(&self) -> &'static str {
        PLUGIN_SERVICE
    }

    fn call(&self, method: &str, payload: Bytes) -> Result<BoxFuture<'static, Reply>, Status> {
        let method = Method::from_name(method)
            .ok_or_else(|| Status::new(code::UNIMPLEMENTED, format!("method {method}")))?;
        let request = self.handler.decode(method, &payload).map_err(undecodable)?;
        let handler = Arc::clone(&self.handler);
        let trunk = self.trunk.clone();
        Ok(async move {
            match serving::serve_plugin_call(handler.as_ref(), request).await {
                Ok(reply) => body(&reply),
                Err(failure) => {
                    let status = failure.status();
                    if failure.closes_connection() {
                        trunk.close(&status.message);
                    }
                    Err(Status::new(status.code, status.message))
                }
            }
        }
        .boxed())
    }
}

/// The runtime side's server of the `Runtime` service: hands each call to
/// nri-core as a [`RuntimeCall`], in arrival order, and sends its answer.
///
/// Until a registration succeeds, the connection may carry one request at
/// a time, and it must be RegisterPlugin: anything else (another method, a
/// malformed request, a second request meanwhile) closes the connection
/// unanswered, so a peer that never registers can make the runtime do no
/// more than read and drop what it sends.
pub struct RuntimeServer {
    calls: mpsc::Sender<RuntimeCall>,
    registration: Arc<Registration>,
}

/// Where a connection's registration is, and its place among the
/// connections waiting to register (left once registered).
#[derive(Debug, Default)]
pub struct Registration {
    state: std::sync::atomic::AtomicU8,
    ticket: nri_host::HeldTicket,
}

impl Registration {
    const NONE: u8 = 0;
    const PENDING: u8 = 1;
    const DONE: u8 = 2;

    /// A connection that waits to register with `ticket`.
    pub fn waiting(ticket: nri_host::Ticket) -> Self {
        Registration {
            state: std::sync::atomic::AtomicU8::new(Self::NONE),
            ticket: nri_host::HeldTicket::new(Some(ticket)),
        }
    }

    fn set(&self, state: u8) {
        self.state
            .store(state, std::sync::atomic::Ordering::Release);
        if state == Self::DONE {
            self.ticket.admit();
        }
    }

    /// Whether the plugin on this connection has registered.
    pub fn is_done(&self) -> bool {
        self.state.load(std::sync::atomic::Ordering::Acquire) == Self::DONE
    }

    /// Starts a registration unless one is under way or done.
    fn begin(&self) -> bool {
        self.state
            .compare_exchange(
                Self::NONE,
                Self::PENDING,
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
            )
            .is_ok()
    }
}

impl RuntimeServer {
    /// A server delivering calls to `calls`, recording the registration in
    /// `registration`.
    pub fn new(calls: mpsc::Sender<RuntimeCall>, registration: Arc<Registration>) -> Self {
        RuntimeServer {
            calls,
            registration,
        }
    }
}

impl Service for RuntimeServer {
    fn name(&self) -> &'static str {
        RUNTIME_SERVICE
    }

    fn call(&self, method: &str, payload: Bytes) -> Result<BoxFuture<'static, Reply>, Status> {
        let registration = (!self.registration.is_done()).then(|| Arc::clone(&self.registration));
        let undone = |status: Status| {
            if let Some(registration) = &registration {
                registration.set(Registration::NONE);
            }
            status
        };
        let request = RuntimeRequest::decode(method, payload)
            .map_err(undecodable)
            .map_err(undone)?;
        let answer = serving::deliver_runtime_call(&self.calls, request)
            .map_err(|status| undone(Status::new(status.code, status.message)))?;
        Ok(async move {
            let answer = answer.await;
            if let Some(registration) = registration {
                registration.set(match answer {
                    Ok(_) => Registration::DONE,
                    Err(_) => Registration::NONE,
                });
            }
            match answer {
                Ok(reply) => body(&reply),
                Err(status) => Err(Status::new(status.code, status.message)),
            }
        }
        .boxed())
    }

    fn admits(&self, method: Option<&str>) -> bool {
        self.registration.is_done()
            || (method == Some(REGISTER_PLUGIN) && self.registration.begin())
    }
}

/// The method a plugin registers with.
const REGISTER_PLUGIN: &str = "RegisterPlugin";
