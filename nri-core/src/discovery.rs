//! Placeholder until discovery lands (signatures only).
#![allow(missing_docs)]
use nri_proto::identity::PluginId;
use std::path::{Path, PathBuf};
#[derive(Debug, Clone)]
pub struct Preinstalled {
    pub id: PluginId,
    pub path: PathBuf,
    pub config: String,
}
#[derive(Debug, Default)]
pub struct Discovery {
    pub plugins: Vec<Preinstalled>,
    pub skipped: Vec<Skipped>,
}
#[derive(Debug)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}
#[derive(Debug, thiserror::Error)]
#[error("cannot read plugin directory {path:?}: {source}")]
pub struct DiscoveryError {
    pub path: PathBuf,
    pub source: std::io::Error,
}
pub fn discover(_plugin_dir: &Path, _config_dir: &Path) -> Result<Discovery, DiscoveryError> {
    Ok(Discovery::default())
}
