//! `nri-logger`: logs every request it receives, and can add or set an
//! annotation and an environment variable on every container it sees
//! created, with the value `logger-pid-<pid>` (upstream's logger sample).
//!
//! Configuration (YAML or JSON, from `--config` or from the runtime, whose
//! keys replace those given before): `logFile` (append the log there
//! instead of standard error), `events` (subscribe only to these; names as
//! in `--events`), `addAnnotation`, `setAnnotation`, `addEnv`, `setEnv`.
//! The `set` forms also mark the key for removal, which replaces what an
//! earlier plugin set without a conflict. The plugin also validates every
//! adjustment (logging it and accepting it), so it is a validator.
//!
//! The log shows each part of a request as YAML, as upstream's does (see
//! [`crate::yaml`]): `Event: part:` and then one `Event:    line` per line.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use nri_core::proto::api::{
    Container, ContainerAdjustment, ContainerUpdate, CreateContainerResponse, KeyValue,
    LinuxResources, PodSandbox, StopContainerResponse, UpdateContainerResponse,
    UpdatePodSandboxRequest, ValidateContainerAdjustmentRequest,
};
use nri_core::proto::event::EventMask;
use nri_core::proto::removal;
use nri_core::stub::{Configuration, HandlerResult, Plugin};
use serde_json::Value;

use crate::yaml::{self, YamlError, message, messages, optional};

/// The logger's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoggerConfig {
    /// Append the log to this file instead of standard error.
    pub log_file: Option<PathBuf>,
    /// Subscribe only to these events.
    pub events: Vec<String>,
    /// Add this annotation to containers.
    pub add_annotation: Option<String>,
    /// Set (replace) this annotation on containers.
    pub set_annotation: Option<String>,
    /// Add this environment variable to containers.
    pub add_env: Option<String>,
    /// Set (replace) this environment variable on containers.
    pub set_env: Option<String>,
}

/// Keys given in one configuration text; the others keep their values.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ConfigUpdate {
    log_file: Option<PathBuf>,
    events: Option<Vec<String>>,
    add_annotation: Option<String>,
    set_annotation: Option<String>,
    add_env: Option<String>,
    set_env: Option<String>,
}

impl LoggerConfig {
    /// Applies a configuration text: the keys it gives replace ours.
    pub fn apply(&mut self, text: &str) -> Result<(), String> {
        let update: ConfigUpdate = crate::config_text::parse(text)?;
        let keep = |new: Option<String>, old: &mut Option<String>| {
            if new.is_some() {
                *old = new.filter(|v| !v.is_empty());
            }
        };
        if update.log_file.is_some() {
            self.log_file = update.log_file.filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(events) = update.events {
            self.events = events;
        }
        keep(update.add_annotation, &mut self.add_annotation);
        keep(update.set_annotation, &mut self.set_annotation);
        keep(update.add_env, &mut self.add_env);
        keep(update.set_env, &mut self.set_env);
        Ok(())
    }

    /// The events to subscribe to; `None` for every handled one.
    pub fn event_mask(&self) -> Result<Option<EventMask>, String> {
        let names: Vec<&str> = self
            .events
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(None);
        }
        names
            .join(",")
            .parse::<EventMask>()
            .map(Some)
            .map_err(|error| format!("invalid events in the configuration: {error}"))
    }

    /// What the logger adds to a container, with `pid` in the values.
    pub fn adjustment(&self, pid: u32) -> ContainerAdjustment {
        let value = format!("logger-pid-{pid}");
        let mut adjust = ContainerAdjustment::default();
        if let Some(key) = &self.add_annotation {
            adjust.annotations.insert(key.clone(), value.clone());
        }
        if let Some(key) = &self.set_annotation {
            adjust.annotations.insert(removal::mark(key), String::new());
            adjust.annotations.insert(key.clone(), value.clone());
        }
        if let Some(key) = &self.add_env {
            adjust.env.push(KeyValue {
                key: key.clone(),
                value: value.clone(),
            });
        }
        if let Some(key) = &self.set_env {
            adjust.env.push(KeyValue {
                key: removal::mark(key),
                value: String::new(),
            });
            adjust.env.push(KeyValue {
                key: key.clone(),
                value,
            });
        }
        adjust
    }
}

/// Where the log goes.
enum Sink {
    Stderr,
    File(PathBuf, std::fs::File),
}

/// The logger plugin.
pub struct Logger {
    config: Mutex<LoggerConfig>,
    sink: Mutex<Sink>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger").finish_non_exhaustive()
    }
}

