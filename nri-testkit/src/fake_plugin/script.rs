//! The [`Script`] a [`FakePlugin`](super::FakePlugin) follows, and reading
//! it from YAML or JSON. The format is described in the
//! [module documentation](super).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nri_core::proto::api::{ContainerAdjustment, ContainerEviction, ContainerUpdate};
use nri_core::proto::event::EventMask;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::call::Call;
use raw::RawStep;

/// Why a script could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// The YAML does not describe a script.
    #[error("invalid fake-plugin script: {0}")]
    Yaml(String),
    /// The JSON does not describe a script.
    #[error("invalid fake-plugin script (JSON): {0}")]
    Json(String),
    /// The file could not be read.
    #[error("cannot read the fake-plugin script {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What a fake plugin does, per call: see the [module
/// documentation](super) for the format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    events: Option<EventMask>,
    steps: BTreeMap<Call, Vec<Step>>,
}

/// One step of a call's list: which calls it applies to, and what the
/// plugin then does.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Applies only to calls about the container of this name.
    pub container: Option<String>,
    /// Applies only to calls about the pod of this name (or a container in
    /// it).
    pub pod: Option<String>,
    /// Applies to this many matching calls at most (`None`: every one).
    pub times: Option<u32>,
    /// How long to wait before acting.
    pub delay: Duration,
    /// What to do.
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Answer, with this adjustment, these updates and evictions (all empty
    /// for a plain reply).
    Reply(Box<Reply>),
    /// Answer with an error with this message (for
    /// ValidateContainerAdjustment: reject, with it as the reason).
    Fail(String),
    /// Never answer.
    Hang,
    /// Close the connection, without answering.
    Close,
    /// Process mode: exit the process at once with this code. In-process:
    /// close the connection, like [`Action::Close`].
    Crash(i32),
    /// Answer at once with an empty reply; `after` later, ask the runtime
    /// for these updates and evictions in an unsolicited UpdateContainers.
    UpdateLater {
        /// How long after answering.
        after: Duration,
        /// What to ask for.
        changes: Changes,
    },
}

/// A scripted reply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// The adjustment of the container being created.
    pub adjust: Option<ContainerAdjustment>,
    /// Updates and evictions.
    pub changes: Changes,
}

/// Updates and evictions, each naming its container by id or by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    /// Container updates.
    pub update: Vec<Targeted<ContainerUpdate>>,
    /// Container evictions.
    pub evict: Vec<Targeted<ContainerEviction>>,
}

impl Changes {
    /// Whether there is nothing to ask for.
    pub fn is_empty(&self) -> bool {
        self.update.is_empty() && self.evict.is_empty()
    }
}

/// An update or eviction whose container may be given by name, to be
/// resolved to an id among the containers the plugin has seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Targeted<M> {
    /// The container's name, if the script named it; its `container_id`
    /// is then filled in when the plugin answers.
    pub container: Option<String>,
    /// The update or eviction.
    pub message: M,
}

impl Script {
    /// Reads a script from YAML (JSON is YAML too). Empty text (or only
    /// comments) is the empty script.
    pub fn from_yaml(text: &str) -> Result<Script, ScriptError> {
        let script: Option<Script> =
            serde_saphyr::from_str(text).map_err(|e| ScriptError::Yaml(e.to_string()))?;
        Ok(script.unwrap_or_default())
    }

    /// Reads a script from JSON text.
    pub fn from_json(text: &str) -> Result<Script, ScriptError> {
        serde_json::from_str(text).map_err(|e| ScriptError::Json(e.to_string()))
    }

    /// Reads a script from a JSON value.
    pub fn from_json_value(value: serde_json::Value) -> Result<Script, ScriptError> {
        serde_json::from_value(value).map_err(|e| ScriptError::Json(e.to_string()))
    }

    /// Reads a script file: JSON if its name ends in `.json`, else YAML.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Script, ScriptError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            Script::from_json(&text)
        } else {
            Script::from_yaml(&text)
        }
    }

    /// The steps of `call`, in order.
    pub fn steps(&self, call: Call) -> &[Step] {
        self.steps.get(&call).map_or(&[], Vec::as_slice)
    }

    /// The events to subscribe to: the `events` list if the script has
    /// one; else the events the script has a key for; else (a script
    /// without event keys records only) every event.
    pub fn subscription(&self) -> EventMask {
        if let Some(events) = self.events {
            return events;
        }
        let keyed: EventMask = self.steps.keys().filter_map(|c| c.event()).collect();
        if keyed.is_empty() {
            EventMask::ALL
        } else {
            keyed
        }
    }
}

impl std::str::FromStr for Script {
    type Err = ScriptError;

    /// [`Script::from_yaml`].
    fn from_str(text: &str) -> Result<Script, ScriptError> {
        Script::from_yaml(text)
    }
}

impl<'de> Deserialize<'de> for Script {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ScriptVisitor)
    }
}

/// The keys a script's top level may have.
const KEYS: [&str; 18] = {
    let mut keys = ["events"; 18];
    let mut i = 0;
    while i < Call::NAMES.len() {
        keys[i + 1] = Call::NAMES[i];
        i += 1;
    }
    keys
};

struct ScriptVisitor;

impl<'de> Visitor<'de> for ScriptVisitor {
    type Value = Script;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a fake-plugin script: a map of NRI call names to lists of steps")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Script, A::Error> {
        let mut script = Script::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == "events" {
                if script.events.is_some() {
                    return Err(de::Error::duplicate_field("events"));
                }
                let names: Vec<String> = map.next_value()?;
                script.events = Some(events(&names).map_err(de::Error::custom)?);
                continue;
            }
            let call =
                Call::from_name(&key).ok_or_else(|| de::Error::unknown_field(&key, &KEYS))?;
            if script.steps.contains_key(&call) {
                return Err(de::Error::custom(format_args!("duplicate key `{call}`")));
            }
            let raw: Option<Vec<RawStep>> = map.next_value()?;
            let steps = raw
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, raw)| {
                    raw.into_step(call).map_err(|problem| {
                        de::Error::custom(format!("{call}, step {}: {problem}", i + 1))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            script.steps.insert(call, steps);
        }
        if let Some(events) = script.events {
            for call in script.steps.keys() {
                if let Some(event) = call.event()
                    && !events.contains(event)
                {
                    return Err(de::Error::custom(format!(
                        "`{call}` has steps, but the `events` list leaves it out"
                    )));
                }
            }
        }
        Ok(script)
    }
}

/// The mask of an `events` list: event names, or upstream's `all`, `pod`,
/// `container`.
fn events(names: &[String]) -> Result<EventMask, String> {
    let mut mask = EventMask::NONE;
    for name in names {
        let parsed: EventMask = name.parse().map_err(|_| {
            let known: Vec<&str> = nri_core::proto::event::EVENTS
                .iter()
                .map(|e| e.name())
                .collect();
            format!(
                "events: {name:?} is not an event; the events are {}, or all, pod, container",
                known.join(", ")
            )
        })?;
        mask = mask | parsed;
    }
    if mask.is_empty() {
        return Err(
            "events: an empty list subscribes to nothing; leave `events` out to \
                    subscribe to the events the script has keys for"
                .into(),
        );
    }
    Ok(mask)
}

mod raw;
#[cfg(test)]
mod tests;
