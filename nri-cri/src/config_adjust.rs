//! A merged NRI [`ContainerAdjustment`] applied to the CRI
//! [`ContainerConfig`](cri::ContainerConfig) a container is about to be
//! created from: what a CRI proxy can do, having no OCI spec.
//!
//! What CRI can express is applied with upstream's semantics (`-key`
//! removes; an environment variable is replaced in place or appended; a
//! mount replaces the one at its destination; arguments replace the whole
//! command line):
//!
//! | adjustment | CRI config |
//! |---|---|
//! | annotations | `annotations` |
//! | env | `envs` |
//! | args | `command` (the whole command line; `args` cleared) |
//! | CDI devices | `CDI_devices` |
//! | mounts of type `bind` with bind options | `mounts` |
//! | Linux devices | `devices`: when type and numbers are given, the host's node of that type and numbers (`/dev/{char,block}/MAJOR:MINOR` where udev made those links, else one found in `/dev`), else the same path; permissions `rwm` |
//! | Linux resources, OOM score adjustment | `linux.resources` ([`convert::resources::to_cri`](crate::convert::resources::to_cri)) |
//!
//! Everything else (hooks, rlimits, cgroups path, I/O priority, scheduler,
//! seccomp policy, namespaces, sysctls, network devices, RDT, memory policy,
//! resources CRI has no field for, non-bind mounts, device ownership and
//! mode) cannot be expressed in a CRI config. [`apply`] then fails with an
//! [`Inexpressible`] error naming every such part, and changes nothing: an
//! adjustment is never partly applied or silently dropped.

use nri_proto::api::{ContainerAdjustment, LinuxDevice, Mount};
use nri_proto::removal;

use crate::convert::resources;

mod host_device;
use crate::cri;

/// Parts of an adjustment a CRI container config cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a CRI container config cannot express the NRI adjustment of {}", .parts.join(", "))]
pub struct Inexpressible {
    /// The adjustment's parts, e.g. `rlimits`, `linux.resources.pids`,
    /// `mounts[/tmp]: type tmpfs`.
    pub parts: Vec<String>,
}

/// Applies `adjustment` to `config`, all of it or (on error) none of it.
pub fn apply(
    config: &mut cri::ContainerConfig,
    adjustment: &ContainerAdjustment,
) -> Result<(), Inexpressible> {
    let mut parts = Vec::new();
    let mut out = config.clone();
    check_unsupported(adjustment, &mut parts);
    apply_annotations(&mut out, adjustment);
    apply_env(&mut out, adjustment);
    if !adjustment.args.is_empty() {
        out.command = adjustment.args.clone();
        out.args.clear();
    }
    for device in &adjustment.cdi_devices {
        if !out.cdi_devices.iter().any(|have| have.name == device.name) {
            out.cdi_devices.push(cri::CdiDevice {
                name: device.name.clone(),
            });
        }
    }
    if let Some(linux) = &adjustment.linux {
        for device in &linux.devices {
            apply_device(&mut out, device, &mut parts);
        }
        let has_resources = linux.resources.is_some() || linux.oom_score_adj.is_some();
        if has_resources {
            let linux_config = out.linux.get_or_insert_with(Default::default);
            let base = linux_config.resources.clone().unwrap_or_default();
            let mut merged = match &linux.resources {
                Some(wanted) => match resources::to_cri(wanted, &base) {
                    Ok(merged) => merged,
                    Err(error) => {
                        parts.extend(
                            error
                                .fields
                                .iter()
                                .map(|field| format!("linux.resources.{field}")),
                        );
                        base
                    }
                },
                None => base,
            };
            if let Some(oom) = &linux.oom_score_adj {
                merged.oom_score_adj = oom.value;
            }
            linux_config.resources = Some(merged);
        }
    }
    for mount in &adjustment.mounts {
        apply_mount(&mut out, mount, &mut parts);
    }
    if parts.is_empty() {
        *config = out;
        Ok(())
    } else {
        Err(Inexpressible { parts })
    }
}

