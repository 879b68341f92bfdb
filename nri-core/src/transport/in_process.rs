//! The in-process transport: plugins that are Rust objects in the runtime's
//! own process (builtin plugins, tests). Messages move as values, with no
//! serialization, but with the same contract as a socket transport:
//! timeouts, closing from either side, and a plugin that panics is cut off
//! like one that crashed, without taking the runtime down.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use nri_core::proto::api::{ConfigureRequest, ConfigureResponse};
//! use nri_core::transport::{self, CallError, Origin, PluginHandler, PluginRequest, PluginResponse, Transport};
//! use nri_core::transport::in_process;
//!
//! struct Subscriber;
//!
//! #[nri_core::async_trait]
//! impl PluginHandler for Subscriber {
//!     async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
//!         match request {
//!             PluginRequest::Configure(_) => Ok(PluginResponse::Configure(Box::new(ConfigureResponse { events: 8 }))),
//!             other => Err(CallError::Unimplemented { method: other.method().name().into() }),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), CallError> {
//! let (runtime_side, connector) = in_process::transport();
//! let _plugin = connector.connect(Arc::new(Subscriber), Origin::Builtin).await?;
//! let accepted = runtime_side.accept().await.expect("a connection");
//! let reply = transport::call(accepted.connection.as_ref(), &ConfigureRequest::default(), Duration::from_secs(2)).await?;
//! assert_eq!(reply.events, 8);
//! # Ok(()) }
//! ```

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;

use tokio::sync::{mpsc, watch};

use super::{
    Accepted, CallError, CloseReason, Origin, PluginConnection, PluginHandler, PluginRequestRef,
    PluginResponse, RuntimeCall, RuntimeRequest, RuntimeResponse, Transport,
};

/// How many connections may wait to be accepted.
const ACCEPT_QUEUE: usize = 16;
/// How many Runtime-service calls of one plugin may wait to be answered.
const CALL_QUEUE: usize = 64;

/// A new in-process transport: the runtime's side and the connector that
/// hands it plugins.
pub fn transport() -> (InProcessTransport, InProcessConnector) {
    let (queue, incoming) = mpsc::channel(ACCEPT_QUEUE);
    (
        InProcessTransport {
            incoming: tokio::sync::Mutex::new(incoming),
        },
        InProcessConnector { queue },
    )
}

/// The runtime's side of the in-process transport.
#[derive(Debug)]
pub struct InProcessTransport {
    incoming: tokio::sync::Mutex<mpsc::Receiver<Accepted>>,
}

impl InProcessTransport {
    /// Stops accepting: later connects fail, and [`Transport::accept`]
    /// returns `None` once the queued connections are taken.
    pub async fn shut_down(&self) {
        self.incoming.lock().await.close();
    }
}

#[async_trait::async_trait]
impl Transport for InProcessTransport {
    async fn accept(&self) -> Option<Accepted> {
        self.incoming.lock().await.recv().await
    }
}

/// Connects in-process plugins to an [`InProcessTransport`].
#[derive(Debug, Clone)]
pub struct InProcessConnector {
    queue: mpsc::Sender<Accepted>,
}

impl InProcessConnector {
    /// Connects a plugin. Returns the plugin's end of the connection, from
    /// which it calls the runtime.
    pub async fn connect(
        &self,
        plugin: Arc<dyn PluginHandler>,
        origin: Origin,
    ) -> Result<RuntimeHandle, CallError> {
        let (calls_tx, calls) = mpsc::channel(CALL_QUEUE);
        let (closed, _) = watch::channel(None);
        let link = Arc::new(Link {
            closed,
            calls: Mutex::new(Some(calls_tx)),
        });
        let connection = Arc::new(InProcessConnection {
            plugin,
            origin,
            link: Arc::clone(&link),
        });
        self.queue
            .send(Accepted { connection, calls })
            .await
            .map_err(|_| CallError::Closed {
                reason: CloseReason::ClosedByPeer(
                    "the runtime no longer accepts connections".into(),
                ),
            })?;
        Ok(RuntimeHandle { link })
    }
}

/// Who closed an in-process connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    Runtime,
    Plugin,
    /// Neither: it broke (a handler panicked).
    Failure,
}

/// State both ends of one connection share.
#[derive(Debug)]
struct Link {
    /// `Some` once closed: by whom, and why.
    closed: watch::Sender<Option<(Closer, String)>>,
    /// The plugin's way to the runtime; taken on close so the runtime's call
    /// stream ends.
    calls: Mutex<Option<mpsc::Sender<RuntimeCall>>>,
}

