//! The fake plugin as a plugin process: [`main`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nri_sample_plugins::cli::{self, CommonArgs};

use super::FakePlugin;
use super::script::Script;

/// A scriptable fake NRI plugin. Without a script it takes one from the
/// runtime's configuration, and with neither it records only.
#[derive(Debug, Parser)]
#[command(name = "fake-plugin")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The script to follow (YAML, or JSON for a .json file); the same as
    /// --config. A script in the runtime's configuration replaces it.
    #[arg(long, conflicts_with = "config")]
    script: Option<PathBuf>,
}

/// Runs a fake plugin process with these command-line arguments (the
/// first is the program's name) until the runtime goes away, the script
/// closes the connection, SIGINT or SIGTERM; returns its exit status.
///
/// Flags: `--name`, `--idx`, `--socket-path`, `--script FILE` (or
/// `--config FILE`), `--verbose`. A runtime that launches it decides its
/// identity and connection (`NRI_PLUGIN_NAME`, `NRI_PLUGIN_IDX`,
/// `NRI_PLUGIN_SOCKET`), as for every plugin; without `--idx` the
/// executable's `NN-name` gives both. `crash` in the script exits the
/// process with its code.
///
/// It builds its own async runtime: call it from a plain `main`, not from
/// inside a tokio runtime.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let program = args
        .first()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "fake-plugin".into());
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let file = args.script.as_ref().or(args.common.config.as_ref());
    let script = match file.map(Script::from_file).transpose() {
        Ok(script) => script.unwrap_or_default(),
        Err(error) => {
            eprintln!("{program}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let fake = FakePlugin::new(script).exit_on_crash();
    cli::run_built(
        fake.clone(),
        &args.common,
        |builder| builder,
        |stub| fake.attach(stub.stopper()),
    )
}
