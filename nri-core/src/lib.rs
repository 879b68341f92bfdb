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
//! # Which type do I need
//!
//! | you are writing | you use | you implement |
//! |---|---|---|
//! | a container runtime | [`runtime_api::NriApi`], one [`DomainHandle`](runtime_api::DomainHandle) per namespace, calling its methods at each lifecycle point | [`runtime_api::Domain`]: list, update and evict your containers |
//! | a runtime that tracks pod and container states itself, or a test tool | [`adaptation::Adaptation`], calling its event methods | [`adaptation::RuntimeBackend`] |
//! | a plugin | [`stub::Stub`] with a connector of a transport crate | [`stub::Plugin`] with [`#[nri_core::plugin]`](plugin) |
//! | a plugin linked into the runtime | [`adaptation::Builtin`] | [`transport::PluginHandler`] |
//! | a transport | — | [`transport::Transport`] and [`transport::PluginConnection`] (runtime side), [`transport::Connector`] and [`transport::RuntimeLink`] (plugin side) |
//! | runtime configuration | [`config::Config`] (containerd's `[plugins."io.containerd.nri.v1.nri"]`), then [`adaptation::Options`] | — |
//!
//! The two runtime entry points are two layers, as in containerd: an
//! [`NriApi`](runtime_api::NriApi) (containerd's `internal/nri`) owns an
//! [`Adaptation`](adaptation::Adaptation) (containerd/nri
//! `pkg/adaptation`) and is its [`RuntimeBackend`](adaptation::RuntimeBackend),
//! built from the runtime's domains. The adaptation runs plugins: their
//! registration, order, events, merging, validation. The runtime API adds
//! what a runtime needs around it: the pod and container state machine
//! (a stop or removal reaches plugins once, whatever comes first), exit
//! notifications that never block, and a disabled mode. A runtime embeds
//! `NriApi`; `Adaptation` on its own is for a runtime that already has that
//! state machine, and for tests and tools that drive events directly.
//!
//! # Async traits
//!
//! Every async trait of nri-core is an [`#[async_trait]`](macro@async_trait)
//! trait, re-exported here so that implementing one needs no dependency of
//! its own: write `#[nri_core::async_trait]` on the impl block and its
//! methods as plain `async fn`s. The runtime's traits (transports,
//! connections, domains, the runtime backend) are kept as trait objects,
//! which native `async fn` in traits does not allow, and the plugin side
//! follows the same style so that both read alike;
//! [`#[nri_core::plugin]`](plugin) writes the attribute for a
//! [`Plugin`](stub::Plugin).

// Lets `#[nri_core::plugin]` expand to paths that work here too.
extern crate self as nri_core;

pub use async_trait::async_trait;
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
