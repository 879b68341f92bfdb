//! One scripted exchange over both RPC stacks, on real unix sockets.
//!
//! [`run`] serves an echo plugin (see [`ENV_KEY`]) twice in a directory you give it: with a
//! ttrpc server on `plugin.ttrpc.sock` and with a tonic gRPC server on
//! `plugin.grpc.sock`. It then plays a runtime: Configure, Synchronize,
//! CreateContainer and StopContainer, each once per stack, and records the
//! encoded sizes, round-trip times, and whether both stacks returned the same
//! message. Both stacks use nri-proto's one set of prost types, so any
//! difference is a bug in a stack or in code generation.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use nri_proto::api::{
    self, ConfigureRequest, Container, ContainerState, CreateContainerRequest, PodSandbox,
    StopContainerRequest, SynchronizeRequest,
};
use nri_proto::defaults::{DEFAULT_REGISTRATION_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
use nri_proto::event::EventMask;
use prost::Message;
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::UnixListenerStream;

mod echo;

use echo::EchoPlugin;
pub use echo::{ANNOTATION_KEY, ENV_KEY};

/// What can go wrong while running the exchange.
#[derive(Debug, thiserror::Error)]
pub enum StackCheckError {
    /// A socket could not be created or connected.
    #[error("socket {path}: {source}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The ttrpc stack failed.
    #[error("ttrpc: {0}")]
    Ttrpc(#[from] ttrpc::Error),
    /// The gRPC transport failed.
    #[error("gRPC transport: {0}")]
    GrpcTransport(#[from] tonic::transport::Error),
    /// A gRPC call failed.
    #[error("gRPC call: {0}")]
    GrpcStatus(#[from] tonic::Status),
}

/// One call, made over both stacks.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// The Plugin method.
    pub method: &'static str,
    /// Encoded size of the request.
    pub request_bytes: usize,
    /// The response that came over ttrpc, encoded.
    pub ttrpc_response: Vec<u8>,
    /// The response that came over gRPC, encoded.
    pub grpc_response: Vec<u8>,
    /// Round trip over ttrpc.
    pub ttrpc_time: Duration,
    /// Round trip over gRPC.
    pub grpc_time: Duration,
    /// Whether both stacks returned equal messages.
    pub same_response: bool,
    /// What the plugin answered, in a few words.
    pub summary: String,
}

/// The outcome of [`run`].
#[derive(Debug, Clone)]
pub struct StackReport {
    /// The ttrpc socket.
    pub ttrpc_socket: PathBuf,
    /// The gRPC socket.
    pub grpc_socket: PathBuf,
    /// Every call, in order.
    pub calls: Vec<CallReport>,
}

impl StackReport {
    /// Whether both stacks agreed on every call.
    pub fn all_match(&self) -> bool {
        !self.calls.is_empty() && self.calls.iter().all(|c| c.same_response)
    }
}

impl fmt::Display for StackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "NRI over two RPC stacks, one set of message types")?;
        writeln!(f, "  ttrpc plugin: {}", self.ttrpc_socket.display())?;
        writeln!(f, "  gRPC plugin:  {}", self.grpc_socket.display())?;
        writeln!(f)?;
        writeln!(
            f,
            "  {:<16} {:>9} {:>9} {:>10} {:>10}  {:<5} plugin answered",
            "method", "req bytes", "rsp bytes", "ttrpc", "gRPC", "same"
        )?;
        for c in &self.calls {
            writeln!(
                f,
                "  {:<16} {:>9} {:>9} {:>10.1?} {:>10.1?}  {:<5} {}",
                c.method,
                c.request_bytes,
                c.ttrpc_response.len(),
                c.ttrpc_time,
                c.grpc_time,
                if c.same_response { "yes" } else { "NO" },
                c.summary
            )?;
        }
        writeln!(f)?;
        if self.all_match() {
            write!(f, "result: both stacks returned identical messages")
        } else {
            write!(f, "result: the stacks DISAGREE")
        }
    }
}

/// A sample pod.
fn sample_pod() -> PodSandbox {
    PodSandbox {
        id: "pod-0".into(),
        name: "web".into(),
        uid: "2f3d1c8e-0000-4000-8000-000000000001".into(),
        namespace: "default".into(),
        labels: [("app".to_string(), "web".to_string())].into(),
        runtime_handler: "runc".into(),
        ..Default::default()
    }
}

/// A sample container of [`sample_pod`].
fn sample_container(id: &str, name: &str, state: ContainerState) -> Container {
    Container {
        id: id.into(),
        pod_sandbox_id: "pod-0".into(),
        name: name.into(),
        state: state as i32,
        args: vec!["/bin/server".into(), "--port=8080".into()],
        env: vec!["PATH=/usr/bin:/bin".into()],
        ..Default::default()
    }
}

/// Calls one method over both stacks and compares the answers.
async fn both<Req, Resp, T, TF, G, GF>(
    method: &'static str,
    request: Req,
    ttrpc_call: T,
    grpc_call: G,
    describe: impl Fn(&Resp) -> String,
) -> Result<CallReport, StackCheckError>
where
    Req: Message + Clone,
    Resp: Message + PartialEq,
    T: FnOnce(Req) -> TF,
    TF: Future<Output = ttrpc::Result<Resp>>,
    G: FnOnce(Req) -> GF,
    GF: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    let request_bytes = request.encoded_len();
    let started = Instant::now();
    let over_ttrpc = ttrpc_call(request.clone()).await?;
    let ttrpc_time = started.elapsed();
    let started = Instant::now();
    let over_grpc = grpc_call(request).await?.into_inner();
    let grpc_time = started.elapsed();
    Ok(CallReport {
        method,
        request_bytes,
        ttrpc_response: over_ttrpc.encode_to_vec(),
        grpc_response: over_grpc.encode_to_vec(),
        ttrpc_time,
        grpc_time,
        same_response: over_ttrpc == over_grpc,
        summary: describe(&over_ttrpc),
    })
}

