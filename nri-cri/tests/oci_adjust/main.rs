//! `nri_cri::oci::apply`: table tests per adjustment field, order and
//! atomicity tests, and property tests.

// Test helpers outside `#[test]` functions panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod properties;

use std::collections::BTreeMap;

use nri_cri::oci::{self, AdjustError, DefaultResolvers, MountPropagation};
use nri_proto::api::{
    CdiDevice, ContainerAdjustment, Hook, Hooks, HugepageLimit, IoPrioClass,
    LinuxContainerAdjustment, LinuxCpu, LinuxDeviceCgroup, LinuxIoPriority, LinuxMemory,
    LinuxMemoryPolicy, LinuxNamespace, LinuxNetDevice, LinuxPids, LinuxRdt, LinuxResources,
    LinuxScheduler, LinuxSchedulerFlag, LinuxSchedulerPolicy, LinuxSeccomp, LinuxSeccompArg,
    LinuxSyscall, MpolFlag, MpolMode, PosixRlimit,
};
use nri_proto::optional;
use serde_json::json;
use support::*;

fn annotations(pairs: &[(&str, &str)]) -> ContainerAdjustment {
    ContainerAdjustment {
        annotations: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn env(entries: &[(&str, &str)]) -> ContainerAdjustment {
    ContainerAdjustment {
        env: entries.iter().map(|(k, v)| kv(k, v)).collect(),
        ..Default::default()
    }
}

fn a_full_spec() -> serde_json::Value {
    json!({
        "process": {
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh"], "env": ["A=1"],
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        },
        "annotations": {"a": "1"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {
            "resources": {
                "memory": {"limit": 100},
                "cpu": {"shares": 2},
                "devices": [{"allow": false, "access": "rwm"}],
            },
            "namespaces": [{"type": "pid"}],
        },
    })
}

#[test]
fn empty_adjustments_change_nothing() {
    let empty_parts = ContainerAdjustment {
        hooks: Some(Hooks::default()),
        linux: Some(LinuxContainerAdjustment {
            resources: Some(LinuxResources {
                memory: Some(LinuxMemory::default()),
                cpu: Some(LinuxCpu::default()),
                ..Default::default()
            }),
            rdt: Some(LinuxRdt::default()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut cases = Vec::new();
    for base in [json!({}), a_full_spec()] {
        for (name, adjust) in [
            ("default", ContainerAdjustment::default()),
            ("empty parts", empty_parts.clone()),
        ] {
            cases.push(Case {
                name,
                base: base.clone(),
                adjust,
                want: base.clone(),
            });
        }
    }
    run(cases, &DefaultResolvers);
}

#[test]
fn annotation_adjustments() {
    run(
        vec![
            Case {
                name: "added to a missing map",
                base: json!({}),
                adjust: annotations(&[("b", "2")]),
                want: json!({"annotations": {"b": "2"}}),
            },
            Case {
                name: "replaced and added",
                base: json!({"annotations": {"a": "1", "b": "1"}}),
                adjust: annotations(&[("b", "2"), ("c", "3")]),
                want: json!({"annotations": {"a": "1", "b": "2", "c": "3"}}),
            },
            Case {
                name: "removed",
                base: json!({"annotations": {"a": "1", "b": "1"}}),
                adjust: annotations(&[("-a", "")]),
                want: json!({"annotations": {"b": "1"}}),
            },
            Case {
                name: "removing a missing key is a no-op",
                base: json!({"annotations": {"a": "1"}}),
                adjust: annotations(&[("-zzz", "")]),
                want: json!({"annotations": {"a": "1"}}),
            },
            Case {
                name: "removing from a missing map creates none",
                base: json!({}),
                adjust: annotations(&[("-a", "")]),
                want: json!({}),
            },
            Case {
                // '!' sorts before '-': removals must still come first.
                name: "removed and set again: the set wins whatever the key order",
                base: json!({"annotations": {"!a": "old", "b": "old"}}),
                adjust: annotations(&[("-!a", ""), ("!a", "new"), ("-b", ""), ("b", "new")]),
                want: json!({"annotations": {"!a": "new", "b": "new"}}),
            },
        ],
        &DefaultResolvers,
    );
}

#[test]
fn env_adjustments() {
    let process = |env: serde_json::Value| json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "env": env}});
    run(
        vec![
            Case {
                name: "replaced in place, new appended",
                base: process(json!(["A=1", "B=1", "C=1"])),
                adjust: env(&[("D", "4"), ("B", "2")]),
                want: process(json!(["A=1", "B=2", "C=1", "D=4"])),
            },
            Case {
                name: "removed",
                base: process(json!(["A=1", "B=1"])),
                adjust: env(&[("-A", "")]),
                want: process(json!(["B=1"])),
            },
            Case {
                name: "removing a missing variable is a no-op",
                base: process(json!(["A=1"])),
                adjust: env(&[("-NOPE", "")]),
                want: process(json!(["A=1"])),
            },
            Case {
                name: "removal without a process creates none",
                base: json!({}),
                adjust: env(&[("-A", "")]),
                want: json!({}),
            },
            Case {
                name: "set without a process creates an empty one",
                base: json!({}),
                adjust: env(&[("A", "1")]),
                want: json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "", "env": ["A=1"]}}),
            },
            Case {
                name: "last entry wins: set then removed",
                base: process(json!(["B=1"])),
                adjust: env(&[("A", "1"), ("-A", ""), ("B", "2"), ("-B", "")]),
                want: process(json!([])),
            },
            Case {
                name: "last entry wins: removed then set keeps the position",
                base: process(json!(["A=1", "B=1"])),
                adjust: env(&[("-A", ""), ("A", "2")]),
                want: process(json!(["A=2", "B=1"])),
            },
            Case {
                name: "duplicates of a set variable collapse to its first position",
                base: process(json!(["A=1", "B=1", "A=3"])),
                adjust: env(&[("A", "2")]),
                want: process(json!(["A=2", "B=1"])),
            },
            Case {
                name: "entries without '=' are kept, and removable",
                base: process(json!(["WEIRD", "ODD", "A=1"])),
                adjust: env(&[("-ODD", ""), ("B", "2")]),
                want: process(json!(["WEIRD", "A=1", "B=2"])),
            },
            Case {
                name: "values may hold '='",
                base: process(json!(["A=x=y"])),
                adjust: env(&[("A", "p=q")]),
                want: process(json!(["A=p=q"])),
            },
        ],
        &DefaultResolvers,
    );
}

#[test]
fn args_adjustments() {
    let args = |list: &[&str]| ContainerAdjustment {
        args: list.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let with = |list: serde_json::Value| json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": list}});
    run(
        vec![
            Case {
                name: "replaced",
                base: with(json!(["sh"])),
                adjust: args(&["echo", "hi"]),
                want: with(json!(["echo", "hi"])),
            },
            Case {
                name: "empty keeps",
                base: with(json!(["sh"])),
                adjust: args(&[]),
                want: with(json!(["sh"])),
            },
            Case {
                name: "leading empty marker dropped",
                base: with(json!(["sh"])),
                adjust: args(&["", "echo"]),
                want: with(json!(["echo"])),
            },
            Case {
                name: "a lone empty marker keeps",
                base: with(json!(["sh"])),
                adjust: args(&[""]),
                want: with(json!(["sh"])),
            },
        ],
        &DefaultResolvers,
    );
}

#[test]
fn hooks_are_appended_per_kind() {
    let hook = |path: &str| Hook {
        path: path.into(),
        args: vec![path.into(), "x".into()],
        env: vec!["E=1".into()],
        timeout: optional::int(5),
    };
    let oci = |path: &str| json!({"path": path, "args": [path, "x"], "env": ["E=1"], "timeout": 5});
    let adjust = ContainerAdjustment {
        hooks: Some(Hooks {
            prestart: vec![hook("/pre")],
            create_runtime: vec![hook("/cr")],
            create_container: vec![hook("/cc")],
            start_container: vec![hook("/sc")],
            poststart: vec![hook("/post")],
            poststop: vec![hook("/stop1"), hook("/stop2")],
        }),
        ..Default::default()
    };
    run(
        vec![
            Case {
                name: "after existing hooks",
                base: json!({"hooks": {"poststop": [{"path": "/old"}]}}),
                adjust: adjust.clone(),
                want: json!({"hooks": {
                    "prestart": [oci("/pre")],
                    "createRuntime": [oci("/cr")],
                    "createContainer": [oci("/cc")],
                    "startContainer": [oci("/sc")],
                    "poststart": [oci("/post")],
                    "poststop": [{"path": "/old"}, oci("/stop1"), oci("/stop2")],
                }}),
            },
            Case {
                name: "only the kinds given",
                base: json!({}),
                adjust: ContainerAdjustment {
                    hooks: Some(Hooks {
                        poststart: vec![Hook {
                            path: "/p".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                want: json!({"hooks": {"poststart": [{"path": "/p"}]}}),
            },
        ],
        &DefaultResolvers,
    );
}

#[test]
fn cdi_devices_go_to_the_injector() {
    let adjust = ContainerAdjustment {
        cdi_devices: vec![
            CdiDevice {
                name: "vendor.com/gpu=gpu0".into(),
            },
            CdiDevice {
                name: "vendor.com/gpu=gpu1".into(),
            },
        ],
        ..Default::default()
    };
    let fake = Fake::default();
    let mut spec = spec(json!({}));
    oci::apply(&mut spec, &adjust, &fake).unwrap();
    assert_eq!(
        *fake.cdi_calls.borrow(),
        vec![vec![
            "vendor.com/gpu=gpu0".to_string(),
            "vendor.com/gpu=gpu1".to_string()
        ]]
    );
    assert_eq!(
        json(&spec)["linux"]["devices"],
        json!([
            {"path": "/dev/gpu0", "type": "c", "major": 99, "minor": 0},
            {"path": "/dev/gpu1", "type": "c", "major": 99, "minor": 1},
        ])
    );

    // Without an injector: an error naming the field and the devices.
    let error = fail(json!({}), &adjust, &DefaultResolvers);
    assert_eq!(error.field(), "CDI_devices");
    let text = error.to_string();
    assert!(text.starts_with("CDI_devices: "), "{text}");
    assert!(
        text.contains("vendor.com/gpu=gpu0") && text.contains("vendor.com/gpu=gpu1"),
        "{text}"
    );

    // No devices, no call.
    let fake = Fake::default();
    oci::apply(&mut spec, &ContainerAdjustment::default(), &fake).unwrap();
    assert!(fake.cdi_calls.borrow().is_empty());
}

#[test]
fn device_adjustments() {
    let devices = |list: Vec<nri_proto::api::LinuxDevice>| {
        linux(LinuxContainerAdjustment {
            devices: list,
            ..Default::default()
        })
    };
    let rule = |typ: &str, major: i64, minor: i64, access: &str| json!({"allow": true, "type": typ, "major": major, "minor": minor, "access": access});
    let deny_all = json!({"allow": false, "access": "rwm"});
    let with_mode = nri_proto::api::LinuxDevice {
        file_mode: optional::file_mode(0o660u32),
        uid: optional::uint32(1u32),
        gid: optional::uint32(2u32),
        ..device("/dev/fuse", "c", 10, 229)
    };
    run(
        vec![
            Case {
                name: "char device: node and rw rule",
                base: json!({}),
                adjust: devices(vec![with_mode]),
                want: json!({"linux": {
                    "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                                 "fileMode": 0o660, "uid": 1, "gid": 2}],
                    "resources": {"devices": [rule("c", 10, 229, "rw")]},
                }}),
            },
            Case {
                name: "block device: rwm rule, after existing rules",
                base: json!({"linux": {"resources": {"devices": [deny_all.clone()]}}}),
                adjust: devices(vec![device("/dev/sdz", "b", 8, 0)]),
                want: json!({"linux": {
                    "devices": [{"path": "/dev/sdz", "type": "b", "major": 8, "minor": 0}],
                    "resources": {"devices": [deny_all.clone(), rule("b", 8, 0, "rwm")]},
                }}),
            },
            Case {
                name: "same path replaced, old access revoked",
                base: json!({"linux": {
                    "devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 1}],
                    "resources": {"devices": [deny_all.clone(), rule("c", 1, 1, "rwm")]},
                }}),
                adjust: devices(vec![device("/dev//x", "c", 2, 2)]),
                want: json!({"linux": {
                    "devices": [{"path": "/dev//x", "type": "c", "major": 2, "minor": 2}],
                    "resources": {"devices": [deny_all.clone(), rule("c", 2, 2, "rw")]},
                }}),
            },
            Case {
                name: "added then removed in one adjustment leaves nothing",
                base: json!({"linux": {"resources": {"devices": [deny_all.clone()]}}}),
                adjust: devices(vec![
                    device("/dev/x", "c", 1, 1),
                    device("-/dev/x", "", 0, 0),
                ]),
                want: json!({"linux": {
                    "devices": [],
                    "resources": {"devices": [deny_all.clone()]},
                }}),
            },
            Case {
                name: "removing a missing device is a no-op",
                base: json!({"linux": {"devices": [{"path": "/dev/a", "type": "c", "major": 1, "minor": 1}]}}),
                adjust: devices(vec![device("-/dev/zzz", "", 0, 0)]),
                want: json!({"linux": {"devices": [{"path": "/dev/a", "type": "c", "major": 1, "minor": 1}]}}),
            },
            Case {
                name: "removal revokes exact allow rules only",
                base: json!({"linux": {
                    "devices": [
                        {"path": "/dev/a", "type": "c", "major": 1, "minor": 1},
                        {"path": "/dev/b", "type": "c", "major": 1, "minor": 2},
                    ],
                    "resources": {"devices": [
                        deny_all.clone(),
                        {"allow": true, "type": "c", "major": 1, "access": "rwm"},
                        rule("c", 1, 1, "rwm"),
                        rule("c", 1, 2, "rwm"),
                    ]},
                }}),
                adjust: devices(vec![device("-/dev/a", "", 0, 0)]),
                want: json!({"linux": {
                    "devices": [{"path": "/dev/b", "type": "c", "major": 1, "minor": 2}],
                    "resources": {"devices": [
                        deny_all.clone(),
                        {"allow": true, "type": "c", "major": 1, "access": "rwm"},
                        rule("c", 1, 2, "rwm"),
                    ]},
                }}),
            },
            Case {
                name: "rule kept while another node has the same numbers",
                base: json!({"linux": {
                    "devices": [
                        {"path": "/dev/a", "type": "c", "major": 1, "minor": 1},
                        {"path": "/dev/alias", "type": "c", "major": 1, "minor": 1},
                    ],
                    "resources": {"devices": [rule("c", 1, 1, "rwm")]},
                }}),
                adjust: devices(vec![device("-/dev/a", "", 0, 0)]),
                want: json!({"linux": {
                    "devices": [{"path": "/dev/alias", "type": "c", "major": 1, "minor": 1}],
                    "resources": {"devices": [rule("c", 1, 1, "rwm")]},
                }}),
            },
        ],
        &DefaultResolvers,
    );
    let error = fail(
        json!({}),
        &devices(vec![device("/dev/q", "q", 1, 1)]),
        &DefaultResolvers,
    );
    assert_eq!(error.field(), "linux.devices");
}

#[test]
fn cgroups_path_and_oom_score() {
    let adjust = linux(LinuxContainerAdjustment {
        cgroups_path: "/kubepods/pod1/ctr".into(),
        oom_score_adj: optional::int(-998),
        ..Default::default()
    });
    run(
        vec![
            Case {
                name: "set",
                base: json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "oomScoreAdj": 5}}),
                adjust: adjust.clone(),
                want: json!({
                    "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "oomScoreAdj": -998},
                    "linux": {"cgroupsPath": "/kubepods/pod1/ctr"},
                }),
            },
            Case {
                name: "zero OOM score is a value",
                base: json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "oomScoreAdj": 5}}),
                adjust: linux(LinuxContainerAdjustment {
                    oom_score_adj: optional::int(0),
                    ..Default::default()
                }),
                want: json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "oomScoreAdj": 0}}),
            },
        ],
        &DefaultResolvers,
    );
    let error = fail(
        json!({}),
        &linux(LinuxContainerAdjustment {
            oom_score_adj: optional::int(i64::from(i32::MAX) + 1),
            ..Default::default()
        }),
        &DefaultResolvers,
    );
    assert_eq!(error.field(), "linux.oom_score_adj");
}

