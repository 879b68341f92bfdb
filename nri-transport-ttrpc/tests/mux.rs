#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The multiplexer as byte streams (upstream's mux suite, §5.1), the
//! framing seen on the wire, and ttrpc-rust running over our virtual
//! connections against our own ttrpc engine in both directions.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use nri_core::proto::api::{
    ConfigureRequest, ConfigureResponse, Empty, RegisterPluginRequest, RunPodSandboxRequest,
    plugin_ttrpc, runtime_ttrpc,
};
use nri_core::transport::{
    CallError, PluginHandler, PluginRequest, PluginRequestRef, PluginResponse, RuntimeRequest,
    RuntimeResponse, Transport,
};
use nri_transport_ttrpc::frame::{self, ConnId, MAX_PAYLOAD};
use nri_transport_ttrpc::{Mux, RuntimeConnection, TtrpcTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::timeout;

const WATCHDOG: Duration = Duration::from_secs(10);

async fn read_frame(stream: &mut UnixStream) -> (u32, Vec<u8>) {
    let mut header = [0u8; frame::HEADER_LEN];
    stream.read_exact(&mut header).await.unwrap();
    let conn = u32::from_be_bytes(header[..4].try_into().unwrap());
    let len = u32::from_be_bytes(header[4..].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.unwrap();
    (conn, payload)
}

/// M3/M8: messages written on a connection arrive intact and in order.
#[tokio::test]
async fn a_connection_echoes_64_messages_in_order() {
    let (a, b) = UnixStream::pair().unwrap();
    let (_mux_a, mut conns_a) = Mux::start(a, &[ConnId(1)]).unwrap();
    let (_mux_b, mut conns_b) = Mux::start(b, &[ConnId(1)]).unwrap();
    let (mut left, mut right) = (conns_a.remove(0), conns_b.remove(0));
    let echo = tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = right.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            right.write_all(&buf[..n]).await.unwrap();
        }
    });
    for i in 0..64u32 {
        let message = format!("message {i} {}", "x".repeat(i as usize * 97));
        left.write_all(message.as_bytes()).await.unwrap();
        let mut back = vec![0u8; message.len()];
        timeout(WATCHDOG, left.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, message.as_bytes());
    }
    drop(left);
    echo.abort();
}

/// M9: 16 connections at once, no cross-talk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_connections_do_not_cross_talk() {
    let ids: Vec<ConnId> = (1..=16).map(ConnId).collect();
    let (a, b) = UnixStream::pair().unwrap();
    let (_mux_a, conns_a) = Mux::start(a, &ids).unwrap();
    let (_mux_b, conns_b) = Mux::start(b, &ids).unwrap();
    let mut tasks = Vec::new();
    for (mut left, mut right) in conns_a.into_iter().zip(conns_b) {
        tasks.push(tokio::spawn(async move {
            let id = left.id().0;
            for round in 0..32u32 {
                let message = vec![id as u8; 1 + (round as usize * 131) % 9000];
                left.write_all(&message).await.unwrap();
                let mut back = vec![0u8; message.len()];
                right.read_exact(&mut back).await.unwrap();
                assert_eq!(back, message, "conn {id} round {round}");
            }
        }));
    }
    for task in tasks {
        timeout(WATCHDOG, task).await.unwrap().unwrap();
    }
}

/// M10: a write of 3 × the largest frame leaves as exactly three frames of
/// 4,194,314 bytes; following small writes are one frame each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_writes_split_at_the_maximum_frame_and_small_ones_are_not_coalesced() {
    let (a, mut raw) = UnixStream::pair().unwrap();
    let (_mux, mut conns) = Mux::start(a, &[ConnId(1)]).unwrap();
    let mut conn = conns.remove(0);
    let big: Vec<u8> = (0..3 * MAX_PAYLOAD).map(|i| (i % 251) as u8).collect();
    let writer = tokio::spawn(async move {
        conn.write_all(&big).await.unwrap();
        conn.write_all(&[7u8; 200]).await.unwrap();
        conn.write_all(&[8u8; 5]).await.unwrap();
        conn
    });
    let mut received = Vec::new();
    for _ in 0..3 {
        let (id, payload) = timeout(WATCHDOG, read_frame(&mut raw)).await.unwrap();
        assert_eq!((id, payload.len()), (1, MAX_PAYLOAD));
        received.extend(payload);
    }
    assert!(
        received
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 251) as u8)
    );
    assert_eq!(read_frame(&mut raw).await, (1, vec![7u8; 200]));
    assert_eq!(read_frame(&mut raw).await, (1, vec![8u8; 5]));
    drop(writer.await.unwrap());
}

