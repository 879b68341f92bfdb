//! The `nri-echo` plugin's footprint (`cargo bench -p nri-sample-plugins --bench
//! echo_memory`): its resident memory idle after registration and after
//! 10,000 CreateContainer events through our runtime over the ttrpc
//! transport, and its binary's size. Targets: under 4 MiB idle and under
//! 6 MiB after the events (upstream's Go sample plugins: about 13 MiB).
//!
//! The binary `cargo bench` builds is not quite the one a deployment
//! builds: the bench's dev-dependencies add tokio's multi-threaded
//! scheduler to it, which links the C maths library (about 300 KiB more
//! resident). `NRI_ECHO_BINARY=/absolute/path` measures another build
//! instead, such as the deployed build's (`cargo xtask plugins --bin nri-echo`,
//! `target/release/nri-echo`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use nri_core::adaptation::Snapshot;
use nri_core::proto::api::CreateContainerRequest;
use nri_testkit::conformance::{TtrpcHarness, container, options, pod, start, within};
use nri_testkit::domain::FakeDomain;
use nri_testkit::memory::resident;

const EVENTS: usize = 10_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let harness = TtrpcHarness::new().unwrap();
        let adaptation = start(
            &harness,
            options(),
            Arc::new(FakeDomain::from_snapshot(Snapshot::default())),
        )
        .await;
        let binary = std::env::var("NRI_ECHO_BINARY").unwrap_or_else(|_| {
            println!(
                "measuring the bench's build of nri-echo; for the deployed one, build it with \
                 `cargo xtask plugins --bin nri-echo` and set \
                 NRI_ECHO_BINARY=$PWD/target/release/nri-echo (an absolute path: \
                 benches run in their package's directory)"
            );
            env!("CARGO_BIN_EXE_nri-echo").to_string()
        });
        let binary = binary.as_str();
        let child = tokio::process::Command::new(binary)
            .args(["--idx", "10", "--name", "echo", "--socket-path"])
            .arg(harness.socket())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        within("registered", adaptation.wait_for_plugins(1)).await;
        let idle = resident(pid).unwrap();
        let request = CreateContainerRequest {
            pod: Some(pod(0)),
            container: Some(container(0, 0)),
        };
        let started = std::time::Instant::now();
        for _ in 0..EVENTS {
            adaptation.create_container(request.clone()).await.unwrap();
        }
        let took = started.elapsed();
        let after = resident(pid).unwrap();
        let size = std::fs::metadata(binary).unwrap().len();
        println!("nri-echo binary: {} KiB ({binary})", size / 1024);
        println!(
            "nri-echo resident memory: {} KiB idle after registration, {} KiB after {EVENTS} \
             CreateContainer events (peak {} KiB); the events took {took:?}",
            idle.now_kib, after.now_kib, after.peak_kib
        );
        println!(
            "  idle: {} KiB its own (heap, stacks, data), {} KiB mapped files (code, shared)",
            idle.anon_kib, idle.file_kib
        );
        adaptation.stop().await;
    });
}
