//! Placeholder until the default validator lands (signatures only).
#![allow(missing_docs)]
use nri_proto::api::ValidateContainerAdjustmentRequest;
pub const INDEX: &str = "00";
pub const NAME: &str = "default-validator";
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct DefaultValidatorConfig {
    pub enable: bool,
}
#[derive(Debug, thiserror::Error)]
#[error("validation error: {0}")]
pub struct Rejection(pub String);
pub fn validate(
    _r: &ValidateContainerAdjustmentRequest,
    _c: &DefaultValidatorConfig,
) -> Result<(), Rejection> {
    Ok(())
}
