//! `nri-echo`: the benchmark plugin ([`crate::echo`]).

use std::process::ExitCode;

use crate::cli::{self, CommonArgs};
use crate::echo::Echo;
use clap::Parser;

/// Subscribes to every event; on CreateContainer adds `NRI_ECHO_<idx>=<name>`
/// and the annotation `echo.nri.dev/<idx>-<name>`.
#[derive(Debug, Parser)]
#[command(name = "nri-echo", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    cli::run("nri-echo", Echo::default(), &args.common, |stub| stub)
}
