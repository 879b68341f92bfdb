#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The conformance suite over the in-process transport: one test per
//! scenario group, so a failure names its group.

use nri_testkit::conformance::InProcessHarness;

nri_testkit::conformance_suite!(InProcessHarness::new());
