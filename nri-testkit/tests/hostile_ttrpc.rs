//! The hostile-peer suite (`nri_testkit::hostile`) against a runtime on
//! the ttrpc transport.

nri_testkit::hostile_suite!(
    nri_testkit::hostile::ttrpc_target(),
    env!("CARGO_BIN_EXE_nri-harness"),
);
