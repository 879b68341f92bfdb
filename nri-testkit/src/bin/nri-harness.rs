//! `nri-harness`: the NRI runtime simulator of nri-testkit.
//!
//! Today it runs the RPC stack check (see `nri_testkit::stack_check`): the
//! echo plugin served over ttrpc and over gRPC on unix sockets in a temporary
//! directory, one scripted exchange over each, and a report. It needs no root
//! and no configuration. The lifecycle simulator replaces it as nri-core and
//! the transports land.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "nri-harness",
    version,
    about = "Exercise NRI plugins without a Kubernetes node"
)]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli {} = Cli::parse();
    let dir = match tempfile::Builder::new().prefix("nri-").tempdir() {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("nri-harness: cannot create a temporary directory: {err}");
            return ExitCode::FAILURE;
        }
    };
    match nri_testkit::stack_check::run(dir.path()).await {
        Ok(report) => {
            println!("{report}");
            if report.all_match() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("nri-harness: {err}");
            ExitCode::FAILURE
        }
    }
}
