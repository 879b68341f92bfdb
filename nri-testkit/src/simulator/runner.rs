//! Replaying a scenario: lays out the plugins, starts a runtime (nri-core's
//! runtime API layer over a [`FakeDomain`], the chosen transport wrapped in
//! a [`Recorder`]), carries out each step as a runtime would, and collects
//! the [`Outcome`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nri_core::adaptation::{EventError, Options};
use nri_core::proto::api::{Container, ContainerState, LinuxResources, PodSandbox};
use nri_core::runtime_api::{DomainHandle, NriApi};
use nri_core::transport::{Origin, Transport};

use super::expect::{mismatches, presences};
use super::outcome::{ErrorKind, Outcome, PluginSeen, StepError, StepOutcome};
use super::recorder::Recorder;
use super::scenario::{Absent, Action, ContainerRef, ContainerSpec, Expect, PodSpec, Scenario};
use super::setup::{self, Layout};
use super::{RunOptions, SimulatorError, TransportKind};
use crate::builders::{ContainerBuilder, PodBuilder};
use crate::domain::FakeDomain;
use crate::json;

/// The domain (containerd namespace) the simulated runtime uses.
pub const DOMAIN: &str = "k8s.io";

/// Index of the first `--plugin` command without an `NN-` prefix.
const FIRST_COMMAND_INDEX: u8 = 50;

/// Default wait for external plugins.
const EXTERNAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `scenario` and returns what happened. An error means the run could
/// not be carried out at all; steps that fail are in the [`Outcome`].
pub async fn run(scenario: &Scenario, options: &RunOptions) -> Result<Outcome, SimulatorError> {
    scenario.check()?;
    if matches!(
        options.transport,
        TransportKind::Local | TransportKind::Wasm
    ) {
        return Err(SimulatorError::BenchOnly(options.transport.name()));
    }
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("nri-harness-")
        .tempdir()
        .map_err(|e| SimulatorError::Setup(format!("cannot create a temporary directory: {e}")))?;
    let mut layout = Layout::new(dir.path())?;
    for plugin in &scenario.plugins {
        layout.add(plugin)?;
    }
    for (i, command) in options.plugins.iter().enumerate() {
        let index = u8::try_from(i)
            .ok()
            .and_then(|i| FIRST_COMMAND_INDEX.checked_add(i))
            .filter(|i| *i <= 99)
            .ok_or_else(|| SimulatorError::Setup("too many --plugin commands".into()))?;
        layout.add_command(command, index)?;
    }
    if let Some(plugin_dir) = &options.plugin_dir {
        layout.add_directory(plugin_dir)?;
    }

    let socket = options
        .socket
        .clone()
        .unwrap_or_else(|| setup::default_socket(dir.path(), options.transport));
    let transport = setup::listen(options.transport, &socket, options.plugin_stderr)?;
    let recorder = Arc::new(Recorder::new(transport));
    // WASM files in the plugin directory load next to the executables.
    let wasm = Arc::new(recorder.sibling(setup::wasm(options.wasm_cache.as_deref())?));
    let domain = Arc::new(FakeDomain::new(DOMAIN));
    let (registration, request) = scenario.runtime.timeouts()?;
    let mut nri = Options::new(
        scenario
            .runtime
            .name
            .clone()
            .unwrap_or_else(|| "nri-harness".into()),
        scenario
            .runtime
            .version
            .clone()
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
    )
    .with_plugin_path(Some(layout.plugins.clone()));
    nri.plugin_config_path = layout.config.clone();
    if let Some(registration) = registration {
        nri.registration_timeout = registration;
    }
    if let Some(request) = request {
        nri.request_timeout = request;
    }
    let (api, handle) = NriApi::new(Some(nri), Arc::clone(&domain) as _);
    domain.attach(handle.clone());

    let mut sim = Simulation {
        scenario,
        options,
        api,
        handle,
        domain,
        recorder,
        wasm,
        pods: BTreeMap::new(),
        containers: BTreeMap::new(),
    };
    let startup = sim.start(&layout.labels, &socket).await;
    let startup = match startup {
        Ok(startup) => startup,
        Err(error) => {
            sim.api.stop().await;
            return Err(error);
        }
    };
    let plugins = sim.plugins_seen();
    let mut steps = vec![startup];
    for (i, step) in scenario.steps.iter().enumerate() {
        let outcome = sim.step(i + 1, step.action(), step.expect.as_ref()).await;
        steps.push(outcome);
    }
    sim.api.stop().await;
    Ok(Outcome {
        scenario: scenario.name.clone(),
        transport: options.transport.name().to_string(),
        plugins,
        steps,
        micros: micros(started.elapsed()),
    })
}

