//! A transport-parameterised conformance suite for the runtime side of NRI.
//!
//! The scenarios port upstream's adaptation test suite
//! (`shared/reference/nri-upstream.md` §5.3–§5.12) and add a fault matrix.
//! Every scenario is a `pub async fn` taking a [`Harness`]: the harness says
//! how plugins reach the runtime (the in-process transport, the ttrpc
//! transport with plugins in the test process or in child processes
//! ([`ProcessHarness`]), the gRPC transport later), and the scenario drives
//! a real [`Adaptation`](nri_core::adaptation::Adaptation) with a
//! [`FakeRuntime`] behind it and [`ScriptedPlugin`]s in front of it. A
//! socket harness serves the same [`InProcessPlugin`] handler over its wire,
//! so the scenarios run unchanged over every transport.
//!
//! Scenarios fail by panicking (they are test bodies). They never sleep to
//! wait for something: they await registrations, replies and recorded
//! requests, with [`within`] as a watchdog only.
//!
//! A harness serves one adaptation at a time: each scenario starts its
//! adaptations on [`Harness::transport`] one after the other and stops each
//! before starting the next, so do not run two scenarios on one harness at
//! once.
//!
//! | module | scenarios |
//! |---|---|
//! | [`registration`] | §5.3 A1–A3, §5.4 R1–R8 |
//! | [`events`] | §5.5 E1–E4, StateChange fallback |
//! | [`adjustments`] | §5.6 S1–S23 |
//! | [`merging`] | §5.7 C1–C11 |
//! | [`validation`] | §5.8 V1–V10 |
//! | [`updates`] | §5.9–§5.11 U1–U4, X1–X2, UpdateContainers from a handler |
//! | [`metrics`] | §5.12 MT1–MT5 |
//! | [`faults`] | the fault matrix |
//!
//! [`InProcessPlugin`]: nri_core::transport::in_process::InProcessPlugin

pub mod adjustments;
pub mod events;
pub mod faults;
mod fixture;
mod harness;
pub mod merging;
pub mod metrics;
mod plugin;
mod process_harness;
pub mod registration;
mod runtime;
mod samples;
mod strip;
mod ttrpc_harness;
pub mod updates;
pub mod validation;

pub use fixture::{
    Connected, Running, SEQUENCE, WATCHDOG, connect, container, create_request, drive, options,
    pod, register, send_event, start, start_with, state, within,
};
pub use harness::{Harness, InProcessHarness, PluginEnd};
pub use plugin::{Behaviour, Handler, Journal, ScriptedPlugin};
pub use process_harness::{
    ProcessHarness, RELAY_CONTROL_SOCKET, RELAY_READY, RELAY_RUNTIME_SOCKET,
};
pub use runtime::FakeRuntime;
pub use strip::{strip_adjustment, strip_update};
pub use ttrpc_harness::TtrpcHarness;
