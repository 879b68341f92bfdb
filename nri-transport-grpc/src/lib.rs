//! NRI over gRPC for nri-core, usable from any language.
//!
//! The same services as the ttrpc transport (`nri.pkg.api.v1alpha1.Runtime`
//! and `.Plugin`), carried by tonic on a unix socket, so a plugin can be
//! written with nothing but a stock gRPC library and the NRI `.proto`. This
//! crate will implement nri-core's `Transport` on the tonic bindings of
//! [`nri_proto::api`].

pub use nri_core;
