//! `nri-template`: the plugin skeleton ([`crate::template`]).

use std::process::ExitCode;

use crate::cli::{self, CommonArgs};
use crate::template::{Template, TemplateConfig};
use clap::Parser;

/// A skeleton plugin that logs pod and container events.
#[derive(Debug, Parser)]
#[command(name = "nri-template", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    let config = args
        .common
        .config_text()
        .and_then(|text| TemplateConfig::parse(&text));
    match config {
        Ok(config) => cli::run(
            "nri-template",
            Template::new(config),
            &args.common,
            |stub| stub,
        ),
        Err(error) => {
            eprintln!("nri-template: {error}");
            ExitCode::FAILURE
        }
    }
}
