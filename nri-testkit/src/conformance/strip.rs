//! Reducing replies to what they say, for comparison (upstream's `Strip()`):
//! present-but-empty sub-messages become absent, so a merged reply compares
//! equal to the adjustment a plugin sent whichever way the merge initialises
//! its parts.

use nri_core::proto::api::{
    ContainerAdjustment, ContainerUpdate, Hooks, LinuxContainerAdjustment, LinuxContainerUpdate,
    LinuxResources,
};

/// `Some(value)` unless it equals the default.
fn non_empty<T: Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

/// Resources without empty memory, CPU and pids blocks; `None` if nothing
/// is left.
fn strip_resources(resources: Option<LinuxResources>) -> Option<LinuxResources> {
    let mut resources = resources?;
    resources.memory = resources.memory.and_then(non_empty);
    resources.cpu = resources.cpu.and_then(non_empty);
    resources.pids = resources.pids.and_then(non_empty);
    non_empty(resources)
}

fn strip_linux(linux: Option<LinuxContainerAdjustment>) -> Option<LinuxContainerAdjustment> {
    let mut linux = linux?;
    linux.resources = strip_resources(linux.resources);
    linux.io_priority = linux.io_priority.and_then(non_empty);
    linux.seccomp_policy = linux.seccomp_policy.and_then(non_empty);
    linux.scheduler = linux.scheduler.and_then(non_empty);
    linux.rdt = linux.rdt.and_then(non_empty);
    linux.memory_policy = linux.memory_policy.and_then(non_empty);
    non_empty(linux)
}

/// An adjustment without empty parts; `None` if it adjusts nothing.
pub fn strip_adjustment(adjust: Option<ContainerAdjustment>) -> Option<ContainerAdjustment> {
    let mut adjust = adjust?;
    adjust.hooks = adjust.hooks.and_then(non_empty::<Hooks>);
    adjust.linux = strip_linux(adjust.linux);
    non_empty(adjust)
}

/// An update without empty parts.
pub fn strip_update(mut update: ContainerUpdate) -> ContainerUpdate {
    update.linux = update.linux.and_then(|linux| {
        non_empty(LinuxContainerUpdate {
            resources: strip_resources(linux.resources),
        })
    });
    update
}
