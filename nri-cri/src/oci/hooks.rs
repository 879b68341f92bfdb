//! `hooks`: append OCI hooks.

use std::path::PathBuf;

use nri_proto::api;
use nri_proto::optional::OptionalValue;
use oci_spec::runtime::{Hook, Hooks, Spec};

/// The spec's list of hooks of one kind.
type HookList = fn(&mut Hooks) -> &mut Option<Vec<Hook>>;

/// Appends the hooks of each kind after the spec's existing hooks of that
/// kind.
pub(super) fn apply(spec: &mut Spec, hooks: Option<&api::Hooks>) {
    let Some(hooks) = hooks else { return };
    let kinds: [(&[api::Hook], HookList); 6] = [
        (&hooks.prestart, Hooks::prestart_mut),
        (&hooks.create_runtime, Hooks::create_runtime_mut),
        (&hooks.create_container, Hooks::create_container_mut),
        (&hooks.start_container, Hooks::start_container_mut),
        (&hooks.poststart, Hooks::poststart_mut),
        (&hooks.poststop, Hooks::poststop_mut),
    ];
    for (added, list) in kinds {
        if added.is_empty() {
            continue;
        }
        let existing = spec.hooks_mut().get_or_insert_with(Hooks::default);
        list(existing)
            .get_or_insert_with(Vec::new)
            .extend(added.iter().map(to_oci));
    }
}

fn to_oci(hook: &api::Hook) -> Hook {
    let mut oci = Hook::default();
    oci.set_path(PathBuf::from(&hook.path))
        .set_args(non_empty(&hook.args))
        .set_env(non_empty(&hook.env))
        .set_timeout(hook.timeout.value());
    oci
}

fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}
