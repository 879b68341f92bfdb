//! Linux resources: merged the same way for adjustments and for updates.

use nri_proto::api::{Field, LinuxCpu, LinuxMemory, LinuxResources};

use super::owners::{Claim, Claims};
use super::{MergeError, merge_simple};

/// Resources with present but empty memory and CPU blocks, the starting
/// point of every merged adjustment and update (runtimes never see a missing
/// memory or CPU block, cri-o/cri-o#7022).
pub(super) fn empty() -> LinuxResources {
    LinuxResources {
        memory: Some(LinuxMemory::default()),
        cpu: Some(LinuxCpu::default()),
        ..Default::default()
    }
}

/// Whether device cgroup rules of the source are kept: adjustments append
/// them (untracked), updates ignore them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeviceRules {
    Append,
    Ignore,
}

/// [`merge_simple`] for the sub-messages `$block` of resources (memory,
/// CPU): the block of each destination is created where missing.
macro_rules! merge_blocks {
    ($claims:expr, $src:expr => $dsts:expr, {
        $($block:ident: [$($field:ident: $name:ident),+ $(,)?]),+ $(,)?
    }) => {
        $(
            if let Some(src) = &$src.$block {
                let mut blocks = parts($dsts, |dst| &mut dst.$block);
                merge_simple!($claims, src => each blocks, { $($field: $name),+ });
            }
        )+
    };
}

/// Claims what `src` sets and applies it to every destination.
pub(super) fn merge(
    claims: &mut Claims<'_>,
    src: &LinuxResources,
    dsts: &mut [&mut LinuxResources],
    device_rules: DeviceRules,
) -> Result<(), MergeError> {
    merge_blocks!(claims, src => dsts, {
        memory: [
            MemLimit: limit, MemReservation: reservation, MemSwapLimit: swap,
            MemKernelLimit: kernel, MemTcpLimit: kernel_tcp, MemSwappiness: swappiness,
            MemDisableOomKiller: disable_oom_killer, MemUseHierarchy: use_hierarchy,
        ],
        cpu: [
            CpuShares: shares, CpuQuota: quota, CpuPeriod: period,
            CpuRealtimeRuntime: realtime_runtime, CpuRealtimePeriod: realtime_period,
            CpuSetCpUs: cpus, CpuSetMems: mems,
        ],
    });

    let mut hugepages: Vec<_> = dsts.iter_mut().map(|d| &mut d.hugepage_limits).collect();
    append_keyed(
        claims,
        Field::HugepageLimits,
        &src.hugepage_limits,
        |limit| &limit.page_size,
        &mut hugepages,
    )?;

    if device_rules == DeviceRules::Append {
        for dst in dsts.iter_mut() {
            dst.devices.extend_from_slice(&src.devices);
        }
    }

    for (key, value) in &src.unified {
        claims.key(Field::CgroupsUnified, key)?;
        for dst in dsts.iter_mut() {
            dst.unified.insert(key.clone(), value.clone());
        }
    }

    merge_simple!(claims, src => each dsts, {
        BlockioClass: blockio_class,
        RdtClass: rdt_class,
        PidsLimit: pids,
    });
    Ok(())
}

/// The `part` of every destination, created empty where missing.
fn parts<'a, T: Default>(
    dsts: &'a mut [&mut LinuxResources],
    part: fn(&mut LinuxResources) -> &mut Option<T>,
) -> Vec<&'a mut T> {
    dsts.iter_mut()
        .map(|dst| part(dst).get_or_insert_default())
        .collect()
}

/// Claims the key of each entry of `src` in compound `field` and appends the
/// entry to every destination list. When the plugin sets a key again
/// (Appendix B 2), earlier entries with that key are dropped first.
pub(super) fn append_keyed<T: Clone>(
    claims: &mut Claims<'_>,
    field: Field,
    src: &[T],
    key: fn(&T) -> &str,
    dsts: &mut [&mut Vec<T>],
) -> Result<(), MergeError> {
    for entry in src {
        let entry_key = key(entry);
        let repeated = claims.key(field, entry_key)? == Claim::Repeated;
        for list in dsts.iter_mut() {
            if repeated {
                list.retain(|old| key(old) != entry_key);
            }
            list.push(entry.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Owners;
    use nri_proto::api::{HugepageLimit, LinuxDeviceCgroup, LinuxPids};
    use nri_proto::optional;

    #[test]
    fn empty_cpusets_are_not_claimed() {
        let mut owners = Owners::new();
        let mut claims = Claims::new(&mut owners, "ctr0", "p");
        let src = LinuxResources {
            cpu: Some(LinuxCpu {
                shares: optional::uint64(2u64),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut dst = empty();
        merge(&mut claims, &src, &mut [&mut dst], DeviceRules::Ignore).unwrap();
        assert_eq!(dst.cpu.unwrap().shares, optional::uint64(2u64));
        assert_eq!(owners.simple_owner("ctr0", Field::CpuShares), Some("p"));
        assert_eq!(owners.simple_owner("ctr0", Field::CpuSetCpUs), None);
    }

    #[test]
    fn device_rules_are_appended_or_ignored() {
        let src = LinuxResources {
            devices: vec![LinuxDeviceCgroup {
                allow: true,
                access: "rwm".into(),
                ..Default::default()
            }],
            pids: Some(LinuxPids { limit: 7 }),
            ..Default::default()
        };
        for (rules, expected) in [(DeviceRules::Append, 1), (DeviceRules::Ignore, 0)] {
            let mut owners = Owners::new();
            let mut claims = Claims::new(&mut owners, "ctr0", "p");
            let (mut a, mut b) = (empty(), empty());
            merge(&mut claims, &src, &mut [&mut a, &mut b], rules).unwrap();
            assert_eq!((a.devices.len(), b.devices.len()), (expected, expected));
            assert_eq!((a.pids, b.pids), (src.pids, src.pids));
        }
    }

    #[test]
    fn repeated_hugepage_size_replaces_the_earlier_entry() {
        let mut owners = Owners::new();
        let mut claims = Claims::new(&mut owners, "ctr0", "p");
        let limit = |limit| HugepageLimit {
            page_size: "2MB".into(),
            limit,
        };
        let src = LinuxResources {
            hugepage_limits: vec![limit(1), limit(2)],
            ..Default::default()
        };
        let mut dst = empty();
        merge(&mut claims, &src, &mut [&mut dst], DeviceRules::Ignore).unwrap();
        assert_eq!(dst.hugepage_limits, vec![limit(2)]);
    }
}
