//! The logic of upstream's `device-injector` sample plugin: container
//! adjustments requested by pod annotations.
//!
//! [`adjust`] reads the pod's annotations for a container being created and
//! returns the [`ContainerAdjustment`] upstream's plugin would return from
//! `CreateContainer`, or an [`Error`] naming the malformed annotation.
//!
//! # Annotations
//!
//! Each kind has a key in the `noderesource.dev` domain and, except sysctl, a
//! legacy key in the `nri.io` domain. The annotation for a container is the
//! most specific one present, as [`annotations::effective`] finds it:
//! `K/container.<name>`, `L/container.<name>`, `K/pod`, `L/pod`, `K`, `L`.
//! Only that one is decoded: less specific ones are never looked at, even
//! when the chosen one is empty, so a malformed one further down is no error.
//!
//! | kind | key | legacy key | value |
//! |---|---|---|---|
//! | devices | `devices.noderesource.dev` | `devices.nri.io` | list of `{path, type, major, minor, file_mode, uid, gid}` |
//! | CDI devices | `cdi-devices.noderesource.dev` | `cdi-devices.nri.io` | list of CDI device names |
//! | mounts | `mounts.noderesource.dev` | `mounts.nri.io` | list of `{source, destination, type, options}` |
//! | I/O priority | `io-priority.noderesource.dev` | `io-priority.nri.io` | `{class, priority}` |
//! | scheduling | `scheduling-policy.noderesource.dev` | `scheduling-policy.nri.io` | `{policy, nice, priority, flags, runtime, deadline, period}` |
//! | network devices | `network-devices.noderesource.dev` | `network-devices.nri.io` | list of `{hostIf, name}` |
//! | sysctl | `sysctl.noderesource.dev` | none | map of sysctl name to value |
//! | memory policy | `memory-policy.noderesource.dev` | `memory-policy.nri.io` | `{mode, nodes, flags}` |
//!
//! Values are YAML (so JSON too), decoded with upstream's semantics (see
//! [`annotations`]): field names match case-insensitively (upstream's own
//! README writes `Name:` for network devices), unknown fields are ignored,
//! numbers and booleans given for strings become strings, `0644` is octal.
//!
//! # What each kind adds
//!
//! Kinds are processed in upstream's order (the order of the table), and the
//! first error ends processing.
//!
//! - **devices**: one `linux.devices` entry per item, fields copied as they
//!   are. `file_mode`, `uid` and `gid` are set only when non-zero, so mode 0
//!   or owner root cannot be requested explicitly (as upstream).
//! - **CDI devices**: one `cdi_devices` entry per name.
//! - **mounts**: one `mounts` entry per item, fields copied as they are; there
//!   are no defaults (no type, no options unless given).
//! - **I/O priority**: `linux.io_priority` from `class` (one of
//!   `IOPRIO_CLASS_NONE`, `IOPRIO_CLASS_RT`, `IOPRIO_CLASS_BE`,
//!   `IOPRIO_CLASS_IDLE`, exact spelling) and `priority`. An unknown or
//!   missing class only logs a warning and sets no priority; `linux` is still
//!   present in the adjustment, empty.
//! - **scheduling**: `linux.scheduler` from the fields; `policy` and `flags`
//!   are the exact enum names (`SCHED_FIFO`, `SCHED_FLAG_RESET_ON_FORK`…); a
//!   missing policy is `SCHED_NONE`.
//! - **network devices**: `linux.net_devices[hostIf] = {name}`; a later entry
//!   for the same `hostIf` replaces an earlier one.
//! - **sysctl**: one `linux.sysctl` entry per map entry.
//! - **memory policy**: `linux.memory_policy` from `mode` and `flags` (exact
//!   `MPOL_*` names; an unknown or missing mode or an unknown flag is an
//!   error, as upstream) and `nodes` (a string, passed on as it is).
//!
//! An empty value (or `~`) asks for nothing for the list and map kinds, and
//! does not fall back to a less specific key. For the struct kinds it is the
//! same as `{}`: for I/O priority an unknown class (see above), for
//! scheduling an all-zero `SCHED_NONE` scheduler, for memory policy a missing
//! mode (an error), all as upstream.
//!
//! Apart from the device type (see below), values are passed on unchecked,
//! so a device path, mount destination or sysctl name starting with `-`
//! reaches the runtime as a removal marker, as it does upstream.
//!
//! # Deliberate differences from upstream
//!
//! Where upstream would hand the runtime something it did not ask for, or
//! crash, this port returns an [`Error`] instead:
//!
//! - a device `type` other than `c`, `b`, `u` or `p`, including a missing
//!   one and so a null list entry ([`Reason::UnknownDeviceType`]; upstream
//!   passes it on, and OCI runtimes refuse such a device later);
//! - an unknown scheduling `policy` ([`Reason::UnknownSchedulerPolicy`];
//!   upstream silently uses `SCHED_NONE`, dropping the whole request) and an
//!   unknown scheduling flag ([`Reason::UnknownSchedulerFlag`]; upstream
//!   silently turns it into `SCHED_FLAG_RESET_ON_FORK`, the enum's zero);
//! - a null entry in the network device list ([`Reason::NullNetDevice`];
//!   upstream dereferences a nil pointer).

use std::fmt;

use nri_core::proto::api::{
    CdiDevice, Container, ContainerAdjustment, IoPrioClass, LinuxContainerAdjustment, LinuxDevice,
    LinuxIoPriority, LinuxMemoryPolicy, LinuxNetDevice, LinuxScheduler, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, Mount, MpolFlag, MpolMode, PodSandbox,
};
use nri_core::proto::optional;
use tracing::{debug, info, warn};

use crate::annotations::value::{self, Value};
use crate::annotations::{self, DecodeError};

/// The kinds of annotation the device injector handles, in the order it
/// processes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnnotationKind {
    /// Linux device nodes.
    Devices,
    /// CDI devices.
    CdiDevices,
    /// Mounts.
    Mounts,
    /// I/O priority.
    IoPriority,
    /// Scheduling policy and parameters.
    Scheduler,
    /// Network devices.
    NetDevices,
    /// Sysctls.
    Sysctl,
    /// NUMA memory policy.
    MemoryPolicy,
}

impl AnnotationKind {
    /// Every kind, in processing order.
    pub const ALL: [AnnotationKind; 8] = [
        AnnotationKind::Devices,
        AnnotationKind::CdiDevices,
        AnnotationKind::Mounts,
        AnnotationKind::IoPriority,
        AnnotationKind::Scheduler,
        AnnotationKind::NetDevices,
        AnnotationKind::Sysctl,
        AnnotationKind::MemoryPolicy,
    ];