/// Frames for connection ids that are not open are dropped; the open ones
/// keep working. Zero-length frames are legal.
#[tokio::test]
async fn frames_for_unopened_ids_are_dropped() {
    let (a, mut raw) = UnixStream::pair().unwrap();
    let (_mux, mut conns) = Mux::start(a, &[ConnId(2)]).unwrap();
    let mut conn = conns.remove(0);
    for (id, payload) in [
        (0u32, &b"reserved"[..]),
        (9, b"unknown"),
        (2, b""),
        (2, b"hello"),
    ] {
        raw.write_all(&frame::encode_header(ConnId(id), payload.len()))
            .await
            .unwrap();
        raw.write_all(payload).await.unwrap();
    }
    let mut got = [0u8; 5];
    timeout(WATCHDOG, conn.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"hello");
}

/// A peer that floods a connection nobody reads fails the trunk (as a Go
/// receiver does past 256 queued frames) instead of growing memory; every
/// connection then reads the end of the stream.
#[tokio::test]
async fn a_flood_of_unread_frames_closes_the_trunk() {
    let (a, mut raw) = UnixStream::pair().unwrap();
    let (mux, mut conns) = Mux::start(a, &[ConnId(1), ConnId(2)]).unwrap();
    let mut other = conns.remove(1);
    let flood = tokio::spawn(async move {
        for _ in 0..300 {
            if raw
                .write_all(&frame::encode_header(ConnId(1), 1))
                .await
                .is_err()
                || raw.write_all(b"x").await.is_err()
            {
                break;
            }
        }
        raw
    });
    let reason = timeout(WATCHDOG, mux.closed()).await.unwrap();
    assert!(reason.contains("failed to queue payload"), "{reason}");
    let mut buf = [0u8; 1];
    assert_eq!(other.read(&mut buf).await.unwrap(), 0);
    drop(flood.await.unwrap());
}

/// A plugin handler for the engine tests.
struct Configured;

#[async_trait::async_trait]
impl PluginHandler for Configured {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        match request {
            PluginRequest::Configure(configure) => {
                Ok(PluginResponse::Configure(Box::new(ConfigureResponse {
                    events: configure.config.len() as i32,
                })))
            }
            other => Err(CallError::Unimplemented {
                method: other.method().name().into(),
            }),
        }
    }
}

/// ttrpc-rust as the runtime: its client, over our byte-stream virtual
/// connection, calls our plugin side's server; its server answers our
/// plugin side's RegisterPlugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttrpc_rust_runtime_talks_to_our_plugin_side() {
    struct Runtime(tokio::sync::mpsc::UnboundedSender<RegisterPluginRequest>);
    #[async_trait::async_trait]
    impl runtime_ttrpc::Runtime for Runtime {
        async fn register_plugin(
            &self,
            _ctx: &ttrpc::r#async::TtrpcContext,
            req: RegisterPluginRequest,
        ) -> ttrpc::Result<Empty> {
            self.0.send(req).unwrap();
            Ok(Empty::default())
        }
    }

    let (ours, theirs) = UnixStream::pair().unwrap();
    let plugin = RuntimeConnection::from_stream(ours, Arc::new(Configured)).unwrap();
    let (_mux, mut conns) =
        Mux::start(theirs, &[ConnId::PLUGIN_SERVICE, ConnId::RUNTIME_SERVICE]).unwrap();
    let runtime_conn = conns.remove(1);
    let plugin_conn = conns.remove(0);
    let (registered, mut registrations) = tokio::sync::mpsc::unbounded_channel();
    let listener = ttrpc::asynchronous::transport::Listener::new(
        futures::stream::once(async move { Ok::<_, std::io::Error>(runtime_conn) })
            .chain(futures::stream::pending()),
    );
    let mut server = ttrpc::asynchronous::Server::new()
        .add_listener(listener)
        .register_service(runtime_ttrpc::create_runtime(Arc::new(Runtime(registered))));
    server.start().await.unwrap();

    let request = RegisterPluginRequest {
        plugin_name: "ours".into(),
        plugin_idx: "10".into(),
        nri_version: "v0.12.2".into(),
    };
    let answer = plugin
        .call(
            RuntimeRequest::RegisterPlugin(request.clone()),
            Some(WATCHDOG),
        )
        .await
        .unwrap();
    assert_eq!(answer, RuntimeResponse::RegisterPlugin(Empty::default()));
    assert_eq!(registrations.recv().await.unwrap(), request);

    let client = plugin_ttrpc::PluginClient::new(ttrpc::asynchronous::Client::new(
        ttrpc::asynchronous::transport::Socket::new(plugin_conn),
    ));
    let configure = ConfigureRequest {
        config: "four".into(),
        ..Default::default()
    };
    let reply = client
        .configure(ttrpc::context::with_timeout(1_000_000_000), &configure)
        .await
        .unwrap();
    assert_eq!(reply.events, 4);
    let missing = client
        .synchronize(
            ttrpc::context::with_timeout(1_000_000_000),
            &Default::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, ttrpc::Error::RpcStatus(status) if status.code() == ttrpc::Code::UNIMPLEMENTED),
        "{missing:?}"
    );
    plugin.close();
}

