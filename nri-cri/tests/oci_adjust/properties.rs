//! Property tests: idempotence of the map- and list-like adjustments, and
//! arbitrary adjustments never panicking nor half-applying.

use nri_cri::oci::{self, DefaultResolvers};
use nri_proto::api::{
    CdiDevice, ContainerAdjustment, Hook, Hooks, HugepageLimit, KeyValue, LinuxContainerAdjustment,
    LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxIoPriority, LinuxMemory, LinuxMemoryPolicy,
    LinuxNamespace, LinuxNetDevice, LinuxPids, LinuxRdt, LinuxResources, LinuxScheduler,
    LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, Mount, PosixRlimit,
};
use nri_proto::{optional, removal};
use oci_spec::runtime::Spec;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::support::{Fake, spec};

/// A key from a small set, so keys collide, maybe marked for removal.
fn key(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(names), any::<bool>()).prop_map(|(name, remove)| {
        if remove {
            removal::mark(name)
        } else {
            name.to_string()
        }
    })
}

const ENV_KEYS: &[&str] = &["A", "B", "C", "PATH"];
const DESTINATIONS: &[&str] = &["/", "/a", "/a/", "//a", "/a/b", "/b", "/c/d/e", "/a/../b"];
const SOURCES: &[&str] = &["/shared", "/slave", "/private", "/unknown", ""];
const OPTIONS: &[&str] = &["ro", "rbind", "rshared", "rslave", "rprivate"];

fn nri_mount() -> impl Strategy<Value = Mount> {
    (
        key(DESTINATIONS),
        prop::sample::select(SOURCES),
        vec(prop::sample::select(OPTIONS), 0..3),
    )
        .prop_map(|(destination, source, options)| Mount {
            destination,
            r#type: "bind".into(),
            source: source.into(),
            options: options.into_iter().map(String::from).collect(),
        })
}

/// A spec with some environment, annotations and mounts, each maybe absent.
fn base_spec() -> impl Strategy<Value = Spec> {
    (
        option::of(vec(
            (prop::sample::select(ENV_KEYS), option::of("[a-z=]{0,3}")),
            0..5,
        )),
        option::of(btree_map(
            prop::sample::select(ENV_KEYS),
            "[a-z]{0,2}",
            0..4,
        )),
        option::of(vec(
            (
                prop::sample::select(DESTINATIONS),
                prop::sample::select(SOURCES),
            ),
            0..4,
        )),
        option::of(prop::sample::select(&["rshared", "rslave", "rprivate"][..])),
    )
        .prop_map(|(env, annotations, mounts, root)| {
            let mut value = json!({});
            if let Some(env) = env {
                let env: Vec<String> = env
                    .into_iter()
                    .map(|(k, v)| v.map_or_else(|| k.to_string(), |v| format!("{k}={v}")))
                    .collect();
                value["process"] = json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "env": env});
            }
            if let Some(annotations) = annotations {
                value["annotations"] = json!(annotations);
            }
            if let Some(mounts) = mounts {
                let mounts: Vec<Value> = mounts
                    .into_iter()
                    .map(|(d, s)| json!({"destination": d, "source": s}))
                    .collect();
                value["mounts"] = json!(mounts);
            }
            if let Some(root) = root {
                value["linux"] = json!({"rootfsPropagation": root});
            }
            spec(value)
        })
}

/// Adjustments of the idempotent parts: environment, annotations, mounts.
fn idempotent_adjustment() -> impl Strategy<Value = ContainerAdjustment> {
    (
        vec((key(ENV_KEYS), "[a-z]{0,2}"), 0..6),
        btree_map(key(ENV_KEYS), "[a-z]{0,2}", 0..6),
        vec(nri_mount(), 0..5),
    )
        .prop_map(|(env, annotations, mounts)| ContainerAdjustment {
            env: env
                .into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect(),
            annotations,
            mounts,
            ..Default::default()
        })
}

/// Mostly one of `names` (valid values), sometimes any short string.
fn small_string(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        9 => prop::sample::select(names).prop_map(String::from),
        1 => "[ -~]{0,4}",
    ]
}

