//! Test kit for NRI plugins and runtimes built on nri-rs.
//!
//! nri-testkit is where plugin and runtime authors go to test NRI code
//! without a Kubernetes node: fake plugins and domains, a conformance suite
//! for transports, and `nri-harness`, a runtime simulator that replays pod and
//! container lifecycles against real plugins. Those arrive with the issues
//! that build nri-core, the transports and the stub.
//!
//! What it has today:
//!
//! - [`plugin_test`]: the plugin test API. A [`plugin_test::PluginTest`]
//!   starts a plugin (in-process on the stub, or its binary launched as a
//!   pre-installed plugin over ttrpc), drives pod and container lifecycles
//!   through nri-core's runtime API, and returns what the plugin asked for;
//! - [`builders`]: realistic pods and containers, as containerd reports a
//!   Kubernetes pod, built deterministically;
//! - [`domain`]: [`domain::FakeDomain`], an in-memory runtime namespace that
//!   records and applies the updates and evictions plugins ask for;
//! - [`echo_plugin`]: a minimal NRI plugin, served over both RPC stacks
//!   nri-proto generates (ttrpc and gRPC) from one implementation;
//! - [`stack_check`]: drives one scripted exchange over real unix sockets with
//!   a ttrpc client and server and a tonic client and server, and checks that
//!   both stacks carry the same prost messages. `nri-harness` runs it and
//!   prints the report;
//! - [`conformance`]: the conformance suite of the runtime side, run over
//!   any transport through a [`conformance::Harness`], in a few lines with
//!   [`conformance_suite!`];
//! - [`fake_plugin`]: a plugin scripted per event in YAML or JSON (reply
//!   with adjustments, updates and evictions, fail, delay, hang, close,
//!   crash, send unsolicited updates) that records what it receives; it
//!   runs on the stub over any transport, or as a plugin process;
//! - [`json`]: NRI messages to and from the protobuf JSON mapping.

pub mod builders;
pub mod conformance;
pub mod domain;
pub mod echo_plugin;
pub mod fake_plugin;
pub mod json;
pub mod memory;
pub mod plugin_test;
pub mod stack_check;
