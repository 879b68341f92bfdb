//! [`Observed`]: the test kit's one transport wrapper. It passes every
//! connection and call through to the transport it wraps and tells an
//! [`Observer`] what crossed it: connections, failed launches, the
//! plugin's calls of the runtime with their answers, the runtime's calls
//! of the plugin with their results, and the runtime closing a connection.
//!
//! The simulator's call recorder and the plugin test's join progress are
//! two observers of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nri_core::discovery::{PluginKind, Preinstalled};
use nri_core::transport::{
    Accepted, CallError, CloseReason, LaunchError, Origin, PluginConnection, PluginRequestRef,
    PluginResponse, RuntimeCall, RuntimeRequest, RuntimeResponse, Transport,
};
use tokio::sync::mpsc;

/// How many of a plugin's calls of the runtime may wait to be passed on.
const CALL_QUEUE: usize = 64;

/// What an [`Observed`] transport reports. Every method but
/// [`connected`](Self::connected) has a default that ignores the report.
pub(crate) trait Observer: Send + Sync + 'static {
    /// What the observer keeps per connection.
    type Connection: Send + Sync + 'static;
    /// What it keeps of a plugin's call of the runtime until the answer.
    type Pending: Send + 'static;

    /// A connection was accepted, or a pre-installed plugin launched.
    fn connected(&self, launched: Option<&Preinstalled>) -> Self::Connection;

    /// Launching a pre-installed plugin failed.
    fn launch_failed(&self, error: &LaunchError) {
        let _ = error;
    }

    /// The plugin called the runtime; the call is passed on next.
    fn runtime_call(
        &self,
        connection: &Self::Connection,
        request: &RuntimeRequest,
    ) -> Self::Pending;

    /// The runtime answered a plugin's call (or could not take it).
    fn runtime_answered(
        &self,
        connection: &Self::Connection,
        pending: Self::Pending,
        answer: &Result<RuntimeResponse, CallError>,
    ) {
        let _ = (connection, pending, answer);
    }

    /// The plugin's stream of calls ended.
    fn calls_ended(&self, connection: &Self::Connection) {
        let _ = connection;
    }

    /// The runtime called the plugin, with this result after `elapsed`.
    fn plugin_called(
        &self,
        connection: &Self::Connection,
        request: PluginRequestRef<'_>,
        result: &Result<PluginResponse, CallError>,
        elapsed: Duration,
    ) {
        let _ = (connection, request, result, elapsed);
    }

    /// The runtime is closing or terminating the connection.
    fn closing(&self, connection: &Self::Connection) {
        let _ = connection;
    }
}

/// A transport whose connections and calls an [`Observer`] sees.
pub(crate) struct Observed<O> {
    inner: Arc<dyn Transport>,
    observer: Arc<O>,
}

impl<O: Observer> Observed<O> {
    /// `inner`, observed by `observer`.
    pub(crate) fn new(inner: Arc<dyn Transport>, observer: Arc<O>) -> Self {
        Observed { inner, observer }
    }

    /// The observer.
    #[cfg_attr(not(feature = "harness"), allow(dead_code))] // only the simulator asks
    pub(crate) fn observer(&self) -> &Arc<O> {
        &self.observer
    }

    fn wrap(&self, accepted: Accepted, launched: Option<&Preinstalled>) -> Accepted {
        let connection = Arc::new(self.observer.connected(launched));
        let (forward, calls) = mpsc::channel(CALL_QUEUE);
        tokio::spawn(relay_runtime_calls(
            accepted.calls,
            forward,
            Arc::clone(&self.observer),
            Arc::clone(&connection),
        ));
        Accepted {
            connection: Arc::new(ObservedConnection {
                inner: accepted.connection,
                observer: Arc::clone(&self.observer),
                connection,
            }),
            calls,
        }
    }
}

#[async_trait::async_trait]
impl<O: Observer> Transport for Observed<O> {
    async fn accept(&self) -> Option<Accepted> {
        let accepted = self.inner.accept().await?;
        Some(self.wrap(accepted, None))
    }

    fn launches(&self, kind: PluginKind) -> bool {
        self.inner.launches(kind)
    }

    async fn launch(&self, plugin: &Preinstalled) -> Result<Accepted, LaunchError> {
        match self.inner.launch(plugin).await {
            Ok(accepted) => Ok(self.wrap(accepted, Some(plugin))),
            Err(error) => {
                self.observer.launch_failed(&error);
                Err(error)
            }
        }
    }
}

/// Passes the plugin's calls on to the runtime, each answer back to the
/// plugin, and both to the observer.
async fn relay_runtime_calls<O: Observer>(
    mut from_plugin: mpsc::Receiver<RuntimeCall>,
    to_runtime: mpsc::Sender<RuntimeCall>,
    observer: Arc<O>,
    connection: Arc<O::Connection>,
) {
    while let Some(call) = from_plugin.recv().await {
        let (request, responder) = call.into_parts();
        let pending = observer.runtime_call(&connection, &request);
        let (forwarded, answer) = RuntimeCall::new(request);
        if to_runtime.send(forwarded).await.is_err() {
            let result = Err(CallError::Closed {
                reason: CloseReason::ClosedByPeer("the runtime stopped taking calls".into()),
            });
            observer.runtime_answered(&connection, pending, &result);
            responder.reply(result);
            break;
        }
        let observer = Arc::clone(&observer);
        let connection = Arc::clone(&connection);
        tokio::spawn(async move {
            let result = answer.await.unwrap_or_else(|_| {
                Err(CallError::Closed {
                    reason: CloseReason::ClosedByPeer("the runtime dropped the call".into()),
                })
            });
            observer.runtime_answered(&connection, pending, &result);
            responder.reply(result);
        });
    }
    observer.calls_ended(&connection);
}

/// A plugin connection whose calls and closing the observer sees.
struct ObservedConnection<O: Observer> {
    inner: Arc<dyn PluginConnection>,
    observer: Arc<O>,
    connection: Arc<O::Connection>,
}

#[async_trait::async_trait]
impl<O: Observer> PluginConnection for ObservedConnection<O> {
    async fn call(
        &self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, CallError> {
        let started = Instant::now();
        let result = self.inner.call(request, timeout).await;
        self.observer
            .plugin_called(&self.connection, request, &result, started.elapsed());
        result
    }

    async fn close(&self) {
        self.observer.closing(&self.connection);
        self.inner.close().await;
    }

    fn origin(&self) -> Origin {
        self.inner.origin()
    }

    async fn terminate(&self, grace: Duration) {
        self.observer.closing(&self.connection);
        self.inner.terminate(grace).await;
    }
}
