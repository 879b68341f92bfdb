//! Why an adjustment could not be applied.

use super::MountPropagation;

/// Why [`apply`](super::apply) failed. Every variant names the adjustment
/// field it failed on, as the field's path in the NRI schema (for example
/// `linux.resources.blockio_class` or `mounts`), and the message starts with
/// it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdjustError {
    /// The adjustment holds a value the OCI spec cannot take: an unknown
    /// enum value or name, a number out of range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The adjustment field, e.g. `linux.namespaces`.
        field: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// A runtime callback of [`Resolvers`](super::Resolvers) failed, or the
    /// adjustment needs one the runtime does not provide.
    #[error("{field}: {reason}")]
    Resolver {
        /// The adjustment field, e.g. `linux.resources.blockio_class`.
        field: &'static str,
        /// The callback's error.
        reason: String,
    },
    /// A mount asks for `rshared` or `rslave` propagation but its source on
    /// the host does not propagate that way.
    #[error(
        "mounts: {destination}: {wanted} propagation needs a {needs} host mount, but its host path {host_path:?} is {found}"
    )]
    Propagation {
        /// The mount's destination in the container.
        destination: String,
        /// The mount's source on the host.
        host_path: String,
        /// The propagation option of the mount: `rshared` or `rslave`.
        wanted: &'static str,
        /// What the host mount must be: `shared`, or `shared or slave`.
        needs: &'static str,
        /// What the host mount is.
        found: MountPropagation,
    },
}

impl AdjustError {
    /// The adjustment field that failed, as its path in the NRI schema.
    pub fn field(&self) -> &'static str {
        match self {
            AdjustError::Invalid { field, .. } | AdjustError::Resolver { field, .. } => field,
            AdjustError::Propagation { .. } => "mounts",
        }
    }

    pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        AdjustError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(super) fn resolver(field: &'static str, reason: impl Into<String>) -> Self {
        AdjustError::Resolver {
            field,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_with_the_field() {
        let errors = [
            AdjustError::invalid("linux.namespaces", "unknown type \"foo\""),
            AdjustError::resolver("linux.resources.blockio_class", "no resolver"),
            AdjustError::Propagation {
                destination: "/data".into(),
                host_path: "/mnt/data".into(),
                wanted: "rshared",
                needs: "shared",
                found: MountPropagation::Private,
            },
        ];
        for error in errors {
            let text = error.to_string();
            assert!(
                text.starts_with(&format!("{}: ", error.field())),
                "{text:?} does not start with {:?}",
                error.field()
            );
        }
    }
}
