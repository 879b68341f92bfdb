//! NRI over gRPC for nri-core, usable from any language.
//!
//! The same services as the ttrpc transport (`nri.pkg.api.v1alpha1.Runtime`
//! and `.Plugin`, from `proto/schema/api.proto`) carried by gRPC, so a
//! plugin can be written with a stock gRPC library and code generated from
//! that file: no custom framing, no hand-written protobuf. The
//! [`protocol`] module is the specification: who dials whom, metadata,
//! plugin identity, deadlines, status codes, size limits.
//!
//! # Which type to use
//! - A **runtime** builds a [`GrpcTransport`] ([`GrpcTransport::listen`] on
//!   a unix socket, [`GrpcTransport::listen_tcp`] on loopback) and passes it
//!   to nri-core's `NriApi::start` (or `Adaptation::start`), alone or next to a ttrpc transport:
//!   plugins of both appear in one list ordered by index. A runtime that
//!   already runs a tonic server mounts the `Runtime` service there instead
//!   ([`GrpcTransport::mounted`], [`GrpcTransport::runtime_service`]), with
//!   its own tower layers around it.
//! - A **plugin** built on nri-core's stub (`nri_core::stub`) connects
//!   with a [`PluginConnector`]: [`PluginConnector::from_environment`] as
//!   the plugin a runtime launched over gRPC, else
//!   [`PluginConnector::dial`]. The `nri-plugin` crate chooses between this
//!   and the ttrpc transport from the environment and runs the stub until
//!   SIGINT or SIGTERM, so a plugin's `main()` is one call. Without the
//!   stub, [`RuntimeConnection`] serves a
//!   [`PluginHandler`](nri_core::transport::PluginHandler) directly. The
//!   names pair with `nri-transport-ttrpc`'s: `PluginConnector`,
//!   `RuntimeConnection`, `ConnectError`, told apart by crate.
//!
//! # A plugin
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use nri_core::proto::api::{Container, PodSandbox};
//! use nri_core::stub::{HandlerResult, Plugin, Stub};
//! use nri_transport_grpc::{DEFAULT_GRPC_SOCKET_PATH, Endpoint, PluginConnector};
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
//! /// Runs until the runtime stops the plugin (`Ok`), the session is lost
//! /// (the error) or `stop` completes (`Ok`): a signal, say.
//! async fn run(stop: impl Future<Output = ()>) -> Result<(), Box<dyn std::error::Error>> {
//!     // The runtime that launched the plugin, else the one at the socket.
//!     let connector = PluginConnector::from_environment(Endpoint::unix(DEFAULT_GRPC_SOCKET_PATH))?;
//!     let stub = Stub::builder(StartLogger)
//!         .index("10")
//!         .name("start-logger")
//!         .build(Arc::new(connector))?;
//!     stub.run_until(stop).await?;
//!     Ok(())
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
//! use nri_transport_grpc::{DEFAULT_GRPC_SOCKET_PATH, GrpcTransport};
//!
//! /// Serves plugins over gRPC; `store` lists the runtime's pods and
//! /// containers and applies the updates plugins ask for.
//! async fn serve(store: Arc<dyn Domain>) -> Result<NriApi, Box<dyn std::error::Error>> {
//!     let (api, runtime) = NriApi::new(Some(Options::new("my-runtime", "1.0.0")), store);
//!     api.start(vec![Arc::new(GrpcTransport::listen(DEFAULT_GRPC_SOCKET_PATH)?)]).await?;
//!     // At each lifecycle point: runtime.run_pod_sandbox(&pod),
//!     // runtime.create_container(&pod, &container) (apply its adjustment), …
//!     # drop(runtime);
//!     Ok(api) // and api.stop() when the runtime stops
//! }
//! # let _ = serve;
//! ```
//!
//! # Crate map
//! - [`protocol`]: the specification and its constants;
//! - [`endpoint`]: endpoint syntax, listeners and streams;
//! - `settings`: the HTTP/2 limits every connection gets (h2 enforces
//!   them);
//! - `server`: a tonic service on one accepted connection (hyper's HTTP/2
//!   server), each call checked first (content type, deadline, who calls);
//! - `client`: tonic's unary client on one dialed connection (hyper's
//!   HTTP/2 client), whose end is observable;
//! - `codec`, `status`: encoded messages in and out of tonic, statuses and
//!   deadlines;
//! - [`runtime`] and [`plugin`]: the two sides.
//!
//! # Decisions
//! - gRPC is tonic's and HTTP/2 is h2's (through hyper): the most proven
//!   code for the part of nri-rs that meets the most foreign peers. Both
//!   NRI services are the tonic services `nri-proto` generates, which
//!   decode with nri-proto's single-pass decoder. The runtime's calls to a
//!   plugin go through tonic's generic client with messages encoded by
//!   nri-core's method tables: nri-core lends the transport its request,
//!   so nothing is copied per plugin.
//! - Connections are served one by one (hyper's connection builder, not
//!   tonic's `Server`), because the runtime decides per connection: one
//!   that has not registered within the registration timeout is closed,
//!   and a call is tied to the process at the other end.
//! - Each session is one connection the runtime dials and never redials:
//!   its end is the plugin's end, as a ttrpc connection's is.
//! - The socket rules and the launcher are `nri-host`'s, shared with the
//!   ttrpc transport.

pub mod endpoint;
pub mod plugin;
pub mod protocol;
pub mod runtime;

mod client;
mod codec;
mod server;
mod settings;
mod status;

pub use endpoint::{Endpoint, EndpointError};
pub use nri_host::{Access, SocketError};
pub use plugin::{ConnectError, PluginConnector, RuntimeConnection};
pub use protocol::DEFAULT_GRPC_SOCKET_PATH;
pub use runtime::{GrpcConnection, GrpcTransport, ListenError, RuntimeService};

pub use nri_core;
