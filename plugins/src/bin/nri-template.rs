//! `nri-template`: the plugin skeleton ([`nri_plugins::template`]).

use std::process::ExitCode;

use clap::Parser;
use nri_plugins::cli::{self, CommonArgs};
use nri_plugins::template::{Template, TemplateConfig};

/// A skeleton plugin that logs pod and container events.
#[derive(Debug, Parser)]
#[command(name = "nri-template", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
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
