//! How an [`Adaptation`](super::Adaptation) is set up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nri_proto::defaults::{
    DEFAULT_PLUGIN_CONFIG_PATH, DEFAULT_PLUGIN_PATH, DEFAULT_REGISTRATION_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT, NRI_VERSION,
};

use super::builtin::Builtin;
use crate::config::Config;
use crate::default_validator::DefaultValidatorConfig;

/// The largest message a plugin connection carries: the ttrpc limit of
/// 4 MiB. Synchronize requests are split to stay below it.
pub const MAX_MESSAGE_SIZE: usize = 4 << 20;

/// Settings of one adaptation. Unlike upstream, where timeouts are
/// process-global, every adaptation has its own.
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// The runtime's name, sent to plugins in Configure.
    pub runtime_name: String,
    /// The runtime's version, sent to plugins in Configure.
    pub runtime_version: String,
    /// The NRI version this runtime speaks, sent in Configure (default
    /// [`NRI_VERSION`](nri_proto::defaults::NRI_VERSION)).
    pub nri_version: String,
    /// How long a plugin has from connecting to registering (default 5 s).
    pub registration_timeout: Duration,
    /// How long a plugin has to answer one call (default 2 s). A split
    /// Synchronize shares one such budget for all its messages.
    pub request_timeout: Duration,
    /// Where pre-installed plugins live (`None`: launch none).
    pub plugin_path: Option<PathBuf>,
    /// Where the configuration of pre-installed plugins lives.
    pub plugin_config_path: PathBuf,
    /// Plugins that run inside the runtime process.
    pub builtins: Vec<Builtin>,
    /// The builtin default validator's settings; it runs if `enable` is set.
    pub default_validator: DefaultValidatorConfig,
    /// What happens to a plugin that fails to answer in time.
    pub failure_policy: FailurePolicy,
    /// Per-plugin overrides of `failure_policy`, keyed by plugin name or by
    /// `NN-name`.
    pub plugin_failure_policies: BTreeMap<String, FailurePolicy>,
    /// How long a launched plugin has to exit after shutdown before it is
    /// killed.
    pub shutdown_grace: Duration,
    /// Largest encoded message towards a plugin; Synchronize is split to
    /// stay below it (default [`MAX_MESSAGE_SIZE`]).
    pub max_message_size: usize,
}

impl Options {
    /// Options with upstream's defaults for a runtime of this name and
    /// version.
    pub fn new(runtime_name: impl Into<String>, runtime_version: impl Into<String>) -> Self {
        Options {
            runtime_name: runtime_name.into(),
            runtime_version: runtime_version.into(),
            nri_version: NRI_VERSION.to_string(),
            registration_timeout: DEFAULT_REGISTRATION_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            plugin_path: Some(PathBuf::from(DEFAULT_PLUGIN_PATH)),
            plugin_config_path: PathBuf::from(DEFAULT_PLUGIN_CONFIG_PATH),
            builtins: Vec::new(),
            default_validator: DefaultValidatorConfig::default(),
            failure_policy: FailurePolicy::default(),
            plugin_failure_policies: BTreeMap::new(),
            shutdown_grace: Duration::from_secs(2),
            max_message_size: MAX_MESSAGE_SIZE,
        }
    }

    /// Options from containerd-style configuration.
    pub fn from_config(
        config: &Config,
        runtime_name: impl Into<String>,
        runtime_version: impl Into<String>,
    ) -> Self {
        let mut options = Options::new(runtime_name, runtime_version);
        options.registration_timeout = config.registration_timeout();
        options.request_timeout = config.request_timeout();
        options.plugin_path = Some(config.plugin_path.clone());
        options.plugin_config_path = config.plugin_config_path.clone();
        options.default_validator = config.default_validator.clone();
        options
    }

    /// Adds a builtin plugin.
    pub fn with_builtin(mut self, builtin: Builtin) -> Self {
        self.builtins.push(builtin);
        self
    }

    /// Sets both timeouts.
    pub fn with_timeouts(mut self, registration: Duration, request: Duration) -> Self {
        self.registration_timeout = registration;
        self.request_timeout = request;
        self
    }

    /// Sets the directory of pre-installed plugins (`None`: launch none).
    pub fn with_plugin_path(mut self, path: Option<PathBuf>) -> Self {
        self.plugin_path = path;
        self
    }

    /// The failure policy of the plugin `NN-name`.
    pub(crate) fn failure_policy_of(&self, index_name: &str, name: &str) -> FailurePolicy {
        self.plugin_failure_policies
            .get(index_name)
            .or_else(|| self.plugin_failure_policies.get(name))
            .copied()
            .unwrap_or(self.failure_policy)
    }

    /// The builtin plugins to start, the default validator first.
    pub(crate) fn all_builtins(&self) -> Vec<Builtin> {
        let mut all = Vec::with_capacity(self.builtins.len() + 1);
        if self.default_validator.enable {
            match super::builtin::default_validator(Arc::new(self.default_validator.clone())) {
                Ok(validator) => all.push(validator),
                Err(error) => tracing::error!(%error, "cannot create the default validator"),
            }
        }
        all.extend(self.builtins.iter().cloned());
        all
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("runtime_name", &self.runtime_name)
            .field("runtime_version", &self.runtime_version)
            .field("registration_timeout", &self.registration_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("plugin_path", &self.plugin_path)
            .field("builtins", &self.builtins.len())
            .field("failure_policy", &self.failure_policy)
            .finish_non_exhaustive()
    }
}

/// What happens to a plugin that does not answer in time.
///
/// Upstream drops a plugin on its first late reply, for good
/// (containerd/nri#114). By default nri-rs does the same; a policy may
/// tolerate a number of consecutive timeouts, during which the event goes
/// on without the plugin's answer and the plugin stays connected.
/// Crashes, disconnects and protocol errors always remove the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailurePolicy {
    /// Consecutive timeouts tolerated before the plugin is removed.
    pub tolerated_timeouts: u32,
}
