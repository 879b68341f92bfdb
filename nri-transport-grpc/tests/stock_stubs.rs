#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Interop with a plugin written only with the tonic stubs generated in
//! `nri_proto::api`: a stock `tonic::transport::Server` on a unix socket,
//! registering through the stock `RuntimeClient`, as a plugin in another
//! language would with its own gRPC library.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::{Dir, Runtime, container, from_endpoint, labels, pod, start, unix_channel, within};
use nri_core::adaptation::Adaptation;
use nri_core::transport::{Origin, Transport};
use nri_proto::api::plugin_server::{Plugin, PluginServer};
use nri_proto::api::runtime_client::RuntimeClient;
use nri_proto::api::{
    ConfigureRequest, ConfigureResponse, ContainerAdjustment, ContainerUpdate,
    CreateContainerRequest, CreateContainerResponse, Empty, Event, KeyValue, LinuxContainerUpdate,
    LinuxCpu, LinuxResources, OptionalUInt64, RegisterPluginRequest, RunPodSandboxRequest,
    StateChangeEvent, SynchronizeRequest, SynchronizeResponse, UpdateContainersRequest,
};
use nri_transport_grpc::GrpcTransport;
use tokio::sync::{oneshot, watch};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// What the stock plugin was called with.
#[derive(Debug, Clone, Default)]
struct Seen {
    methods: Vec<&'static str>,
    /// The `grpc-timeout` of each call.
    deadlines: Vec<Option<String>>,
    created: Vec<String>,
}

/// The plugin: subscribes to CreateContainer, and adjusts every created
/// container with an env var and an annotation; subscribes to
/// RunPodSandbox too but, like a plugin built before that call existed,
/// implements only StateChange.
struct Stock {
    seen: watch::Sender<Seen>,
}

impl Stock {
    fn saw<T>(&self, method: &'static str, request: &Request<T>) {
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .map(|value| value.to_str().unwrap().to_string());
        self.seen.send_modify(|seen| {
            seen.methods.push(method);
            seen.deadlines.push(deadline);
        });
    }
}

#[tonic::async_trait]
impl Plugin for Stock {
    async fn configure(
        &self,
        request: Request<ConfigureRequest>,
    ) -> Result<Response<ConfigureResponse>, Status> {
        self.saw("Configure", &request);
        let bit = |event: Event| 1 << (event as i32 - 1);
        Ok(Response::new(ConfigureResponse {
            events: bit(Event::CreateContainer) | bit(Event::RunPodSandbox),
        }))
    }

    async fn synchronize(
        &self,
        request: Request<SynchronizeRequest>,
    ) -> Result<Response<SynchronizeResponse>, Status> {
        self.saw("Synchronize", &request);
        Ok(Response::new(SynchronizeResponse::default()))
    }

    async fn shutdown(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        self.saw("Shutdown", &request);
        Ok(Response::new(Empty {}))
    }

    async fn state_change(
        &self,
        request: Request<StateChangeEvent>,
    ) -> Result<Response<Empty>, Status> {
        self.saw("StateChange", &request);
        Ok(Response::new(Empty {}))
    }

