//! The plugin side: the stub a plugin is built on.
//!
//! A plugin is a type implementing [`Plugin`], with a handler for each
//! event it cares about. The [`#[nri_core::plugin]`](crate::plugin)
//! attribute on the impl block derives the subscription from the handlers
//! it defines. [`Stub`] connects the plugin to its runtime through a
//! plugin-side transport ([`Connector`]), registers it, answers
//! `Configure` and `Synchronize`, routes every event to its handler, and
//! keeps going until the runtime stops it (Shutdown, then the connection's
//! end), the connection is lost, or [`Stub::stop`] is called.
//!
//! # A plugin
//!
//! ```
//! use std::sync::Arc;
//!
//! use nri_core::proto::api::{Container, ContainerAdjustment, CreateContainerResponse, PodSandbox};
//! use nri_core::stub::{HandlerResult, Plugin, Stub, StubError};
//! use nri_core::transport::Connector;
//!
//! /// Labels every container with the pod it runs in.
//! struct PodLabel;
//!
//! #[nri_core::plugin]
//! impl Plugin for PodLabel {
//!     async fn create_container(
//!         &self,
//!         pod: PodSandbox,
//!         _container: Container,
//!     ) -> HandlerResult<CreateContainerResponse> {
//!         let mut adjust = ContainerAdjustment::default();
//!         adjust.annotations.insert("example.com/pod".into(), pod.name);
//!         Ok(CreateContainerResponse { adjust: Some(adjust), ..Default::default() })
//!     }
//! }
//!
//! /// Runs the plugin until its runtime goes away. A plugin binary passes
//! /// nri-transport-ttrpc's connector, which dials the runtime's socket or
//! /// takes the one a launching runtime handed over.
//! async fn run(connector: Arc<dyn Connector>) -> Result<(), StubError> {
//!     let stub = Stub::builder(PodLabel).index("10").name("pod-label").build(connector)?;
//!     stub.run().await
//! }
//! # let (_runtime, connector) = nri_core::transport::in_process::transport();
//! # let _ = run(Arc::new(connector));
//! ```
//!
//! # A plugin's `main()`
//!
//! A plugin binary needs an async runtime, the connector for the transport
//! its runtime speaks, and a way to stop on SIGINT and SIGTERM. The
//! `nri-plugin` crate does all three: `nri_plugin::main(Stub::builder(PodLabel))`
//! is a whole `main()`, with the connector chosen from the environment a
//! launching runtime sets (ttrpc or gRPC) or a default socket. Spelled
//! out, it is:
//!
//! ```
//! use std::process::ExitCode;
//! use std::sync::Arc;
//!
//! use nri_core::stub::Stub;
//! use nri_core::transport::Connector;
//! # use nri_core::proto::api::{Container, PodSandbox};
//! # use nri_core::stub::{HandlerResult, Plugin};
//! # struct PodLabel;
//! # #[nri_core::plugin]
//! # impl Plugin for PodLabel {
//! #     async fn start_container(&self, _: PodSandbox, _: Container) -> HandlerResult<()> { Ok(()) }
//! # }
//!
//! /// `connector` is a transport crate's (e.g.
//! /// `nri_transport_ttrpc::PluginConnector::from_environment(path)`, which
//! /// takes the socket a launching runtime handed over); `stop` completes on
//! /// a shutdown signal (e.g. `nri_plugin::shutdown_signal()`).
//! fn plugin_main(connector: Arc<dyn Connector>, stop: impl Future<Output = ()>) -> ExitCode {
//!     let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
//!         Ok(runtime) => runtime,
//!         Err(error) => {
//!             eprintln!("cannot start the async runtime: {error}");
//!             return ExitCode::FAILURE;
//!         }
//!     };
//!     let outcome = match Stub::builder(PodLabel).index("10").name("pod-label").build(connector) {
//!         // Ok once the runtime sent Shutdown and closed, or `stop`
//!         // completed; an error if the connection was lost or never made.
//!         Ok(stub) => runtime.block_on(stub.run_until(stop)),
//!         Err(error) => Err(error),
//!     };
//!     match outcome {
//!         Ok(()) => ExitCode::SUCCESS,
//!         Err(error) => {
//!             eprintln!("pod-label: {error}");
//!             ExitCode::FAILURE
//!         }
//!     }
//! }
//! # let _ = |connector| plugin_main(connector, std::future::ready(()));
//! ```
//!
//! The repository's `examples/rust/plugin.rs` is a complete plugin, and
//! `examples/rust/runtime.rs` a runtime to run it against.
//!
//! # What the stub does for the plugin
//!
//! - **Identity**: the index and name come from the options, the
//!   `NRI_PLUGIN_IDX`/`NRI_PLUGIN_NAME` variables or the executable's
//!   `NN-name` (see [`identity`] for the precedence).
//! - **Handshake**: registration, `Configure` and its answer must all
//!   happen within the registration timeout (5 s unless set), so a runtime
//!   that never configures the plugin cannot hang it (upstream waits
//!   forever).
//! - **Subscription**: the handled events, narrowed by
//!   [`StubBuilder::events`] and by what [`Plugin::configure`] returns.
//!   Events a runtime older than NRI v0.10 does not know are left out,
//!   instead of having the runtime refuse the plugin. A plugin with no
//!   event handler is refused before it connects.
//! - **Synchronize** split by the runtime (`more`) reaches
//!   [`Plugin::synchronize`] once, whole.
//! - **Timeouts** come from `Configure`; a runtime older than NRI v0.7
//!   sends none, and the defaults (5 s, 2 s) apply (upstream keeps zeros).
//! - **Calls of the runtime**: [`RuntimeClient::update_containers`]
//!   sends unsolicited updates and evictions.
//! - **Validation**: an error from
//!   [`Plugin::validate_container_adjustment`] rejects the adjustment with
//!   the error's text as the reason.
//! - **Reconnecting** (opt-in, [`StubBuilder::reconnect`]): an external
//!   plugin whose runtime goes away connects again with backoff and
//!   registers anew, so it survives a runtime restart.
//! - **Ending**: [`Stub::run`] returns `Ok` after [`Stub::stop`] and when
//!   the runtime stops normally (it sends Shutdown, then closes); a
//!   connection lost without Shutdown is
//!   [`StubError::ConnectionLost`], so a supervisor sees the failure.
//! - Old runtimes' `StateChange` calls reach the same handlers.

