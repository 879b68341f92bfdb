//! NRI over gRPC: the protocol, precisely enough to implement a plugin in
//! any language with a stock gRPC library and code generated from
//! `proto/schema/api.proto` (package `nri.pkg.api.v1alpha1`). Nothing here
//! needs custom framing or hand-written protobuf: only the two NRI services
//! and gRPC metadata.
//!
//! # Who dials whom
//!
//! gRPC calls go from client to server only, and NRI needs calls both ways,
//! so there are two gRPC connections, as in kubelet's device-plugin API:
//!
//! 1. The **runtime** serves the `Runtime` service (RegisterPlugin,
//!    UpdateContainers) on its endpoint: a unix socket, by default
//!    [`DEFAULT_GRPC_SOCKET_PATH`], or for development a TCP port on loopback.
//! 2. The **plugin** serves the `Plugin` service (Configure, Synchronize,
//!    the events, Shutdown, …) on an endpoint of its own, then calls
//!    `Runtime/RegisterPlugin` with its endpoint in the metadata key
//!    [`ENDPOINT_METADATA`].
//! 3. Before answering RegisterPlugin, the runtime dials the plugin's
//!    endpoint, **once**. That connection is the plugin's *session*: the
//!    runtime's calls of the `Plugin` service (Configure first, then
//!    Synchronize, then events) all go over it, and it is never redialed.
//!    If the runtime cannot dial, RegisterPlugin fails with `UNAVAILABLE`.
//!
//! A plugin should listen only until the runtime has dialed; the Rust
//! plugin side accepts exactly one connection and then removes its socket.
//!
//! # Endpoints
//!
//! Written in gRPC's name syntax: `unix:/abs/path` or `unix:///abs/path`
//! for a unix socket, `IP:PORT` or `[IPv6]:PORT` for TCP. A TCP endpoint
//! must be a loopback address (`127.0.0.0/8`, `::1`); the runtime refuses
//! any other with `INVALID_ARGUMENT`.
//!
//! Every call is sent with the HTTP/2 authority `localhost`. (For a unix
//! socket some gRPC libraries default to the socket's path, which is not a
//! valid authority and makes the server reset the stream; set it, e.g.
//! grpcio's channel option `grpc.default_authority`.)
//!
//! # How a plugin is identified
//!
//! By its endpoint. Every call of the `Runtime` service carries
//! [`ENDPOINT_METADATA`] with the endpoint the plugin registered, so the
//! plugin's own channel to the runtime may reconnect (stock gRPC channels
//! do after being idle) without consequence.
//!
//! - RegisterPlugin for an endpoint that has a live session: `ALREADY_EXISTS`,
//!   after waiting up to half a second for that session's connection to
//!   end (a plugin that restarts may register before the runtime has read
//!   the end of its previous connection; it then takes the endpoint over).
//! - UpdateContainers from an endpoint without a session: `FAILED_PRECONDITION`.
//! - Missing or malformed endpoint metadata: `INVALID_ARGUMENT`.
//!
//! # What the runtime trusts
//!
//! The endpoint names a session; it does not prove who calls. Over a unix
//! socket the runtime also knows, from the kernel (`SO_PEERCRED`), which
//! process is at the other end of each connection: a session belongs to
//! the process (pid, uid, gid) that registered it, and UpdateContainers
//! naming that endpoint from any other process is refused with
//! `PERMISSION_DENIED`. A plugin's own channel may still reconnect: its new
//! connection comes from the same process. A launched plugin is further
//! tied to the process the runtime started, by its launch token. Over
//! loopback TCP (for development only) nothing identifies the caller:
//! anyone who can connect can act for any registered endpoint.
//!
//! A connection to the runtime's socket that has not registered a plugin
//! (nor made a call for a plugin its process registered) within the
//! registration timeout (nri-core's default, 5 s; see
//! `GrpcTransport::with_registration_timeout`) is closed. Who may connect
//! at all is decided by file modes: the socket's directory, when the
//! runtime creates it, has mode 0700.
//!
//! The plugin's index and name travel in RegisterPluginRequest, as on ttrpc.
//!
//! # The session's end
//!
//! The session ends when its connection closes, from either side: the
//! plugin closes its server (or its process dies) and the runtime removes
//! the plugin; or the runtime closes the connection (it stops, refuses the
//! registration, or drops the plugin after an error or a timeout) and the
//! plugin is gone from its point of view. A plugin that wants to know
//! watches that connection where its library lets it; the Rust plugin side
//! does, and also ends the session if its own channel to the runtime
//! breaks. On a normal stop the runtime calls `Shutdown` first.
//!
//! The runtime sends no HTTP/2 keepalive pings (stock gRPC servers punish
//! pings more often than every five minutes); a dead plugin is noticed by
//! the connection's end or by the next call.
//!
//! # Plugins the runtime launches
//!
//! A pre-installed plugin started by a runtime that has only the gRPC
//! transport gets a cleared environment with [`ENV_PLUGIN_NAME`],
//! [`ENV_PLUGIN_IDX`] (as on ttrpc), [`ENV_RUNTIME_ENDPOINT`] (where to
//! register) and [`ENV_LAUNCH_TOKEN`]. It registers like any plugin and
//! adds the token in [`LAUNCH_TOKEN_METADATA`] to RegisterPlugin, which ties
//! the registration to the process the runtime started. An unknown token
//! is refused with `PERMISSION_DENIED`. No descriptor is passed.
//!
//! # Deadlines
//!
//! Every call the runtime makes carries its timeout as the gRPC deadline
//! (`grpc-timeout`). The runtime's own timer is authoritative: past it the
//! call has failed and the plugin is dropped, whatever the plugin does. A
//! plugin's call may carry a deadline too; the runtime answers
//! `DEADLINE_EXCEEDED` when it passes. UpdateContainers without a deadline
//! waits for the answer, as upstream.
//!
//! # Status codes
//!
//! From a plugin's handler:
//! - `OK`: the reply.
//! - `UNIMPLEMENTED` (12): the plugin does not implement the method. For
//!   events with a `StateChange` equivalent the runtime falls back to
//!   `StateChange`, as it does for old ttrpc plugins.
//! - `DEADLINE_EXCEEDED` (4), or a broken connection: the plugin is dropped.
//! - any other code: the plugin failed the call; its message is kept. What
//!   that means (fail the event or not) is nri-core's policy, the same on
//!   every transport.
//!
//! From the runtime: the codes above for bad metadata, `UNAVAILABLE` when
//! the plugin's endpoint cannot be dialed, and for the answer to the call
//! the code nri-core gives (e.g. `INVALID_ARGUMENT` for a bad plugin name,
//! `RESOURCE_EXHAUSTED` when too many calls wait).
//!
//! # Limits
//!
//! Each connection carries at most 64 calls at once, header lists of at
//! most 64 KiB, and no keepalive pings. A request whose `content-type` is
//! not gRPC's is answered HTTP 415.
//!
//! # Message size and synchronization
//!
//! Messages are limited to [`MAX_MESSAGE_SIZE`] (4 MiB, gRPC's default
//! receive limit) both ways. A runtime with more pods and containers than
//! fit in one Synchronize splits them exactly as on ttrpc: the plugin
//! receives several Synchronize calls with `more` set on all but the last
//! and answers the last with its updates. Messages are not compressed.
//!
//! # Calls, in order
//!
//! ```text
//! plugin                                   runtime
//!   | listen on its endpoint E                |
//!   | -- Runtime/RegisterPlugin {idx, name} ->|  metadata nri-plugin-endpoint: E
//!   |<-------------- dial E (session) ------- |
//!   |<-------------- OK --------------------- |
//!   |<-- Plugin/Configure, Synchronize ------ |  grpc-timeout on each
//!   |<-- Plugin/RunPodSandbox, … ------------ |
//!   | -- Runtime/UpdateContainers ----------->|  metadata nri-plugin-endpoint: E
//!   |<-- Plugin/Shutdown -------------------- |  on a normal stop
//!   |<-------------- close session ---------- |
//! ```

