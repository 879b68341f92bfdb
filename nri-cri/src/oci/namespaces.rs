//! `linux.namespaces`: add, replace and remove namespaces by type.

use std::path::PathBuf;

use nri_proto::api;
use nri_proto::removal;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

use super::{AdjustError, parts};

const FIELD: &str = "linux.namespaces";

/// Applies namespace entries one after the other: `-TYPE` removes the
/// namespace of that type (if any); any other entry replaces the namespace of
/// its type in place, or appends it. An empty path means "a new namespace".
/// Types are the runtime spec's (`network`, `mount`, …; `net` and `mnt` are
/// accepted too); an unknown type is an error.
pub(super) fn apply(
    spec: &mut Spec,
    namespaces: &[api::LinuxNamespace],
) -> Result<(), AdjustError> {
    for namespace in namespaces {
        let (name, remove) = removal::split(&namespace.r#type);
        let typ = LinuxNamespaceType::try_from(name)
            .map_err(|_| AdjustError::invalid(FIELD, format!("unknown namespace type {name:?}")))?;
        if remove {
            if let Some(list) = spec
                .linux_mut()
                .as_mut()
                .and_then(|l| l.namespaces_mut().as_mut())
            {
                list.retain(|ns| ns.typ() != typ);
            }
            continue;
        }
        let mut oci = LinuxNamespace::default();
        oci.set_typ(typ)
            .set_path((!namespace.path.is_empty()).then(|| PathBuf::from(&namespace.path)));
        let list = parts::linux(spec)
            .namespaces_mut()
            .get_or_insert_with(Vec::new);
        match list.iter_mut().find(|ns| ns.typ() == typ) {
            Some(existing) => *existing = oci,
            None => list.push(oci),
        }
    }
    Ok(())
}
