#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The conformance suite over the ttrpc transport with every plugin in a
//! child process (`nri-relay-plugin`, see `ProcessHarness`): one test per
//! scenario group, so a failure names its group.

use nri_testkit::conformance::{self, ProcessHarness};

fn harness() -> ProcessHarness {
    ProcessHarness::new(env!("CARGO_BIN_EXE_nri-relay-plugin")).unwrap()
}

#[tokio::test]
async fn construction_5_3() {
    conformance::registration::construction(&harness()).await;
}

#[tokio::test]
async fn registration_5_4() {
    conformance::registration::registration(&harness()).await;
}

#[tokio::test]
async fn dispatch_5_5() {
    conformance::events::dispatch(&harness()).await;
}

#[tokio::test]
async fn state_change_fallback() {
    conformance::events::state_change_fallback(&harness()).await;
}

#[tokio::test]
async fn adjustments_5_6() {
    conformance::adjustments::single_plugin(&harness()).await;
}

#[tokio::test]
async fn merging_5_7() {
    conformance::merging::two_plugins(&harness()).await;
}

#[tokio::test]
async fn validation_5_8() {
    conformance::validation::validation(&harness()).await;
}

#[tokio::test]
async fn solicited_updates_5_9_5_10() {
    conformance::updates::solicited(&harness()).await;
}

#[tokio::test]
async fn unsolicited_updates_5_11() {
    conformance::updates::unsolicited(&harness()).await;
}

#[test]
fn metrics_5_12() {
    conformance::metrics::run_with_debugging_recorder(|snapshotter| async move {
        conformance::metrics::metrics(&harness(), &snapshotter).await;
    });
}

/// With the plugin in another process, the plugin side's DEADLINE_EXCEEDED
/// answer can reach the runtime before the runtime's own timer fires; the
/// "× Timeout" cells check that it still counts as a timeout.
#[tokio::test]
async fn fault_matrix() {
    conformance::faults::fault_matrix(&harness()).await;
}

#[tokio::test]
async fn panicking_plugin() {
    conformance::faults::panicking_plugin(&harness()).await;
}