    /// The annotation key (in the `noderesource.dev` domain), without scope.
    pub fn key(self) -> &'static str {
        match self {
            AnnotationKind::Devices => "devices.noderesource.dev",
            AnnotationKind::CdiDevices => "cdi-devices.noderesource.dev",
            AnnotationKind::Mounts => "mounts.noderesource.dev",
            AnnotationKind::IoPriority => "io-priority.noderesource.dev",
            AnnotationKind::Scheduler => "scheduling-policy.noderesource.dev",
            AnnotationKind::NetDevices => "network-devices.noderesource.dev",
            AnnotationKind::Sysctl => "sysctl.noderesource.dev",
            AnnotationKind::MemoryPolicy => "memory-policy.noderesource.dev",
        }
    }

    /// The deprecated key (in the `nri.io` domain), if the kind has one.
    pub fn legacy_key(self) -> Option<&'static str> {
        match self {
            AnnotationKind::Devices => Some("devices.nri.io"),
            AnnotationKind::CdiDevices => Some("cdi-devices.nri.io"),
            AnnotationKind::Mounts => Some("mounts.nri.io"),
            AnnotationKind::IoPriority => Some("io-priority.nri.io"),
            AnnotationKind::Scheduler => Some("scheduling-policy.nri.io"),
            AnnotationKind::NetDevices => Some("network-devices.nri.io"),
            AnnotationKind::Sysctl => None,
            AnnotationKind::MemoryPolicy => Some("memory-policy.nri.io"),
        }
    }

    /// The annotation of this kind that applies to `container`, as the
    /// matched key and its value.
    pub fn lookup<'a>(
        self,
        annotations: &'a std::collections::BTreeMap<String, String>,
        container: &str,
    ) -> Option<(&'a str, &'a str)> {
        annotations::effective(annotations, self.key(), self.legacy_key(), container)
    }

    fn noun(self) -> &'static str {
        match self {
            AnnotationKind::Devices => "device",
            AnnotationKind::CdiDevices => "CDI device",
            AnnotationKind::Mounts => "mount",
            AnnotationKind::IoPriority => "I/O priority",
            AnnotationKind::Scheduler => "scheduler",
            AnnotationKind::NetDevices => "net device",
            AnnotationKind::Sysctl => "sysctl",
            AnnotationKind::MemoryPolicy => "memory policy",
        }
    }
}

impl fmt::Display for AnnotationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// A malformed annotation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} annotation {key:?}: {reason}")]
pub struct Error {
    /// Which kind of annotation.
    pub kind: AnnotationKind,
    /// The annotation key, with its scope.
    pub key: String,
    /// The annotation value.
    pub value: String,
    /// What is wrong with it.
    pub reason: Reason,
}

/// What is wrong with a malformed annotation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// Not YAML, or not of the expected shape.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A device type other than `c`, `b`, `u` or `p`.
    #[error("device {index} ({path:?}) has type {device_type:?}, not one of c, b, u, p")]
    UnknownDeviceType {
        /// Position of the device in the list.
        index: usize,
        /// The device path.
        path: String,
        /// The type given.
        device_type: String,
    },
    /// A null entry in the list of network devices.
    #[error("network device {index} is null")]
    NullNetDevice {
        /// Position of the entry in the list.
        index: usize,
    },
    /// A scheduling policy that is not a `SCHED_*` name.
    #[error("unknown scheduling policy {0:?}")]
    UnknownSchedulerPolicy(String),
    /// A scheduling flag that is not a `SCHED_FLAG_*` name.
    #[error("unknown scheduling flag {0:?}")]
    UnknownSchedulerFlag(String),
    /// A memory policy mode that is not an `MPOL_*` name (upstream's
    /// wording).
    #[error("invalid memory policy mode {0:?}")]
    UnknownMemoryPolicyMode(String),
    /// A memory policy flag that is not an `MPOL_F_*` name (upstream's
    /// wording).
    #[error("invalid memory policy flag {0:?}")]
    UnknownMemoryPolicyFlag(String),
}

/// The adjustment upstream's device injector makes to `container` of `pod`
/// at creation, from the pod's annotations.
///
/// ```
/// use nri_core::proto::api::{Container, PodSandbox};
/// use nri_sample_plugins::device_injector::adjust;
///
/// let pod = PodSandbox {
///     annotations: [(
///         "devices.noderesource.dev/container.c0".to_string(),
///         "- {path: /dev/nri-null, type: c, major: 1, minor: 3}".to_string(),
///     )]
///     .into(),
///     ..Default::default()
/// };
/// let container = Container { name: "c0".into(), ..Default::default() };
/// let adjustment = adjust(&pod, &container)?;
/// let devices = &adjustment.linux.as_ref().unwrap().devices;
/// assert_eq!(devices[0].path, "/dev/nri-null");
/// assert_eq!((devices[0].major, devices[0].minor), (1, 3));
/// # Ok::<(), nri_sample_plugins::device_injector::Error>(())
/// ```
pub fn adjust(pod: &PodSandbox, container: &Container) -> Result<ContainerAdjustment, Error> {
    let who = format!("{}/{}", pod.name, container.name);
    let mut adjustment = ContainerAdjustment::default();
    for kind in AnnotationKind::ALL {
        let Some((key, text)) = kind.lookup(&pod.annotations, &container.name) else {
            debug!("{who}: no {kind} annotated");
            continue;
        };
        apply(kind, text, &who, &mut adjustment).map_err(|reason| Error {
            kind,
            key: key.to_string(),
            value: text.to_string(),
            reason,
        })?;
    }
    Ok(adjustment)
}

fn apply(
    kind: AnnotationKind,
    text: &str,
    who: &str,
    adjustment: &mut ContainerAdjustment,
) -> Result<(), Reason> {
    let root = value::parse(text)?;
    match kind {
        AnnotationKind::Devices => {
            let devices = decode_devices(&root)?;
            for device in devices {
                info!("{who}: injected device {:?}", device.path);
                linux(adjustment).devices.push(device);
            }
        }
        AnnotationKind::CdiDevices => {
            for name in value::strings(&root, "$")?.unwrap_or_default() {
                info!("{who}: injected CDI device {name:?}");
                adjustment.cdi_devices.push(CdiDevice { name });
            }
        }
        AnnotationKind::Mounts => {
            for mount in decode_mounts(&root)? {
                info!(
                    "{who}: injected mount {:?} -> {:?}",
                    mount.source, mount.destination
                );
                adjustment.mounts.push(mount);
            }
        }
        AnnotationKind::IoPriority => {
            let priority = decode_io_priority(&root)?;
            if priority.is_none() {
                warn!("{who}: unknown I/O priority class, no I/O priority set");
            }
            // Upstream sets the (possibly absent) priority all the same.
            linux(adjustment).io_priority = priority;
        }
        AnnotationKind::Scheduler => {
            let scheduler = decode_scheduler(&root)?;
            info!("{who}: adjusted scheduling attributes to {scheduler:?}");
            linux(adjustment).scheduler = Some(scheduler);
        }
        AnnotationKind::NetDevices => {
            for (host_if, device) in decode_net_devices(&root)? {
                info!(
                    "{who}: injected network device {host_if:?} -> {:?}",
                    device.name
                );
                linux(adjustment).net_devices.insert(host_if, device);
            }
        }
        AnnotationKind::Sysctl => {
            let sysctls = value::string_map(&root, "$", "map of sysctls")?.unwrap_or_default();
            for (name, setting) in sysctls {
                info!("{who}: adjusted sysctl {name}={setting}");
                linux(adjustment).sysctl.insert(name, setting);
            }
        }
        AnnotationKind::MemoryPolicy => {
            let policy = decode_memory_policy(&root)?;
            info!("{who}: adjusted memory policy to {policy:?}");
            linux(adjustment).memory_policy = Some(policy);
        }
    }
    Ok(())
}

