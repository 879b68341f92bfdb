//! Collecting container updates (nri-upstream.md §3.9), and the mergers of
//! the UpdateContainer and StopContainer events.

use std::collections::BTreeMap;

use nri_proto::api::{
    Container, ContainerEviction, ContainerUpdate, LinuxContainerUpdate, LinuxResources,
    PodSandbox, StopContainerResponse, UpdateContainerResponse,
};

use super::owners::{Claims, Owners};
use super::resources::{self, DeviceRules};
use super::{MergeError, all_or_nothing};
use crate::transport::{ContainerEventRef, UpdateContainerRef};

/// Which container of the event is special for updates.
pub(super) enum Target<'a> {
    /// StopContainer: none.
    None,
    /// CreateContainer: the container being created, which may not be
    /// updated.
    Created(&'a str),
    /// UpdateContainer: the container being updated and its requested
    /// resources, which updates of it override.
    Updated(&'a str, &'a mut LinuxResources),
}

/// The updates of one event, merged into one `ContainerUpdate` per
/// container, in order of first appearance.
#[derive(Debug, Clone, Default)]
pub(super) struct UpdateSet {
    updates: Vec<ContainerUpdate>,
    index: BTreeMap<String, usize>,
}

impl UpdateSet {
    /// Merges the updates of one plugin's reply.
    pub(super) fn merge(
        &mut self,
        owners: &mut Owners,
        plugin: &str,
        updates: Vec<ContainerUpdate>,
        target: &mut Target<'_>,
    ) -> Result<(), MergeError> {
        for update in updates {
            self.merge_one(owners, plugin, update, target)?;
        }
        Ok(())
    }