impl Logger {
    /// A logger with `config`; fails if its log file cannot be opened.
    pub fn new(config: LoggerConfig) -> Result<Self, String> {
        let logger = Logger {
            config: Mutex::new(LoggerConfig::default()),
            sink: Mutex::new(Sink::Stderr),
        };
        logger.reconfigure(config)?;
        Ok(logger)
    }

    fn config(&self) -> LoggerConfig {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn reconfigure(&self, config: LoggerConfig) -> Result<(), String> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let current = match &*sink {
            Sink::Stderr => None,
            Sink::File(path, _) => Some(path.clone()),
        };
        if config.log_file != current {
            *sink = match &config.log_file {
                None => Sink::Stderr,
                Some(path) => {
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|error| {
                            format!("cannot open the log file {}: {error}", path.display())
                        })?;
                    Sink::File(path.clone(), file)
                }
            };
        }
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// Logs `parts` of a request to `event`, one line per line of each.
    fn dump(&self, event: &str, parts: &[(&str, Result<Value, YamlError>)]) {
        let text = dump_text(event, parts);
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let written = match &mut *sink {
            Sink::Stderr => std::io::stderr().write_all(text.as_bytes()),
            Sink::File(_, file) => file.write_all(text.as_bytes()),
        };
        if let Err(error) = written {
            tracing::warn!(%error, "cannot write the log");
        }
    }
}

/// What the logger writes for `parts` of a request to `event`: per part,
/// `event: tag:` and its YAML, one `event:    line` per line (upstream's
/// layout); a part that cannot be shown says why.
fn dump_text(event: &str, parts: &[(&str, Result<Value, YamlError>)]) -> String {
    let mut text = String::new();
    for (tag, part) in parts {
        match part.as_ref().map_err(Clone::clone).and_then(yaml::to_yaml) {
            Ok(body) => {
                text.push_str(&format!("{event}: {tag}:\n"));
                for line in body.trim().lines() {
                    text.push_str(&format!("{event}:    {line}\n"));
                }
            }
            Err(error) => {
                text.push_str(&format!("{event}: {tag}: failed to dump object: {error}\n"));
            }
        }
    }
    text
}

#[nri_core::plugin]
impl Plugin for Logger {
    async fn configure(&self, configuration: Configuration) -> HandlerResult<Option<EventMask>> {
        tracing::info!(
            config = %configuration.config,
            runtime = %configuration.runtime_name,
            version = %configuration.runtime_version,
            "got configuration data"
        );
        let mut config = self.config();
        config.apply(&configuration.config)?;
        let mask = config.event_mask()?;
        self.reconfigure(config)?;
        Ok(mask)
    }