/// A run in progress.
struct Simulation<'a> {
    scenario: &'a Scenario,
    options: &'a RunOptions,
    api: NriApi,
    handle: DomainHandle,
    domain: Arc<FakeDomain>,
    recorder: Arc<Recorder>,
    /// The WASM transport, recording into `recorder`'s log.
    wasm: Arc<Recorder>,
    /// Pods by name, as last sent.
    pods: BTreeMap<String, PodSandbox>,
    /// Containers by `pod/container`, as last sent.
    containers: BTreeMap<String, Container>,
}

/// What a step produced before it is checked.
#[derive(Default)]
struct Produced {
    adjustment: Option<serde_json::Value>,
    resources: Option<serde_json::Value>,
    failures: Vec<String>,
    error: Option<StepError>,
}

impl Produced {
    fn event(&mut self, result: Result<(), EventError>) -> bool {
        match result {
            Ok(()) => true,
            Err(error) => {
                self.error = Some(classify(&error));
                false
            }
        }
    }

    fn harness(&mut self, message: String) {
        self.error = Some(StepError {
            kind: ErrorKind::Harness,
            message,
        });
    }
}

fn classify(error: &EventError) -> StepError {
    let kind = match error {
        EventError::Plugin { .. } => ErrorKind::Plugin,
        EventError::Merge(_) => ErrorKind::Conflict,
        _ => ErrorKind::Validation,
    };
    StepError {
        kind,
        message: error.to_string(),
    }
}