    fn merge_one(
        &mut self,
        owners: &mut Owners,
        plugin: &str,
        update: ContainerUpdate,
        target: &mut Target<'_>,
    ) -> Result<(), MergeError> {
        let id = update.container_id;
        if let Target::Created(created) = target
            && *created == id
        {
            return Err(MergeError::UpdateDuringCreation {
                plugin: plugin.to_owned(),
                container: id,
            });
        }
        let entry = self.entry(&id, update.ignore_failure);
        let (Some(entry), Some(src)) = (entry, update.linux.and_then(|linux| linux.resources))
        else {
            return Ok(());
        };
        let merged = entry
            .linux
            .get_or_insert_default()
            .resources
            .get_or_insert_default();
        let mut requested = match target {
            Target::Updated(updated, requested) if *updated == id => Some(&mut **requested),
            _ => None,
        };
        // Work on a copy: a skipped contribution leaves no trace.
        let mut copy = match &requested {
            Some(requested) => (**requested).clone(),
            None => merged.clone(),
        };
        let mut claims = Claims::new(owners, &id, plugin);
        match resources::merge(&mut claims, &src, &mut [&mut copy], DeviceRules::Ignore) {
            Ok(()) => {
                if let Some(requested) = requested.as_mut() {
                    requested.clone_from(&copy);
                }
                *merged = copy;
                Ok(())
            }
            Err(error) if update.ignore_failure => {
                tracing::debug!(%error, plugin, container = %id, "skipping update that may fail");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// The merged update of container `id`, created empty on first use;
    /// `ignore_failure` is ANDed into it. Always `Some`: the index only
    /// holds positions of pushed updates.
    fn entry(&mut self, id: &str, ignore_failure: bool) -> Option<&mut ContainerUpdate> {
        let position = match self.index.get(id) {
            Some(&position) => position,
            None => {
                let position = self.updates.len();
                self.index.insert(id.to_owned(), position);
                self.updates.push(ContainerUpdate {
                    container_id: id.to_owned(),
                    linux: Some(LinuxContainerUpdate {
                        resources: Some(resources::empty()),
                    }),
                    ignore_failure,
                });
                position
            }
        };
        let entry = self.updates.get_mut(position)?;
        entry.ignore_failure &= ignore_failure;
        Some(entry)
    }

    /// The merged updates, in order of first appearance.
    pub(super) fn as_slice(&self) -> &[ContainerUpdate] {
        &self.updates
    }

    /// The merged updates, in order of first appearance.
    pub(super) fn into_vec(self) -> Vec<ContainerUpdate> {
        self.updates
    }
}

/// The merger of one UpdateContainer event.
///
/// Plugins may override the requested resources of the container being
/// updated and update other containers. Each plugin is sent the request
/// with the overrides of the plugins before it.
#[derive(Debug, Clone)]
pub struct UpdateMerge<'a> {
    pod: Option<&'a PodSandbox>,
    container: Option<&'a Container>,
    /// The requested resources with the overrides so far.
    resources: LinuxResources,
    target: String,
    updates: UpdateSet,
    evict: Vec<ContainerEviction>,
    owners: Owners,
}

/// The requested resources as plugins see them and as the merged reply
/// carries them when no plugin overrides anything: with present-but-empty
/// memory and CPU blocks.
pub(crate) fn requested_resources(resources: Option<LinuxResources>) -> LinuxResources {
    let mut requested = resources.unwrap_or_default();
    requested.memory.get_or_insert_default();
    requested.cpu.get_or_insert_default();
    requested
}

impl<'a> UpdateMerge<'a> {
    /// Starts merging; gives the requested resources present-but-empty
    /// memory and CPU blocks. The pod and container stay borrowed.
    pub fn new(request: impl Into<UpdateContainerRef<'a>>) -> Self {
        let request = request.into();
        let target = request
            .container
            .map(|container| container.id.clone())
            .unwrap_or_default();
        UpdateMerge {
            pod: request.pod,
            container: request.container,
            resources: requested_resources(request.linux_resources.cloned()),
            target,
            updates: UpdateSet::default(),
            evict: Vec::new(),
            owners: Owners::new(),
        }
    }

    /// The request as overridden so far: what the next plugin is sent.
    pub fn request(&self) -> UpdateContainerRef<'_> {
        UpdateContainerRef {
            pod: self.pod,
            container: self.container,
            linux_resources: Some(&self.resources),
        }
    }

    /// Who set what so far.
    pub fn owners(&self) -> &Owners {
        &self.owners
    }

    /// Merges the reply of `plugin` (`"<idx>-<name>"`). On an error nothing
    /// of the reply is kept.
    pub fn apply(
        &mut self,
        plugin: &str,
        reply: UpdateContainerResponse,
    ) -> Result<(), MergeError> {
        all_or_nothing(self, |merge| merge.apply_unguarded(plugin, reply))
    }

    /// [`UpdateMerge::apply`] without the copy that restores the merger on
    /// an error, for callers that drop the merger on an error anyway.
    pub(crate) fn apply_unguarded(
        &mut self,
        plugin: &str,
        reply: UpdateContainerResponse,
    ) -> Result<(), MergeError> {
        let mut target = Target::Updated(&self.target, &mut self.resources);
        self.updates
            .merge(&mut self.owners, plugin, reply.update, &mut target)?;
        self.evict.extend(reply.evict);
        Ok(())
    }

    /// The merged reply: updates of other containers in order of first
    /// appearance, then exactly one update of the container being updated
    /// with the complete requested resources and the plugins' overrides
    /// (Appendix B 6), then the evictions in order.
    pub fn finish(self) -> UpdateContainerResponse {
        let mut ignore_failure = false;
        let mut update = Vec::new();
        for entry in self.updates.into_vec() {
            if entry.container_id == self.target {
                ignore_failure = entry.ignore_failure;
            } else {
                update.push(entry);
            }
        }
        update.push(ContainerUpdate {
            container_id: self.target,
            linux: Some(LinuxContainerUpdate {
                resources: Some(self.resources),
            }),
            ignore_failure,
        });
        UpdateContainerResponse {
            update,
            evict: self.evict,
        }
    }
}

/// The merger of one StopContainer event: plugins may update any container.
#[derive(Debug, Clone)]
pub struct StopMerge<'a> {
    request: ContainerEventRef<'a>,
    updates: UpdateSet,
    owners: Owners,
}

impl<'a> StopMerge<'a> {
    /// Starts merging. The pod and container stay borrowed.
    pub fn new(request: impl Into<ContainerEventRef<'a>>) -> Self {
        StopMerge {
            request: request.into(),
            updates: UpdateSet::default(),
            owners: Owners::new(),
        }
    }