fn linux(adjustment: &mut ContainerAdjustment) -> &mut LinuxContainerAdjustment {
    adjustment
        .linux
        .get_or_insert_with(LinuxContainerAdjustment::default)
}

/// Device types the OCI runtime spec defines.
const DEVICE_TYPES: [&str; 4] = ["c", "b", "u", "p"];

fn decode_devices(root: &Value) -> Result<Vec<LinuxDevice>, Reason> {
    let items = value::list(root, "$", "list of devices")?.unwrap_or_default();
    let mut devices = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let (mut path, mut device_type) = (String::new(), String::new());
        let (mut major, mut minor) = (0i64, 0i64);
        let (mut file_mode, mut uid, mut gid) = (0u32, 0u32, 0u32);
        value::fields(
            item,
            &value::index_path("$", index),
            "device",
            &["path", "type", "major", "minor", "file_mode", "uid", "gid"],
            |field, v, p| match field {
                0 => value::set_string(&mut path, v, p),
                1 => value::set_string(&mut device_type, v, p),
                2 => value::set_integer(&mut major, v, p, "int64"),
                3 => value::set_integer(&mut minor, v, p, "int64"),
                4 => value::set_integer(&mut file_mode, v, p, "uint32"),
                5 => value::set_integer(&mut uid, v, p, "uint32"),
                _ => value::set_integer(&mut gid, v, p, "uint32"),
            },
        )?;
        if !DEVICE_TYPES.contains(&device_type.as_str()) {
            return Err(Reason::UnknownDeviceType {
                index,
                path,
                device_type,
            });
        }
        devices.push(LinuxDevice {
            path,
            r#type: device_type,
            major,
            minor,
            // Upstream leaves zero values unset.
            file_mode: if file_mode != 0 {
                optional::file_mode(file_mode)
            } else {
                None
            },
            uid: if uid != 0 {
                optional::uint32(uid)
            } else {
                None
            },
            gid: if gid != 0 {
                optional::uint32(gid)
            } else {
                None
            },
        });
    }
    Ok(devices)
}

fn decode_mounts(root: &Value) -> Result<Vec<Mount>, DecodeError> {
    let items = value::list(root, "$", "list of mounts")?.unwrap_or_default();
    let mut mounts = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let mut mount = Mount::default();
        value::fields(
            item,
            &value::index_path("$", index),
            "mount",
            &["source", "destination", "type", "options"],
            |field, v, p| match field {
                0 => value::set_string(&mut mount.source, v, p),
                1 => value::set_string(&mut mount.destination, v, p),
                2 => value::set_string(&mut mount.r#type, v, p),
                _ => value::set_strings(&mut mount.options, v, p),
            },
        )?;
        mounts.push(mount);
    }
    Ok(mounts)
}

/// The I/O priority, or `None` for an unknown class.
fn decode_io_priority(root: &Value) -> Result<Option<LinuxIoPriority>, DecodeError> {
    let (mut class, mut priority) = (String::new(), 0i32);
    value::fields(
        root,
        "$",
        "I/O priority",
        &["class", "priority"],
        |field, v, p| match field {
            0 => value::set_string(&mut class, v, p),
            _ => value::set_integer(&mut priority, v, p, "int32"),
        },
    )?;
    Ok(
        IoPrioClass::from_str_name(&class).map(|class| LinuxIoPriority {
            class: class as i32,
            priority,
        }),
    )
}

fn decode_scheduler(root: &Value) -> Result<LinuxScheduler, Reason> {
    let mut policy = String::new();
    let mut flags = Vec::new();
    let mut scheduler = LinuxScheduler::default();
    value::fields(
        root,
        "$",
        "scheduling attributes",
        &[
            "policy", "nice", "priority", "flags", "runtime", "deadline", "period",
        ],
        |field, v, p| match field {
            0 => value::set_string(&mut policy, v, p),
            1 => value::set_integer(&mut scheduler.nice, v, p, "int32"),
            2 => value::set_integer(&mut scheduler.priority, v, p, "int32"),
            3 => value::set_strings(&mut flags, v, p),
            4 => value::set_integer(&mut scheduler.runtime, v, p, "uint64"),
            5 => value::set_integer(&mut scheduler.deadline, v, p, "uint64"),
            _ => value::set_integer(&mut scheduler.period, v, p, "uint64"),
        },
    )?;
    let policy = if policy.is_empty() {
        LinuxSchedulerPolicy::SchedNone
    } else {
        LinuxSchedulerPolicy::from_str_name(&policy)
            .ok_or(Reason::UnknownSchedulerPolicy(policy))?
    };
    scheduler.policy = policy as i32;
    scheduler.flags = flags
        .into_iter()
        .map(|flag| match LinuxSchedulerFlag::from_str_name(&flag) {
            Some(known) => Ok(known as i32),
            None => Err(Reason::UnknownSchedulerFlag(flag)),
        })
        .collect::<Result<_, _>>()?;
    Ok(scheduler)
}

fn decode_net_devices(root: &Value) -> Result<Vec<(String, LinuxNetDevice)>, Reason> {
    let items = value::list(root, "$", "list of network devices")?.unwrap_or_default();
    let mut devices = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if *item == Value::Null {
            return Err(Reason::NullNetDevice { index });
        }
        let (mut host_if, mut name) = (String::new(), String::new());
        value::fields(
            item,
            &value::index_path("$", index),
            "network device",
            &["hostIf", "name"],
            |field, v, p| match field {
                0 => value::set_string(&mut host_if, v, p),
                _ => value::set_string(&mut name, v, p),
            },
        )?;
        devices.push((host_if, LinuxNetDevice { name }));
    }
    Ok(devices)
}

