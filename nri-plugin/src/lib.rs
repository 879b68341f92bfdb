//! Start-up of an NRI plugin built on nri-core's [stub](nri_core::stub):
//! which transport to reach the runtime on, and running until the runtime
//! stops the plugin or the process gets SIGINT or SIGTERM, so that a
//! plugin's `main()` is a few lines.
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use nri_core::proto::api::{Container, PodSandbox};
//! use nri_core::stub::{HandlerResult, Plugin, Stub};
//!
//! /// Logs every container start.
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
//! fn main() -> ExitCode {
//!     // A runtime that launched the plugin decides its index and name;
//!     // otherwise these options do (see nri_core::stub::identity).
//!     nri_plugin::main(Stub::builder(StartLogger).index("10").name("start-logger"))
//! }
//! ```
//!
//! # Which transport
//!
//! [`connector`] decides, in this order:
//!
//! 1. A runtime that launched the plugin (a pre-installed plugin) says
//!    how in the environment: `NRI_GRPC_RUNTIME_ENDPOINT` for gRPC
//!    (`nri-transport-grpc`), `NRI_PLUGIN_SOCKET` (a socket on fd 3) for
//!    ttrpc (`nri-transport-ttrpc`); `NRI_PLUGIN_NAME` and `NRI_PLUGIN_IDX`
//!    give its identity, which the stub reads. The runtime's choice wins
//!    over any flag, as with upstream's plugins.
//! 2. Otherwise the plugin dials the [`RuntimeAddress`] it was given (a
//!    command-line flag, say), by default upstream's socket
//!    `/var/run/nri/nri.sock` over ttrpc.
//!
//! # Why a crate of its own
//!
//! Each transport crate knows its own variables
//! (`nri_transport_ttrpc::PluginConnector::from_environment`,
//! `nri_transport_grpc::PluginConnector::from_environment`) and nothing of
//! the other transport; nri-core has no socket code. Choosing between them
//! needs both, so it lives here, next to the signal handling a plugin
//! binary needs and a library does not. Each transport is a feature
//! (`ttrpc`, `grpc`, both on by default): a plugin that only ever runs
//! under containerd or CRI-O can leave out gRPC and its dependencies.
//!
//! # Ending
//!
//! [`run`] (and [`main`]) return `Ok` when the runtime stops normally
//! (it sends Shutdown, then closes the connection) and after SIGINT or
//! SIGTERM; a connection that ends otherwise, or cannot be made, is an
//! error, so the process exits with a failure status and its supervisor
//! notices.

#[cfg(not(any(feature = "ttrpc", feature = "grpc")))]
compile_error!("nri-plugin needs at least one transport: enable the `ttrpc` or `grpc` feature");

mod connect;
mod run;

pub use connect::{ConnectorError, RuntimeAddress, connector};
pub use run::{main, main_at, main_with, run, shutdown_signal};

pub use nri_core;
#[cfg(feature = "grpc")]
pub use nri_transport_grpc;
#[cfg(feature = "ttrpc")]
pub use nri_transport_ttrpc;
