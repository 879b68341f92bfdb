//! The NRI state machine: what a container runtime embeds to run NRI plugins,
//! and what a plugin embeds to talk to a runtime.
//!
//! nri-core holds no socket or process code. Like `quinn-proto`, it is the
//! protocol logic alone, generic over the [`transport`] abstraction that the
//! transport crates implement (`nri-transport-ttrpc` for the upstream wire
//! protocol, `nri-transport-grpc` for gRPC); [`transport::in_process`] is the
//! transport for builtin plugins and tests. It will hold:
//!
//! - the **adaptation**: plugin registration, ordering, event dispatch,
//!   merging of adjustments with ownership tracking, and validation;
//! - the **runtime API** layer: per-namespace domains and the pod and
//!   container state machine a runtime drives at each lifecycle point, shaped
//!   so that an event can never reach a backend that is not registered yet;
//! - the plugin **stub**: the SDK plugin authors implement.

pub use nri_proto as proto;

pub mod transport;
