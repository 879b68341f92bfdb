#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The conformance suite over the ttrpc transport (runtime and plugins in one process, real unix sockets): one test per
//! scenario group, so a failure names its group.

use nri_testkit::conformance::{self, TtrpcHarness};

#[tokio::test]
async fn construction_5_3() {
    conformance::registration::construction(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn registration_5_4() {
    conformance::registration::registration(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn dispatch_5_5() {
    conformance::events::dispatch(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn state_change_fallback() {
    conformance::events::state_change_fallback(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn adjustments_5_6() {
    conformance::adjustments::single_plugin(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn merging_5_7() {
    conformance::merging::two_plugins(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn validation_5_8() {
    conformance::validation::validation(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn solicited_updates_5_9_5_10() {
    conformance::updates::solicited(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn unsolicited_updates_5_11() {
    conformance::updates::unsolicited(&TtrpcHarness::new().unwrap()).await;
}

#[test]
fn metrics_5_12() {
    conformance::metrics::run_with_debugging_recorder(|snapshotter| async move {
        conformance::metrics::metrics(&TtrpcHarness::new().unwrap(), &snapshotter).await;
    });
}

#[tokio::test]
async fn fault_matrix() {
    conformance::faults::fault_matrix(&TtrpcHarness::new().unwrap()).await;
}

#[tokio::test]
async fn panicking_plugin() {
    conformance::faults::panicking_plugin(&TtrpcHarness::new().unwrap()).await;
}
