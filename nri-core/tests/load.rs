//! Load: 64 concurrent pod lifecycles through the runtime API with three
//! plugins, about 10,000 events. Every event reaches every plugin, each
//! container's and pod's events arrive in lifecycle order, and nothing
//! deadlocks (a watchdog fails the test instead of letting it hang).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nri_core::adaptation::Options;
use nri_core::proto::event::{Event, EventMask};
use nri_core::runtime_api::{DomainHandle, NriApi};
use nri_core::transport::in_process;
use support::{MemoryDomain, Recorder, Seen, connect, container, pod};

const PODS: usize = 64;
const CONTAINERS_PER_POD: usize = 39;
/// Run, stop and remove per pod; create, start, stop, remove per container.
const EVENTS: usize = PODS * (3 + 4 * CONTAINERS_PER_POD);
const WATCHDOG: Duration = Duration::from_secs(120);

async fn lifecycle(handle: DomainHandle, n: usize) {
    let p = pod(&format!("pod{n}"));
    handle.run_pod_sandbox(&p).await.unwrap();
    let containers: Vec<_> = (0..CONTAINERS_PER_POD)
        .map(|i| container(&p.id, &format!("pod{n}-ctr{i}"), 0))
        .collect();
    for c in &containers {
        handle.create_container(&p, c).await.unwrap();
        handle.start_container(&p, c).await.unwrap();
    }
    for (i, c) in containers.iter().enumerate() {
        // Half the containers exit on their own, half are stopped.
        if i % 2 == 0 {
            handle.notify_container_exit(&p, c);
        } else {
            handle.stop_container(&p, c).await.unwrap();
        }
        handle.remove_container(&p, c).await.unwrap();
    }
    handle.stop_pod_sandbox(&p).await.unwrap();
    handle.remove_pod_sandbox(&p).await.unwrap();
}

/// Checks one plugin's log: complete and in lifecycle order per object.
fn check(log: &[Seen]) {
    assert_eq!(log.len(), EVENTS);
    let mut order: HashMap<&str, Vec<Event>> = HashMap::new();
    for seen in log {
        let id = if seen.container.is_empty() {
            &seen.pod
        } else {
            &seen.container
        };
        order.entry(id).or_default().push(seen.event);
    }
    let container_order = [
        Event::CreateContainer,
        Event::StartContainer,
        Event::StopContainer,
        Event::RemoveContainer,
    ];
    let pod_order = [
        Event::RunPodSandbox,
        Event::StopPodSandbox,
        Event::RemovePodSandbox,
    ];
    assert_eq!(order.len(), PODS * (1 + CONTAINERS_PER_POD));
    for (id, events) in &order {
        let expected: &[Event] = if id.contains("ctr") {
            &container_order
        } else {
            &pod_order
        };
        assert_eq!(events, expected, "events of {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lifecycles_deliver_every_event_in_order() {
    let options = Options::new("load", "1").with_plugin_path(None);
    let (api, handle) = NriApi::new(Some(options), Arc::new(MemoryDomain::default()));
    let (transport, connector) = in_process::transport();
    api.start(vec![Arc::new(transport)]).await.unwrap();
    let mask = EventMask::ALL.without(Event::ValidateContainerAdjustment);
    let mut logs = Vec::new();
    let mut ends = Vec::new();
    for (index, name) in [("10", "first"), ("20", "second"), ("30", "third")] {
        let (plugin, log) = Recorder::new(mask);
        ends.push(connect(&connector, plugin, index, name).await);
        logs.push(log);
    }
    let adaptation = api.adaptation().unwrap().clone();
    tokio::time::timeout(WATCHDOG, adaptation.wait_for_plugins(3))
        .await
        .unwrap();

    let run = async {
        let tasks: Vec<_> = (0..PODS)
            .map(|n| tokio::spawn(lifecycle(handle.clone(), n)))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    };
    tokio::time::timeout(WATCHDOG, run)
        .await
        .expect("no deadlock");
    assert_eq!(adaptation.plugins().len(), 3, "no plugin dropped");
    for log in &mut logs {
        let mut seen = Vec::with_capacity(EVENTS);
        while let Ok(event) = log.try_recv() {
            seen.push(event);
        }
        check(&seen);
    }
    assert_eq!(api.tracked(), (0, 0), "state map empty after every removal");
    api.stop().await;
}
