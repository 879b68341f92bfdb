//! `nri-template`: the plugin skeleton ([`crate::template`]).

use std::process::ExitCode;

use crate::cli;
use crate::template::Template;

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    cli::run_configured(
        "nri-template",
        "A skeleton plugin that logs pod and container events.",
        Template::new,
        args,
    )
}
