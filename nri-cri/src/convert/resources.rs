//! Linux resources between CRI (`LinuxContainerResources`) and NRI
//! (`LinuxResources`).
//!
//! From CRI, CPU shares, quota, period, cpuset CPUs and memory nodes and the
//! memory limit are always set, even when zero, as containerd sends them;
//! hugepage limits and unified entries are copied; a non-zero swap limit is
//! carried too (containerd drops it).
//!
//! To CRI, what NRI sets is written over a base (the resources requested,
//! or the container's current ones), so that what NRI does not speak of,
//! the OOM score adjustment in particular, is kept (containerd writes 0).
//! NRI resources CRI cannot express (memory reservation, kernel and TCP
//! memory, swappiness, OOM-killer and hierarchy flags, real-time CPU,
//! block I/O and RDT classes, device rules, pids) are an error naming them,
//! never silently dropped.

use nri_proto::api::{HugepageLimit, LinuxCpu, LinuxMemory, LinuxResources};
use nri_proto::optional::{self, OptionalValue};

use crate::cri;

/// NRI resources that CRI's `LinuxContainerResources` cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CRI resources cannot express {}", .fields.join(", "))]
pub struct Inexpressible {
    /// The NRI fields, e.g. `memory.reservation`.
    pub fields: Vec<&'static str>,
}

/// CRI resources as NRI resources.
pub fn from_cri(resources: &cri::LinuxContainerResources) -> LinuxResources {
    LinuxResources {
        memory: Some(LinuxMemory {
            limit: optional::int64(resources.memory_limit_in_bytes),
            swap: (resources.memory_swap_limit_in_bytes != 0)
                .then(|| resources.memory_swap_limit_in_bytes.into()),
            ..Default::default()
        }),
        cpu: Some(LinuxCpu {
            // Kubelet never sends negative shares or periods; clamp rather
            // than wrap if a client does.
            shares: optional::uint64(u64::try_from(resources.cpu_shares).unwrap_or(0)),
            quota: optional::int64(resources.cpu_quota),
            period: optional::uint64(u64::try_from(resources.cpu_period).unwrap_or(0)),
            cpus: resources.cpuset_cpus.clone(),
            mems: resources.cpuset_mems.clone(),
            ..Default::default()
        }),
        hugepage_limits: resources
            .hugepage_limits
            .iter()
            .map(|limit| HugepageLimit {
                page_size: limit.page_size.clone(),
                limit: limit.limit,
            })
            .collect(),
        unified: resources.unified.clone(),
        ..Default::default()
    }
}

