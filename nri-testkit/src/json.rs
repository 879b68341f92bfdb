//! NRI messages as JSON, in the protobuf JSON mapping: nri-proto's
//! [`json`](nri_proto::json) module (feature `json`), which scenario files,
//! fake-plugin scripts and `nri-harness --json` use.
//!
//! ```
//! use nri_core::proto::api::{ContainerAdjustment, KeyValue};
//!
//! let adjust: ContainerAdjustment = nri_testkit::json::from_json(serde_json::json!({
//!     "env": [{"key": "FOO", "value": "bar"}],
//! }))?;
//! assert_eq!(adjust.env, [KeyValue { key: "FOO".into(), value: "bar".into() }]);
//! # Ok::<(), nri_testkit::json::JsonError>(())
//! ```

pub use nri_proto::json::{JsonError, Part, from_json, method_message_to_json, to_json};
