//! Steps as written, and how they become [`Step`]s: which calls may do
//! what, updates and evictions with their `container` names, durations.

use std::time::Duration;

use nri_core::proto::api::ContainerAdjustment;
use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::{Action, Changes, Reply, Step, Targeted};
use crate::fake_plugin::call::{Call, Subject};
use crate::json;

/// A step as written.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    container: Option<String>,
    pod: Option<String>,
    times: Option<u32>,
    delay: Option<Delay>,
    adjust: Option<serde_json::Value>,
    update: Option<Vec<serde_json::Value>>,
    evict: Option<Vec<serde_json::Value>>,
    fail: Option<String>,
    hang: Option<bool>,
    close: Option<bool>,
    crash: Option<i32>,
    update_later: Option<RawLater>,
}

/// An `update_later` as written.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLater {
    after: Option<Delay>,
    update: Option<Vec<serde_json::Value>>,
    evict: Option<Vec<serde_json::Value>>,
}

/// The events that may answer with each part of a reply.
const ADJUSTS: [Call; 1] = [Call::CreateContainer];
const UPDATES: [Call; 4] = [
    Call::CreateContainer,
    Call::UpdateContainer,
    Call::StopContainer,
    Call::Synchronize,
];
const EVICTS: [Call; 2] = [Call::CreateContainer, Call::UpdateContainer];

fn names(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl RawStep {
    pub(super) fn into_step(self, call: Call) -> Result<Step, String> {
        match call.subject() {
            Subject::Container => {}
            Subject::Pod if self.container.is_some() => {
                return Err(format!(
                    "`container` cannot limit {call}, which is about a pod; use `pod`"
                ));
            }
            Subject::Pod => {}
            Subject::Nothing if self.container.is_some() || self.pod.is_some() => {
                return Err(format!(
                    "{call} is about no pod or container: `container` and `pod` cannot limit it"
                ));
            }
            Subject::Nothing => {}
        }
        if self.times == Some(0) {
            return Err("`times: 0` would never apply; give at least 1".into());
        }
        for (field, value) in [("hang", self.hang), ("close", self.close)] {
            if value == Some(false) {
                return Err(format!("`{field}: false` does nothing; leave it out"));
            }
        }
        let mut chosen: Vec<&str> = Vec::new();
        let replies = self.adjust.is_some() || self.update.is_some() || self.evict.is_some();
        for (present, name) in [
            (replies, "adjust/update/evict"),
            (self.fail.is_some(), "fail"),
            (self.hang.is_some(), "hang"),
            (self.close.is_some(), "close"),
            (self.crash.is_some(), "crash"),
            (self.update_later.is_some(), "update_later"),
        ] {
            if present {
                chosen.push(name);
            }
        }
        if chosen.len() > 1 {
            return Err(format!(
                "a step does one thing, this one has {}",
                chosen.join(" and ")
            ));
        }
        let allowed = |present: bool, field: &str, calls: &[Call]| {
            if present && !calls.contains(&call) {
                Err(format!(
                    "{call} cannot answer with `{field}`; only {} can",
                    names(calls)
                ))
            } else {
                Ok(())
            }
        };
        allowed(self.adjust.is_some(), "adjust", &ADJUSTS)?;
        allowed(self.update.is_some(), "update", &UPDATES)?;
        allowed(self.evict.is_some(), "evict", &EVICTS)?;
        if call == Call::Shutdown && self.fail.is_some() {
            return Err("Shutdown cannot fail: its answer carries no error".into());
        }
        let action = if let Some(message) = self.fail {
            Action::Fail(message)
        } else if self.hang.is_some() {
            Action::Hang
        } else if self.close.is_some() {
            Action::Close
        } else if let Some(code) = self.crash {
            Action::Crash(code)
        } else if let Some(later) = self.update_later {
            let changes = changes(later.update, later.evict)
                .map_err(|problem| format!("update_later: {problem}"))?;
            if changes.is_empty() {
                return Err("update_later: give `update` or `evict` (or both)".into());
            }
            Action::UpdateLater {
                after: later.after.map_or(Duration::ZERO, |d| d.0),
                changes,
            }
        } else {
            let adjust = self
                .adjust
                .map(json::from_json::<ContainerAdjustment>)
                .transpose()
                .map_err(|e| format!("adjust: {e}"))?;
            Action::Reply(Box::new(Reply {
                adjust,
                changes: changes(self.update, self.evict)?,
            }))
        };
        Ok(Step {
            container: self.container,
            pod: self.pod,
            times: self.times,
            delay: self.delay.map_or(Duration::ZERO, |d| d.0),
            action,
        })
    }
}

fn changes(
    update: Option<Vec<serde_json::Value>>,
    evict: Option<Vec<serde_json::Value>>,
) -> Result<Changes, String> {
    Ok(Changes {
        update: targeted(update.unwrap_or_default(), "update")?,
        evict: targeted(evict.unwrap_or_default(), "evict")?,
    })
}

/// Reads updates or evictions, taking `container` (a name) out of each
/// before the rest is read as the message in protobuf JSON.
fn targeted<M>(values: Vec<serde_json::Value>, field: &str) -> Result<Vec<Targeted<M>>, String>
where
    M: prost::Message + prost::Name + Default,
{
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let at = format!("{field} {}", i + 1);
            let serde_json::Value::Object(mut object) = value else {
                return Err(format!("{at}: expected a map, found {value}"));
            };
            let container = match object.remove("container") {
                None => None,
                Some(serde_json::Value::String(name)) => Some(name),
                Some(other) => {
                    return Err(format!("{at}: `container` must be a name, found {other}"));
                }
            };
            let has_id = object.contains_key("container_id") || object.contains_key("containerId");
            match (&container, has_id) {
                (Some(_), true) => {
                    return Err(format!(
                        "{at}: give the container by `container` (name) or by `container_id`, \
                         not both"
                    ));
                }
                (None, false) => {
                    return Err(format!(
                        "{at}: name the container, by `container` (name) or `container_id`"
                    ));
                }
                _ => {}
            }
            let message = json::from_json::<M>(serde_json::Value::Object(object))
                .map_err(|e| format!("{at}: {e}"))?;
            Ok(Targeted { container, message })
        })
        .collect()
}

/// A duration as scripts write it: `150ms`, `2s`, or `0`.
struct Delay(Duration);

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DelayVisitor;
        impl Visitor<'_> for DelayVisitor {
            type Value = Delay;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as 150ms, 2s or 1m30s")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Delay, E> {
                nri_core::config::parse_duration(text)
                    .map(Delay)
                    .map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Delay, E> {
                if number == 0 {
                    return Ok(Delay(Duration::ZERO));
                }
                Err(E::custom(format!(
                    "the duration {number} has no unit; write e.g. {number}ms or {number}s"
                )))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Delay, E> {
                match u64::try_from(number) {
                    Ok(number) => self.visit_u64(number),
                    Err(_) => Err(E::custom(format!(
                        "a duration cannot be negative: {number}"
                    ))),
                }
            }

            fn visit_f64<E: de::Error>(self, number: f64) -> Result<Delay, E> {
                Err(E::custom(format!(
                    "the duration {number} has no unit; write e.g. {number}s"
                )))
            }
        }
        deserializer.deserialize_any(DelayVisitor)
    }
}
