#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The conformance suite over the in-process transport: one test per
//! scenario group, so a failure names its group.

use nri_testkit::conformance::{self, InProcessHarness};

#[tokio::test]
async fn construction_5_3() {
    conformance::registration::construction(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn registration_5_4() {
    conformance::registration::registration(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn dispatch_5_5() {
    conformance::events::dispatch(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn state_change_fallback() {
    conformance::events::state_change_fallback(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn adjustments_5_6() {
    conformance::adjustments::single_plugin(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn merging_5_7() {
    conformance::merging::two_plugins(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn validation_5_8() {
    conformance::validation::validation(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn solicited_updates_5_9_5_10() {
    conformance::updates::solicited(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn unsolicited_updates_5_11() {
    conformance::updates::unsolicited(&InProcessHarness::new()).await;
}

#[test]
fn metrics_5_12() {
    conformance::metrics::run_with_debugging_recorder(|snapshotter| async move {
        conformance::metrics::metrics(&InProcessHarness::new(), &snapshotter).await;
    });
}

#[tokio::test]
async fn fault_matrix() {
    conformance::faults::fault_matrix(&InProcessHarness::new()).await;
}

#[tokio::test]
async fn panicking_plugin() {
    conformance::faults::panicking_plugin(&InProcessHarness::new()).await;
}
