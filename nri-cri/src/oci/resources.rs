//! `linux.resources`: memory, CPU, hugepage, unified, PID and device cgroup
//! settings. The block I/O and RDT classes are in their own modules.

use std::collections::HashMap;

use nri_proto::api;
use nri_proto::optional::OptionalValue;
use oci_spec::runtime::{
    LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxPids, Spec,
};

use super::{AdjustError, Resolvers, devices, enum_names, parts};

/// Merges the resources into the spec's: every field the adjustment sets
/// replaces the spec's value, every other field is kept. Nothing set, nothing
/// created.
pub(super) fn apply(
    spec: &mut Spec,
    resources: Option<&api::LinuxResources>,
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    let Some(resources) = resources else {
        return Ok(());
    };
    if let Some(memory_adjustment) = &resources.memory {
        memory(spec, memory_adjustment);
    }
    if let Some(cpu_adjustment) = &resources.cpu {
        cpu(spec, cpu_adjustment);
    }
    hugepages(spec, &resources.hugepage_limits, resolvers)?;
    if !resources.unified.is_empty() {
        let unified = parts::resources(spec)
            .unified_mut()
            .get_or_insert_with(HashMap::new);
        for (key, value) in &resources.unified {
            unified.insert(key.clone(), value.clone());
        }
    }
    if let Some(pids) = &resources.pids {
        let mut oci = LinuxPids::default();
        oci.set_limit(pids.limit);
        parts::resources(spec).set_pids(Some(oci));
    }
    for rule in &resources.devices {
        devices::add_rule(spec, device_rule(rule)?);
    }
    Ok(())
}

/// Every memory field. A limit without a swap limit in the same adjustment
/// also sets the swap limit (memory plus swap) to the new limit, as upstream
/// does, so a raised limit never ends below a swap limit that equalled the
/// old one (runtimes refuse that); a spec swap limit of -1 (unlimited) is
/// kept, as it is valid with any limit.
fn memory(spec: &mut Spec, adjustment: &api::LinuxMemory) {
    if *adjustment == api::LinuxMemory::default() {
        return;
    }
    let memory = parts::resources(spec)
        .memory_mut()
        .get_or_insert_with(LinuxMemory::default);
    if let Some(limit) = adjustment.limit.value() {
        memory.set_limit(Some(limit));
        if adjustment.swap.is_none() && memory.swap() != Some(-1) {
            memory.set_swap(Some(limit));
        }
    }
    set_if(
        memory,
        adjustment.reservation.value(),
        LinuxMemory::set_reservation,
    );
    set_if(memory, adjustment.swap.value(), LinuxMemory::set_swap);
    set_if(memory, adjustment.kernel.value(), LinuxMemory::set_kernel);
    set_if(
        memory,
        adjustment.kernel_tcp.value(),
        LinuxMemory::set_kernel_tcp,
    );
    set_if(
        memory,
        adjustment.swappiness.value(),
        LinuxMemory::set_swappiness,
    );
    set_if(
        memory,
        adjustment.disable_oom_killer.value(),
        LinuxMemory::set_disable_oom_killer,
    );
    set_if(
        memory,
        adjustment.use_hierarchy.value(),
        LinuxMemory::set_use_hierarchy,
    );
}

/// Every CPU field; an empty cpu or memory node set means "not set".
fn cpu(spec: &mut Spec, adjustment: &api::LinuxCpu) {
    if *adjustment == api::LinuxCpu::default() {
        return;
    }
    let cpu = parts::resources(spec)
        .cpu_mut()
        .get_or_insert_with(LinuxCpu::default);
    set_if(cpu, adjustment.shares.value(), LinuxCpu::set_shares);
    set_if(cpu, adjustment.quota.value(), LinuxCpu::set_quota);
    set_if(cpu, adjustment.period.value(), LinuxCpu::set_period);
    set_if(
        cpu,
        adjustment.realtime_runtime.value(),
        LinuxCpu::set_realtime_runtime,
    );
    set_if(
        cpu,
        adjustment.realtime_period.value(),
        LinuxCpu::set_realtime_period,
    );
    let non_empty = |s: &String| (!s.is_empty()).then(|| s.clone());
    set_if(cpu, non_empty(&adjustment.cpus), LinuxCpu::set_cpus);
    set_if(cpu, non_empty(&adjustment.mems), LinuxCpu::set_mems);
}

/// Sets a field through its oci-spec setter if the adjustment has a value.
fn set_if<S, T>(target: &mut S, value: Option<T>, setter: fn(&mut S, Option<T>) -> &mut S) {
    if value.is_some() {
        setter(target, value);
    }
}

/// Hugepage limits replace the spec's limit for the same page size or are
/// appended. Without the hugetlb controller they are dropped.
fn hugepages(
    spec: &mut Spec,
    limits: &[api::HugepageLimit],
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    if limits.is_empty() {
        return Ok(());
    }
    if !resolvers.hugetlb_enabled() {
        tracing::debug!(
            count = limits.len(),
            "hugetlb controller disabled: dropping the adjustment's hugepage limits"
        );
        return Ok(());
    }
    let converted = limits
        .iter()
        .map(|l| {
            let limit = i64::try_from(l.limit).map_err(|_| {
                AdjustError::invalid(
                    "linux.resources.hugepage_limits",
                    format!("{} limit {} is out of range", l.page_size, l.limit),
                )
            })?;
            let mut oci = LinuxHugepageLimit::default();
            oci.set_page_size(l.page_size.clone()).set_limit(limit);
            Ok(oci)
        })
        .collect::<Result<Vec<_>, AdjustError>>()?;
    let existing = parts::resources(spec)
        .hugepage_limits_mut()
        .get_or_insert_with(Vec::new);
    for limit in converted {
        match existing
            .iter_mut()
            .find(|e| e.page_size() == limit.page_size())
        {
            Some(slot) => *slot = limit,
            None => existing.push(limit),
        }
    }
    Ok(())
}

fn device_rule(rule: &api::LinuxDeviceCgroup) -> Result<LinuxDeviceCgroup, AdjustError> {
    let typ = if rule.r#type.is_empty() {
        None
    } else {
        Some(enum_names::parse("linux.resources.devices", &rule.r#type)?)
    };
    let mut oci = LinuxDeviceCgroup::default();
    oci.set_allow(rule.allow)
        .set_typ(typ)
        .set_major(rule.major.value())
        .set_minor(rule.minor.value())
        .set_access((!rule.access.is_empty()).then(|| rule.access.clone()));
    Ok(oci)
}