#[test]
fn io_priority_and_scheduler() {
    let process = |extra: serde_json::Value| {
        let mut p = json!({"user": {"uid": 0, "gid": 0}, "cwd": "/"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        json!({ "process": p })
    };
    let with_both = process(json!({
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        "scheduler": {"policy": "SCHED_OTHER"},
    }));
    run(
        vec![
            Case {
                name: "set",
                base: json!({}),
                adjust: linux(LinuxContainerAdjustment {
                    io_priority: Some(LinuxIoPriority {
                        class: IoPrioClass::IoprioClassRt as i32,
                        priority: 2,
                    }),
                    scheduler: Some(LinuxScheduler {
                        policy: LinuxSchedulerPolicy::SchedDeadline as i32,
                        nice: -5,
                        priority: 0,
                        flags: vec![LinuxSchedulerFlag::SchedFlagReclaim as i32],
                        runtime: 100,
                        deadline: 200,
                        period: 300,
                    }),
                    ..Default::default()
                }),
                want: json!({"process": {
                    "user": {"uid": 0, "gid": 0}, "cwd": "",
                    "ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 2},
                    "scheduler": {"policy": "SCHED_DEADLINE", "nice": -5,
                                  "flags": ["SCHED_FLAG_RECLAIM"],
                                  "runtime": 100, "deadline": 200, "period": 300},
                }}),
            },
            Case {
                name: "class NONE and policy SCHED_NONE remove",
                base: with_both.clone(),
                adjust: linux(LinuxContainerAdjustment {
                    io_priority: Some(LinuxIoPriority::default()),
                    scheduler: Some(LinuxScheduler::default()),
                    ..Default::default()
                }),
                want: process(json!({})),
            },
        ],
        &DefaultResolvers,
    );
    for (adjust, field) in [
        (
            LinuxContainerAdjustment {
                io_priority: Some(LinuxIoPriority {
                    class: 42,
                    priority: 0,
                }),
                ..Default::default()
            },
            "linux.io_priority",
        ),
        (
            LinuxContainerAdjustment {
                scheduler: Some(LinuxScheduler {
                    policy: 42,
                    ..Default::default()
                }),
                ..Default::default()
            },
            "linux.scheduler",
        ),
        (
            LinuxContainerAdjustment {
                scheduler: Some(LinuxScheduler {
                    policy: LinuxSchedulerPolicy::SchedFifo as i32,
                    flags: vec![LinuxSchedulerFlag::SchedFlagResetOnFork as i32],
                    ..Default::default()
                }),
                ..Default::default()
            },
            "linux.scheduler",
        ),
    ] {
        assert_eq!(
            fail(with_both.clone(), &linux(adjust), &DefaultResolvers).field(),
            field
        );
    }
}

#[test]
fn seccomp_policy_is_replaced_whole() {
    let policy = LinuxSeccomp {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno: optional::uint32(1u32),
        architectures: vec!["SCMP_ARCH_X86_64".into(), "SCMP_ARCH_AARCH64".into()],
        flags: vec!["SECCOMP_FILTER_FLAG_LOG".into()],
        listener_path: "/run/agent.sock".into(),
        listener_metadata: "meta".into(),
        syscalls: vec![LinuxSyscall {
            names: vec!["read".into(), "write".into()],
            action: "SCMP_ACT_ALLOW".into(),
            errno_ret: None,
            args: vec![LinuxSeccompArg {
                index: 1,
                value: 2,
                value_two: 3,
                op: "SCMP_CMP_MASKED_EQ".into(),
            }],
        }],
    };
    run(
        vec![Case {
            name: "replaced",
            base: json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_KILL",
                                               "syscalls": [{"names": ["x"], "action": "SCMP_ACT_LOG"}]}}}),
            adjust: linux(LinuxContainerAdjustment {
                seccomp_policy: Some(policy.clone()),
                ..Default::default()
            }),
            want: json!({"linux": {"seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "listenerPath": "/run/agent.sock",
                "listenerMetadata": "meta",
                "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
                              "args": [{"index": 1, "value": 2, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}],
            }}}),
        }],
        &DefaultResolvers,
    );
    for broken in [
        LinuxSeccomp {
            default_action: "allow".into(),
            ..policy.clone()
        },
        LinuxSeccomp {
            architectures: vec!["x86".into()],
            ..policy.clone()
        },
        LinuxSeccomp {
            syscalls: vec![LinuxSyscall {
                action: "".into(),
                ..policy.syscalls[0].clone()
            }],
            ..policy.clone()
        },
    ] {
        let adjust = linux(LinuxContainerAdjustment {
            seccomp_policy: Some(broken),
            ..Default::default()
        });
        assert_eq!(
            fail(json!({}), &adjust, &DefaultResolvers).field(),
            "linux.seccomp_policy"
        );
    }
}

