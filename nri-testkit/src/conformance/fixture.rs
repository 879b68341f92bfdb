//! Fixtures shared by the scenarios: pods and containers, starting an
//! adaptation with plugins, and sending events.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use nri_core::adaptation::{Adaptation, EventError, Options, Snapshot};
use nri_core::proto::api::{
    Container, ContainerState, CreateContainerRequest, PodSandbox, PostCreateContainerRequest,
    PostStartContainerRequest, PostUpdateContainerRequest, PostUpdatePodSandboxRequest,
    RegisterPluginRequest, RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StopContainerRequest, StopPodSandboxRequest, UpdateContainerRequest,
    UpdatePodSandboxRequest,
};
use nri_core::proto::event::Event;
use nri_core::transport::{CallError, RuntimeRequest, RuntimeResponse};

use super::harness::{Harness, PluginEnd};
use super::plugin::ScriptedPlugin;
use crate::domain::FakeDomain;

/// How long anything a scenario awaits may take before the scenario fails.
pub const WATCHDOG: Duration = Duration::from_secs(10);

/// The lifecycle events in the order upstream's suite drives them
/// (`suite_test.go:261-365`).
pub const SEQUENCE: [Event; 13] = [
    Event::RunPodSandbox,
    Event::UpdatePodSandbox,
    Event::PostUpdatePodSandbox,
    Event::CreateContainer,
    Event::PostCreateContainer,
    Event::StartContainer,
    Event::PostStartContainer,
    Event::UpdateContainer,
    Event::PostUpdateContainer,
    Event::StopContainer,
    Event::RemoveContainer,
    Event::StopPodSandbox,
    Event::RemovePodSandbox,
];

/// Awaits `future`, failing the scenario if it takes longer than
/// [`WATCHDOG`]. A watchdog, not a delay: nothing waits for it to pass.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WATCHDOG, future).await {
        Ok(output) => output,
        Err(_) => panic!("watchdog: {what} took longer than {WATCHDOG:?}"),
    }
}

/// Options of the runtime under test: upstream's defaults, no pre-installed
/// plugins.
pub fn options() -> Options {
    Options::new("conformance-runtime", "1.2.3").with_plugin_path(None)
}

/// Pod `pod<i>`.
pub fn pod(i: usize) -> PodSandbox {
    PodSandbox {
        id: format!("pod{i}"),
        name: format!("pod{i}"),
        uid: format!("uid-pod{i}"),
        namespace: "default".into(),
        ..Default::default()
    }
}

/// Container `ctr<i>` of pod `pod<pod>`.
pub fn container(i: usize, pod: usize) -> Container {
    Container {
        id: format!("ctr{i}"),
        pod_sandbox_id: format!("pod{pod}"),
        name: format!("ctr{i}"),
        state: ContainerState::ContainerCreated as i32,
        args: vec!["sleep".into(), "inf".into()],
        ..Default::default()
    }
}

/// The runtime's state in most scenarios: `pod0` with `ctr0`, `pod1` with
/// `ctr1`.
pub fn state() -> Snapshot {
    Snapshot {
        pods: vec![pod(0), pod(1)],
        containers: vec![container(0, 0), container(1, 1)],
    }
}

/// A plugin connected through a harness.
#[derive(Clone)]
pub struct Connected {
    /// The plugin.
    pub plugin: Arc<ScriptedPlugin>,
    /// Its end of the connection.
    pub end: Arc<dyn PluginEnd>,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("plugin", &self.plugin)
            .field("closed", &self.end.is_closed())
            .finish()
    }
}

/// Connects a plugin without registering it.
pub async fn connect(h: &dyn Harness, plugin: ScriptedPlugin) -> Connected {
    let plugin = Arc::new(plugin);
    let end: Arc<dyn PluginEnd> = match within("connect", h.connect(plugin.clone())).await {
        Ok(end) => Arc::from(end),
        Err(error) => panic!("{}: cannot connect {}: {error}", h.name(), plugin.label()),
    };
    plugin.attach(&end);
    Connected { plugin, end }
}

/// Registers a connected plugin with its own index and name.
pub async fn register(plugin: &Connected) -> Result<RuntimeResponse, CallError> {
    let request = RegisterPluginRequest {
        plugin_name: plugin.plugin.name().to_string(),
        plugin_idx: plugin.plugin.index().to_string(),
        nri_version: "v0.12.2".into(),
    };
    plugin
        .end
        .call(
            RuntimeRequest::RegisterPlugin(request),
            Duration::from_secs(5),
        )
        .await
}

/// Starts an adaptation on the harness's transport.
pub async fn start(h: &dyn Harness, options: Options, runtime: Arc<FakeDomain>) -> Adaptation {
    let adaptation = Adaptation::new(options, runtime);
    if let Err(error) = within("start", adaptation.start(vec![h.transport()])).await {
        panic!("{}: the adaptation did not start: {error}", h.name());
    }
    adaptation
}

/// A running adaptation with its runtime and plugins.
#[derive(Debug)]
pub struct Running {
    /// The adaptation.
    pub adaptation: Adaptation,
    /// The runtime behind it.
    pub runtime: Arc<FakeDomain>,
    /// The plugins connected so far, in the order they were added.
    pub plugins: Vec<Connected>,
}

