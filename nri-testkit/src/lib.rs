//! Test kit for NRI plugins and runtimes built on nri-rs.
//!
//! nri-testkit is where plugin and runtime authors go to test NRI code
//! without a Kubernetes node.
//!
//! **Testing a plugin** — [`plugin_test`]: a [`plugin_test::PluginTest`]
//! starts your plugin (in-process on the stub, or its binary launched as a
//! pre-installed plugin over the real ttrpc transport), drives pod and
//! container lifecycles through nri-core's runtime API, and returns what the
//! plugin asked for: the merged adjustment, updates, evictions, errors. Its
//! module docs test `nri-ulimit-adjuster` in a dozen lines. For a plugin in
//! any language, the `nri-harness` binary replays a scenario file against it
//! (see [`simulator`]).
//!
//! **Testing a runtime or a transport**:
//!
//! - [`fake_plugin`]: a plugin scripted per event (reply with an adjustment,
//!   updates or evictions, fail, delay, hang, crash, close, send
//!   unsolicited updates), over any transport or as a process of its own;
//! - [`domain`]: [`domain::FakeDomain`], an in-memory runtime namespace that
//!   records and applies the updates and evictions plugins ask for;
//! - [`builders`]: realistic pods and containers, as containerd reports a
//!   Kubernetes pod, built deterministically;
//! - [`conformance`]: the conformance suite of the runtime side, run over
//!   any transport through a [`conformance::Harness`] in a few lines with
//!   [`conformance_suite!`];
//! - [`fake_cri`]: [`fake_cri::FakeCriRuntime`], an in-memory CRI
//!   `RuntimeService` with containerd-like semantics, test controls (seed,
//!   exit, inject failures, await calls) and a unix-socket server that
//!   echoes every other gRPC path byte for byte, for testing CRI
//!   middleware and proxies (nri-cri).
//!
//! **The simulator** — [`simulator`]: what `nri-harness` runs: scenarios
//! (YAML) of pod and container lifecycles replayed against real plugins
//! through nri-core, every call recorded, expectations checked, and a bench
//! of lifecycles against echo plugins. [`multicall`] lets the harness binary
//! be the sample plugins it launches.
//!
//! And the pieces they share: [`json`] (NRI messages in the protobuf JSON
//! mapping), [`memory`] (resident memory of a process), and the RPC stack
//! check ([`stack_check`]), which checks that ttrpc and gRPC carry the same
//! messages. Durations are written in Go syntax everywhere (`250ms`, `2s`)
//! and parsed by `nri_core::config::parse_duration`.
//!
//! # Features
//!
//! A plugin's dev-dependency on `nri-testkit` gets, by default, what testing
//! a plugin needs: [`plugin_test`], [`fake_plugin`], [`domain`],
//! [`builders`], [`json`] and [`memory`] (nri-core and the
//! ttrpc transport; no CRI, tonic or hyper). The rest is opt-in:
//!
//! | feature | adds |
//! |---|---|
//! | `cri` | `fake_cri` (nri-cri, tonic, hyper) |
//! | `conformance` | `conformance`, `hostile`, `stack_check`, the `nri-relay-plugin` binary (nri-transport-grpc, ttrpc-rust, tonic) |
//! | `wasm` | `conformance` with WASM plugins (nri-transport-wasm) |
//! | `harness` | `simulator`, `multicall`, `fake_plugin::main`, the `nri-harness` and `nri-test-plugin` binaries (all of the above but `cri`, the sample plugins, nri-cri's proxy) |
//!
//! `cargo run -p nri-testkit --features harness --bin nri-harness` runs the
//! simulator; `cargo test --workspace --all-features` runs every test.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod builders;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
pub mod domain;
#[cfg(feature = "cri")]
#[cfg_attr(docsrs, doc(cfg(feature = "cri")))]
pub mod fake_cri;
pub mod fake_plugin;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod hostile;
pub mod json;
pub mod memory;
#[cfg(feature = "harness")]
#[cfg_attr(docsrs, doc(cfg(feature = "harness")))]
pub mod multicall;
mod observed;
pub mod plugin_test;
#[cfg(feature = "harness")]
#[cfg_attr(docsrs, doc(cfg(feature = "harness")))]
pub mod simulator;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod stack_check;