impl Simulation<'_> {
    /// Starts the runtime: launches, registers and synchronizes the
    /// pre-installed plugins, then waits for external ones. Step 0.
    async fn start(
        &mut self,
        launched: &[String],
        socket: &std::path::Path,
    ) -> Result<StepOutcome, SimulatorError> {
        let started = Instant::now();
        self.api
            .start(vec![
                Arc::clone(&self.recorder) as Arc<dyn Transport>,
                Arc::clone(&self.wasm) as Arc<dyn Transport>,
            ])
            .await
            .map_err(|e| SimulatorError::Start(e.to_string()))?;
        let registered = self.plugin_labels();
        if self.options.external > 0 {
            let wanted = self.options.external;
            let waited = self.options.external_timeout.unwrap_or(EXTERNAL_TIMEOUT);
            eprintln!(
                "nri-harness: waiting up to {waited:?} for {wanted} external plugin(s) on {}",
                socket.display()
            );
            let target = registered.len() + wanted;
            if let Some(adaptation) = self.api.adaptation() {
                let _ = tokio::time::timeout(waited, adaptation.wait_for_plugins(target)).await;
            }
            let connected = self.plugin_labels().len().saturating_sub(registered.len());
            if connected < wanted {
                return Err(SimulatorError::External {
                    wanted,
                    connected,
                    socket: socket.display().to_string(),
                    waited,
                });
            }
        }
        let now = self.plugin_labels();
        let missing: Vec<String> = launched
            .iter()
            .filter(|label| !now.contains(label))
            .cloned()
            .collect();
        let mut produced = Produced::default();
        if !missing.is_empty() {
            produced.error = Some(StepError {
                kind: ErrorKind::Plugin,
                message: format!(
                    "launched but not registered: {} (see their calls below; --plugin-stderr shows their output)",
                    missing.join(", ")
                ),
            });
        }
        let action = format!(
            "start: {} plugin(s) launched, {} external",
            launched.len(),
            self.options.external
        );
        Ok(self
            .finish(0, action, started, produced, None, missing)
            .await)
    }

    async fn step(
        &mut self,
        number: usize,
        action: Result<Action, String>,
        expect: Option<&Expect>,
    ) -> StepOutcome {
        let before = self.plugin_labels();
        let updates_before = self.domain.updates().len();
        let evictions_before = self.domain.evictions().len();
        let started = Instant::now();
        let mut produced = Produced::default();
        let label = match action {
            Ok(action) => {
                let label = describe(&action);
                if let Err(message) = self.act(action, &mut produced).await {
                    produced.harness(message);
                }
                label
            }
            Err(message) => {
                produced.harness(message);
                "invalid step".into()
            }
        };
        let after = self.plugin_labels();
        let lost: Vec<String> = before.into_iter().filter(|p| !after.contains(p)).collect();
        let mut outcome = self
            .finish(number, label, started, produced, expect, lost)
            .await;
        outcome.updates = to_json_list(&self.domain.updates()[updates_before..]);
        outcome.evictions = to_json_list(&self.domain.evictions()[evictions_before..]);
        if let Some(expect) = expect {
            outcome.mismatches = check(expect, &outcome, &after);
            outcome.failed = judge(&outcome, Some(expect));
        }
        if self.options.progress {
            eprintln!(
                "nri-harness: [{number}/{}] {} {}",
                self.scenario.steps.len(),
                outcome.action,
                if outcome.failed { "FAILED" } else { "ok" }
            );
        }
        outcome
    }

    async fn finish(
        &self,
        number: usize,
        action: String,
        started: Instant,
        produced: Produced,
        expect: Option<&Expect>,
        lost: Vec<String>,
    ) -> StepOutcome {
        let micros = micros(started.elapsed());
        let mut outcome = StepOutcome {
            number,
            action,
            micros,
            calls: self.recorder.settle().await,
            adjustment: produced.adjustment,
            resources: produced.resources,
            updates: Vec::new(),
            evictions: Vec::new(),
            failures: produced.failures,
            error: produced.error,
            plugins_lost: lost,
            expected: expect.is_some(),
            mismatches: Vec::new(),
            failed: false,
        };
        outcome.failed = judge(&outcome, expect);
        outcome
    }

    /// Carries out one action as a runtime would.
    async fn act(&mut self, action: Action, produced: &mut Produced) -> Result<(), String> {
        match action {
            Action::RunPod(name) => {
                let pod = build_pod(self.scenario.pod(&name)?);
                self.domain.add_pod(pod.clone());
                self.pods.insert(name, pod.clone());
                produced.event(self.handle.run_pod_sandbox(&pod).await);
            }
            Action::StopPod(name) => {
                let pod = self.pod(&name)?;
                produced.event(self.handle.stop_pod_sandbox(&pod).await);
            }
            Action::RemovePod(name) => {
                let pod = self.pod(&name)?;
                produced.event(self.handle.remove_pod_sandbox(&pod).await);
                self.domain.remove_pod(&pod.id);
                self.pods.remove(&name);
            }
            Action::Create(c) => {
                let pod = self.pod(&c.pod)?;
                let (_, spec) = self.scenario.container(&c)?;
                let container = build_container(&pod, spec);
                self.domain.add_container(container.clone());
                match self.handle.create_container(&pod, &container).await {
                    Ok(created) => {
                        self.note_failures(&created.applied, produced);
                        produced.adjustment = created
                            .adjustment
                            .as_ref()
                            .map(|a| json::to_json(a).map_err(|e| e.to_string()))
                            .transpose()?;
                        self.containers.insert(c.to_string(), container.clone());
                        produced.event(self.handle.post_create_container(&pod, &container).await);
                    }
                    Err(error) => {
                        self.domain.remove_container(&container.id);
                        produced.event(Err(error));
                    }
                }
            }
            Action::Start(c) => {
                let pod = self.pod(&c.pod)?;
                let container = self.set_state(&c, ContainerState::ContainerRunning)?;
                if produced.event(self.handle.start_container(&pod, &container).await) {
                    produced.event(self.handle.post_start_container(&pod, &container).await);
                }
            }
            Action::Update(c, resources) => {
                let pod = self.pod(&c.pod)?;
                let container = self.container(&c)?;
                let requested: LinuxResources =
                    json::from_json(resources).map_err(|e| format!("update resources: {e}"))?;
                match self
                    .handle
                    .update_container(&pod, &container, Some(requested.clone()))
                    .await
                {
                    Ok(updated) => {
                        self.note_failures(&updated.applied, produced);
                        let merged = updated.resources.unwrap_or(requested);
                        produced.resources =
                            Some(json::to_json(&merged).map_err(|e| e.to_string())?);
                        let container = self.set_resources(&c, merged)?;
                        produced.event(self.handle.post_update_container(&pod, &container).await);
                    }
                    Err(error) => {
                        produced.event(Err(error));
                    }
                }
            }
            Action::Stop(c) => {
                let pod = self.pod(&c.pod)?;
                let container = self.set_state(&c, ContainerState::ContainerStopped)?;
                match self.handle.stop_container(&pod, &container).await {
                    Ok(stopped) => self.note_failures(&stopped.applied, produced),
                    Err(error) => {
                        produced.event(Err(error));
                    }
                }
            }
            Action::Exit(c) => {
                let pod = self.pod(&c.pod)?;
                let container = self.set_state(&c, ContainerState::ContainerStopped)?;
                self.handle.notify_container_exit(&pod, &container);
                // The runtime's own stop follows the exit, as a CRI
                // StopContainer would; it also waits for the exit's
                // delivery, which goes first.
                match self.handle.stop_container(&pod, &container).await {
                    Ok(stopped) => self.note_failures(&stopped.applied, produced),
                    Err(error) => {
                        produced.event(Err(error));
                    }
                }
            }
            Action::Remove(c) => {
                let pod = self.pod(&c.pod)?;
                let container = self.container(&c)?;
                produced.event(self.handle.remove_container(&pod, &container).await);
                self.domain.remove_container(&container.id);
                self.containers.remove(&c.to_string());
            }
            Action::Unsolicited { window, count } => {
                let wanted = self.domain.updates().len() + count.unwrap_or(usize::MAX);
                let _ = tokio::time::timeout(window, self.domain.wait_updates(wanted)).await;
            }
        }
        Ok(())
    }

    fn note_failures(&self, applied: &nri_core::runtime_api::Applied, produced: &mut Produced) {
        for failed in &applied.failed_updates {
            produced
                .failures
                .push(format!("update of {} failed", failed.container_id));
        }
        for failed in &applied.failed_evictions {
            produced.failures.push(format!(
                "eviction of {} failed: {}",
                failed.eviction.container_id, failed.reason
            ));
        }
    }

    fn pod(&self, name: &str) -> Result<PodSandbox, String> {
        self.pods
            .get(name)
            .cloned()
            .ok_or_else(|| format!("pod {name:?} is not running (no run_pod step before)"))
    }

    fn container(&self, c: &ContainerRef) -> Result<Container, String> {
        self.containers
            .get(&c.to_string())
            .cloned()
            .ok_or_else(|| format!("container {c} does not exist (no create step before)"))
    }

    fn set_state(&mut self, c: &ContainerRef, state: ContainerState) -> Result<Container, String> {
        let mut container = self.container(c)?;
        container.state = state as i32;
        if state == ContainerState::ContainerRunning && container.pid == 0 {
            container.pid = 4000 + u32::try_from(self.containers.len()).unwrap_or(0);
        }
        self.domain.add_container(container.clone());
        self.containers.insert(c.to_string(), container.clone());
        Ok(container)
    }

    fn set_resources(
        &mut self,
        c: &ContainerRef,
        resources: LinuxResources,
    ) -> Result<Container, String> {
        let mut container = self.container(c)?;
        container.linux.get_or_insert_default().resources = Some(resources);
        self.domain.add_container(container.clone());
        self.containers.insert(c.to_string(), container.clone());
        Ok(container)
    }

    fn plugin_labels(&self) -> Vec<String> {
        self.api
            .adaptation()
            .map(|a| a.plugins().iter().map(|p| p.id.to_string()).collect())
            .unwrap_or_default()
    }

    fn plugins_seen(&self) -> Vec<PluginSeen> {
        let Some(adaptation) = self.api.adaptation() else {
            return Vec::new();
        };
        adaptation
            .plugins()
            .iter()
            .map(|p| PluginSeen {
                plugin: p.id.to_string(),
                origin: match p.origin {
                    Origin::Launched { pid: Some(pid) } => format!("launched, pid {pid}"),
                    Origin::Launched { pid: None } => "launched".into(),
                    Origin::External => "external".into(),
                    Origin::Builtin => "builtin".into(),
                },
                events: p.events.to_string(),
            })
            .collect()
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::RunPod(pod) => format!("run_pod {pod}"),
        Action::StopPod(pod) => format!("stop_pod {pod}"),
        Action::RemovePod(pod) => format!("remove_pod {pod}"),
        Action::Create(c) => format!("create {c}"),
        Action::Start(c) => format!("start {c}"),
        Action::Update(c, _) => format!("update {c}"),
        Action::Stop(c) => format!("stop {c}"),
        Action::Remove(c) => format!("remove {c}"),
        Action::Exit(c) => format!("exit {c}"),
        Action::Unsolicited { window, count } => match count {
            Some(count) => format!("unsolicited window {window:?} (until {count} updates)"),
            None => format!("unsolicited window {window:?}"),
        },
    }
}

