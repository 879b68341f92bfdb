//! Sample adjustments, resources and replies the scenarios share.

use nri_core::proto::api::{
    ContainerAdjustment, ContainerEviction, ContainerUpdate, CreateContainerResponse, Hook, Hooks,
    HugepageLimit, LinuxContainerAdjustment, LinuxContainerUpdate, LinuxCpu, LinuxMemory,
    LinuxResources, UpdateContainerResponse,
};
use nri_core::proto::optional;
use nri_core::transport::PluginResponse;

use super::plugin::Behaviour;

/// An adjustment built by `f`.
pub(crate) fn adjust(f: impl FnOnce(&mut ContainerAdjustment)) -> ContainerAdjustment {
    let mut adjust = ContainerAdjustment::default();
    f(&mut adjust);
    adjust
}

/// An adjustment of Linux settings built by `f`.
pub(crate) fn linux(f: impl FnOnce(&mut LinuxContainerAdjustment)) -> ContainerAdjustment {
    let mut linux = LinuxContainerAdjustment::default();
    f(&mut linux);
    adjust(|a| a.linux = Some(linux))
}

/// Resources built by `f`.
pub(crate) fn resources(f: impl FnOnce(&mut LinuxResources)) -> LinuxResources {
    let mut resources = LinuxResources::default();
    f(&mut resources);
    resources
}

/// All seven CPU fields, each `base` plus a field-specific offset.
pub(crate) fn cpu(base: u64) -> LinuxCpu {
    let signed = i64::try_from(base).unwrap_or(i64::MAX);
    LinuxCpu {
        shares: optional::uint64(base + 123),
        quota: optional::int64(signed + 456),
        period: optional::uint64(base + 789),
        realtime_runtime: optional::int64(signed + 321),
        realtime_period: optional::uint64(base + 654),
        cpus: format!("{}-{}", base, base + 1),
        mems: format!("{}-{}", base + 2, base + 3),
    }
}

/// All eight memory fields, each `base` plus a field-specific offset.
pub(crate) fn memory(base: i64) -> LinuxMemory {
    LinuxMemory {
        limit: optional::int64(base + 1_234_000),
        reservation: optional::int64(base + 4000),
        swap: optional::int64(base + 34_000),
        kernel: optional::int64(base + 30_000),
        kernel_tcp: optional::int64(base + 2000),
        swappiness: optional::uint64(u64::try_from(base).unwrap_or(0) + 987),
        disable_oom_killer: optional::bool(true),
        use_hierarchy: optional::bool(true),
    }
}

/// The five resource groups of upstream's update tests (§5.9): CPU,
/// memory, RDT + blockio class, hugepage limits, unified; values derived
/// from `tag` so two plugins' values differ.
pub(crate) fn resource_groups(tag: &str, base: u64) -> Vec<(&'static str, LinuxResources)> {
    let signed = i64::try_from(base).unwrap_or(0);
    vec![
        ("cpu", resources(|r| r.cpu = Some(cpu(base)))),
        ("memory", resources(|r| r.memory = Some(memory(signed)))),
        (
            "classes",
            resources(|r| {
                r.rdt_class = optional::string(tag);
                r.blockio_class = optional::string(tag);
            }),
        ),
        (
            "hugepages",
            resources(|r| {
                r.hugepage_limits = vec![
                    HugepageLimit {
                        page_size: "1M".into(),
                        limit: 4096 + base,
                    },
                    HugepageLimit {
                        page_size: "4M".into(),
                        limit: 1024 + base,
                    },
                ];
            }),
        ),
        (
            "unified",
            resources(|r| {
                r.unified.insert("resource.1".into(), format!("{tag}-1"));
                r.unified.insert("resource.2".into(), format!("{tag}-2"));
            }),
        ),
    ]
}

/// An update of container `id`'s resources.
pub(crate) fn update(id: &str, resources: LinuxResources) -> ContainerUpdate {
    ContainerUpdate {
        container_id: id.to_string(),
        linux: Some(LinuxContainerUpdate {
            resources: Some(resources),
        }),
        ignore_failure: false,
    }
}

/// An eviction of container `id`.
pub(crate) fn eviction(id: &str) -> ContainerEviction {
    ContainerEviction {
        container_id: id.to_string(),
        reason: "conformance".into(),
    }
}

/// A CreateContainer reply.
pub(crate) fn create_reply(
    adjust: Option<ContainerAdjustment>,
    update: Vec<ContainerUpdate>,
    evict: Vec<ContainerEviction>,
) -> Behaviour {
    Behaviour::Reply(PluginResponse::CreateContainer(Box::new(
        CreateContainerResponse {
            adjust,
            update,
            evict,
        },
    )))
}

/// An UpdateContainer reply.
pub(crate) fn update_reply(
    update: Vec<ContainerUpdate>,
    evict: Vec<ContainerEviction>,
) -> Behaviour {
    Behaviour::Reply(PluginResponse::UpdateContainer(Box::new(
        UpdateContainerResponse { update, evict },
    )))
}

/// Prestart hooks with these paths.
pub(crate) fn hooks(paths: &[&str]) -> ContainerAdjustment {
    let prestart = paths.iter().map(|path| Hook {
        path: path.to_string(),
        ..Default::default()
    });
    adjust(|a| {
        a.hooks = Some(Hooks {
            prestart: prestart.collect(),
            ..Default::default()
        });
    })
}
