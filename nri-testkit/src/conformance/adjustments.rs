//! Container creation adjustments from one plugin (§5.6 S1–S23): plugin
//! 00-test returns one kind of adjustment and the runtime's
//! CreateContainer reply carries exactly it.

use nri_core::proto::api::{
    CdiDevice, ContainerAdjustment, IoPrioClass, KeyValue, LinuxDevice, LinuxIoPriority,
    LinuxMemoryPolicy, LinuxNamespace, LinuxNetDevice, LinuxRdt, LinuxScheduler,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, LinuxSeccomp, LinuxSyscall, Mount, MpolFlag,
    MpolMode, PosixRlimit,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::proto::optional;
use nri_core::transport::Method;

use super::fixture::{container, create_request, options, pod, start_with, within};
use super::harness::Harness;
use super::plugin::ScriptedPlugin;
use super::samples::{adjust, create_reply, hooks, linux, resource_groups};
use super::strip::strip_adjustment;

/// The destination of the mount S3 removes; the created container has it.
pub const REMOVED_MOUNT: &str = "/remove/test/destination";

fn mount(destination: &str, source: &str) -> Mount {
    Mount {
        destination: destination.into(),
        r#type: "bind".into(),
        source: source.into(),
        options: vec!["bind".into(), "ro".into()],
    }
}

/// S1–S15, S21–S23: one adjustment each.
fn simple_cases() -> Vec<(&'static str, ContainerAdjustment)> {
    vec![
        (
            "S1 annotation",
            adjust(|a| _ = a.annotations.insert("key".into(), "00-test".into())),
        ),
        (
            "S2 mount",
            adjust(|a| a.mounts = vec![mount("/mnt/test", "/dev/00-test")]),
        ),
        (
            "S3 mount removal",
            adjust(|a| {
                a.mounts = vec![Mount {
                    destination: format!("-{REMOVED_MOUNT}"),
                    ..Default::default()
                }]
            }),
        ),
        (
            "S4 env",
            adjust(|a| {
                a.env = vec![KeyValue {
                    key: "key".into(),
                    value: "00-test".into(),
                }]
            }),
        ),
        (
            "S5 args",
            adjust(|a| {
                a.args = ["echo", "updated", "argument", "list"]
                    .map(String::from)
                    .to_vec()
            }),
        ),
        ("S6 hook", hooks(&["/bin/00-test"])),
        (
            "S7 device",
            linux(|l| {
                l.devices = vec![LinuxDevice {
                    path: "/dev/test".into(),
                    r#type: "c".into(),
                    major: 313,
                    minor: 100,
                    ..Default::default()
                }]
            }),
        ),
        (
            "S8 namespace",
            linux(|l| {
                l.namespaces = vec![LinuxNamespace {
                    r#type: "cgroup".into(),
                    path: "/var/run/cgroupns/replaced".into(),
                }]
            }),
        ),
        (
            "S9 rlimit",
            adjust(|a| {
                a.rlimits = vec![PosixRlimit {
                    r#type: "RLIMIT_NOFILE".into(),
                    soft: 123,
                    hard: 456,
                }]
            }),
        ),
        (
            "S10 CDI device",
            adjust(|a| {
                a.cdi_devices = vec![CdiDevice {
                    name: "vendor0.com/dev=dev0".into(),
                }]
            }),
        ),
        (
            "S11 I/O priority",
            linux(|l| {
                l.io_priority = Some(LinuxIoPriority {
                    class: IoPrioClass::IoprioClassRt as i32,
                    priority: 5,
                })
            }),
        ),
        (
            "S12 net device",
            linux(|l| {
                _ = l.net_devices.insert(
                    "hostIf".into(),
                    LinuxNetDevice {
                        name: "containerIf".into(),
                    },
                )
            }),
        ),
        (
            "S13 scheduler",
            linux(|l| {
                l.scheduler = Some(LinuxScheduler {
                    policy: LinuxSchedulerPolicy::SchedFifo as i32,
                    priority: 10,
                    flags: vec![LinuxSchedulerFlag::SchedFlagResetOnFork as i32],
                    ..Default::default()
                })
            }),
        ),
        (
            "S14 sysctl",
            linux(|l| _ = l.sysctl.insert("net.core.somaxconn".into(), "256".into())),
        ),
        (
            "S15 memory policy",
            linux(|l| {
                l.memory_policy = Some(LinuxMemoryPolicy {
                    mode: MpolMode::MpolInterleave as i32,
                    nodes: "0,1".into(),
                    flags: vec![MpolFlag::MpolFStaticNodes as i32],
                })
            }),
        ),
        (
            "S21 cgroups path",
            linux(|l| l.cgroups_path = "/00-test".into()),
        ),
        (
            "S22 seccomp policy",
            linux(|l| {
                l.seccomp_policy = Some(LinuxSeccomp {
                    default_action: "SCMP_ACT_ALLOW".into(),
                    listener_path: "/run/meshuggah-rocks.sock".into(),
                    syscalls: vec![LinuxSyscall {
                        names: vec!["sched_getaffinity".into()],
                        action: "SCMP_ACT_NOTIFY".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }),
        ),
        (
            "S23 RDT",
            linux(|l| {
                l.rdt = Some(LinuxRdt {
                    clos_id: optional::string("test"),
                    schemata: optional::strings(["L3:0=ff", "MB:0=50"]),
                    enable_monitoring: optional::bool(true),
                    remove: false,
                })
            }),
        ),
    ]
}

/// Every case of §5.6: the simple ones and S16–S20, the resource groups.
pub fn cases() -> Vec<(String, ContainerAdjustment)> {
    let mut cases: Vec<(String, ContainerAdjustment)> = simple_cases()
        .into_iter()
        .map(|(name, adjust)| (name.to_string(), adjust))
        .collect();
    for (i, (group, resources)) in resource_groups("00-test", 0).into_iter().enumerate() {
        let name = format!("S{} {group}", 16 + i);
        cases.push((name, linux(|l| l.resources = Some(resources))));
    }
    cases
}

/// S1–S23: each adjustment comes back in the runtime's reply unchanged
/// (after stripping empty parts). Reports every failing case at once.
pub async fn single_plugin(h: &dyn Harness) {
    let test = ScriptedPlugin::new("00", "test", EventMask::of([Event::CreateContainer]));
    let running = start_with(h, options(), vec![test]).await;
    let mut created = container(0, 0);
    created.mounts.push(mount(REMOVED_MOUNT, "/tmp"));
    let mut failures = Vec::new();
    for (name, adjustment) in cases() {
        let behaviour = create_reply(Some(adjustment.clone()), Vec::new(), Vec::new());
        running.plugin(0).set(Method::CreateContainer, behaviour);
        let request = create_request(&pod(0), &created);
        match within(&name, running.adaptation.create_container(request)).await {
            Ok(reply) if strip_adjustment(reply.adjust.clone()) == Some(adjustment.clone()) => {}
            Ok(reply) => failures.push(format!("{name}: got {:?}", reply.adjust)),
            Err(error) => failures.push(format!("{name}: failed: {error}")),
        }
    }
    running.stop().await;
    assert!(failures.is_empty(), "{}: {failures:#?}", h.name());
}
