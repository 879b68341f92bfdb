//! Merging one plugin's `ContainerAdjustment`, one function per field
//! class, each applied to the merged adjustment and to the container later
//! plugins are sent (nri-upstream.md §3.8).

use std::collections::BTreeMap;

use nri_proto::api::{
    Container, ContainerAdjustment, Field, Hook, Hooks, KeyValue, LinuxContainer,
    LinuxContainerAdjustment, LinuxDevice, LinuxNamespace, LinuxRdt, Mount,
};
use nri_proto::removal;

use super::owners::{Claim, Claims};
use super::resources::{self, DeviceRules, append_keyed};
use super::{MergeError, merge_simple};

/// An adjustment with every sub-message the merged reply always carries.
pub(super) fn empty() -> ContainerAdjustment {
    ContainerAdjustment {
        hooks: Some(Hooks::default()),
        linux: Some(LinuxContainerAdjustment {
            resources: Some(resources::empty()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Gives `container` every sub-message an adjustment can change, so that
/// plugins see present-but-empty parts.
pub(super) fn initialize(container: &mut Container) {
    container.hooks.get_or_insert_default();
    let linux = container.linux.get_or_insert_default();
    let resources = linux.resources.get_or_insert_default();
    resources.memory.get_or_insert_default();
    resources.cpu.get_or_insert_default();
}

/// Whether `container` already has what [`initialize`] gives it.
pub(super) fn is_initialized(container: &Container) -> bool {
    let resources = container
        .linux
        .as_ref()
        .and_then(|linux| linux.resources.as_ref());
    container.hooks.is_some()
        && resources.is_some_and(|resources| resources.memory.is_some() && resources.cpu.is_some())
}

/// Merges `src` into `out` (the merged adjustment) and `req` (the container
/// as later plugins see it).
pub(super) fn apply(
    claims: &mut Claims<'_>,
    src: ContainerAdjustment,
    out: &mut ContainerAdjustment,
    req: &mut Container,
) -> Result<(), MergeError> {
    merge_map(
        claims,
        Field::Annotations,
        src.annotations,
        &mut out.annotations,
        &mut req.annotations,
    )?;
    merge_entries(claims, src.mounts, &mut out.mounts, &mut req.mounts)?;
    merge_entries(claims, src.env, &mut out.env, &mut req.env)?;
    merge_args(claims, src.args, &mut out.args, &mut req.args)?;
    if let Some(hooks) = src.hooks {
        let (out, req) = (
            out.hooks.get_or_insert_default(),
            req.hooks.get_or_insert_default(),
        );
        merge_hooks(claims, hooks, out, req);
    }
    if let Some(linux) = src.linux {
        let (out, req) = (
            out.linux.get_or_insert_default(),
            req.linux.get_or_insert_default(),
        );
        merge_linux(claims, linux, out, req)?;
    }
    append_keyed(
        claims,
        Field::Rlimits,
        &src.rlimits,
        |limit| &limit.r#type,
        &mut [&mut out.rlimits, &mut req.rlimits],
    )?;
    // CDI devices are resolved by the runtime: reply only.
    append_keyed(
        claims,
        Field::CdiDevices,
        &src.cdi_devices,
        |device| &device.name,
        &mut [&mut out.cdi_devices],
    )
}

fn merge_linux(
    claims: &mut Claims<'_>,
    src: LinuxContainerAdjustment,
    out: &mut LinuxContainerAdjustment,
    req: &mut LinuxContainer,
) -> Result<(), MergeError> {
    merge_entries(claims, src.devices, &mut out.devices, &mut req.devices)?;
    if let Some(resources) = &src.resources {
        let out = out.resources.get_or_insert_default();
        let req = req.resources.get_or_insert_default();
        resources::merge(claims, resources, &mut [out, req], DeviceRules::Append)?;
    }
    merge_simple!(claims, src => [out, req] {
        CgroupsPath: cgroups_path,
        OomScoreAdj: oom_score_adj,
        IoPriority: io_priority,
        SeccompPolicy: seccomp_policy,
        LinuxSched: scheduler,
    });
    merge_namespaces(
        claims,
        src.namespaces,
        &mut out.namespaces,
        &mut req.namespaces,
    )?;
    merge_map(
        claims,
        Field::Sysctl,
        src.sysctl,
        &mut out.sysctl,
        &mut req.sysctl,
    )?;
    merge_map(
        claims,
        Field::LinuxNetDevices,
        src.net_devices,
        &mut out.net_devices,
        &mut req.net_devices,
    )?;
    // RDT and the memory policy are not reflected into the request.
    if let Some(rdt) = &src.rdt {
        merge_rdt(claims, rdt, &mut out.rdt)?;
    }
    merge_simple!(claims, src => [out] { MemoryPolicy: memory_policy });
    Ok(())
}

/// Map-like compound fields: annotations, sysctls, network devices.
///
/// A `-key` entry removes `key` (from the request and from earlier plugins'
/// values) and clears it for this plugin; the reply keeps `-key` with an
/// empty value. Other entries are claimed and set.
fn merge_map<V: Clone + Default>(
    claims: &mut Claims<'_>,
    field: Field,
    src: BTreeMap<String, V>,
    out: &mut BTreeMap<String, V>,
    req: &mut BTreeMap<String, V>,
) -> Result<(), MergeError> {
    let (removals, sets): (Vec<_>, Vec<_>) = src
        .into_iter()
        .partition(|(key, _)| removal::is_marked(key));
    for (marked, _) in removals {
        let key = unmarked(&marked);
        claims.clear_key(field, key);
        req.remove(key);
        out.remove(key);
        out.insert(marked, V::default());
    }
    for (key, value) in sets {
        claims.key(field, &key)?;
        req.insert(key.clone(), value.clone());
        out.insert(key, value);
    }
    Ok(())
}

/// An entry of a list-like compound field with removal markers: mounts,
/// devices, environment variables.
trait Entry: Clone + PartialEq {
    /// The type of the container's list.
    type Request;
    /// The field that tracks the keys.
    const FIELD: Field;
    /// The key (possibly a removal marker).
    fn key(&self) -> &str;
    /// The key of an entry of the container's list.
    fn request_key(entry: &Self::Request) -> &str;
    /// The entry as the container lists it.
    fn to_request(&self) -> Self::Request;
    /// The removal marker the merged reply keeps for this removal entry.
    fn marker(&self) -> Self {
        self.clone()
    }
}

/// Entries the container lists as they are: `$entry`, tracked as
/// `Field::$field`, keyed by `$key`.
macro_rules! listed_as_is {
    ($($entry:ident: $field:ident by $key:ident),+) => {$(
        impl Entry for $entry {
            type Request = $entry;
            const FIELD: Field = Field::$field;
            fn key(&self) -> &str {
                &self.$key
            }
            fn request_key(entry: &$entry) -> &str {
                &entry.$key
            }
            fn to_request(&self) -> $entry {
                self.clone()
            }
        }
    )+};
}

listed_as_is!(Mount: Mounts by destination, LinuxDevice: Devices by path);

/// The container lists its environment as `KEY=VALUE` strings.
impl Entry for KeyValue {
    type Request = String;
    const FIELD: Field = Field::Env;
    fn key(&self) -> &str {
        &self.key
    }
    fn request_key(entry: &String) -> &str {
        entry.split_once('=').map_or(entry.as_str(), |(key, _)| key)
    }
    fn to_request(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
    fn marker(&self) -> Self {
        KeyValue {
            key: self.key.clone(),
            value: String::new(),
        }
    }
}

/// List-like compound fields with removal markers.
///
/// A removal drops the key from the request, drops earlier plugins' entries
/// with that key from the reply (clearing the key for this plugin if it
/// dropped any) and leaves its marker in the reply unless the plugin adds
/// the key again. An addition is claimed, appended to the reply and replaces
/// the key in the request.
fn merge_entries<E: Entry>(
    claims: &mut Claims<'_>,
    src: Vec<E>,
    out: &mut Vec<E>,
    req: &mut Vec<E::Request>,
) -> Result<(), MergeError> {
    let (removals, additions): (Vec<E>, Vec<E>) =
        src.into_iter().partition(|e| removal::is_marked(e.key()));
    let mut markers = Vec::new();
    for entry in &removals {
        let key = unmarked(entry.key());
        let before = out.len();
        out.retain(|old| old.key() != key);
        if out.len() != before {
            claims.clear_key(E::FIELD, key);
        }
        req.retain(|old| E::request_key(old) != key);
        if !additions.iter().any(|added| added.key() == key) {
            markers.push(entry.marker());
        }
    }
    for entry in additions {
        let key = entry.key();
        if claims.key(E::FIELD, key)? == Claim::Repeated {
            out.retain(|old| old.key() != key);
        }
        req.retain(|old| E::request_key(old) != key);
        req.push(entry.to_request());
        out.push(entry);
    }
    for marker in markers {
        if !out.contains(&marker) {
            out.push(marker);
        }
    }
    Ok(())
}

/// The argument list: replaced as a whole. A leading empty string clears the
/// field first (so an earlier plugin's arguments may be replaced) and is
/// dropped.
fn merge_args(
    claims: &mut Claims<'_>,
    mut src: Vec<String>,
    out: &mut Vec<String>,
    req: &mut Vec<String>,
) -> Result<(), MergeError> {
    if src.is_empty() {
        return Ok(());
    }
    if src.first().is_some_and(String::is_empty) {
        claims.clear(Field::Args);
        src.remove(0);
    }
    claims.claim(Field::Args)?;
    req.clone_from(&src);
    *out = src;
    Ok(())
}

/// The six hook lists of [`Hooks`].
const HOOK_LISTS: [fn(&mut Hooks) -> &mut Vec<Hook>; 6] = [
    |hooks| &mut hooks.prestart,
    |hooks| &mut hooks.create_runtime,
    |hooks| &mut hooks.create_container,
    |hooks| &mut hooks.start_container,
    |hooks| &mut hooks.poststart,
    |hooks| &mut hooks.poststop,
];

/// OCI hooks accumulate: appended per kind, never a conflict.
fn merge_hooks(claims: &mut Claims<'_>, mut src: Hooks, out: &mut Hooks, req: &mut Hooks) {
    let mut added = false;
    for list in HOOK_LISTS {
        let hooks = list(&mut src);
        if hooks.is_empty() {
            continue;
        }
        added = true;
        list(out).extend_from_slice(hooks);
        list(req).append(hooks);
    }
    if added {
        claims.accumulate(Field::OciHooks);
    }
}

/// Namespaces, keyed by type; a `-type` entry removes the type and claims
/// the bare type too. Every entry goes to the reply; the request keeps its
/// order (Appendix B 4).
fn merge_namespaces(
    claims: &mut Claims<'_>,
    src: Vec<LinuxNamespace>,
    out: &mut Vec<LinuxNamespace>,
    req: &mut Vec<LinuxNamespace>,
) -> Result<(), MergeError> {
    for namespace in src {
        let (kind, removed) = removal::split(&namespace.r#type);
        claims.key(Field::Namespace, kind)?;
        if removed {
            req.retain(|old| old.r#type != kind);
        } else if let Some(old) = req.iter_mut().find(|old| old.r#type == kind) {
            old.clone_from(&namespace);
        } else {
            req.push(namespace.clone());
        }
        out.push(namespace);
    }
    Ok(())
}

/// RDT: `remove` clears the three fields for this plugin and resets the
/// merged value to "remove"; any field set turns that into a change again.
fn merge_rdt(
    claims: &mut Claims<'_>,
    src: &LinuxRdt,
    out: &mut Option<LinuxRdt>,
) -> Result<(), MergeError> {
    if src.remove {
        for field in [
            Field::RdtClosId,
            Field::RdtSchemata,
            Field::RdtEnableMonitoring,
        ] {
            claims.clear(field);
        }
        *out = Some(LinuxRdt {
            remove: true,
            ..Default::default()
        });
    }
    if src.clos_id.is_none() && src.schemata.is_none() && src.enable_monitoring.is_none() {
        return Ok(());
    }
    let merged = out.get_or_insert_default();
    merge_simple!(claims, src => [merged] {
        RdtClosId: clos_id,
        RdtSchemata: schemata,
        RdtEnableMonitoring: enable_monitoring,
    });
    merged.remove = false;
    Ok(())
}

/// `key` without its removal marker.
fn unmarked(key: &str) -> &str {
    removal::split(key).0
}

#[cfg(test)]
mod tests {
    use nri_proto::api::LinuxNetDevice;

    use super::*;
    use crate::merge::testutil::{
        adjusting, annotations, container_of, create_of, create_with, device, env, linux, merged,
        mount, net_devices,
    };

    /// Appendix B 3: pure removals of environment variables and devices stay
    /// in the merged reply as markers.
    #[test]
    fn b3_env_and_device_removals_are_kept() {
        let mut merge = create_of(|container| {
            container.env = vec!["FOO=1".into(), "BAR=2".into()];
            container.linux = Some(LinuxContainer {
                devices: vec![device("/dev/x", 1)],
                ..Default::default()
            });
        });
        let remove = ContainerAdjustment {
            env: vec![env("-FOO", "ignored")],
            linux: Some(LinuxContainerAdjustment {
                devices: vec![LinuxDevice {
                    path: "-/dev/x".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        merge.apply("00-bar", adjusting(remove)).unwrap();
        let container = container_of(&merge);
        assert_eq!(container.env, vec!["BAR=2".to_string()]);
        assert!(container.linux.unwrap_or_default().devices.is_empty());
        let reply = merged(merge);
        assert_eq!(reply.env, vec![env("-FOO", "")]);
        assert_eq!(reply.linux.unwrap_or_default().devices[0].path, "-/dev/x");
    }

    /// Appendix B 3: a pure removal of an annotation, sysctl or network
    /// device is applied to the request and makes the key the remover's.
    #[test]
    fn b3_map_removals_are_owned_and_applied() {
        let sysctl = |pairs: &[(&str, &str)]| {
            let sysctl = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            linux(LinuxContainerAdjustment {
                sysctl,
                ..Default::default()
            })
        };
        let cases = [
            (
                annotations(&[("-key", "")]),
                annotations(&[("key", "foo")]),
                Field::Annotations,
            ),
            (
                sysctl(&[("-key", "")]),
                sysctl(&[("key", "foo")]),
                Field::Sysctl,
            ),
            (
                net_devices(&[("-key", "")]),
                net_devices(&[("key", "foo")]),
                Field::LinuxNetDevices,
            ),
        ];
        for (remove, set, field) in cases {
            let mut merge = create_of(|container| {
                container.annotations.insert("key".into(), "value".into());
                let linux = container.linux.get_or_insert_default();
                linux.sysctl.insert("key".into(), "value".into());
                linux.net_devices.insert(
                    "key".into(),
                    LinuxNetDevice {
                        name: "eth1".into(),
                    },
                );
            });
            merge.apply("00-bar", adjusting(remove.clone())).unwrap();
            let container = container_of(&merge);
            let linux = container.linux.unwrap_or_default();
            let gone = match field {
                Field::Annotations => !container.annotations.contains_key("key"),
                Field::Sysctl => !linux.sysctl.contains_key("key"),
                _ => !linux.net_devices.contains_key("key"),
            };
            assert!(gone, "{field:?} removal applied to the request");
            assert_eq!(
                merge.owners().compound_owner("ctr0", field, "key"),
                Some("-00-bar")
            );
            let error = merge.apply("10-foo", adjusting(set)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    r#"plugins "10-foo" and "00-bar" both tried to set {} key"#,
                    field.as_str_name()
                )
            );
            assert_eq!(merged(merge), remove, "{field:?}");
        }
    }

    /// A pure removal also takes back an earlier plugin's value.
    #[test]
    fn b3_removal_drops_an_earlier_value() {
        let merge = create_with([
            ("00-bar", annotations(&[("key", "bar"), ("other", "bar")])),
            ("10-foo", annotations(&[("-key", "")])),
        ])
        .unwrap();
        assert!(!container_of(&merge).annotations.contains_key("key"));
        assert_eq!(
            merged(merge),
            annotations(&[("-key", ""), ("other", "bar")])
        );
    }

    /// Appendix B 4: namespaces keep their order.
    #[test]
    fn b4_namespace_order_is_kept() {
        let namespace = |kind: &str, path: &str| LinuxNamespace {
            r#type: kind.into(),
            path: path.into(),
        };
        let mut merge = create_of(|container| {
            container.linux = Some(LinuxContainer {
                namespaces: ["pid", "ipc", "uts", "mount", "network"]
                    .map(|kind| namespace(kind, ""))
                    .into(),
                ..Default::default()
            });
        });
        let adjust = vec![
            namespace("uts", "/run/uts"),
            namespace("-ipc", ""),
            namespace("cgroup", "/run/cg"),
        ];
        let reply = linux(LinuxContainerAdjustment {
            namespaces: adjust.clone(),
            ..Default::default()
        });
        merge.apply("00-bar", adjusting(reply)).unwrap();
        let namespaces = container_of(&merge).linux.unwrap_or_default().namespaces;
        let kinds: Vec<_> = namespaces
            .iter()
            .map(|n| (n.r#type.as_str(), n.path.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("pid", ""),
                ("uts", "/run/uts"),
                ("mount", ""),
                ("network", ""),
                ("cgroup", "/run/cg")
            ]
        );
        assert_eq!(
            merge
                .owners()
                .compound_owner("ctr0", Field::Namespace, "ipc"),
            Some("00-bar")
        );
        assert_eq!(merged(merge).linux.unwrap_or_default().namespaces, adjust);
    }

    /// Appendix B 2: the same key twice in one reply; the later entry wins.
    #[test]
    fn b2_repeated_entry_in_one_reply() {
        let mounts = ContainerAdjustment {
            mounts: vec![
                mount("/mnt", "/first"),
                mount("/other", "/x"),
                mount("/mnt", "/second"),
            ],
            ..Default::default()
        };
        let merge = create_with([("00-bar", mounts)]).unwrap();
        let expected = vec![mount("/other", "/x"), mount("/mnt", "/second")];
        assert_eq!(container_of(&merge).mounts, expected);
        assert_eq!(merged(merge).mounts, expected);
    }

    #[test]
    fn args_with_only_the_clear_marker_empty_the_list() {
        let mut merge = create_of(|container| {
            container.args = vec!["sleep".into(), "1".into()];
        });
        let clear = ContainerAdjustment {
            args: vec![String::new()],
            ..Default::default()
        };
        merge.apply("00-bar", adjusting(clear)).unwrap();
        assert!(container_of(&merge).args.is_empty());
        assert_eq!(
            merge.owners().simple_owner("ctr0", Field::Args),
            Some("00-bar")
        );
    }

    #[test]
    fn env_values_keep_everything_after_the_first_equals_sign() {
        let mut merge = create_of(|container| {
            container.env = vec!["A=x=y".into(), "B".into()];
        });
        let set = ContainerAdjustment {
            env: vec![env("B", "1"), env("C", "a=b")],
            ..Default::default()
        };
        merge.apply("00-bar", adjusting(set)).unwrap();
        assert_eq!(container_of(&merge).env, ["A=x=y", "B=1", "C=a=b"]);
    }
}
