//! Placeholder until config lands (signatures only).
#![allow(missing_docs)]
use crate::default_validator::DefaultValidatorConfig;
use std::path::PathBuf;
use std::time::Duration;
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub disable: bool,
    pub socket_path: PathBuf,
    pub plugin_path: PathBuf,
    pub plugin_config_path: PathBuf,
    pub disable_connections: bool,
    pub default_validator: DefaultValidatorConfig,
}
impl Config {
    pub fn registration_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(2)
    }
}
