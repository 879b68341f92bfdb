//! Scenario files: what `nri-harness run` replays. The format is documented
//! by the embedded default scenario, `nri-testkit/scenarios/default.yaml`,
//! whose comments explain every key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The scenario `nri-harness` runs without `--scenario`.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/default.yaml");

/// Largest scenario file read, in bytes (1 MiB).
pub const MAX_SCENARIO_LEN: usize = 1 << 20;

/// A scenario: the runtime's settings, the plugins it launches, the pods
/// and containers it knows, and the lifecycle steps it replays.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, for the report.
    #[serde(default)]
    pub name: String,
    /// What the scenario shows, for the report.
    #[serde(default)]
    pub description: String,
    /// The simulated runtime's settings.
    #[serde(default)]
    pub runtime: RuntimeSpec,
    /// Plugins launched as pre-installed plugins.
    #[serde(default)]
    pub plugins: Vec<PluginSpec>,
    /// The pods (and their containers) the steps refer to.
    #[serde(default)]
    pub pods: Vec<PodSpec>,
    /// The lifecycle, in order.
    pub steps: Vec<Step>,
}

/// The simulated runtime.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSpec {
    /// Name sent in Configure (default `nri-harness`).
    pub name: Option<String>,
    /// Version sent in Configure (default the harness's).
    pub version: Option<String>,
    /// How long a plugin may take to answer one call (default `2s`).
    pub request_timeout: Option<String>,
    /// How long a plugin may take to register (default `5s`).
    pub registration_timeout: Option<String>,
}

/// A plugin to launch.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// Its two-digit index.
    pub index: u8,
    /// A sample plugin built into `nri-harness` (`logger`,
    /// `ulimit-adjuster`, …).
    pub sample: Option<String>,
    /// A scripted fake plugin (see `nri_testkit::fake_plugin`) with this
    /// script.
    pub fake: Option<serde_json::Value>,
    /// Any executable, launched as a pre-installed plugin (no arguments).
    pub command: Option<String>,
    /// The name it registers with (default: the sample's name, `fake`, or
    /// the executable's file name).
    pub name: Option<String>,
    /// Its configuration, passed in Configure.
    pub config: Option<String>,
}

/// A pod and its containers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    /// Its name; steps refer to it by name.
    pub name: String,
    /// Its namespace (default `default`).
    pub namespace: Option<String>,
    /// Labels added to the kubelet's.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the kubelet's.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Its containers.
    #[serde(default)]
    pub containers: Vec<ContainerSpec>,
}

/// A container.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// Its name; steps refer to it as `pod/container`.
    pub name: String,
    /// Labels added to the kubelet's.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the kubelet's.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Environment variables added.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Its command line.
    #[serde(default)]
    pub args: Vec<String>,
    /// The image it runs (`Container.image.name`, e.g.
    /// `registry.k8s.io/pause:3.10`); the builder's default otherwise.
    pub image: Option<String>,
    /// CPU shares, quota and period.
    pub cpu: Option<CpuSpec>,
    /// Memory limit in bytes.
    pub memory_limit: Option<i64>,
}

/// CPU resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CpuSpec {
    /// Relative weight.
    pub shares: u64,
    /// Quota per period, in µs.
    pub quota: i64,
    /// Period, in µs.
    pub period: u64,
}

/// One step of a scenario: exactly one action key, and optionally what to
/// expect of it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// RunPodSandbox of this pod.
    pub run_pod: Option<String>,
    /// StopPodSandbox of this pod.
    pub stop_pod: Option<String>,
    /// RemovePodSandbox of this pod.
    pub remove_pod: Option<String>,
    /// CreateContainer (then PostCreateContainer) of `pod/container`.
    pub create: Option<String>,
    /// StartContainer (then PostStartContainer) of `pod/container`.
    pub start: Option<String>,
    /// UpdateContainer (then PostUpdateContainer) of `pod/container`, with
    /// `resources`.
    pub update: Option<String>,
    /// StopContainer of `pod/container`.
    pub stop: Option<String>,
    /// RemoveContainer of `pod/container`.
    pub remove: Option<String>,
    /// `pod/container` exits on its own: the runtime reports the exit.
    pub exit: Option<String>,
    /// A window of this length (`300ms`, `2s`) in which plugins may send
    /// unsolicited updates; it closes early once the runtime applied `count`
    /// container updates.
    pub unsolicited: Option<String>,
    /// For `unsolicited`: how many applied container updates close the
    /// window early.
    pub count: Option<usize>,
    /// For `update`: the new resources, a `LinuxResources` in protobuf
    /// JSON.
    pub resources: Option<serde_json::Value>,
    /// What the step must produce; the run fails if it does not.
    pub expect: Option<Expect>,
}

