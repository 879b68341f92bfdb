//! A minimal NRI runtime: serves plugins over ttrpc (the upstream wire
//! protocol) on a socket, runs one pod and one container through their
//! lifecycle once a plugin has registered, prints the adjustment plugins
//! asked for, and shuts down.
//!
//! `example-runtime [SOCKET [PLUGIN_DIR]]`: plugins dial SOCKET (default
//! `/tmp/nri-example/nri.sock`); executables named `NN-name` in PLUGIN_DIR
//! are launched as pre-installed plugins.

use std::path::PathBuf;
use std::sync::Arc;

use nri_core::adaptation::Options;
use nri_core::proto::api::{Container, ContainerEviction, ContainerUpdate, PodSandbox};
use nri_core::proto::builders::{ContainerBuilder, PodBuilder};
use nri_core::runtime_api::{Domain, DomainError, NriApi};
use nri_transport_ttrpc::TtrpcTransport;

/// The runtime's store of pods and containers. This one starts empty, and
/// cannot update or evict containers plugins ask for.
struct Store;

#[async_trait::async_trait]
impl Domain for Store {
    fn name(&self) -> &str {
        "example"
    }
    async fn list_pod_sandboxes(&self) -> Vec<PodSandbox> {
        Vec::new()
    }
    async fn list_containers(&self) -> Vec<Container> {
        Vec::new()
    }
    async fn update_container(&self, _: &ContainerUpdate) -> Result<(), DomainError> {
        Err("this runtime does not update containers".into())
    }
    async fn evict_container(&self, _: &ContainerEviction) -> Result<(), DomainError> {
        Err("this runtime does not evict containers".into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let socket = args
        .next()
        .unwrap_or_else(|| "/tmp/nri-example/nri.sock".into());
    let options = Options::new("example-runtime", "0.1.0").with_plugin_path(args.next());
    let (api, runtime) = NriApi::new(Some(options), Arc::new(Store));
    api.start(vec![Arc::new(TtrpcTransport::listen(&socket)?)])
        .await?;
    println!("listening on {}", socket.display());
    if let Some(adaptation) = api.adaptation() {
        adaptation.wait_for_plugins(1).await;
        for plugin in adaptation.plugins() {
            println!("plugin {} registered", plugin.id);
        }
    }

    // What containerd would send for a Kubernetes pod and its container.
    let pod = PodBuilder::new("web").build();
    let container = ContainerBuilder::new(&pod, "nginx")
        .image("nginx:1.27")
        .build();
    runtime.run_pod_sandbox(&pod).await?;
    let created = runtime.create_container(&pod, &container).await?;
    for env in created.adjustment.unwrap_or_default().env {
        println!("adjusted env {}={}", env.key, env.value);
    }
    runtime.start_container(&pod, &container).await?;
    runtime.stop_container(&pod, &container).await?;
    runtime.remove_container(&pod, &container).await?;
    runtime.stop_pod_sandbox(&pod).await?;
    runtime.remove_pod_sandbox(&pod).await?;
    api.stop().await;
    println!("stopped");
    Ok(())
}
