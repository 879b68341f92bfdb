//! `nri-ulimit-adjuster`: sets containers' rlimits from the pod annotation
//! `ulimits.noderesource.dev/container.<name>`
//! ([`nri_plugins::ulimit_adjuster`]). A malformed annotation fails the
//! container's creation, as upstream's plugin does.

use std::process::ExitCode;

use clap::Parser;
use nri_core::proto::api::{Container, CreateContainerResponse, PodSandbox};
use nri_core::stub::{HandlerResult, Plugin};
use nri_plugins::cli::{self, CommonArgs};
use nri_plugins::ulimit_adjuster;

/// Adjusts container ulimits as pod annotations ask.
#[derive(Debug, Parser)]
#[command(name = "nri-ulimit-adjuster", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

struct UlimitAdjuster;

#[nri_core::plugin]
impl Plugin for UlimitAdjuster {
    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let adjust = ulimit_adjuster::adjust(&pod, &container)?;
        Ok(CreateContainerResponse {
            adjust: Some(adjust),
            ..Default::default()
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run(
        "nri-ulimit-adjuster",
        UlimitAdjuster,
        &args.common,
        |stub| stub,
    )
}
