//! The ttrpc transport's speed, measured against the raw socket it runs
//! on, in one run (`cargo bench -p nri-testkit --features harness --bench ttrpc`):
//!
//! - `raw_round_trip`: a 2.8 KB request and a 30-byte reply over a unix
//!   socketpair, between two tokio tasks: the floor for any transport;
//! - `create_container/N`: one CreateContainer event through an nri-core
//!   adaptation and N plugins, each on its own unix socket over the ttrpc
//!   transport, each answering with an adjustment (an environment variable
//!   and an annotation, like upstream's echo sample). The container is the
//!   one recorded from upstream Go NRI in `shared/interop/session1` (about
//!   2.7 KB on the wire).
//!
//! `create_container_process/1` is the same with the plugin in its own
//! process (nri-sample-plugins' `nri-echo`, run as `nri-harness` under that name;
//! its memory is measured by nri-sample-plugins' `echo_memory` bench).
//!
//! Two more isolate the parts: `transport_only` is one CreateContainer
//! call over the transport without nri-core, and `in_process` is the
//! adaptation with the same plugin over the in-process transport (nri-core
//! without the wire).
//!
//! `throughput/N` and `throughput_process/1` count events per second: 100
//! CreateContainer events in a row, sent by a task on the runtime as a
//! runtime's request handler would (the benches above wait for each event
//! from a thread outside the runtime, as the raw round trip does, so each
//! event also pays for waking that thread). Events are sequential in NRI: the runtime
//! sends the next only after the last is answered. Every bench runs on the
//! same kind of two-worker tokio runtime. Upstream Go NRI on this
//! machine kind: 234 µs p50 (4,500 events/s) with one plugin, 842 µs (1,300
//! events/s) with three; a raw round trip about 22 µs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use nri_core::adaptation::{Adaptation, Options, Snapshot};
use nri_core::proto::api::{
    ConfigureResponse, ContainerAdjustment, CreateContainerRequest, CreateContainerResponse,
    KeyValue, RegisterPluginRequest,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{
    CallError, PluginHandler, PluginRequest, PluginRequestRef, PluginResponse, RuntimeRequest,
};
use nri_testkit::domain::FakeDomain;
use nri_transport_ttrpc::frame::{ConnId, FrameDecoder};
use nri_transport_ttrpc::message::envelope::Request;
use nri_transport_ttrpc::message::{Decoded, MessageDecoder};
use nri_transport_ttrpc::{RuntimeConnection, TtrpcTransport};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[divan::bench(sample_count = 200, sample_size = 50)]
fn raw_round_trip(bencher: divan::Bencher) {
    const REQUEST: usize = 2_800;
    const REPLY: usize = 30;
    let rt = runtime();
    let (mut client, mut server) = rt.block_on(async { tokio::net::UnixStream::pair().unwrap() });
    rt.spawn(async move {
        let mut request = vec![0u8; REQUEST];
        let reply = [7u8; REPLY];
        while server.read_exact(&mut request).await.is_ok() {
            if server.write_all(&reply).await.is_err() {
                return;
            }
        }
    });
    let request = vec![1u8; REQUEST];
    let mut reply = [0u8; REPLY];
    bencher.bench_local(|| {
        rt.block_on(async {
            client.write_all(&request).await.unwrap();
            client.read_exact(&mut reply).await.unwrap();
        })
    });
}

/// The CreateContainer request upstream's Go runtime sent in the recording.
fn recorded_create_container() -> CreateContainerRequest {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/interop/session1.runtime-to-plugin.bin"
    );
    let bytes = std::fs::read(path).unwrap();
    let mut buf = prost::bytes::BytesMut::from(&bytes[..]);
    let mut frames = FrameDecoder::new();
    let mut conn1 = MessageDecoder::new();
    while let Some(frame) = frames.decode(&mut buf).unwrap() {
        if frame.conn != ConnId::PLUGIN_SERVICE {
            continue;
        }
        conn1.push(frame.payload);
        while let Some(Decoded::Message(message)) = conn1.next_message() {
            let request = Request::decode(message.data).unwrap();
            if request.method == "CreateContainer" {
                return CreateContainerRequest::decode(request.payload).unwrap();
            }
        }
    }
    panic!("no CreateContainer in {path}");
}

/// A plugin like upstream's echo sample: subscribes to CreateContainer and
/// adds an environment variable and an annotation.
struct Echo(usize);

