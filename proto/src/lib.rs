//! The NRI (Node Resource Interface) protocol for Rust.
//!
//! `nri-proto` holds the protocol types of containerd/nri's
//! `nri.pkg.api.v1alpha1` package, wire-compatible with upstream NRI v0.12.x,
//! and the bindings of its two services, `Runtime` and `Plugin`, for both RPC
//! stacks nri-rs supports:
//!
//! | feature | what it adds |
//! |---|---|
//! | `ttrpc` (default) | [`api::plugin_ttrpc`] and [`api::runtime_ttrpc`]: async ttrpc 0.10 servers and clients, the upstream wire protocol |
//! | `grpc` (default) | [`api::plugin_client`], [`api::plugin_server`], [`api::runtime_client`], [`api::runtime_server`]: tonic 0.14 |
//!
//! Both stacks share one set of prost 0.14 message types in [`api`].
//!
//! **Maps are `BTreeMap`s, not prost's default `HashMap`s**: every `map<…>`
//! field (labels, annotations, sysctls, …) is a
//! `std::collections::BTreeMap<String, String>` (or of messages), so
//! encoding is deterministic and a message encodes to the same bytes every
//! time. Build them with `BTreeMap::from([...])`, `.collect()` or
//! `insert`; code written for prost's `HashMap`s needs
//! `.into_iter().collect()` at the boundary. Go writes map entries in random
//! order; decoding accepts any order.
//!
//! Around the generated code sit the helpers users of upstream's Go `pkg/api`
//! expect:
//!
//! - [`event`]: event names and the subscription mask of `ConfigureResponse`;
//! - [`optional`]: building and reading the `Optional*` wrapper messages;
//! - [`removal`]: the `-key` markers adjustments use to remove entries;
//! - [`identity`]: plugin index and name parsing and validation;
//! - [`defaults`]: well-known paths, environment variables and timeouts;
//! - [`builders`]: realistic pods and containers (what containerd sends
//!   for a Kubernetes pod), for runtimes and tests;
//! - [`decode`]: a single-pass decoder into the same types, about 1.5×
//!   as fast as prost's and accepting exactly what prost accepts.
//!
//! ```
//! use nri_proto::api::{ContainerAdjustment, LinuxContainerAdjustment, LinuxMemory, LinuxResources};
//! use nri_proto::event::{Event, EventMask};
//! use nri_proto::optional::{self, OptionalValue};
//!
//! let adjust = ContainerAdjustment {
//!     linux: Some(LinuxContainerAdjustment {
//!         resources: Some(LinuxResources {
//!             memory: Some(LinuxMemory { limit: optional::int64(256 << 20), ..Default::default() }),
//!             ..Default::default()
//!         }),
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! };
//! let limit = adjust.linux.as_ref().and_then(|l| l.resources.as_ref())
//!     .and_then(|r| r.memory.as_ref()).and_then(|m| m.limit.value());
//! assert_eq!(limit, Some(256 << 20));
//!
//! let mask: EventMask = "CreateContainer,stopcontainer".parse()?;
//! assert!(mask.contains(Event::CreateContainer));
//! assert_eq!(mask.bits(), 0x0208);
//! # Ok::<(), nri_proto::event::ParseEventError>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod builders;
pub mod decode;
pub mod defaults;
pub mod encode;
pub mod event;
#[cfg(feature = "grpc")]
pub mod grpc_codec;
pub mod identity;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub mod json;
pub mod optional;
pub mod removal;
#[cfg(feature = "ttrpc")]
mod ttrpc_codec;

/// The NRI protocol package `nri.pkg.api.v1alpha1`: messages, enums and
/// service bindings, generated from `schema/nri.proto` by `cargo xtask codegen`.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used
)]
pub mod api {
    include!("generated/nri_api.rs");
    include!("generated/nri_api_descriptor.rs");
    include!("generated/nri_api_decode.rs");
    #[cfg(feature = "grpc")]
    include!("generated/nri_api_grpc.rs");
    #[cfg(feature = "ttrpc")]
    include!("generated/nri_api_ttrpc.rs");
}

#[cfg(feature = "ttrpc")]
pub(crate) use ttrpc_codec::ttrpc_codec;

/// The workspace README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
