//! Adaptation behaviour the conformance suite does not cover: launching
//! pre-installed plugins through a transport, the registration gate,
//! concurrent registration, split synchronization end to end, the failure
//! policy by plugin name and shutdown. deadlines.rs times each deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nri_core::adaptation::{
    Adaptation, FailurePolicy, Options, RuntimeBackend, Snapshot, SnapshotError,
};
use nri_core::discovery::Preinstalled;
use nri_core::proto::api::{
    ContainerEviction, ContainerUpdate, RegisterPluginRequest, StartContainerRequest,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::in_process::{
    self, InProcessConnector, InProcessTransport, RuntimeHandle,
};
use nri_core::transport::{
    Accepted, CallError, LaunchError, Method, Origin, PluginRequest, PluginResponse,
    RuntimeRequest, Transport,
};
use support::{Probe, connect, container, pod};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const WATCHDOG: Duration = Duration::from_secs(10);

/// A runtime whose store the test fills.
#[derive(Default)]
struct Store(Mutex<Snapshot>);

#[async_trait::async_trait]
impl RuntimeBackend for Store {
    async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        Ok(self.0.lock().unwrap().clone())
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

fn options() -> Options {
    Options::new("test", "1").with_plugin_path(None)
}

async fn started(options: Options, store: Arc<Store>) -> (Adaptation, InProcessConnector) {
    let adaptation = Adaptation::new(options, store);
    let (transport, connector) = in_process::transport();
    adaptation.start(vec![Arc::new(transport)]).await.unwrap();
    (adaptation, connector)
}

async fn next_method(requests: &mut UnboundedReceiver<PluginRequest>) -> PluginRequest {
    timeout(WATCHDOG, requests.recv())
        .await
        .expect("a request in time")
        .expect("open")
}

/// A transport that "launches" a pre-installed plugin by connecting an
/// in-process probe, the way a process transport hands over a socketpair.
struct Launcher {
    inner: InProcessTransport,
    connector: InProcessConnector,
    plugin: Arc<Probe>,
    launched: Mutex<Vec<Preinstalled>>,
    handles: Mutex<Vec<Arc<RuntimeHandle>>>,
}

#[async_trait::async_trait]
impl Transport for Launcher {
    async fn accept(&self) -> Option<Accepted> {
        self.inner.accept().await
    }
    async fn launch(&self, plugin: &Preinstalled) -> Result<Accepted, LaunchError> {
        self.launched.lock().unwrap().push(plugin.clone());
        let origin = Origin::Launched { pid: Some(4242) };
        let handle = Arc::new(
            self.connector
                .connect(self.plugin.clone(), origin)
                .await
                .unwrap(),
        );
        let accepted = self.inner.accept().await.unwrap();
        // The plugin registers under another name: its file name wins.
        let register = RegisterPluginRequest {
            plugin_name: "whatever".into(),
            plugin_idx: "99".into(),
            nri_version: String::new(),
        };
        let registering = Arc::clone(&handle);
        tokio::spawn(async move {
            drop(
                registering
                    .call(RuntimeRequest::RegisterPlugin(register), WATCHDOG)
                    .await,
            )
        });
        self.handles.lock().unwrap().push(handle);
        Ok(accepted)
    }
}

#[tokio::test]
async fn preinstalled_plugins_launch_through_the_transport_with_their_config() {
    let plugins = tempfile::tempdir().unwrap();
    let configs = tempfile::tempdir().unwrap();
    let executable = plugins.path().join("05-launched");
    std::fs::write(&executable, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        &executable,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(plugins.path().join("bad name"), "").unwrap();
    std::fs::write(configs.path().join("launched.conf"), "generic").unwrap();
    std::fs::write(configs.path().join("05-launched.conf"), "specific").unwrap();

    let (probe, mut requests) = Probe::new(EventMask::of([Event::StartContainer]), |_| None);
    let (inner, connector) = in_process::transport();
    let launcher = Arc::new(Launcher {
        inner,
        connector,
        plugin: probe,
        launched: Mutex::default(),
        handles: Mutex::default(),
    });
    let mut options = options().with_plugin_path(Some(plugins.path().into()));
    options.plugin_config_path = configs.path().into();
    let adaptation = Adaptation::new(options, Arc::new(Store::default()));
    adaptation
        .start(vec![launcher.clone() as Arc<dyn Transport>])
        .await
        .unwrap();

    // start() returns with the pre-installed plugin in place.
    let listed = adaptation.plugins();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.to_string(), "05-launched");
    assert_eq!(listed[0].origin, Origin::Launched { pid: Some(4242) });
    let PluginRequest::Configure(configure) = next_method(&mut requests).await else {
        panic!("Configure first")
    };
    assert_eq!(configure.config, "specific");
    assert_eq!(
        (configure.registration_timeout, configure.request_timeout),
        (5000, 2000)
    );
    assert_eq!(
        next_method(&mut requests).await.method(),
        Method::Synchronize
    );

    adaptation.stop().await;
    assert_eq!(next_method(&mut requests).await.method(), Method::Shutdown);
    let handles = std::mem::take(&mut *launcher.handles.lock().unwrap());
    timeout(WATCHDOG, handles[0].closed()).await.unwrap();
    assert_eq!(
        launcher.launched.lock().unwrap().len(),
        1,
        "the badly named file was skipped"
    );
}

#[tokio::test]
async fn a_plugin_cannot_finish_syncing_while_the_runtime_holds_a_block() {
    let store = Arc::new(Store::default());
    let (adaptation, connector) = started(options(), Arc::clone(&store)).await;
    let (probe, mut requests) = Probe::new(EventMask::of([Event::StartContainer]), |_| None);
    let registering = tokio::spawn({
        let connector = connector.clone();
        async move { connect(&connector, probe, "10", "late").await }
    });
    let block = adaptation.block_plugin_sync().await;
    assert_eq!(next_method(&mut requests).await.method(), Method::Configure);
    // The runtime adds a container to its store and sends its event while
    // the plugin waits at the gate: the plugin must not get the event…
    store
        .0
        .lock()
        .unwrap()
        .containers
        .push(container("p", "c", 1));
    let event = StartContainerRequest {
        pod: Some(pod("p")),
        container: Some(container("p", "c", 1)),
    };
    // (the block holds registration only: events still flow.)
    let started_event = adaptation.clone();
    timeout(WATCHDOG, started_event.start_container(event))
        .await
        .unwrap()
        .unwrap();
    assert!(adaptation.plugins().is_empty());
    drop(block);
    let _plugin = registering.await.unwrap();
    // …and must find the container in its snapshot instead.
    let PluginRequest::Synchronize(sync) = next_method(&mut requests).await else {
        panic!("Synchronize")
    };
    assert_eq!(sync.containers.len(), 1);
    timeout(WATCHDOG, adaptation.wait_for_plugins(1))
        .await
        .unwrap();
    assert!(requests.try_recv().is_err(), "no StartContainer for it");
    adaptation.stop().await;
}

#[tokio::test]
async fn a_plugin_that_never_registers_holds_up_no_other() {
    let mut options = options();
    options.registration_timeout = Duration::from_secs(30);
    let (adaptation, connector) = started(options, Arc::new(Store::default())).await;
    let (silent, _) = Probe::new(EventMask::ALL, |_| None);
    let _silent = connector.connect(silent, Origin::External).await.unwrap();
    let (probe, _requests) = Probe::new(EventMask::of([Event::StartContainer]), |_| None);
    let _plugin = connect(&connector, probe, "10", "prompt").await;
    timeout(WATCHDOG, adaptation.wait_for_plugins(1))
        .await
        .expect("registered despite the silent one");
    adaptation.stop().await;
}

#[tokio::test]
async fn synchronization_splits_and_drops_plugins_that_cannot_follow() {
    let store = Arc::new(Store::default());
    store.0.lock().unwrap().containers = (0..40)
        .map(|i| container("p", &format!("c{i:02}"), 1))
        .collect();
    let mut options = options();
    options.max_message_size = 700;
    let (adaptation, connector) = started(options, store).await;

    let (follows, mut requests) = Probe::new(EventMask::ALL, |_| None);
    let _a = connect(&connector, follows, "10", "follows").await;
    let (ignores, _) = Probe::new(EventMask::ALL, |request| match request {
        PluginRequest::Synchronize(_) => Some(Ok(PluginResponse::Synchronize(Box::default()))),
        _ => None,
    });
    let b = connect(&connector, ignores, "20", "ignores").await;
    timeout(WATCHDOG, b.closed())
        .await
        .expect("dropped for not handling split sync");
    timeout(WATCHDOG, adaptation.wait_for_plugins(1))
        .await
        .unwrap();
    assert_eq!(next_method(&mut requests).await.method(), Method::Configure);
    let mut ids = Vec::new();
    loop {
        let PluginRequest::Synchronize(sync) = next_method(&mut requests).await else {
            panic!("Synchronize")
        };
        ids.extend(sync.containers.iter().map(|c| c.id.clone()));
        if !sync.more {
            break;
        }
    }
    assert_eq!(ids, (0..40).map(|i| format!("c{i:02}")).collect::<Vec<_>>());
    assert_eq!(adaptation.plugins().len(), 1);
    adaptation.stop().await;
}

// On the paused clock (see deadlines.rs): the timeouts cost no real time.
#[tokio::test(start_paused = true)]
async fn a_failure_policy_keeps_a_plugin_after_a_tolerated_timeout() {
    let mut options = options();
    options.plugin_failure_policies.insert(
        "slow".into(),
        FailurePolicy {
            tolerated_timeouts: 1,
        },
    );
    let (adaptation, connector) = started(options, Arc::new(Store::default())).await;
    let hang = |request: &PluginRequest| match request {
        PluginRequest::StartContainer(r)
            if r.container.as_ref().is_some_and(|c| c.id == "hang") =>
        {
            Some(Err(CallError::Timeout {
                after: Duration::ZERO,
            })) // hangs: see Probe
        }
        _ => None,
    };
    let (slow, _) = Probe::new(EventMask::of([Event::StartContainer]), hang);
    let (strict, _) = Probe::new(EventMask::of([Event::StartContainer]), hang);
    let _slow = connect(&connector, slow, "10", "slow").await;
    let _strict = connect(&connector, strict, "20", "strict").await;
    timeout(WATCHDOG, adaptation.wait_for_plugins(2))
        .await
        .unwrap();
    let event = |id: &str| StartContainerRequest {
        pod: Some(pod("p")),
        container: Some(container("p", id, 1)),
    };
    adaptation.start_container(event("hang")).await.unwrap();
    let names: Vec<String> = adaptation
        .plugins()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(names, ["10-slow"], "the tolerant policy kept one plugin");
    adaptation.start_container(event("ok")).await.unwrap();
    adaptation.start_container(event("hang")).await.unwrap();
    adaptation.start_container(event("hang")).await.unwrap();
    assert!(
        adaptation.plugins().is_empty(),
        "two timeouts in a row exceed the policy"
    );
    adaptation.stop().await;
}
