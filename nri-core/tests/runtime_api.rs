//! The runtime API layer over the in-process transport: the seed's bug
//! sequence, the state machine, exit notifications, lifecycle phases and
//! the disabled configuration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use nri_core::adaptation::Options;
use nri_core::config::Config;
use nri_core::proto::api::ContainerState;
use nri_core::proto::event::{Event, EventMask};
use nri_core::runtime_api::{DomainHandle, NriApi, State};
use nri_core::transport::Transport;
use nri_core::transport::in_process::{self, InProcessConnector};
use support::{MemoryDomain, Recorder, Seen, connect, container, pod};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const WATCHDOG: Duration = Duration::from_secs(10);

/// Every event but validation.
fn mutators() -> EventMask {
    EventMask::ALL.without(Event::ValidateContainerAdjustment)
}

fn options() -> Options {
    Options::new("test-runtime", "1.0").with_plugin_path(None)
}

/// An enabled API over a fresh in-memory domain, not started.
fn api(
    domain: Arc<MemoryDomain>,
) -> (NriApi, DomainHandle, Arc<dyn Transport>, InProcessConnector) {
    let (api, handle) = NriApi::new(Some(options()), domain);
    let (transport, connector) = in_process::transport();
    (api, handle, Arc::new(transport), connector)
}

async fn next(seen: &mut UnboundedReceiver<Seen>) -> (Event, String) {
    let seen = timeout(WATCHDOG, seen.recv())
        .await
        .expect("an event in time")
        .expect("open");
    let id = if seen.container.is_empty() {
        seen.pod
    } else {
        seen.container
    };
    (seen.event, id)
}

#[tokio::test]
async fn recovered_container_exiting_before_start_is_seen_stopped_by_plugins() {
    // A domain listing copies, and one lending its store.
    for lends in [false, true] {
        recovered_container_exiting_before_start(MemoryDomain {
            lends,
            ..MemoryDomain::default()
        })
        .await;
    }
}

async fn recovered_container_exiting_before_start(domain: MemoryDomain) {
    // The seed (containerd#10401): during startup recovery a running
    // container exits before NRI is started and before any plugin exists.
    let domain = Arc::new(domain);
    domain.pods.lock().unwrap().push(pod("pod0"));
    let recovered = container("pod0", "ctr0", ContainerState::ContainerRunning as i32);
    domain.containers.lock().unwrap().push(recovered.clone());
    let (api, handle, transport, connector) = api(Arc::clone(&domain));

    handle.notify_container_exit(&pod("pod0"), &recovered);
    api.start(vec![transport]).await.unwrap();

    let (plugin, mut seen) = Recorder::new(mutators());
    let _plugin = connect(&connector, plugin.clone(), "10", "recorder").await;
    timeout(WATCHDOG, api.adaptation().unwrap().wait_for_plugins(1))
        .await
        .unwrap();

    // The store still lists it running; the plugins learn it stopped.
    let synced = plugin.synced.lock().unwrap().clone();
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0].1[0].id, "ctr0");
    assert_eq!(
        synced[0].1[0].state,
        ContainerState::ContainerStopped as i32
    );
    assert_eq!(api.container_state("ctr0"), Some(State::Stopped));

    // Its removal delivers no second stop.
    handle
        .remove_container(&pod("pod0"), &recovered)
        .await
        .unwrap();
    assert_eq!(
        next(&mut seen).await,
        (Event::RemoveContainer, "ctr0".into())
    );
    // The pod, listed at synchronization, gets its stop and removal too.
    handle.stop_pod_sandbox(&pod("pod0")).await.unwrap();
    handle.remove_pod_sandbox(&pod("pod0")).await.unwrap();
    assert_eq!(
        next(&mut seen).await,
        (Event::StopPodSandbox, "pod0".into())
    );
    assert_eq!(
        next(&mut seen).await,
        (Event::RemovePodSandbox, "pod0".into())
    );
    assert_eq!(api.tracked(), (0, 0));
    api.stop().await;
}

