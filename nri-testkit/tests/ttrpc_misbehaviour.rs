#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Peers that break the wire protocol, against a real runtime over the
//! ttrpc transport: a hand-written plugin registers properly, then
//! misbehaves at its first CreateContainer. Each case must end with the
//! plugin removed and its connection closed within the request timeout,
//! while a healthy plugin next to it keeps getting events.

use std::time::{Duration, Instant};

use nri_core::proto::api::{
    ConfigureResponse, CreateContainerRequest, CreateContainerResponse, Empty,
    RegisterPluginRequest, SynchronizeResponse,
};
use nri_core::proto::event::{Event, EventMask};
use nri_testkit::conformance::{
    Running, ScriptedPlugin, TtrpcHarness, container, options, pod, start_with, within,
};
use nri_transport_ttrpc::frame::{self, ConnId, FrameDecoder};
use nri_transport_ttrpc::ttrpc::envelope::{self, Request, Response};
use nri_transport_ttrpc::ttrpc::{self, Decoded, MessageDecoder};
use prost::Message as _;
use prost::bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const TIMEOUT: Duration = Duration::from_millis(300);
const SLACK: Duration = Duration::from_millis(200);

/// A plugin that speaks the wire protocol by hand.
struct RawPeer {
    stream: UnixStream,
    buf: BytesMut,
    frames: FrameDecoder,
    conn1: MessageDecoder,
    conn2: MessageDecoder,
}

impl RawPeer {
    async fn connect(harness: &TtrpcHarness) -> Self {
        RawPeer {
            stream: UnixStream::connect(harness.socket()).await.unwrap(),
            buf: BytesMut::new(),
            frames: FrameDecoder::new(),
            conn1: MessageDecoder::new(),
            conn2: MessageDecoder::new(),
        }
    }

    async fn send(&mut self, conn: ConnId, message: &[u8]) {
        let (head, tail) = frame::message_chunks(message);
        for chunk in std::iter::once(head).chain(tail) {
            self.stream
                .write_all(&frame::encode_header(conn, chunk.len()))
                .await
                .unwrap();
            self.stream.write_all(chunk).await.unwrap();
        }
    }

