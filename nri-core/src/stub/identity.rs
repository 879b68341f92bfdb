//! Which index and name a plugin registers with.
//!
//! The sources, as upstream's stub reads them (containerd/nri
//! `pkg/stub/stub.go`): the `NRI_PLUGIN_IDX` and `NRI_PLUGIN_NAME`
//! variables a launching runtime sets, the options the plugin gives, and
//! the plugin's executable name in the `NN-name` form of pre-installed
//! plugins. With only an index known, the name is the executable's name.
//!
//! One difference: a plugin the runtime launched registers with the
//! identity the runtime launched it under (the variables), whatever the
//! options say, because the runtime refuses any other. Upstream fails to
//! start when an index option meets an index variable, and lets a name
//! option replace the launched name, which the runtime then refuses.

use nri_proto::defaults::{PLUGIN_IDX_ENV, PLUGIN_NAME_ENV};
use nri_proto::identity::{IdentityError, PluginId};

/// Why no identity could be settled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityProblem {
    /// No index anywhere.
    #[error(
        "the plugin has no index: give one as an option, set {PLUGIN_IDX_ENV}, or name the \
         executable NN-name (e.g. 10-{executable})"
    )]
    NoIndex {
        /// The executable's name.
        executable: String,
    },
    /// An index or name is malformed.
    #[error("{source} (from {from})")]
    Invalid {
        /// Where the value came from.
        from: &'static str,
        /// What is wrong with it.
        source: IdentityError,
    },
}

/// What the identity is settled from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// `NRI_PLUGIN_IDX` and `NRI_PLUGIN_NAME`, as set.
    pub(crate) env_index: Option<String>,
    pub(crate) env_name: Option<String>,
    /// The options.
    pub(crate) index: Option<String>,
    pub(crate) name: Option<String>,
    /// The executable's file name.
    pub(crate) executable: String,
    /// Whether a runtime launched the plugin.
    pub(crate) launched: bool,
}

impl Sources {
    /// The variables and executable name of this process, with `index` and
    /// `name` as options.
    pub(crate) fn of_process(
        index: Option<String>,
        name: Option<String>,
        launched: bool,
    ) -> Sources {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let executable = std::env::args_os()
            .next()
            .map(std::path::PathBuf::from)
            .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Sources {
            env_index: var(PLUGIN_IDX_ENV),
            env_name: var(PLUGIN_NAME_ENV),
            index,
            name,
            executable,
            launched,
        }
    }

    /// Settles the identity.
    pub(crate) fn settle(&self) -> Result<PluginId, IdentityProblem> {
        let (index, name, from) = if self.launched {
            for (option, env, what) in [
                (&self.index, &self.env_index, "index"),
                (&self.name, &self.env_name, "name"),
            ] {
                if let (Some(option), Some(env)) = (option, env)
                    && option != env
                {
                    tracing::warn!(
                        option = %option,
                        launched = %env,
                        "ignoring the plugin {what} option: the runtime launched this plugin as {what} {env}"
                    );
                }
            }
            (
                self.env_index.clone().or_else(|| self.index.clone()),
                self.env_name.clone().or_else(|| self.name.clone()),
                "the launching runtime",
            )
        } else {
            (
                self.index.clone().or_else(|| self.env_index.clone()),
                self.name.clone().or_else(|| self.env_name.clone()),
                "the options",
            )
        };
        let invalid = |from, source| IdentityProblem::Invalid { from, source };
        match (index, name) {
            (Some(index), Some(name)) => {
                PluginId::new(&index, &name).map_err(|error| invalid(from, error))
            }
            (Some(index), None) => PluginId::new(&index, &self.executable)
                .map_err(|error| invalid("the executable's name", error)),
            (None, _) => {
                if let Ok(id) = PluginId::from_file_name(&self.executable) {
                    return PluginId::new(id.index().as_str(), id.name())
                        .map_err(|error| invalid("the executable's name", error));
                }
                Err(IdentityProblem::NoIndex {
                    executable: self.executable.clone(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Sources {
        Sources {
            executable: "my-plugin".into(),
            ..Sources::default()
        }
    }

    fn settle(sources: Sources) -> Result<String, IdentityProblem> {
        sources.settle().map(|id| id.to_string())
    }

    #[test]
    fn options_come_before_variables_for_an_external_plugin() {
        let s = Sources {
            index: Some("20".into()),
            name: Some("opt".into()),
            env_index: Some("30".into()),
            env_name: Some("env".into()),
            ..sources()
        };
        assert_eq!(settle(s).unwrap(), "20-opt");
        let s = Sources {
            env_index: Some("30".into()),
            env_name: Some("env".into()),
            ..sources()
        };
        assert_eq!(settle(s).unwrap(), "30-env");
    }

    #[test]
    fn a_launched_plugin_registers_as_launched() {
        let s = Sources {
            index: Some("20".into()),
            name: Some("opt".into()),
            env_index: Some("30".into()),
            env_name: Some("env".into()),
            launched: true,
            ..sources()
        };
        assert_eq!(settle(s).unwrap(), "30-env");
    }

    #[test]
    fn with_only_an_index_the_name_is_the_executables() {
        let s = Sources {
            index: Some("05".into()),
            ..sources()
        };
        assert_eq!(settle(s).unwrap(), "05-my-plugin");
    }

    #[test]
    fn without_an_index_the_executable_name_gives_both() {
        let s = Sources {
            executable: "10-logger".into(),
            name: Some("ignored".into()),
            ..Sources::default()
        };
        assert_eq!(settle(s).unwrap(), "10-logger");
        let error = settle(sources()).unwrap_err();
        assert!(error.to_string().contains("has no index"), "{error}");
    }

    #[test]
    fn malformed_values_say_where_they_came_from() {
        let s = Sources {
            index: Some("7".into()),
            name: Some("x".into()),
            ..sources()
        };
        let error = settle(s).unwrap_err().to_string();
        assert!(
            error.contains("two digits") && error.contains("options"),
            "{error}"
        );
        let s = Sources {
            executable: "10-bad name".into(),
            ..Sources::default()
        };
        let error = settle(s).unwrap_err().to_string();
        assert!(error.contains("executable"), "{error}");
    }
}