#[async_trait::async_trait]
impl PluginHandler for Echo {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        Ok(match request {
            PluginRequest::Configure(_) => PluginResponse::Configure(Box::new(ConfigureResponse {
                events: EventMask::of([Event::CreateContainer]).bits(),
            })),
            PluginRequest::Synchronize(_) => PluginResponse::Synchronize(Box::default()),
            PluginRequest::CreateContainer(_) => {
                PluginResponse::CreateContainer(Box::new(CreateContainerResponse {
                    adjust: Some(ContainerAdjustment {
                        env: vec![KeyValue {
                            key: format!("NRI_ECHO_{}", self.0),
                            value: "yes".into(),
                        }],
                        annotations: [(
                            format!("echo.nri-rs.dev/seen-{}", self.0),
                            "yes".to_string(),
                        )]
                        .into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }))
            }
            other => {
                return Err(CallError::Unimplemented {
                    method: other.method().name().into(),
                });
            }
        })
    }
}

/// An adaptation listening on a socket in `dir` with `plugins` echo
/// plugins registered, each a `RuntimeConnection` on the same runtime.
async fn with_plugins_in_runtime(
    dir: &std::path::Path,
    plugins: usize,
) -> (Adaptation, Vec<RuntimeConnection>, Arc<TtrpcTransport>) {
    let socket = dir.join("nri.sock");
    let transport = Arc::new(TtrpcTransport::listen(&socket).unwrap());
    let runtime = Arc::new(FakeDomain::from_snapshot(Snapshot::default()));
    let adaptation = Adaptation::new(Options::new("bench", "1").with_plugin_path(None), runtime);
    adaptation.start(vec![transport.clone()]).await.unwrap();
    let mut connections = Vec::new();
    for i in 0..plugins {
        let connection = RuntimeConnection::connect(&socket, Arc::new(Echo(i)))
            .await
            .unwrap();
        let register = RegisterPluginRequest {
            plugin_name: "echo".into(),
            plugin_idx: format!("{i:02}"),
            nri_version: "v0.12.2".into(),
        };
        connection
            .call(
                RuntimeRequest::RegisterPlugin(register),
                Some(Duration::from_secs(5)),
            )
            .await
            .unwrap();
        connections.push(connection);
    }
    adaptation.wait_for_plugins(plugins).await;
    (adaptation, connections, transport)
}

#[divan::bench(args = [1, 3], sample_count = 200, sample_size = 20)]
fn create_container(bencher: divan::Bencher, plugins: usize) {
    let rt = runtime();
    let request = recorded_create_container();
    let dir = tempfile::tempdir().unwrap();
    let (adaptation, _plugins, transport) =
        rt.block_on(with_plugins_in_runtime(dir.path(), plugins));
    // The runtime builds each request anyway: building it is not timed.
    bencher
        .with_inputs(|| request.clone())
        .bench_local_values(|request| {
            rt.block_on(async {
                let applied = adaptation.create_container(request).await.unwrap();
                divan::black_box(applied);
            })
        });
    rt.block_on(adaptation.stop());
    transport.shut_down();
}

/// Events sent one after the other per throughput sample.
const BATCH: usize = 100;

/// Sends each request in turn from a task on the runtime, as a runtime's
/// own request handler would; returns when all are answered.
fn sequential_events(
    rt: &tokio::runtime::Runtime,
    adaptation: &Adaptation,
    requests: Vec<CreateContainerRequest>,
) {
    let adaptation = adaptation.clone();
    rt.block_on(async move {
        tokio::spawn(async move {
            for request in requests {
                divan::black_box(adaptation.create_container(request).await.unwrap());
            }
        })
        .await
        .unwrap();
    });
}

/// Events per second: [`BATCH`] CreateContainer events in a row, sent from
/// a task on the runtime, through the plugins on the same runtime.
#[divan::bench(args = [1, 3], sample_count = 50, sample_size = 1)]
fn throughput(bencher: divan::Bencher, plugins: usize) {
    let rt = runtime();
    let request = recorded_create_container();
    let dir = tempfile::tempdir().unwrap();
    let (adaptation, _plugins, transport) =
        rt.block_on(with_plugins_in_runtime(dir.path(), plugins));
    bencher
        .counter(divan::counter::ItemsCount::new(BATCH))
        .with_inputs(|| vec![request.clone(); BATCH])
        .bench_local_values(|requests| sequential_events(&rt, &adaptation, requests));
    rt.block_on(adaptation.stop());
    transport.shut_down();
}

#[divan::bench(sample_count = 200, sample_size = 20)]
fn transport_only(bencher: divan::Bencher) {
    use nri_core::transport::Transport;
    let rt = runtime();
    let request = recorded_create_container();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nri.sock");
    let (accepted, _plugin) = rt.block_on(async {
        let transport = TtrpcTransport::listen(&socket).unwrap();
        let plugin = RuntimeConnection::connect(&socket, Arc::new(Echo(0)))
            .await
            .unwrap();
        (transport.accept().await.unwrap(), plugin)
    });
    bencher.bench_local(|| {
        rt.block_on(async {
            let reply = accepted
                .connection
                .call(
                    PluginRequestRef::CreateContainer((&request).into()),
                    Duration::from_secs(2),
                )
                .await
                .unwrap();
            divan::black_box(reply);
        })
    });
}

#[divan::bench(sample_count = 200, sample_size = 20)]
fn in_process(bencher: divan::Bencher) {
    let rt = runtime();
    let request = recorded_create_container();
    let (adaptation, _end) = rt.block_on(async {
        let (transport, connector) = nri_core::transport::in_process::transport();
        let runtime = Arc::new(FakeDomain::from_snapshot(Snapshot::default()));
        let adaptation =
            Adaptation::new(Options::new("bench", "1").with_plugin_path(None), runtime);
        adaptation.start(vec![Arc::new(transport)]).await.unwrap();
        let end = connector
            .connect(Arc::new(Echo(0)), nri_core::transport::Origin::External)
            .await
            .unwrap();
        let register = RegisterPluginRequest {
            plugin_name: "echo".into(),
            plugin_idx: "00".into(),
            nri_version: "v0.12.2".into(),
        };
        end.call(
            RuntimeRequest::RegisterPlugin(register),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        adaptation.wait_for_plugins(1).await;
        (adaptation, end)
    });
    bencher
        .with_inputs(|| request.clone())
        .bench_local_values(|request| {
            rt.block_on(async {
                divan::black_box(adaptation.create_container(request).await.unwrap());
            })
        });
}

/// An adaptation listening on a socket in `dir`, with one `nri-echo`
/// process registered (nri-sample-plugins' echo sample, run as `nri-harness`
/// under the name `nri-echo`).
async fn with_echo_process(
    dir: &std::path::Path,
) -> (Adaptation, Arc<TtrpcTransport>, tokio::process::Child) {
    let socket = dir.join("nri.sock");
    let transport = Arc::new(TtrpcTransport::listen(&socket).unwrap());
    let runtime = Arc::new(FakeDomain::from_snapshot(Snapshot::default()));
    let adaptation = Adaptation::new(Options::new("bench", "1").with_plugin_path(None), runtime);
    adaptation.start(vec![transport.clone()]).await.unwrap();
    let echo = dir.join("nri-echo");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_nri-harness"), &echo).unwrap();
    let child = tokio::process::Command::new(&echo)
        .arg("--socket-path")
        .arg(&socket)
        .args(["--idx", "10", "--name", "echo"])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    adaptation.wait_for_plugins(1).await;
    (adaptation, transport, child)
}

#[divan::bench(args = [1], sample_count = 200, sample_size = 20)]
fn create_container_process(bencher: divan::Bencher, plugins: usize) {
    assert_eq!(plugins, 1);
    let rt = runtime();
    let request = recorded_create_container();
    let dir = tempfile::tempdir().unwrap();
    let (adaptation, transport, _child) = rt.block_on(with_echo_process(dir.path()));
    bencher
        .with_inputs(|| request.clone())
        .bench_local_values(|request| {
            rt.block_on(async {
                divan::black_box(adaptation.create_container(request).await.unwrap());
            })
        });
    rt.block_on(adaptation.stop());
    transport.shut_down();
}

/// Events per second with the plugin in its own process, as
/// [`throughput`] measures them.
#[divan::bench(args = [1], sample_count = 50, sample_size = 1)]
fn throughput_process(bencher: divan::Bencher, plugins: usize) {
    assert_eq!(plugins, 1);
    let rt = runtime();
    let request = recorded_create_container();
    let dir = tempfile::tempdir().unwrap();
    let (adaptation, transport, _child) = rt.block_on(with_echo_process(dir.path()));
    bencher
        .counter(divan::counter::ItemsCount::new(BATCH))
        .with_inputs(|| vec![request.clone(); BATCH])
        .bench_local_values(|requests| sequential_events(&rt, &adaptation, requests));
    rt.block_on(adaptation.stop());
    transport.shut_down();
}
