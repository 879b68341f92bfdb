//! `linux.resources.rdt_class` and `linux.rdt`: Intel RDT settings.

use nri_proto::api::{self, OptionalString};
use nri_proto::optional::OptionalValue;
use oci_spec::runtime::{LinuxIntelRdt, Spec};

use super::resolvers::resolve_class;
use super::{AdjustError, Resolvers, parts};

/// Resolves the RDT class to a class of service ID through the runtime and
/// replaces `linux.intelRdt` with just that ID. An empty class name, or a
/// class the runtime resolves to nothing, removes `linux.intelRdt`.
pub(super) fn class(
    spec: &mut Spec,
    class: &Option<OptionalString>,
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    let Some(clos_id) = resolve_class(class, "linux.resources.rdt_class", |c| {
        resolvers.rdt_class(c)
    })?
    else {
        return Ok(());
    };
    match clos_id {
        Some(clos_id) => {
            let mut rdt = LinuxIntelRdt::default();
            rdt.set_clos_id(Some(clos_id));
            parts::linux(spec).set_intel_rdt(Some(rdt));
        }
        None => remove(spec),
    }
    Ok(())
}

/// Applies `linux.rdt`: `remove` first drops `linux.intelRdt`, then each
/// field the adjustment sets replaces the spec's.
pub(super) fn apply(spec: &mut Spec, rdt: Option<&api::LinuxRdt>) {
    let Some(rdt) = rdt else { return };
    if rdt.remove {
        remove(spec);
    }
    if rdt.clos_id.is_none() && rdt.schemata.is_none() && rdt.enable_monitoring.is_none() {
        return;
    }
    let oci = parts::linux(spec)
        .intel_rdt_mut()
        .get_or_insert_with(LinuxIntelRdt::default);
    if let Some(clos_id) = rdt.clos_id.value() {
        oci.set_clos_id(Some(clos_id));
    }
    if let Some(schemata) = rdt.schemata.value() {
        oci.set_schemata(Some(schemata));
    }
    if let Some(enable) = rdt.enable_monitoring.value() {
        oci.set_enable_monitoring(Some(enable));
    }
}

fn remove(spec: &mut Spec) {
    if let Some(linux) = spec.linux_mut() {
        linux.set_intel_rdt(None);
    }
}
