//! Reading an OCI runtime [`Spec`] into NRI's pod and container fields, as
//! containerd does (runtime-integration.md §3.4, §3.5).
//!
//! Every reader takes what is there and returns `None` (or nothing) for a
//! missing part: a spec without `process`, `linux`, rlimits or resources is
//! read without panicking. Enum values are written with the runtime spec's
//! names, from the same serde names [`crate::oci`] parses them with.
//!
//! Values NRI cannot carry are handled so: a negative hugepage limit (the
//! runtime spec's is unsigned) is left out; a seccomp argument index beyond
//! `u32` and an I/O priority beyond `i32` are saturated.

use std::collections::BTreeMap;
use std::path::Path;

use nri_proto::api::{
    self, Hook, Hooks, HugepageLimit, LinuxContainer, LinuxCpu, LinuxDevice, LinuxDeviceCgroup,
    LinuxIoPriority, LinuxMemory, LinuxNamespace, LinuxNetDevice, LinuxPids, LinuxRdt,
    LinuxResources, LinuxScheduler, LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, Mount,
    PosixRlimit, User,
};
use nri_proto::optional;
use oci_spec::runtime::{self as oci, LinuxNamespaceType, Spec};

use crate::oci::enum_names::name;

/// The spec annotation containerd keeps a container's CRI name in.
pub(super) const CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";
/// The spec annotation containerd keeps a container's sandbox id in.
pub(super) const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";

/// The spec's annotations, none when it has none.
pub(super) fn annotations(spec: &Spec) -> impl Iterator<Item = (String, String)> + '_ {
    spec.annotations()
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.clone()))
}

/// One annotation's value, if the spec has it and it is not empty.
pub(super) fn annotation<'s>(spec: &'s Spec, key: &str) -> Option<&'s str> {
    spec.annotations()
        .as_ref()?
        .get(key)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
}

/// The process's arguments, if the spec has a process with arguments.
pub(super) fn args(spec: &Spec) -> Option<Vec<String>> {
    spec.process().as_ref()?.args().clone()
}

/// The process's environment, if the spec has a process with one.
pub(super) fn env(spec: &Spec) -> Option<Vec<String>> {
    spec.process().as_ref()?.env().clone()
}

/// The spec's mounts, if it lists any (an empty list included).
pub(super) fn mounts(spec: &Spec) -> Option<Vec<Mount>> {
    let mounts = spec.mounts().as_ref()?;
    Some(
        mounts
            .iter()
            .map(|m| Mount {
                destination: lossy(m.destination()),
                r#type: m.typ().clone().unwrap_or_default(),
                source: m.source().as_deref().map(lossy).unwrap_or_default(),
                options: m.options().clone().unwrap_or_default(),
            })
            .collect(),
    )
}

/// The spec's hooks, by kind.
pub(super) fn hooks(spec: &Spec) -> Option<Hooks> {
    let hooks = spec.hooks().as_ref()?;
    let list = |hooks: &Option<Vec<oci::Hook>>| -> Vec<Hook> {
        hooks
            .iter()
            .flatten()
            .map(|hook| Hook {
                path: lossy(hook.path()),
                args: hook.args().clone().unwrap_or_default(),
                env: hook.env().clone().unwrap_or_default(),
                timeout: hook.timeout().map(Into::into),
            })
            .collect()
    };
    Some(Hooks {
        prestart: list(hooks.prestart()),
        create_runtime: list(hooks.create_runtime()),
        create_container: list(hooks.create_container()),
        start_container: list(hooks.start_container()),
        poststart: list(hooks.poststart()),
        poststop: list(hooks.poststop()),
    })
}

/// The process's resource limits, if it has any (an empty list included).
pub(super) fn rlimits(spec: &Spec) -> Option<Vec<PosixRlimit>> {
    let rlimits = spec.process().as_ref()?.rlimits().as_ref()?;
    Some(
        rlimits
            .iter()
            .map(|limit| PosixRlimit {
                r#type: name(&limit.typ()).unwrap_or_default().to_string(),
                hard: limit.hard(),
                soft: limit.soft(),
            })
            .collect(),
    )
}

/// The process's user, if the spec has a process.
pub(super) fn user(spec: &Spec) -> Option<User> {
    let user = spec.process().as_ref()?.user();
    Some(User {
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
    })
}

