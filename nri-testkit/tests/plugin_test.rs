#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The plugin test API ([`nri_testkit::plugin_test`]) against real plugins:
//! the ulimit adjuster of nri-sample-plugins in-process and as a binary launched
//! over the ttrpc transport (`nri-test-plugin`), and a test plugin asking
//! for updates and evictions, with and without an event.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use nri_core::adaptation::EventError;
use nri_core::proto::api::{
    Container, ContainerEviction, ContainerState, ContainerUpdate, CreateContainerResponse,
    LinuxContainerUpdate, LinuxCpu, LinuxResources, PodSandbox, PosixRlimit, StopContainerResponse,
};
use nri_core::proto::event::EventMask;
use nri_core::proto::optional::{self, OptionalValue};
use nri_core::runtime_api::State;
use nri_core::stub::{Configuration, HandlerResult, Plugin, RuntimeClient};
use nri_core::transport::Origin;
use nri_sample_plugins::create_adjuster::CreateAdjuster;
use nri_sample_plugins::ulimit_adjuster;
use nri_testkit::builders::{ContainerBuilder, PodBuilder};
use nri_testkit::domain::EVICTED_EXIT_CODE;
use nri_testkit::plugin_test::{JoinFailure, PluginTest, PluginTestError};
use tokio::sync::watch;

const TEST_PLUGIN: &str = env!("CARGO_BIN_EXE_nri-test-plugin");

/// The annotation `nri-test-plugin` echoes its configuration in.
const CONFIG_ANNOTATION: &str = "nri-test-plugin.nri-rs.dev/config";

const ULIMITS: &str = "ulimits.noderesource.dev/container.app";

/// A pod asking for ulimits for its container `app`.
fn ulimited_pod() -> PodSandbox {
    PodBuilder::new("web")
        .annotation(
            ULIMITS,
            "- {type: RLIMIT_NOFILE, soft: 1024, hard: 4096}\n- {type: nproc, soft: 64, hard: 128}",
        )
        .build()
}

fn expected_rlimits() -> Vec<PosixRlimit> {
    vec![
        PosixRlimit {
            r#type: "RLIMIT_NOFILE".into(),
            hard: 4096,
            soft: 1024,
        },
        PosixRlimit {
            r#type: "RLIMIT_NPROC".into(),
            hard: 128,
            soft: 64,
        },
    ]
}

#[tokio::test]
async fn in_process_ulimit_adjuster_adjusts_the_annotated_container_only() {
    let pod = ulimited_pod();
    let app = ContainerBuilder::new(&pod, "app").build();
    let sidecar = ContainerBuilder::new(&pod, "sidecar").build();
    let t = PluginTest::builder()
        .in_process(CreateAdjuster(ulimit_adjuster::adjust))
        .await
        .unwrap();
    assert_eq!(
        t.plugin_info().unwrap().events,
        EventMask::of([nri_core::proto::event::Event::CreateContainer])
    );

    let created = t.create_container(&pod, &app).await.unwrap();
    assert_eq!(created.adjustment.unwrap().rlimits, expected_rlimits());
    // The pod was new: it was run first, and the domain holds both.
    assert_eq!(t.api().pod_state(&pod.id), Some(State::Running));
    assert_eq!(t.domain().pods(), std::slice::from_ref(&pod));
    assert_eq!(t.domain().containers(), std::slice::from_ref(&app));

    let created = t.create_container(&pod, &sidecar).await.unwrap();
    assert!(created.adjustment.unwrap_or_default().rlimits.is_empty());
    assert_eq!(created.applied, Default::default());
    t.stop().await;
}

