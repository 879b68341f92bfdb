//! `CDI_devices`: hand CDI device names to the runtime's injector.

use nri_proto::api::CdiDevice;
use oci_spec::runtime::Spec;

use super::{AdjustError, Resolvers};

/// Asks the runtime to inject the named CDI devices; no devices, no call.
pub(super) fn apply(
    spec: &mut Spec,
    devices: &[CdiDevice],
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    if devices.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = devices.iter().map(|d| d.name.clone()).collect();
    resolvers
        .inject_cdi(spec, &names)
        .map_err(|reason| AdjustError::resolver("CDI_devices", reason))
}
