#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The conformance suite over the WASM transport: every plugin is an
//! instance of the relay guest in the runtime's process, answering through
//! upstream's WASM ABI (see [`WasmHarness`]). One test per scenario group
//! that applies to pre-installed WASM plugins; the skipped groups
//! (construction §5.3 and registration §5.4, the StateChange fallback,
//! unsolicited updates §5.11) and why are listed in `WasmHarness`'s
//! documentation.

use nri_testkit::conformance::WasmHarness;

nri_testkit::conformance_suite!(@groups WasmHarness::new().unwrap();
    dispatch_5_5 => events::dispatch,
    adjustments_5_6 => adjustments::single_plugin,
    merging_5_7 => merging::two_plugins,
    validation_5_8 => validation::validation,
    solicited_updates_5_9_5_10 => updates::solicited,
    fault_matrix => faults::fault_matrix,
    panicking_plugin => faults::panicking_plugin,
);

#[test]
fn metrics_5_12() {
    nri_testkit::conformance::metrics::run_with_debugging_recorder(|snapshotter| async move {
        let harness = WasmHarness::new().unwrap();
        nri_testkit::conformance::metrics::metrics(&harness, &snapshotter).await;
    });
}
