//! `nri-device-injector`: adjusts containers from pod annotations
//! ([`nri_plugins::device_injector`]): devices, CDI devices, mounts, I/O
//! priority, network devices, scheduling policy, sysctls and memory
//! policy. A malformed annotation fails the container's creation, with the
//! reason, as upstream's plugin does.

use std::process::ExitCode;

use clap::Parser;
use nri_plugins::cli::{self, CommonArgs};
use nri_plugins::create_adjuster::CreateAdjuster;
use nri_plugins::device_injector;

/// Injects devices, mounts and more into containers, as pod annotations ask.
#[derive(Debug, Parser)]
#[command(name = "nri-device-injector", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run(
        "nri-device-injector",
        CreateAdjuster(device_injector::adjust),
        &args.common,
        |stub| stub,
    )
}
