//! The NRI state machine: what a container runtime embeds to run NRI plugins,
//! and what a plugin embeds to talk to a runtime.
//!
//! nri-core holds no socket or process code: it is the protocol logic,
//! generic over the [`transport`] abstraction that the transport crates
//! implement (`nri-transport-ttrpc` for the upstream wire protocol,
//! `nri-transport-grpc` for gRPC); [`transport::in_process`] is the
//! transport for builtin plugins and tests. It is not sans-IO in the
//! `quinn-proto` sense (it runs tasks and timers on tokio), but every wait
//! it makes is a tokio timer, so over the in-process transport its
//! deadlines (request and registration timeouts, the failure policy, the
//! shutdown bound and grace) run on tokio's paused clock, to the instant
//! and without waiting: its tests and nri-testkit's in-process conformance
//! suite do.
//!
//! The runtime side is [`adaptation`] (with [`runtime_api`] for what a
//! runtime keeps of pods and containers); the plugin side is [`stub`].

// Lets `#[nri_core::plugin]` expand to paths that work here too.
extern crate self as nri_core;

pub use nri_macros::plugin;
pub use nri_proto as proto;

pub mod adaptation;
pub mod config;
pub mod default_validator;
pub mod discovery;
pub mod merge;
pub mod runtime_api;
pub mod stub;
pub mod transport;
