#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The conformance suite over the gRPC transport (runtime and plugins in
//! one process, real unix sockets): one test per scenario group, so a
//! failure names its group.

use nri_testkit::conformance::GrpcHarness;

nri_testkit::conformance_suite!(GrpcHarness::new().unwrap());