/// Whether a step failed: a mismatch, or an error or a lost plugin that
/// its `expect:` did not foresee.
fn judge(outcome: &StepOutcome, expect: Option<&Expect>) -> bool {
    let error_foreseen = expect.is_some_and(|e| e.error.is_some());
    let loss_foreseen = expect.is_some_and(|e| e.plugins.is_some());
    !outcome.mismatches.is_empty()
        || (outcome.error.is_some() && !error_foreseen)
        || (!outcome.plugins_lost.is_empty() && !loss_foreseen)
}

/// Where a step's outcome differs from its `expect:`.
fn check(expect: &Expect, outcome: &StepOutcome, plugins: &[String]) -> Vec<String> {
    let null = serde_json::Value::Null;
    let mut found = Vec::new();
    if let Some(want) = &expect.adjust {
        found.extend(mismatches(
            "adjust",
            want,
            outcome.adjustment.as_ref().unwrap_or(&null),
        ));
    }
    if let Some(want) = &expect.resources {
        found.extend(mismatches(
            "resources",
            want,
            outcome.resources.as_ref().unwrap_or(&null),
        ));
    }
    if let Some(want) = &expect.updates {
        found.extend(mismatches(
            "updates",
            &serde_json::Value::Array(want.clone()),
            &serde_json::Value::Array(outcome.updates.clone()),
        ));
    }
    if let Some(want) = &expect.evictions {
        found.extend(mismatches(
            "evictions",
            &serde_json::Value::Array(want.clone()),
            &serde_json::Value::Array(outcome.evictions.clone()),
        ));
    }
    match (&expect.error, &outcome.error) {
        (Some(want), Some(error)) if !error.message.contains(want.as_str()) => found.push(format!(
            "error: expected one containing {want:?}, got {:?}",
            error.message
        )),
        (Some(want), None) => found.push(format!(
            "error: expected one containing {want:?}, the step succeeded"
        )),
        _ => {}
    }
    if let Some(want) = &expect.plugins
        && want.as_slice() != plugins
    {
        found.push(format!(
            "plugins: expected {want:?}, registered {plugins:?}"
        ));
    }
    if let Some(absent) = &expect.absent {
        found.extend(check_absent(absent, outcome, plugins));
    }
    found
}

