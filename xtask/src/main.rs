//! Maintainer tasks for nri-rs, run as `cargo xtask <task>`.
//!
//! - `cargo xtask codegen [--check]`: regenerate the checked-in Rust code of
//!   `nri-proto` from `proto/schema/*.proto` (or, with `--check`, fail and
//!   name the stale files).
//! - `cargo xtask release [--dry-run | --yes]`: check release metadata, package
//!   every publishable crate in dependency order, and publish only with `--yes`.
//! - `cargo xtask plugins [--bin NAME]...`: build the sample plugins as they
//!   are deployed (release, static executables) into `target/release/`.

mod codegen;
mod plugins;
mod release;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Maintainer tasks for nri-rs")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Regenerate nri-proto's generated Rust code from the .proto schemas.
    Codegen {
        /// Do not write anything; exit non-zero and name the files that are stale.
        #[arg(long)]
        check: bool,
    },
    /// Check release metadata, package the crates and (with --yes) publish them.
    Release {
        /// Check and package only; never upload.
        #[arg(long, conflicts_with = "yes")]
        dry_run: bool,
        /// Really publish to the package registry (a human's decision).
        #[arg(long)]
        yes: bool,
        /// Skip `cargo package`'s verification build (faster, less thorough).
        #[arg(long)]
        no_verify: bool,
    },
    /// Build the sample plugins as deployed: release, one static executable each.
    Plugins {
        /// Only these binaries (e.g. nri-echo); every sample plugin when none.
        #[arg(long = "bin", value_name = "NAME")]
        bins: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Codegen { check } => codegen::run(check),
        Task::Release {
            dry_run,
            yes,
            no_verify,
        } => release::run(release::Mode::from_flags(dry_run, yes), no_verify),
        Task::Plugins { bins } => plugins::run(&bins),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