#[test]
fn namespace_adjustments() {
    let ns = |typ: &str, path: &str| LinuxNamespace {
        r#type: typ.into(),
        path: path.into(),
    };
    let namespaces = |list: Vec<LinuxNamespace>| {
        linux(LinuxContainerAdjustment {
            namespaces: list,
            ..Default::default()
        })
    };
    let base = json!({"linux": {"namespaces": [
        {"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}, {"type": "ipc"},
    ]}});
    run(
        vec![
            Case {
                name: "replaced in place, new appended",
                base: base.clone(),
                adjust: namespaces(vec![ns("network", "/run/netns/x"), ns("uts", "")]),
                want: json!({"linux": {"namespaces": [
                    {"type": "pid"}, {"type": "network", "path": "/run/netns/x"}, {"type": "ipc"},
                    {"type": "uts"},
                ]}}),
            },
            Case {
                name: "net and mnt aliases",
                base: base.clone(),
                adjust: namespaces(vec![ns("net", ""), ns("mnt", "")]),
                want: json!({"linux": {"namespaces": [
                    {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "mount"},
                ]}}),
            },
            Case {
                name: "removed; removing a missing type is a no-op",
                base: base.clone(),
                adjust: namespaces(vec![ns("-network", ""), ns("-user", "")]),
                want: json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}]}}),
            },
            Case {
                name: "removed then added: appended",
                base: base.clone(),
                adjust: namespaces(vec![ns("-pid", ""), ns("pid", "/proc/9/ns/pid")]),
                want: json!({"linux": {"namespaces": [
                    {"type": "network", "path": "/proc/1/ns/net"}, {"type": "ipc"},
                    {"type": "pid", "path": "/proc/9/ns/pid"},
                ]}}),
            },
        ],
        &DefaultResolvers,
    );
    for bad in ["bogus", "-bogus"] {
        let error = fail(
            base.clone(),
            &namespaces(vec![ns(bad, "")]),
            &DefaultResolvers,
        );
        assert_eq!(error.field(), "linux.namespaces");
    }
}

