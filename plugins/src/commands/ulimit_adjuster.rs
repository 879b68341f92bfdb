//! `nri-ulimit-adjuster`: sets containers' rlimits from the pod annotation
//! `ulimits.noderesource.dev/container.<name>`
//! ([`crate::ulimit_adjuster`]). A malformed annotation fails the
//! container's creation, as upstream's plugin does.

use std::process::ExitCode;

use crate::cli;
use crate::create_adjuster::CreateAdjuster;
use crate::ulimit_adjuster;

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    cli::run_with_common_flags(
        "nri-ulimit-adjuster",
        "Adjusts container ulimits as pod annotations ask.",
        CreateAdjuster(ulimit_adjuster::adjust),
        args,
    )
}