mod dispatch;
pub mod identity;
mod plugin;
mod runtime;
mod version;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nri_proto::api::RegisterPluginRequest;
use nri_proto::defaults::DEFAULT_REGISTRATION_TIMEOUT;
use nri_proto::event::EventMask;
use nri_proto::identity::PluginId;
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

use crate::transport::{CallError, ConnectFailure, Connector, RuntimeRequest};
use dispatch::{Dispatcher, Negotiated};
pub use identity::IdentityProblem;
pub use plugin::{Configuration, HandlerError, HandlerResult, Plugin};
pub use runtime::RuntimeClient;

use nri_proto::defaults::NRI_VERSION;

/// Why a plugin stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StubError {
    /// The plugin defines no event handler.
    #[error(
        "the plugin handles no events: define at least one event handler in an impl block \
         marked #[nri_core::plugin]"
    )]
    NoHandlers,
    /// The options narrow the subscription to events the plugin does not
    /// handle.
    #[error("the events option names events the plugin has no handler for: {0}")]
    UnhandledEvents(EventMask),
    /// No usable index and name.
    #[error(transparent)]
    Identity(#[from] IdentityProblem),
    /// Connecting failed.
    #[error("cannot connect to the runtime at {target}: {source}")]
    Connect {
        /// Where to.
        target: String,
        /// Why.
        source: ConnectFailure,
    },
    /// The runtime refused or failed the registration.
    #[error("the runtime did not register the plugin: {0}")]
    Register(CallError),
    /// Configuring the plugin failed.
    #[error("the plugin could not be configured: {0}")]
    Configure(String),
    /// The handshake did not finish in time.
    #[error("the runtime did not register and configure the plugin within {0:?}")]
    HandshakeTimeout(Duration),
    /// The connection ended and the plugin does not reconnect.
    #[error("the connection to the runtime ended: {0}")]
    ConnectionLost(CallError),
    /// There is no connection to call the runtime on.
    #[error("the plugin is not connected to a runtime")]
    NotConnected,
    /// A call of the runtime failed.
    #[error("the call to the runtime failed: {0}")]
    Call(CallError),
}

/// How long to wait between connection attempts: doubling from
/// `initial` up to `max`, and back to `initial` after a connection that
/// registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// 500 ms doubling up to 10 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

/// Options of a [`Stub`].
pub struct StubBuilder<P> {
    plugin: P,
    index: Option<String>,
    name: Option<String>,
    events: Option<EventMask>,
    handshake_timeout: Duration,
    reconnect: Option<Backoff>,
}