    async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        self.dump(
            "Synchronize",
            &[
                ("pods", messages(&pods)),
                ("containers", messages(&containers)),
            ],
        );
        Ok(Vec::new())
    }

    async fn shutdown(&self) {
        self.dump("Shutdown", &[]);
    }

    async fn run_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.dump("RunPodSandbox", &[("pod", message(&pod))]);
        Ok(())
    }

    async fn update_pod_sandbox(&self, request: UpdatePodSandboxRequest) -> HandlerResult<()> {
        self.dump(
            "UpdatePodSandbox",
            &[
                ("pod", optional(&request.pod)),
                (
                    "overHeadResources",
                    optional(&request.overhead_linux_resources),
                ),
                ("resources", optional(&request.linux_resources)),
            ],
        );
        Ok(())
    }

    async fn post_update_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.dump("PostUpdatePodSandbox", &[("pod", message(&pod))]);
        Ok(())
    }

    async fn stop_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.dump("StopPodSandbox", &[("pod", message(&pod))]);
        Ok(())
    }

    async fn remove_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.dump("RemovePodSandbox", &[("pod", message(&pod))]);
        Ok(())
    }

    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        self.dump(
            "CreateContainer",
            &[("pod", message(&pod)), ("container", message(&container))],
        );
        Ok(CreateContainerResponse {
            adjust: Some(self.config().adjustment(std::process::id())),
            ..Default::default()
        })
    }

    async fn post_create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.dump(
            "PostCreateContainer",
            &[("pod", message(&pod)), ("container", message(&container))],
        );
        Ok(())
    }

    async fn start_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.dump(
            "StartContainer",
            &[("pod", message(&pod)), ("container", message(&container))],
        );
        Ok(())
    }

    async fn post_start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.dump(
            "PostStartContainer",
            &[("pod", message(&pod)), ("container", message(&container))],
        );
        Ok(())
    }

    async fn update_container(
        &self,
        pod: PodSandbox,
        container: Container,
        resources: Option<LinuxResources>,
    ) -> HandlerResult<UpdateContainerResponse> {
        self.dump(
            "UpdateContainer",
            &[
                ("pod", message(&pod)),
                ("container", message(&container)),
                ("resources", optional(&resources)),
            ],
        );
        Ok(UpdateContainerResponse::default())
    }

    async fn post_update_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.dump(
            "PostUpdateContainer",
            &[("pod", message(&pod)), ("container", message(&container))],
        );
        Ok(())
    }

    async fn stop_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        self.dump(
            "StopContainer",
            &[("pod", message(&pod)), ("container", message(&container))],
        );
        Ok(StopContainerResponse::default())
    }

    async fn remove_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.dump(
            "RemoveContainer",
            &[("pod", message(&pod)), ("container", message(&container))],
        );
        Ok(())
    }

    async fn validate_container_adjustment(
        &self,
        request: ValidateContainerAdjustmentRequest,
    ) -> HandlerResult<()> {
        self.dump(
            "ValidateContainerAdjustment",
            &[("request", message(&request))],
        );
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use nri_core::proto::api::Event;

    #[test]
    fn configuration_keys_replace_only_what_they_give() {
        let mut config = LoggerConfig {
            add_env: Some("FROM_FLAG".into()),
            events: vec!["CreateContainer".into()],
            ..Default::default()
        };
        config
            .apply(
                "setAnnotation: logger.example.com/set\nevents: [RunPodSandbox, StopContainer]\n",
            )
            .unwrap();
        assert_eq!(config.add_env.as_deref(), Some("FROM_FLAG"));
        assert_eq!(
            config.set_annotation.as_deref(),
            Some("logger.example.com/set")
        );
        assert_eq!(
            config.event_mask().unwrap(),
            Some(EventMask::of([Event::RunPodSandbox, Event::StopContainer]))
        );
        // JSON is YAML too.
        config.apply(r#"{"addEnv": ""}"#).unwrap();
        assert_eq!(config.add_env, None);
        assert!(config.apply("events: 7: [").is_err());
        let bad = LoggerConfig {
            events: vec!["NoSuchEvent".into()],
            ..Default::default()
        };
        assert!(bad.event_mask().is_err());
    }

    #[test]
    fn requests_are_logged_as_yaml_under_the_event() {
        let pod = PodSandbox {
            id: "p1".into(),
            name: "web".into(),
            ..Default::default()
        };
        let text = dump_text(
            "RunPodSandbox",
            &[
                ("pod", message(&pod)),
                ("resources", optional::<LinuxResources>(&None)),
            ],
        );
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("RunPodSandbox: pod:"));
        let body: String = lines
            .by_ref()
            .take_while(|l| *l != "RunPodSandbox: resources:")
            .map(|l| format!("{}\n", l.strip_prefix("RunPodSandbox:    ").unwrap()))
            .collect();
        let back: Value = serde_saphyr::from_str(&body).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"id": "p1", "name": "web"}),
            "{text}"
        );
        assert_eq!(lines.next(), Some("RunPodSandbox:    null"), "{text}");
        assert!(!text.contains("PodSandbox {"), "no debug notation: {text}");
        let failed = dump_text(
            "Shutdown",
            &[(
                "x",
                Err(YamlError::from(
                    nri_core::proto::json::JsonError::UnknownType("x".into()),
                )),
            )],
        );
        assert!(
            failed.starts_with("Shutdown: x: failed to dump object:"),
            "{failed}"
        );
    }

    #[test]
    fn set_forms_mark_the_key_for_removal_first() {
        let config = LoggerConfig {
            add_annotation: Some("a".into()),
            set_annotation: Some("s".into()),
            add_env: Some("A".into()),
            set_env: Some("S".into()),
            ..Default::default()
        };
        let adjust = config.adjustment(42);
        assert_eq!(
            adjust.annotations.get("a").map(String::as_str),
            Some("logger-pid-42")
        );
        assert_eq!(adjust.annotations.get("-s").map(String::as_str), Some(""));
        assert_eq!(
            adjust.annotations.get("s").map(String::as_str),
            Some("logger-pid-42")
        );
        let env: Vec<(&str, &str)> = adjust
            .env
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.as_str()))
            .collect();
        assert_eq!(
            env,
            [("A", "logger-pid-42"), ("-S", ""), ("S", "logger-pid-42")]
        );
        assert_eq!(
            LoggerConfig::default().adjustment(1),
            ContainerAdjustment::default()
        );
    }
}
