//! Events per second through the adaptation over the in-process transport,
//! with 0, 1 and 3 plugins subscribed to every lifecycle event.
//!
//! `cargo bench -p nri-core --bench events`. Each iteration delivers a
//! batch of StartContainer events (the cheapest real event: a notification
//! carrying a pod and a container), so the reported throughput is events
//! per second; divan reports the median.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use divan::counter::ItemsCount;
use nri_core::adaptation::{Adaptation, Options, RuntimeBackend, Snapshot, SnapshotError};
use nri_core::proto::api::{ContainerEviction, ContainerUpdate, StartContainerRequest};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::in_process::{self, RuntimeHandle};
use support::{Recorder, connect, container, pod};

const BATCH: usize = 1000;

fn main() {
    divan::main();
}

struct Empty;

#[async_trait::async_trait]
impl RuntimeBackend for Empty {
    async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        Ok(Snapshot::default())
    }
    async fn update_containers(&self, _: Vec<ContainerUpdate>) -> Vec<ContainerUpdate> {
        Vec::new()
    }
    async fn evict_containers(
        &self,
        _: Vec<ContainerEviction>,
    ) -> Vec<nri_core::adaptation::FailedEviction> {
        Vec::new()
    }
}

/// An adaptation with `plugins` recording plugins, on a current-thread
/// runtime.
fn setup(plugins: usize) -> (tokio::runtime::Runtime, Adaptation, Vec<RuntimeHandle>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (adaptation, ends) = runtime.block_on(async {
        let options = Options::new("bench", "1").with_plugin_path(None);
        let adaptation = Adaptation::new(options, Arc::new(Empty));
        let (transport, connector) = in_process::transport();
        adaptation.start(vec![Arc::new(transport)]).await.unwrap();
        let mask = EventMask::ALL.without(Event::ValidateContainerAdjustment);
        let mut ends = Vec::new();
        for i in 0..plugins {
            let (plugin, log) = Recorder::new(mask);
            // The log is not read: drop the receiver so sends stay cheap.
            drop(log);
            ends.push(connect(&connector, plugin, &format!("{i:02}"), "bench").await);
        }
        adaptation.wait_for_plugins(plugins).await;
        (adaptation, ends)
    });
    (runtime, adaptation, ends)
}

#[divan::bench(args = [0, 1, 3], sample_count = 30)]
fn start_container_events(bencher: divan::Bencher, plugins: usize) {
    let (runtime, adaptation, _ends) = setup(plugins);
    let request = StartContainerRequest {
        pod: Some(pod("pod0")),
        container: Some(container("pod0", "ctr0", 1)),
    };
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        runtime.block_on(async {
            for _ in 0..BATCH {
                adaptation.start_container(request.clone()).await.unwrap();
            }
        })
    });
}