    /// The next whole ttrpc message, or `None` once the runtime closed.
    async fn next(&mut self) -> Option<(ConnId, ttrpc::Message)> {
        loop {
            for (conn, decoder) in [
                (ConnId::PLUGIN_SERVICE, &mut self.conn1),
                (ConnId::RUNTIME_SERVICE, &mut self.conn2),
            ] {
                if let Some(Decoded::Message(message)) = decoder.next_message() {
                    return Some((conn, message));
                }
            }
            if let Some(frame) = self.frames.decode(&mut self.buf).unwrap() {
                match frame.conn {
                    ConnId::PLUGIN_SERVICE => self.conn1.push(frame.payload),
                    ConnId::RUNTIME_SERVICE => self.conn2.push(frame.payload),
                    other => panic!("frame for {other}"),
                }
                continue;
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Registers as `NN-name`, subscribed to CreateContainer, answering
    /// Configure and Synchronize.
    async fn register(&mut self, index: &str, name: &str) {
        let request = RegisterPluginRequest {
            plugin_name: name.into(),
            plugin_idx: index.into(),
            nri_version: "v0.12.2".into(),
        };
        let message = envelope::encode_request(
            1,
            nri_core::proto::defaults::RUNTIME_SERVICE,
            "RegisterPlugin",
            &request.encode_to_vec()[..],
            5_000_000_000,
        )
        .unwrap();
        self.send(ConnId::RUNTIME_SERVICE, &message).await;
        let (mut registered, mut synchronized) = (false, false);
        while !(registered && synchronized) {
            let (conn, message) = self
                .next()
                .await
                .expect("runtime closed during registration");
            if conn == ConnId::RUNTIME_SERVICE {
                let response = Response::decode(message.data).unwrap();
                assert!(response.status.is_none(), "{response:?}");
                registered = true;
                continue;
            }
            let request = Request::decode(message.data).unwrap();
            let reply = match request.method.as_str() {
                "Configure" => ConfigureResponse {
                    events: EventMask::of([Event::CreateContainer]).bits(),
                }
                .encode_to_vec(),
                "Synchronize" => {
                    synchronized = true;
                    SynchronizeResponse::default().encode_to_vec()
                }
                other => panic!("unexpected {other} during registration"),
            };
            let reply = envelope::encode_reply(message.header.stream_id, &reply[..]).unwrap();
            self.send(ConnId::PLUGIN_SERVICE, &reply).await;
        }
    }

    /// Waits for the CreateContainer request; returns its stream id.
    async fn create_container(&mut self) -> u32 {
        let (conn, message) = self.next().await.expect("no CreateContainer");
        assert_eq!(conn, ConnId::PLUGIN_SERVICE);
        let request = Request::decode(message.data).unwrap();
        assert_eq!(request.method, "CreateContainer");
        CreateContainerRequest::decode(request.payload).unwrap();
        message.header.stream_id
    }

    /// Waits until the runtime closes the connection.
    async fn until_closed(&mut self) {
        while self.next().await.is_some() {}
    }
}

#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// Text instead of frames.
    Garbage,
    /// A frame header announcing 100 bytes, then 10 bytes and silence.
    TruncatedFrame,
    /// A frame header with a length of 0xFFFFFFFF.
    HugeLength,
    /// A response for a stream id the runtime never used.
    UnknownStream,
    /// Stops serving conn 1 (as a Go plugin closing that connection only),
    /// while conn 2 stays up.
    ClosesConn1,
    /// A response whose envelope does not decode.
    UndecodableResponse,
}

async fn misbehave(peer: &mut RawPeer, how: Misbehaviour, stream_id: u32) {
    match how {
        Misbehaviour::Garbage => {
            peer.stream
                .write_all(b"GET / HTTP/1.1\r\nHost: nri\r\n\r\n")
                .await
                .unwrap();
        }
        Misbehaviour::TruncatedFrame => {
            peer.stream
                .write_all(&frame::encode_header(ConnId::PLUGIN_SERVICE, 100))
                .await
                .unwrap();
            peer.stream.write_all(&[0u8; 10]).await.unwrap();
        }
        Misbehaviour::HugeLength => {
            peer.stream
                .write_all(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff])
                .await
                .unwrap();
        }
        Misbehaviour::UnknownStream => {
            let body = CreateContainerResponse::default().encode_to_vec();
            let reply = envelope::encode_reply(stream_id + 1000, &body[..]).unwrap();
            peer.send(ConnId::PLUGIN_SERVICE, &reply).await;
        }
        Misbehaviour::ClosesConn1 => {
            // Conn 2 still works: an UpdateContainers call gets its answer.
            let message = envelope::encode_request(
                3,
                nri_core::proto::defaults::RUNTIME_SERVICE,
                "UpdateContainers",
                &Empty::default().encode_to_vec()[..],
                0,
            )
            .unwrap();
            peer.send(ConnId::RUNTIME_SERVICE, &message).await;
            let (conn, reply) = peer.next().await.expect("UpdateContainers unanswered");
            assert_eq!(conn, ConnId::RUNTIME_SERVICE);
            assert_eq!(reply.header.stream_id, 3);
        }
        Misbehaviour::UndecodableResponse => {
            let mut message = ttrpc::MessageHeader {
                length: 3,
                stream_id,
                kind: ttrpc::TYPE_RESPONSE,
                flags: 0,
            }
            .encode()
            .to_vec();
            message.extend_from_slice(&[0xff, 0xff, 0xff]);
            peer.send(ConnId::PLUGIN_SERVICE, &message).await;
        }
    }
}

async fn healthy_runtime(harness: &TtrpcHarness) -> Running {
    let options = options().with_timeouts(TIMEOUT, TIMEOUT);
    let healthy = ScriptedPlugin::new("20", "healthy", EventMask::of([Event::CreateContainer]));
    start_with(harness, options, vec![healthy]).await
}

async fn case(how: Misbehaviour) {
    let harness = TtrpcHarness::new().unwrap();
    let running = healthy_runtime(&harness).await;
    let mut peer = RawPeer::connect(&harness).await;
    within("raw registration", peer.register("10", "raw")).await;
    within("listing", running.adaptation.wait_for_plugins(2)).await;

    let request = CreateContainerRequest {
        pod: Some(pod(0)),
        container: Some(container(0, 0)),
    };
    let started = Instant::now();
    let event = running.adaptation.create_container(request);
    let plugin = async {
        let stream_id = peer.create_container().await;
        misbehave(&mut peer, how, stream_id).await;
    };
    let (outcome, ()) = within("event", async { tokio::join!(event, plugin) }).await;
    let took = started.elapsed();
    outcome.unwrap_or_else(|error| panic!("{how:?}: the event failed: {error}"));
    assert!(took < TIMEOUT + SLACK, "{how:?}: the event took {took:?}");
    assert_eq!(running.labels(), ["20-healthy"], "{how:?}");
    assert_eq!(
        running.plugin(0).calls().len(),
        1,
        "{how:?}: healthy plugin"
    );
    within("runtime closes the connection", peer.until_closed()).await;

    // The runtime still serves the healthy plugin.
    let request = CreateContainerRequest {
        pod: Some(pod(0)),
        container: Some(container(1, 0)),
    };
    running.adaptation.create_container(request).await.unwrap();
    assert_eq!(running.plugin(0).calls().len(), 2, "{how:?}");
    running.stop().await;
}

#[tokio::test]
async fn garbage_bytes() {
    case(Misbehaviour::Garbage).await;
}

#[tokio::test]
async fn truncated_frame() {
    case(Misbehaviour::TruncatedFrame).await;
}

#[tokio::test]
async fn length_field_of_all_ones() {
    case(Misbehaviour::HugeLength).await;
}

#[tokio::test]
async fn response_for_an_unknown_stream() {
    case(Misbehaviour::UnknownStream).await;
}

#[tokio::test]
async fn plugin_closes_conn_1_only() {
    case(Misbehaviour::ClosesConn1).await;
}

#[tokio::test]
async fn undecodable_response() {
    case(Misbehaviour::UndecodableResponse).await;
}

#[tokio::test]
async fn plugin_that_never_registers_is_disconnected_after_the_registration_timeout() {
    let harness = TtrpcHarness::new().unwrap();
    let running = healthy_runtime(&harness).await;
    let mut silent = RawPeer::connect(&harness).await;
    let started = Instant::now();
    within("registration timeout", silent.until_closed()).await;
    let took = started.elapsed();
    assert!(
        took >= TIMEOUT && took < TIMEOUT + SLACK,
        "closed after {took:?}"
    );
    assert_eq!(running.labels(), ["20-healthy"]);
    running.stop().await;
}
