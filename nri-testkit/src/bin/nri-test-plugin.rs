//! `nri-test-plugin`: the plugin binary of nri-testkit's own tests of
//! [`PluginTest::binary`](nri_testkit::plugin_test::PluginTestBuilder::binary).
//!
//! It runs on the stub and behaves by the name it is launched under (a
//! launching runtime passes no arguments, so the name is the only knob):
//!
//! - a name starting with `silent` never registers: it waits, doing
//!   nothing, until it is killed (the default action of the runtime's
//!   SIGTERM);
//! - any other name is the ulimit adjuster of nri-sample-plugins
//!   ([`nri_sample_plugins::ulimit_adjuster`]), which also echoes the
//!   configuration it got in Configure, when not empty, as the annotation
//!   [`CONFIG_ANNOTATION`] of every container it adjusts.
//!
//! Started by hand it takes the common flags of the sample plugins
//! (`--idx`, `--name`, `--socket-path`, `--config`, `--verbose`).

use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};

use clap::Parser;
use nri_core::proto::api::{Container, CreateContainerResponse, PodSandbox};
use nri_core::proto::defaults::PLUGIN_NAME_ENV;
use nri_core::proto::event::EventMask;
use nri_core::stub::{Configuration, HandlerResult, Plugin};
use nri_sample_plugins::cli::{self, CommonArgs};
use nri_sample_plugins::ulimit_adjuster;

/// The annotation carrying the configuration the plugin was given.
const CONFIG_ANNOTATION: &str = "nri-test-plugin.nri-rs.dev/config";

/// Names starting with this make the plugin never register.
const SILENT_PREFIX: &str = "silent";

/// The ulimit adjuster, echoing its configuration.
#[derive(Debug, Default)]
struct TestPlugin {
    config: Mutex<String>,
}

#[nri_core::plugin]
impl Plugin for TestPlugin {
    async fn configure(&self, configuration: Configuration) -> HandlerResult<Option<EventMask>> {
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = configuration.config;
        Ok(None)
    }

    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let mut adjust = ulimit_adjuster::adjust(&pod, &container)?;
        let config = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if !config.is_empty() {
            adjust
                .annotations
                .insert(CONFIG_ANNOTATION.to_string(), config);
        }
        Ok(CreateContainerResponse {
            adjust: Some(adjust),
            ..Default::default()
        })
    }
}

/// Runs the test plugin.
#[derive(Debug, Parser)]
#[command(name = "nri-test-plugin")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let name = std::env::var(PLUGIN_NAME_ENV)
        .ok()
        .or_else(|| args.common.name.clone())
        .unwrap_or_default();
    if name.starts_with(SILENT_PREFIX) {
        // Never register; the runtime gives up and kills the process.
        loop {
            std::thread::park();
        }
    }
    cli::run(TestPlugin::default(), &args.common, |stub| stub)
}
