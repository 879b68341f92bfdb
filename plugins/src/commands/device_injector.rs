//! `nri-device-injector`: adjusts containers from pod annotations
//! ([`crate::device_injector`]): devices, CDI devices, mounts, I/O
//! priority, network devices, scheduling policy, sysctls and memory
//! policy. A malformed annotation fails the container's creation, with the
//! reason, as upstream's plugin does.

use std::process::ExitCode;

use crate::cli::{self, CommonArgs};
use crate::create_adjuster::CreateAdjuster;
use crate::device_injector;
use clap::Parser;

/// Injects devices, mounts and more into containers, as pod annotations ask.
#[derive(Debug, Parser)]
#[command(name = "nri-device-injector", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    cli::run(
        "nri-device-injector",
        CreateAdjuster(device_injector::adjust),
        &args.common,
        |stub| stub,
    )
}
