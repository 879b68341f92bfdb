//! The spec's sub-objects, created empty when an adjustment writes into
//! them.
//!
//! oci-spec's `Default` for `Process` and `Linux` is a runnable example
//! config (a shell, capabilities, namespaces, masked paths, an rlimit), not
//! an empty object, so it must never be used to fill in a missing part.

use std::path::PathBuf;

use oci_spec::runtime::{Linux, LinuxResources, Process, Spec, User};

/// A process object with nothing set but its two required fields (uid/gid 0
/// and an empty cwd).
pub(crate) fn empty_process() -> Process {
    let mut process = Process::default();
    process
        .set_terminal(None)
        .set_console_size(None)
        .set_user(User::default())
        .set_args(None)
        .set_command_line(None)
        .set_env(None)
        .set_cwd(PathBuf::new())
        .set_capabilities(None)
        .set_rlimits(None)
        .set_no_new_privileges(None)
        .set_apparmor_profile(None)
        .set_oom_score_adj(None)
        .set_selinux_label(None)
        .set_io_priority(None)
        .set_scheduler(None)
        .set_exec_cpu_affinity(None);
    process
}

/// A Linux object with nothing set.
pub(crate) fn empty_linux() -> Linux {
    let mut linux = Linux::default();
    linux
        .set_net_devices(None)
        .set_uid_mappings(None)
        .set_gid_mappings(None)
        .set_sysctl(None)
        .set_resources(None)
        .set_cgroups_path(None)
        .set_namespaces(None)
        .set_devices(None)
        .set_seccomp(None)
        .set_rootfs_propagation(None)
        .set_masked_paths(None)
        .set_readonly_paths(None)
        .set_mount_label(None)
        .set_intel_rdt(None)
        .set_memory_policy(None)
        .set_personality(None)
        .set_time_offsets(None);
    linux
}

/// The spec's process, created empty if missing.
pub(super) fn process(spec: &mut Spec) -> &mut Process {
    spec.process_mut().get_or_insert_with(empty_process)
}

/// The spec's Linux section, created empty if missing.
pub(super) fn linux(spec: &mut Spec) -> &mut Linux {
    spec.linux_mut().get_or_insert_with(empty_linux)
}

/// The spec's Linux resources, created empty (with the Linux section) if
/// missing.
pub(super) fn resources(spec: &mut Spec) -> &mut LinuxResources {
    linux(spec)
        .resources_mut()
        .get_or_insert_with(LinuxResources::default)
}

/// The spec's Linux resources if they exist; for changes that only remove.
pub(super) fn existing_resources(spec: &mut Spec) -> Option<&mut LinuxResources> {
    spec.linux_mut().as_mut()?.resources_mut().as_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_parts_serialize_to_almost_nothing() {
        // Guards against new oci-spec fields whose Default is not empty.
        assert_eq!(
            serde_json::to_value(empty_process()).unwrap(),
            json!({"user": {"uid": 0, "gid": 0}, "cwd": ""})
        );
        assert_eq!(serde_json::to_value(empty_linux()).unwrap(), json!({}));
        assert_eq!(
            serde_json::to_value(LinuxResources::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn missing_parts_are_created_empty() {
        let mut spec: Spec = serde_json::from_value(json!({})).unwrap();
        resources(&mut spec);
        process(&mut spec);
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({
                "ociVersion": "",
                "process": {"user": {"uid": 0, "gid": 0}, "cwd": ""},
                "linux": {"resources": {}},
            })
        );
    }

    #[test]
    fn existing_resources_creates_nothing() {
        let mut spec: Spec = serde_json::from_value(json!({})).unwrap();
        assert!(existing_resources(&mut spec).is_none());
        assert!(spec.linux().is_none());
    }
}