    /// The request, as every plugin is sent it.
    pub fn request(&self) -> ContainerEventRef<'_> {
        self.request
    }

    /// Who set what so far.
    pub fn owners(&self) -> &Owners {
        &self.owners
    }

    /// The merged updates so far, in order of first appearance.
    pub fn updates(&self) -> &[ContainerUpdate] {
        self.updates.as_slice()
    }

    /// Merges the reply of `plugin` (`"<idx>-<name>"`). On an error nothing
    /// of the reply is kept.
    pub fn apply(&mut self, plugin: &str, reply: StopContainerResponse) -> Result<(), MergeError> {
        all_or_nothing(self, |merge| merge.apply_unguarded(plugin, reply))
    }

    /// [`StopMerge::apply`] without the copy that restores the merger on
    /// an error, for callers that drop the merger on an error anyway.
    pub(crate) fn apply_unguarded(
        &mut self,
        plugin: &str,
        reply: StopContainerResponse,
    ) -> Result<(), MergeError> {
        self.updates
            .merge(&mut self.owners, plugin, reply.update, &mut Target::None)
    }

    /// The merged reply: the updates in order of first appearance.
    pub fn finish(self) -> StopContainerResponse {
        StopContainerResponse {
            update: self.updates.into_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use nri_proto::api::{Container, HugepageLimit, LinuxCpu, LinuxMemory, LinuxPids};
    use nri_proto::optional;

    use super::*;
    use crate::merge::CreateMerge;
    use crate::merge::testutil::{cpu, create_request, kept, memory, update};

    /// One resource group per entry, as §5.9/§5.10 test them.
    fn groups() -> Vec<(&'static str, LinuxResources)> {
        vec![
            (
                "cpu",
                LinuxResources {
                    cpu: Some(cpu()),
                    ..Default::default()
                },
            ),
            (
                "memory",
                LinuxResources {
                    memory: Some(memory()),
                    ..Default::default()
                },
            ),
            (
                "classes",
                LinuxResources {
                    rdt_class: optional::string("foo"),
                    blockio_class: optional::string("foo"),
                    ..Default::default()
                },
            ),
            (
                "hugepages",
                LinuxResources {
                    hugepage_limits: vec![HugepageLimit {
                        page_size: "2M".into(),
                        limit: 4096,
                    }],
                    ..Default::default()
                },
            ),
            (
                "unified",
                LinuxResources {
                    unified: [("resource.1".to_string(), "value1".to_string())].into(),
                    ..Default::default()
                },
            ),
        ]
    }

    /// `base` with what `group` sets laid over it.
    fn overlay(mut base: LinuxResources, group: &LinuxResources) -> LinuxResources {
        base.cpu = group.cpu.clone().or(base.cpu);
        base.memory = group.memory.or(base.memory);
        base.rdt_class = group.rdt_class.clone().or(base.rdt_class);
        base.blockio_class = group.blockio_class.clone().or(base.blockio_class);
        base.hugepage_limits
            .extend(group.hugepage_limits.iter().cloned());
        base.unified.extend(group.unified.clone());
        base
    }

    fn creating_ctr1(
        updates: &[(&str, ContainerUpdate)],
    ) -> Result<CreateMerge<'static>, MergeError> {
        let mut merge = CreateMerge::new(kept(create_request("ctr1")));
        for (plugin, update) in updates {
            let reply = nri_proto::api::CreateContainerResponse {
                update: vec![update.clone()],
                ..Default::default()
            };
            merge.apply(plugin, reply)?;
        }
        Ok(merge)
    }

    /// U1 and U2 (T:2312-2379, T:2457-2529).
    #[test]
    fn u1_u2_updates_during_creation() {
        for (name, group) in groups() {
            let expected = vec![update("ctr0", overlay(resources::empty(), &group))];
            let merge = creating_ctr1(&[("00-test", update("ctr0", group.clone()))]).unwrap();
            assert_eq!(merge.updates(), expected.as_slice(), "U1 {name}");
            assert_eq!(merge.finish().update, expected, "U1 {name}");

            let both = [
                ("00-bar", update("ctr0", group.clone())),
                ("10-foo", update("ctr0", group.clone())),
            ];
            let error = creating_ctr1(&both).unwrap_err().to_string();
            assert!(
                error.starts_with(r#"plugins "10-foo" and "00-bar" both tried to set "#),
                "U2 {name}: {error}"
            );
            let merge = creating_ctr1(&both[1..]).unwrap();
            assert_eq!(merge.finish().update, expected, "U2 {name}");
        }
    }

    fn requested() -> LinuxResources {
        LinuxResources {
            cpu: Some(LinuxCpu {
                shares: optional::uint64(999u64),
                quota: optional::int64(888),
                period: optional::uint64(777u64),
                realtime_runtime: optional::int64(666),
                realtime_period: optional::uint64(555u64),
                cpus: "444".into(),
                mems: "333".into(),
            }),
            memory: Some(LinuxMemory {
                limit: optional::int64(9999),
                reservation: optional::int64(8888),
                swap: optional::int64(7777),
                kernel: optional::int64(6666),
                kernel_tcp: optional::int64(5555),
                swappiness: optional::uint64(4444u64),
                disable_oom_killer: optional::bool(false),
                use_hierarchy: optional::bool(false),
            }),
            ..Default::default()
        }
    }

    fn updating_ctr0(resources: LinuxResources) -> UpdateMerge<'static> {
        UpdateMerge::new(kept(nri_proto::api::UpdateContainerRequest {
            container: Some(Container {
                id: "ctr0".into(),
                ..Default::default()
            }),
            linux_resources: Some(resources),
            ..Default::default()
        }))
    }

    fn apply(
        merge: &mut UpdateMerge<'_>,
        plugin: &str,
        updates: Vec<ContainerUpdate>,
    ) -> Result<(), MergeError> {
        merge.apply(
            plugin,
            UpdateContainerResponse {
                update: updates,
                ..Default::default()
            },
        )
    }

    /// U3 and U4 (T:2659-2804, T:2890-3038).
    #[test]
    fn u3_u4_overrides_of_the_updated_container() {
        for (name, group) in groups() {
            let expected = vec![update("ctr0", overlay(requested(), &group))];
            let mut merge = updating_ctr0(requested());
            apply(&mut merge, "00-test", vec![update("ctr0", group.clone())]).unwrap();
            let seen = merge.request().linux_resources.cloned();
            assert_eq!(
                seen.as_ref(),
                expected[0]
                    .linux
                    .as_ref()
                    .and_then(|l| l.resources.as_ref())
            );
            assert_eq!(merge.finish().update, expected, "U3 {name}");

            let mut merge = updating_ctr0(requested());
            apply(&mut merge, "00-bar", vec![update("ctr0", group.clone())]).unwrap();
            let error =
                apply(&mut merge, "10-foo", vec![update("ctr0", group.clone())]).unwrap_err();
            assert!(
                matches!(error, MergeError::Conflict { ref container, .. } if container == "ctr0"),
                "U4 {name}"
            );
            let mut merge = updating_ctr0(requested());
            apply(&mut merge, "10-foo", vec![update("ctr0", group.clone())]).unwrap();
            assert_eq!(merge.finish().update, expected, "U4 {name}");
        }
    }

    /// Appendix B 6: the updated container is always last, and present.
    #[test]
    fn b6_target_update_is_last_and_always_present() {
        let merge = updating_ctr0(LinuxResources::default());
        assert_eq!(
            merge.finish().update,
            vec![update("ctr0", resources::empty())]
        );

        let mut merge = updating_ctr0(requested());
        let limit = |limit| LinuxResources {
            memory: Some(LinuxMemory {
                limit: optional::int64(limit),
                ..Default::default()
            }),
            ..Default::default()
        };
        apply(
            &mut merge,
            "00-bar",
            vec![update("ctr0", limit(1)), update("ctr2", limit(2))],
        )
        .unwrap();
        apply(&mut merge, "10-foo", vec![update("ctr1", limit(3))]).unwrap();
        let ids: Vec<_> = merge
            .finish()
            .update
            .into_iter()
            .map(|u| u.container_id)
            .collect();
        assert_eq!(ids, ["ctr2", "ctr1", "ctr0"]);
    }

    /// Appendix B 5: the pids limit comes from the update, and existing pids
    /// in the request do not make plugins conflict.
    #[test]
    fn b5_pids_come_from_the_update() {
        let mut merge = updating_ctr0(LinuxResources {
            pids: Some(LinuxPids { limit: 100 }),
            ..requested()
        });
        apply(
            &mut merge,
            "00-bar",
            vec![update("ctr0", groups()[0].1.clone())],
        )
        .unwrap();
        apply(
            &mut merge,
            "10-foo",
            vec![update("ctr0", groups()[1].1.clone())],
        )
        .unwrap();
        let pids = LinuxResources {
            pids: Some(LinuxPids { limit: 50 }),
            ..Default::default()
        };
        apply(&mut merge, "20-baz", vec![update("ctr0", pids)]).unwrap();
        assert_eq!(
            merge
                .owners()
                .simple_owner("ctr0", nri_proto::api::Field::PidsLimit),
            Some("20-baz")
        );
        let reply = merge.finish();
        let resources = reply.update[0]
            .linux
            .clone()
            .and_then(|l| l.resources)
            .unwrap();
        assert_eq!(resources.pids, Some(LinuxPids { limit: 50 }));
        assert_eq!(resources.cpu, Some(cpu()));
    }

    /// Appendix B 2: one plugin updating one field twice; the later value wins.
    #[test]
    fn b2_repeated_update_by_one_plugin() {
        let limit = |limit| LinuxResources {
            memory: Some(LinuxMemory {
                limit: optional::int64(limit),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut merge = StopMerge::new(ContainerEventRef::default());
        let reply = StopContainerResponse {
            update: vec![update("ctr1", limit(1)), update("ctr1", limit(2))],
        };
        merge.apply("00-bar", reply).unwrap();
        assert_eq!(
            merge.finish().update,
            vec![update("ctr1", overlay(resources::empty(), &limit(2)))]
        );
    }

    #[test]
    fn conflicting_updates_that_may_fail_are_skipped() {
        let shares = |shares: u64, ignore_failure| {
            let cpu = LinuxCpu {
                shares: optional::uint64(shares),
                ..Default::default()
            };
            let resources = LinuxResources {
                cpu: Some(cpu),
                ..Default::default()
            };
            let merged = overlay(resources::empty(), &resources);
            let update = |resources| ContainerUpdate {
                ignore_failure,
                ..update("ctr0", resources)
            };
            (update(resources), update(merged))
        };
        for (bar, foo, ignore_failure) in [(false, true, false), (true, true, true)] {
            let (bar, merged) = shares(1, bar);
            let merge = creating_ctr1(&[("00-bar", bar), ("10-foo", shares(2, foo).0)]).unwrap();
            assert_eq!(merge.updates(), [merged]);
            assert_eq!(merge.updates()[0].ignore_failure, ignore_failure);
        }
        // Without permission to fail, the conflict fails the event.
        let both = [
            ("00-bar", shares(1, true).0),
            ("10-foo", shares(2, false).0),
        ];
        creating_ctr1(&both).unwrap_err();
    }

    #[test]
    fn update_of_the_created_container_fails() {
        let merge = creating_ctr1(&[("00-bar", update("ctr1", LinuxResources::default()))]);
        let error = merge.unwrap_err();
        assert_eq!(
            error,
            MergeError::UpdateDuringCreation {
                plugin: "00-bar".into(),
                container: "ctr1".into()
            }
        );
    }

    #[test]
    fn stop_updates_keep_first_appearance_order() {
        let mut merge = StopMerge::new(ContainerEventRef::default());
        for (plugin, ids) in [("00-bar", ["ctr2", "ctr1"]), ("10-foo", ["ctr1", "ctr3"])] {
            let update = ids
                .iter()
                .map(|id| update(id, LinuxResources::default()))
                .collect();
            merge
                .apply(plugin, StopContainerResponse { update })
                .unwrap();
        }
        assert_eq!(merge.request(), ContainerEventRef::default());
        let ids: Vec<_> = merge
            .updates()
            .iter()
            .map(|u| u.container_id.as_str())
            .collect();
        assert_eq!(ids, ["ctr2", "ctr1", "ctr3"]);
        assert_eq!(merge.finish().update.len(), 3);
    }
}
