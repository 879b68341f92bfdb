//! `linux.net_devices`: move host network devices into the container.

use std::collections::{BTreeMap, HashMap};

use nri_proto::api;
use nri_proto::removal;
use oci_spec::runtime::{LinuxNetDevice, Spec};

use super::parts;

/// Removes the devices whose host name is marked `-name`, then sets the
/// others (host name → name in the container; an empty name keeps the host
/// name).
pub(super) fn apply(spec: &mut Spec, devices: &BTreeMap<String, api::LinuxNetDevice>) {
    if let Some(existing) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.net_devices_mut().as_mut())
    {
        for host in devices.keys().filter_map(|k| removal::marked_key(k)) {
            existing.remove(host);
        }
    }
    let mut sets = devices
        .iter()
        .filter(|(host, _)| !removal::is_marked(host))
        .peekable();
    if sets.peek().is_none() {
        return;
    }
    let existing = parts::linux(spec)
        .net_devices_mut()
        .get_or_insert_with(HashMap::new);
    for (host, device) in sets {
        let mut oci = LinuxNetDevice::default();
        oci.set_name((!device.name.is_empty()).then(|| device.name.clone()));
        existing.insert(host.clone(), oci);
    }
}
