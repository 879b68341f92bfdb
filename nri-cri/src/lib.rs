//! Connects a Kubernetes CRI runtime to NRI through nri-core.
//!
//! This crate will hold the conversions between CRI objects and NRI's pods
//! and containers, the application of NRI adjustments to OCI runtime specs,
//! and a CRI middleware that calls into nri-core's runtime API at every pod
//! and container lifecycle point.

pub use nri_core;

/// Applying a merged NRI container adjustment to an OCI runtime spec.
pub mod oci;