    async fn create_container(
        &self,
        request: Request<CreateContainerRequest>,
    ) -> Result<Response<CreateContainerResponse>, Status> {
        self.saw("CreateContainer", &request);
        let id = request.into_inner().container.unwrap_or_default().id;
        self.seen.send_modify(|seen| seen.created.push(id));
        Ok(Response::new(CreateContainerResponse {
            adjust: Some(ContainerAdjustment {
                env: vec![KeyValue {
                    key: "STOCK".into(),
                    value: "tonic".into(),
                }],
                annotations: BTreeMap::from([("stock.example/by".into(), "tonic".into())]),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

/// The stock plugin serving on its own unix socket.
struct Served {
    endpoint: String,
    seen: watch::Receiver<Seen>,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

fn serve(socket: &Path) -> Served {
    let (seen, watching) = watch::channel(Seen::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tonic::transport::Server::builder().serve_with_incoming_shutdown(
        PluginServer::new(Stock { seen }),
        UnixListenerStream::new(tokio::net::UnixListener::bind(socket).unwrap()),
        async {
            let _ = stopped.await;
        },
    );
    Served {
        endpoint: format!("unix://{}", socket.display()),
        seen: watching,
        stop,
        server: tokio::spawn(server),
    }
}

/// A runtime on a gRPC transport, the stock plugin registered with it,
/// and the stock client the plugin registered with.
async fn joined(dir: &Dir) -> (Adaptation, Arc<Runtime>, Served, RuntimeClient<Channel>) {
    let transport = Arc::new(GrpcTransport::listen(dir.path("nri/nri-grpc.sock")).unwrap());
    let (adaptation, runtime) = start(vec![transport.clone() as Arc<dyn Transport>]).await;
    let served = serve(&dir.path("stock.sock"));
    let mut client = RuntimeClient::new(unix_channel(transport.endpoint().path().unwrap()).await);
    let registration = RegisterPluginRequest {
        plugin_name: "stock".into(),
        plugin_idx: "50".into(),
        nri_version: "v0.12.2".into(),
    };
    within(
        "RegisterPlugin",
        client.register_plugin(from_endpoint(registration, &served.endpoint)),
    )
    .await
    .unwrap();
    within("joining", adaptation.wait_for_plugins(1)).await;
    assert_eq!(labels(&adaptation), ["50-stock"]);
    assert_eq!(adaptation.plugins()[0].origin, Origin::External);
    (adaptation, runtime, served, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_on_the_generated_stubs_takes_part_in_events() {
    let dir = Dir::new();
    let (adaptation, runtime, mut served, mut client) = joined(&dir).await;

    // An event through nri-core: the plugin's adjustment is merged.
    let request = CreateContainerRequest {
        pod: Some(pod()),
        container: Some(container()),
    };
    let reply = within("CreateContainer", adaptation.create_container(request))
        .await
        .unwrap();
    let adjust = reply.adjust.unwrap_or_default();
    assert!(
        adjust
            .env
            .iter()
            .any(|kv| kv.key == "STOCK" && kv.value == "tonic"),
        "{adjust:?}"
    );
    assert_eq!(
        adjust
            .annotations
            .get("stock.example/by")
            .map(String::as_str),
        Some("tonic"),
        "{adjust:?}"
    );
    assert_eq!(served.seen.borrow().created, ["ctr0"]);

    // tonic's UNIMPLEMENTED for RunPodSandbox makes the runtime fall back
    // to StateChange.
    let request = RunPodSandboxRequest { pod: Some(pod()) };
    within("RunPodSandbox", adaptation.run_pod_sandbox(request))
        .await
        .unwrap();

    // An unsolicited update from the stock client reaches the runtime.
    let update = ContainerUpdate {
        container_id: "ctr0".into(),
        linux: Some(LinuxContainerUpdate {
            resources: Some(LinuxResources {
                cpu: Some(LinuxCpu {
                    shares: Some(OptionalUInt64 { value: 512 }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ignore_failure: false,
    };
    let request = UpdateContainersRequest {
        update: vec![update.clone()],
        evict: Vec::new(),
    };
    let answer = within(
        "UpdateContainers",
        client.update_containers(from_endpoint(request, &served.endpoint)),
    )
    .await
    .unwrap();
    assert!(answer.get_ref().failed.is_empty(), "{answer:?}");
    assert_eq!(runtime.updates(), [update]);

    // A normal stop says Shutdown to the plugin and closes the session, so
    // the plugin's server can finish.
    within("stop", adaptation.stop()).await;
    let seen = served.seen.borrow_and_update().clone();
    assert_eq!(
        seen.methods,
        [
            "Configure",
            "Synchronize",
            "CreateContainer",
            "StateChange",
            "Shutdown"
        ]
    );
    // Every call of the runtime carries its deadline.
    assert!(seen.deadlines.iter().all(Option::is_some), "{seen:?}");
    let _ = served.stop.send(());
    within("the plugin's server", served.server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_on_the_generated_stubs_leaves_by_stopping_its_server() {
    let dir = Dir::new();
    let (adaptation, _, served, _client) = joined(&dir).await;

    // A graceful stop (GOAWAY, then the connection's end once the runtime
    // lets go of it).
    let _ = served.stop.send(());
    within("the plugin's server", served.server)
        .await
        .unwrap()
        .unwrap();
    within("the plugin's removal", async {
        // No awaitable for a plugin leaving: poll, under the watchdog.
        while !adaptation.plugins().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    within("stop", adaptation.stop()).await;
}
