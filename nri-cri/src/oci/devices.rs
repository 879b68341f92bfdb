//! `linux.devices`: add and remove device nodes, with their device cgroup
//! rules; and the shared handling of device cgroup rules.

use std::path::PathBuf;

use nri_proto::api;
use nri_proto::optional::OptionalValue;
use nri_proto::removal;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Spec};

use super::{AdjustError, enum_names, parts, path};

const FIELD: &str = "linux.devices";

/// Adds or removes device nodes, one entry after the other.
///
/// - `-PATH` removes the node at `PATH` and revokes the access it was given:
///   allow rules for exactly its type, major and minor are dropped unless
///   another remaining node has the same numbers. Wildcard rules stay.
///   Removing a node that is not there changes nothing.
/// - Any other entry first removes a node at the same path the same way, then
///   appends the new node and an allow rule for its type, major and minor,
///   with access `rw`, plus `m` for block devices (what upstream grants).
pub(super) fn apply(spec: &mut Spec, devices: &[api::LinuxDevice]) -> Result<(), AdjustError> {
    for device in devices {
        let (device_path, remove) = removal::split(&device.path);
        remove_node(spec, device_path);
        if remove {
            continue;
        }
        let typ: LinuxDeviceType = enum_names::parse(FIELD, &device.r#type)?;
        let mut node = LinuxDevice::default();
        node.set_path(PathBuf::from(device_path))
            .set_typ(typ)
            .set_major(device.major)
            .set_minor(device.minor)
            .set_file_mode(device.file_mode.value())
            .set_uid(device.uid.value())
            .set_gid(device.gid.value());
        parts::linux(spec)
            .devices_mut()
            .get_or_insert_with(Vec::new)
            .push(node);

        let access = if typ == LinuxDeviceType::B {
            "rwm"
        } else {
            "rw"
        };
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(true)
            .set_typ(Some(typ))
            .set_major(Some(device.major))
            .set_minor(Some(device.minor))
            .set_access(Some(access.to_string()));
        add_rule(spec, rule);
    }
    Ok(())
}

/// Appends a device cgroup rule. An identical rule already present is moved
/// to the end instead of being repeated: rules are evaluated in order, so the
/// last copy is the one that counts, and applying the same adjustment twice
/// gives the same list.
pub(super) fn add_rule(spec: &mut Spec, rule: LinuxDeviceCgroup) {
    let rules = parts::resources(spec)
        .devices_mut()
        .get_or_insert_with(Vec::new);
    rules.retain(|existing| *existing != rule);
    rules.push(rule);
}

fn remove_node(spec: &mut Spec, device_path: &str) {
    let Some(nodes) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.devices_mut().as_mut())
    else {
        return;
    };
    let wanted = path::clean(device_path);
    let is_target = |node: &LinuxDevice| path::clean(&node.path().to_string_lossy()) == wanted;
    let removed: Vec<LinuxDevice> = nodes.iter().filter(|n| is_target(n)).cloned().collect();
    if removed.is_empty() {
        return;
    }
    nodes.retain(|n| !is_target(n));
    let still_used: Vec<(LinuxDeviceType, i64, i64)> = nodes
        .iter()
        .map(|n| (n.typ(), n.major(), n.minor()))
        .collect();
    let Some(rules) = parts::existing_resources(spec).and_then(|r| r.devices_mut().as_mut()) else {
        return;
    };
    for node in removed {
        let numbers = (node.typ(), node.major(), node.minor());
        if still_used.contains(&numbers) {
            continue;
        }
        rules.retain(|rule| {
            !(rule.allow()
                && rule.typ() == Some(numbers.0)
                && rule.major() == Some(numbers.1)
                && rule.minor() == Some(numbers.2))
        });
    }
}