/// Writes what the spec has of the container's Linux part over `linux`:
/// each part the spec has replaces the one there; parts it lacks are left.
/// The seccomp profile (a CRI notion) is never touched.
pub(super) fn overlay_container_linux(linux: &mut LinuxContainer, spec: &Spec) {
    if let Some(process) = spec.process() {
        if let Some(score) = process.oom_score_adj() {
            linux.oom_score_adj = Some(i64::from(score).into());
        }
        if let Some(priority) = process.io_priority() {
            linux.io_priority = Some(io_priority(priority));
        }
        if let Some(scheduler) = process.scheduler() {
            linux.scheduler = Some(self::scheduler(scheduler));
        }
    }
    let Some(oci_linux) = spec.linux() else {
        return;
    };
    if let Some(namespaces) = oci_linux.namespaces() {
        linux.namespaces = namespaces.iter().map(namespace).collect();
    }
    if let Some(devices) = oci_linux.devices() {
        linux.devices = devices.iter().map(device).collect();
    }
    if let Some(resources) = oci_linux.resources() {
        linux.resources = Some(self::resources(resources));
    }
    if let Some(path) = oci_linux.cgroups_path() {
        linux.cgroups_path = lossy(path);
    }
    if let Some(devices) = oci_linux.net_devices() {
        linux.net_devices = devices
            .iter()
            .map(|(host, device)| {
                let name = device.name().clone().unwrap_or_default();
                (host.clone(), LinuxNetDevice { name })
            })
            .collect();
    }
    if let Some(sysctl) = oci_linux.sysctl() {
        linux.sysctl = sorted(sysctl);
    }
    if let Some(seccomp) = oci_linux.seccomp() {
        linux.seccomp_policy = Some(self::seccomp(seccomp));
    }
    if let Some(intel_rdt) = oci_linux.intel_rdt() {
        linux.rdt = Some(rdt(intel_rdt));
    }
}

/// The pod's namespaces: the spec's, without network namespaces whose path
/// is empty or does not exist (containerd's filter for a pod whose network
/// namespace is not, or no longer, there).
pub(super) fn pod_namespaces(spec: &Spec) -> Option<Vec<LinuxNamespace>> {
    let namespaces = spec.linux().as_ref()?.namespaces().as_ref()?;
    Some(
        namespaces
            .iter()
            .filter(|ns| {
                ns.typ() != LinuxNamespaceType::Network
                    || ns
                        .path()
                        .as_deref()
                        .is_some_and(|path| !path.as_os_str().is_empty() && path.exists())
            })
            .map(namespace)
            .collect(),
    )
}

/// The spec's `linux.cgroupsPath`.
pub(super) fn cgroups_path(spec: &Spec) -> Option<String> {
    spec.linux().as_ref()?.cgroups_path().as_deref().map(lossy)
}

/// The spec's `linux.resources`, as NRI resources.
pub(super) fn linux_resources(spec: &Spec) -> Option<LinuxResources> {
    spec.linux().as_ref()?.resources().as_ref().map(resources)
}

/// OCI resources as NRI resources: every memory and CPU field NRI has, set
/// exactly when the spec sets it; hugepage limits, unified entries, pids and
/// device rules. NRI's block I/O and RDT classes are not OCI resources and
/// stay unset.
fn resources(resources: &oci::LinuxResources) -> LinuxResources {
    LinuxResources {
        memory: resources.memory().as_ref().map(|m| LinuxMemory {
            limit: m.limit().map(Into::into),
            reservation: m.reservation().map(Into::into),
            swap: m.swap().map(Into::into),
            kernel: m.kernel().map(Into::into),
            kernel_tcp: m.kernel_tcp().map(Into::into),
            swappiness: m.swappiness().map(Into::into),
            disable_oom_killer: m.disable_oom_killer().map(Into::into),
            use_hierarchy: m.use_hierarchy().map(Into::into),
        }),
        cpu: resources.cpu().as_ref().map(|c| LinuxCpu {
            shares: c.shares().map(Into::into),
            quota: c.quota().map(Into::into),
            period: c.period().map(Into::into),
            realtime_runtime: c.realtime_runtime().map(Into::into),
            realtime_period: c.realtime_period().map(Into::into),
            cpus: c.cpus().clone().unwrap_or_default(),
            mems: c.mems().clone().unwrap_or_default(),
        }),
        hugepage_limits: resources
            .hugepage_limits()
            .iter()
            .flatten()
            .filter_map(|l| {
                Some(HugepageLimit {
                    page_size: l.page_size().clone(),
                    limit: u64::try_from(l.limit()).ok()?,
                })
            })
            .collect(),
        unified: resources.unified().as_ref().map(sorted).unwrap_or_default(),
        devices: resources
            .devices()
            .iter()
            .flatten()
            .map(|rule| LinuxDeviceCgroup {
                allow: rule.allow(),
                r#type: rule
                    .typ()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                major: rule.major().map(Into::into),
                minor: rule.minor().map(Into::into),
                access: rule.access().clone().unwrap_or_default(),
            })
            .collect(),
        pids: resources
            .pids()
            .as_ref()
            .map(|p| LinuxPids { limit: p.limit() }),
        blockio_class: None,
        rdt_class: None,
    }
}