#[tokio::test]
async fn every_entry_point_works_before_start_and_after_stop() {
    let (api, handle, transport, connector) = api(Arc::new(MemoryDomain::default()));
    let p = pod("p");
    let c = container("p", "c", 0);
    // Before start: tracked, nothing to deliver to.
    handle.run_pod_sandbox(&p).await.unwrap();
    let created = handle.create_container(&p, &c).await.unwrap();
    let adjustment = created.adjustment.unwrap_or_default();
    assert!(
        adjustment.annotations.is_empty()
            && adjustment.mounts.is_empty()
            && adjustment.env.is_empty()
    );
    handle.start_container(&p, &c).await.unwrap();
    assert_eq!(api.container_state("c"), Some(State::Running));

    api.start(vec![transport]).await.unwrap();
    let (plugin, mut seen) = Recorder::new(mutators());
    let plugin_end = connect(&connector, plugin, "10", "recorder").await;
    timeout(WATCHDOG, api.adaptation().unwrap().wait_for_plugins(1))
        .await
        .unwrap();
    api.stop().await;
    timeout(WATCHDOG, plugin_end.closed())
        .await
        .expect("plugin disconnected by stop");

    // After stop: still total, still tracked, nothing delivered.
    let stopped = handle.stop_container(&p, &c).await.unwrap();
    assert!(stopped.delivered);
    handle.remove_container(&p, &c).await.unwrap();
    handle.notify_container_exit(&p, &c);
    assert_eq!(api.container_state("c"), None);
    assert!(seen.try_recv().is_err(), "no event after stop");
    api.stop().await;
}

#[tokio::test]
async fn stops_are_delivered_once_and_removal_stops_first() {
    let (api, handle, transport, connector) = api(Arc::new(MemoryDomain::default()));
    api.start(vec![transport]).await.unwrap();
    let (plugin, mut seen) = Recorder::new(mutators());
    let _end = connect(&connector, plugin, "10", "recorder").await;
    timeout(WATCHDOG, api.adaptation().unwrap().wait_for_plugins(1))
        .await
        .unwrap();

    let p = pod("p");
    let (a, b) = (container("p", "a", 0), container("p", "b", 0));
    handle.run_pod_sandbox(&p).await.unwrap();
    for c in [&a, &b] {
        handle.create_container(&p, c).await.unwrap();
        handle.start_container(&p, c).await.unwrap();
    }
    assert!(handle.stop_container(&p, &a).await.unwrap().delivered);
    assert!(!handle.stop_container(&p, &a).await.unwrap().delivered);
    handle.notify_container_exit(&p, &a);
    handle.remove_container(&p, &a).await.unwrap();
    handle.remove_container(&p, &b).await.unwrap();
    handle.remove_container(&p, &b).await.unwrap();
    handle.stop_pod_sandbox(&p).await.unwrap();

    let mut got = Vec::new();
    for _ in 0..10 {
        got.push(next(&mut seen).await);
    }
    let expected: Vec<(Event, String)> = [
        (Event::RunPodSandbox, "p"),
        (Event::CreateContainer, "a"),
        (Event::StartContainer, "a"),
        (Event::CreateContainer, "b"),
        (Event::StartContainer, "b"),
        (Event::StopContainer, "a"),
        (Event::RemoveContainer, "a"),
        (Event::StopContainer, "b"),
        (Event::RemoveContainer, "b"),
    ]
    .into_iter()
    .map(|(e, id)| (e, id.to_string()))
    .collect();
    assert_eq!(got[..9], expected[..]);
    assert_eq!(
        got[9],
        (Event::StopPodSandbox, "p".into()),
        "nothing else in between"
    );
    api.stop().await;
}

#[tokio::test]
async fn exit_notified_during_an_event_is_delivered_after_it_and_before_the_next() {
    let (api, handle, transport, connector) = api(Arc::new(MemoryDomain::default()));
    api.start(vec![transport]).await.unwrap();
    let (plugin, mut seen) = Recorder::new(mutators());
    let _end = connect(&connector, plugin, "10", "recorder").await;
    timeout(WATCHDOG, api.adaptation().unwrap().wait_for_plugins(1))
        .await
        .unwrap();
    let p = pod("p");
    let c = container("p", "c", 0);
    handle.run_pod_sandbox(&p).await.unwrap();
    handle.create_container(&p, &c).await.unwrap();

    // Notify while an event is in flight (and a sync block is held).
    let block = api.block_plugin_sync().await;
    let starting = {
        let handle = handle.clone();
        let (p, c) = (p.clone(), c.clone());
        tokio::spawn(async move { handle.start_container(&p, &c).await })
    };
    assert_eq!(next(&mut seen).await, (Event::RunPodSandbox, "p".into()));
    assert_eq!(next(&mut seen).await, (Event::CreateContainer, "c".into()));
    assert_eq!(next(&mut seen).await, (Event::StartContainer, "c".into()));
    handle.notify_container_exit(&p, &c); // returns at once: no await
    starting.await.unwrap().unwrap();
    handle.remove_container(&p, &c).await.unwrap();
    assert_eq!(next(&mut seen).await, (Event::StopContainer, "c".into()));
    assert_eq!(next(&mut seen).await, (Event::RemoveContainer, "c".into()));
    drop(block);
    api.stop().await;
}

