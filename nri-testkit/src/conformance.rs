//! A transport-parameterised conformance suite for the runtime side of NRI.
//!
//! The scenarios port upstream's adaptation test suite
//! (containerd/nri `pkg/adaptation/adaptation_suite_test.go`) and add a
//! fault matrix.
//! Every scenario is a `pub async fn` taking a [`Harness`]: the harness says
//! how plugins reach the runtime (the in-process transport, the ttrpc
//! transport with plugins in the test process or in child processes
//! ([`ProcessHarness`]), the gRPC transport ([`GrpcHarness`]), WASM
//! instances in the runtime's process (`WasmHarness`, feature `wasm`)), and the scenario drives
//! a real [`Adaptation`](nri_core::adaptation::Adaptation) with a
//! [`FakeDomain`](crate::domain::FakeDomain) behind it and [`ScriptedPlugin`]s in front of it. A
//! socket harness serves the same [`PluginHandler`] over its wire,
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
//! # A transport's conformance tests
//!
//! [`conformance_suite!`](crate::conformance_suite) writes one test per
//! scenario group, named after the group (`construction_5_3`,
//! `registration_5_4`, …, `metrics_5_12`, `fault_matrix`,
//! `panicking_plugin`), each running on a fresh current-thread tokio
//! runtime with a fresh harness from the given expression. A third-party
//! transport's test file is then its harness and one line:
//!
//! ```
//! // tests/conformance_my_transport.rs
//! use std::sync::Arc;
//!
//! use nri_core::transport::PluginHandler;
//! use nri_core::transport::{CallError, Transport};
//! use nri_testkit::conformance::{Harness, InProcessHarness, PluginEnd};
//!
//! /// The transport under test (here it borrows the in-process one).
//! struct MyHarness(InProcessHarness);
//!
//! #[nri_core::async_trait]
//! impl Harness for MyHarness {
//!     fn name(&self) -> &str {
//!         "my-transport"
//!     }
//!     fn transport(&self) -> Arc<dyn Transport> {
//!         self.0.transport()
//!     }
//!     async fn connect(
//!         &self,
//!         plugin: Arc<dyn PluginHandler>,
//!     ) -> Result<Box<dyn PluginEnd>, CallError> {
//!         self.0.connect(plugin).await
//!     }
//! }
//!
//! nri_testkit::conformance_suite!(MyHarness(InProcessHarness::new()));
//! # fn main() {}
//! ```
//!
//! A new scenario group is one more line in the macro's list.
//!
//! [`PluginHandler`]: nri_core::transport::PluginHandler

pub mod adjustments;
pub mod events;
pub mod faults;
mod fixture;
mod grpc_harness;
mod harness;
pub mod merging;
pub mod metrics;
mod plugin;
mod process_harness;
pub mod registration;
mod samples;
mod strip;
mod ttrpc_harness;
pub mod updates;
pub mod validation;
#[cfg(feature = "wasm")]
mod wasm_harness;

pub use fixture::{
    Connected, Running, SEQUENCE, WATCHDOG, connect, container, create_request, drive, options,
    pod, register, send_event, start, start_with, state, within,
};
pub use grpc_harness::GrpcHarness;
pub use harness::{Harness, InProcessHarness, PluginEnd};
pub use plugin::{Behaviour, Handler, Journal, ScriptedPlugin};
pub use process_harness::{
    ProcessHarness, RELAY_CONTROL_SOCKET, RELAY_READY, RELAY_RUNTIME_SOCKET,
};
pub use strip::{strip_adjustment, strip_update};
pub use ttrpc_harness::TtrpcHarness;
#[cfg(feature = "wasm")]
#[cfg_attr(docsrs, doc(cfg(feature = "wasm")))]
pub use wasm_harness::WasmHarness;

/// Runs a scenario to completion on a fresh current-thread tokio runtime,
/// as `#[tokio::test]` does; for [`conformance_suite!`](crate::conformance_suite).
///
/// # Panics
///
/// If the runtime cannot be built, or the scenario fails.
pub fn block_on<F: std::future::Future>(scenario: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("cannot build a runtime: {error}"));
    runtime.block_on(scenario)
}

/// Runs a scenario on a fresh current-thread tokio runtime with the
/// harness `make` builds in it, on tokio's paused clock when the harness
/// allows it ([`Harness::paused_clock`]); for
/// [`conformance_suite!`](crate::conformance_suite).
///
/// # Panics
///
/// If the runtime cannot be built, or the scenario fails.
pub fn run<H, F>(make: impl FnOnce() -> H, scenario: impl FnOnce(H) -> F) -> F::Output
where
    H: Harness,
    F: std::future::Future,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(H::paused_clock())
        .build()
        .unwrap_or_else(|error| panic!("cannot build a runtime: {error}"));
    runtime.block_on(async move { scenario(make()).await })
}

/// Writes the conformance suite's tests for a transport: one `#[test]` per
/// scenario group, each with a fresh harness from `$harness` (an
/// expression evaluated in each test, whose value implements
/// [`Harness`]). See the [module documentation](crate::conformance).
#[macro_export]
macro_rules! conformance_suite {
    (@groups $harness:expr; $($test:ident => $module:ident :: $scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::conformance::run(
                    || $harness,
                    |harness| async move {
                        $crate::conformance::$module::$scenario(&harness).await;
                    },
                );
            }
        )*
    };
    ($harness:expr $(,)?) => {
        $crate::conformance_suite!(@groups $harness;
            construction_5_3 => registration::construction,
            registration_5_4 => registration::registration,
            dispatch_5_5 => events::dispatch,
            state_change_fallback => events::state_change_fallback,
            adjustments_5_6 => adjustments::single_plugin,
            merging_5_7 => merging::two_plugins,
            validation_5_8 => validation::validation,
            solicited_updates_5_9_5_10 => updates::solicited,
            unsolicited_updates_5_11 => updates::unsolicited,
            fault_matrix => faults::fault_matrix,
            panicking_plugin => faults::panicking_plugin,
        );

        #[test]
        fn metrics_5_12() {
            $crate::conformance::metrics::run_with_debugging_recorder(
                |snapshotter| async move {
                    let harness = $harness;
                    $crate::conformance::metrics::metrics(&harness, &snapshotter).await;
                },
            );
        }
    };
}
