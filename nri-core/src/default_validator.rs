//! The default validator: the builtin validating plugin `00-default-validator`
//! that containerd enables with `[plugins."io.containerd.nri.v1.nri".default_validator]`
//! (containerd/nri `pkg/adaptation/adaptation.go` and its builtin
//! default validator).
//!
//! [`validate`] runs the checks of upstream's `plugins/default-validator` in
//! upstream's order: OCI hooks, seccomp policy, namespaces, required plugins,
//! sysctls. All checks except the required-plugin one are skipped when the
//! request carries no adjustment. Who changed what is read from the request's
//! ownership records (`owners`), keyed by the container's id.
//!
//! # Decisions and differences from upstream
//!
//! - **Absent seccomp profile = unconfined** (upstream quirk, Appendix B 13):
//!   a container without a `seccomp_profile` is judged by
//!   `reject_unconfined_seccomp_adjustment`, as upstream does. It is what the
//!   kubelet means when a pod sets no profile: the container runs unconfined
//!   unless the runtime applies its default itself.
//! - **Sysctl removals count**: an adjusted sysctl key marked for removal
//!   (`-key`) is looked up in the ownership records both as written and
//!   without its marker. Upstream looks up the key as written only.
//! - **Bounded annotations**: a `required-plugins.noderesource.dev` value
//!   larger than [`MAX_ANNOTATION_LEN`] bytes is refused without being parsed.
//!   Error texts quote at most a short prefix of a bad value.
//! - **No nil-pointer crash**: upstream dereferences the request's container
//!   unconditionally; here a missing container reads as one with an empty id
//!   and name.
//! - **Strict configuration**: unknown keys in [`DefaultValidatorConfig`] are
//!   an error (a misspelt `reject_*` key must not silently disable a check).
//!   Upstream's YAML decoder ignores them.
//! - Error texts keep upstream's wording, minus its stray double spaces.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::proto::api::security_profile::ProfileType;
use crate::proto::api::{Field, FieldOwners, ValidateContainerAdjustmentRequest};
use crate::proto::removal;

mod annotations;
#[cfg(test)]
mod tests;

pub use annotations::{
    MAX_ANNOTATION_LEN, REQUIRED_PLUGINS_ANNOTATION, effective_annotation, parse_go_bool,
    parse_plugin_list,
};

/// The default validator's plugin index.
pub const INDEX: &str = "00";

/// The default validator's plugin name.
pub const NAME: &str = "default-validator";

/// Configuration of the default validator.
///
/// TOML keys are containerd's (`snake_case`); upstream's YAML keys
/// (`camelCase`, e.g. `rejectOCIHookAdjustment`) are accepted as aliases.
/// Every field defaults to off / empty, so `{}` is a disabled validator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultValidatorConfig {
    /// Create the builtin validator at all.
    pub enable: bool,
    /// Reject if any plugin injected OCI hooks.
    #[serde(alias = "rejectOCIHookAdjustment")]
    pub reject_oci_hook_adjustment: bool,
    /// Reject seccomp policy changes of containers with the
    /// `RUNTIME_DEFAULT` profile.
    #[serde(alias = "rejectRuntimeDefaultSeccompAdjustment")]
    pub reject_runtime_default_seccomp_adjustment: bool,
    /// Reject seccomp policy changes of containers with the `UNCONFINED`
    /// profile or no profile at all.
    #[serde(alias = "rejectUnconfinedSeccompAdjustment")]
    pub reject_unconfined_seccomp_adjustment: bool,
    /// Reject seccomp policy changes of containers with a `LOCALHOST`
    /// (custom) profile.
    #[serde(alias = "rejectCustomSeccompAdjustment")]
    pub reject_custom_seccomp_adjustment: bool,
    /// Reject if any plugin adjusted Linux namespaces.
    #[serde(alias = "rejectNamespaceAdjustment")]
    pub reject_namespace_adjustment: bool,
    /// Reject if any plugin adjusted sysctls.
    #[serde(alias = "rejectSysctlAdjustment")]
    pub reject_sysctl_adjustment: bool,
    /// Plugins that must have been consulted for every container, by name
    /// or by `NN-name`. Global: static pods need the toleration annotation.
    #[serde(alias = "requiredPlugins")]
    pub required_plugins: Vec<String>,
    /// Pod annotation key that, when true for a container, skips the
    /// required-plugin check. Empty: no toleration.
    #[serde(alias = "tolerateMissingPluginsAnnotation")]
    pub tolerate_missing_plugins_annotation: String,
}