#[tokio::test]
async fn disabled_configuration_makes_every_call_a_no_op() {
    let config = Config::from_toml_str("disable = true").unwrap();
    let (api, handle) = NriApi::from_config(&config, "rt", "1", Arc::new(MemoryDomain::default()));
    assert!(!api.is_enabled());
    assert!(api.adaptation().is_none());
    let (p, c) = (pod("p"), container("p", "c", 0));
    api.start(vec![]).await.unwrap();
    let _block = api.block_plugin_sync().await;
    handle.run_pod_sandbox(&p).await.unwrap();
    assert_eq!(
        handle.create_container(&p, &c).await.unwrap(),
        Default::default()
    );
    assert_eq!(
        handle.update_container(&p, &c, None).await.unwrap(),
        Default::default()
    );
    assert!(!handle.stop_container(&p, &c).await.unwrap().delivered);
    handle.notify_container_exit(&p, &c);
    handle.remove_container(&p, &c).await.unwrap();
    handle.remove_pod_sandbox(&p).await.unwrap();
    assert_eq!(api.tracked(), (0, 0));
    api.stop().await;
}

#[tokio::test]
async fn a_domain_name_registers_once() {
    let (api, handle) = NriApi::new(Some(options()), Arc::new(MemoryDomain::default()));
    assert_eq!(handle.name(), "k8s.io");
    let error = api
        .add_domain(Arc::new(MemoryDomain::default()))
        .unwrap_err();
    assert_eq!(error.to_string(), "domain \"k8s.io\" is already registered");
}

#[tokio::test]
async fn evictions_and_updates_are_carried_out_through_the_domain_after_the_event() {
    use nri_core::proto::api::{ContainerEviction, ContainerUpdate, CreateContainerResponse};
    use nri_core::transport::{PluginRequest, PluginResponse};
    let domain = Arc::new(MemoryDomain::default());
    let (api, handle, transport, connector) = api(Arc::clone(&domain));
    api.start(vec![transport]).await.unwrap();
    let (probe, _requests) =
        support::Probe::new(EventMask::of([Event::CreateContainer]), |request| {
            let PluginRequest::CreateContainer(r) = request else {
                return None;
            };
            let creating = r
                .container
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_default();
            (creating == "new").then(|| {
                Ok(PluginResponse::CreateContainer(Box::new(
                    CreateContainerResponse {
                        adjust: None,
                        update: vec![ContainerUpdate {
                            container_id: "old".into(),
                            ..Default::default()
                        }],
                        evict: vec![
                            ContainerEviction {
                                container_id: "victim".into(),
                                reason: "make room".into(),
                            },
                            ContainerEviction {
                                container_id: "stranger".into(),
                                reason: "unknown".into(),
                            },
                        ],
                    },
                )))
            })
        });
    let _end = connect(&connector, probe, "10", "evictor").await;
    timeout(WATCHDOG, api.adaptation().unwrap().wait_for_plugins(1))
        .await
        .unwrap();
    let p = pod("p");
    for id in ["old", "victim"] {
        handle
            .create_container(&p, &container("p", id, 0))
            .await
            .unwrap();
    }
    let created = handle
        .create_container(&p, &container("p", "new", 0))
        .await
        .unwrap();
    assert_eq!(created.applied.updated, ["old"]);
    assert_eq!(created.applied.evicted, ["victim"]);
    assert_eq!(created.applied.failed_evictions.len(), 1);
    assert_eq!(
        created.applied.failed_evictions[0].eviction.container_id,
        "stranger"
    );
    assert_eq!(domain.evictions.lock().unwrap()[0].reason, "make room");
    assert_eq!(domain.updates.lock().unwrap()[0].container_id, "old");
    api.stop().await;
}
