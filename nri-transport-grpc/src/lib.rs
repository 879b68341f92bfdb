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
//!   to nri-core's `Adaptation::start`, alone or next to a ttrpc transport:
//!   plugins of both appear in one list ordered by index.
//! - A **plugin** built on nri-core's stub connects with a
//!   [`GrpcConnector`]; without the stub, [`GrpcRuntimeConnection`] serves
//!   a [`PluginHandler`](nri_core::transport::PluginHandler) directly.
//!
//! # Crate map
//! - [`protocol`]: the specification and its constants;
//! - [`endpoint`]: endpoint syntax, listeners and streams;
//! - `codec`, `status`: gRPC message framing, statuses and
//!   deadlines;
//! - `http2`: the part of HTTP/2 unary gRPC calls use (frames, header
//!   compression, streams and flow control, the read loop), written for
//!   this transport;
//! - `server`, `client`: one HTTP/2 connection each way, unary calls;
//! - [`runtime`] and [`plugin`]: the two sides.
//!
//! # Decisions
//! - Messages are encoded and decoded by nri-core's method tables, the same
//!   as on ttrpc, so the transport has no per-method code; the tonic stubs
//!   generated in `nri-proto` are for peers written against them (and are
//!   tested against this transport).
//! - Each session is one connection the runtime dials and never redials:
//!   its end is the plugin's end, as a ttrpc connection's is.
//! - The socket rules and the launcher are the ttrpc transport's, shared.

pub mod endpoint;
pub mod plugin;
pub mod protocol;
pub mod runtime;

#[doc(hidden)]
pub mod fuzzing;

mod client;
mod codec;
mod http2;
mod server;
mod status;

pub use endpoint::{Endpoint, EndpointError};
pub use plugin::{ConnectError, GrpcConnector, GrpcRuntimeConnection};
pub use protocol::DEFAULT_SOCKET_PATH;
pub use runtime::{GrpcConnection, GrpcTransport, ListenError};

pub use nri_core;