#[test]
fn sysctl_net_devices_and_memory_policy() {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let net = |pairs: &[(&str, &str)]| -> BTreeMap<String, LinuxNetDevice> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    LinuxNetDevice {
                        name: v.to_string(),
                    },
                )
            })
            .collect()
    };
    run(
        vec![
            Case {
                name: "sysctl set, replaced and removed",
                base: json!({"linux": {"sysctl": {"a": "1", "b": "1", "c": "1"}}}),
                adjust: linux(LinuxContainerAdjustment {
                    sysctl: map(&[
                        ("-a", ""),
                        ("-b", ""),
                        ("b", "2"),
                        ("d", "4"),
                        ("-nope", ""),
                    ]),
                    ..Default::default()
                }),
                want: json!({"linux": {"sysctl": {"b": "2", "c": "1", "d": "4"}}}),
            },
            Case {
                name: "net devices set and removed",
                base: json!({"linux": {"netDevices": {"eth1": {"name": "net1"}}}}),
                adjust: linux(LinuxContainerAdjustment {
                    net_devices: net(&[("-eth1", ""), ("eth2", "net2"), ("eth3", "")]),
                    ..Default::default()
                }),
                want: json!({"linux": {"netDevices": {"eth2": {"name": "net2"}, "eth3": {"name": null}}}}),
            },
            Case {
                name: "memory policy replaced",
                base: json!({"linux": {"memoryPolicy": {"mode": "MPOL_DEFAULT"}}}),
                adjust: linux(LinuxContainerAdjustment {
                    memory_policy: Some(LinuxMemoryPolicy {
                        mode: MpolMode::MpolBind as i32,
                        nodes: "0-1".into(),
                        flags: vec![MpolFlag::MpolFStaticNodes as i32],
                    }),
                    ..Default::default()
                }),
                want: json!({"linux": {"memoryPolicy": {
                    "mode": "MPOL_BIND", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"],
                }}}),
            },
        ],
        &DefaultResolvers,
    );
    let error = fail(
        json!({}),
        &linux(LinuxContainerAdjustment {
            memory_policy: Some(LinuxMemoryPolicy {
                mode: 77,
                ..Default::default()
            }),
            ..Default::default()
        }),
        &DefaultResolvers,
    );
    assert_eq!(error.field(), "linux.memory_policy");
}

