//! The runtime's callbacks for the parts of an adjustment NRI only names.

use std::fmt;

use oci_spec::runtime::{LinuxBlockIo, Spec};

use super::mountinfo;

/// Runtime callbacks [`apply`](super::apply) needs for the parts of an
/// adjustment that only name something the runtime knows how to expand:
/// block I/O and RDT classes, CDI devices, the hugetlb controller, and the
/// mount propagation of host paths.
///
/// Every method has a default, so a runtime overrides only what it supports.
/// Defaults never drop a request silently: a block I/O class or a CDI device
/// without a runtime that resolves it is an error.
///
/// ```
/// use nri_cri::oci::Resolvers;
/// use oci_spec::runtime::{LinuxBlockIo, LinuxBlockIoBuilder};
///
/// /// A runtime with one block I/O class and no hugetlb controller.
/// struct MyRuntime;
///
/// impl Resolvers for MyRuntime {
///     fn blockio_class(&self, class: &str) -> Result<Option<LinuxBlockIo>, String> {
///         match class {
///             "slow" => LinuxBlockIoBuilder::default()
///                 .weight(10u16)
///                 .build()
///                 .map(Some)
///                 .map_err(|e| e.to_string()),
///             other => Err(format!("unknown block I/O class {other:?}")),
///         }
///     }
///
///     fn hugetlb_enabled(&self) -> bool {
///         false
///     }
/// }
/// ```
pub trait Resolvers {
    /// The RDT class of service ID (`linux.intelRdt.closID`) for RDT class
    /// `class`; `None` removes `linux.intelRdt`.
    ///
    /// The default, like containerd's, uses the class name as the ID.
    fn rdt_class(&self, class: &str) -> Result<Option<String>, String> {
        Ok(Some(class.to_owned()))
    }

    /// The block I/O parameters (`linux.resources.blockIO`) of block I/O
    /// class `class`; `None` removes them.
    ///
    /// The default fails: block I/O classes are runtime configuration.
    fn blockio_class(&self, class: &str) -> Result<Option<LinuxBlockIo>, String> {
        Err(format!("no block I/O class resolver for class {class:?}"))
    }

    /// Injects the CDI devices named `devices` (fully qualified names such
    /// as `vendor.com/gpu=0`) into `spec`.
    ///
    /// The default fails, naming the devices.
    fn inject_cdi(&self, spec: &mut Spec, devices: &[String]) -> Result<(), String> {
        let _ = spec;
        Err(format!("no CDI device injector for {}", devices.join(", ")))
    }

    /// Whether the hugetlb cgroup controller is in use. When it is not
    /// (containerd's `disable_hugetlb_controller`), hugepage limits of an
    /// adjustment are dropped.
    ///
    /// The default is `true`.
    fn hugetlb_enabled(&self) -> bool {
        true
    }

    /// The mount propagation of the host mount holding `path`, the source of
    /// a mount that asks for `rshared` or `rslave` propagation.
    ///
    /// The default looks `path` up in `/proc/self/mountinfo` (the host mount
    /// whose mount point is the longest one containing the cleaned path;
    /// symbolic links are not resolved).
    fn mount_propagation(&self, path: &str) -> Result<MountPropagation, String> {
        mountinfo::propagation_of(path)
    }
}

/// The default [`Resolvers`]: RDT class names are closIDs, block I/O classes
/// and CDI devices are errors, hugetlb is enabled and mount propagation comes
/// from `/proc/self/mountinfo`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultResolvers;

impl Resolvers for DefaultResolvers {}

/// How a host mount propagates mount events (the optional fields of its
/// `/proc/self/mountinfo` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountPropagation {
    /// A member of a peer group (`shared:N`), whether or not it is also a
    /// slave.
    Shared,
    /// A slave of a peer group and not shared itself (`master:N`).
    Slave,
    /// Neither: private or unbindable.
    Private,
}

impl fmt::Display for MountPropagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MountPropagation::Shared => "shared",
            MountPropagation::Slave => "slave",
            MountPropagation::Private => "private",
        })
    }
}

/// A class an adjustment names (block I/O, RDT), resolved by the runtime:
/// `None` when the adjustment leaves the class alone, `Some(None)` when it
/// removes it (an empty name, or a class the runtime resolves to nothing),
/// `Some(Some(value))` to set.
pub(super) fn resolve_class<T>(
    class: &Option<nri_proto::api::OptionalString>,
    field: &'static str,
    resolve: impl FnOnce(&str) -> Result<Option<T>, String>,
) -> Result<Option<Option<T>>, super::AdjustError> {
    use nri_proto::optional::OptionalValue as _;
    let Some(class) = class.value() else {
        return Ok(None);
    };
    if class.is_empty() {
        return Ok(Some(None));
    }
    resolve(&class)
        .map(Some)
        .map_err(|reason| super::AdjustError::resolver(field, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let r = DefaultResolvers;
        assert_eq!(r.rdt_class("gold"), Ok(Some("gold".to_string())));
        let blockio = r.blockio_class("slow").unwrap_err();
        assert!(blockio.contains("no block I/O class resolver"), "{blockio}");
        let mut spec = Spec::default();
        let before = spec.clone();
        let cdi = r
            .inject_cdi(
                &mut spec,
                &["vendor.com/gpu=0".into(), "vendor.com/gpu=1".into()],
            )
            .unwrap_err();
        assert!(
            cdi.contains("vendor.com/gpu=0") && cdi.contains("vendor.com/gpu=1"),
            "{cdi}"
        );
        assert_eq!(spec, before);
        assert!(r.hugetlb_enabled());
    }

    #[test]
    fn default_propagation_lookup_finds_the_root() {
        // Every Linux process has a root mount; its propagation depends on
        // the host, only that it is found is certain.
        assert!(DefaultResolvers.mount_propagation("/").is_ok());
    }
}
