//! The merger of one CreateContainer event.

use std::borrow::Cow;

use nri_proto::api::{
    Container, ContainerAdjustment, ContainerEviction, ContainerUpdate, CreateContainerResponse,
    PodSandbox,
};

use super::owners::{Claims, Owners};
use super::update::{Target, UpdateSet};
use super::{MergeError, adjustment, all_or_nothing};
use crate::transport::ContainerEventRef;

/// The merger of one CreateContainer event.
///
/// Plugins adjust the container being created and may update other
/// containers. Each plugin is sent the container as adjusted by the plugins
/// before it ([`CreateMerge::request`]). The merger borrows the pod and the
/// container and copies the container only when a plugin's adjustment has
/// to be shown to a later plugin.
#[derive(Debug, Clone)]
pub struct CreateMerge<'a> {
    pod: Option<&'a PodSandbox>,
    /// The container as the next plugin is sent it: the runtime's own until
    /// an adjustment changes it (copy-on-write). Copying the container for
    /// every creation was about 15% of the runtime's CPU time with one WASM
    /// plugin, and dropping the copy another few per cent; without it
    /// CreateContainer's p50 went from 10.4 to 5.6 µs in `nri-harness
    /// bench --transport wasm --plugins 1`.
    container: Cow<'a, Container>,
    adjust: ContainerAdjustment,
    updates: UpdateSet,
    evict: Vec<ContainerEviction>,
    owners: Owners,
}

impl<'a> CreateMerge<'a> {
    /// Starts merging. Plugins see the container with every map, list and
    /// sub-message an adjustment can change present, if empty; a container
    /// that lacks one is copied here to add it.
    pub fn new(request: impl Into<ContainerEventRef<'a>>) -> Self {
        let request = request.into();
        let container = match request.container {
            Some(container) if adjustment::is_initialized(container) => Cow::Borrowed(container),
            container => {
                let mut container = container.cloned().unwrap_or_default();
                adjustment::initialize(&mut container);
                Cow::Owned(container)
            }
        };
        CreateMerge {
            pod: request.pod,
            container,
            adjust: adjustment::empty(),
            updates: UpdateSet::default(),
            evict: Vec::new(),
            owners: Owners::new(),
        }
    }

    /// The request with the container as adjusted so far: what the next
    /// plugin is sent.
    pub fn request(&self) -> ContainerEventRef<'_> {
        ContainerEventRef {
            pod: self.pod,
            container: Some(&self.container),
        }
    }

    /// Merges the reply of `plugin` (`"<idx>-<name>"`): its adjustment, its
    /// updates of other containers and its evictions. On an error nothing of
    /// the reply is kept.
    pub fn apply(
        &mut self,
        plugin: &str,
        reply: CreateContainerResponse,
    ) -> Result<(), MergeError> {
        all_or_nothing(self, |merge| merge.apply_unguarded(plugin, reply, true))
    }

    /// [`CreateMerge::apply`] without the copy that restores the merger on
    /// an error, for callers that drop the merger on an error anyway.
    /// `seen`: whether a later plugin is sent the adjusted container.
    pub(crate) fn apply_unguarded(
        &mut self,
        plugin: &str,
        reply: CreateContainerResponse,
        seen: bool,
    ) -> Result<(), MergeError> {
        let id = self.container.id.clone();
        if let Some(adjust) = reply.adjust {
            // The merged adjustment never reads the container, so when
            // nobody will see the adjusted container (the last plugin, the
            // usual case of one plugin) its changes go to a scratch one
            // instead of a copy of the runtime's.
            let mut scratch = Container::default();
            let container = match (&mut self.container, seen) {
                (Cow::Borrowed(_), false) => &mut scratch,
                (container, _) => container.to_mut(),
            };
            let mut claims = Claims::new(&mut self.owners, &id, plugin);
            adjustment::apply(&mut claims, adjust, &mut self.adjust, container)?;
        }
        let mut target = Target::Created(&id);
        self.updates
            .merge(&mut self.owners, plugin, reply.update, &mut target)?;
        self.evict.extend(reply.evict);
        Ok(())
    }

    /// Who set what so far.
    pub fn owners(&self) -> &Owners {
        &self.owners
    }

    /// The merged adjustment so far.
    pub fn adjustment(&self) -> &ContainerAdjustment {
        &self.adjust
    }

    /// The merged updates of other containers so far, in order of first
    /// appearance.
    pub fn updates(&self) -> &[ContainerUpdate] {
        self.updates.as_slice()
    }

    /// What [`finish`](Self::finish) returns when no plugin took part (an
    /// empty adjustment, no updates, no evictions), without a request to
    /// merge into: the runtime API layer's reply when nobody subscribed.
    pub(crate) fn reply_without_plugins() -> CreateContainerResponse {
        CreateContainerResponse {
            adjust: Some(adjustment::empty()),
            update: Vec::new(),
            evict: Vec::new(),
        }
    }

    /// The merged reply: the adjustment (with present-but-empty hooks, Linux,
    /// resources, memory and CPU parts), the updates in order of first
    /// appearance and the evictions in order.
    pub fn finish(self) -> CreateContainerResponse {
        CreateContainerResponse {
            adjust: Some(self.adjust),
            update: self.updates.into_vec(),
            evict: self.evict,
        }
    }
}