/// Why the default validator rejected a container adjustment.
///
/// Every message starts with `validation error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Plugins injected OCI hooks while `reject_oci_hook_adjustment` is set.
    #[error("validation error: {} attempted restricted OCI hook injection", hook_offender(.owners))]
    OciHooks {
        /// The injecting plugins, as recorded (comma-separated when several).
        owners: String,
    },
    /// A plugin changed the seccomp policy of a protected profile kind.
    #[error(
        "validation error: plugin {owner} attempted restricted {profile} seccomp policy adjustment"
    )]
    SeccompPolicy {
        /// The plugin that set the policy.
        owner: String,
        /// `unconfined`, `runtime default` or `custom`.
        profile: &'static str,
    },
    /// Plugins adjusted namespaces while `reject_namespace_adjustment` is set.
    #[error("validation error: attempted restricted namespace adjustment by plugin(s) {}", namespace_offenders(.owners))]
    Namespaces {
        /// `(namespace type, plugin)` pairs.
        owners: Vec<(String, String)>,
    },
    /// Required plugins were not among the consulted ones.
    #[error("validation error: {} not present", missing_offender(.missing))]
    MissingPlugins {
        /// The missing names, in the order they were required.
        missing: Vec<String>,
    },
    /// A required-plugins or toleration annotation could not be used.
    #[error("validation error: invalid {key} annotation {value:?}: {reason}")]
    InvalidAnnotation {
        /// The annotation key as configured (without scope suffix).
        key: String,
        /// The value, shortened to a prefix if long.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Plugins adjusted sysctls while `reject_sysctl_adjustment` is set.
    #[error("validation error: attempted restricted sysctl adjustment by plugin(s) {}", .owners.join(", "))]
    Sysctl {
        /// The owners of the adjusted keys.
        owners: Vec<String>,
    },
}

fn hook_offender(owners: &str) -> String {
    if owners.contains(',') {
        format!("plugins {owners:?}")
    } else {
        format!("plugin {owners:?}")
    }
}

fn namespace_offenders(owners: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (ns, plugin)) in owners.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}{plugin:?} (namespace {ns:?})");
    }
    out
}

fn missing_offender(missing: &[String]) -> String {
    match missing {
        [one] => format!("required plugin {one:?}"),
        many => format!("required plugins {:?}", many.join(",")),
    }
}

/// Validates a container adjustment the way upstream's default validator
/// does; `Ok(())` accepts it.
///
/// `config.enable` is not consulted: whether the validator runs at all is the
/// caller's business.
pub fn validate(
    request: &ValidateContainerAdjustmentRequest,
    config: &DefaultValidatorConfig,
) -> Result<(), Rejection> {
    let owners = field_owners(request);
    check_oci_hooks(request, owners, config)?;
    check_seccomp(request, owners, config)?;
    check_namespaces(request, owners, config)?;
    check_required_plugins(request, config)?;
    check_sysctl(request, owners, config)
}

/// The ownership records of the request's container, if any.
fn field_owners(request: &ValidateContainerAdjustmentRequest) -> Option<&FieldOwners> {
    let id = request.container.as_ref().map_or("", |c| c.id.as_str());
    request.owners.as_ref()?.owners.get(id)
}

fn simple_owner(owners: Option<&FieldOwners>, field: Field) -> Option<&str> {
    owners?.simple.get(&(field as i32)).map(String::as_str)
}

fn compound_owners(
    owners: Option<&FieldOwners>,
    field: Field,
) -> Option<&std::collections::BTreeMap<String, String>> {
    owners?.compound.get(&(field as i32)).map(|c| &c.owners)
}

fn check_oci_hooks(
    request: &ValidateContainerAdjustmentRequest,
    owners: Option<&FieldOwners>,
    config: &DefaultValidatorConfig,
) -> Result<(), Rejection> {
    if request.adjust.is_none() || !config.reject_oci_hook_adjustment {
        return Ok(());
    }
    match simple_owner(owners, Field::OciHooks) {
        Some(owners) => Err(Rejection::OciHooks {
            owners: owners.to_string(),
        }),
        None => Ok(()),
    }
}

