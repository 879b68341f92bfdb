//! Test helpers that take recorded NRI traffic apart.
//!
//! This is deliberately small and only as strict as the tests need: the real
//! multiplexer and ttrpc framing live in `nri-transport-ttrpc`.

#![allow(dead_code, missing_docs)]

pub mod canonical;
pub mod recording;
pub mod rpc_table;
pub mod sessions;
pub mod transcript;