#[cfg(test)]
mod tests {
    use nri_proto::api::{
        CdiDevice, Field, HugepageLimit, LinuxContainerAdjustment, LinuxDevice, LinuxMemoryPolicy,
        LinuxNamespace, LinuxRdt, LinuxResources, LinuxSeccomp, LinuxSyscall, Mount, MpolFlag,
        MpolMode, PosixRlimit,
    };
    use nri_proto::optional;

    use super::*;
    use crate::merge::testutil::*;

    #[test]
    fn the_reply_without_plugins_is_merging_no_reply() {
        let merged = CreateMerge::new(ContainerEventRef::default()).finish();
        assert_eq!(CreateMerge::reply_without_plugins(), merged);
    }

    /// S1–S23 (T:633-935) except S3: each adjustment alone, as plugin
    /// 00-test sends it.
    fn single_plugin_cases() -> Vec<(&'static str, ContainerAdjustment)> {
        let linux_part = |part: LinuxContainerAdjustment| linux(part);
        vec![
            ("S1", annotations(&[("key", "00-test")])),
            (
                "S2",
                ContainerAdjustment {
                    mounts: vec![mount("/mnt/test", "/dev/00-test")],
                    ..Default::default()
                },
            ),
            (
                "S4",
                ContainerAdjustment {
                    env: vec![env("key", "00-test")],
                    ..Default::default()
                },
            ),
            (
                "S5",
                ContainerAdjustment {
                    args: ["echo", "updated", "argument", "list"]
                        .map(String::from)
                        .into(),
                    ..Default::default()
                },
            ),
            ("S6", hooks("/bin/00-test")),
            (
                "S7",
                linux_part(LinuxContainerAdjustment {
                    devices: vec![device("/dev/test", 100)],
                    ..Default::default()
                }),
            ),
            (
                "S8",
                linux_part(LinuxContainerAdjustment {
                    namespaces: vec![LinuxNamespace {
                        r#type: "cgroup".into(),
                        path: "/var/run/cgroupns/replaced".into(),
                    }],
                    ..Default::default()
                }),
            ),
            (
                "S9",
                ContainerAdjustment {
                    rlimits: vec![PosixRlimit {
                        r#type: "nofile".into(),
                        soft: 123,
                        hard: 456,
                    }],
                    ..Default::default()
                },
            ),
            (
                "S10",
                ContainerAdjustment {
                    cdi_devices: vec![CdiDevice {
                        name: "vendor0.com/dev=dev0".into(),
                    }],
                    ..Default::default()
                },
            ),
            ("S11", io_priority(5)),
            ("S12", net_devices(&[("hostIf", "containerIf")])),
            ("S13", scheduler(10)),
            (
                "S14",
                linux_part(LinuxContainerAdjustment {
                    sysctl: map(&[("net.core.somaxconn", "256".to_string())]),
                    ..Default::default()
                }),
            ),
            (
                "S15",
                linux_part(LinuxContainerAdjustment {
                    memory_policy: Some(LinuxMemoryPolicy {
                        mode: MpolMode::MpolInterleave as i32,
                        nodes: "0,1".into(),
                        flags: vec![MpolFlag::MpolFStaticNodes as i32],
                    }),
                    ..Default::default()
                }),
            ),
            (
                "S16",
                resources(LinuxResources {
                    cpu: Some(cpu()),
                    ..Default::default()
                }),
            ),
            (
                "S17",
                resources(LinuxResources {
                    memory: Some(memory()),
                    ..Default::default()
                }),
            ),
            ("S18", classes("00-test")),
            (
                "S19",
                resources(LinuxResources {
                    hugepage_limits: vec![
                        HugepageLimit {
                            page_size: "1M".into(),
                            limit: 4096,
                        },
                        HugepageLimit {
                            page_size: "4M".into(),
                            limit: 1024,
                        },
                    ],
                    ..Default::default()
                }),
            ),
            (
                "S20",
                resources(LinuxResources {
                    unified: map(&[
                        ("resource.1", "value1".to_string()),
                        ("resource.2", "value2".to_string()),
                    ]),
                    ..Default::default()
                }),
            ),
            (
                "S21",
                linux_part(LinuxContainerAdjustment {
                    cgroups_path: "/00-test".into(),
                    ..Default::default()
                }),
            ),
            (
                "S22",
                linux_part(LinuxContainerAdjustment {
                    seccomp_policy: Some(LinuxSeccomp {
                        default_action: "SCMP_ACT_ALLOW".into(),
                        listener_path: "/run/meshuggah-rocks.sock".into(),
                        syscalls: vec![LinuxSyscall {
                            names: vec!["sched_getaffinity".into()],
                            action: "SCMP_ACT_NOTIFY".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            ),
            (
                "S23",
                linux_part(LinuxContainerAdjustment {
                    rdt: Some(rdt("test")),
                    ..Default::default()
                }),
            ),
        ]
    }

    #[test]
    fn s1_to_s23_single_plugin_reply_is_its_adjustment() {
        for (name, adjust) in single_plugin_cases() {
            let merge = create_with([("00-test", adjust.clone())]).unwrap();
            assert_eq!(merged(merge), adjust, "{name}");
        }
    }

    #[test]
    fn s1_to_s23_later_plugins_see_the_adjustments() {
        let all = single_plugin_cases()
            .into_iter()
            .map(|(_, adjust)| ("00-test", adjust));
        let merge = create_with(all).unwrap();
        let container = merge.request().container.cloned().unwrap();
        let linux = container.linux.unwrap();
        let resources = linux.resources.unwrap();
        assert_eq!(container.annotations["key"], "00-test");
        assert_eq!(container.mounts, vec![mount("/mnt/test", "/dev/00-test")]);
        assert_eq!(container.env, vec!["key=00-test".to_string()]);
        assert_eq!(container.args, ["echo", "updated", "argument", "list"]);
        assert_eq!(container.hooks.unwrap().prestart[0].path, "/bin/00-test");
        assert_eq!(container.rlimits[0].soft, 123);
        assert_eq!(linux.devices, vec![device("/dev/test", 100)]);
        assert_eq!(linux.namespaces[0].path, "/var/run/cgroupns/replaced");
        assert_eq!(linux.io_priority.unwrap().priority, 5);
        assert_eq!(linux.net_devices["hostIf"].name, "containerIf");
        assert_eq!(linux.scheduler.unwrap().priority, 10);
        assert_eq!(linux.sysctl["net.core.somaxconn"], "256");
        assert_eq!(linux.cgroups_path, "/00-test");
        assert_eq!(
            linux.seccomp_policy.unwrap().default_action,
            "SCMP_ACT_ALLOW"
        );
        assert_eq!(resources.cpu, Some(cpu()));
        assert_eq!(resources.memory, Some(memory()));
        assert_eq!(resources.rdt_class, optional::string("00-test"));
        assert_eq!(resources.hugepage_limits.len(), 2);
        assert_eq!(resources.unified["resource.2"], "value2");
        // CDI devices, RDT and the memory policy are not reflected.
        assert!(container.cdi_devices.is_empty());
        assert_eq!(linux.rdt, None);
    }

    /// S3 (T:727-733).
    #[test]
    fn s3_mount_removal_leaves_its_marker() {
        let mut merge = create_of(|container| {
            container.mounts = vec![
                mount("/remove/test/destination", "/src"),
                mount("/keep", "/src"),
            ];
        });
        let remove = ContainerAdjustment {
            mounts: vec![Mount {
                destination: "-/remove/test/destination".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        merge
            .apply("00-test", crate::merge::testutil::adjusting(remove.clone()))
            .unwrap();
        let container = merge.request().container.cloned().unwrap();
        assert_eq!(container.mounts, vec![mount("/keep", "/src")]);
        assert_eq!(merged(merge), remove);
    }

    fn both(
        bar: ContainerAdjustment,
        foo: ContainerAdjustment,
    ) -> Result<ContainerAdjustment, String> {
        create_with([("00-bar", bar), ("10-foo", foo)])
            .map(merged)
            .map_err(|e| e.to_string())
    }

    fn conflict(field: &str) -> Result<ContainerAdjustment, String> {
        Err(format!(
            r#"plugins "10-foo" and "00-bar" both tried to set {field}"#
        ))
    }

    /// C1 and C9 (T:1014-1020, T:1076-1086): map-like fields.
    #[test]
    fn c1_c9_annotations_and_net_devices() {
        type Build = fn(&[(&str, &str)]) -> ContainerAdjustment;
        let cases: [(Build, &str); 2] = [
            (annotations, "Annotations"),
            (net_devices, "LinuxNetDevices"),
        ];
        for (build, field) in cases {
            let bar = build(&[("key", "00-bar")]);
            let conflicting = build(&[("key", "10-foo")]);
            let expected = conflict(&format!("{field} key"));
            assert_eq!(both(bar.clone(), conflicting), expected);
            let replace = build(&[("-key", ""), ("key", "10-foo")]);
            assert_eq!(both(bar, replace.clone()), Ok(replace), "{field}");
        }
    }

    /// C2 (T:1021-1029).
    #[test]
    fn c2_mounts() {
        let add = |source| ContainerAdjustment {
            mounts: vec![mount("/mnt/test", source)],
            ..Default::default()
        };
        assert_eq!(
            both(add("/dev/bar"), add("/dev/foo")),
            conflict("Mounts /mnt/test")
        );
        let mut replace = add("/dev/foo");
        replace.mounts.insert(
            0,
            Mount {
                destination: "-/mnt/test".into(),
                ..Default::default()
            },
        );
        assert_eq!(both(add("/dev/bar"), replace), Ok(add("/dev/foo")));
    }

    /// C3 (T:1030-1038).
    #[test]
    fn c3_env() {
        let set = |value| ContainerAdjustment {
            env: vec![env("key", value)],
            ..Default::default()
        };
        assert_eq!(both(set("00-bar"), set("10-foo")), conflict("Env key"));
        let mut replace = set("10-foo");
        replace.env.insert(0, env("-key", ""));
        assert_eq!(both(set("00-bar"), replace), Ok(set("10-foo")));
    }

    /// C4 (T:1039-1048).
    #[test]
    fn c4_args() {
        let args = |list: &[&str]| ContainerAdjustment {
            args: list.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(
            both(args(&["echo", "bar"]), args(&["echo", "foo"])),
            conflict("Args")
        );

        let mut merge = create_with([("00-bar", args(&["echo", "bar"]))]).unwrap();
        let mut seen = merge.request().container.cloned().unwrap().args;
        seen.insert(0, String::new());
        seen.push("twice...".into());
        merge
            .apply(
                "10-foo",
                crate::merge::testutil::adjusting(args(
                    &seen.iter().map(String::as_str).collect::<Vec<_>>(),
                )),
            )
            .unwrap();
        assert_eq!(merged(merge), args(&["echo", "bar", "twice..."]));
    }

    /// C5 (T:1049-1060).
    #[test]
    fn c5_hooks_accumulate() {
        let merge =
            create_with([("00-bar", hooks("/bin/bar")), ("10-foo", hooks("/bin/foo"))]).unwrap();
        assert_eq!(
            merge.owners().simple_owner("ctr0", Field::OciHooks),
            Some("00-bar,10-foo")
        );
        let prestart = merged(merge).hooks.unwrap().prestart;
        let paths: Vec<_> = prestart.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, ["/bin/bar", "/bin/foo"]);
    }

    /// C6 (T:1061-1073).
    #[test]
    fn c6_devices() {
        let add = |minor| {
            linux(LinuxContainerAdjustment {
                devices: vec![device("/dev/test", minor)],
                ..Default::default()
            })
        };
        assert_eq!(both(add(100), add(110)), conflict("Devices /dev/test"));
        let mut replace = add(110);
        if let Some(linux) = replace.linux.as_mut() {
            linux.devices.insert(
                0,
                LinuxDevice {
                    path: "-/dev/test".into(),
                    ..Default::default()
                },
            );
        }
        assert_eq!(both(add(100), replace), Ok(add(110)));
    }

    /// C7, C8, C10 (T:1074-1075, 1087).
    #[test]
    fn c7_c8_c10_simple_linux_fields_conflict() {
        assert_eq!(
            both(classes("bar"), classes("foo")),
            conflict("BlockioClass")
        );
        assert_eq!(both(io_priority(1), io_priority(2)), conflict("IoPriority"));
        assert_eq!(both(scheduler(1), scheduler(2)), conflict("LinuxSched"));
    }

    /// C11 (T:1088-1098).
    #[test]
    fn c11_rdt() {
        let set = |rdt: LinuxRdt| {
            linux(LinuxContainerAdjustment {
                rdt: Some(rdt),
                ..Default::default()
            })
        };
        let (bar, foo) = (set(rdt("bar")), set(rdt("foo")));
        assert_eq!(both(bar.clone(), foo.clone()), conflict("RdtClosID"));
        let removing = set(LinuxRdt {
            remove: true,
            ..rdt("foo")
        });
        assert_eq!(both(bar, removing), Ok(foo));
    }

    #[test]
    fn rdt_remove_alone_is_propagated() {
        let remove = linux(LinuxContainerAdjustment {
            rdt: Some(LinuxRdt {
                remove: true,
                ..Default::default()
            }),
            ..Default::default()
        });
        let merge = create_with([("00-bar", remove.clone())]).unwrap();
        assert_eq!(
            merge.owners().simple_owner("ctr0", Field::RdtSchemata),
            Some("-00-bar")
        );
        assert_eq!(merged(merge), remove);
    }

    #[test]
    fn a_failed_reply_leaves_no_trace() {
        let mut merge = create_with([("00-bar", annotations(&[("key", "bar")]))]).unwrap();
        let mut foo = annotations(&[("key", "foo"), ("other", "foo")]);
        foo.env.push(env("FOO", "1"));
        merge
            .apply("10-foo", crate::merge::testutil::adjusting(foo))
            .unwrap_err();
        assert_eq!(
            merge
                .owners()
                .compound_owner("ctr0", Field::Annotations, "other"),
            None
        );
        assert_eq!(
            merge
                .request()
                .container
                .as_ref()
                .unwrap()
                .annotations
                .len(),
            1
        );
        assert_eq!(merged(merge), annotations(&[("key", "bar")]));
    }

    #[test]
    fn new_initialises_the_container_and_finish_keeps_evictions() {
        let mut merge = CreateMerge::new(ContainerEventRef::default());
        let container = merge.request().container.cloned().unwrap();
        let resources = container.linux.unwrap().resources.unwrap();
        assert!(container.hooks.is_some() && resources.memory.is_some() && resources.cpu.is_some());

        let evict = |id: &str| ContainerEviction {
            container_id: id.into(),
            reason: "why".into(),
        };
        for (plugin, id) in [("00-bar", "ctr1"), ("10-foo", "ctr2")] {
            let reply = CreateContainerResponse {
                evict: vec![evict(id)],
                ..Default::default()
            };
            merge.apply(plugin, reply).unwrap();
        }
        let reply = merge.finish();
        assert_eq!(reply.evict, vec![evict("ctr1"), evict("ctr2")]);
        assert!(reply.update.is_empty());
    }

    /// A container with everything [`CreateMerge::new`] would add.
    fn initialized(id: &str) -> Container {
        let mut container = Container {
            id: id.into(),
            ..Default::default()
        };
        adjustment::initialize(&mut container);
        container
    }

    #[test]
    fn the_runtime_s_container_is_copied_only_for_a_plugin_that_sees_the_change() {
        let pod = PodSandbox::default();
        let container = initialized("ctr0");
        let request = ContainerEventRef::new(&pod, &container);
        let reply = || adjusting(annotations(&[("key", "bar")]));

        // The last plugin: nobody sees its change, nothing is copied.
        let mut last = CreateMerge::new(request);
        assert!(matches!(last.container, Cow::Borrowed(_)));
        last.apply_unguarded("00-bar", reply(), false).unwrap();
        assert!(matches!(last.container, Cow::Borrowed(_)));
        assert!(std::ptr::eq(last.request().container.unwrap(), &container));

        // A plugin followed by another: the next one is sent the change.
        let mut followed = CreateMerge::new(request);
        followed.apply_unguarded("00-bar", reply(), true).unwrap();
        assert!(matches!(followed.container, Cow::Owned(_)));
        let seen = followed.request().container.unwrap();
        assert_eq!(seen.annotations.get("key").map(String::as_str), Some("bar"));
        assert!(container.annotations.is_empty());

        // Either way the merged reply is the same.
        assert_eq!(last.finish(), followed.finish());
    }

    #[test]
    fn a_container_lacking_the_initialized_parts_is_copied_to_add_them() {
        let pod = PodSandbox::default();
        let bare = Container {
            id: "ctr0".into(),
            ..Default::default()
        };
        let merge = CreateMerge::new(ContainerEventRef::new(&pod, &bare));
        assert!(matches!(merge.container, Cow::Owned(_)));
        assert_eq!(merge.request().container, Some(&initialized("ctr0")));
        let ready = initialized("ctr0");
        let merge = CreateMerge::new(ContainerEventRef::new(&pod, &ready));
        assert!(matches!(merge.container, Cow::Borrowed(_)));
    }

    proptest::proptest! {
        /// Where the container's changes go never changes the merged reply:
        /// the adjustment does not read the container.
        #[test]
        fn copying_or_not_merges_the_same(
            picks in proptest::collection::vec(0..22usize, 1..4),
        ) {
            let cases = single_plugin_cases();
            let pod = PodSandbox::default();
            let container = initialized("ctr0");
            let request = ContainerEventRef::new(&pod, &container);
            let (mut lean, mut copying) = (CreateMerge::new(request), CreateMerge::new(request));
            for (at, pick) in picks.iter().enumerate() {
                let plugin = format!("{at:02}-plugin");
                let adjust = cases[pick % cases.len()].1.clone();
                let last = at + 1 == picks.len();
                let a = lean.apply_unguarded(&plugin, adjusting(adjust.clone()), !last);
                let b = copying.apply_unguarded(&plugin, adjusting(adjust), true);
                proptest::prop_assert_eq!(&a, &b);
                if a.is_err() {
                    return Ok(());
                }
            }
            proptest::prop_assert_eq!(lean.finish(), copying.finish());
        }
    }
}
