//! `rlimits`: POSIX resource limits of the process.

use nri_proto::api;
use oci_spec::runtime::{PosixRlimitBuilder, PosixRlimitType, Spec};

use super::{AdjustError, enum_names, parts};

/// Sets resource limits: a limit replaces the spec's limit of the same type
/// in place, or is appended. (Upstream always appends, which leaves two
/// entries of one type when the spec already has it, and the runtime spec
/// requires runtimes to reject duplicates.) Types are the runtime spec's
/// names, e.g. `RLIMIT_NOFILE`.
pub(super) fn apply(spec: &mut Spec, rlimits: &[api::PosixRlimit]) -> Result<(), AdjustError> {
    if rlimits.is_empty() {
        return Ok(());
    }
    let converted = rlimits
        .iter()
        .map(|l| {
            let typ: PosixRlimitType = enum_names::parse("rlimits", &l.r#type)?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .hard(l.hard)
                .soft(l.soft)
                .build()
                .map_err(|error| AdjustError::invalid("rlimits", error.to_string()))
        })
        .collect::<Result<Vec<_>, AdjustError>>()?;
    let process = parts::process(spec);
    let mut list = process.rlimits().clone().unwrap_or_default();
    for limit in converted {
        match list.iter_mut().find(|e| e.typ() == limit.typ()) {
            Some(slot) => *slot = limit,
            None => list.push(limit),
        }
    }
    process.set_rlimits(Some(list));
    Ok(())
}
