//! `nri-device-injector`: adjusts containers from pod annotations
//! ([`crate::device_injector`]): devices, CDI devices, mounts, I/O
//! priority, network devices, scheduling policy, sysctls and memory
//! policy. A malformed annotation fails the container's creation, with the
//! reason, as upstream's plugin does.

use std::process::ExitCode;

use crate::cli;
use crate::create_adjuster::CreateAdjuster;
use crate::device_injector;

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    cli::run_with_common_flags(
        "nri-device-injector",
        "Injects devices, mounts and more into containers, as pod annotations ask.",
        CreateAdjuster(device_injector::adjust),
        args,
    )
}
