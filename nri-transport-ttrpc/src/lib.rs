//! The upstream NRI wire protocol for nri-core: ttrpc over a multiplexed unix
//! socket, byte-compatible with Go NRI (containerd/nri v0.12).
//!
//! One unix stream socket carries mux frames
//! (`[u32 BE conn id][u32 BE length][payload]`); conn 1 carries the Plugin
//! service (the runtime is the ttrpc client), conn 2 the Runtime service (the
//! plugin is the client). This crate will implement nri-core's `Transport`
//! for both the runtime side (listening socket, pre-launched plugins on fd 3)
//! and the plugin side, on the ttrpc bindings of [`nri_proto::api`].

pub use nri_core;