impl<P: Plugin> StubBuilder<P> {
    /// The index to register with (`NN`).
    pub fn index(mut self, index: impl Into<String>) -> Self {
        self.index = Some(index.into());
        self
    }

    /// The name to register with.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Subscribes only to these of the handled events (e.g. from a
    /// command line's event list).
    pub fn events(mut self, events: EventMask) -> Self {
        self.events = Some(events);
        self
    }

    /// How long registration and configuration may take in all (5 s
    /// unless set).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Connects again with `backoff` when the connection ends or cannot be
    /// made, instead of returning. Has no effect for a plugin its runtime
    /// launched: that connection cannot be made again.
    pub fn reconnect(mut self, backoff: Backoff) -> Self {
        self.reconnect = Some(backoff);
        self
    }

    /// The stub, connecting through `connector`. Fails if the plugin
    /// handles no events, the events option names unhandled events, or no
    /// identity can be settled.
    pub fn build(self, connector: Arc<dyn Connector>) -> Result<Stub<P>, StubError> {
        let handled = self.plugin.handled_events();
        if handled.is_empty() {
            return Err(StubError::NoHandlers);
        }
        if let Some(events) = self.events {
            let unhandled = EventMask::from_bits(events.bits() & !handled.bits());
            if !unhandled.is_empty() {
                return Err(StubError::UnhandledEvents(unhandled));
            }
        }
        let id =
            identity::Sources::of_process(self.index, self.name, connector.launched()).settle()?;
        let (stop, _) = watch::channel(false);
        Ok(Stub {
            plugin: Arc::new(self.plugin),
            id,
            events: self.events,
            handshake_timeout: self.handshake_timeout,
            reconnect: self.reconnect.filter(|_| connector.can_reconnect()),
            connector,
            runtime: RuntimeClient::default(),
            negotiated: Arc::new(Mutex::new(None)),
            stop: Arc::new(stop),
        })
    }
}

/// A plugin connected to its runtime, or about to be.
pub struct Stub<P> {
    plugin: Arc<P>,
    id: PluginId,
    events: Option<EventMask>,
    handshake_timeout: Duration,
    reconnect: Option<Backoff>,
    connector: Arc<dyn Connector>,
    runtime: RuntimeClient,
    negotiated: Arc<Mutex<Option<Negotiated>>>,
    stop: Arc<watch::Sender<bool>>,
}