/// Expectations of a step, compared with what happened. Messages are
/// protobuf JSON and match when every field given matches (fields not
/// given are not compared; a list matches when each given element matches
/// one of the actual list's).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The merged `ContainerAdjustment` of a `create`.
    pub adjust: Option<serde_json::Value>,
    /// The merged `LinuxResources` of an `update`.
    pub resources: Option<serde_json::Value>,
    /// `ContainerUpdate`s the runtime applied during the step.
    pub updates: Option<Vec<serde_json::Value>>,
    /// `ContainerEviction`s the runtime carried out during the step.
    pub evictions: Option<Vec<serde_json::Value>>,
    /// The step fails with an error containing this text.
    pub error: Option<String>,
    /// The plugins (`NN-name`) registered after the step, exactly.
    pub plugins: Option<Vec<String>>,
    /// What the step must not produce, in the same terms: a list element,
    /// map key or field given here that the step produced fails it (see
    /// [`presences`](super::expect::presences)). For example
    /// `absent: {adjust: {env: [{key: DEBUG}], annotations: {example.com/x: null}}}`.
    pub absent: Option<Absent>,
}

/// What a step must not produce (`expect: absent:`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Absent {
    /// Parts of the merged `ContainerAdjustment` of a `create`.
    pub adjust: Option<serde_json::Value>,
    /// Parts of the merged `LinuxResources` of an `update`.
    pub resources: Option<serde_json::Value>,
    /// `ContainerUpdate`s the runtime must not have applied.
    pub updates: Option<Vec<serde_json::Value>>,
    /// `ContainerEviction`s the runtime must not have carried out.
    pub evictions: Option<Vec<serde_json::Value>>,
    /// Plugins (`NN-name`) that must not be registered after the step.
    pub plugins: Option<Vec<String>>,
}

/// What a step does, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// RunPodSandbox.
    RunPod(String),
    /// StopPodSandbox.
    StopPod(String),
    /// RemovePodSandbox.
    RemovePod(String),
    /// CreateContainer and PostCreateContainer.
    Create(ContainerRef),
    /// StartContainer and PostStartContainer.
    Start(ContainerRef),
    /// UpdateContainer and PostUpdateContainer.
    Update(ContainerRef, serde_json::Value),
    /// StopContainer.
    Stop(ContainerRef),
    /// RemoveContainer.
    Remove(ContainerRef),
    /// The container exits.
    Exit(ContainerRef),
    /// An unsolicited-update window.
    Unsolicited {
        /// How long it stays open at most.
        window: Duration,
        /// Update requests that close it early.
        count: Option<usize>,
    },
}

/// `pod/container`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// The pod's name.
    pub pod: String,
    /// The container's name.
    pub container: String,
}

impl std::fmt::Display for ContainerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.pod, self.container)
    }
}

/// Why a scenario is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file is not a scenario.
    #[error("not a valid scenario: {0}")]
    Syntax(String),
    /// The file is too large.
    #[error("the scenario is larger than {MAX_SCENARIO_LEN} bytes")]
    TooLarge,
    /// A step is wrong.
    #[error("step {step}: {reason}")]
    Step {
        /// Its number, from 1.
        step: usize,
        /// What is wrong.
        reason: String,
    },
    /// A plugin entry is wrong.
    #[error("plugin {index:02}: {reason}")]
    Plugin {
        /// Its index.
        index: u8,
        /// What is wrong.
        reason: String,
    },
    /// A setting is wrong.
    #[error("{0}")]
    Setting(String),
}