fn namespace(ns: &oci::LinuxNamespace) -> LinuxNamespace {
    LinuxNamespace {
        r#type: name(&ns.typ()).unwrap_or_default().to_string(),
        path: ns.path().as_deref().map(lossy).unwrap_or_default(),
    }
}

fn device(device: &oci::LinuxDevice) -> LinuxDevice {
    LinuxDevice {
        path: lossy(device.path()),
        r#type: device.typ().as_str().to_string(),
        major: device.major(),
        minor: device.minor(),
        file_mode: device.file_mode().and_then(optional::file_mode),
        uid: device.uid().and_then(optional::uint32),
        gid: device.gid().and_then(optional::uint32),
    }
}

fn io_priority(priority: &oci::LinuxIOPriority) -> LinuxIoPriority {
    LinuxIoPriority {
        class: proto_enum(&priority.class(), api::IoPrioClass::from_str_name),
        priority: saturate(priority.priority()),
    }
}

fn scheduler(scheduler: &oci::Scheduler) -> LinuxScheduler {
    LinuxScheduler {
        policy: proto_enum(
            &scheduler.policy(),
            api::LinuxSchedulerPolicy::from_str_name,
        ),
        nice: scheduler.nice().unwrap_or_default(),
        priority: scheduler.priority().unwrap_or_default(),
        flags: scheduler
            .flags()
            .iter()
            .flatten()
            .map(|flag| proto_enum(flag, api::LinuxSchedulerFlag::from_str_name))
            .collect(),
        runtime: scheduler.runtime().unwrap_or_default(),
        deadline: scheduler.deadline().unwrap_or_default(),
        period: scheduler.period().unwrap_or_default(),
    }
}

fn seccomp(seccomp: &oci::LinuxSeccomp) -> LinuxSeccomp {
    LinuxSeccomp {
        default_action: names_of(&seccomp.default_action()),
        default_errno: seccomp.default_errno_ret().map(Into::into),
        architectures: seccomp
            .architectures()
            .iter()
            .flatten()
            .map(names_of)
            .collect(),
        flags: seccomp.flags().iter().flatten().map(names_of).collect(),
        listener_path: seccomp
            .listener_path()
            .as_deref()
            .map(lossy)
            .unwrap_or_default(),
        listener_metadata: seccomp.listener_metadata().clone().unwrap_or_default(),
        syscalls: seccomp
            .syscalls()
            .iter()
            .flatten()
            .map(|syscall| LinuxSyscall {
                names: syscall.names().clone(),
                action: names_of(&syscall.action()),
                errno_ret: syscall.errno_ret().map(Into::into),
                args: syscall
                    .args()
                    .iter()
                    .flatten()
                    .map(|arg| LinuxSeccompArg {
                        index: u32::try_from(arg.index()).unwrap_or(u32::MAX),
                        value: arg.value(),
                        value_two: arg.value_two().unwrap_or_default(),
                        op: names_of(&arg.op()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn rdt(rdt: &oci::LinuxIntelRdt) -> LinuxRdt {
    LinuxRdt {
        clos_id: rdt.clos_id().clone().map(Into::into),
        schemata: rdt.schemata().clone().map(Into::into),
        enable_monitoring: rdt.enable_monitoring().map(Into::into),
        remove: false,
    }
}

/// The runtime spec's name of an oci-spec enum value, as an owned string.
fn names_of<T: serde::Serialize>(value: &T) -> String {
    name(value).unwrap_or_default().to_string()
}

/// The protobuf value of the NRI enum named like an oci-spec enum value; 0
/// (NRI's "none") for a name NRI does not know.
fn proto_enum<T: serde::Serialize, E: Into<i32>>(value: &T, from: fn(&str) -> Option<E>) -> i32 {
    name(value).and_then(from).map_or(0, Into::into)
}

fn saturate(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

fn sorted(map: &std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn lossy(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
