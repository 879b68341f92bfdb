//! Applying a merged NRI [`ContainerAdjustment`] to an OCI runtime
//! [`Spec`].
//!
//! At container creation the runtime hands the container to its plugins,
//! merges their replies (nri-core's `CreateMerge`) and applies the merged
//! adjustment to the container's OCI spec before creating it. [`apply`]
//! does that last step, with the runtime's callbacks for what NRI only names
//! ([`Resolvers`]).
//!
//! ```
//! use nri_cri::oci::{self, DefaultResolvers};
//! use nri_proto::api::{ContainerAdjustment, KeyValue, LinuxContainerAdjustment, LinuxMemory, LinuxResources};
//! use nri_proto::optional;
//! use oci_spec::runtime::Spec;
//!
//! let mut spec = Spec::default();
//! let adjustment = ContainerAdjustment {
//!     env: vec![KeyValue { key: "GREETING".into(), value: "hello".into() }],
//!     linux: Some(LinuxContainerAdjustment {
//!         resources: Some(LinuxResources {
//!             memory: Some(LinuxMemory { limit: optional::int64(256 << 20), ..Default::default() }),
//!             ..Default::default()
//!         }),
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! };
//! oci::apply(&mut spec, &adjustment, &DefaultResolvers)?;
//!
//! let env = spec.process().as_ref().and_then(|p| p.env().as_ref()).unwrap();
//! assert!(env.contains(&"GREETING=hello".to_string()));
//! let memory = spec.linux().as_ref().and_then(|l| l.resources().as_ref())
//!     .and_then(|r| r.memory().as_ref()).unwrap();
//! assert_eq!(memory.limit(), Some(256 << 20));
//! # Ok::<(), oci::AdjustError>(())
//! ```
//!
//! # What is applied, in which order
//!
//! The order is upstream's (containerd/nri `pkg/runtime-tools/generate`,
//! nri-upstream.md §3.20); it matters where steps touch the same part, e.g.
//! CDI injection runs before the device adjustments, so a plugin can remove a
//! device a CDI spec added.
//!
//! | step | field | effect |
//! |---|---|---|
//! | 1 | `annotations` | `-key` removes, then the others are set |
//! | 2 | `env` | the last entry per variable wins: `-KEY` removes, `KEY=V` replaces in place or appends |
//! | 3 | `args` | replaced if non-empty (a leading `""` merge marker is dropped) |
//! | 4 | `hooks` | appended per kind |
//! | 5 | `CDI_devices` | [`Resolvers::inject_cdi`] |
//! | 6 | `linux.devices` | `-path` removes the node and revokes its exact allow rules; others replace by path and add an allow rule (`rw`, `rwm` for block devices) |
//! | 7 | `linux.cgroups_path` | set if non-empty |
//! | 8 | `linux.oom_score_adj` | set |
//! | 9 | `linux.io_priority` | set; class `NONE` removes it |
//! | 10 | `linux.scheduler` | replaced; policy `SCHED_NONE` removes it |
//! | 11 | `linux.seccomp_policy` | replaced whole |
//! | 12 | `linux.namespaces` | per type: `-type` removes, others replace in place or append |
//! | 13 | `linux.sysctl` | `-key` removes, then the others are set |
//! | 14 | `linux.net_devices` | `-host` removes, then the others are set |
//! | 15 | `linux.memory_policy` | replaced |
//! | 16 | `linux.resources` | every field set is merged in: all memory and CPU fields, hugepage limits (by page size; dropped if [`Resolvers::hugetlb_enabled`] is false), unified, pids, device rules |
//! | 17 | `linux.resources.blockio_class` | [`Resolvers::blockio_class`]; `""` removes block I/O |
//! | 18 | `linux.resources.rdt_class` | [`Resolvers::rdt_class`]; `""` removes `intelRdt` |
//! | 19 | `linux.rdt` | `remove` clears `intelRdt`, then set fields are applied |
//! | 20 | `mounts` | `-dest` removes, others replace by destination; `rshared`/`rslave` checked against the host ([`Resolvers::mount_propagation`]) and carried to the root propagation; then sorted by depth and destination |
//! | 21 | `rlimits` | replaced by type, or appended |
//!
//! Parts an adjustment leaves out change nothing, and nothing is created for
//! them: an adjustment with empty sub-messages leaves the spec as it was.
//! Missing `process`, `linux` or `linux.resources` objects are created empty
//! when a step writes into them. [`apply`] is atomic: on an error the spec
//! is left as it was.
//!
//! # Differences from upstream
//!
//! - **Every resource field is applied.** Upstream applies only a non-zero
//!   memory limit (with the swap limit following it) and ignores
//!   reservation, swap, kernel, kernel TCP, swappiness and the OOM-killer and
//!   hierarchy flags. Here every field the adjustment sets is applied; a
//!   limit without a swap limit still moves the swap limit with it, except an
//!   unlimited (-1) one.
//! - **Missing callbacks are errors.** Upstream skips a block I/O class or
//!   CDI devices when the runtime gave no resolver or injector; the default
//!   [`Resolvers`] fail instead, naming the field.
//! - **Rlimits replace by type** instead of appending a second entry of the
//!   same type, which runtimes must reject.
//! - **Device removal revokes access**: upstream removes only the device
//!   node and leaves its cgroup allow rule. Identical cgroup rules are not
//!   repeated (the earlier copy moves to the end).
//! - **Environment:** upstream drops existing entries without `=` whenever
//!   the environment is adjusted; they are kept. For a variable named twice
//!   the last entry wins (upstream can append a variable that a later `-KEY`
//!   removes).
//! - **Mount propagation** is judged per mount (upstream lets an `rshared` or
//!   `rslave` option leak to the mounts after it), mount destinations are
//!   compared in clean form, and the host lookup respects path components.
//! - **Values the runtime spec cannot express are errors**, not invalid
//!   JSON: unknown enum values or names, numbers out of range, and the two
//!   scheduler flags oci-spec 0.10 misspells (`SCHED_FLAG_RESET_ON_FORK`,
//!   `SCHED_FLAG_DL_OVERRUN`). I/O class `NONE`, which upstream writes as an
//!   empty class, removes the I/O priority.
//! - The seccomp default errno is applied (upstream drops it), a leading
//!   `""` in `args` is dropped, and there is no annotation or sysctl filter
//!   (a runtime filters the adjustment before calling [`apply`]).
//!
//! [`ContainerAdjustment`]: nri_proto::api::ContainerAdjustment
//! [`Spec`]: oci_spec::runtime::Spec
//! [`apply`]: crate::oci::apply
//! [`Resolvers`]: crate::oci::Resolvers