/// ttrpc-rust as the plugin: it dials our runtime's socket, registers with
/// its client and serves the Plugin service with its server; our runtime
/// side calls it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttrpc_rust_plugin_talks_to_our_runtime_side() {
    struct Plugin;
    #[async_trait::async_trait]
    impl plugin_ttrpc::Plugin for Plugin {
        async fn configure(
            &self,
            _ctx: &ttrpc::r#async::TtrpcContext,
            req: ConfigureRequest,
        ) -> ttrpc::Result<ConfigureResponse> {
            Ok(ConfigureResponse {
                events: req.runtime_name.len() as i32,
            })
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nri.sock");
    let transport = TtrpcTransport::listen(&path).unwrap();
    let stream = UnixStream::connect(&path).await.unwrap();
    let accepted = timeout(WATCHDOG, transport.accept())
        .await
        .unwrap()
        .unwrap();

    let (_mux, mut conns) =
        Mux::start(stream, &[ConnId::PLUGIN_SERVICE, ConnId::RUNTIME_SERVICE]).unwrap();
    let runtime_conn = conns.remove(1);
    let plugin_conn = conns.remove(0);
    let listener = ttrpc::asynchronous::transport::Listener::new(
        futures::stream::once(async move { Ok::<_, std::io::Error>(plugin_conn) })
            .chain(futures::stream::pending()),
    );
    let mut server = ttrpc::asynchronous::Server::new()
        .add_listener(listener)
        .register_service(plugin_ttrpc::create_plugin(Arc::new(Plugin)));
    server.start().await.unwrap();
    let client = runtime_ttrpc::RuntimeClient::new(ttrpc::asynchronous::Client::new(
        ttrpc::asynchronous::transport::Socket::new(runtime_conn),
    ));

    let mut calls = accepted.calls;
    let registering = tokio::spawn(async move {
        client
            .register_plugin(
                ttrpc::context::with_timeout(5_000_000_000),
                &RegisterPluginRequest {
                    plugin_name: "rust".into(),
                    plugin_idx: "20".into(),
                    nri_version: "v0.12.2".into(),
                },
            )
            .await
    });
    let call = timeout(WATCHDOG, calls.recv()).await.unwrap().unwrap();
    let (request, responder) = call.into_parts();
    assert!(
        matches!(&request, RuntimeRequest::RegisterPlugin(r) if r.plugin_name == "rust" && r.plugin_idx == "20")
    );
    assert!(responder.reply(Ok(RuntimeResponse::RegisterPlugin(Empty::default()))));
    registering.await.unwrap().unwrap();

    let configure = ConfigureRequest {
        runtime_name: "seven!!".into(),
        ..Default::default()
    };
    let reply = nri_core::transport::call(accepted.connection.as_ref(), &configure, WATCHDOG)
        .await
        .unwrap();
    assert_eq!(reply.events, 7);
    // ttrpc-rust answers methods it lacks with UNIMPLEMENTED, which is how
    // nri-core recognizes an old plugin.
    let missing = accepted
        .connection
        .call(
            PluginRequestRef::RunPodSandbox((&RunPodSandboxRequest::default()).into()),
            WATCHDOG,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(missing, CallError::Unimplemented { .. }),
        "{missing:?}"
    );
    accepted.connection.close().await;
}
