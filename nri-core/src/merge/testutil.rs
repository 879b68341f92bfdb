//! Builders shared by the merge tests.

use std::collections::BTreeMap;

use nri_proto::api::{
    Container, ContainerAdjustment, ContainerUpdate, CreateContainerRequest,
    CreateContainerResponse, Hook, Hooks, IoPrioClass, KeyValue, LinuxContainerAdjustment,
    LinuxContainerUpdate, LinuxCpu, LinuxDevice, LinuxIoPriority, LinuxMemory, LinuxNetDevice,
    LinuxRdt, LinuxResources, LinuxScheduler, LinuxSchedulerFlag, LinuxSchedulerPolicy, Mount,
};
use nri_proto::optional;

use super::CreateMerge;

/// A CreateContainer request for container `id`.
pub(super) fn create_request(id: &str) -> CreateContainerRequest {
    CreateContainerRequest {
        container: Some(Container {
            id: id.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `value`, kept for the rest of the test run: mergers borrow their
/// requests, and the builders below return mergers.
pub(super) fn kept<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// A merger of a CreateContainer event of `ctr0`, its container first
/// filled in by `prepare`.
pub(super) fn create_of(prepare: impl FnOnce(&mut Container)) -> CreateMerge<'static> {
    let mut request = create_request("ctr0");
    prepare(request.container.get_or_insert_default());
    CreateMerge::new(kept(request))
}

/// The container `merge` would send the next plugin.
pub(super) fn container_of(merge: &CreateMerge<'_>) -> Container {
    merge.request().container.cloned().unwrap_or_default()
}

/// A CreateContainer reply carrying `adjust` only.
pub(super) fn adjusting(adjust: ContainerAdjustment) -> CreateContainerResponse {
    CreateContainerResponse {
        adjust: Some(adjust),
        ..Default::default()
    }
}

/// An adjustment of Linux parts only.
pub(super) fn linux(linux: LinuxContainerAdjustment) -> ContainerAdjustment {
    ContainerAdjustment {
        linux: Some(linux),
        ..Default::default()
    }
}

/// An adjustment of resources only.
pub(super) fn resources(resources: LinuxResources) -> ContainerAdjustment {
    linux(LinuxContainerAdjustment {
        resources: Some(resources),
        ..Default::default()
    })
}

/// An update of container `id`'s resources.
pub(super) fn update(id: &str, resources: LinuxResources) -> ContainerUpdate {
    ContainerUpdate {
        container_id: id.into(),
        linux: Some(LinuxContainerUpdate {
            resources: Some(resources),
        }),
        ignore_failure: false,
    }
}

/// A merger of a CreateContainer event of `ctr0` with the adjustments
/// applied in order as plugins 00-bar, 10-foo, 20-baz, ...
pub(super) fn create_with(
    adjustments: impl IntoIterator<Item = (&'static str, ContainerAdjustment)>,
) -> Result<CreateMerge<'static>, super::MergeError> {
    let mut merge = CreateMerge::new(kept(create_request("ctr0")));
    for (plugin, adjust) in adjustments {
        merge.apply(plugin, adjusting(adjust))?;
    }
    Ok(merge)
}

/// `adjust` with present-but-empty sub-messages reduced to absent, like
/// upstream's `Strip()`.
pub(super) fn stripped(mut adjust: ContainerAdjustment) -> ContainerAdjustment {
    fn none_if_empty<T: Default + PartialEq>(part: &mut Option<T>) {
        if part.as_ref() == Some(&T::default()) {
            *part = None;
        }
    }
    if let Some(linux) = &mut adjust.linux {
        if let Some(resources) = &mut linux.resources {
            none_if_empty(&mut resources.memory);
            none_if_empty(&mut resources.cpu);
        }
        none_if_empty(&mut linux.resources);
    }
    none_if_empty(&mut adjust.linux);
    none_if_empty(&mut adjust.hooks);
    adjust
}

/// The merged adjustment of `merge`, stripped.
pub(super) fn merged(merge: CreateMerge) -> ContainerAdjustment {
    stripped(merge.finish().adjust.unwrap_or_default())
}

pub(super) fn map<V: Clone>(pairs: &[(&str, V)]) -> BTreeMap<String, V> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub(super) fn annotations(pairs: &[(&str, &str)]) -> ContainerAdjustment {
    ContainerAdjustment {
        annotations: map(pairs)
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect(),
        ..Default::default()
    }
}

pub(super) fn mount(destination: &str, source: &str) -> Mount {
    Mount {
        destination: destination.into(),
        source: source.into(),
        r#type: "bind".into(),
        options: vec!["bind".into(), "ro".into()],
    }
}

pub(super) fn env(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

pub(super) fn device(path: &str, minor: i64) -> LinuxDevice {
    LinuxDevice {
        path: path.into(),
        r#type: "c".into(),
        major: 313,
        minor,
        ..Default::default()
    }
}

pub(super) fn hooks(path: &str) -> ContainerAdjustment {
    ContainerAdjustment {
        hooks: Some(Hooks {
            prestart: vec![Hook {
                path: path.into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn cpu() -> LinuxCpu {
    LinuxCpu {
        shares: optional::uint64(123u64),
        quota: optional::int64(456),
        period: optional::uint64(789u64),
        realtime_runtime: optional::int64(321),
        realtime_period: optional::uint64(654u64),
        cpus: "0-1".into(),
        mems: "2-3".into(),
    }
}

pub(super) fn memory() -> LinuxMemory {
    LinuxMemory {
        limit: optional::int64(1_234_000),
        reservation: optional::int64(4000),
        swap: optional::int64(34000),
        kernel: optional::int64(30000),
        kernel_tcp: optional::int64(2000),
        swappiness: optional::uint64(987u64),
        disable_oom_killer: optional::bool(true),
        use_hierarchy: optional::bool(true),
    }
}

pub(super) fn rdt(clos_id: &str) -> LinuxRdt {
    LinuxRdt {
        clos_id: optional::string(clos_id),
        schemata: optional::strings(["L3:0=ff", "MB:0=50"]),
        enable_monitoring: optional::bool(true),
        remove: false,
    }
}

pub(super) fn io_priority(priority: i32) -> ContainerAdjustment {
    linux(LinuxContainerAdjustment {
        io_priority: Some(LinuxIoPriority {
            class: IoPrioClass::IoprioClassRt as i32,
            priority,
        }),
        ..Default::default()
    })
}

pub(super) fn scheduler(priority: i32) -> ContainerAdjustment {
    linux(LinuxContainerAdjustment {
        scheduler: Some(LinuxScheduler {
            policy: LinuxSchedulerPolicy::SchedFifo as i32,
            priority,
            flags: vec![LinuxSchedulerFlag::SchedFlagResetOnFork as i32],
            ..Default::default()
        }),
        ..Default::default()
    })
}

pub(super) fn classes(class: &str) -> ContainerAdjustment {
    resources(LinuxResources {
        rdt_class: optional::string(class),
        blockio_class: optional::string(class),
        ..Default::default()
    })
}

pub(super) fn net_devices(pairs: &[(&str, &str)]) -> ContainerAdjustment {
    let devices = pairs.iter().map(|(host, name)| {
        let device = LinuxNetDevice {
            name: name.to_string(),
        };
        (host.to_string(), device)
    });
    linux(LinuxContainerAdjustment {
        net_devices: devices.collect(),
        ..Default::default()
    })
}