use std::time::Duration;

/// The metadata key naming the plugin's endpoint on every call of the
/// `Runtime` service.
pub const ENDPOINT_METADATA: &str = "nri-plugin-endpoint";

/// The metadata key with which a launched plugin presents its token on
/// RegisterPlugin.
pub const LAUNCH_TOKEN_METADATA: &str = "nri-launch-token";

/// Where the gRPC transport listens by default (the ttrpc socket's
/// directory, another name). Not `DEFAULT_SOCKET_PATH`: that name is the
/// ttrpc socket's, in `nri_proto::defaults` and `nri-transport-ttrpc`.
pub use nri_core::proto::defaults::DEFAULT_GRPC_SOCKET_PATH;

/// Names a launched plugin (as on ttrpc).
pub use nri_core::proto::defaults::PLUGIN_NAME_ENV as ENV_PLUGIN_NAME;

/// Gives a launched plugin its index (as on ttrpc).
pub use nri_core::proto::defaults::PLUGIN_IDX_ENV as ENV_PLUGIN_IDX;

/// Tells a launched plugin the runtime's endpoint.
pub const ENV_RUNTIME_ENDPOINT: &str = "NRI_GRPC_RUNTIME_ENDPOINT";

/// Gives a launched plugin its launch token.
pub const ENV_LAUNCH_TOKEN: &str = "NRI_GRPC_LAUNCH_TOKEN";

/// The largest message either side sends or accepts.
pub const MAX_MESSAGE_SIZE: usize = nri_core::adaptation::MAX_MESSAGE_SIZE;

/// How long the runtime tries to dial a registering plugin's endpoint.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// The `Plugin` service's full name.
pub use nri_core::proto::defaults::PLUGIN_SERVICE;

/// The `Runtime` service's full name.
pub use nri_core::proto::defaults::RUNTIME_SERVICE;
