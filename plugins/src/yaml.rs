//! NRI messages as YAML, the way upstream's sample plugins print them
//! (containerd/nri `plugins/logger`, `plugins/differ`): Go marshals the
//! generated type to JSON (`.proto` field names, defaults left out, enums
//! and 64-bit integers as numbers) and that JSON to YAML, keys sorted.
//! Here nri-proto's [`nri_core::proto::json::to_go_json`] gives
//! the JSON and serde-saphyr writes the YAML.

use nri_core::proto::json::{JsonError, to_go_json};
use serde_json::Value;

/// Why an object could not be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(String);

impl From<JsonError> for YamlError {
    fn from(error: JsonError) -> Self {
        YamlError(error.to_string())
    }
}

/// `message` as Go's `encoding/json` shows it.
pub fn message<M: prost::Message + prost::Name>(message: &M) -> Result<Value, YamlError> {
    Ok(to_go_json(message)?)
}

/// A list of messages (a Go slice).
pub fn messages<M: prost::Message + prost::Name>(list: &[M]) -> Result<Value, YamlError> {
    list.iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A message that may be absent (a nil Go pointer: `null`).
pub fn optional<M: prost::Message + prost::Name>(value: &Option<M>) -> Result<Value, YamlError> {
    value.as_ref().map_or(Ok(Value::Null), message)
}

/// `value` as a YAML document, ending with a newline.
pub fn to_yaml(value: &Value) -> Result<String, YamlError> {
    serde_saphyr::to_string(value).map_err(|error| YamlError(error.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use nri_core::proto::api::{Container, ContainerState, PodSandbox};

    use super::*;

    #[test]
    fn messages_read_back_with_proto_field_names() {
        let container = Container {
            id: "c1".into(),
            pod_sandbox_id: "p1".into(),
            state: ContainerState::ContainerRunning.into(),
            env: vec!["A=x: y".into()],
            labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            ..Default::default()
        };
        let text = to_yaml(&message(&container).unwrap()).unwrap();
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            back,
            serde_json::json!({
                "id": "c1",
                "pod_sandbox_id": "p1",
                "state": 3,
                "env": ["A=x: y"],
                "labels": {"app": "web"},
            }),
            "{text}"
        );
        // Sorted keys, as upstream's YAML.
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with([' ', '-']))
            .filter_map(|l| l.split(':').next())
            .collect();
        assert_eq!(keys, ["env", "id", "labels", "pod_sandbox_id", "state"]);
    }

    #[test]
    fn lists_and_absent_messages() {
        let pods = [PodSandbox {
            id: "p1".into(),
            ..Default::default()
        }];
        let text = to_yaml(&messages(&pods).unwrap()).unwrap();
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, serde_json::json!([{"id": "p1"}]));
        assert_eq!(optional::<PodSandbox>(&None).unwrap(), Value::Null);
        let empty = to_yaml(&message(&PodSandbox::default()).unwrap()).unwrap();
        assert_eq!(empty.trim(), "{}");
    }
}
