//! A minimal NRI plugin: every container created gets the environment
//! variable `POD_NAME` with its pod's name, and images tagged `:latest` are
//! refused.
//!
//! Run it by hand against a runtime's socket (upstream's default is
//! `/var/run/nri/nri.sock`), or install it as a pre-installed plugin named
//! `NN-name` (e.g. `/opt/nri/plugins/10-pod-name`) for the runtime to
//! launch: `example-plugin [SOCKET]`. It stops on SIGINT or SIGTERM, and
//! when the runtime shuts down.

use std::process::ExitCode;

use nri_core::proto::api::{
    Container, ContainerAdjustment, CreateContainerResponse, KeyValue, PodSandbox,
};
use nri_core::stub::{HandlerResult, Plugin, Stub};
use nri_plugin::RuntimeAddress;

/// The plugin. `#[nri_core::plugin]` subscribes it to the events it
/// handles: here CreateContainer.
struct PodName;

#[nri_core::plugin]
impl Plugin for PodName {
    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let image = container
            .image
            .as_ref()
            .map_or("", |image| image.name.as_str());
        if image.ends_with(":latest") {
            return Err(format!("{}: pin an image version, not :latest", container.name).into());
        }
        let mut adjust = ContainerAdjustment::default();
        adjust.env.push(KeyValue {
            key: "POD_NAME".into(),
            value: pod.name,
        });
        Ok(CreateContainerResponse {
            adjust: Some(adjust),
            ..Default::default()
        })
    }
}

fn main() -> ExitCode {
    // A runtime that launched the plugin says how to reach it (and its
    // index and name); otherwise dial the socket given, or upstream's.
    let address = match std::env::args_os().nth(1) {
        Some(socket) => RuntimeAddress::Ttrpc(socket.into()),
        None => RuntimeAddress::default(),
    };
    let stub = Stub::builder(PodName).index("10").name("pod-name");
    nri_plugin::main_at(stub, &address)
}