mod annotations;
mod args;
mod blockio;
mod cdi;
mod cgroups_path;
mod devices;
pub(crate) mod enum_names;
mod env;
mod error;
mod hooks;
mod memory_policy;
mod mountinfo;
mod mounts;
mod namespaces;
mod net_devices;
pub(crate) mod parts;
mod path;
mod process;
mod rdt;
mod resolvers;
mod resources;
mod rlimits;
mod seccomp;
mod sysctl;

pub use error::AdjustError;
pub use mountinfo::mount_points;
pub use resolvers::{DefaultResolvers, MountPropagation, Resolvers};

use nri_proto::api::ContainerAdjustment;
use oci_spec::runtime::Spec;

/// Applies a merged NRI container adjustment to an OCI runtime spec, in
/// upstream's order (see the [module documentation](self)), with the
/// runtime's `resolvers` for block I/O and RDT classes, CDI devices, hugetlb
/// and mount propagation.
///
/// On an error the spec is left unchanged; the error names the adjustment
/// field that failed.
pub fn apply(
    spec: &mut Spec,
    adjustment: &ContainerAdjustment,
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    let mut adjusted = spec.clone();
    apply_in_order(&mut adjusted, adjustment, resolvers)?;
    *spec = adjusted;
    Ok(())
}

fn apply_in_order(
    spec: &mut Spec,
    adjustment: &ContainerAdjustment,
    resolvers: &dyn Resolvers,
) -> Result<(), AdjustError> {
    let linux = adjustment.linux.as_ref();
    let resources = linux.and_then(|l| l.resources.as_ref());

    annotations::apply(spec, &adjustment.annotations);
    env::apply(spec, &adjustment.env);
    args::apply(spec, &adjustment.args);
    hooks::apply(spec, adjustment.hooks.as_ref());
    cdi::apply(spec, &adjustment.cdi_devices, resolvers)?;
    if let Some(linux) = linux {
        devices::apply(spec, &linux.devices)?;
        cgroups_path::apply(spec, &linux.cgroups_path);
        process::oom_score_adj(spec, &linux.oom_score_adj)?;
        process::io_priority(spec, linux.io_priority.as_ref())?;
        process::scheduler(spec, linux.scheduler.as_ref())?;
        seccomp::apply(spec, linux.seccomp_policy.as_ref())?;
        namespaces::apply(spec, &linux.namespaces)?;
        sysctl::apply(spec, &linux.sysctl);
        net_devices::apply(spec, &linux.net_devices);
        memory_policy::apply(spec, linux.memory_policy.as_ref())?;
    }
    resources::apply(spec, resources, resolvers)?;
    if let Some(resources) = resources {
        blockio::apply(spec, &resources.blockio_class, resolvers)?;
        rdt::class(spec, &resources.rdt_class, resolvers)?;
    }
    rdt::apply(spec, linux.and_then(|l| l.rdt.as_ref()));
    mounts::apply(spec, &adjustment.mounts, resolvers)?;
    rlimits::apply(spec, &adjustment.rlimits)?;
    Ok(())
}
