//! The upstream NRI wire protocol for nri-core: ttrpc over a multiplexed
//! unix socket, byte-compatible with Go NRI (containerd/nri v0.12).
//!
//! One unix stream socket (the *trunk*) carries multiplexer frames
//! (`[u32 BE conn id][u32 BE length][payload]`). Conn 1 carries the `Plugin`
//! service (the runtime is the ttrpc client), conn 2 the `Runtime` service
//! (the plugin is the client), as containerd/nri `pkg/net/multiplex` and
//! `pkg/adaptation/plugin.go` set them up.
//!
//! # Which type to use
//! - A **runtime** builds a [`TtrpcTransport`] ([`TtrpcTransport::listen`]
//!   or [`TtrpcTransport::launch_only`]) and passes it to nri-core's
//!   `NriApi::start` (or `Adaptation::start`); the transport accepts external plugins and
//!   launches pre-installed ones.
//! - A **plugin** built on nri-core's stub (`nri_core::stub`: a `Plugin`
//!   with a handler per event) reaches its runtime through a
//!   [`PluginConnector`]: [`PluginConnector::from_environment`] takes the
//!   socket a launching runtime handed over, else dials the path given.
//!   The `nri-plugin` crate chooses between this and the gRPC transport
//!   from the environment and runs the stub until SIGINT or SIGTERM: a
//!   plugin's `main()` is one call (see the repository's
//!   `examples/rust/plugin.rs`).
//! - Without the stub, a [`RuntimeConnection`] serves a bare
//!   [`PluginHandler`](nri_core::transport::PluginHandler):
//!   [`RuntimeConnection::from_environment`] when launched by a runtime,
//!   else [`RuntimeConnection::connect`].
//!
//! # A plugin
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use nri_core::proto::api::{Container, PodSandbox};
//! use nri_core::stub::{HandlerResult, Plugin, Stub, StubError};
//! use nri_transport_ttrpc::{DEFAULT_SOCKET_PATH, PluginConnector};
//!
//! struct StartLogger;
//!
//! #[nri_core::plugin]
//! impl Plugin for StartLogger {
//!     async fn start_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
//!         println!("{}/{} started", pod.name, container.name);
//!         Ok(())
//!     }
//! }
//!
//! /// Runs until the runtime stops the plugin (`Ok`), the connection is
//! /// lost (the error) or `stop` completes (`Ok`): a signal, say
//! /// (`nri_plugin::shutdown_signal()` waits for SIGINT or SIGTERM).
//! async fn run(stop: impl Future<Output = ()>) -> Result<(), StubError> {
//!     // The socket a launching runtime passed, else upstream's socket.
//!     let connector = PluginConnector::from_environment(DEFAULT_SOCKET_PATH);
//!     let stub = Stub::builder(StartLogger)
//!         .index("10")
//!         .name("start-logger")
//!         .build(Arc::new(connector))?;
//!     stub.run_until(stop).await
//! }
//! # let _ = run(std::future::pending());
//! ```
//!
//! # A runtime
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use nri_core::adaptation::Options;
//! use nri_core::runtime_api::{Domain, NriApi};
//! use nri_transport_ttrpc::{DEFAULT_SOCKET_PATH, TtrpcTransport};
//!
//! /// Serves plugins on upstream's socket; `store` lists the runtime's pods
//! /// and containers and applies the updates plugins ask for.
//! async fn serve(store: Arc<dyn Domain>) -> Result<NriApi, Box<dyn std::error::Error>> {
//!     let (api, runtime) = NriApi::new(Some(Options::new("my-runtime", "1.0.0")), store);
//!     api.start(vec![Arc::new(TtrpcTransport::listen(DEFAULT_SOCKET_PATH)?)]).await?;
//!     // At each lifecycle point: runtime.run_pod_sandbox(&pod),
//!     // runtime.create_container(&pod, &container) (apply its adjustment), …
//!     # drop(runtime);
//!     Ok(api) // and api.stop() when the runtime stops
//! }
//! # let _ = serve;
//! ```
//!
//! The repository's `examples/rust/runtime.rs` is a whole runtime of this
//! kind (about 70 lines, with a pod and a container through their
//! lifecycle).
//!
//! # Crate map
//! Protocol logic without I/O, each with its own tests (public for the
//! crate's tests, benches and fuzz targets only, and hidden from these
//! docs: not an API):
//! - `frame`: multiplexer frames, the decoder and the framing rule for
//!   what is sent to Go peers;
//! - `message`: ttrpc message headers, the reassembling decoder, the
//!   envelope codec.
//!
//! I/O:
//! - `trunk`: the socket, its reader task and its writer;
//! - `client` / `server`: a ttrpc client or server on one virtual
//!   connection (stream ids, timeouts, request checks);
//! - `service`: the two NRI services over those;
//! - [`runtime`] and [`plugin`]: the two sides. The listening socket's
//!   rules, launching plugins and fd 3 are `nri-host`'s, shared with the
//!   other transports.
//!
//! # What the runtime trusts
//!
//! A plugin is its connection: it registers on the trunk it dialed (or was
//! given as fd 3), and every later call of it comes on that trunk, so no
//! other process can act for it; nothing on the wire names a plugin. Who
//! may connect at all is the socket's mode: 0600 by default (the runtime's
//! user), 0660 with a group ([`Access`]), whatever the umask, in a
//! directory others cannot write to (`nri_host::socket`). Anyone who can
//! connect is still untrusted until registered: before registering, a
//! connection may send one RegisterPlugin and nothing else (anything more
//! closes it unanswered), it is closed at nri-core's registration timeout,
//! and at most [`runtime::DEFAULT_MAX_UNREGISTERED`] (configurable) wait at
//! once, the longest waiting closed to make room. A peer that lets its
//! answers pile up unread past `MAX_QUEUED` (16 MiB, counting each queued
//! part's overhead) is disconnected, and a registered one is then removed
//! like a crashed plugin.
//!
//! # Decisions
//! - Our own ttrpc engine, not ttrpc-rust's client and server: it assigns
//!   stream ids inside the write lock (strictly increasing on the wire, which
//!   Go servers require), sends no status on success (byte-identical to
//!   Go), answers unknown services with code 12 like Go, and bounds every
//!   allocation. [`virtual_conn`] still offers each virtual connection as a
//!   byte stream for ttrpc-rust or anything else.
//! - Frames for connection ids that are not open are dropped, as Go does.
//! - One error on the trunk closes both virtual connections with that
//!   reason; pending calls fail with it.

#[doc(hidden)]
pub mod frame;
#[doc(hidden)]
pub mod message;
pub mod plugin;
pub mod runtime;
pub mod virtual_conn;

mod client;
mod server;
mod service;
mod trunk;

pub use nri_host::AdoptError;
pub use plugin::{ConnectError, PluginConnector, RuntimeConnection};
pub use runtime::{Access, DEFAULT_SOCKET_PATH, SocketError, TtrpcConnection, TtrpcTransport};
pub use virtual_conn::{Mux, VirtualConn};

pub use nri_core;
