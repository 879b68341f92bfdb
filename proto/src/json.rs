//! NRI messages as JSON, in the protobuf JSON mapping (what Go's `protojson`
//! reads and writes), through the descriptor set nri-proto embeds.
//!
//! nri-testkit's scenario files and fake-plugin scripts write adjustments,
//! updates and expectations in this form, and `nri-harness --json` writes
//! requests and responses in it. Field names are the `.proto` ones (`oom_score_adj`);
//! reading also accepts the lowerCamelCase JSON names (`oomScoreAdj`).
//! Fields at their default value are left out when writing, and 64-bit
//! integers are written as numbers, not strings, so reports stay readable.
//! [`to_go_json`] writes what Go's `encoding/json` writes for the generated
//! Go types, which upstream's sample plugins print as YAML: the same, but
//! enums as numbers.
//!
//! ```
//! use nri_proto::api::{ContainerAdjustment, KeyValue};
//!
//! let adjust: ContainerAdjustment = nri_proto::json::from_json(serde_json::json!({
//!     "env": [{"key": "FOO", "value": "bar"}],
//!     "linux": {"resources": {"memory": {"limit": {"value": 1048576}}}},
//! }))?;
//! assert_eq!(adjust.env, [KeyValue { key: "FOO".into(), value: "bar".into() }]);
//! let back = nri_proto::json::to_json(&adjust)?;
//! assert_eq!(back["linux"]["resources"]["memory"]["limit"]["value"], 1048576);
//! # Ok::<(), nri_proto::json::JsonError>(())
//! ```

use std::sync::OnceLock;

use crate::api::FILE_DESCRIPTOR_SET;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};

/// Why a message could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The embedded descriptor set does not decode (a build defect).
    #[error("the embedded NRI descriptor set is unusable: {0}")]
    Descriptors(String),
    /// The message type is not part of the NRI schema.
    #[error("{0} is not a message of the NRI schema")]
    UnknownType(String),
    /// The JSON does not describe a message of the type.
    #[error("not a valid {message}: {reason}")]
    Invalid {
        /// The message type's full name.
        message: String,
        /// What is wrong, as the JSON reader reports it.
        reason: String,
    },
}

/// The NRI schema's descriptors, decoded once.
fn pool() -> Result<&'static DescriptorPool, JsonError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| JsonError::Descriptors(e.clone()))
}

/// The descriptor of message type `M`.
fn descriptor<M: prost::Name>() -> Result<MessageDescriptor, JsonError> {
    let name = M::full_name();
    pool()?
        .get_message_by_name(&name)
        .ok_or(JsonError::UnknownType(name))
}

/// `message` as JSON.
pub fn to_json<M: prost::Message + prost::Name>(
    message: &M,
) -> Result<serde_json::Value, JsonError> {
    message_to_json(message, Enums::Names)
}

/// `message` as Go's `encoding/json` writes the generated Go type (what
/// upstream's sample plugins marshal to YAML): `.proto` field names,
/// defaults left out, 64-bit integers and enums as numbers.
pub fn to_go_json<M: prost::Message + prost::Name>(
    message: &M,
) -> Result<serde_json::Value, JsonError> {
    message_to_json(message, Enums::Numbers)
}

fn message_to_json<M: prost::Message + prost::Name>(
    message: &M,
    enums: Enums,
) -> Result<serde_json::Value, JsonError> {
    let descriptor = descriptor::<M>()?;
    let invalid = |reason: String| JsonError::Invalid {
        message: M::full_name(),
        reason,
    };
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| invalid(e.to_string()))?;
    serialize(&dynamic, enums).map_err(invalid)
}

/// The message of type `M` that `value` describes. Unknown fields are an
/// error, so a misspelled field name does not pass silently.
pub fn from_json<M: prost::Message + prost::Name + Default>(
    value: serde_json::Value,
) -> Result<M, JsonError> {
    let descriptor = descriptor::<M>()?;
    let invalid = |reason: String| JsonError::Invalid {
        message: M::full_name(),
        reason,
    };
    let dynamic =
        DynamicMessage::deserialize(descriptor, value).map_err(|e| invalid(e.to_string()))?;
    M::decode(prost::Message::encode_to_vec(&dynamic).as_slice())
        .map_err(|e| invalid(e.to_string()))
}

/// Which message of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The method's input.
    Request,
    /// The method's output.
    Response,
}