fn check_seccomp(
    request: &ValidateContainerAdjustmentRequest,
    owners: Option<&FieldOwners>,
    config: &DefaultValidatorConfig,
) -> Result<(), Rejection> {
    if request.adjust.is_none() {
        return Ok(());
    }
    let Some(owner) = simple_owner(owners, Field::SeccompPolicy) else {
        return Ok(());
    };
    let profile = request
        .container
        .as_ref()
        .and_then(|c| c.linux.as_ref())
        .and_then(|l| l.seccomp_profile.as_ref());
    // An absent profile is judged as unconfined, like upstream (module docs).
    // An out-of-range profile type is checked by none of the switches, as in Go.
    let kind = match profile {
        None => Some(ProfileType::Unconfined),
        Some(p) => ProfileType::try_from(p.profile_type).ok(),
    };
    let (rejected, name) = match kind {
        Some(ProfileType::Unconfined) => {
            (config.reject_unconfined_seccomp_adjustment, "unconfined")
        }
        Some(ProfileType::RuntimeDefault) => (
            config.reject_runtime_default_seccomp_adjustment,
            "runtime default",
        ),
        Some(ProfileType::Localhost) => (config.reject_custom_seccomp_adjustment, "custom"),
        None => (false, ""),
    };
    if rejected {
        return Err(Rejection::SeccompPolicy {
            owner: owner.to_string(),
            profile: name,
        });
    }
    Ok(())
}

fn check_namespaces(
    request: &ValidateContainerAdjustmentRequest,
    owners: Option<&FieldOwners>,
    config: &DefaultValidatorConfig,
) -> Result<(), Rejection> {
    if request.adjust.is_none() || !config.reject_namespace_adjustment {
        return Ok(());
    }
    match compound_owners(owners, Field::Namespace) {
        // Upstream rejects as soon as the compound entry exists.
        Some(map) => Err(Rejection::Namespaces {
            owners: map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }),
        None => Ok(()),
    }
}

fn check_sysctl(
    request: &ValidateContainerAdjustmentRequest,
    owners: Option<&FieldOwners>,
    config: &DefaultValidatorConfig,
) -> Result<(), Rejection> {
    let Some(linux) = request.adjust.as_ref().and_then(|a| a.linux.as_ref()) else {
        return Ok(());
    };
    if !config.reject_sysctl_adjustment {
        return Ok(());
    }
    let Some(map) = compound_owners(owners, Field::Sysctl) else {
        return Ok(());
    };
    let offenders: Vec<String> = linux
        .sysctl
        .keys()
        .filter_map(|key| {
            map.get(key)
                .or_else(|| removal::marked_key(key).and_then(|plain| map.get(plain)))
                .cloned()
        })
        .collect();
    if offenders.is_empty() {
        Ok(())
    } else {
        Err(Rejection::Sysctl { owners: offenders })
    }
}

fn check_required_plugins(
    request: &ValidateContainerAdjustmentRequest,
    config: &DefaultValidatorConfig,
) -> Result<(), Rejection> {
    let container = request.container.as_ref().map_or("", |c| c.name.as_str());
    let pod = request.pod.as_ref();
    let tolerate_key = config.tolerate_missing_plugins_annotation.as_str();
    if !tolerate_key.is_empty()
        && let Some(value) = effective_annotation(pod, tolerate_key, container)
    {
        let tolerate =
            parse_go_bool(value).map_err(|reason| invalid(tolerate_key, value, reason))?;
        if tolerate {
            return Ok(());
        }
    }

    let mut required: Vec<String> = config.required_plugins.clone();
    if let Some(value) = effective_annotation(pod, REQUIRED_PLUGINS_ANNOTATION, container) {
        let annotated = parse_plugin_list(value)
            .map_err(|reason| invalid(REQUIRED_PLUGINS_ANNOTATION, value, reason))?;
        required.extend(annotated);
    }
    if required.is_empty() {
        return Ok(());
    }

    let consulted: BTreeSet<String> = request
        .plugins
        .iter()
        .flat_map(|p| [p.name.clone(), format!("{}-{}", p.index, p.name)])
        .collect();
    let missing: Vec<String> = required
        .into_iter()
        .filter(|r| !consulted.contains(r))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Rejection::MissingPlugins { missing })
    }
}

/// Longest prefix of a bad annotation value quoted in an error.
const QUOTED_VALUE_LEN: usize = 128;

fn invalid(key: &str, value: &str, reason: String) -> Rejection {
    let mut end = value.len().min(QUOTED_VALUE_LEN);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut quoted = value[..end].to_string();
    if end < value.len() {
        quoted.push('…');
    }
    Rejection::InvalidAnnotation {
        key: key.to_string(),
        value: quoted,
        reason,
    }
}
