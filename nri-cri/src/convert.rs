//! CRI pods and containers as NRI sees them, and resources both ways.
//!
//! A runtime describes a pod or container from what it has: the CRI config
//! it was created from, its CRI status, and (a runtime that builds OCI
//! specs) its spec. [`pod_sandbox`] and [`container()`] take whichever of
//! these exist and fill every field containerd and CRI-O fill. Where
//! they differ from containerd, on purpose:
//!
//! - an exited container is [`ContainerStopped`](nri_proto::api::ContainerState::ContainerStopped),
//!   not Unknown (containerd reports Unknown since its `695c91324`);
//! - the status reason and message are sent (both runtimes compute and drop
//!   them);
//! - memory swap and the OOM score adjustment survive the trip from CRI
//!   resources to NRI and back ([`resources`]);
//! - missing parts never panic: a container without a process, rlimits or
//!   Linux section simply has none.
//!
//! Given an OCI spec (`spec` in [`PodSource`] and [`ContainerSource`]), what
//! it says wins over the CRI-level approximation, part by part: a
//! container's command line, environment, mounts, hooks, rlimits, user and
//! Linux settings are the spec's, and its annotations lie between the
//! status's and the config's; a pod gets its namespaces, cgroups path and
//! resources from it, and its annotations overlaid by the spec's.

pub mod container;
pub mod pod;
pub mod resources;
mod spec;

pub use container::{ContainerSource, container, container_state};
pub use pod::{PodSource, pod_sandbox};
