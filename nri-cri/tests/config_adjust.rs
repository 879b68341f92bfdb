#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A merged NRI adjustment applied to a CRI container config: one table row
//! per adjustment field, removals, replacements, and what CRI cannot say.

use nri_cri::config_adjust::{Inexpressible, apply};
use nri_cri::cri;
use nri_proto::api::{
    CdiDevice, ContainerAdjustment, Hook, Hooks, KeyValue, LinuxContainerAdjustment, LinuxDevice,
    LinuxMemory, LinuxPids, LinuxResources, Mount, PosixRlimit,
};
use nri_proto::optional;

fn base() -> cri::ContainerConfig {
    cri::ContainerConfig {
        command: vec!["/entry".into()],
        args: vec!["arg".into()],
        envs: vec![
            cri::KeyValue {
                key: "KEEP".into(),
                value: b"1".to_vec(),
            },
            cri::KeyValue {
                key: "CHANGE".into(),
                value: b"old".to_vec(),
            },
        ],
        annotations: [
            ("keep".to_string(), "1".to_string()),
            ("drop".to_string(), "1".to_string()),
        ]
        .into(),
        mounts: vec![cri::Mount {
            container_path: "/data".into(),
            host_path: "/old".into(),
            ..Default::default()
        }],
        devices: vec![cri::Device {
            container_path: "/dev/old".into(),
            host_path: "/dev/old".into(),
            permissions: "r".into(),
        }],
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                memory_limit_in_bytes: 100,
                cpu_shares: 2,
                oom_score_adj: 5,
                memory_swap_limit_in_bytes: 300,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn applied(adjustment: ContainerAdjustment) -> cri::ContainerConfig {
    let mut config = base();
    apply(&mut config, &adjustment).expect("expressible");
    config
}

fn env(config: &cri::ContainerConfig) -> Vec<(String, String)> {
    config
        .envs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect()
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

#[test]
fn an_empty_adjustment_changes_nothing() {
    assert_eq!(applied(ContainerAdjustment::default()), base());
    let hollow = ContainerAdjustment {
        hooks: Some(Hooks::default()),
        linux: Some(LinuxContainerAdjustment::default()),
        ..Default::default()
    };
    assert_eq!(applied(hollow), base());
}

#[test]
fn annotations_are_set_replaced_and_removed() {
    let config = applied(ContainerAdjustment {
        annotations: [
            ("new".to_string(), "v".to_string()),
            ("keep".to_string(), "2".to_string()),
            ("-drop".to_string(), String::new()),
            ("-absent".to_string(), String::new()),
        ]
        .into(),
        ..Default::default()
    });
    assert_eq!(
        config.annotations,
        [
            ("keep".to_string(), "2".to_string()),
            ("new".to_string(), "v".to_string())
        ]
        .into()
    );
}

#[test]
fn env_is_replaced_in_place_appended_and_removed() {
    let config = applied(ContainerAdjustment {
        env: vec![
            kv("CHANGE", "new"),
            kv("ADD", "x"),
            kv("-KEEP", ""),
            kv("-NONE", ""),
        ],
        ..Default::default()
    });
    assert_eq!(
        env(&config),
        vec![
            ("CHANGE".to_string(), "new".to_string()),
            ("ADD".to_string(), "x".to_string())
        ]
    );
}

#[test]
fn args_replace_the_whole_command_line_only_when_given() {
    let config = applied(ContainerAdjustment {
        args: vec!["/bin/other".into(), "-v".into()],
        ..Default::default()
    });
    assert_eq!(config.command, vec!["/bin/other", "-v"]);
    assert!(config.args.is_empty());
}

#[test]
fn cdi_devices_are_added_once() {
    let device = CdiDevice {
        name: "vendor.com/gpu=0".into(),
    };
    let config = applied(ContainerAdjustment {
        cdi_devices: vec![device.clone(), device],
        ..Default::default()
    });
    assert_eq!(config.cdi_devices.len(), 1);
}

#[test]
fn devices_are_added_by_number_replaced_and_removed() {
    let config = applied(ContainerAdjustment {
        linux: Some(LinuxContainerAdjustment {
            devices: vec![
                LinuxDevice {
                    path: "/dev/nri-null".into(),
                    r#type: "c".into(),
                    major: 1,
                    minor: 3,
                    ..Default::default()
                },
                LinuxDevice {
                    path: "/dev/sdz".into(),
                    r#type: "b".into(),
                    major: 8,
                    minor: 16,
                    ..Default::default()
                },
                LinuxDevice {
                    path: "-/dev/old".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        ..Default::default()
    });
    let devices: Vec<_> = config
        .devices
        .iter()
        .map(|d| (d.container_path.as_str(), d.permissions.as_str()))
        .collect();
    assert_eq!(devices, vec![("/dev/nri-null", "rwm"), ("/dev/sdz", "rwm")]);
    // The host's node of those numbers: udev's link, or one found in /dev.
    assert!(
        is_node(&config.devices[0].host_path, false, 1, 3),
        "{:?}",
        config.devices[0]
    );
    // No host has 8:16 everywhere: then udev's path, for the runtime to
    // report missing.
    let sdz = &config.devices[1].host_path;
    assert!(
        sdz == "/dev/block/8:16" || is_node(sdz, true, 8, 16),
        "{sdz}"
    );
}

/// Whether `path` is a device node (block or character) with these numbers.
fn is_node(path: &str, block: bool, major: u32, minor: u32) -> bool {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    let kind = metadata.file_type();
    let rdev = metadata.rdev();
    (if block {
        kind.is_block_device()
    } else {
        kind.is_char_device()
    }) && rustix::fs::major(rdev) == major
        && rustix::fs::minor(rdev) == minor
}

#[test]
fn mounts_replace_their_destination_and_keep_propagation_and_read_only() {
    let config = applied(ContainerAdjustment {
        mounts: vec![
            Mount {
                destination: "/data".into(),
                r#type: "bind".into(),
                source: "/new".into(),
                options: vec!["rbind".into(), "ro".into(), "rshared".into()],
            },
            Mount {
                destination: "/extra".into(),
                source: "/host/extra".into(),
                options: vec!["bind".into(), "rslave".into()],
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    assert_eq!(config.mounts.len(), 2);
    let data = &config.mounts[0];
    assert_eq!((data.host_path.as_str(), data.readonly), ("/new", true));
    assert_eq!(
        data.propagation(),
        cri::MountPropagation::PropagationBidirectional
    );
    assert_eq!(
        config.mounts[1].propagation(),
        cri::MountPropagation::PropagationHostToContainer
    );
}

#[test]
fn a_mount_removal_removes_and_an_add_of_the_same_destination_after_it_wins() {
    let config = applied(ContainerAdjustment {
        mounts: vec![
            Mount {
                destination: "-/data".into(),
                ..Default::default()
            },
            Mount {
                destination: "/data".into(),
                source: "/again".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    assert_eq!(config.mounts.len(), 1);
    assert_eq!(config.mounts[0].host_path, "/again");
}

#[test]
fn resources_are_merged_and_keep_swap_and_the_oom_score() {
    let config = applied(ContainerAdjustment {
        linux: Some(LinuxContainerAdjustment {
            resources: Some(LinuxResources {
                memory: Some(LinuxMemory {
                    limit: optional::int64(1 << 30),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let resources = config.linux.and_then(|l| l.resources).expect("resources");
    assert_eq!(resources.memory_limit_in_bytes, 1 << 30);
    assert_eq!(resources.memory_swap_limit_in_bytes, 300);
    assert_eq!(resources.oom_score_adj, 5);
    assert_eq!(resources.cpu_shares, 2);
}

#[test]
fn the_oom_score_adjustment_alone_is_applied() {
    let mut config = cri::ContainerConfig::default();
    apply(
        &mut config,
        &ContainerAdjustment {
            linux: Some(LinuxContainerAdjustment {
                oom_score_adj: optional::int(-500),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .expect("expressible");
    assert_eq!(
        config
            .linux
            .and_then(|l| l.resources)
            .map(|r| r.oom_score_adj),
        Some(-500)
    );
}

#[test]
fn what_cri_cannot_express_is_named_and_nothing_is_applied() {
    let adjustment = ContainerAdjustment {
        env: vec![kv("APPLIED", "no")],
        hooks: Some(Hooks {
            prestart: vec![Hook {
                path: "/hook".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        rlimits: vec![PosixRlimit {
            r#type: "RLIMIT_NOFILE".into(),
            hard: 10,
            soft: 10,
        }],
        mounts: vec![Mount {
            destination: "/tmp".into(),
            r#type: "tmpfs".into(),
            source: "tmpfs".into(),
            ..Default::default()
        }],
        linux: Some(LinuxContainerAdjustment {
            devices: vec![LinuxDevice {
                path: "/dev/x".into(),
                uid: optional::uint32(1u32),
                ..Default::default()
            }],
            resources: Some(LinuxResources {
                pids: Some(LinuxPids { limit: 5 }),
                ..Default::default()
            }),
            sysctl: [("net.core.somaxconn".to_string(), "1".to_string())].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut config = base();
    let error: Inexpressible = apply(&mut config, &adjustment).expect_err("inexpressible");
    assert_eq!(
        error.parts,
        vec![
            "hooks",
            "rlimits",
            "linux.sysctl",
            "linux.devices[/dev/x]: uid",
            "linux.resources.pids",
            "mounts[/tmp]: type tmpfs",
        ]
    );
    assert_eq!(config, base(), "nothing applied");
    assert!(error.to_string().contains("rlimits"));
}