/// Mostly a small number around zero, sometimes any.
fn number() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -2000i64..2000, 1 => any::<i64>()]
}

/// An enum value: mostly a valid one, sometimes anything.
fn enum_value(max: i32) -> impl Strategy<Value = i32> {
    prop_oneof![9 => 0..=max, 1 => any::<i32>()]
}

prop_compose! {
    fn resources()(
        memory in option::of((option::of(number()), option::of(number()), option::of(any::<u64>()), option::of(any::<bool>()))),
        cpu in option::of((option::of(any::<u64>()), option::of(any::<i64>()), "[0-9,-]{0,3}")),
        hugepages in vec((small_string(&["2MB", "1GB"]), prop_oneof![0u64..4096, any::<u64>()]), 0..3),
        unified in btree_map("[a-z.]{1,4}", "[0-9]{0,2}", 0..3),
        devices in vec((any::<bool>(), small_string(&["a", "b", "c", ""]), option::of(any::<i64>()), small_string(&["rwm", "r", ""])), 0..3),
        pids in option::of(any::<i64>()),
        blockio in option::of(small_string(&["slow", "none", ""])),
        rdt in option::of(small_string(&["gold", "none", ""])),
    ) -> LinuxResources {
        LinuxResources {
            memory: memory.map(|(limit, swap, swappiness, flag)| LinuxMemory {
                limit: limit.and_then(optional::int64),
                swap: swap.and_then(optional::int64),
                swappiness: swappiness.and_then(optional::uint64),
                disable_oom_killer: flag.and_then(optional::bool),
                ..Default::default()
            }),
            cpu: cpu.map(|(shares, quota, cpus)| LinuxCpu {
                shares: shares.and_then(optional::uint64),
                quota: quota.and_then(optional::int64),
                cpus,
                ..Default::default()
            }),
            hugepage_limits: hugepages.into_iter().map(|(page_size, limit)| HugepageLimit { page_size, limit }).collect(),
            unified,
            devices: devices.into_iter().map(|(allow, r#type, major, access)| LinuxDeviceCgroup {
                allow, r#type, major: major.and_then(optional::int64), minor: None, access,
            }).collect(),
            pids: pids.map(|limit| LinuxPids { limit }),
            blockio_class: blockio.and_then(optional::string),
            rdt_class: rdt.and_then(optional::string),
        }
    }
}

