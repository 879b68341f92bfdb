//! Connects a Kubernetes CRI runtime to NRI through nri-core.
//!
//! | module | what it holds |
//! |---|---|
//! | [`cri`] | the CRI `runtime.v1` messages and `RuntimeService` bindings (tonic), generated from `schema/cri.proto` |
//! | [`convert`] | CRI pods and containers (config, status, OCI spec) as NRI [`PodSandbox`](nri_proto::api::PodSandbox)s and [`Container`](nri_proto::api::Container)s, and resources both ways |
//! | [`config_adjust`] | a merged NRI adjustment applied to a CRI `ContainerConfig` (the part CRI can express; the rest is an error naming it) |
//! | [`oci`] | a merged NRI adjustment applied to an OCI runtime spec (`oci-spec`), every field, in upstream's order |
//! | [`middleware`] | [`NriRuntimeService`](middleware::NriRuntimeService): any CRI `RuntimeService` wrapped so that NRI plugins see and adjust its pods and containers |
//! | [`socket`] | HTTP/2 over unix sockets for CRI: a server loop and a client channel |
//! | [`proxy`] | what `nri-cri-proxy` runs: CRI served on one socket, the middleware in front of a backend CRI socket, every other method passed through as raw bytes; with feature `cli`, `proxy::cli`, the binary's command line |
//!
//! The library depends on no command-line, logging or metrics-export crate:
//! feature `cli` adds the `nri-cri-proxy` binary and its command line
//! (clap, tracing-subscriber, the Prometheus exporter, both NRI transports);
//! build it with `cargo build -p nri-cri --features cli --bin nri-cri-proxy`.
//!
//! The inner CRI service is a required constructor argument of the
//! middleware and every NRI event carries owned pod and container messages,
//! so an exit seen during startup recovery, before any plugin registered,
//! cannot reach a backend that is not there (containerd#10401).

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config_adjust;
pub mod convert;
pub mod middleware;
pub mod oci;
pub mod proxy;
pub mod socket;

pub use nri_core;

/// The CRI package `runtime.v1`: the messages and the `RuntimeService`
/// bindings nri-cri uses, generated from `schema/cri.proto` by
/// `cargo xtask codegen`. Wire-compatible with k8s.io/cri-api.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used
)]
pub mod cri {
    include!("generated/cri_runtime_v1.rs");
    include!("generated/cri_runtime_v1_descriptor.rs");
    include!("generated/cri_runtime_v1_grpc.rs");
}
