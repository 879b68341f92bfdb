//! `env`: set and remove environment variables of the process.

use std::collections::{HashMap, HashSet};

use nri_proto::api::KeyValue;
use nri_proto::removal;
use oci_spec::runtime::Spec;

use super::parts;

/// Applies environment changes. For each variable the last entry naming it
/// decides: `KEY=VALUE` sets it, `-KEY` removes it. A variable that is set
/// replaces its first existing entry in place and drops any later duplicate;
/// new variables are appended in the order they first appear in the
/// adjustment. Existing entries without `=` count as a variable with that
/// name. Removing a variable that is not there changes nothing.
pub(super) fn apply(spec: &mut Spec, env: &[KeyValue]) {
    if env.is_empty() {
        return;
    }
    // The final action per variable (None: remove) and first-seen order.
    let mut action: HashMap<&str, Option<&str>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for entry in env {
        let (key, remove) = removal::split(&entry.key);
        if action
            .insert(key, (!remove).then_some(entry.value.as_str()))
            .is_none()
        {
            order.push(key);
        }
    }
    let has_sets = action.values().any(Option::is_some);
    if spec.process().is_none() && !has_sets {
        return;
    }

    let process = parts::process(spec);
    let existing = process.env_mut().take();
    let mut result = Vec::with_capacity(existing.as_ref().map_or(0, Vec::len) + order.len());
    let mut written: HashSet<&str> = HashSet::new();
    for entry in existing.iter().flatten() {
        let key = entry.split_once('=').map_or(entry.as_str(), |(key, _)| key);
        match action.get_key_value(key) {
            None => result.push(entry.clone()),
            Some((_, None)) => {}
            Some((&key, Some(value))) => {
                if written.insert(key) {
                    result.push(format!("{key}={value}"));
                }
            }
        }
    }
    for key in order {
        if let Some(Some(value)) = action.get(key)
            && !written.contains(key)
        {
            result.push(format!("{key}={value}"));
        }
    }
    if existing.is_some() || !result.is_empty() {
        process.set_env(Some(result));
    }
}