impl Link {
    fn close(&self, by: Closer, reason: &str) {
        self.closed.send_if_modified(|closed| {
            if closed.is_some() {
                return false;
            }
            *closed = Some((by, reason.to_string()));
            true
        });
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// The error `end` reports once the connection is closed.
    fn closed_error(&self, end: Closer) -> Option<CallError> {
        self.closed.borrow().as_ref().map(|(by, text)| {
            let text = text.clone();
            let reason = match by {
                Closer::Failure => CloseReason::Failed(text),
                by if *by == end => CloseReason::ClosedHere(text),
                _ => CloseReason::ClosedByPeer(text),
            };
            CallError::Closed { reason }
        })
    }

    /// Resolves when the connection closes, with the error `end` reports.
    async fn wait_closed(&self, end: Closer) -> CallError {
        let mut watcher = self.closed.subscribe();
        let _ = watcher.wait_for(Option::is_some).await;
        self.closed_error(end).unwrap_or(CallError::Closed {
            reason: CloseReason::ClosedHere("closed".into()),
        })
    }
}

/// The runtime's end of one in-process connection.
struct InProcessConnection {
    plugin: Arc<dyn PluginHandler>,
    origin: Origin,
    link: Arc<Link>,
}

#[async_trait::async_trait]
impl PluginConnection for InProcessConnection {
    async fn call(
        &self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, CallError> {
        if let Some(closed) = self.link.closed_error(Closer::Runtime) {
            return Err(closed);
        }
        let method = request.method();
        // The plugin owns what it is handed, as it would after decoding.
        let request = request.to_owned();
        // Unwinding is caught, so a panicking plugin cannot take the
        // runtime down; dropping the future on timeout or close cancels the
        // plugin's work like a lost connection would.
        let handling = AssertUnwindSafe(self.plugin.handle(request)).catch_unwind();
        let outcome = tokio::select! {
            biased;
            handled = tokio::time::timeout(timeout, handling) => match handled {
                Ok(Ok(reply)) => reply,
                Ok(Err(_panic)) => {
                    let reason = format!("plugin panicked in {}", method.name());
                    self.link.close(Closer::Failure, &reason);
                    Err(CallError::Closed {
                        reason: CloseReason::Failed(reason),
                    })
                }
                Err(_) => Err(CallError::Timeout { after: timeout }),
            },
            closed = self.link.wait_closed(Closer::Runtime) => Err(closed),
        };
        match outcome {
            Ok(reply) if reply.method() != method => {
                Err(CallError::mismatched_reply(method, reply.method()))
            }
            other => other,
        }
    }

    async fn close(&self) {
        self.link.close(Closer::Runtime, "closed by the runtime");
    }

    fn origin(&self) -> Origin {
        self.origin
    }
}

/// The plugin's end of an in-process connection: calls the runtime.
#[derive(Debug)]
pub struct RuntimeHandle {
    link: Arc<Link>,
}

impl RuntimeHandle {
    /// Calls the runtime's `Runtime` service and waits at most `timeout`.
    pub async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Duration,
    ) -> Result<RuntimeResponse, CallError> {
        self.call_within(request, Some(timeout)).await
    }

    /// [`RuntimeHandle::call`], or without a deadline for `None`.
    async fn call_within(
        &self,
        request: RuntimeRequest,
        timeout: Option<Duration>,
    ) -> Result<RuntimeResponse, CallError> {
        let sender = self
            .link
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(sender) = sender else {
            return Err(self
                .link
                .closed_error(Closer::Plugin)
                .unwrap_or(CallError::Closed {
                    reason: CloseReason::ClosedHere("closed".into()),
                }));
        };
        let method = request.method_name();
        let (call, answer) = RuntimeCall::new(request);
        let exchange = async {
            sender.send(call).await.map_err(|_| CallError::Closed {
                reason: CloseReason::ClosedByPeer("the runtime stopped reading calls".into()),
            })?;
            answer.await.map_err(|_| CallError::Closed {
                reason: CloseReason::ClosedByPeer(format!(
                    "the runtime dropped {method} unanswered"
                )),
            })?
        };
        let answered = async {
            match timeout {
                Some(timeout) => tokio::time::timeout(timeout, exchange)
                    .await
                    .unwrap_or(Err(CallError::Timeout { after: timeout })),
                None => exchange.await,
            }
        };
        // An answer that arrived wins over a close that followed it.
        tokio::select! {
            biased;
            answered = answered => answered,
            closed = self.link.wait_closed(Closer::Plugin) => Err(closed),
        }
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.link.closed_error(Closer::Plugin).is_some()
    }

    /// Waits until the connection closes, and says why.
    pub async fn closed(&self) -> CallError {
        self.link.wait_closed(Closer::Plugin).await
    }

    /// Disconnects the plugin, as if its process had gone away.
    pub fn disconnect(&self) {
        self.link.close(Closer::Plugin, "the plugin disconnected");
    }
}

impl Drop for RuntimeHandle {
    fn drop(&mut self) {
        self.link.close(Closer::Plugin, "the plugin disconnected");
    }
}

#[async_trait::async_trait]
impl super::RuntimeLink for RuntimeHandle {
    async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Option<Duration>,
    ) -> Result<RuntimeResponse, CallError> {
        self.call_within(request, timeout).await
    }

    async fn closed(&self) -> CallError {
        RuntimeHandle::closed(self).await
    }

    fn close(&self) {
        self.disconnect();
    }
}

/// Lets the stub ([`crate::stub`]) connect a plugin in-process, as an
/// external plugin.
#[async_trait::async_trait]
impl super::Connector for InProcessConnector {
    async fn connect(
        &self,
        handler: Arc<dyn PluginHandler>,
    ) -> Result<Arc<dyn super::RuntimeLink>, super::ConnectFailure> {
        let end = InProcessConnector::connect(self, handler, Origin::External).await?;
        Ok(Arc::new(end))
    }

    fn target(&self) -> String {
        "the in-process runtime".into()
    }
}
