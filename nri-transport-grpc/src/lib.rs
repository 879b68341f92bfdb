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
//! - A **plugin** built on nri-core's stub connects with a
//!   [`GrpcConnector`]; without the stub, [`GrpcRuntimeConnection`] serves
//!   a [`PluginHandler`](nri_core::transport::PluginHandler) directly.
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
pub use plugin::{ConnectError, GrpcConnector, GrpcRuntimeConnection};
pub use protocol::DEFAULT_GRPC_SOCKET_PATH;
pub use runtime::{GrpcConnection, GrpcTransport, ListenError, RuntimeService};

pub use nri_core;
