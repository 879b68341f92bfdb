#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The conformance suite over the ttrpc transport with every plugin in a
//! child process (`nri-relay-plugin`, see `ProcessHarness`): one test per
//! scenario group, so a failure names its group.
//!
//! With the plugin in another process, the plugin side's DEADLINE_EXCEEDED
//! answer can reach the runtime before the runtime's own timer fires; the
//! fault matrix's "× Timeout" cells check that it still counts as a
//! timeout.

use nri_testkit::conformance::ProcessHarness;

fn harness() -> ProcessHarness {
    ProcessHarness::new(env!("CARGO_BIN_EXE_nri-relay-plugin")).unwrap()
}

nri_testkit::conformance_suite!(harness());