prop_compose! {
    fn linux_adjustment()(
        devices in vec((key(&["/dev/a", "/dev/b", "/dev//a"]), small_string(&["b", "c", "u", "p"]), 0i64..3, 0i64..3), 0..4),
        resources in option::of(resources()),
        cgroups_path in "[a-z/]{0,3}",
        oom in option::of(number()),
        io in option::of((enum_value(3), any::<i32>())),
        seccomp in option::of((small_string(&["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"]), vec(small_string(&["SCMP_ARCH_X86_64"]), 0..2), vec((small_string(&["SCMP_ACT_LOG"]), any::<u32>(), small_string(&["SCMP_CMP_EQ"])), 0..2))),
        namespaces in vec((key(&["pid", "network", "net", "mnt", "user", "bogus"]), "[a-z/]{0,3}"), 0..4),
        sysctl in btree_map(key(&["a", "b"]), "[0-9]{0,2}", 0..3),
        net_devices in btree_map(key(&["eth0", "eth1"]), "[a-z]{0,2}", 0..3),
        scheduler in option::of((enum_value(7), vec(enum_value(6), 0..3), any::<i32>(), any::<u64>())),
        rdt in option::of((any::<bool>(), option::of("[A-Z0-9]{0,3}"), option::of(vec("[A-Z0-9:=]{0,4}", 0..2)), option::of(any::<bool>()))),
        memory_policy in option::of((enum_value(6), "[0-9-]{0,3}", vec(enum_value(2), 0..3))),
    ) -> LinuxContainerAdjustment {
        LinuxContainerAdjustment {
            devices: devices.into_iter().map(|(path, r#type, major, minor)| LinuxDevice {
                path, r#type, major, minor, ..Default::default()
            }).collect(),
            resources,
            cgroups_path,
            oom_score_adj: oom.and_then(optional::int),
            io_priority: io.map(|(class, priority)| LinuxIoPriority { class, priority }),
            seccomp_policy: seccomp.map(|(default_action, architectures, syscalls)| LinuxSeccomp {
                default_action,
                architectures,
                syscalls: syscalls.into_iter().map(|(action, index, op)| LinuxSyscall {
                    names: vec!["read".into()],
                    action,
                    errno_ret: None,
                    args: vec![LinuxSeccompArg { index, value: 1, value_two: 0, op }],
                }).collect(),
                ..Default::default()
            }),
            namespaces: namespaces.into_iter().map(|(r#type, path)| LinuxNamespace { r#type, path }).collect(),
            sysctl,
            net_devices: net_devices.into_iter().map(|(k, name)| (k, LinuxNetDevice { name })).collect(),
            scheduler: scheduler.map(|(policy, flags, nice, runtime)| LinuxScheduler {
                policy, flags, nice, runtime, ..Default::default()
            }),
            rdt: rdt.map(|(remove, clos_id, schemata, monitoring)| LinuxRdt {
                remove,
                clos_id: clos_id.and_then(optional::string),
                schemata: schemata.and_then(optional::strings),
                enable_monitoring: monitoring.and_then(optional::bool),
            }),
            memory_policy: memory_policy.map(|(mode, nodes, flags)| LinuxMemoryPolicy { mode, nodes, flags }),
        }
    }
}

prop_compose! {
    fn any_adjustment()(
        base in idempotent_adjustment(),
        args in vec("[a-z]{0,2}", 0..3),
        hooks in option::of(vec("[a-z/]{0,3}", 0..3)),
        linux in option::of(linux_adjustment()),
        rlimits in vec((small_string(&["RLIMIT_NOFILE", "RLIMIT_CORE"]), any::<u64>(), any::<u64>()), 0..3),
        cdi in vec("[a-z./=]{0,5}", 0..2),
    ) -> ContainerAdjustment {
        ContainerAdjustment {
            args,
            hooks: hooks.map(|paths| Hooks {
                poststop: paths.into_iter().map(|path| Hook { path, ..Default::default() }).collect(),
                ..Default::default()
            }),
            linux,
            rlimits: rlimits.into_iter().map(|(r#type, hard, soft)| PosixRlimit { r#type, hard, soft }).collect(),
            cdi_devices: cdi.into_iter().map(|name| CdiDevice { name }).collect(),
            ..base
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn env_annotations_and_mounts_apply_idempotently(
        base in base_spec(),
        adjust in idempotent_adjustment(),
    ) {
        let resolvers = Fake::stocked();
        let mut once = base.clone();
        match oci::apply(&mut once, &adjust, &resolvers) {
            Err(_) => prop_assert_eq!(&once, &base),
            Ok(()) => {
                let mut twice = once.clone();
                prop_assert_eq!(oci::apply(&mut twice, &adjust, &resolvers), Ok(()));
                prop_assert_eq!(twice, once);
            }
        }
    }

    #[test]
    fn arbitrary_adjustments_never_panic_nor_half_apply(
        base in base_spec(),
        adjust in any_adjustment(),
        hugetlb in any::<bool>(),
    ) {
        let fake = Fake { hugetlb, ..Fake::stocked() };
        for resolvers in [&fake as &dyn oci::Resolvers, &DefaultResolvers] {
            let mut adjusted = base.clone();
            match oci::apply(&mut adjusted, &adjust, resolvers) {
                Ok(()) => {
                    prop_assert!(serde_json::to_value(&adjusted).is_ok());
                    // A second application may fail, but must not panic either.
                    let _ = oci::apply(&mut adjusted, &adjust, resolvers);
                }
                Err(error) => {
                    prop_assert_eq!(&adjusted, &base);
                    prop_assert!(error.to_string().starts_with(error.field()));
                }
            }
        }
    }
}
