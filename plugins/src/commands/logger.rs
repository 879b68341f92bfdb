//! `nri-logger`: logs every request ([`crate::logger`]).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{self, CommonArgs};
use crate::logger::{Logger, LoggerConfig};
use clap::Parser;

/// Logs every NRI request it receives; optionally adds or sets an
/// annotation and an environment variable on containers.
#[derive(Debug, Parser)]
#[command(name = "nri-logger", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Comma-separated events to subscribe to (default: all).
    #[arg(long)]
    events: Option<String>,
    /// Append the log to this file.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Add this annotation to containers.
    #[arg(long)]
    add_annotation: Option<String>,
    /// Set this annotation on containers, replacing another plugin's.
    #[arg(long)]
    set_annotation: Option<String>,
    /// Add this environment variable to containers.
    #[arg(long)]
    add_env: Option<String>,
    /// Set this environment variable on containers, replacing another
    /// plugin's.
    #[arg(long)]
    set_env: Option<String>,
}

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    let mut config = LoggerConfig {
        log_file: args.log_file,
        events: args
            .events
            .map(|e| e.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        add_annotation: args.add_annotation,
        set_annotation: args.set_annotation,
        add_env: args.add_env,
        set_env: args.set_env,
    };
    let built = args
        .common
        .config_text()
        .and_then(|text| config.apply(&text))
        .and_then(|()| config.event_mask().map(|mask| (mask, config)))
        .and_then(|(mask, config)| Logger::new(config).map(|logger| (mask, logger)));
    let (mask, logger) = match built {
        Ok(built) => built,
        Err(error) => {
            eprintln!("nri-logger: {error}");
            return ExitCode::FAILURE;
        }
    };
    cli::run(logger, &args.common, |stub| match mask {
        Some(mask) => stub.events(mask),
        None => stub,
    })
}
