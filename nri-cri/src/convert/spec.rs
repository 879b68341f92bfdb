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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{ContainerSource, PodSource, container, pod_sandbox};
    use crate::cri;
    use nri_proto::api::{Container, IoPrioClass, LinuxSchedulerFlag, LinuxSchedulerPolicy};
    use nri_proto::optional::OptionalValue;
    use serde_json::json;

    /// A container spec as containerd writes it, with every part NRI reads.
    fn realistic() -> Spec {
        serde_json::from_value(json!({
            "ociVersion": "1.2.0",
            "annotations": {
                "io.kubernetes.cri.container-name": "app",
                "io.kubernetes.cri.sandbox-id": "pod-from-spec",
                "shared": "spec"
            },
            "process": {
                "user": {"uid": 1000, "gid": 2000, "additionalGids": [3000, 4000]},
                "args": ["/usr/bin/server", "--port", "8080"],
                "env": ["PATH=/usr/bin", "MODE=prod"],
                "cwd": "/",
                "rlimits": [
                    {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512},
                    {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}
                ],
                "oomScoreAdj": 500,
                "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
                "scheduler": {
                    "policy": "SCHED_DEADLINE",
                    "flags": ["SCHED_RESET_ON_FORK", "SCHED_FLAG_RECLAIM"],
                    "runtime": 10, "deadline": 20, "period": 30
                }
            },
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/var/data",
                 "options": ["rbind", "ro"]}
            ],
            "hooks": {
                "prestart": [{"path": "/bin/pre", "args": ["pre", "x"], "env": ["E=1"], "timeout": 5}],
                "poststop": [{"path": "/bin/post"}]
            },
            "linux": {
                "namespaces": [
                    {"type": "pid"},
                    {"type": "network", "path": "/var/run/netns/does-not-exist-nri-cri-test"},
                    {"type": "mount"}
                ],
                "devices": [
                    {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                     "fileMode": 438, "uid": 0, "gid": 0}
                ],
                "resources": {
                    "devices": [
                        {"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}
                    ],
                    "memory": {
                        "limit": 536870912, "reservation": 268435456, "swap": 1073741824,
                        "kernel": 1, "kernelTCP": 2, "swappiness": 0,
                        "disableOOMKiller": true, "useHierarchy": false
                    },
                    "cpu": {
                        "shares": 512, "quota": 50000, "period": 100000,
                        "realtimeRuntime": 950, "realtimePeriod": 1000,
                        "cpus": "0-1", "mems": "0"
                    },
                    "pids": {"limit": 100},
                    "hugepageLimits": [
                        {"pageSize": "2MB", "limit": 2097152},
                        {"pageSize": "1GB", "limit": -1}
                    ],
                    "unified": {"memory.high": "max"}
                },
                "cgroupsPath": "kubepods-pod1.slice:cri-containerd:c1",
                "sysctl": {"net.ipv4.ip_forward": "1"},
                "netDevices": {"eth1": {"name": "net1"}, "eth2": {}},
                "seccomp": {
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "defaultErrnoRet": 1,
                    "architectures": ["SCMP_ARCH_X86_64"],
                    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                    "listenerPath": "/run/seccomp.sock",
                    "listenerMetadata": "meta",
                    "syscalls": [{
                        "names": ["personality"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "value": 8, "valueTwo": 9, "op": "SCMP_CMP_EQ"}]
                    }]
                },
                "intelRdt": {
                    "closID": "gold",
                    "schemata": ["L3:0=ff", "MB:0=50"],
                    "enableMonitoring": true
                }
            }
        }))
        .expect("a valid spec")
    }

    fn read(spec: &Spec) -> Container {
        container(&ContainerSource {
            id: "c1",
            spec: Some(spec),
            ..Default::default()
        })
    }

    #[test]
    fn a_realistic_spec_fills_the_container_field_by_field() {
        let spec = realistic();
        let c = read(&spec);
        assert_eq!(c.name, "app", "from the annotation, without CRI metadata");
        assert_eq!(c.pod_sandbox_id, "pod-from-spec");
        assert_eq!(c.annotations["shared"], "spec");
        assert_eq!(c.args, vec!["/usr/bin/server", "--port", "8080"]);
        assert_eq!(c.env, vec!["PATH=/usr/bin", "MODE=prod"]);
        let user = c.user.expect("user");
        assert_eq!(
            (user.uid, user.gid, user.additional_gids),
            (1000, 2000, vec![3000, 4000])
        );
        let rlimits: Vec<_> = c
            .rlimits
            .iter()
            .map(|r| (r.r#type.as_str(), r.hard, r.soft))
            .collect();
        assert_eq!(
            rlimits,
            vec![("RLIMIT_NOFILE", 1024, 512), ("RLIMIT_CORE", 0, 0)]
        );

        assert_eq!(c.mounts.len(), 2);
        assert_eq!(
            (
                c.mounts[0].destination.as_str(),
                c.mounts[0].r#type.as_str()
            ),
            ("/proc", "proc")
        );
        assert_eq!(c.mounts[0].source, "proc");
        assert!(c.mounts[0].options.is_empty());
        assert_eq!(c.mounts[1].source, "/var/data");
        assert_eq!(c.mounts[1].options, vec!["rbind", "ro"]);

        let hooks = c.hooks.expect("hooks");
        assert_eq!(hooks.prestart.len(), 1);
        assert_eq!(hooks.prestart[0].path, "/bin/pre");
        assert_eq!(hooks.prestart[0].args, vec!["pre", "x"]);
        assert_eq!(hooks.prestart[0].env, vec!["E=1"]);
        assert_eq!(hooks.prestart[0].timeout.value(), Some(5));
        assert_eq!(hooks.poststop[0].path, "/bin/post");
        assert_eq!(hooks.poststop[0].timeout.value(), None);
        assert!(hooks.create_runtime.is_empty() && hooks.poststart.is_empty());

        let linux = c.linux.expect("linux");
        let namespaces: Vec<_> = linux
            .namespaces
            .iter()
            .map(|n| (n.r#type.as_str(), n.path.as_str()))
            .collect();
        assert_eq!(
            namespaces,
            vec![
                ("pid", ""),
                ("network", "/var/run/netns/does-not-exist-nri-cri-test"),
                ("mount", "")
            ],
            "a container's namespaces are not filtered"
        );
        let device = &linux.devices[0];
        assert_eq!(
            (device.path.as_str(), device.r#type.as_str()),
            ("/dev/fuse", "c")
        );
        assert_eq!((device.major, device.minor), (10, 229));
        assert_eq!(device.file_mode.value(), Some(0o666));
        assert_eq!((device.uid.value(), device.gid.value()), (Some(0), Some(0)));
        assert_eq!(linux.cgroups_path, "kubepods-pod1.slice:cri-containerd:c1");
        assert_eq!(linux.sysctl["net.ipv4.ip_forward"], "1");
        assert_eq!(linux.net_devices["eth1"].name, "net1");
        assert_eq!(linux.net_devices["eth2"].name, "");
        assert_eq!(linux.oom_score_adj.value(), Some(500));
        let io = linux.io_priority.expect("io priority");
        assert_eq!((io.class(), io.priority), (IoPrioClass::IoprioClassBe, 4));
        let scheduler = linux.scheduler.expect("scheduler");
        assert_eq!(scheduler.policy(), LinuxSchedulerPolicy::SchedDeadline);
        assert_eq!(
            scheduler.flags,
            vec![
                LinuxSchedulerFlag::SchedFlagResetOnFork as i32,
                LinuxSchedulerFlag::SchedFlagReclaim as i32
            ]
        );
        assert_eq!(
            (scheduler.nice, scheduler.priority),
            (0, 0),
            "unset numbers are 0"
        );
        assert_eq!(
            (scheduler.runtime, scheduler.deadline, scheduler.period),
            (10, 20, 30)
        );

        let seccomp = linux.seccomp_policy.expect("seccomp");
        assert_eq!(seccomp.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(seccomp.default_errno.value(), Some(1));
        assert_eq!(seccomp.architectures, vec!["SCMP_ARCH_X86_64"]);
        assert_eq!(seccomp.flags, vec!["SECCOMP_FILTER_FLAG_LOG"]);
        assert_eq!(seccomp.listener_path, "/run/seccomp.sock");
        assert_eq!(seccomp.listener_metadata, "meta");
        let syscall = &seccomp.syscalls[0];
        assert_eq!(syscall.names, vec!["personality"]);
        assert_eq!(syscall.action, "SCMP_ACT_ALLOW");
        assert_eq!(syscall.errno_ret.value(), None);
        let arg = &syscall.args[0];
        assert_eq!(
            (arg.index, arg.value, arg.value_two, arg.op.as_str()),
            (0, 8, 9, "SCMP_CMP_EQ")
        );
        assert!(
            linux.seccomp_profile.is_none(),
            "the profile is CRI's, not the spec's"
        );

        let rdt = linux.rdt.expect("rdt");
        assert_eq!(rdt.clos_id.value().as_deref(), Some("gold"));
        assert_eq!(
            rdt.schemata.value(),
            Some(vec!["L3:0=ff".to_string(), "MB:0=50".to_string()])
        );
        assert_eq!(rdt.enable_monitoring.value(), Some(true));
        assert!(!rdt.remove);

        let resources = linux.resources.expect("resources");
        assert_resources(&resources);
    }

    fn assert_resources(resources: &LinuxResources) {
        let memory = resources.memory.as_ref().expect("memory");
        assert_eq!(memory.limit.value(), Some(512 << 20));
        assert_eq!(memory.reservation.value(), Some(256 << 20));
        assert_eq!(memory.swap.value(), Some(1 << 30));
        assert_eq!(memory.kernel.value(), Some(1));
        assert_eq!(memory.kernel_tcp.value(), Some(2));
        assert_eq!(memory.swappiness.value(), Some(0), "zero is set");
        assert_eq!(memory.disable_oom_killer.value(), Some(true));
        assert_eq!(memory.use_hierarchy.value(), Some(false));
        let cpu = resources.cpu.as_ref().expect("cpu");
        assert_eq!(cpu.shares.value(), Some(512));
        assert_eq!(cpu.quota.value(), Some(50_000));
        assert_eq!(cpu.period.value(), Some(100_000));
        assert_eq!(cpu.realtime_runtime.value(), Some(950));
        assert_eq!(cpu.realtime_period.value(), Some(1000));
        assert_eq!((cpu.cpus.as_str(), cpu.mems.as_str()), ("0-1", "0"));
        assert_eq!(resources.pids.as_ref().map(|p| p.limit), Some(100));
        assert_eq!(
            resources.hugepage_limits,
            vec![HugepageLimit {
                page_size: "2MB".into(),
                limit: 2 << 20
            }],
            "the negative 1GB limit is left out"
        );
        assert_eq!(resources.unified["memory.high"], "max");
        assert_eq!(resources.devices.len(), 2);
        let deny = &resources.devices[0];
        assert!(!deny.allow && deny.r#type.is_empty() && deny.major.is_none());
        assert_eq!(deny.access, "rwm");
        let allow = &resources.devices[1];
        assert!(allow.allow);
        assert_eq!(allow.r#type, "c");
        assert_eq!(
            (allow.major.value(), allow.minor.value()),
            (Some(10), Some(229))
        );
        assert!(resources.blockio_class.is_none() && resources.rdt_class.is_none());
    }

    #[test]
    fn a_realistic_spec_fills_the_pod_and_drops_absent_network_namespaces() {
        let netns = tempfile::NamedTempFile::new().expect("a file standing in for a netns");
        let netns_path = netns.path().to_string_lossy().into_owned();
        let mut spec = realistic();
        let namespaces: Vec<oci::LinuxNamespace> = serde_json::from_value(json!([
            {"type": "pid"},
            {"type": "network", "path": "/var/run/netns/does-not-exist-nri-cri-test"},
            {"type": "network", "path": ""},
            {"type": "network"},
            {"type": "network", "path": netns_path},
            {"type": "ipc", "path": "/does/not/exist/either"}
        ]))
        .expect("namespaces");
        if let Some(linux) = spec.linux_mut() {
            linux.set_namespaces(Some(namespaces));
        }
        let config = cri::PodSandboxConfig {
            annotations: [
                ("shared".to_string(), "config".to_string()),
                ("only-config".to_string(), "config".to_string()),
            ]
            .into(),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: "kubepods-pod1.slice".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pod = pod_sandbox(&PodSource {
            id: "pod-1",
            config: Some(&config),
            spec: Some(&spec),
            ..Default::default()
        });
        assert_eq!(pod.annotations["shared"], "spec", "the spec overlays");
        assert_eq!(pod.annotations["only-config"], "config");
        let linux = pod.linux.expect("linux");
        let namespaces: Vec<_> = linux
            .namespaces
            .iter()
            .map(|n| (n.r#type.as_str(), n.path.as_str()))
            .collect();
        assert_eq!(
            namespaces,
            vec![
                ("pid", ""),
                ("network", netns_path.as_str()),
                ("ipc", "/does/not/exist/either")
            ],
            "only network namespaces are filtered"
        );
        assert_eq!(linux.cgroups_path, "kubepods-pod1.slice:cri-containerd:c1");
        assert_eq!(
            linux.cgroup_parent, "kubepods-pod1.slice",
            "from the config"
        );
        assert_resources(&linux.resources.expect("resources"));
    }

    #[test]
    fn a_pod_with_only_a_spec_has_a_linux_part_and_one_without_linux_has_none() {
        let spec = realistic();
        let pod = pod_sandbox(&PodSource {
            id: "p",
            spec: Some(&spec),
            ..Default::default()
        });
        assert_eq!(
            pod.linux.expect("linux from the spec").cgroups_path,
            "kubepods-pod1.slice:cri-containerd:c1"
        );
        let mut bare = realistic();
        bare.set_linux(None);
        let pod = pod_sandbox(&PodSource {
            id: "p",
            spec: Some(&bare),
            ..Default::default()
        });
        assert!(pod.linux.is_none());
    }

    fn cri_config() -> cri::ContainerConfig {
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: "cri-name".into(),
                attempt: 0,
            }),
            command: vec!["/bin/sh".into()],
            args: vec!["-c".into(), "true".into()],
            envs: vec![cri::KeyValue {
                key: "FROM".into(),
                value: b"cri".to_vec(),
            }],
            mounts: vec![cri::Mount {
                container_path: "/cri".into(),
                host_path: "/host/cri".into(),
                ..Default::default()
            }],
            devices: vec![cri::Device {
                container_path: "/dev/cri".into(),
                ..Default::default()
            }],
            annotations: [("shared".to_string(), "config".to_string())].into(),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(cri::LinuxContainerResources {
                    memory_limit_in_bytes: 1 << 20,
                    oom_score_adj: -999,
                    ..Default::default()
                }),
                security_context: Some(cri::LinuxContainerSecurityContext {
                    seccomp: Some(cri::SecurityProfile {
                        profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_spec_wins_over_the_config_except_for_annotations_and_metadata() {
        let (spec, config) = (realistic(), cri_config());
        let status = cri::ContainerStatus {
            annotations: [
                ("shared".to_string(), "status".to_string()),
                ("only-status".to_string(), "status".to_string()),
                (CONTAINER_NAME.to_string(), "status".to_string()),
            ]
            .into(),
            user: Some(cri::ContainerUser {
                linux: Some(cri::LinuxContainerUser {
                    uid: 1,
                    gid: 1,
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let c = container(&ContainerSource {
            id: "c1",
            pod_sandbox_id: "pod-given",
            config: Some(&config),
            status: Some(&status),
            pid: 7,
            spec: Some(&spec),
        });
        assert_eq!(c.name, "cri-name", "CRI metadata wins over the annotation");
        assert_eq!(c.pod_sandbox_id, "pod-given");
        assert_eq!(c.annotations["shared"], "config", "config overlays spec");
        assert_eq!(c.annotations[CONTAINER_NAME], "app", "spec overlays status");
        assert_eq!(c.annotations["only-status"], "status");
        assert_eq!(c.args[0], "/usr/bin/server");
        assert_eq!(c.env, vec!["PATH=/usr/bin", "MODE=prod"]);
        assert_eq!(c.mounts.len(), 2);
        assert!(c.mounts.iter().all(|m| m.destination != "/cri"));
        assert_eq!(c.user.map(|u| u.uid), Some(1000), "spec user over status");
        let linux = c.linux.expect("linux");
        assert_eq!(linux.devices.len(), 1);
        assert_eq!(linux.devices[0].path, "/dev/fuse");
        assert_eq!(linux.oom_score_adj.value(), Some(500));
        let memory = linux.resources.and_then(|r| r.memory).expect("memory");
        assert_eq!(memory.limit.value(), Some(512 << 20));
        assert_eq!(
            linux
                .seccomp_profile
                .map(|p| p.profile_type())
                .expect("profile from CRI"),
            nri_proto::api::security_profile::ProfileType::RuntimeDefault
        );
        assert_eq!(c.pid, 7);
    }

    #[test]
    fn parts_the_spec_lacks_keep_the_cri_values() {
        let config = cri_config();
        let mut spec = realistic();
        let mut process = crate::oci::parts::empty_process();
        process.set_args(None).set_env(None);
        spec.set_process(Some(process))
            .set_mounts(None)
            .set_linux(Some(crate::oci::parts::empty_linux()));
        let c = container(&ContainerSource {
            id: "c1",
            config: Some(&config),
            spec: Some(&spec),
            ..Default::default()
        });
        assert_eq!(c.args, vec!["/bin/sh", "-c", "true"]);
        assert_eq!(c.env, vec!["FROM=cri"]);
        assert_eq!(c.mounts[0].destination, "/cri");
        assert!(c.rlimits.is_empty());
        let linux = c.linux.expect("linux");
        assert_eq!(linux.devices[0].path, "/dev/cri");
        assert_eq!(linux.oom_score_adj.value(), Some(-999));
        assert_eq!(
            linux
                .resources
                .and_then(|r| r.memory)
                .and_then(|m| m.limit.value()),
            Some(1 << 20)
        );
        assert!(linux.namespaces.is_empty() && linux.rdt.is_none());
        assert!(linux.scheduler.is_none() && linux.io_priority.is_none());
    }

    #[test]
    fn a_spec_without_process_or_linux_reads_as_nothing() {
        let bare: Spec = serde_json::from_value(json!({"ociVersion": "1.2.0"})).expect("spec");
        assert!(bare.process().is_none() && bare.linux().is_none() && bare.mounts().is_none());
        let config = cri_config();
        let with = container(&ContainerSource {
            id: "c1",
            pod_sandbox_id: "p",
            config: Some(&config),
            spec: Some(&bare),
            ..Default::default()
        });
        let without = container(&ContainerSource {
            id: "c1",
            pod_sandbox_id: "p",
            config: Some(&config),
            ..Default::default()
        });
        assert_eq!(with, without);
        let alone = read(&bare);
        assert!(alone.name.is_empty() && alone.pod_sandbox_id.is_empty());
        assert!(alone.user.is_none() && alone.hooks.is_none() && alone.rlimits.is_empty());
        let pod = pod_sandbox(&PodSource {
            id: "p",
            spec: Some(&bare),
            ..Default::default()
        });
        assert!(pod.linux.is_none() && pod.annotations.is_empty());
    }

    #[test]
    fn oci_specs_default_example_reads_whole() {
        let spec = Spec::default();
        let c = read(&spec);
        assert_eq!(c.args, vec!["sh"]);
        assert_eq!(c.rlimits.len(), 1);
        assert_eq!(c.rlimits[0].r#type, "RLIMIT_NOFILE");
        assert!(!c.mounts.is_empty());
        let linux = c.linux.expect("linux");
        assert!(linux.namespaces.iter().any(|n| n.r#type == "network"));
        let pod = pod_sandbox(&PodSource {
            id: "p",
            spec: Some(&spec),
            ..Default::default()
        });
        let pod_linux = pod.linux.expect("linux");
        assert!(
            !pod_linux.namespaces.iter().any(|n| n.r#type == "network"),
            "a new (pathless) network namespace is not the pod's"
        );
        assert!(pod_linux.namespaces.iter().any(|n| n.r#type == "pid"));
    }

    #[test]
    fn empty_annotations_do_not_name_a_container() {
        let mut spec = realistic();
        spec.set_annotations(Some(
            [
                (CONTAINER_NAME.to_string(), String::new()),
                (SANDBOX_ID.to_string(), String::new()),
            ]
            .into(),
        ));
        let c = read(&spec);
        assert!(c.name.is_empty() && c.pod_sandbox_id.is_empty());
    }

    mod arbitrary {
        use super::*;
        use oci_spec::runtime::{
            IOPriorityClass, LinuxHugepageLimit, LinuxIOPriorityBuilder, LinuxSchedulerFlag as F,
            LinuxSchedulerPolicy as P, PosixRlimitBuilder, PosixRlimitType,
        };
        use proptest::prelude::*;
        use std::path::PathBuf;

        const PATHS: [&str; 3] = ["", "/nonexistent/nri-cri/ns", "/proc/self/ns/net"];

        fn namespace_types() -> impl Strategy<Value = LinuxNamespaceType> {
            prop::sample::select(vec![
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::User,
            ])
        }

        prop_compose! {
            fn process()(
                args in prop::option::of(prop::collection::vec("[a-z]{0,4}", 0..3)),
                env in prop::option::of(prop::collection::vec("[A-Z]{1,3}=[a-z]{0,3}", 0..3)),
                rlimits in prop::option::of(prop::collection::vec(
                    (prop::sample::select(vec![PosixRlimitType::RlimitNofile, PosixRlimitType::RlimitCore]),
                     any::<u64>(), any::<u64>()), 0..3)),
                ids in (any::<u32>(), any::<u32>(), prop::option::of(prop::collection::vec(any::<u32>(), 0..3))),
                oom in prop::option::of(any::<i32>()),
                priority in prop::option::of(any::<i64>()),
                scheduler in prop::option::of((
                    prop::sample::select(vec![P::SchedOther, P::SchedFifo, P::SchedDeadline]),
                    prop::option::of(prop::collection::vec(
                        prop::sample::select(vec![F::SchedResetOnFork, F::SchedFlagDLOverrun, F::SchedFlagReclaim]), 0..3)),
                    prop::option::of(any::<i32>()),
                )),
            ) -> oci::Process {
                let mut process = crate::oci::parts::empty_process();
                let mut user = oci::User::default();
                user.set_uid(ids.0).set_gid(ids.1).set_additional_gids(ids.2);
                process
                    .set_args(args)
                    .set_env(env)
                    .set_user(user)
                    .set_oom_score_adj(oom)
                    .set_rlimits(rlimits.map(|list| {
                        list.into_iter()
                            .filter_map(|(typ, hard, soft)| {
                                PosixRlimitBuilder::default().typ(typ).hard(hard).soft(soft).build().ok()
                            })
                            .collect()
                    }))
                    .set_io_priority(priority.and_then(|p| {
                        LinuxIOPriorityBuilder::default()
                            .class(IOPriorityClass::IoprioClassRt)
                            .priority(p)
                            .build()
                            .ok()
                    }))
                    .set_scheduler(scheduler.map(|(policy, flags, nice)| {
                        let mut s = oci::Scheduler::default();
                        s.set_policy(policy).set_flags(flags).set_nice(nice);
                        s
                    }));
                process
            }
        }

        prop_compose! {
            fn linux()(
                namespaces in prop::option::of(prop::collection::vec(
                    (namespace_types(), prop::option::of(prop::sample::select(PATHS.to_vec()))), 0..5)),
                memory in prop::option::of((prop::option::of(any::<i64>()), prop::option::of(any::<u64>()), prop::option::of(any::<bool>()))),
                cpu in prop::option::of((prop::option::of(any::<u64>()), prop::option::of("[0-9,-]{0,4}"))),
                hugepages in prop::option::of(prop::collection::vec(any::<i64>(), 0..3)),
                with_resources in any::<bool>(),
                cgroups_path in prop::option::of("[a-z/:.-]{0,10}"),
                seccomp_index in prop::option::of(any::<usize>()),
                rdt in prop::option::of((prop::option::of("[a-z]{0,4}"), prop::option::of(prop::collection::vec("[A-Z0-9:=]{0,5}", 0..2)))),
            ) -> oci::Linux {
                let mut linux = crate::oci::parts::empty_linux();
                linux.set_namespaces(namespaces.map(|list| {
                    list.into_iter()
                        .map(|(typ, path)| {
                            let mut ns = oci::LinuxNamespace::default();
                            ns.set_typ(typ).set_path(path.map(PathBuf::from));
                            ns
                        })
                        .collect()
                }));
                if with_resources {
                    let mut resources = oci::LinuxResources::default();
                    resources
                        .set_memory(memory.map(|(limit, swappiness, oom)| {
                            let mut m = oci::LinuxMemory::default();
                            m.set_limit(limit).set_swappiness(swappiness).set_disable_oom_killer(oom);
                            m
                        }))
                        .set_cpu(cpu.map(|(shares, cpus)| {
                            let mut c = oci::LinuxCpu::default();
                            c.set_shares(shares).set_cpus(cpus);
                            c
                        }))
                        .set_hugepage_limits(hugepages.map(|limits| {
                            limits
                                .into_iter()
                                .map(|limit| {
                                    let mut l = LinuxHugepageLimit::default();
                                    l.set_page_size("2MB".into()).set_limit(limit);
                                    l
                                })
                                .collect()
                        }));
                    linux.set_resources(Some(resources));
                }
                linux.set_cgroups_path(cgroups_path.map(PathBuf::from));
                linux.set_seccomp(seccomp_index.and_then(|index| {
                    let arg = oci_spec::runtime::LinuxSeccompArgBuilder::default()
                        .index(index)
                        .value(1u64)
                        .op(oci_spec::runtime::LinuxSeccompOperator::ScmpCmpEq)
                        .build()
                        .ok()?;
                    let mut syscall = oci::LinuxSyscall::default();
                    syscall.set_names(vec!["read".into()]).set_args(Some(vec![arg]));
                    let mut seccomp = oci::LinuxSeccomp::default();
                    seccomp.set_syscalls(Some(vec![syscall]));
                    Some(seccomp)
                }));
                linux.set_intel_rdt(rdt.map(|(clos, schemata)| {
                    let mut r = oci::LinuxIntelRdt::default();
                    r.set_clos_id(clos).set_schemata(schemata);
                    r
                }));
                linux
            }
        }

        prop_compose! {
            fn spec()(
                annotations in prop::option::of(prop::collection::hash_map(
                    prop::sample::select(vec![CONTAINER_NAME, SANDBOX_ID, "x"]).prop_map(String::from),
                    "[a-z]{0,3}", 0..3)),
                process in prop::option::of(process()),
                linux in prop::option::of(linux()),
                mounts in prop::option::of(prop::collection::vec(
                    ("/[a-z]{0,3}", prop::option::of("[a-z]{0,3}"), prop::option::of(prop::collection::vec("[a-z]{1,3}", 0..2))), 0..3)),
                hook_paths in prop::option::of(prop::collection::vec(("/[a-z]{1,3}", prop::option::of(any::<i64>())), 0..2)),
            ) -> Spec {
                let mut spec = Spec::default();
                spec.set_annotations(annotations)
                    .set_process(process)
                    .set_linux(linux)
                    .set_mounts(mounts.map(|list| {
                        list.into_iter()
                            .map(|(dest, typ, options)| {
                                let mut m = oci::Mount::default();
                                m.set_destination(PathBuf::from(dest)).set_typ(typ).set_options(options);
                                m
                            })
                            .collect()
                    }))
                    .set_hooks(hook_paths.map(|list| {
                        let hooks: Vec<oci::Hook> = list
                            .into_iter()
                            .map(|(path, timeout)| {
                                let mut h = oci::Hook::default();
                                h.set_path(PathBuf::from(path)).set_timeout(timeout);
                                h
                            })
                            .collect();
                        let mut all = oci::Hooks::default();
                        all.set_poststart(Some(hooks));
                        all
                    }));
                spec
            }
        }

        proptest! {
            #[test]
            fn arbitrary_specs_read_without_panicking_and_keep_what_they_have(spec in spec()) {
                let c = read(&spec);
                let process = spec.process().as_ref();
                prop_assert_eq!(&c.args, &process.and_then(|p| p.args().clone()).unwrap_or_default());
                prop_assert_eq!(
                    c.rlimits.len(),
                    process.and_then(|p| p.rlimits().as_ref()).map_or(0, Vec::len)
                );
                prop_assert!(c.rlimits.iter().all(|r| r.r#type.starts_with("RLIMIT_")));
                prop_assert_eq!(c.user.is_some(), process.is_some());
                prop_assert_eq!(c.mounts.len(), spec.mounts().as_ref().map_or(0, Vec::len));
                prop_assert_eq!(
                    c.hooks.map_or(0, |h| h.poststart.len()),
                    spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()).map_or(0, Vec::len)
                );
                let linux = c.linux.expect("always a Linux part");
                let oci_linux = spec.linux().as_ref();
                prop_assert_eq!(
                    linux.namespaces.len(),
                    oci_linux.and_then(|l| l.namespaces().as_ref()).map_or(0, Vec::len)
                );
                let oci_hugepages = oci_linux
                    .and_then(|l| l.resources().as_ref())
                    .and_then(|r| r.hugepage_limits().as_ref());
                prop_assert_eq!(
                    linux.resources.as_ref().map_or(0, |r| r.hugepage_limits.len()),
                    oci_hugepages.map_or(0, |l| l.iter().filter(|l| l.limit() >= 0).count())
                );
                prop_assert!(linux.scheduler.iter().all(|s| s.policy != 0 && !s.flags.contains(&-1)));

                let pod = pod_sandbox(&PodSource { id: "p", spec: Some(&spec), ..Default::default() });
                prop_assert_eq!(pod.linux.is_some(), oci_linux.is_some());
                for ns in pod.linux.iter().flat_map(|l| &l.namespaces) {
                    prop_assert!(
                        ns.r#type != "network" || (!ns.path.is_empty() && Path::new(&ns.path).exists()),
                        "stale network namespace {:?}", ns
                    );
                }
            }
        }
    }
}