impl Scenario {
    /// Parses and checks a scenario in YAML (or JSON, which is YAML).
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        if text.len() > MAX_SCENARIO_LEN {
            return Err(ScenarioError::TooLarge);
        }
        let scenario: Scenario =
            serde_saphyr::from_str(text).map_err(|e| ScenarioError::Syntax(e.to_string()))?;
        scenario.check()?;
        Ok(scenario)
    }

    /// The embedded default scenario.
    pub fn default_scenario() -> Result<Scenario, ScenarioError> {
        Scenario::parse(DEFAULT_SCENARIO)
    }

    /// Checks what serde cannot: one action per step, known pods and
    /// containers, one kind per plugin, durations.
    pub fn check(&self) -> Result<(), ScenarioError> {
        for plugin in &self.plugins {
            plugin.kind()?;
        }
        let mut indices: Vec<(u8, String)> = Vec::new();
        for plugin in &self.plugins {
            let id = (plugin.index, plugin.name()?);
            if indices.contains(&id) {
                return Err(ScenarioError::Plugin {
                    index: plugin.index,
                    reason: format!("{:02}-{} is listed twice", id.0, id.1),
                });
            }
            indices.push(id);
        }
        self.runtime.timeouts()?;
        for (i, step) in self.steps.iter().enumerate() {
            let action = step.action().map_err(|reason| ScenarioError::Step {
                step: i + 1,
                reason,
            })?;
            self.check_refers(&action)
                .map_err(|reason| ScenarioError::Step {
                    step: i + 1,
                    reason,
                })?;
        }
        Ok(())
    }

    fn check_refers(&self, action: &Action) -> Result<(), String> {
        let pod = match action {
            Action::RunPod(pod) | Action::StopPod(pod) | Action::RemovePod(pod) => pod,
            Action::Create(c)
            | Action::Start(c)
            | Action::Update(c, _)
            | Action::Stop(c)
            | Action::Remove(c)
            | Action::Exit(c) => {
                self.container(c)?;
                return Ok(());
            }
            Action::Unsolicited { .. } => return Ok(()),
        };
        self.pod(pod).map(|_| ())
    }

    /// The pod named `name`.
    pub fn pod(&self, name: &str) -> Result<&PodSpec, String> {
        self.pods
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("no pod named {name:?} in `pods`"))
    }

    /// The container `c` refers to, and its pod.
    pub fn container(&self, c: &ContainerRef) -> Result<(&PodSpec, &ContainerSpec), String> {
        let pod = self.pod(&c.pod)?;
        let container = pod
            .containers
            .iter()
            .find(|x| x.name == c.container)
            .ok_or_else(|| format!("pod {:?} has no container {:?}", c.pod, c.container))?;
        Ok((pod, container))
    }
}

impl RuntimeSpec {
    /// The registration and request timeouts, where given.
    pub fn timeouts(&self) -> Result<(Option<Duration>, Option<Duration>), ScenarioError> {
        let parse = |key: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|text| {
                    nri_core::config::parse_duration(text)
                        .map_err(|e| ScenarioError::Setting(format!("runtime.{key}: {e}")))
                })
                .transpose()
        };
        Ok((
            parse("registration_timeout", &self.registration_timeout)?,
            parse("request_timeout", &self.request_timeout)?,
        ))
    }
}

/// What launches a plugin.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginKind {
    /// A sample plugin of `nri-harness`.
    Sample(String),
    /// A fake plugin with this script.
    Fake(serde_json::Value),
    /// An executable.
    Command(String),
}

impl PluginSpec {
    /// What launches it.
    pub fn kind(&self) -> Result<PluginKind, ScenarioError> {
        let error = |reason: &str| ScenarioError::Plugin {
            index: self.index,
            reason: reason.to_string(),
        };
        if self.index > 99 {
            return Err(error("the index must be 0 to 99"));
        }
        match (&self.sample, &self.fake, &self.command) {
            (Some(sample), None, None) => {
                if nri_sample_plugins::commands::sample(sample).is_none() {
                    let known: Vec<&str> = nri_sample_plugins::commands::SAMPLES
                        .iter()
                        .map(|(name, _)| *name)
                        .collect();
                    return Err(error(&format!(
                        "no sample plugin {sample:?}; the samples are {}",
                        known.join(", ")
                    )));
                }
                Ok(PluginKind::Sample(sample.clone()))
            }
            (None, Some(script), None) => Ok(PluginKind::Fake(script.clone())),
            (None, None, Some(command)) => Ok(PluginKind::Command(command.clone())),
            _ => Err(error("give exactly one of `sample`, `fake` and `command`")),
        }
    }

    /// The name it registers with.
    pub fn name(&self) -> Result<String, ScenarioError> {
        if let Some(name) = &self.name {
            return Ok(name.clone());
        }
        Ok(match self.kind()? {
            PluginKind::Sample(sample) => sample,
            PluginKind::Fake(_) => "fake".to_string(),
            PluginKind::Command(command) => std::path::Path::new(&command)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(command),
        })
    }
}

