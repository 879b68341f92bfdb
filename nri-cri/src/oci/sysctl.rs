//! `linux.sysctl`: set and remove sysctls.

use std::collections::{BTreeMap, HashMap};

use nri_proto::removal;
use oci_spec::runtime::Spec;

use super::parts;

/// Removes the sysctls marked `-key`, then sets the others (so `-key` with
/// `key` replaces the value).
pub(super) fn apply(spec: &mut Spec, sysctl: &BTreeMap<String, String>) {
    if let Some(existing) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.sysctl_mut().as_mut())
    {
        for key in sysctl.keys().filter_map(|k| removal::marked_key(k)) {
            existing.remove(key);
        }
    }
    let mut sets = sysctl
        .iter()
        .filter(|(key, _)| !removal::is_marked(key))
        .peekable();
    if sets.peek().is_none() {
        return;
    }
    let existing = parts::linux(spec)
        .sysctl_mut()
        .get_or_insert_with(HashMap::new);
    for (key, value) in sets {
        existing.insert(key.clone(), value.clone());
    }
}