/// Where a step produced what its `expect: absent:` rules out.
fn check_absent(absent: &Absent, outcome: &StepOutcome, plugins: &[String]) -> Vec<String> {
    let null = serde_json::Value::Null;
    let list = |values: &[serde_json::Value]| serde_json::Value::Array(values.to_vec());
    let mut found = Vec::new();
    if let Some(unwanted) = &absent.adjust {
        let actual = outcome.adjustment.as_ref().unwrap_or(&null);
        found.extend(presences("absent.adjust", unwanted, actual));
    }
    if let Some(unwanted) = &absent.resources {
        let actual = outcome.resources.as_ref().unwrap_or(&null);
        found.extend(presences("absent.resources", unwanted, actual));
    }
    if let Some(unwanted) = &absent.updates {
        found.extend(presences(
            "absent.updates",
            &list(unwanted),
            &list(&outcome.updates),
        ));
    }
    if let Some(unwanted) = &absent.evictions {
        found.extend(presences(
            "absent.evictions",
            &list(unwanted),
            &list(&outcome.evictions),
        ));
    }
    for plugin in absent.plugins.iter().flatten() {
        if plugins.contains(plugin) {
            found.push(format!(
                "absent.plugins: expected {plugin} not registered, registered {plugins:?}"
            ));
        }
    }
    found
}

fn build_pod(spec: &PodSpec) -> PodSandbox {
    let mut builder = PodBuilder::new(&spec.name);
    if let Some(namespace) = &spec.namespace {
        builder = builder.namespace(namespace);
    }
    for (key, value) in &spec.labels {
        builder = builder.label(key, value);
    }
    for (key, value) in &spec.annotations {
        builder = builder.annotation(key, value);
    }
    builder.build()
}

fn build_container(pod: &PodSandbox, spec: &ContainerSpec) -> Container {
    let mut builder = ContainerBuilder::new(pod, &spec.name);
    for (key, value) in &spec.labels {
        builder = builder.label(key, value);
    }
    for (key, value) in &spec.annotations {
        builder = builder.annotation(key, value);
    }
    for (key, value) in &spec.env {
        builder = builder.env(key, value);
    }
    if !spec.args.is_empty() {
        let args: Vec<&str> = spec.args.iter().map(String::as_str).collect();
        builder = builder.args(&args);
    }
    if let Some(cpu) = spec.cpu {
        builder = builder.cpu(cpu.shares, cpu.quota, cpu.period);
    }
    if let Some(limit) = spec.memory_limit {
        builder = builder.memory_limit(limit);
    }
    if let Some(image) = &spec.image {
        builder = builder.image(image);
    }
    builder.build()
}

fn to_json_list<M: prost::Message + prost::Name>(messages: &[M]) -> Vec<serde_json::Value> {
    messages
        .iter()
        .map(|m| json::to_json(m).unwrap_or_else(|e| serde_json::Value::String(e.to_string())))
        .collect()
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}