impl Step {
    /// The step's action, or why it has none or several.
    pub fn action(&self) -> Result<Action, String> {
        let container = |key: &str, value: &str| -> Result<ContainerRef, String> {
            match value.split_once('/') {
                Some((pod, container)) if !pod.is_empty() && !container.is_empty() => {
                    Ok(ContainerRef {
                        pod: pod.to_string(),
                        container: container.to_string(),
                    })
                }
                _ => Err(format!("`{key}` takes `pod/container`, not {value:?}")),
            }
        };
        let mut actions = Vec::new();
        if let Some(pod) = &self.run_pod {
            actions.push(Action::RunPod(pod.clone()));
        }
        if let Some(pod) = &self.stop_pod {
            actions.push(Action::StopPod(pod.clone()));
        }
        if let Some(pod) = &self.remove_pod {
            actions.push(Action::RemovePod(pod.clone()));
        }
        if let Some(c) = &self.create {
            actions.push(Action::Create(container("create", c)?));
        }
        if let Some(c) = &self.start {
            actions.push(Action::Start(container("start", c)?));
        }
        if let Some(c) = &self.update {
            let resources = self.resources.clone().ok_or("`update` needs `resources`")?;
            actions.push(Action::Update(container("update", c)?, resources));
        }
        if let Some(c) = &self.stop {
            actions.push(Action::Stop(container("stop", c)?));
        }
        if let Some(c) = &self.remove {
            actions.push(Action::Remove(container("remove", c)?));
        }
        if let Some(c) = &self.exit {
            actions.push(Action::Exit(container("exit", c)?));
        }
        if let Some(window) = &self.unsolicited {
            let window = nri_core::config::parse_duration(window)
                .map_err(|e| format!("unsolicited: {e}"))?;
            actions.push(Action::Unsolicited {
                window,
                count: self.count,
            });
        }
        if self.resources.is_some() && self.update.is_none() {
            return Err("`resources` belongs to `update`".into());
        }
        if self.count.is_some() && self.unsolicited.is_none() {
            return Err("`count` belongs to `unsolicited`".into());
        }
        match actions.len() {
            1 => Ok(actions.remove(0)),
            0 => Err("no action: give one of run_pod, create, start, update, stop, remove, exit, stop_pod, remove_pod, unsolicited".into()),
            _ => Err("more than one action in one step".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_default_scenario_is_valid() {
        let scenario = Scenario::default_scenario().unwrap();
        assert_eq!(scenario.pods.len(), 2);
        let containers: usize = scenario.pods.iter().map(|p| p.containers.len()).sum();
        assert_eq!(containers, 3);
        assert!(!scenario.plugins.is_empty());
    }

    #[test]
    fn steps_need_exactly_one_known_action() {
        let base = "pods: [{name: web, containers: [{name: app}]}]\nsteps:\n";
        let error = |steps: &str| Scenario::parse(&format!("{base}{steps}")).unwrap_err();
        assert_eq!(
            error("  - {run_pod: web, create: web/app}\n").to_string(),
            "step 1: more than one action in one step"
        );
        assert!(
            error("  - {}\n")
                .to_string()
                .starts_with("step 1: no action")
        );
        assert_eq!(
            error("  - {run_pod: web}\n  - {create: web/db}\n").to_string(),
            "step 2: pod \"web\" has no container \"db\""
        );
        assert_eq!(
            error("  - {create: app}\n").to_string(),
            "step 1: `create` takes `pod/container`, not \"app\""
        );
        assert_eq!(
            error("  - {update: web/app}\n").to_string(),
            "step 1: `update` needs `resources`"
        );
        assert!(matches!(
            error("  - {unsolicited: soon}\n"),
            ScenarioError::Step { step: 1, .. }
        ));
        assert!(matches!(
            error("  - {crate: web/app}\n"),
            ScenarioError::Syntax(_)
        ));
    }

    #[test]
    fn plugins_need_exactly_one_kind_and_a_known_sample() {
        let parse = |plugins: &str| Scenario::parse(&format!("plugins: {plugins}\nsteps: []\n"));
        assert!(parse("[{index: 10, sample: logger}]").is_ok());
        assert_eq!(
            parse("[{index: 10, sample: logger, command: /bin/true}]")
                .unwrap_err()
                .to_string(),
            "plugin 10: give exactly one of `sample`, `fake` and `command`"
        );
        assert!(
            parse("[{index: 10, sample: nope}]")
                .unwrap_err()
                .to_string()
                .contains("the samples are device-injector")
        );
        assert!(
            parse("[{index: 10, sample: logger}, {index: 10, sample: logger}]")
                .unwrap_err()
                .to_string()
                .contains("listed twice")
        );
    }

    #[test]
    fn oversized_scenarios_are_refused_before_parsing() {
        let text = " ".repeat(MAX_SCENARIO_LEN + 1);
        assert_eq!(Scenario::parse(&text), Err(ScenarioError::TooLarge));
    }
}