fn ttrpc_context() -> ttrpc::context::Context {
    let nanos = i64::try_from(DEFAULT_REQUEST_TIMEOUT.as_nanos()).unwrap_or(i64::MAX);
    ttrpc::context::with_timeout(nanos)
}

fn grpc_request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(DEFAULT_REQUEST_TIMEOUT);
    request
}

/// Serves the echo plugin over ttrpc and gRPC in `dir` and runs the script.
pub async fn run(dir: &Path) -> Result<StackReport, StackCheckError> {
    let ttrpc_socket = dir.join("plugin.ttrpc.sock");
    let grpc_socket = dir.join("plugin.grpc.sock");
    let socket_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StackCheckError::Socket { path, source }
    };

    // ttrpc: server and client on a unix socket.
    let address = format!("unix://{}", ttrpc_socket.display());
    let mut ttrpc_server = ttrpc::r#async::Server::new()
        .bind(&address)?
        .register_service(api::plugin_ttrpc::create_plugin(Arc::new(EchoPlugin)));
    ttrpc_server.start().await?;
    let ttrpc_client =
        api::plugin_ttrpc::PluginClient::new(ttrpc::r#async::Client::connect(&address).await?);

    // gRPC: tonic server and client on a unix socket.
    let listener = UnixListener::bind(&grpc_socket).map_err(socket_error(&grpc_socket))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc_server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(api::plugin_server::PluginServer::new(EchoPlugin))
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
    let connect_to = grpc_socket.clone();
    // The URI is required by the API but unused: the connector dials the socket.
    let channel = tonic::transport::Endpoint::from_static("http://nri.invalid")
        .connect_timeout(DEFAULT_REGISTRATION_TIMEOUT)
        .connect_with_connector(tower::service_fn(move |_| {
            let path = connect_to.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await?;
    let grpc_client = api::plugin_client::PluginClient::new(channel);

    let pod = sample_pod();
    let running = sample_container("ctr-0", "server", ContainerState::ContainerRunning);
    let created = sample_container("ctr-1", "sidecar", ContainerState::ContainerCreated);

    let mut calls = Vec::new();
    calls.push(
        both(
            "Configure",
            ConfigureRequest {
                runtime_name: "nri-harness".into(),
                runtime_version: env!("CARGO_PKG_VERSION").into(),
                registration_timeout: DEFAULT_REGISTRATION_TIMEOUT.as_millis() as i64,
                request_timeout: DEFAULT_REQUEST_TIMEOUT.as_millis() as i64,
                ..Default::default()
            },
            |r| {
                let c = ttrpc_client.clone();
                async move { c.configure(ttrpc_context(), &r).await }
            },
            |r| {
                let mut c = grpc_client.clone();
                async move { c.configure(grpc_request(r)).await }
            },
            |r| format!("events {}", EventMask::from_bits(r.events)),
        )
        .await?,
    );
    calls.push(
        both(
            "Synchronize",
            SynchronizeRequest {
                pods: vec![pod.clone()],
                containers: vec![running.clone()],
                more: false,
            },
            |r| {
                let c = ttrpc_client.clone();
                async move { c.synchronize(ttrpc_context(), &r).await }
            },
            |r| {
                let mut c = grpc_client.clone();
                async move { c.synchronize(grpc_request(r)).await }
            },
            |r| format!("{} updates", r.update.len()),
        )
        .await?,
    );
    calls.push(
        both(
            "CreateContainer",
            CreateContainerRequest {
                pod: Some(pod.clone()),
                container: Some(created.clone()),
            },
            |r| {
                let c = ttrpc_client.clone();
                async move { c.create_container(ttrpc_context(), &r).await }
            },
            |r| {
                let mut c = grpc_client.clone();
                async move { c.create_container(grpc_request(r)).await }
            },
            |r| {
                let adjust = r.adjust.clone().unwrap_or_default();
                let env: Vec<String> = adjust
                    .env
                    .iter()
                    .map(|kv| format!("{}={}", kv.key, kv.value))
                    .collect();
                let annotations: Vec<String> = adjust
                    .annotations
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!(
                    "env [{}], annotations [{}]",
                    env.join(", "),
                    annotations.join(", ")
                )
            },
        )
        .await?,
    );
    calls.push(
        both(
            "StopContainer",
            StopContainerRequest {
                pod: Some(pod),
                container: Some(created),
            },
            |r| {
                let c = ttrpc_client.clone();
                async move { c.stop_container(ttrpc_context(), &r).await }
            },
            |r| {
                let mut c = grpc_client.clone();
                async move { c.stop_container(grpc_request(r)).await }
            },
            |r| format!("{} updates", r.update.len()),
        )
        .await?,
    );

    ttrpc_server.shutdown().await?;
    let _ = stop.send(());
    if let Ok(served) = grpc_server.await {
        served?;
    }

    Ok(StackReport {
        ttrpc_socket,
        grpc_socket,
        calls,
    })
}
