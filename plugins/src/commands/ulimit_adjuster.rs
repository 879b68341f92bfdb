//! `nri-ulimit-adjuster`: sets containers' rlimits from the pod annotation
//! `ulimits.noderesource.dev/container.<name>`
//! ([`crate::ulimit_adjuster`]). A malformed annotation fails the
//! container's creation, as upstream's plugin does.

use std::process::ExitCode;

use crate::cli::{self, CommonArgs};
use crate::create_adjuster::CreateAdjuster;
use crate::ulimit_adjuster;
use clap::Parser;

/// Adjusts container ulimits as pod annotations ask.
#[derive(Debug, Parser)]
#[command(name = "nri-ulimit-adjuster", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    cli::run(
        "nri-ulimit-adjuster",
        CreateAdjuster(ulimit_adjuster::adjust),
        &args.common,
        |stub| stub,
    )
}
