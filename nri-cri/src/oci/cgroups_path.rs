//! `linux.cgroups_path`: set the container's cgroup path.

use std::path::PathBuf;

use oci_spec::runtime::Spec;

use super::parts;

/// Sets the cgroups path; an empty path changes nothing.
pub(super) fn apply(spec: &mut Spec, cgroups_path: &str) {
    if !cgroups_path.is_empty() {
        parts::linux(spec).set_cgroups_path(Some(PathBuf::from(cgroups_path)));
    }
}