impl<P> std::fmt::Debug for Stub<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stub")
            .field("id", &self.id)
            .field("target", &self.connector.target())
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Stub`] from anywhere.
#[derive(Debug, Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Makes [`Stub::run`] close the connection and return.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// How one connection ended.
enum Ending {
    /// [`Stub::stop`].
    Stopped,
    /// The runtime sent Shutdown, then closed the connection: it stopped
    /// normally.
    ShutDown(CallError),
    /// Anything else.
    Lost(StubError),
}

impl<P: Plugin> Stub<P> {
    /// Options for a stub running `plugin`.
    pub fn builder(plugin: P) -> StubBuilder<P> {
        StubBuilder {
            plugin,
            index: None,
            name: None,
            events: None,
            handshake_timeout: DEFAULT_REGISTRATION_TIMEOUT,
            reconnect: None,
        }
    }

    /// The identity the plugin registers with.
    pub fn id(&self) -> &PluginId {
        &self.id
    }

    /// Calls the runtime on the current connection.
    pub fn runtime(&self) -> RuntimeClient {
        self.runtime.clone()
    }

    /// A handle that stops [`Stub::run`].
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.stop))
    }

    /// Stops [`Stub::run`]: the connection is closed and `run` returns.
    pub fn stop(&self) {
        self.stopper().stop();
    }

    /// [`Stub::run`] until `stop` completes (e.g. a signal; then `Ok`) or
    /// `run` returns first. When `stop` completes, the connection is
    /// closed as [`Stub::stop`] does.
    pub async fn run_until(&self, stop: impl Future<Output = ()>) -> Result<(), StubError> {
        let run = self.run();
        tokio::pin!(run);
        tokio::select! {
            outcome = &mut run => return outcome,
            () = stop => self.stop(),
        }
        run.await
    }

    /// The events subscribed to on the current connection.
    pub fn subscribed_events(&self) -> Option<EventMask> {
        self.negotiated().map(|n| n.events)
    }

    /// The runtime's NRI version on the current connection, reported or
    /// inferred.
    pub fn runtime_nri_version(&self) -> Option<String> {
        self.negotiated().and_then(|n| n.runtime_nri_version)
    }

    /// The runtime's request timeout on the current connection.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.negotiated().map(|n| n.request_timeout)
    }

    fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Connects, registers and serves the plugin until [`Stub::stop`] or
    /// until the runtime stops normally (it sends Shutdown, then closes the
    /// connection): then `Ok`. A connection that ends without Shutdown or
    /// cannot be made is an error — unless the stub reconnects, in which
    /// case it connects again after either, and only `stop` ends it.
    pub async fn run(&self) -> Result<(), StubError> {
        let span = tracing::info_span!("nri_stub", plugin = %self.id);
        async {
            let mut stopping = self.stop.subscribe();
            let mut delay = self.reconnect.map_or(Duration::ZERO, |b| b.initial);
            loop {
                if *stopping.borrow() {
                    return Ok(());
                }
                let (ending, registered) = self.connection(&mut stopping).await;
                self.runtime.set(None);
                *self
                    .negotiated
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                let error = match ending {
                    Ending::Stopped => return Ok(()),
                    Ending::ShutDown(reason) if self.reconnect.is_none() => {
                        tracing::info!(%reason, "the runtime shut the plugin down");
                        return Ok(());
                    }
                    Ending::ShutDown(reason) => StubError::ConnectionLost(reason),
                    Ending::Lost(error) => error,
                };
                let Some(backoff) = self.reconnect else {
                    return Err(error);
                };
                if registered {
                    delay = backoff.initial;
                }
                tracing::warn!(%error, retry_in = ?delay, "lost the runtime; connecting again");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stopping.wait_for(|stop| *stop) => return Ok(()),
                }
                delay = (delay * 2).min(backoff.max);
            }
        }
        .instrument(span)
        .await
    }

    /// One connection: handshake, then serving until it ends. Says
    /// whether the plugin got registered.
    async fn connection(&self, stopping: &mut watch::Receiver<bool>) -> (Ending, bool) {
        let (configured_tx, configured) = oneshot::channel();
        let dispatcher = Arc::new(Dispatcher::new(
            Arc::clone(&self.plugin),
            self.id.clone(),
            self.events,
            self.runtime.clone(),
            configured_tx,
            Arc::clone(&self.negotiated),
        ));
        let handshake = async {
            let link = self
                .connector
                .connect(Arc::clone(&dispatcher) as _)
                .await
                .map_err(|source| StubError::Connect {
                    target: self.connector.target(),
                    source,
                })?;
            let register = RuntimeRequest::RegisterPlugin(RegisterPluginRequest {
                plugin_name: self.id.name().to_string(),
                plugin_idx: self.id.index().as_str().to_string(),
                nri_version: NRI_VERSION.to_string(),
            });
            let registered = link
                .call(register, Some(self.handshake_timeout))
                .await
                .map_err(StubError::Register);
            if let Err(error) = registered {
                link.close();
                return Err(error);
            }
            match configured.await {
                Ok(Ok(negotiated)) => Ok((link, negotiated)),
                Ok(Err(message)) => {
                    link.close();
                    Err(StubError::Configure(message))
                }
                Err(_) => {
                    let reason = link.closed().await;
                    Err(StubError::ConnectionLost(reason))
                }
            }
        };
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(self.handshake_timeout, handshake) => outcome,
            _ = stopping.wait_for(|stop| *stop) => return (Ending::Stopped, false),
        };
        let (link, negotiated) = match outcome {
            Ok(Ok(done)) => done,
            Ok(Err(error)) => return (Ending::Lost(error), false),
            // Dropping the handshake dropped the connection with it.
            Err(_) => {
                return (
                    Ending::Lost(StubError::HandshakeTimeout(self.handshake_timeout)),
                    false,
                );
            }
        };
        tracing::info!(
            events = %negotiated.events,
            runtime_nri_version = negotiated.runtime_nri_version.as_deref().unwrap_or("unknown"),
            "registered with the runtime"
        );
        self.runtime.set(Some(Arc::clone(&link)));
        tokio::select! {
            reason = link.closed() => {
                if dispatcher.was_shut_down() {
                    (Ending::ShutDown(reason), true)
                } else {
                    (Ending::Lost(StubError::ConnectionLost(reason)), true)
                }
            }
            _ = stopping.wait_for(|stop| *stop) => {
                link.close();
                (Ending::Stopped, true)
            }
        }
    }
}