fn check_unsupported(adjustment: &ContainerAdjustment, parts: &mut Vec<String>) {
    let mut named = |name: &str, set: bool| {
        if set {
            parts.push(name.to_string());
        }
    };
    if let Some(hooks) = &adjustment.hooks {
        let any = !(hooks.prestart.is_empty()
            && hooks.create_runtime.is_empty()
            && hooks.create_container.is_empty()
            && hooks.start_container.is_empty()
            && hooks.poststart.is_empty()
            && hooks.poststop.is_empty());
        named("hooks", any);
    }
    named("rlimits", !adjustment.rlimits.is_empty());
    if let Some(linux) = &adjustment.linux {
        named("linux.cgroups_path", !linux.cgroups_path.is_empty());
        named("linux.io_priority", linux.io_priority.is_some());
        named("linux.seccomp_policy", linux.seccomp_policy.is_some());
        named("linux.namespaces", !linux.namespaces.is_empty());
        named("linux.sysctl", !linux.sysctl.is_empty());
        named("linux.net_devices", !linux.net_devices.is_empty());
        named("linux.scheduler", linux.scheduler.is_some());
        named("linux.rdt", linux.rdt.is_some());
        named("linux.memory_policy", linux.memory_policy.is_some());
    }
}

fn apply_annotations(config: &mut cri::ContainerConfig, adjustment: &ContainerAdjustment) {
    for (key, value) in &adjustment.annotations {
        match removal::marked_key(key) {
            Some(plain) => {
                config.annotations.remove(plain);
            }
            None => {
                config.annotations.insert(key.clone(), value.clone());
            }
        }
    }
}

fn apply_env(config: &mut cri::ContainerConfig, adjustment: &ContainerAdjustment) {
    for kv in &adjustment.env {
        if let Some(plain) = removal::marked_key(&kv.key) {
            config.envs.retain(|have| have.key != plain);
            continue;
        }
        let value = kv.value.as_bytes().to_vec();
        match config.envs.iter_mut().find(|have| have.key == kv.key) {
            Some(have) => have.value = value,
            None => config.envs.push(cri::KeyValue {
                key: kv.key.clone(),
                value,
            }),
        }
    }
}

fn apply_device(config: &mut cri::ContainerConfig, device: &LinuxDevice, parts: &mut Vec<String>) {
    if let Some(plain) = removal::marked_key(&device.path) {
        config.devices.retain(|have| have.container_path != plain);
        return;
    }
    let mut unsupported = Vec::new();
    if device.file_mode.is_some() {
        unsupported.push("file_mode");
    }
    if device.uid.is_some() {
        unsupported.push("uid");
    }
    if device.gid.is_some() {
        unsupported.push("gid");
    }
    if !unsupported.is_empty() {
        parts.push(format!(
            "linux.devices[{}]: {}",
            device.path,
            unsupported.join(", ")
        ));
        return;
    }
    let numbered = device.major != 0 || device.minor != 0;
    let host_path = match device.r#type.as_str() {
        "c" | "u" if numbered => {
            host_device::path(host_device::Kind::Char, device.major, device.minor)
        }
        "b" if numbered => host_device::path(host_device::Kind::Block, device.major, device.minor),
        _ => device.path.clone(),
    };
    let wanted = cri::Device {
        container_path: device.path.clone(),
        host_path,
        permissions: "rwm".to_string(),
    };
    match config
        .devices
        .iter_mut()
        .find(|have| have.container_path == device.path)
    {
        Some(have) => *have = wanted,
        None => config.devices.push(wanted),
    }
}

fn apply_mount(config: &mut cri::ContainerConfig, mount: &Mount, parts: &mut Vec<String>) {
    if let Some(plain) = removal::marked_key(&mount.destination) {
        config.mounts.retain(|have| have.container_path != plain);
        return;
    }
    match bind_mount(mount) {
        Ok(wanted) => match config
            .mounts
            .iter_mut()
            .find(|have| have.container_path == mount.destination)
        {
            Some(have) => *have = wanted,
            None => config.mounts.push(wanted),
        },
        Err(why) => parts.push(format!("mounts[{}]: {why}", mount.destination)),
    }
}

/// An NRI mount as a CRI bind mount, or why it is not one.
fn bind_mount(mount: &Mount) -> Result<cri::Mount, String> {
    if !(mount.r#type.is_empty() || mount.r#type == "bind") {
        return Err(format!("type {}", mount.r#type));
    }
    let mut out = cri::Mount {
        container_path: mount.destination.clone(),
        host_path: mount.source.clone(),
        ..Default::default()
    };
    let mut unknown = Vec::new();
    for option in &mount.options {
        match option.as_str() {
            "bind" | "rbind" | "rw" | "private" | "rprivate" => {}
            "ro" => out.readonly = true,
            "rslave" | "slave" => {
                out.propagation = cri::MountPropagation::PropagationHostToContainer as i32;
            }
            "rshared" | "shared" => {
                out.propagation = cri::MountPropagation::PropagationBidirectional as i32;
            }
            "rro" => {
                out.readonly = true;
                out.recursive_read_only = true;
            }
            other => unknown.push(other.to_string()),
        }
    }
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(format!("options {}", unknown.join(",")))
    }
}
