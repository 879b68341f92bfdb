//! How plugins reach the runtime: the [`Harness`] a scenario runs over, and
//! its in-process implementation.

use std::sync::Arc;
use std::time::Duration;

use nri_core::transport::PluginHandler;
use nri_core::transport::in_process::{self, InProcessConnector, RuntimeHandle};
use nri_core::transport::{
    CallError, Origin, RuntimeLink, RuntimeRequest, RuntimeResponse, Transport,
};

/// A transport under test, with the means to connect plugins to it.
///
/// The runtime side is [`transport`](Harness::transport), which a scenario
/// passes to [`Adaptation::start`](nri_core::adaptation::Adaptation::start);
/// the plugin side is [`connect`](Harness::connect), which serves a plugin's
/// handler over the transport's wire and returns the plugin's end of the
/// connection.
#[async_trait::async_trait]
pub trait Harness: Send + Sync + 'static {
    /// The harness's name, for messages.
    fn name(&self) -> &str;

    /// The runtime's side of the transport. Every call returns the same
    /// transport; adaptations use it one after the other.
    fn transport(&self) -> Arc<dyn Transport>;

    /// Connects a plugin served by `plugin` to the runtime. The plugin is not
    /// registered yet: it calls `RegisterPlugin` through the returned end.
    async fn connect(
        &self,
        plugin: Arc<dyn PluginHandler>,
    ) -> Result<Box<dyn PluginEnd>, CallError>;

    /// Whether [`conformance_suite!`](crate::conformance_suite) runs the
    /// scenarios on tokio's paused clock. Only a transport without real
    /// I/O, whose every wait is a tokio timer, may say yes (the in-process
    /// one): the clock then jumps to the next timer whenever every task is
    /// idle, so the fault matrix's timeouts cost no real time and fire at
    /// their exact instant. Sockets and processes keep real time.
    fn paused_clock() -> bool
    where
        Self: Sized,
    {
        false
    }
}

/// The plugin's end of one connection: what a plugin uses to call the
/// runtime's `Runtime` service and to go away.
#[async_trait::async_trait]
pub trait PluginEnd: Send + Sync + 'static {
    /// Calls the runtime (RegisterPlugin, UpdateContainers) and waits at
    /// most `timeout` for the answer.
    async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Duration,
    ) -> Result<RuntimeResponse, CallError>;

    /// Disconnects, as if the plugin's process had gone away. Harmless when
    /// already closed.
    async fn disconnect(&self);

    /// Waits until the connection is closed, by either side.
    async fn closed(&self);

    /// Whether the connection is closed.
    fn is_closed(&self) -> bool;
}

/// The harness of the in-process transport
/// ([`nri_core::transport::in_process`]).
#[derive(Debug)]
pub struct InProcessHarness {
    transport: Arc<in_process::InProcessTransport>,
    connector: InProcessConnector,
}

impl InProcessHarness {
    /// A harness with a fresh in-process transport.
    pub fn new() -> Self {
        let (transport, connector) = in_process::transport();
        InProcessHarness {
            transport: Arc::new(transport),
            connector,
        }
    }
}

impl Default for InProcessHarness {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Harness for InProcessHarness {
    fn name(&self) -> &str {
        "in-process"
    }

    fn paused_clock() -> bool {
        true
    }

    fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.transport) as Arc<dyn Transport>
    }

    async fn connect(
        &self,
        plugin: Arc<dyn PluginHandler>,
    ) -> Result<Box<dyn PluginEnd>, CallError> {
        let handle = self.connector.connect(plugin, Origin::External).await?;
        Ok(Box::new(InProcessEnd(handle)))
    }
}

/// A plugin-side transport's link to the runtime is a plugin's end,
/// whatever transport it is and whatever process serves the plugin.
#[async_trait::async_trait]
impl PluginEnd for Arc<dyn RuntimeLink> {
    async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Duration,
    ) -> Result<RuntimeResponse, CallError> {
        RuntimeLink::call(self.as_ref(), request, Some(timeout)).await
    }

    async fn disconnect(&self) {
        RuntimeLink::close(self.as_ref());
        let _ = RuntimeLink::closed(self.as_ref()).await;
    }

    async fn closed(&self) {
        let _ = RuntimeLink::closed(self.as_ref()).await;
    }

    fn is_closed(&self) -> bool {
        use futures::FutureExt as _;
        RuntimeLink::closed(self.as_ref()).now_or_never().is_some()
    }
}

/// [`PluginEnd`] over a [`RuntimeHandle`].
struct InProcessEnd(RuntimeHandle);

#[async_trait::async_trait]
impl PluginEnd for InProcessEnd {
    async fn call(
        &self,
        request: RuntimeRequest,
        timeout: Duration,
    ) -> Result<RuntimeResponse, CallError> {
        self.0.call(request, timeout).await
    }

    async fn disconnect(&self) {
        self.0.disconnect();
    }

    async fn closed(&self) {
        self.0.closed().await;
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}
