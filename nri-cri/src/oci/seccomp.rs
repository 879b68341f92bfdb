//! `linux.seccomp_policy`: replace the seccomp policy.

use std::path::PathBuf;

use nri_proto::api;
use nri_proto::optional::OptionalValue;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompArgBuilder, LinuxSeccompOperator, LinuxSyscall, Spec,
};

use super::{AdjustError, enum_names, parts};

const FIELD: &str = "linux.seccomp_policy";

/// Replaces the whole seccomp policy. Names (actions, architectures, flags,
/// operators) must be the runtime spec's; an unknown one is an error. Unlike
/// upstream, the default errno is carried over too.
pub(super) fn apply(
    spec: &mut Spec,
    policy: Option<&api::LinuxSeccomp>,
) -> Result<(), AdjustError> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let architectures = policy
        .architectures
        .iter()
        .map(|arch| enum_names::parse(FIELD, arch))
        .collect::<Result<Vec<_>, _>>()?;
    let flags = policy
        .flags
        .iter()
        .map(|flag| enum_names::parse(FIELD, flag))
        .collect::<Result<Vec<_>, _>>()?;
    let syscalls = policy
        .syscalls
        .iter()
        .map(syscall)
        .collect::<Result<Vec<_>, _>>()?;
    let mut oci = LinuxSeccomp::default();
    oci.set_default_action(enum_names::parse(FIELD, &policy.default_action)?)
        .set_default_errno_ret(policy.default_errno.value())
        .set_architectures(non_empty(architectures))
        .set_flags(non_empty(flags))
        .set_listener_path(
            (!policy.listener_path.is_empty()).then(|| PathBuf::from(&policy.listener_path)),
        )
        .set_listener_metadata(
            (!policy.listener_metadata.is_empty()).then(|| policy.listener_metadata.clone()),
        )
        .set_syscalls(non_empty(syscalls));
    parts::linux(spec).set_seccomp(Some(oci));
    Ok(())
}

fn syscall(syscall: &api::LinuxSyscall) -> Result<LinuxSyscall, AdjustError> {
    let args = syscall
        .args
        .iter()
        .map(|arg| {
            let index = usize::try_from(arg.index).map_err(|_| {
                AdjustError::invalid(FIELD, format!("argument index {}", arg.index))
            })?;
            let mut builder = LinuxSeccompArgBuilder::default()
                .index(index)
                .value(arg.value)
                .op(enum_names::parse::<LinuxSeccompOperator>(FIELD, &arg.op)?);
            if arg.value_two != 0 {
                builder = builder.value_two(arg.value_two);
            }
            builder
                .build()
                .map_err(|error| AdjustError::invalid(FIELD, error.to_string()))
        })
        .collect::<Result<Vec<_>, AdjustError>>()?;
    let mut oci = LinuxSyscall::default();
    oci.set_names(syscall.names.clone())
        .set_action(enum_names::parse(FIELD, &syscall.action)?)
        .set_errno_ret(syscall.errno_ret.value())
        .set_args(non_empty(args));
    Ok(oci)
}

fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}