impl Running {
    /// The `i`th plugin added.
    pub fn plugin(&self, i: usize) -> &Arc<ScriptedPlugin> {
        &self.plugins[i].plugin
    }

    /// Connects and registers one more plugin, waits until the adaptation
    /// lists it, and forgets what it received while joining.
    pub async fn add(&mut self, h: &dyn Harness, plugin: ScriptedPlugin) {
        let count = self.adaptation.plugins().len() + 1;
        let connected = connect(h, plugin).await;
        if let Err(error) = register(&connected).await {
            panic!(
                "{}: {} failed to register: {error}",
                h.name(),
                connected.plugin.label()
            );
        }
        within("registration", self.adaptation.wait_for_plugins(count)).await;
        connected.plugin.take();
        self.plugins.push(connected);
    }

    /// `NN-name` of every plugin the adaptation lists, in invocation order.
    pub fn labels(&self) -> Vec<String> {
        self.adaptation
            .plugins()
            .iter()
            .map(|p| p.id.to_string())
            .collect()
    }

    /// Stops the adaptation.
    pub async fn stop(self) {
        within("stop", self.adaptation.stop()).await;
    }
}

/// Starts an adaptation over [`state`] and adds `plugins` one by one.
pub async fn start_with(
    h: &dyn Harness,
    options: Options,
    plugins: Vec<ScriptedPlugin>,
) -> Running {
    let runtime = Arc::new(FakeDomain::from_snapshot(state()));
    let adaptation = start(h, options, Arc::clone(&runtime)).await;
    let mut running = Running {
        adaptation,
        runtime,
        plugins: Vec::new(),
    };
    for plugin in plugins {
        running.add(h, plugin).await;
    }
    running
}

/// The creation request of `container` in `pod`.
pub fn create_request(pod: &PodSandbox, container: &Container) -> CreateContainerRequest {
    CreateContainerRequest {
        pod: Some(pod.clone()),
        container: Some(container.clone()),
    }
}

/// Sends one lifecycle event about `pod` (and `container`, for container
/// events). [`Event::ValidateContainerAdjustment`] sends CreateContainer,
/// the event validators take part in.
pub async fn send_event(
    adaptation: &Adaptation,
    event: Event,
    pod: &PodSandbox,
    container: &Container,
) -> Result<(), EventError> {
    let (p, c) = (Some(pod.clone()), Some(container.clone()));
    match event {
        Event::RunPodSandbox => {
            adaptation
                .run_pod_sandbox(RunPodSandboxRequest { pod: p })
                .await
        }
        Event::UpdatePodSandbox => {
            let request = UpdatePodSandboxRequest {
                pod: p,
                ..Default::default()
            };
            adaptation.update_pod_sandbox(request).await.map(drop)
        }
        Event::PostUpdatePodSandbox => {
            let request = PostUpdatePodSandboxRequest { pod: p };
            adaptation.post_update_pod_sandbox(request).await
        }
        Event::StopPodSandbox => {
            adaptation
                .stop_pod_sandbox(StopPodSandboxRequest { pod: p })
                .await
        }
        Event::RemovePodSandbox => {
            let request = RemovePodSandboxRequest { pod: p };
            adaptation.remove_pod_sandbox(request).await
        }
        Event::CreateContainer | Event::ValidateContainerAdjustment => {
            let request = CreateContainerRequest {
                pod: p,
                container: c,
            };
            adaptation.create_container(request).await.map(drop)
        }
        Event::PostCreateContainer => {
            let request = PostCreateContainerRequest {
                pod: p,
                container: c,
            };
            adaptation.post_create_container(request).await
        }
        Event::StartContainer => {
            let request = StartContainerRequest {
                pod: p,
                container: c,
            };
            adaptation.start_container(request).await
        }
        Event::PostStartContainer => {
            let request = PostStartContainerRequest {
                pod: p,
                container: c,
            };
            adaptation.post_start_container(request).await
        }
        Event::UpdateContainer => {
            let request = UpdateContainerRequest {
                pod: p,
                container: c,
                linux_resources: None,
            };
            adaptation.update_container(request).await.map(drop)
        }
        Event::PostUpdateContainer => {
            let request = PostUpdateContainerRequest {
                pod: p,
                container: c,
            };
            adaptation.post_update_container(request).await
        }
        Event::StopContainer => {
            let request = StopContainerRequest {
                pod: p,
                container: c,
            };
            adaptation.stop_container(request).await.map(drop)
        }
        Event::RemoveContainer => {
            let request = RemoveContainerRequest {
                pod: p,
                container: c,
            };
            adaptation.remove_container(request).await
        }
        Event::Unknown | Event::Last => Ok(()),
    }
}

/// Sends the whole [`SEQUENCE`] about `pod0`/`ctr0`; every event must
/// succeed.
pub async fn drive(adaptation: &Adaptation) {
    let (pod, container) = (pod(0), container(0, 0));
    for event in SEQUENCE {
        if let Err(error) = within(
            event.name(),
            send_event(adaptation, event, &pod, &container),
        )
        .await
        {
            panic!("{event} failed: {error}");
        }
    }
}