/// The encoded `part` of method `method` of the NRI service `service`
/// (`Plugin` or `Runtime`) as JSON: for messages known only by method, such
/// as those a transport carries.
pub fn method_message_to_json(
    service: &str,
    method: &str,
    part: Part,
    bytes: &[u8],
) -> Result<serde_json::Value, JsonError> {
    let service_name = format!("nri.pkg.api.v1alpha1.{service}");
    let descriptor = pool()?
        .get_service_by_name(&service_name)
        .and_then(|s| s.methods().find(|m| m.name() == method))
        .map(|m| match part {
            Part::Request => m.input(),
            Part::Response => m.output(),
        })
        .ok_or_else(|| JsonError::UnknownType(format!("{service_name}/{method}")))?;
    let message = descriptor.full_name().to_string();
    let invalid = |reason: String| JsonError::Invalid {
        message: message.clone(),
        reason,
    };
    let dynamic = DynamicMessage::decode(descriptor, bytes).map_err(|e| invalid(e.to_string()))?;
    serialize(&dynamic, Enums::Names).map_err(invalid)
}

/// How enum values are written.
#[derive(Clone, Copy)]
enum Enums {
    /// By name, as the protobuf JSON mapping does.
    Names,
    /// As numbers, as Go's `encoding/json` does.
    Numbers,
}

fn serialize(message: &DynamicMessage, enums: Enums) -> Result<serde_json::Value, String> {
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .use_enum_numbers(matches!(enums, Enums::Numbers));
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::api::{
        ContainerAdjustment, ContainerUpdate, LinuxContainerUpdate, LinuxMemory, LinuxResources,
    };
    use crate::optional;

    use super::*;

    #[test]
    fn round_trips_and_leaves_defaults_out() {
        let update = ContainerUpdate {
            container_id: "c1".into(),
            linux: Some(LinuxContainerUpdate {
                resources: Some(LinuxResources {
                    memory: Some(LinuxMemory {
                        limit: optional::int64(-1),
                        swap: optional::int64(1_i64 << 40),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }),
            ignore_failure: false,
        };
        let json = to_json(&update).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"container_id": "c1", "linux": {"resources": {"memory": {
                "limit": {"value": -1}, "swap": {"value": 1_u64 << 40}}}}})
        );
        assert_eq!(from_json::<ContainerUpdate>(json).unwrap(), update);
    }

    #[test]
    fn method_messages_by_name() {
        let update = ContainerUpdate {
            container_id: "c3".into(),
            ..Default::default()
        };
        let request = crate::api::UpdateContainersRequest {
            update: vec![update],
            evict: Vec::new(),
        };
        let bytes = prost::Message::encode_to_vec(&request);
        let json = method_message_to_json("Runtime", "UpdateContainers", Part::Request, &bytes);
        assert_eq!(
            json.unwrap(),
            serde_json::json!({"update": [{"container_id": "c3"}]})
        );
        let unknown = method_message_to_json("Runtime", "Nope", Part::Request, &bytes);
        assert!(
            matches!(unknown, Err(JsonError::UnknownType(_))),
            "{unknown:?}"
        );
    }

    #[test]
    fn go_json_writes_enums_as_numbers() {
        let container = crate::api::Container {
            id: "c1".into(),
            state: crate::api::ContainerState::ContainerRunning.into(),
            ..Default::default()
        };
        assert_eq!(
            to_go_json(&container).unwrap(),
            serde_json::json!({"id": "c1", "state": 3})
        );
        assert_eq!(
            to_json(&container).unwrap(),
            serde_json::json!({"id": "c1", "state": "CONTAINER_RUNNING"})
        );
    }

    #[test]
    fn camel_case_names_are_read() {
        let update: ContainerUpdate =
            from_json(serde_json::json!({"containerId": "c2", "ignoreFailure": true})).unwrap();
        assert_eq!(update.container_id, "c2");
        assert!(update.ignore_failure);
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_errors() {
        let misspelled = from_json::<ContainerAdjustment>(serde_json::json!({"enviroment": []}));
        assert!(
            matches!(&misspelled, Err(JsonError::Invalid { message, reason })
                if message == "nri.pkg.api.v1alpha1.ContainerAdjustment" && reason.contains("enviroment")),
            "{misspelled:?}"
        );
        let wrong = from_json::<ContainerAdjustment>(serde_json::json!({"env": "FOO=bar"}));
        assert!(matches!(wrong, Err(JsonError::Invalid { .. })), "{wrong:?}");
    }
}
