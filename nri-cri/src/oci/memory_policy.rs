//! `linux.memory_policy`: set the NUMA memory policy.

use nri_proto::api;
use oci_spec::runtime::{LinuxMemoryPolicy, Spec};

use super::{AdjustError, enum_names, parts};

const FIELD: &str = "linux.memory_policy";

/// Replaces the memory policy.
pub(super) fn apply(
    spec: &mut Spec,
    policy: Option<&api::LinuxMemoryPolicy>,
) -> Result<(), AdjustError> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let mode = enum_names::proto_name(FIELD, policy.mode, |m: api::MpolMode| m.as_str_name())?;
    let flags = policy
        .flags
        .iter()
        .map(|&flag| {
            let name = enum_names::proto_name(FIELD, flag, |f: api::MpolFlag| f.as_str_name())?;
            enum_names::parse(FIELD, name)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut oci = LinuxMemoryPolicy::default();
    oci.set_mode(enum_names::parse(FIELD, mode)?)
        .set_nodes((!policy.nodes.is_empty()).then(|| policy.nodes.clone()))
        .set_flags((!flags.is_empty()).then_some(flags));
    parts::linux(spec).set_memory_policy(Some(oci));
    Ok(())
}
