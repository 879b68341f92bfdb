//! `nri-ulimit-adjuster`: sets containers' rlimits from the pod annotation
//! `ulimits.noderesource.dev/container.<name>`
//! ([`nri_plugins::ulimit_adjuster`]). A malformed annotation fails the
//! container's creation, as upstream's plugin does.

use std::process::ExitCode;

use clap::Parser;
use nri_plugins::cli::{self, CommonArgs};
use nri_plugins::create_adjuster::CreateAdjuster;
use nri_plugins::ulimit_adjuster;

/// Adjusts container ulimits as pod annotations ask.
#[derive(Debug, Parser)]
#[command(name = "nri-ulimit-adjuster", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run(
        "nri-ulimit-adjuster",
        CreateAdjuster(ulimit_adjuster::adjust),
        &args.common,
        |stub| stub,
    )
}
