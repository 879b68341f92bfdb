//! `mounts`: add, replace and remove mounts, keep the root propagation in
//! line with them, and order the result.

use std::path::PathBuf;

use nri_proto::api;
use nri_proto::removal;
use oci_spec::runtime::{Mount, Spec};

use super::{AdjustError, MountPropagation, Resolvers, parts, path};

/// Applies mount entries one after the other, then sorts all mounts.
///
/// - `-DEST` removes the mounts at `DEST`; any other entry replaces the
///   mounts at its destination or is added. Destinations are compared in
///   clean form (`/data/` is `/data`).
/// - A mount whose last propagation option is `rshared` needs a shared host
///   source and makes the root propagation `rshared`; one with `rslave` needs
///   a shared or slave host source and makes the root propagation `rslave`
///   unless it is `rshared` or `rslave` already. Each mount is judged by its
///   own options (upstream carries one mount's option over to the next).
/// - Finally mounts are ordered by depth (separators in the clean
///   destination), then by destination, so parents are mounted before what
///   is mounted inside them. The order is stable.
///
/// Without mount entries the spec's mounts are left as they are, unsorted.
pub(super) fn apply(
    spec: &mut Spec,
    mounts: &[api::Mount],
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    if mounts.is_empty() {
        return Ok(());
    }
    for mount in mounts {
        let (destination, remove) = removal::split(&mount.destination);
        remove_at(spec, destination);
        if remove {
            continue;
        }
        propagate(spec, mount, resolvers)?;
        spec.mounts_mut()
            .get_or_insert_with(Vec::new)
            .push(to_oci(mount));
    }
    if let Some(list) = spec.mounts_mut() {
        list.sort_by(|a, b| {
            let (a, b) = (
                a.destination().to_string_lossy(),
                b.destination().to_string_lossy(),
            );
            path::depth(&a)
                .cmp(&path::depth(&b))
                .then_with(|| a.cmp(&b))
        });
    }
    Ok(())
}

fn remove_at(spec: &mut Spec, destination: &str) {
    if let Some(list) = spec.mounts_mut() {
        let wanted = path::clean(destination);
        list.retain(|m| path::clean(&m.destination().to_string_lossy()) != wanted);
    }
}

fn propagate(
    spec: &mut Spec,
    mount: &api::Mount,
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    let option = mount
        .options
        .iter()
        .rev()
        .find(|o| matches!(o.as_str(), "rprivate" | "rshared" | "rslave"));
    let (wanted, needs, accepted): (&'static str, &'static str, &[MountPropagation]) =
        match option.map(String::as_str) {
            Some("rshared") => ("rshared", "shared", &[MountPropagation::Shared]),
            Some("rslave") => (
                "rslave",
                "shared or slave",
                &[MountPropagation::Shared, MountPropagation::Slave],
            ),
            _ => return Ok(()),
        };
    let found = resolvers
        .mount_propagation(&mount.source)
        .map_err(|reason| {
            AdjustError::resolver("mounts", format!("{}: {reason}", mount.destination))
        })?;
    if !accepted.contains(&found) {
        return Err(AdjustError::Propagation {
            destination: mount.destination.clone(),
            host_path: mount.source.clone(),
            wanted,
            needs,
            found,
        });
    }
    let linux = parts::linux(spec);
    let root = linux.rootfs_propagation().as_deref();
    let keep = wanted == "rslave" && matches!(root, Some("rshared" | "rslave"));
    if !keep {
        linux.set_rootfs_propagation(Some(wanted.to_string()));
    }
    Ok(())
}

fn to_oci(mount: &api::Mount) -> Mount {
    let mut oci = Mount::default();
    oci.set_destination(PathBuf::from(&mount.destination))
        .set_typ((!mount.r#type.is_empty()).then(|| mount.r#type.clone()))
        .set_source((!mount.source.is_empty()).then(|| PathBuf::from(&mount.source)))
        .set_options((!mount.options.is_empty()).then(|| mount.options.clone()));
    oci
}
