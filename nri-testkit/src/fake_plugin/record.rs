//! What a [`FakePlugin`](super::FakePlugin) received and answered.

use nri_core::proto::api::{
    Container, ContainerAdjustment, ContainerEviction, ContainerUpdate, PodSandbox,
};
use serde_json::{Value, json};

use super::call::Call;
use crate::json::{JsonError, to_json};

/// A pod or container a call was about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Named {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

impl Named {
    pub(crate) fn pod(pod: &PodSandbox) -> Named {
        Named {
            id: pod.id.clone(),
            name: pod.name.clone(),
        }
    }

    pub(crate) fn container(container: &Container) -> Named {
        Named {
            id: container.id.clone(),
            name: container.name.clone(),
        }
    }
}

/// One call the plugin received, and what it did about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The call.
    pub call: Call,
    /// The pod it was about (pod and container events).
    pub pod: Option<Named>,
    /// The container it was about (container events).
    pub container: Option<Named>,
    /// The step that applied (its index in the call's list), if any; with
    /// none the plugin answers an empty reply.
    pub step: Option<usize>,
    /// What the plugin answered.
    pub answer: Answer,
    /// For an `update_later` step: the unsolicited UpdateContainers.
    pub later: Option<Delivery>,
}

/// What the plugin answered a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Not answered (yet): the step's delay runs, or the runtime gave up
    /// on the answer during it.
    Pending,
    /// Answered with this.
    Replied(Box<Answered>),
    /// Answered with an error with this message (for
    /// ValidateContainerAdjustment: rejected with it as the reason).
    Failed(String),
    /// Never answers.
    Hung,
    /// Closed the connection instead of answering.
    Closed,
    /// Crashed instead of answering: in process mode the process exits
    /// with this code (so nobody reads this record); in-process the
    /// connection was closed.
    Crashed(i32),
}

/// A reply as sent, with every container id resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answered {
    /// The adjustment (CreateContainer).
    pub adjust: Option<ContainerAdjustment>,
    /// The updates.
    pub update: Vec<ContainerUpdate>,
    /// The evictions.
    pub evict: Vec<ContainerEviction>,
}

/// How an unsolicited UpdateContainers went.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Its delay runs, or it waits for the runtime's answer.
    Waiting,
    /// The runtime answered; `failed` are the updates it could not apply.
    Sent {
        /// The updates sent.
        update: Vec<ContainerUpdate>,
        /// The evictions sent.
        evict: Vec<ContainerEviction>,
        /// The updates the runtime could not apply.
        failed: Vec<ContainerUpdate>,
    },
    /// It could not be sent, or the call failed; why.
    Failed(String),
}

impl Record {
    /// The record as JSON, messages in the protobuf JSON mapping (for
    /// reports such as `nri-harness`'s).
    pub fn to_json(&self) -> Result<Value, JsonError> {
        let named = |n: &Option<Named>| {
            n.as_ref()
                .map_or(Value::Null, |n| json!({"id": n.id, "name": n.name}))
        };
        let answer = match &self.answer {
            Answer::Pending => json!("pending"),
            Answer::Replied(answered) => json!({"replied": answered_json(answered)?}),
            Answer::Failed(message) => json!({"failed": message}),
            Answer::Hung => json!("hung"),
            Answer::Closed => json!("closed"),
            Answer::Crashed(code) => json!({"crashed": code}),
        };
        let later = match &self.later {
            None => Value::Null,
            Some(Delivery::Waiting) => json!("waiting"),
            Some(Delivery::Sent {
                update,
                evict,
                failed,
            }) => json!({"sent": {
                "update": messages(update)?,
                "evict": messages(evict)?,
                "failed": messages(failed)?,
            }}),
            Some(Delivery::Failed(message)) => json!({"failed": message}),
        };
        let mut record = json!({
            "call": self.call.name(),
            "pod": named(&self.pod),
            "container": named(&self.container),
            "step": self.step,
            "answer": answer,
        });
        if !later.is_null()
            && let Some(object) = record.as_object_mut()
        {
            object.insert("later".into(), later);
        }
        Ok(record)
    }
}

fn answered_json(answered: &Answered) -> Result<Value, JsonError> {
    let mut object = serde_json::Map::new();
    if let Some(adjust) = &answered.adjust {
        object.insert("adjust".into(), to_json(adjust)?);
    }
    if !answered.update.is_empty() {
        object.insert("update".into(), messages(&answered.update)?);
    }
    if !answered.evict.is_empty() {
        object.insert("evict".into(), messages(&answered.evict)?);
    }
    Ok(Value::Object(object))
}

fn messages<M: prost::Message + prost::Name>(messages: &[M]) -> Result<Value, JsonError> {
    messages
        .iter()
        .map(to_json)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn records_read_as_json() {
        let record = Record {
            call: Call::CreateContainer,
            pod: Some(Named {
                id: "p1".into(),
                name: "pod".into(),
            }),
            container: Some(Named {
                id: "c1".into(),
                name: "web".into(),
            }),
            step: Some(0),
            answer: Answer::Replied(Box::new(Answered {
                evict: vec![ContainerEviction {
                    container_id: "c2".into(),
                    reason: "room".into(),
                }],
                ..Default::default()
            })),
            later: Some(Delivery::Failed("not connected".into())),
        };
        assert_eq!(
            record.to_json().unwrap(),
            json!({
                "call": "CreateContainer",
                "pod": {"id": "p1", "name": "pod"},
                "container": {"id": "c1", "name": "web"},
                "step": 0,
                "answer": {"replied": {"evict": [{"container_id": "c2", "reason": "room"}]}},
                "later": {"failed": "not connected"},
            })
        );
        let hung = Record {
            call: Call::Configure,
            pod: None,
            container: None,
            step: None,
            answer: Answer::Hung,
            later: None,
        };
        assert_eq!(
            hung.to_json().unwrap(),
            json!({"call": "Configure", "pod": null, "container": null, "step": null, "answer": "hung"})
        );
    }
}