fn decode_memory_policy(root: &Value) -> Result<LinuxMemoryPolicy, Reason> {
    let (mut mode, mut nodes, mut flags) = (String::new(), String::new(), Vec::new());
    value::fields(
        root,
        "$",
        "memory policy",
        &["mode", "nodes", "flags"],
        |field, v, p| match field {
            0 => value::set_string(&mut mode, v, p),
            1 => value::set_string(&mut nodes, v, p),
            _ => value::set_strings(&mut flags, v, p),
        },
    )?;
    let mode = MpolMode::from_str_name(&mode).ok_or(Reason::UnknownMemoryPolicyMode(mode))?;
    let flags = flags
        .into_iter()
        .map(|flag| match MpolFlag::from_str_name(&flag) {
            Some(known) => Ok(known as i32),
            None => Err(Reason::UnknownMemoryPolicyFlag(flag)),
        })
        .collect::<Result<_, _>>()?;
    Ok(LinuxMemoryPolicy {
        mode: mode as i32,
        nodes,
        flags,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use nri_core::proto::optional::OptionalValue;

    fn pod(annotations: &[(&str, &str)]) -> PodSandbox {
        PodSandbox {
            name: "pod0".into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn ctr(name: &str) -> Container {
        Container {
            name: name.into(),
            ..Default::default()
        }
    }

    fn run(annotations: &[(&str, &str)], container: &str) -> Result<ContainerAdjustment, Error> {
        adjust(&pod(annotations), &ctr(container))
    }

    fn ok(annotations: &[(&str, &str)], container: &str) -> ContainerAdjustment {
        run(annotations, container).expect("adjustment")
    }

    fn err(annotations: &[(&str, &str)], container: &str) -> Error {
        run(annotations, container).expect_err("an error")
    }

    fn linux_of(a: &ContainerAdjustment) -> &LinuxContainerAdjustment {
        a.linux.as_ref().expect("linux adjustment")
    }

    fn dev(path: &str, ty: &str, major: i64, minor: i64) -> LinuxDevice {
        LinuxDevice {
            path: path.into(),
            r#type: ty.into(),
            major,
            minor,
            ..Default::default()
        }
    }

    fn mount(source: &str, destination: &str, ty: &str, options: &[&str]) -> Mount {
        Mount {
            source: source.into(),
            destination: destination.into(),
            r#type: ty.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        }
    }

    const TEST_NULL: &str = "\n- path: /dev/test-null\n  type: c\n  major: 1\n  minor: 3\n";
    const TEST_ZERO: &str = "\n- path: /dev/test-zero\n  type: c\n  major: 1\n  minor: 5";

    #[test]
    fn keys_match_upstream_constants() {
        // device-injector.go's key constants; sysctl has no legacy key.
        let keys: Vec<_> = AnnotationKind::ALL
            .iter()
            .map(|k| (k.key(), k.legacy_key()))
            .collect();
        assert_eq!(
            keys,
            [
                ("devices.noderesource.dev", Some("devices.nri.io")),
                ("cdi-devices.noderesource.dev", Some("cdi-devices.nri.io")),
                ("mounts.noderesource.dev", Some("mounts.nri.io")),
                ("io-priority.noderesource.dev", Some("io-priority.nri.io")),
                (
                    "scheduling-policy.noderesource.dev",
                    Some("scheduling-policy.nri.io")
                ),
                (
                    "network-devices.noderesource.dev",
                    Some("network-devices.nri.io")
                ),
                ("sysctl.noderesource.dev", None),
                (
                    "memory-policy.noderesource.dev",
                    Some("memory-policy.nri.io")
                ),
            ]
        );
    }

    // Upstream TestParseDevices "no annotated devices": unrelated annotations
    // give an empty adjustment (not even `linux`).
    #[test]
    fn no_annotations_no_adjustment() {
        assert_eq!(
            ok(&[("foo", "bar")], "ctr0"),
            ContainerAdjustment::default()
        );
        assert_eq!(ok(&[], "ctr0"), ContainerAdjustment::default());
    }

    // Upstream TestParseDevices: single, multiple, non-matching container,
    // prefer new key, prefer more specific key (even if old).
    #[test]
    fn devices_from_upstream_parse_devices_test() {
        let single = ok(
            &[("devices.noderesource.dev/container.ctr0", TEST_NULL)],
            "ctr0",
        );
        assert_eq!(
            linux_of(&single).devices,
            [dev("/dev/test-null", "c", 1, 3)]
        );

        let both = format!("{TEST_NULL}{}", TEST_ZERO.trim_start_matches('\n'));
        let multiple = ok(
            &[("devices.noderesource.dev/container.ctr0", &both)],
            "ctr0",
        );
        assert_eq!(
            linux_of(&multiple).devices,
            [
                dev("/dev/test-null", "c", 1, 3),
                dev("/dev/test-zero", "c", 1, 5)
            ]
        );

        let other = ok(
            &[("devices.noderesource.dev/container.ctr1", &both)],
            "ctr0",
        );
        assert_eq!(other, ContainerAdjustment::default());

        for annotations in [
            [
                ("devices.noderesource.dev/container.ctr0", TEST_NULL),
                ("devices.nri.io/container.ctr0", TEST_ZERO),
            ],
            [
                ("devices.noderesource.dev/pod", TEST_ZERO),
                ("devices.noderesource.dev/container.ctr0", TEST_NULL),
            ],
            [
                ("devices.noderesource.dev/pod", TEST_ZERO),
                ("devices.nri.io/container.ctr0", TEST_NULL),
            ],
        ] {
            let a = ok(&annotations, "ctr0");
            assert_eq!(linux_of(&a).devices, [dev("/dev/test-null", "c", 1, 3)]);
        }
    }

    // Upstream sample-device-inject.yaml: devices for c0 and c1, a bind
    // mount for c2, all in one pod.
    #[test]
    fn upstream_sample_pod() {
        let annotations = [
            (
                "devices.noderesource.dev/container.c0",
                "- path: /dev/nri-null\n  type: c\n  major: 1\n  minor: 3\n",
            ),
            (
                "devices.noderesource.dev/container.c1",
                "- path: /dev/nri-zero\n  type: c\n  major: 1\n  minor: 5\n",
            ),
            (
                "mounts.noderesource.dev/container.c2",
                "- source: /home\n  destination: /host-home\n  type: bind\n  options:\n  - bind\n  - ro\n",
            ),
        ];
        let c0 = ok(&annotations, "c0");
        assert_eq!(linux_of(&c0).devices, [dev("/dev/nri-null", "c", 1, 3)]);
        assert!(c0.mounts.is_empty());
        let c1 = ok(&annotations, "c1");
        assert_eq!(linux_of(&c1).devices, [dev("/dev/nri-zero", "c", 1, 5)]);
        let c2 = ok(&annotations, "c2");
        assert_eq!(c2.linux, None);
        assert_eq!(
            c2.mounts,
            [mount("/home", "/host-home", "bind", &["bind", "ro"])]
        );
    }

    // device.toNRI: file_mode, uid and gid only when non-zero; YAML 1.1
    // octal for the mode (README: "file_mode: <permission mode>").
    #[test]
    fn device_optional_fields() {
        let a = ok(
            &[(
                "devices.noderesource.dev",
                "- {path: /dev/a, type: b, major: 8, minor: 0, file_mode: 0660, uid: 1000, gid: 0}\n\
                 - {path: /dev/b, type: c, major: 1, minor: 7, file_mode: 0, uid: 0, gid: 6}\n",
            )],
            "any",
        );
        let devices = &linux_of(&a).devices;
        assert_eq!(devices[0].file_mode.value(), Some(0o660));
        assert_eq!(devices[0].uid.value(), Some(1000));
        assert_eq!(devices[0].gid.value(), None);
        assert_eq!(devices[1].file_mode.value(), None);
        assert_eq!(devices[1].uid.value(), None);
        assert_eq!(devices[1].gid.value(), Some(6));
        assert_eq!((devices[0].r#type.as_str(), devices[0].major), ("b", 8));
    }

    // encoding/json matches field names case-insensitively; negative
    // numbers fit Major/Minor (int64).
    #[test]
    fn device_fields_are_case_insensitive() {
        let a = ok(
            &[(
                "devices.nri.io/pod",
                "- {PATH: /dev/x, Type: u, MAJOR: -1, Minor: 0x10, File_Mode: 0o600}",
            )],
            "c",
        );
        let d = &linux_of(&a).devices[0];
        assert_eq!(
            (d.path.as_str(), d.r#type.as_str(), d.major, d.minor),
            ("/dev/x", "u", -1, 16)
        );
        assert_eq!(d.file_mode.value(), Some(0o600));
    }

    // JSON is YAML: the same device as JSON.
    #[test]
    fn json_values_are_accepted() {
        let a = ok(
            &[(
                "devices.noderesource.dev/container.c",
                r#"[{"path": "/dev/j", "type": "p", "major": 0, "minor": 0, "uid": 5}]"#,
            )],
            "c",
        );
        assert_eq!(linux_of(&a).devices[0].path, "/dev/j");
        assert_eq!(linux_of(&a).devices[0].uid.value(), Some(5));
    }

    // Upstream README "CDI Device Annotations" example.
    #[test]
    fn cdi_devices_from_readme() {
        let annotations = [
            (
                "cdi-devices.noderesource.dev/container.c0",
                "- vendor0.com/device=null\n",
            ),
            (
                "cdi-devices.noderesource.dev/container.c1",
                "- vendor0.com/device=zero\n",
            ),
            (
                "cdi-devices.noderesource.dev/container.c2",
                "- vendor0.com/device=dev0\n- vendor1.com/device=dev0\n- vendor1.com/device=dev1\n",
            ),
            (
                "cdi-devices.noderesource.dev/container.mgmt",
                "- vendor0.com/device=all\n",
            ),
        ];
        let names = |c: &str| -> Vec<String> {
            ok(&annotations, c)
                .cdi_devices
                .into_iter()
                .map(|d| d.name)
                .collect()
        };
        assert_eq!(names("c0"), ["vendor0.com/device=null"]);
        assert_eq!(names("c1"), ["vendor0.com/device=zero"]);
        assert_eq!(
            names("c2"),
            [
                "vendor0.com/device=dev0",
                "vendor1.com/device=dev0",
                "vendor1.com/device=dev1"
            ]
        );
        assert_eq!(names("mgmt"), ["vendor0.com/device=all"]);
        assert!(names("other").is_empty());
        assert_eq!(ok(&annotations, "c0").linux, None);
    }

    // Upstream TestParseCDIDevices: the shadowed annotations there are
    // lists of lists, which would not decode; they must never be looked at.
    #[test]
    fn cdi_shadowed_annotations_are_not_decoded() {
        for annotations in [
            [
                (
                    "cdi-devices.nri.io/container.ctr0",
                    "\n- - vendor0.com/device=zero\n",
                ),
                (
                    "cdi-devices.noderesource.dev/container.ctr0",
                    "\n- vendor0.com/device=null\n",
                ),
            ],
            [
                (
                    "cdi-devices.noderesource.dev/pod",
                    "\n- - vendor0.com/device=zero\n",
                ),
                (
                    "cdi-devices.noderesource.dev/container.ctr0",
                    "\n- vendor0.com/device=null\n",
                ),
            ],
            [
                (
                    "cdi-devices.noderesource.dev/pod",
                    "\n- - vendor0.com/device=zero\n",
                ),
                (
                    "cdi-devices.nri.io/container.ctr0",
                    "\n- vendor0.com/device=null\n",
                ),
            ],
        ] {
            let a = ok(&annotations, "ctr0");
            assert_eq!(
                a.cdi_devices,
                [CdiDevice {
                    name: "vendor0.com/device=null".into()
                }]
            );
        }
        // The same list of lists, when it is the effective annotation.
        let e = err(
            &[(
                "cdi-devices.noderesource.dev/pod",
                "- - vendor0.com/device=zero\n",
            )],
            "ctr0",
        );
        assert_eq!(e.kind, AnnotationKind::CdiDevices);
        assert_eq!(e.key, "cdi-devices.noderesource.dev/pod");
        assert!(matches!(
            e.reason,
            Reason::Decode(DecodeError::Type { ref path, .. }) if path == "$[0]"
        ));
    }

    // Upstream TestParseMounts: single and multiple legacy-key mounts,
    // precedence of the new key and of the more specific key.
    #[test]
    fn mounts_from_upstream_parse_mounts_test() {
        let foo = "\n- source: /foo\n  destination: /host/foo\n  type: bind\n  options:\n    - bind\n    - ro\n";
        let bar =
            "\n- source: /bar\n  destination: /host/bar\n  type: bind\n  options:\n    - bind\n";
        let foo_mount = mount("/foo", "/host/foo", "bind", &["bind", "ro"]);

        let a = ok(&[("mounts.nri.io/container.ctr0", foo)], "ctr0");
        assert_eq!(a.mounts, std::slice::from_ref(&foo_mount));

        let both = format!("{bar}{}", foo.trim_start_matches('\n'));
        let a = ok(&[("mounts.nri.io/container.ctr0", &both)], "ctr0");
        assert_eq!(
            a.mounts,
            [
                mount("/bar", "/host/bar", "bind", &["bind"]),
                foo_mount.clone()
            ]
        );
        assert!(
            ok(&[("mounts.nri.io/container.ctr1", &both)], "ctr0")
                .mounts
                .is_empty()
        );

        for annotations in [
            [
                ("mounts.nri.io/container.ctr0", bar),
                ("mounts.noderesource.dev/container.ctr0", foo),
            ],
            [
                ("mounts.noderesource.dev/pod", bar),
                ("mounts.noderesource.dev/container.ctr0", foo),
            ],
            [
                ("mounts.noderesource.dev/pod", bar),
                ("mounts.nri.io/container.ctr0", foo),
            ],
        ] {
            assert_eq!(
                ok(&annotations, "ctr0").mounts,
                std::slice::from_ref(&foo_mount)
            );
        }
    }

    // mount.toNRI copies the fields as they are: no default type or options.
    #[test]
    fn mounts_have_no_defaults() {
        let a = ok(
            &[(
                "mounts.noderesource.dev",
                "- {source: tmpfs, destination: /scratch}",
            )],
            "c",
        );
        assert_eq!(a.mounts, [mount("tmpfs", "/scratch", "", &[])]);
    }

    // ioPrio.toNRI: the four IOPRIO_CLASS_* names, priority as given.
    #[test]
    fn io_priority() {
        for (class, expected) in [
            ("IOPRIO_CLASS_NONE", IoPrioClass::IoprioClassNone),
            ("IOPRIO_CLASS_RT", IoPrioClass::IoprioClassRt),
            ("IOPRIO_CLASS_BE", IoPrioClass::IoprioClassBe),
            ("IOPRIO_CLASS_IDLE", IoPrioClass::IoprioClassIdle),
        ] {
            let text = format!("{{class: {class}, priority: 3}}");
            let a = ok(&[("io-priority.noderesource.dev/container.c", &text)], "c");
            assert_eq!(
                linux_of(&a).io_priority,
                Some(LinuxIoPriority {
                    class: expected as i32,
                    priority: 3
                })
            );
        }
        let a = ok(
            &[(
                "io-priority.nri.io/pod",
                "class: IOPRIO_CLASS_BE\npriority: 7",
            )],
            "c",
        );
        assert_eq!(linux_of(&a).io_priority.map(|p| p.priority), Some(7));
    }

    // ioPrio.toNRI returns nil for an unknown class (with a warning), and
    // SetLinuxIOPriority(nil) still creates the linux adjustment. An empty
    // value decodes to class "" and goes the same way.
    #[test]
    fn io_priority_unknown_class_sets_nothing() {
        for text in ["{class: best-effort, priority: 3}", "", "{}", "~"] {
            let a = ok(&[("io-priority.noderesource.dev", text)], "c");
            assert_eq!(
                a.linux,
                Some(LinuxContainerAdjustment::default()),
                "{text:?}"
            );
        }
    }

    // scheduler.ToNRI: policy and flags by name, the rest copied.
    #[test]
    fn scheduler() {
        let a = ok(
            &[(
                "scheduling-policy.noderesource.dev/container.c",
                "policy: SCHED_FIFO\npriority: 50\nnice: -5\nflags: [SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_KEEP_PARAMS]\n",
            )],
            "c",
        );
        assert_eq!(
            linux_of(&a).scheduler,
            Some(LinuxScheduler {
                policy: LinuxSchedulerPolicy::SchedFifo as i32,
                nice: -5,
                priority: 50,
                flags: vec![
                    LinuxSchedulerFlag::SchedFlagResetOnFork as i32,
                    LinuxSchedulerFlag::SchedFlagKeepParams as i32
                ],
                ..Default::default()
            })
        );
        let a = ok(
            &[(
                "scheduling-policy.nri.io",
                "{policy: SCHED_DEADLINE, runtime: 10000000, deadline: 20000000, period: 30000000}",
            )],
            "c",
        );
        let s = linux_of(&a).scheduler.clone().unwrap();
        assert_eq!(s.policy, LinuxSchedulerPolicy::SchedDeadline as i32);
        assert_eq!(
            (s.runtime, s.deadline, s.period),
            (10_000_000, 20_000_000, 30_000_000)
        );
    }

    // An empty scheduler annotation (or one without policy) still sets a
    // SCHED_NONE scheduler, as upstream's zero-valued struct does.
    #[test]
    fn scheduler_without_policy_is_sched_none() {
        let a = ok(&[("scheduling-policy.noderesource.dev", "")], "c");
        assert_eq!(linux_of(&a).scheduler, Some(LinuxScheduler::default()));
        let a = ok(&[("scheduling-policy.noderesource.dev", "nice: 10")], "c");
        let s = linux_of(&a).scheduler.clone().unwrap();
        assert_eq!(
            (s.policy, s.nice),
            (LinuxSchedulerPolicy::SchedNone as i32, 10)
        );
    }

    // Deliberate difference: upstream maps unknown names to the enum zero.
    #[test]
    fn scheduler_unknown_names_are_errors() {
        let e = err(
            &[("scheduling-policy.noderesource.dev", "policy: fifo")],
            "c",
        );
        assert_eq!(e.kind, AnnotationKind::Scheduler);
        assert_eq!(e.reason, Reason::UnknownSchedulerPolicy("fifo".into()));
        let e = err(
            &[(
                "scheduling-policy.noderesource.dev",
                "{policy: SCHED_RR, flags: [SCHED_FLAG_BOGUS]}",
            )],
            "c",
        );
        assert_eq!(
            e.reason,
            Reason::UnknownSchedulerFlag("SCHED_FLAG_BOGUS".into())
        );
    }

    // Upstream README "Network Device Annotations" example (note `Name:`).
    #[test]
    fn network_devices_from_readme() {
        let annotations = [
            (
                "network-devices.noderesource.dev/container.c0",
                "- hostIf: ens2.100\n  Name: netdev0\n",
            ),
            (
                "network-devices.noderesource.dev/container.c1",
                "- hostIf: ens2.101\n  Name: netdev1\n",
            ),
        ];
        let a = ok(&annotations, "c0");
        assert_eq!(
            linux_of(&a).net_devices,
            [(
                "ens2.100".to_string(),
                LinuxNetDevice {
                    name: "netdev0".into()
                }
            )]
            .into()
        );
        let a = ok(&annotations, "c1");
        assert_eq!(linux_of(&a).net_devices["ens2.101"].name, "netdev1");
        assert_eq!(ok(&annotations, "c2").linux, None);
    }

    // AddLinuxNetDevice stores by host interface: the last entry wins.
    #[test]
    fn network_devices_same_host_interface() {
        let a = ok(
            &[(
                "network-devices.nri.io",
                "[{hostIf: eth1, name: a}, {hostIf: eth2, name: b}, {hostIf: eth1, name: c}]",
            )],
            "c",
        );
        let nets = &linux_of(&a).net_devices;
        assert_eq!(nets.len(), 2);
        assert_eq!(
            (nets["eth1"].name.as_str(), nets["eth2"].name.as_str()),
            ("c", "b")
        );
    }

    // Deliberate difference: upstream dereferences the nil entry.
    #[test]
    fn network_device_null_entry_is_an_error() {
        let e = err(
            &[(
                "network-devices.noderesource.dev",
                "- {hostIf: eth1, name: a}\n- ~\n",
            )],
            "c",
        );
        assert_eq!(e.reason, Reason::NullNetDevice { index: 1 });
    }

    // Upstream README "Sysctl Annotations" example; unquoted numbers and
    // YAML 1.1 booleans become strings as with sigs.k8s.io/yaml.
    #[test]
    fn sysctl() {
        let a = ok(
            &[(
                "sysctl.noderesource.dev/container.c0",
                "net.core.somaxconn: \"256\"\n",
            )],
            "c0",
        );
        assert_eq!(
            linux_of(&a).sysctl,
            [("net.core.somaxconn".to_string(), "256".to_string())].into()
        );
        let a = ok(
            &[(
                "sysctl.noderesource.dev/pod",
                "net.ipv4.ip_unprivileged_port_start: 80\nkernel.x: yes\nkernel.y: ~\n",
            )],
            "c0",
        );
        let sysctl = &linux_of(&a).sysctl;
        assert_eq!(sysctl["net.ipv4.ip_unprivileged_port_start"], "80");
        assert_eq!(sysctl["kernel.x"], "true");
        assert_eq!(sysctl["kernel.y"], "");
    }

    // sysctl has no legacy key: sysctl.nri.io is not consulted.
    #[test]
    fn sysctl_has_no_legacy_key() {
        let a = ok(
            &[("sysctl.nri.io/container.c0", "net.core.somaxconn: \"256\"")],
            "c0",
        );
        assert_eq!(a, ContainerAdjustment::default());
    }

    // Upstream README "Linux Memory Policy Annotations" example.
    #[test]
    fn memory_policy_from_readme() {
        let a = ok(
            &[(
                "memory-policy.noderesource.dev/container.c",
                "mode: MPOL_INTERLEAVE\nnodes: \"2,3\"\nflags: [ MPOL_F_STATIC_NODES ]\n",
            )],
            "c",
        );
        assert_eq!(
            linux_of(&a).memory_policy,
            Some(LinuxMemoryPolicy {
                mode: MpolMode::MpolInterleave as i32,
                nodes: "2,3".into(),
                flags: vec![MpolFlag::MpolFStaticNodes as i32],
            })
        );
        // Legacy key; every mode README lists is accepted; nodes may be a
        // bare number, which becomes a string.
        for mode in [
            "MPOL_DEFAULT",
            "MPOL_PREFERRED",
            "MPOL_BIND",
            "MPOL_INTERLEAVE",
            "MPOL_LOCAL",
            "MPOL_PREFERRED_MANY",
            "MPOL_WEIGHTED_INTERLEAVE",
        ] {
            let text = format!(
                "{{mode: {mode}, nodes: 1, flags: [MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING]}}"
            );
            let a = ok(&[("memory-policy.nri.io", &text)], "c");
            let p = linux_of(&a).memory_policy.clone().unwrap();
            assert_eq!(MpolMode::try_from(p.mode).unwrap().as_str_name(), mode);
            assert_eq!(p.nodes, "1");
            assert_eq!(
                p.flags,
                [
                    MpolFlag::MpolFRelativeNodes as i32,
                    MpolFlag::MpolFNumaBalancing as i32
                ]
            );
        }
    }

    // memoryPolicy.ToNRI: unknown mode or flag is an error; an empty value
    // has mode "" and is one too.
    #[test]
    fn memory_policy_errors() {
        let e = err(
            &[("memory-policy.noderesource.dev", "mode: interleave")],
            "c",
        );
        assert_eq!(e.kind, AnnotationKind::MemoryPolicy);
        assert_eq!(
            e.reason,
            Reason::UnknownMemoryPolicyMode("interleave".into())
        );
        assert_eq!(
            e.to_string(),
            "invalid memory policy annotation \"memory-policy.noderesource.dev\": \
             invalid memory policy mode \"interleave\""
        );
        let e = err(
            &[(
                "memory-policy.noderesource.dev",
                "{mode: MPOL_BIND, flags: [MPOL_F_X]}",
            )],
            "c",
        );
        assert_eq!(e.reason, Reason::UnknownMemoryPolicyFlag("MPOL_F_X".into()));
        let e = err(&[("memory-policy.noderesource.dev/pod", "")], "c");
        assert_eq!(e.reason, Reason::UnknownMemoryPolicyMode(String::new()));
    }

    // Every kind at once, for one container, against the full expected
    // adjustment built by hand.
    #[test]
    fn all_kinds_together() {
        let a = ok(
            &[
                (
                    "devices.noderesource.dev/container.c",
                    "- {path: /dev/d, type: c, major: 10, minor: 200}",
                ),
                ("cdi-devices.noderesource.dev/pod", "[vendor.com/gpu=0]"),
                (
                    "mounts.nri.io",
                    "- {source: /s, destination: /d, type: bind, options: [rbind]}",
                ),
                ("io-priority.noderesource.dev", "{class: IOPRIO_CLASS_IDLE}"),
                (
                    "scheduling-policy.noderesource.dev",
                    "{policy: SCHED_BATCH}",
                ),
                (
                    "network-devices.noderesource.dev",
                    "[{hostIf: eth9, name: net0}]",
                ),
                ("sysctl.noderesource.dev", "{net.core.somaxconn: '1024'}"),
                (
                    "memory-policy.noderesource.dev",
                    "{mode: MPOL_BIND, nodes: '0'}",
                ),
                ("unrelated", "x"),
            ],
            "c",
        );
        let expected = ContainerAdjustment {
            mounts: vec![mount("/s", "/d", "bind", &["rbind"])],
            cdi_devices: vec![CdiDevice {
                name: "vendor.com/gpu=0".into(),
            }],
            linux: Some(LinuxContainerAdjustment {
                devices: vec![dev("/dev/d", "c", 10, 200)],
                io_priority: Some(LinuxIoPriority {
                    class: IoPrioClass::IoprioClassIdle as i32,
                    priority: 0,
                }),
                scheduler: Some(LinuxScheduler {
                    policy: LinuxSchedulerPolicy::SchedBatch as i32,
                    ..Default::default()
                }),
                net_devices: [(
                    "eth9".to_string(),
                    LinuxNetDevice {
                        name: "net0".into(),
                    },
                )]
                .into(),
                sysctl: [("net.core.somaxconn".to_string(), "1024".to_string())].into(),
                memory_policy: Some(LinuxMemoryPolicy {
                    mode: MpolMode::MpolBind as i32,
                    nodes: "0".into(),
                    flags: vec![],
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(a, expected);
    }

    // len(annotation) == 0 / a null value: no devices, mounts, CDI devices,
    // network devices or sysctls, and no fallback to a less specific key.
    #[test]
    fn empty_values_request_nothing() {
        for kind in [
            AnnotationKind::Devices,
            AnnotationKind::CdiDevices,
            AnnotationKind::Mounts,
            AnnotationKind::NetDevices,
            AnnotationKind::Sysctl,
        ] {
            for text in ["", "~", "  \n"] {
                let container_key = format!("{}/container.c", kind.key());
                let pod_key = format!("{}/pod", kind.key());
                let a = ok(
                    &[
                        (&container_key, text),
                        (&pod_key, "this would not decode: ["),
                    ],
                    "c",
                );
                assert_eq!(a, ContainerAdjustment::default(), "{kind} {text:?}");
            }
        }
    }

    #[test]
    fn unknown_device_type_is_an_error() {
        let e = err(
            &[(
                "devices.noderesource.dev/container.c",
                "- {path: /dev/ok, type: c}\n- {path: /dev/bad, type: x, major: 1}\n",
            )],
            "c",
        );
        assert_eq!(e.kind, AnnotationKind::Devices);
        assert_eq!(e.key, "devices.noderesource.dev/container.c");
        assert_eq!(
            e.reason,
            Reason::UnknownDeviceType {
                index: 1,
                path: "/dev/bad".into(),
                device_type: "x".into()
            }
        );
        // A missing type is no better.
        let e = err(&[("devices.noderesource.dev", "- {path: /dev/none}")], "c");
        assert!(
            matches!(e.reason, Reason::UnknownDeviceType { ref device_type, .. } if device_type.is_empty())
        );
    }

    #[test]
    fn wrong_types_are_errors() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // (key, value, error path, expected type)
            (
                "devices.noderesource.dev",
                "- {path: /dev/x, type: c, major: \"1\"}",
                "$[0].major",
                "int64",
            ),
            (
                "devices.noderesource.dev",
                "- {path: /dev/x, type: c, minor: 1.5}",
                "$[0].minor",
                "int64",
            ),
            (
                "devices.noderesource.dev",
                "- {path: /dev/x, type: c, uid: -1}",
                "$[0].uid",
                "uint32",
            ),
            (
                "devices.noderesource.dev",
                "- {path: /dev/x, type: c, file_mode: 4294967296}",
                "$[0].file_mode",
                "uint32",
            ),
            (
                "devices.noderesource.dev",
                "- {path: [a], type: c}",
                "$[0].path",
                "string",
            ),
            (
                "devices.noderesource.dev",
                "{path: /dev/x, type: c}",
                "$",
                "list of devices",
            ),
            (
                "devices.noderesource.dev",
                "- just-a-string",
                "$[0]",
                "device",
            ),
            (
                "cdi-devices.noderesource.dev",
                "vendor.com/gpu=0",
                "$",
                "list of strings",
            ),
            (
                "mounts.noderesource.dev",
                "- {source: /a, destination: /b, options: ro}",
                "$[0].options",
                "list of strings",
            ),
            (
                "io-priority.noderesource.dev",
                "{class: IOPRIO_CLASS_RT, priority: high}",
                "$.priority",
                "int32",
            ),
            (
                "io-priority.noderesource.dev",
                "[IOPRIO_CLASS_RT]",
                "$",
                "I/O priority",
            ),
            (
                "scheduling-policy.noderesource.dev",
                "{policy: SCHED_RR, priority: 2147483648}",
                "$.priority",
                "int32",
            ),
            (
                "scheduling-policy.noderesource.dev",
                "{policy: SCHED_DEADLINE, runtime: -1}",
                "$.runtime",
                "uint64",
            ),
            (
                "network-devices.noderesource.dev",
                "{hostIf: eth0}",
                "$",
                "list of network devices",
            ),
            (
                "sysctl.noderesource.dev",
                "- net.core.somaxconn=256",
                "$",
                "map of sysctls",
            ),
            (
                "sysctl.noderesource.dev",
                "{net.core.somaxconn: [256]}",
                "$[\"net.core.somaxconn\"]",
                "string",
            ),
            (
                "memory-policy.noderesource.dev",
                "{mode: MPOL_BIND, flags: MPOL_F_STATIC_NODES}",
                "$.flags",
                "list of strings",
            ),
        ];
        for (key, text, path, expected) in cases {
            let e = err(&[(key, text)], "c");
            assert_eq!(e.key, *key, "{text}");
            assert_eq!(e.value, *text);
            match &e.reason {
                Reason::Decode(DecodeError::Type {
                    path: p,
                    expected: x,
                    ..
                }) => assert_eq!((p.as_str(), *x), (*path, *expected), "{key}: {text}"),
                other => panic!("{key}: {text}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn bad_yaml_is_an_error_for_every_kind() {
        for kind in AnnotationKind::ALL {
            let key = format!("{}/container.c", kind.key());
            let e = err(&[(&key, "- [unclosed\n")], "c");
            assert_eq!(e.kind, kind);
            assert_eq!(e.key, key);
            assert!(
                matches!(e.reason, Reason::Decode(DecodeError::Syntax(_))),
                "{kind}"
            );
            assert!(
                e.to_string()
                    .starts_with(&format!("invalid {kind} annotation"))
            );
        }
    }

    // Processing stops at the first malformed annotation, in upstream's
    // order (devices before mounts).
    #[test]
    fn first_error_wins() {
        let e = err(
            &[
                ("mounts.noderesource.dev", "not: [a list"),
                ("devices.noderesource.dev", "- {path: /dev/x, type: q}"),
            ],
            "c",
        );
        assert_eq!(e.kind, AnnotationKind::Devices);
    }

    // Upstream passes values through: a `-` prefix is a removal marker to
    // the runtime.
    #[test]
    fn removal_markers_pass_through() {
        let a = ok(
            &[
                ("mounts.noderesource.dev", "- {destination: -/tmp}"),
                ("sysctl.noderesource.dev", "{-net.core.somaxconn: ''}"),
            ],
            "c",
        );
        assert_eq!(a.mounts[0].destination, "-/tmp");
        assert!(linux_of(&a).sysctl.contains_key("-net.core.somaxconn"));
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "",
            "~",
            "[",
            "]",
            "{",
            "- - - -",
            ":",
            "? : ?",
            "&a [*a]",
            "*undefined",
            "!!binary AAAA",
            "!!binary //8=",
            "a: &x {b: *x}",
            "{.inf: 1}",
            "[.nan]",
            "- {<<: {path: /d, type: c}}",
            "\u{0}",
            "\t\t",
            "- {major: 99999999999999999999999}",
            "- {major: 1e400}",
            "'unterminated",
            "---\n- a\n---\n- b\n",
            "%TAG ! tag:x,2000:\n--- !foo [1]",
            "[1, [2, [3, [4, [5]]]]]",
            "{a: 1, a: 2}",
            "- {path: \u{FEFF}, type: c}",
            "0x",
            "-.inf",
            "!!int abc",
            "!!float x",
        ];
        for kind in AnnotationKind::ALL {
            for text in inputs {
                let _ = run(&[(kind.key(), text)], "c");
            }
        }
        // Deep nesting and an alias bomb hit serde-saphyr's default budget
        // (depth 64, 250 000 nodes) and are refused, not expanded.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            bomb.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            ));
        }
        for text in [&deep, &bomb] {
            let e = err(&[("devices.noderesource.dev", text)], "c");
            assert!(
                matches!(e.reason, Reason::Decode(DecodeError::Syntax(_))),
                "{e}"
            );
        }
    }
}
