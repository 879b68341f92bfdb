#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Peers that break the wire protocol, against a real runtime over the
//! ttrpc transport: a hand-written plugin registers properly, then
//! misbehaves at its first CreateContainer. Each case must end with the
//! plugin removed and its connection closed within the request timeout,
//! while a healthy plugin next to it keeps getting events.

use std::time::{Duration, Instant};

use nri_core::proto::api::{CreateContainerRequest, CreateContainerResponse, Empty};
use nri_core::proto::event::{Event, EventMask};
use nri_testkit::conformance::{
    Running, ScriptedPlugin, TtrpcHarness, container, options, pod, start_with, within,
};
use nri_testkit::hostile::raw_ttrpc::RawPeer;
use nri_transport_ttrpc::frame::{self, ConnId};
use nri_transport_ttrpc::message;
use nri_transport_ttrpc::message::envelope::{self, Request};
use prost::Message as _;
use tokio::io::AsyncWriteExt;

const TIMEOUT: Duration = Duration::from_millis(300);
const SLACK: Duration = Duration::from_millis(200);

/// Waits for the CreateContainer request; returns its stream id.
async fn create_container(peer: &mut RawPeer) -> u32 {
    let (conn, message) = peer.next().await.expect("no CreateContainer");
    assert_eq!(conn, ConnId::PLUGIN_SERVICE);
    let request = Request::decode(message.data).unwrap();
    assert_eq!(request.method, "CreateContainer");
    CreateContainerRequest::decode(request.payload).unwrap();
    message.header.stream_id
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
            peer.send(ConnId::PLUGIN_SERVICE, &reply).await.unwrap();
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
            peer.send(ConnId::RUNTIME_SERVICE, &message).await.unwrap();
            let (conn, reply) = peer.next().await.expect("UpdateContainers unanswered");
            assert_eq!(conn, ConnId::RUNTIME_SERVICE);
            assert_eq!(reply.header.stream_id, 3);
        }
        Misbehaviour::UndecodableResponse => {
            let mut message = message::MessageHeader {
                length: 3,
                stream_id,
                kind: message::TYPE_RESPONSE,
                flags: 0,
            }
            .encode()
            .to_vec();
            message.extend_from_slice(&[0xff, 0xff, 0xff]);
            peer.send(ConnId::PLUGIN_SERVICE, &message).await.unwrap();
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
    let mut peer = RawPeer::connect(harness.socket()).await.unwrap();
    within(
        "raw registration",
        peer.register("10", "raw", EventMask::of([Event::CreateContainer])),
    )
    .await;
    within("listing", running.adaptation.wait_for_plugins(2)).await;

    let request = CreateContainerRequest {
        pod: Some(pod(0)),
        container: Some(container(0, 0)),
    };
    let started = Instant::now();
    let event = running.adaptation.create_container(request);
    let plugin = async {
        let stream_id = create_container(&mut peer).await;
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
    let mut silent = RawPeer::connect(harness.socket()).await.unwrap();
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