#[tokio::test]
async fn a_plugins_error_fails_the_event_and_the_creation() {
    let pod = PodBuilder::new("web")
        .annotation(ULIMITS, "- {type: NOTALIMIT, soft: 1, hard: 2}")
        .build();
    let app = ContainerBuilder::new(&pod, "app").build();
    let t = PluginTest::builder()
        .index("42")
        .name("ulimits")
        .in_process(CreateAdjuster(ulimit_adjuster::adjust))
        .await
        .unwrap();
    let error = t.create_container(&pod, &app).await.unwrap_err();
    match error {
        PluginTestError::Event(EventError::Plugin { plugin, error, .. }) => {
            assert_eq!(plugin, "42-ulimits");
            assert!(error.to_string().contains("NOTALIMIT"), "{error}");
        }
        other => panic!("expected the plugin's error, got {other:?}"),
    }
    assert!(t.domain().container(&app.id).is_none());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_ulimit_adjuster_is_launched_over_ttrpc_with_its_configuration() {
    let pod = ulimited_pod();
    let app = ContainerBuilder::new(&pod, "app").build();
    let t = PluginTest::builder()
        .index("20")
        .config("from: the conf dir")
        .binary(TEST_PLUGIN)
        .await
        .unwrap();
    let info = t.plugin_info().unwrap();
    assert_eq!(info.id.to_string(), "20-nri-test-plugin");
    assert!(
        matches!(info.origin, Origin::Launched { pid: Some(_) }),
        "{:?}",
        info.origin
    );

    let adjustment = t
        .create_container(&pod, &app)
        .await
        .unwrap()
        .adjustment
        .unwrap();
    assert_eq!(adjustment.rlimits, expected_rlimits());
    assert_eq!(
        adjustment.annotations[CONFIG_ANNOTATION],
        "from: the conf dir"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_never_registers_fails_the_start_within_the_registration_timeout() {
    let started = Instant::now();
    let error = PluginTest::builder()
        .name("silent")
        .registration_timeout(Duration::from_millis(300))
        .binary(TEST_PLUGIN)
        .await
        .unwrap_err();
    match &error {
        PluginTestError::NotJoined { plugin, reason } => {
            assert_eq!(plugin, "10-silent");
            assert_eq!(
                *reason,
                JoinFailure::NotRegistered(Duration::from_millis(300))
            );
        }
        other => panic!("expected NotJoined, got {other:?}"),
    }
    assert!(
        error.to_string().contains("did not register within"),
        "{error}"
    );
    // The runtime's verdict, not the test kit's 10 s wait.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_binary_that_does_not_exist_cannot_be_installed() {
    let error = PluginTest::builder()
        .binary("/nonexistent/nri-plugin")
        .await
        .unwrap_err();
    assert!(
        matches!(error, PluginTestError::Install { .. }),
        "{error:?}"
    );
}

/// What [`Rebalancer`] saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    config: String,
    synchronized: Vec<String>,
    stopped: Vec<String>,
    unsolicited_failed: Vec<ContainerUpdate>,
}

/// A plugin acting on the containers it learned in Synchronize, by the
/// name of the container an event is about:
///
/// - creating `squeezer` updates every known container to 2 CPU shares;
/// - creating `greedy` evicts every known container named `victim`;
/// - starting `nudger` updates every known container to 4096 CPU shares
///   with an unsolicited UpdateContainers call.
struct Rebalancer {
    seen: watch::Sender<Seen>,
    known: Mutex<Vec<Container>>,
    runtime: Mutex<Option<RuntimeClient>>,
    fail_configure: bool,
}

impl Rebalancer {
    fn new() -> (Self, watch::Receiver<Seen>) {
        let (seen, watcher) = watch::channel(Seen::default());
        let plugin = Rebalancer {
            seen,
            known: Mutex::new(Vec::new()),
            runtime: Mutex::new(None),
            fail_configure: false,
        };
        (plugin, watcher)
    }

    fn updates(&self, shares: u64) -> Vec<ContainerUpdate> {
        self.known
            .lock()
            .unwrap()
            .iter()
            .map(|c| cpu_shares(&c.id, shares))
            .collect()
    }
}

fn cpu_shares(id: &str, shares: u64) -> ContainerUpdate {
    ContainerUpdate {
        container_id: id.to_string(),
        linux: Some(LinuxContainerUpdate {
            resources: Some(LinuxResources {
                cpu: Some(LinuxCpu {
                    shares: optional::uint64(shares),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ignore_failure: false,
    }
}

fn shares_of(container: &Container) -> Option<u64> {
    container
        .linux
        .as_ref()?
        .resources
        .as_ref()?
        .cpu
        .as_ref()?
        .shares
        .value()
}

#[nri_core::plugin]
impl Plugin for Rebalancer {
    async fn configure(&self, configuration: Configuration) -> HandlerResult<Option<EventMask>> {
        if self.fail_configure {
            return Err("this configuration is unacceptable".into());
        }
        self.seen
            .send_modify(|s| s.config = configuration.config.clone());
        *self.runtime.lock().unwrap() = Some(configuration.runtime);
        Ok(None)
    }

    async fn synchronize(
        &self,
        _pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        let ids = containers.iter().map(|c| c.id.clone()).collect();
        *self.known.lock().unwrap() = containers;
        self.seen.send_modify(|s| s.synchronized = ids);
        Ok(Vec::new())
    }

    async fn create_container(
        &self,
        _pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let mut response = CreateContainerResponse::default();
        match container.name.as_str() {
            "squeezer" => response.update = self.updates(2),
            "greedy" => {
                response.evict = self
                    .known
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|c| c.name == "victim")
                    .map(|c| ContainerEviction {
                        container_id: c.id.clone(),
                        reason: "make room for greedy".into(),
                    })
                    .collect();
            }
            _ => {}
        }
        Ok(response)
    }

    async fn start_container(&self, _pod: PodSandbox, container: Container) -> HandlerResult<()> {
        if container.name == "nudger" {
            let runtime = self.runtime.lock().unwrap().clone().unwrap();
            let failed = runtime
                .update_containers(self.updates(4096), Vec::new())
                .await?;
            self.seen.send_modify(|s| s.unsolicited_failed = failed);
        }
        Ok(())
    }

    async fn stop_container(
        &self,
        _pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        self.seen.send_modify(|s| s.stopped.push(container.id));
        Ok(StopContainerResponse::default())
    }
}

/// A pod with a running container `name`, existing before the plugin
/// joins.
fn existing(name: &str) -> (PodSandbox, Container) {
    let pod = PodBuilder::new("existing").build();
    let container = ContainerBuilder::new(&pod, name)
        .state(ContainerState::ContainerRunning)
        .pid(4321)
        .build();
    (pod, container)
}

/// A rebalancer joined to a runtime where [`existing`] `victim` runs.
async fn rebalancer_with_victim() -> (PodSandbox, Container, PluginTest, watch::Receiver<Seen>) {
    let (pod, victim) = existing("victim");
    let (plugin, seen) = Rebalancer::new();
    let t = PluginTest::builder()
        .pod(pod.clone())
        .container(victim.clone())
        .in_process(plugin)
        .await
        .unwrap();
    (pod, victim, t, seen)
}

#[tokio::test]
async fn existing_state_and_configuration_reach_the_plugin() {
    let (pod, victim) = existing("victim");
    let (plugin, seen) = Rebalancer::new();
    let t = PluginTest::builder()
        .pod(pod)
        .container(victim.clone())
        .config("mode: strict")
        .in_process(plugin)
        .await
        .unwrap();
    // Returned once synchronized: no waiting needed.
    assert_eq!(seen.borrow().synchronized, [victim.id.as_str()]);
    assert_eq!(seen.borrow().config, "mode: strict");
    assert_eq!(t.api().container_state(&victim.id), Some(State::Running));
    t.stop().await;
}

#[tokio::test]
async fn solicited_updates_reach_the_domain_and_change_the_stored_container() {
    let (pod, victim, t, _seen) = rebalancer_with_victim().await;
    assert_eq!(shares_of(&victim), Some(102));

    let squeezer = ContainerBuilder::new(&pod, "squeezer").build();
    let created = t.create_container(&pod, &squeezer).await.unwrap();
    assert_eq!(created.applied.updated, [victim.id.as_str()]);
    assert!(created.applied.failed_updates.is_empty());
    let updates = t.domain().updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].container_id, victim.id);
    let stored = t.domain().container(&victim.id).unwrap();
    assert_eq!(shares_of(&stored), Some(2));
    t.stop().await;
}

#[tokio::test]
async fn unsolicited_updates_reach_the_domain() {
    let (pod, victim, t, seen) = rebalancer_with_victim().await;
    let nudger = ContainerBuilder::new(&pod, "nudger").build();
    t.create_container(&pod, &nudger).await.unwrap();
    assert!(t.domain().updates().is_empty());

    t.start_container(&pod, &nudger).await.unwrap();
    let updates = t.wait_updates(1).await.unwrap();
    assert_eq!(updates, [cpu_shares(&victim.id, 4096)]);
    let stored = t.domain().container(&victim.id).unwrap();
    assert_eq!(shares_of(&stored), Some(4096));
    assert!(seen.borrow().unsolicited_failed.is_empty());
    assert_eq!(
        t.domain().container(&nudger.id).unwrap().state,
        ContainerState::ContainerRunning as i32
    );
    t.stop().await;
}

#[tokio::test]
async fn failing_updates_chosen_on_the_domain_are_reported() {
    let (pod, victim, t, _seen) = rebalancer_with_victim().await;
    t.domain().fail_updates(&victim.id, "cgroup is gone");

    let squeezer = ContainerBuilder::new(&pod, "squeezer").build();
    let created = t.create_container(&pod, &squeezer).await.unwrap();
    let failed = &created.applied.failed_updates;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].container_id, victim.id);
    assert!(created.applied.updated.is_empty());
    // Asked for, not applied.
    assert_eq!(t.domain().updates().len(), 1);
    assert_eq!(
        shares_of(&t.domain().container(&victim.id).unwrap()),
        Some(102)
    );
    t.stop().await;
}

#[tokio::test]
async fn an_eviction_stops_the_container_and_its_exit_reaches_the_runtime_api() {
    let (pod, victim, t, seen) = rebalancer_with_victim().await;
    let greedy = ContainerBuilder::new(&pod, "greedy").build();
    let created = t.create_container(&pod, &greedy).await.unwrap();
    assert_eq!(created.applied.evicted, [victim.id.as_str()]);
    assert_eq!(
        t.wait_evictions(1).await.unwrap()[0].container_id,
        victim.id
    );

    let evicted = t.domain().container(&victim.id).unwrap();
    assert_eq!(evicted.state, ContainerState::ContainerStopped as i32);
    assert_eq!(evicted.exit_code, EVICTED_EXIT_CODE);

    t.settle().await;
    assert_eq!(t.api().container_state(&victim.id), Some(State::Stopped));
    // The exit reached the plugin as the container's stop, once.
    assert_eq!(seen.borrow().stopped, [victim.id.as_str()]);
    let stopped = t.stop_container(&pod, &victim).await.unwrap();
    assert!(!stopped.delivered);
    t.stop().await;
}

#[tokio::test]
async fn a_failing_eviction_is_reported_and_leaves_the_container_running() {
    let (pod, victim, t, seen) = rebalancer_with_victim().await;
    t.domain().fail_evictions(&victim.id, "protected");
    let greedy = ContainerBuilder::new(&pod, "greedy").build();
    let created = t.create_container(&pod, &greedy).await.unwrap();
    assert!(created.applied.evicted.is_empty());
    let failed = &created.applied.failed_evictions;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].eviction.container_id, victim.id);
    assert_eq!(failed[0].reason, "protected");
    t.settle().await;
    assert_eq!(t.api().container_state(&victim.id), Some(State::Running));
    assert!(seen.borrow().stopped.is_empty());
    t.stop().await;
}

#[tokio::test]
async fn a_lifecycle_reaches_the_plugin_and_the_domain_follows_it() {
    let (plugin, seen) = Rebalancer::new();
    let t = PluginTest::builder().in_process(plugin).await.unwrap();
    let pod = PodBuilder::new("web").build();
    let app = ContainerBuilder::new(&pod, "app").build();
    let worker = ContainerBuilder::new(&pod, "worker").build();

    t.run_pod_sandbox(&pod).await.unwrap();
    for c in [&app, &worker] {
        t.create_container(&pod, c).await.unwrap();
        t.post_create_container(&pod, c).await.unwrap();
        t.start_container(&pod, c).await.unwrap();
        t.post_start_container(&pod, c).await.unwrap();
    }
    assert_eq!(t.api().container_state(&app.id), Some(State::Running));

    let resources = LinuxResources {
        cpu: Some(LinuxCpu {
            shares: optional::uint64(512u64),
            ..Default::default()
        }),
        ..Default::default()
    };
    let updated = t
        .update_container(&pod, &app, Some(resources))
        .await
        .unwrap();
    assert_eq!(updated.applied, Default::default());
    t.post_update_container(&pod, &app).await.unwrap();
    assert_eq!(
        shares_of(&t.domain().container(&app.id).unwrap()),
        Some(512)
    );

    // The worker exits on its own; the app is stopped by the runtime.
    t.container_exit(&pod, &worker).await;
    assert_eq!(t.api().container_state(&worker.id), Some(State::Stopped));
    let stopped = t.stop_container(&pod, &app).await.unwrap();
    assert!(stopped.delivered);
    assert_eq!(seen.borrow().stopped, [worker.id.clone(), app.id.clone()]);

    t.remove_container(&pod, &app).await.unwrap();
    t.remove_container(&pod, &worker).await.unwrap();
    t.stop_pod_sandbox(&pod).await.unwrap();
    t.remove_pod_sandbox(&pod).await.unwrap();
    assert_eq!(t.api().tracked(), (0, 0));
    assert!(t.domain().containers().is_empty() && t.domain().pods().is_empty());
    t.stop().await;
}

#[tokio::test]
async fn a_plugin_failing_configure_is_explained() {
    let (mut plugin, _seen) = Rebalancer::new();
    plugin.fail_configure = true;
    let error = PluginTest::builder().in_process(plugin).await.unwrap_err();
    match error {
        PluginTestError::NotJoined {
            reason: JoinFailure::Configure(message),
            ..
        } => assert!(message.contains("unacceptable"), "{message}"),
        other => panic!("expected a Configure failure, got {other:?}"),
    }
}
