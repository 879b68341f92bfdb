//! `linux.oom_score_adj`, `linux.io_priority` and `linux.scheduler`: the
//! process's OOM score and scheduling.

use nri_proto::api;
use nri_proto::optional::OptionalValue;
use oci_spec::runtime::{IOPriorityClass, LinuxIOPriorityBuilder, Scheduler, Spec};

use super::{AdjustError, enum_names, parts};

/// Sets the OOM score adjustment if the adjustment has one.
pub(super) fn oom_score_adj(
    spec: &mut Spec,
    score: &Option<api::OptionalInt>,
) -> Result<(), AdjustError> {
    let Some(score) = score.value() else {
        return Ok(());
    };
    let score = i32::try_from(score).map_err(|_| {
        AdjustError::invalid("linux.oom_score_adj", format!("{score} is out of range"))
    })?;
    parts::process(spec).set_oom_score_adj(Some(score));
    Ok(())
}

/// Sets the I/O priority. Class `IOPRIO_CLASS_NONE` removes it (the runtime
/// spec has no spelling for "no class").
pub(super) fn io_priority(
    spec: &mut Spec,
    priority: Option<&api::LinuxIoPriority>,
) -> Result<(), AdjustError> {
    const FIELD: &str = "linux.io_priority";
    let Some(priority) = priority else {
        return Ok(());
    };
    let name =
        enum_names::proto_name(FIELD, priority.class, |c: api::IoPrioClass| c.as_str_name())?;
    if name == api::IoPrioClass::IoprioClassNone.as_str_name() {
        if let Some(process) = spec.process_mut() {
            process.set_io_priority(None);
        }
        return Ok(());
    }
    let class: IOPriorityClass = enum_names::parse(FIELD, name)?;
    let oci = LinuxIOPriorityBuilder::default()
        .class(class)
        .priority(i64::from(priority.priority))
        .build()
        .map_err(|error| AdjustError::invalid(FIELD, error.to_string()))?;
    parts::process(spec).set_io_priority(Some(oci));
    Ok(())
}

/// Replaces the scheduling parameters. Policy `SCHED_NONE` removes them, as
/// upstream does. Zero numbers and an empty flag list are left out, as
/// upstream's JSON does.
pub(super) fn scheduler(
    spec: &mut Spec,
    scheduler: Option<&api::LinuxScheduler>,
) -> Result<(), AdjustError> {
    const FIELD: &str = "linux.scheduler";
    let Some(scheduler) = scheduler else {
        return Ok(());
    };
    let policy =
        enum_names::proto_name(FIELD, scheduler.policy, |p: api::LinuxSchedulerPolicy| {
            p.as_str_name()
        })?;
    if policy == api::LinuxSchedulerPolicy::SchedNone.as_str_name() {
        if let Some(process) = spec.process_mut() {
            process.set_scheduler(None);
        }
        return Ok(());
    }
    let flags = scheduler
        .flags
        .iter()
        .map(|&flag| {
            let name =
                enum_names::proto_name(FIELD, flag, |f: api::LinuxSchedulerFlag| f.as_str_name())?;
            enum_names::parse(FIELD, name)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut oci = Scheduler::default();
    oci.set_policy(enum_names::parse(FIELD, policy)?)
        .set_nice(non_zero(scheduler.nice))
        .set_priority(non_zero(scheduler.priority))
        .set_flags((!flags.is_empty()).then_some(flags))
        .set_runtime(non_zero(scheduler.runtime))
        .set_deadline(non_zero(scheduler.deadline))
        .set_period(non_zero(scheduler.period));
    parts::process(spec).set_scheduler(Some(oci));
    Ok(())
}

fn non_zero<T: Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}