/// NRI resources written over `base` as CRI resources.
pub fn to_cri(
    resources: &LinuxResources,
    base: &cri::LinuxContainerResources,
) -> Result<cri::LinuxContainerResources, Inexpressible> {
    let mut fields = Vec::new();
    let mut out = base.clone();
    if let Some(memory) = &resources.memory {
        if let Some(limit) = memory.limit.value() {
            out.memory_limit_in_bytes = limit;
        }
        if let Some(swap) = memory.swap.value() {
            out.memory_swap_limit_in_bytes = swap;
        }
        let unsupported = [
            ("memory.reservation", memory.reservation.is_some()),
            ("memory.kernel", memory.kernel.is_some()),
            ("memory.kernel_tcp", memory.kernel_tcp.is_some()),
            ("memory.swappiness", memory.swappiness.is_some()),
            (
                "memory.disable_oom_killer",
                memory.disable_oom_killer.is_some(),
            ),
            ("memory.use_hierarchy", memory.use_hierarchy.is_some()),
        ];
        fields.extend(unsupported.iter().filter(|(_, set)| *set).map(|(f, _)| *f));
    }
    if let Some(cpu) = &resources.cpu {
        if let Some(shares) = cpu.shares.value() {
            out.cpu_shares = i64::try_from(shares).unwrap_or(i64::MAX);
        }
        if let Some(quota) = cpu.quota.value() {
            out.cpu_quota = quota;
        }
        if let Some(period) = cpu.period.value() {
            out.cpu_period = i64::try_from(period).unwrap_or(i64::MAX);
        }
        if !cpu.cpus.is_empty() {
            out.cpuset_cpus = cpu.cpus.clone();
        }
        if !cpu.mems.is_empty() {
            out.cpuset_mems = cpu.mems.clone();
        }
        let unsupported = [
            ("cpu.realtime_runtime", cpu.realtime_runtime.is_some()),
            ("cpu.realtime_period", cpu.realtime_period.is_some()),
        ];
        fields.extend(unsupported.iter().filter(|(_, set)| *set).map(|(f, _)| *f));
    }
    for limit in &resources.hugepage_limits {
        match out
            .hugepage_limits
            .iter_mut()
            .find(|have| have.page_size == limit.page_size)
        {
            Some(have) => have.limit = limit.limit,
            None => out.hugepage_limits.push(cri::HugepageLimit {
                page_size: limit.page_size.clone(),
                limit: limit.limit,
            }),
        }
    }
    for (key, value) in &resources.unified {
        out.unified.insert(key.clone(), value.clone());
    }
    let unsupported = [
        ("blockio_class", resources.blockio_class.is_some()),
        ("rdt_class", resources.rdt_class.is_some()),
        ("devices", !resources.devices.is_empty()),
        ("pids", resources.pids.is_some()),
    ];
    fields.extend(unsupported.iter().filter(|(_, set)| *set).map(|(f, _)| *f));
    if fields.is_empty() {
        Ok(out)
    } else {
        Err(Inexpressible { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nri_proto::api::LinuxPids;

    fn requested() -> cri::LinuxContainerResources {
        cri::LinuxContainerResources {
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpu_shares: 512,
            memory_limit_in_bytes: 1 << 30,
            oom_score_adj: 900,
            cpuset_cpus: "0-1".into(),
            cpuset_mems: "0".into(),
            hugepage_limits: vec![cri::HugepageLimit {
                page_size: "2MB".into(),
                limit: 1 << 21,
            }],
            unified: [("memory.high".to_string(), "max".to_string())].into(),
            memory_swap_limit_in_bytes: 2 << 30,
        }
    }

    #[test]
    fn a_round_trip_keeps_everything_including_swap_and_oom_score() {
        let cri = requested();
        let back =
            to_cri(&from_cri(&cri), &cri::LinuxContainerResources::default()).expect("expressible");
        assert_eq!(back.oom_score_adj, 0, "NRI carries no OOM score");
        assert_eq!(
            back,
            cri::LinuxContainerResources {
                oom_score_adj: 0,
                ..cri.clone()
            }
        );
        // Over the request as base, nothing is lost.
        assert_eq!(to_cri(&from_cri(&cri), &cri).expect("expressible"), cri);
    }

    #[test]
    fn zero_cpu_and_memory_are_sent_as_set_but_zero_swap_is_not() {
        let nri = from_cri(&cri::LinuxContainerResources::default());
        let memory = nri.memory.expect("memory");
        assert_eq!(memory.limit.value(), Some(0));
        assert_eq!(memory.swap.value(), None);
        assert_eq!(nri.cpu.expect("cpu").shares.value(), Some(0));
    }

    #[test]
    fn what_nri_sets_overrides_and_the_rest_of_the_base_stays() {
        let update = LinuxResources {
            memory: Some(LinuxMemory {
                limit: optional::int64(123),
                ..Default::default()
            }),
            cpu: Some(LinuxCpu {
                cpus: "3".into(),
                ..Default::default()
            }),
            hugepage_limits: vec![HugepageLimit {
                page_size: "1GB".into(),
                limit: 1 << 30,
            }],
            ..Default::default()
        };
        let out = to_cri(&update, &requested()).expect("expressible");
        assert_eq!(out.memory_limit_in_bytes, 123);
        assert_eq!(out.memory_swap_limit_in_bytes, 2 << 30);
        assert_eq!(out.oom_score_adj, 900);
        assert_eq!(out.cpuset_cpus, "3");
        assert_eq!(out.cpuset_mems, "0");
        assert_eq!(out.hugepage_limits.len(), 2);
    }

    #[test]
    fn inexpressible_fields_are_named() {
        let update = LinuxResources {
            memory: Some(LinuxMemory {
                reservation: optional::int64(1),
                swappiness: optional::uint64(0u64),
                ..Default::default()
            }),
            pids: Some(LinuxPids { limit: 10 }),
            rdt_class: optional::string("gold"),
            ..Default::default()
        };
        let error = to_cri(&update, &requested()).expect_err("inexpressible");
        assert_eq!(
            error.fields,
            vec![
                "memory.reservation",
                "memory.swappiness",
                "rdt_class",
                "pids"
            ]
        );
        assert!(
            error
                .to_string()
                .contains("memory.reservation, memory.swappiness")
        );
    }
}
