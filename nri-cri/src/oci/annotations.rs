//! `annotations`: set and remove spec annotations.

use std::collections::{BTreeMap, HashMap};

use nri_proto::removal;
use oci_spec::runtime::Spec;

/// Removes the annotations marked `-key`, then sets the others, so an
/// adjustment holding both `-key` and `key` (a plugin replacing a value)
/// ends with `key` set.
pub(super) fn apply(spec: &mut Spec, annotations: &BTreeMap<String, String>) {
    if let Some(existing) = spec.annotations_mut() {
        for key in annotations.keys().filter_map(|k| removal::marked_key(k)) {
            existing.remove(key);
        }
    }
    let mut sets = annotations
        .iter()
        .filter(|(key, _)| !removal::is_marked(key))
        .peekable();
    if sets.peek().is_none() {
        return;
    }
    let existing = spec.annotations_mut().get_or_insert_with(HashMap::new);
    for (key, value) in sets {
        existing.insert(key.clone(), value.clone());
    }
}
