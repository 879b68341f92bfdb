//! `nri-echo`: the benchmark plugin ([`crate::echo`]).

use std::process::ExitCode;

use crate::cli;
use crate::echo::Echo;

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    cli::run_configured(
        "nri-echo",
        "Subscribes to every event but validation (configuration `validate: true` adds it); on CreateContainer adds `NRI_ECHO_<idx>=<name>` and the annotation `echo.nri.dev/<idx>-<name>`.",
        Echo::new,
        args,
    )
}