#[test]
fn resource_adjustments_merge_into_existing_ones() {
    let every_memory_field = LinuxMemory {
        limit: optional::int64(1000),
        reservation: optional::int64(500),
        swap: optional::int64(2000),
        kernel: optional::int64(300),
        kernel_tcp: optional::int64(200),
        swappiness: optional::uint64(60u64),
        disable_oom_killer: optional::bool(true),
        use_hierarchy: optional::bool(false),
    };
    let every_cpu_field = LinuxCpu {
        shares: optional::uint64(512u64),
        quota: optional::int64(50_000),
        period: optional::uint64(100_000u64),
        realtime_runtime: optional::int64(950),
        realtime_period: optional::uint64(1000u64),
        cpus: "0-3".into(),
        mems: "0".into(),
    };
    let memory_only = |memory: LinuxMemory| {
        resources(LinuxResources {
            memory: Some(memory),
            ..Default::default()
        })
    };
    run(
        vec![
            Case {
                name: "every memory and CPU field, other fields kept",
                base: json!({"linux": {"resources": {
                    "memory": {"limit": 1, "checkBeforeUpdate": true},
                    "cpu": {"shares": 1, "burst": 7},
                    "pids": {"limit": 9},
                }}}),
                adjust: resources(LinuxResources {
                    memory: Some(every_memory_field),
                    cpu: Some(every_cpu_field.clone()),
                    ..Default::default()
                }),
                want: json!({"linux": {"resources": {
                    "memory": {"limit": 1000, "reservation": 500, "swap": 2000, "kernel": 300,
                               "kernelTCP": 200, "swappiness": 60, "disableOOMKiller": true,
                               "useHierarchy": false, "checkBeforeUpdate": true},
                    "cpu": {"shares": 512, "quota": 50_000, "period": 100_000, "realtimeRuntime": 950,
                            "realtimePeriod": 1000, "cpus": "0-3", "mems": "0", "burst": 7},
                    "pids": {"limit": 9},
                }}}),
            },
            Case {
                name: "only the fields set; empty cpus/mems are unset",
                base: json!({"linux": {"resources": {
                    "memory": {"limit": 1, "swap": 1, "reservation": 1},
                    "cpu": {"shares": 1, "quota": 1, "cpus": "0", "mems": "0"},
                }}}),
                adjust: resources(LinuxResources {
                    memory: Some(LinuxMemory {
                        reservation: optional::int64(0),
                        ..Default::default()
                    }),
                    cpu: Some(LinuxCpu {
                        quota: optional::int64(-1),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                want: json!({"linux": {"resources": {
                    "memory": {"limit": 1, "swap": 1, "reservation": 0},
                    "cpu": {"shares": 1, "quota": -1, "cpus": "0", "mems": "0"},
                }}}),
            },
            Case {
                name: "a limit moves the swap limit with it",
                base: json!({"linux": {"resources": {"memory": {"limit": 100, "swap": 100}}}}),
                adjust: memory_only(LinuxMemory {
                    limit: optional::int64(200),
                    ..Default::default()
                }),
                want: json!({"linux": {"resources": {"memory": {"limit": 200, "swap": 200}}}}),
            },
            Case {
                name: "an explicit swap limit wins",
                base: json!({"linux": {"resources": {"memory": {"limit": 100, "swap": 100}}}}),
                adjust: memory_only(LinuxMemory {
                    limit: optional::int64(200),
                    swap: optional::int64(400),
                    ..Default::default()
                }),
                want: json!({"linux": {"resources": {"memory": {"limit": 200, "swap": 400}}}}),
            },
            Case {
                name: "unlimited swap stays unlimited",
                base: json!({"linux": {"resources": {"memory": {"limit": 100, "swap": -1}}}}),
                adjust: memory_only(LinuxMemory {
                    limit: optional::int64(200),
                    ..Default::default()
                }),
                want: json!({"linux": {"resources": {"memory": {"limit": 200, "swap": -1}}}}),
            },
            Case {
                name: "created where missing",
                base: json!({}),
                adjust: resources(LinuxResources {
                    cpu: Some(LinuxCpu {
                        cpus: "1".into(),
                        ..Default::default()
                    }),
                    pids: Some(LinuxPids { limit: 64 }),
                    ..Default::default()
                }),
                want: json!({"linux": {"resources": {"cpu": {"cpus": "1"}, "pids": {"limit": 64}}}}),
            },
            Case {
                name: "hugepages replaced by page size or appended; unified merged",
                base: json!({"linux": {"resources": {
                    "hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "1GB", "limit": 1}],
                    "unified": {"memory.high": "1", "io.weight": "5"},
                }}}),
                adjust: resources(LinuxResources {
                    hugepage_limits: vec![
                        HugepageLimit {
                            page_size: "1GB".into(),
                            limit: 2 << 30,
                        },
                        HugepageLimit {
                            page_size: "64KB".into(),
                            limit: 4096,
                        },
                    ],
                    unified: [("memory.high".to_string(), "2".to_string())].into(),
                    ..Default::default()
                }),
                want: json!({"linux": {"resources": {
                    "hugepageLimits": [
                        {"pageSize": "2MB", "limit": 1},
                        {"pageSize": "1GB", "limit": 2_i64 << 30},
                        {"pageSize": "64KB", "limit": 4096},
                    ],
                    "unified": {"memory.high": "2", "io.weight": "5"},
                }}}),
            },
            Case {
                name: "device rules appended, an identical one moved to the end",
                base: json!({"linux": {"resources": {"devices": [
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                    {"allow": false, "access": "rwm"},
                ]}}}),
                adjust: resources(LinuxResources {
                    devices: vec![
                        LinuxDeviceCgroup {
                            allow: true,
                            r#type: "c".into(),
                            major: optional::int64(1),
                            minor: optional::int64(3),
                            access: "rw".into(),
                        },
                        LinuxDeviceCgroup {
                            allow: true,
                            r#type: "b".into(),
                            major: optional::int64(8),
                            minor: None,
                            access: "r".into(),
                        },
                        LinuxDeviceCgroup::default(),
                    ],
                    ..Default::default()
                }),
                want: json!({"linux": {"resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                    {"allow": true, "type": "b", "major": 8, "access": "r"},
                    {"allow": false, "access": null},
                ]}}}),
            },
        ],
        &DefaultResolvers,
    );

    let out_of_range = resources(LinuxResources {
        hugepage_limits: vec![HugepageLimit {
            page_size: "2MB".into(),
            limit: u64::MAX,
        }],
        ..Default::default()
    });
    assert_eq!(
        fail(json!({}), &out_of_range, &DefaultResolvers).field(),
        "linux.resources.hugepage_limits"
    );
    let bad_rule = resources(LinuxResources {
        devices: vec![LinuxDeviceCgroup {
            r#type: "x".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(
        fail(json!({}), &bad_rule, &DefaultResolvers).field(),
        "linux.resources.devices"
    );
}

#[test]
fn hugetlb_disabled_drops_the_adjustments_limits() {
    let fake = Fake {
        hugetlb: false,
        ..Fake::default()
    };
    let base =
        json!({"linux": {"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}}});
    run(
        vec![Case {
            name: "dropped, existing kept, other resources applied",
            base: base.clone(),
            adjust: resources(LinuxResources {
                hugepage_limits: vec![HugepageLimit {
                    page_size: "2MB".into(),
                    limit: 9,
                }],
                pids: Some(LinuxPids { limit: 5 }),
                ..Default::default()
            }),
            want: json!({"linux": {"resources": {
                "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
                "pids": {"limit": 5},
            }}}),
        }],
        &fake,
    );
}

#[test]
fn blockio_class() {
    let class = |name: &str| {
        resources(LinuxResources {
            blockio_class: optional::string(name),
            ..Default::default()
        })
    };
    let with_blockio = json!({"linux": {"resources": {"blockIO": {"weight": 500}}}});
    run(
        vec![
            Case {
                name: "resolved",
                base: with_blockio.clone(),
                adjust: class("slow"),
                want: json!({"linux": {"resources": {"blockIO": {"weight": 10}}}}),
            },
            Case {
                name: "empty class removes",
                base: with_blockio.clone(),
                adjust: class(""),
                want: json!({"linux": {"resources": {}}}),
            },
            Case {
                name: "resolved to nothing removes",
                base: with_blockio.clone(),
                adjust: class("none"),
                want: json!({"linux": {"resources": {}}}),
            },
            Case {
                name: "removing from a spec without resources creates nothing",
                base: json!({}),
                adjust: class(""),
                want: json!({}),
            },
        ],
        &Fake::stocked(),
    );
    // Default resolvers: an error naming the field, never a silent drop.
    let error = fail(with_blockio.clone(), &class("slow"), &DefaultResolvers);
    assert!(matches!(
        error,
        AdjustError::Resolver {
            field: "linux.resources.blockio_class",
            ..
        }
    ));
    assert!(
        error
            .to_string()
            .starts_with("linux.resources.blockio_class: no block I/O class resolver"),
        "{error}"
    );
    let error = fail(with_blockio, &class("unknown"), &Fake::stocked());
    assert!(
        error
            .to_string()
            .contains("unknown block I/O class unknown"),
        "{error}"
    );
    // ...but clearing needs no resolver.
    let mut spec = spec(json!({}));
    oci::apply(&mut spec, &class(""), &DefaultResolvers).unwrap();
}

#[test]
fn rdt_class_and_rdt() {
    let class = |name: &str| LinuxResources {
        rdt_class: optional::string(name),
        ..Default::default()
    };
    let with_rdt = json!({"linux": {"intelRdt": {"closID": "old", "schemata": ["L3:0=f"]}}});
    run(
        vec![
            Case {
                name: "default: the class name is the closID, replacing intelRdt",
                base: with_rdt.clone(),
                adjust: resources(class("gold")),
                want: json!({"linux": {"intelRdt": {"closID": "gold"}}}),
            },
            Case {
                name: "empty class removes",
                base: with_rdt.clone(),
                adjust: resources(class("")),
                want: json!({"linux": {}}),
            },
            Case {
                name: "rdt: remove, then set fields",
                base: with_rdt.clone(),
                adjust: linux(LinuxContainerAdjustment {
                    rdt: Some(LinuxRdt {
                        remove: true,
                        schemata: optional::strings(["MB:0=50"]),
                        enable_monitoring: optional::bool(true),
                        clos_id: None,
                    }),
                    ..Default::default()
                }),
                want: json!({"linux": {"intelRdt": {"schemata": ["MB:0=50"], "enableMonitoring": true}}}),
            },
            Case {
                name: "rdt: fields merged without remove",
                base: with_rdt.clone(),
                adjust: linux(LinuxContainerAdjustment {
                    rdt: Some(LinuxRdt {
                        clos_id: optional::string("new"),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                want: json!({"linux": {"intelRdt": {"closID": "new", "schemata": ["L3:0=f"]}}}),
            },
            Case {
                name: "rdt remove alone",
                base: with_rdt.clone(),
                adjust: linux(LinuxContainerAdjustment {
                    rdt: Some(LinuxRdt {
                        remove: true,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                want: json!({"linux": {}}),
            },
            Case {
                name: "order: the class first, then rdt fields on top",
                base: json!({}),
                adjust: linux(LinuxContainerAdjustment {
                    resources: Some(class("gold")),
                    rdt: Some(LinuxRdt {
                        schemata: optional::strings(["L3:0=3"]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                want: json!({"linux": {"intelRdt": {"closID": "gold", "schemata": ["L3:0=3"]}}}),
            },
        ],
        &DefaultResolvers,
    );
    run(
        vec![
            Case {
                name: "runtime resolver",
                base: with_rdt.clone(),
                adjust: resources(class("gold")),
                want: json!({"linux": {"intelRdt": {"closID": "COS1"}}}),
            },
            Case {
                name: "resolved to nothing removes",
                base: with_rdt.clone(),
                adjust: resources(class("none")),
                want: json!({"linux": {}}),
            },
        ],
        &Fake::stocked(),
    );
    let error = fail(with_rdt, &resources(class("platinum")), &Fake::stocked());
    assert_eq!(error.field(), "linux.resources.rdt_class");
}

#[test]
fn mount_adjustments() {
    let mounts = |list: Vec<nri_proto::api::Mount>| ContainerAdjustment {
        mounts: list,
        ..Default::default()
    };
    let m = |dest: &str, src: &str| json!({"destination": dest, "type": "bind", "source": src});
    let m_opts = |dest: &str, src: &str, opts: &[&str]| json!({"destination": dest, "type": "bind", "source": src, "options": opts});
    let base = json!({"mounts": [m("/proc", "proc"), m("/data/x", "/h/x"), m("/data", "/h/data")]});
    run(
        vec![
            Case {
                name: "added, then all sorted by depth and destination",
                base: base.clone(),
                adjust: mounts(vec![
                    mount("/a/b/c", "/h/abc", &[]),
                    mount("/b", "/h/b", &[]),
                ]),
                want: json!({"mounts": [
                    m("/b", "/h/b"), m("/data", "/h/data"), m("/proc", "proc"),
                    m("/data/x", "/h/x"), m("/a/b/c", "/h/abc"),
                ]}),
            },
            Case {
                name: "same destination replaced, also in another spelling",
                base: base.clone(),
                adjust: mounts(vec![mount("/data/", "/h/new", &["ro"])]),
                want: json!({"mounts": [
                    m_opts("/data/", "/h/new", &["ro"]), m("/proc", "proc"), m("/data/x", "/h/x"),
                ]}),
            },
            Case {
                name: "removed; removing a missing destination is a no-op",
                base: base.clone(),
                adjust: mounts(vec![removed_mount("/data/x"), removed_mount("/nope")]),
                want: json!({"mounts": [m("/data", "/h/data"), m("/proc", "proc")]}),
            },
            Case {
                name: "order: removal then add of one destination adds",
                base: base.clone(),
                adjust: mounts(vec![
                    removed_mount("/data"),
                    mount("/data", "/h/again", &[]),
                ]),
                want: json!({"mounts": [m("/data", "/h/again"), m("/proc", "proc"), m("/data/x", "/h/x")]}),
            },
            Case {
                name: "order: add then removal of one destination removes",
                base: base.clone(),
                adjust: mounts(vec![
                    mount("/data", "/h/again", &[]),
                    removed_mount("/data"),
                ]),
                want: json!({"mounts": [m("/proc", "proc"), m("/data/x", "/h/x")]}),
            },
            Case {
                name: "removal only, no mounts: nothing created",
                base: json!({}),
                adjust: mounts(vec![removed_mount("/data")]),
                want: json!({}),
            },
        ],
        &DefaultResolvers,
    );
}

#[test]
fn mount_propagation() {
    let mounts = |list: Vec<nri_proto::api::Mount>| ContainerAdjustment {
        mounts: list,
        ..Default::default()
    };
    let m_opts = |dest: &str, src: &str, opts: &[&str]| json!({"destination": dest, "type": "bind", "source": src, "options": opts});
    let m = |dest: &str, src: &str| json!({"destination": dest, "type": "bind", "source": src});
    let root = |prop: &str| json!({"linux": {"rootfsPropagation": prop}});
    run(
        vec![
            Case {
                name: "rshared makes the root rshared",
                base: root("rslave"),
                adjust: mounts(vec![mount("/x", "/shared", &["rbind", "rshared"])]),
                want: json!({"mounts": [m_opts("/x", "/shared", &["rbind", "rshared"])],
                             "linux": {"rootfsPropagation": "rshared"}}),
            },
            Case {
                name: "rslave makes a private root rslave",
                base: json!({}),
                adjust: mounts(vec![mount("/x", "/slave", &["rslave"])]),
                want: json!({"mounts": [m_opts("/x", "/slave", &["rslave"])],
                             "linux": {"rootfsPropagation": "rslave"}}),
            },
            Case {
                name: "rslave keeps an rshared root; shared source accepted",
                base: root("rshared"),
                adjust: mounts(vec![mount("/x", "/shared", &["rslave"])]),
                want: json!({"mounts": [m_opts("/x", "/shared", &["rslave"])],
                             "linux": {"rootfsPropagation": "rshared"}}),
            },
            Case {
                name: "the last propagation option counts",
                base: json!({}),
                adjust: mounts(vec![mount("/x", "/private", &["rshared", "rprivate"])]),
                want: json!({"mounts": [m_opts("/x", "/private", &["rshared", "rprivate"])]}),
            },
            Case {
                // The second source is unknown to the fake: looking it up
                // would fail, so its propagation must not be checked.
                name: "one mount's propagation does not carry over to the next",
                base: json!({}),
                adjust: mounts(vec![
                    mount("/x", "/shared", &["rshared"]),
                    mount("/y", "/unknown", &[]),
                ]),
                want: json!({"mounts": [m_opts("/x", "/shared", &["rshared"]), m("/y", "/unknown")],
                             "linux": {"rootfsPropagation": "rshared"}}),
            },
        ],
        &Fake::stocked(),
    );
    let error = fail(
        json!({}),
        &mounts(vec![mount("/x", "/slave", &["rshared"])]),
        &Fake::stocked(),
    );
    assert_eq!(
        error,
        AdjustError::Propagation {
            destination: "/x".into(),
            host_path: "/slave".into(),
            wanted: "rshared",
            needs: "shared",
            found: MountPropagation::Slave,
        }
    );
    assert!(
        error
            .to_string()
            .starts_with("mounts: /x: rshared propagation"),
        "{error}"
    );
    let error = fail(
        json!({}),
        &mounts(vec![mount("/x", "/private", &["rslave"])]),
        &Fake::stocked(),
    );
    assert!(matches!(
        error,
        AdjustError::Propagation {
            found: MountPropagation::Private,
            ..
        }
    ));
    let error = fail(
        json!({}),
        &mounts(vec![mount("/x", "/unknown", &["rslave"])]),
        &Fake::stocked(),
    );
    assert!(
        matches!(
            error,
            AdjustError::Resolver {
                field: "mounts",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn rlimit_adjustments() {
    let rlimits = |list: &[(&str, u64, u64)]| ContainerAdjustment {
        rlimits: list
            .iter()
            .map(|(t, hard, soft)| PosixRlimit {
                r#type: t.to_string(),
                hard: *hard,
                soft: *soft,
            })
            .collect(),
        ..Default::default()
    };
    let process = |limits: serde_json::Value| json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "rlimits": limits}});
    run(
        vec![
            Case {
                name: "replaced by type in place, new appended",
                base: process(json!([
                    {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                    {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                ])),
                adjust: rlimits(&[("RLIMIT_NPROC", 10, 5), ("RLIMIT_NOFILE", 456, 123)]),
                want: process(json!([
                    {"type": "RLIMIT_NOFILE", "hard": 456, "soft": 123},
                    {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                    {"type": "RLIMIT_NPROC", "hard": 10, "soft": 5},
                ])),
            },
            Case {
                name: "created without a process",
                base: json!({}),
                adjust: rlimits(&[("RLIMIT_NOFILE", 2, 1)]),
                want: json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "",
                                         "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 2, "soft": 1}]}}),
            },
        ],
        &DefaultResolvers,
    );
    assert_eq!(
        fail(
            json!({}),
            &rlimits(&[("RLIMIT_NOFILE", 1, 1), ("NOFILE", 1, 1)]),
            &DefaultResolvers
        )
        .field(),
        "rlimits"
    );
}

#[test]
fn cdi_injection_runs_before_device_adjustments() {
    // The CDI spec adds /dev/gpu0; a plugin removes it in the same
    // adjustment. Devices come after CDI, so it is gone.
    let adjust = ContainerAdjustment {
        cdi_devices: vec![CdiDevice {
            name: "vendor.com/gpu=gpu0".into(),
        }],
        linux: Some(LinuxContainerAdjustment {
            devices: vec![device("-/dev/gpu0", "", 0, 0)],
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut spec = spec(json!({}));
    oci::apply(&mut spec, &adjust, &Fake::default()).unwrap();
    assert_eq!(json(&spec), json!({"linux": {"devices": []}}));
}

#[test]
fn a_failing_step_leaves_the_spec_untouched() {
    // Steps before the block I/O class succeed and write to the spec; the
    // class then fails. The caller's spec must not show the earlier steps.
    let adjust = ContainerAdjustment {
        annotations: [("a".to_string(), "2".to_string())].into(),
        env: vec![kv("B", "2")],
        linux: Some(LinuxContainerAdjustment {
            resources: Some(LinuxResources {
                memory: Some(LinuxMemory {
                    limit: optional::int64(5),
                    ..Default::default()
                }),
                blockio_class: optional::string("slow"),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mounts: vec![mount("/m", "/h", &[])],
        ..Default::default()
    };
    let error = fail(a_full_spec(), &adjust, &DefaultResolvers);
    assert_eq!(error.field(), "linux.resources.blockio_class");
}

#[test]
fn everything_into_an_empty_spec() {
    // No process, no linux: every step creates what it needs, nothing panics.
    let adjust = ContainerAdjustment {
        annotations: [("a".to_string(), "1".to_string())].into(),
        env: vec![kv("A", "1")],
        args: vec!["run".into()],
        hooks: Some(Hooks {
            poststop: vec![Hook {
                path: "/h".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        rlimits: vec![PosixRlimit {
            r#type: "RLIMIT_NOFILE".into(),
            hard: 2,
            soft: 1,
        }],
        mounts: vec![mount("/m", "/shared", &["rshared"])],
        linux: Some(LinuxContainerAdjustment {
            devices: vec![device("/dev/null", "c", 1, 3)],
            resources: Some(LinuxResources {
                memory: Some(LinuxMemory {
                    limit: optional::int64(5),
                    ..Default::default()
                }),
                cpu: Some(LinuxCpu {
                    shares: optional::uint64(2u64),
                    ..Default::default()
                }),
                hugepage_limits: vec![HugepageLimit {
                    page_size: "2MB".into(),
                    limit: 1,
                }],
                unified: [("k".to_string(), "v".to_string())].into(),
                devices: vec![LinuxDeviceCgroup {
                    allow: false,
                    access: "rwm".into(),
                    ..Default::default()
                }],
                pids: Some(LinuxPids { limit: 3 }),
                blockio_class: optional::string("slow"),
                rdt_class: optional::string("gold"),
            }),
            cgroups_path: "/cg".into(),
            oom_score_adj: optional::int(1),
            io_priority: Some(LinuxIoPriority {
                class: IoPrioClass::IoprioClassIdle as i32,
                priority: 7,
            }),
            seccomp_policy: Some(LinuxSeccomp {
                default_action: "SCMP_ACT_ALLOW".into(),
                ..Default::default()
            }),
            namespaces: vec![LinuxNamespace {
                r#type: "pid".into(),
                path: String::new(),
            }],
            sysctl: [("net.x".to_string(), "1".to_string())].into(),
            net_devices: [("eth0".to_string(), LinuxNetDevice { name: "e".into() })].into(),
            scheduler: Some(LinuxScheduler {
                policy: LinuxSchedulerPolicy::SchedBatch as i32,
                ..Default::default()
            }),
            rdt: Some(LinuxRdt {
                enable_monitoring: optional::bool(false),
                ..Default::default()
            }),
            memory_policy: Some(LinuxMemoryPolicy {
                mode: MpolMode::MpolLocal as i32,
                ..Default::default()
            }),
        }),
        cdi_devices: vec![],
    };
    let mut spec = spec(json!({}));
    oci::apply(&mut spec, &adjust, &Fake::stocked()).unwrap();
    assert_eq!(
        json(&spec),
        json!({
            "annotations": {"a": "1"},
            "hooks": {"poststop": [{"path": "/h"}]},
            "mounts": [{"destination": "/m", "type": "bind", "source": "/shared", "options": ["rshared"]}],
            "process": {
                "user": {"uid": 0, "gid": 0}, "cwd": "",
                "env": ["A=1"], "args": ["run"],
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 2, "soft": 1}],
                "oomScoreAdj": 1,
                "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 7},
                "scheduler": {"policy": "SCHED_BATCH"},
            },
            "linux": {
                "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}],
                "resources": {
                    "devices": [
                        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                        {"allow": false, "access": "rwm"},
                    ],
                    "memory": {"limit": 5, "swap": 5},
                    "cpu": {"shares": 2},
                    "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
                    "unified": {"k": "v"},
                    "pids": {"limit": 3},
                    "blockIO": {"weight": 10},
                },
                "cgroupsPath": "/cg",
                "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"},
                "namespaces": [{"type": "pid"}],
                "sysctl": {"net.x": "1"},
                "netDevices": {"eth0": {"name": "e"}},
                "memoryPolicy": {"mode": "MPOL_LOCAL"},
                "intelRdt": {"closID": "COS1", "enableMonitoring": false},
                "rootfsPropagation": "rshared",
            },
        })
    );
}
