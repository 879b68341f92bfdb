//! Replays the byte-exact wire recordings of `shared/interop/` (an upstream
//! Go NRI runtime talking to upstream Go NRI plugins, see the README there)
//! against this crate, over real unix sockets.
//!
//! - **Runtime side**: our [`TtrpcTransport`] accepts a connection; the test
//!   plays the Go plugin by writing the recorded plugin→runtime bytes, and
//!   checks that every byte our runtime writes (its RegisterPlugin reply and
//!   every request it sends, Configure, Synchronize and each event) is what
//!   the Go runtime wrote, and that our runtime decodes the Go plugin's
//!   replies into the recorded responses.
//! - **Plugin side**: our [`RuntimeConnection`] serves a handler that
//!   answers with the recorded plugin replies; the test plays the Go runtime
//!   by writing the recorded runtime→plugin bytes, and checks that our
//!   plugin's RegisterPlugin request and every reply it sends are what the
//!   Go plugin wrote.
//! - **Framing**: the recorded Go framing goes through our frame and ttrpc
//!   decoders, read by read as the recording proxy saw it, and our framing
//!   rule ([`frame::message_chunks`]) cuts every recorded message into the
//!   very frames Go sent.
//!
//! Tolerance: replies, mux frames and ttrpc headers must be identical byte
//! for byte. Requests too, with two exceptions:
//!
//! - the *value* of `timeout_nano`: Go sends the time left until its
//!   deadline, slightly less than the configured timeout, while we send the
//!   configured timeout itself. Both values must lie within
//!   [`TIMEOUT_SLACK`] below the configured timeout (taken from the recorded
//!   ConfigureRequest: `registration_timeout` for RegisterPlugin,
//!   `request_timeout` for the runtime's calls) and encode to the same
//!   number of bytes;
//! - the *order of map entries* inside the NRI payload (pod and container
//!   labels, annotations, ...): Go marshals a map in its random iteration
//!   order, prost in key order, so a map of two or more entries rarely
//!   matches. Our payload must decode to the recorded request (typed
//!   comparison: repeated fields in order) and be byte-identical to the
//!   recorded payload once the fields of each run of same-numbered fields
//!   that all look like map entries (key field 1, value field 2) may be
//!   reordered (compared recursively, without a schema). In the recordings
//!   every request that carries a pod or a container needs this (their
//!   labels and annotations); Configure matches exactly.
//!
//! After those checks the recorded `timeout_nano` and payload are spliced
//! into our bytes and the whole frames compared. Service, method, metadata,
//! stream ids, flags and lengths are never tolerated to differ. The NRI
//! payloads our runtime sends are re-encoded from the decoded recording, so
//! this also checks that our protobuf encoding of every recorded message is
//! Go's.
//!
//! The recordings are read at test time from
//! `<repository root>/../shared/interop`; a missing recording fails the
//! tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "interop/recording.rs"]
mod recording;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use nri_core::transport::{
    Accepted, CallError, Method, PluginHandler, PluginRequest, PluginResponse, RuntimeRequest,
    RuntimeResponse, Transport,
};
use nri_transport_ttrpc::frame::{self, ConnId, FrameDecoder};
use nri_transport_ttrpc::message::{Decoded, MessageDecoder};
use nri_transport_ttrpc::{RuntimeConnection, TtrpcTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use recording::{
    Direction, MUX_HEADER, Recording, SESSIONS, TTRPC_HEADER, TimelineRow, TtrpcHeader,
    WireMessage, assert_bytes_eq, fields, varint_value,
};

/// Bounds every wait; nothing in a replay should take more than a moment.
const WATCHDOG: Duration = Duration::from_secs(10);

/// How far below the configured timeout a request's `timeout_nano` may be.
/// The recorded Go values are at most 0.7 ms below.
const TIMEOUT_SLACK: Duration = Duration::from_millis(50);

/// Field number of `payload` in `ttrpc.Request`.
const PAYLOAD_FIELD: u32 = 3;
/// Field number of `timeout_nano` in `ttrpc.Request`.
const TIMEOUT_FIELD: u32 = 4;

async fn watchdog<F: Future>(what: impl std::fmt::Display, future: F) -> F::Output {
    match tokio::time::timeout(WATCHDOG, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: nothing happened within {WATCHDOG:?}"),
    }
}

/// The timeouts the recorded runtime configured.
struct Timeouts {
    registration: Duration,
    request: Duration,
}

fn timeouts(recording: &Recording) -> Timeouts {
    let configure = recording
        .messages
        .iter()
        .find(|message| message.is_request() && message.method == "Configure")
        .unwrap_or_else(|| panic!("{}: no Configure request recorded", recording.name));
    let PluginRequest::Configure(request) = plugin_request(configure) else {
        unreachable!("decoded as Configure")
    };
    let millis = |value: i64| Duration::from_millis(u64::try_from(value).unwrap());
    Timeouts {
        registration: millis(request.registration_timeout),
        request: millis(request.request_timeout),
    }
}

fn plugin_method(message: &WireMessage) -> Method {
    Method::from_name(&message.method)
        .unwrap_or_else(|| panic!("{message}: not a method of the Plugin service"))
}

fn plugin_request(message: &WireMessage) -> PluginRequest {
    PluginRequest::decode(plugin_method(message), &message.request().payload[..])
        .unwrap_or_else(|error| panic!("{message}: {error}"))
}

fn plugin_response(message: &WireMessage) -> PluginResponse {
    let response = message.response();
    assert_eq!(response.status, None, "{message}: recorded with a status");
    PluginResponse::decode(plugin_method(message), &response.payload[..])
        .unwrap_or_else(|error| panic!("{message}: {error}"))
}

fn runtime_request(message: &WireMessage) -> RuntimeRequest {
    RuntimeRequest::decode(&message.method, &message.request().payload[..])
        .unwrap_or_else(|error| panic!("{message}: {error}"))
}

fn runtime_response(message: &WireMessage) -> RuntimeResponse {
    let response = message.response();
    assert_eq!(response.status, None, "{message}: recorded with a status");
    RuntimeResponse::decode(&message.method, &response.payload[..])
        .unwrap_or_else(|error| panic!("{message}: {error}"))
}

/// One ttrpc message as our side wrote it on the socket.
#[derive(Default)]
struct Received {
    /// Connection and payload length of each mux frame.
    layout: Vec<(u32, usize)>,
    /// The ttrpc message (frame payloads concatenated).
    bytes: Vec<u8>,
    /// The frames, headers included.
    wire: Vec<u8>,
}

impl Received {
    fn complete(&self) -> bool {
        self.bytes.len() >= TTRPC_HEADER
            && self.bytes.len() >= TTRPC_HEADER + TtrpcHeader::parse(&self.bytes).length as usize
    }
}

async fn read_frame(stream: &mut UnixStream) -> std::io::Result<(u32, Vec<u8>)> {
    let mut header = [0u8; MUX_HEADER];
    stream.read_exact(&mut header).await?;
    let conn = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > frame::MAX_PAYLOAD {
        return Err(std::io::Error::other(format!(
            "frame header announces {len} bytes on conn {conn}"
        )));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok((conn, payload))
}

/// Reads the frames our side writes until they hold one whole ttrpc
/// message; `expected` is the recorded message it should equal.
async fn receive(stream: &mut UnixStream, expected: &WireMessage) -> Received {
    watchdog(format!("waiting for our counterpart of {expected}"), async {
        let mut received = Received::default();
        while !received.complete() {
            let (conn, payload) = read_frame(stream).await.unwrap_or_else(|error| {
                panic!(
                    "{expected}: cannot read our side's frame after {} bytes of the message: {error}",
                    received.wire.len()
                )
            });
            assert_eq!(
                conn, expected.conn,
                "{expected}: our side sent a frame on conn {conn} instead"
            );
            received.layout.push((conn, payload.len()));
            received
                .wire
                .extend_from_slice(&frame::encode_header(ConnId(conn), payload.len()));
            received.wire.extend_from_slice(&payload);
            received.bytes.extend_from_slice(&payload);
        }
        received
    })
    .await
}

/// Our message must be the recorded one, byte for byte.
fn assert_identical(received: &Received, recorded: &WireMessage) {
    assert_eq!(
        received.layout,
        recorded.layout(),
        "{recorded}: mux frame layout (conn, payload length) differs; ours first"
    );
    assert_bytes_eq(
        &format!("{recorded}: ttrpc header"),
        &received.bytes[..TTRPC_HEADER],
        &recorded.bytes[..TTRPC_HEADER],
    );
    assert_bytes_eq(
        &format!("{recorded}: whole frame(s)"),
        &received.wire,
        &recorded.wire,
    );
}

fn assert_timeout_near(what: &str, timeout_nano: u64, configured: Duration) {
    let configured = u64::try_from(configured.as_nanos()).unwrap();
    let slack = u64::try_from(TIMEOUT_SLACK.as_nanos()).unwrap();
    assert!(
        timeout_nano <= configured && timeout_nano + slack > configured,
        "{what}: timeout_nano {timeout_nano} is not within {TIMEOUT_SLACK:?} below the \
         configured {configured} ns"
    );
}

/// Two decoded messages are equal; else shows the first differing line of
/// their debug output.
fn assert_same_decoded<T: PartialEq + std::fmt::Debug>(
    recorded: &WireMessage,
    ours: &T,
    theirs: &T,
) {
    if ours == theirs {
        return;
    }
    let ours = format!("{ours:#?}");
    let theirs = format!("{theirs:#?}");
    let line = ours
        .lines()
        .zip(theirs.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| ours.lines().count().min(theirs.lines().count()));
    let context = |text: &str| -> String {
        text.lines()
            .skip(line.saturating_sub(3))
            .take(4)
            .collect::<Vec<_>>()
            .join("\n")
    };
    panic!(
        "{recorded}: our NRI request decodes to something else, first at line {}:\n\
         ours:\n{}\nrecorded:\n{}",
        line + 1,
        context(&ours),
        context(&theirs)
    );
}

/// Our request's NRI payload decodes to the recorded request (repeated
/// fields in order, map fields as maps).
fn assert_same_nri_request(recorded: &WireMessage, ours: &[u8]) {
    if recorded.conn == 1 {
        let ours = PluginRequest::decode(plugin_method(recorded), ours)
            .unwrap_or_else(|error| panic!("{recorded}: ours: {error}"));
        assert_same_decoded(recorded, &ours, &plugin_request(recorded));
    } else {
        let ours = RuntimeRequest::decode(&recorded.method, ours)
            .unwrap_or_else(|error| panic!("{recorded}: ours: {error}"));
        assert_same_decoded(recorded, &ours, &runtime_request(recorded));
    }
}

/// Our request must be the recorded one, byte for byte, except the value of
/// `timeout_nano` (see the crate docs of this test).
fn assert_same_request(received: &Received, recorded: &WireMessage, configured: Duration) {
    assert_eq!(
        received.layout,
        recorded.layout(),
        "{recorded}: mux frame layout (conn, payload length) differs; ours first"
    );
    assert_bytes_eq(
        &format!("{recorded}: ttrpc header"),
        &received.bytes[..TTRPC_HEADER],
        &recorded.bytes[..TTRPC_HEADER],
    );
    let ours = &received.bytes[TTRPC_HEADER..];
    let theirs = recorded.body();
    let our_fields = fields(ours).unwrap_or_else(|error| panic!("{recorded}: ours: {error}"));
    let their_fields = fields(theirs).expect("the recording parses");
    let numbers = |list: &[recording::Field]| -> Vec<(u32, u8)> {
        list.iter().map(|f| (f.number, f.wire_type)).collect()
    };
    assert_eq!(
        numbers(&our_fields),
        numbers(&their_fields),
        "{recorded}: envelope fields (number, wire type) differ; ours first"
    );
    let mut normalized = received.bytes.clone();
    let mut splice = |ours: &recording::Field, theirs_bytes: &[u8]| {
        assert_eq!(
            ours.span.len(),
            theirs_bytes.len(),
            "{recorded}: envelope field {} encodes to a different length",
            ours.number
        );
        let at = TTRPC_HEADER + ours.span.start;
        normalized[at..at + ours.span.len()].copy_from_slice(theirs_bytes);
    };
    for (our_field, their_field) in our_fields.iter().zip(&their_fields) {
        let our_value = &ours[our_field.value.clone()];
        let their_value = &theirs[their_field.value.clone()];
        match our_field.number {
            TIMEOUT_FIELD => {
                assert_timeout_near(
                    &format!("{recorded}: recorded"),
                    varint_value(theirs, their_field),
                    configured,
                );
                assert_timeout_near(
                    &format!("{recorded}: ours"),
                    varint_value(ours, our_field),
                    configured,
                );
                splice(our_field, &theirs[their_field.span.clone()]);
            }
            PAYLOAD_FIELD => {
                assert_same_nri_request(recorded, our_value);
                if let Err(difference) = recording::same_but_entry_order(our_value, their_value) {
                    assert_bytes_eq(
                        &format!(
                            "{recorded}: NRI payload ({difference}); offsets relative to the payload"
                        ),
                        our_value,
                        their_value,
                    );
                }
                // Equal but for the order of map entries: take Go's order.
                splice(our_field, &theirs[their_field.span.clone()]);
            }
            number => {
                let name = match number {
                    1 => "service",
                    2 => "method",
                    5 => "metadata",
                    _ => "unknown field",
                };
                assert_bytes_eq(
                    &format!(
                        "{recorded}: envelope field {number} ({name}); offsets relative to the value"
                    ),
                    our_value,
                    their_value,
                );
            }
        }
    }
    // Everything else, the frames included, byte for byte.
    let mut wire = Vec::new();
    let mut rest = &normalized[..];
    for &(conn, len) in &received.layout {
        wire.extend_from_slice(&frame::encode_header(ConnId(conn), len));
        wire.extend_from_slice(&rest[..len]);
        rest = &rest[len..];
    }
    assert_bytes_eq(
        &format!("{recorded}: whole frame(s) with the recorded timeout_nano spliced in"),
        &wire,
        &recorded.wire,
    );
}

/// Replays a session against our runtime end, playing the Go plugin.
async fn replay_runtime_side(session: &str) {
    let recording = Recording::load(session);
    let timeouts = timeouts(&recording);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nri.sock");
    let transport = TtrpcTransport::listen(&path).unwrap();
    let mut plugin = UnixStream::connect(&path).await.unwrap();
    let Accepted {
        connection,
        mut calls,
    } = watchdog("accepting the plugin", transport.accept())
        .await
        .expect("the transport accepts the connection");

    let mut pending = HashMap::new();
    for message in &recording.messages {
        match (message.direction, message.is_request()) {
            // The plugin calls the runtime: nri-core sees the call and
            // answers it with the recorded answer.
            (Direction::PluginToRuntime, true) => {
                plugin.write_all(&message.wire).await.unwrap();
                let call = watchdog(
                    format!("{message}: waiting for the RuntimeCall"),
                    calls.recv(),
                )
                .await
                .unwrap_or_else(|| panic!("{message}: the call stream ended"));
                assert_eq!(
                    call.request(),
                    &runtime_request(message),
                    "{message}: our runtime decoded another request"
                );
                let answer = runtime_response(recording.reply_to(message));
                let (_, responder) = call.into_parts();
                assert!(responder.reply(Ok(answer)), "{message}: nobody waits");
            }
            // Our runtime's answer to the plugin's call.
            (Direction::RuntimeToPlugin, false) => {
                let received = receive(&mut plugin, message).await;
                assert_identical(&received, message);
            }
            // Our runtime calls the plugin.
            (Direction::RuntimeToPlugin, true) => {
                let request = plugin_request(message);
                let connection = Arc::clone(&connection);
                let timeout = timeouts.request;
                pending.insert(
                    message.header.stream_id,
                    tokio::spawn(async move { connection.call(request.borrowed(), timeout).await }),
                );
                let received = receive(&mut plugin, message).await;
                assert_same_request(&received, message, timeouts.request);
            }
            // The plugin's reply reaches our runtime's call.
            (Direction::PluginToRuntime, false) => {
                plugin.write_all(&message.wire).await.unwrap();
                let call = pending
                    .remove(&message.header.stream_id)
                    .unwrap_or_else(|| panic!("{message}: no call of ours is waiting"));
                let outcome = watchdog(format!("{message}: waiting for our call"), call)
                    .await
                    .unwrap();
                assert_eq!(
                    outcome,
                    Ok(plugin_response(message)),
                    "{message}: our runtime's call returned something else"
                );
            }
        }
    }
    assert!(pending.is_empty());

    // The recording ends with the runtime closing the socket: the plugin
    // sees the end of the stream and no further byte.
    connection.close().await;
    let mut rest = Vec::new();
    watchdog("reading to the end", plugin.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(
        rest.is_empty(),
        "{session}: our runtime wrote {} bytes after the recorded session: {:02x?}",
        rest.len(),
        &rest[..rest.len().min(32)]
    );
    assert!(
        watchdog("the call stream ending", calls.recv())
            .await
            .is_none(),
        "{session}: a RuntimeCall after the session"
    );
    transport.shut_down();
}

#[tokio::test]
async fn runtime_side_replays_session1() {
    replay_runtime_side("session1").await;
}

#[tokio::test]
async fn runtime_side_replays_session2() {
    replay_runtime_side("session2").await;
}

/// A plugin answering each call with the recorded reply, in recorded order,
/// after checking that the request is the recorded one.
struct ReplayPlugin {
    script: Mutex<VecDeque<(String, PluginRequest, PluginResponse)>>,
    problems: Mutex<Vec<String>>,
}

impl ReplayPlugin {
    fn new(recording: &Recording) -> Self {
        let script = recording
            .messages
            .iter()
            .filter(|message| message.direction == Direction::RuntimeToPlugin)
            .filter(|message| message.is_request())
            .map(|message| {
                (
                    message.to_string(),
                    plugin_request(message),
                    plugin_response(recording.reply_to(message)),
                )
            })
            .collect();
        ReplayPlugin {
            script: Mutex::new(script),
            problems: Mutex::new(Vec::new()),
        }
    }

    fn problem(&self, problem: String) -> CallError {
        self.problems.lock().unwrap().push(problem.clone());
        CallError::Failed {
            code: 2,
            message: problem,
        }
    }
}

#[async_trait::async_trait]
impl PluginHandler for ReplayPlugin {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some((_, expected, reply)) if expected == request => Ok(reply),
            Some((what, expected, _)) => Err(self.problem(format!(
                "{what}: our plugin decoded a different {} request (recorded: {})",
                request.method().name(),
                expected.method().name()
            ))),
            None => Err(self.problem(format!(
                "unexpected {} call after the recorded ones",
                request.method().name()
            ))),
        }
    }
}

/// Replays a session against our plugin end, playing the Go runtime.
async fn replay_plugin_side(session: &str) {
    let recording = Recording::load(session);
    let timeouts = timeouts(&recording);
    let (ours, mut runtime) = UnixStream::pair().unwrap();
    let handler = Arc::new(ReplayPlugin::new(&recording));
    let connection = Arc::new(
        RuntimeConnection::from_stream(ours, Arc::clone(&handler) as Arc<dyn PluginHandler>)
            .unwrap(),
    );

    let mut pending = HashMap::new();
    for message in &recording.messages {
        match (message.direction, message.is_request()) {
            // Our plugin calls the runtime (RegisterPlugin).
            (Direction::PluginToRuntime, true) => {
                let request = runtime_request(message);
                let connection = Arc::clone(&connection);
                let timeout = timeouts.registration;
                pending.insert(
                    message.header.stream_id,
                    tokio::spawn(async move { connection.call(request, Some(timeout)).await }),
                );
                let received = receive(&mut runtime, message).await;
                assert_same_request(&received, message, timeouts.registration);
            }
            // The runtime's answer reaches our plugin's call.
            (Direction::RuntimeToPlugin, false) => {
                runtime.write_all(&message.wire).await.unwrap();
                let call = pending
                    .remove(&message.header.stream_id)
                    .unwrap_or_else(|| panic!("{message}: no call of ours is waiting"));
                let outcome = watchdog(format!("{message}: waiting for our call"), call)
                    .await
                    .unwrap();
                assert_eq!(
                    outcome,
                    Ok(runtime_response(message)),
                    "{message}: our plugin's call returned something else"
                );
            }
            // The runtime calls the plugin.
            (Direction::RuntimeToPlugin, true) => {
                runtime.write_all(&message.wire).await.unwrap();
            }
            // Our plugin's reply.
            (Direction::PluginToRuntime, false) => {
                let received = receive(&mut runtime, message).await;
                let problems = handler.problems.lock().unwrap().clone();
                assert!(problems.is_empty(), "{message}: {problems:#?}");
                assert_identical(&received, message);
            }
        }
    }
    assert!(pending.is_empty());
    let left: Vec<String> = handler
        .script
        .lock()
        .unwrap()
        .iter()
        .map(|(what, _, _)| what.clone())
        .collect();
    assert!(left.is_empty(), "{session}: never called: {left:?}");

    // The runtime closes the socket: our plugin notices, closes its end and
    // writes nothing more.
    runtime.shutdown().await.unwrap();
    let reason = watchdog("our plugin noticing the end", connection.closed()).await;
    assert!(
        matches!(reason, CallError::Closed { .. }),
        "{session}: {reason:?}"
    );
    let mut rest = Vec::new();
    watchdog("reading to the end", runtime.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(
        rest.is_empty(),
        "{session}: our plugin wrote {} bytes after the recorded session: {:02x?}",
        rest.len(),
        &rest[..rest.len().min(32)]
    );
}

#[tokio::test]
async fn plugin_side_replays_session1() {
    replay_plugin_side("session1").await;
}

#[tokio::test]
async fn plugin_side_replays_session2() {
    replay_plugin_side("session2").await;
}

/// The recorded Go framing goes through our frame decoder and ttrpc message
/// decoder unchanged, read by read as the proxy received it; every recorded
/// message is one frame, as our framing rule would send it.
#[test]
fn recorded_go_framing_matches_our_decoders_and_our_framing_rule() {
    for session in SESSIONS {
        let recording = Recording::load(session);
        for direction in Direction::BOTH {
            let what = format!("{session} {}", direction.tag());
            let bytes = recording.bytes(direction);
            let recorded_frames = recording.frames(direction);

            // Our frame decoder, fed exactly the recorded reads (mux headers
            // and payloads sometimes arrive separately).
            let mut decoder = FrameDecoder::new();
            let mut buf = BytesMut::new();
            let mut decoded = Vec::new();
            let mut messages: HashMap<u32, (MessageDecoder, Vec<Vec<u8>>)> = HashMap::new();
            for read in recording
                .reads
                .iter()
                .filter(|read| read.direction == direction)
            {
                buf.extend_from_slice(&bytes[read.range.clone()]);
                while let Some(frame) = decoder
                    .decode(&mut buf)
                    .unwrap_or_else(|error| panic!("{what}: {error}"))
                {
                    let (messages, out) = messages.entry(frame.conn.0).or_default();
                    messages.push(frame.payload.clone());
                    while let Some(message) = messages.next_message() {
                        let Decoded::Message(message) = message else {
                            panic!("{what}: oversized message {message:?}");
                        };
                        let mut whole = message.header.encode().to_vec();
                        whole.extend_from_slice(&message.data);
                        out.push(whole);
                    }
                    decoded.push((frame.conn.0, frame.payload.to_vec()));
                }
            }
            assert!(
                decoder.at_boundary(buf.len()),
                "{what}: our decoder ends inside a frame"
            );
            let expected: Vec<(u32, Vec<u8>)> = recorded_frames
                .iter()
                .map(|frame| (frame.conn, bytes[frame.payload.clone()].to_vec()))
                .collect();
            assert_eq!(decoded.len(), expected.len(), "{what}: frame count");
            for (index, (ours, recorded)) in decoded.iter().zip(&expected).enumerate() {
                assert_eq!(ours.0, recorded.0, "{what}: conn of frame {index}");
                assert_bytes_eq(
                    &format!("{what}: payload of frame {index}"),
                    &ours.1,
                    &recorded.1,
                );
            }

            // Our ttrpc decoder finds the same messages as the hand parser.
            let recorded_messages: Vec<&WireMessage> = recording
                .messages
                .iter()
                .filter(|message| message.direction == direction)
                .collect();
            for (conn, (decoder, ours)) in &messages {
                assert!(
                    decoder.at_boundary(),
                    "{what}: conn {conn} ends mid-message"
                );
                let theirs: Vec<&Vec<u8>> = recorded_messages
                    .iter()
                    .filter(|message| message.conn == *conn)
                    .map(|message| &message.bytes)
                    .collect();
                assert_eq!(ours.len(), theirs.len(), "{what}: messages on conn {conn}");
                for (index, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
                    assert_bytes_eq(
                        &format!("{what}: conn {conn} message {index}"),
                        ours,
                        theirs,
                    );
                }
            }

            // Go sent every message in one frame; so does our rule.
            let mut reframed = Vec::new();
            for message in &recorded_messages {
                assert_eq!(message.frames.len(), 1, "{message}: not one frame");
                assert!(
                    message.bytes.len() <= frame::GO_READ_BUFFER,
                    "{message}: {} bytes, more than one Go read buffer",
                    message.bytes.len()
                );
                let (head, tail) = frame::message_chunks(&message.bytes);
                assert!(tail.is_none(), "{message}: our rule cuts it in two");
                let mut ours = frame::encode_header(ConnId(message.conn), head.len()).to_vec();
                ours.extend_from_slice(head);
                assert_bytes_eq(&format!("{message}: re-framed"), &ours, &message.wire);
                reframed.extend_from_slice(&ours);
            }
            // And the frames of the messages are all the recorded bytes.
            assert_bytes_eq(&format!("{what}: all frames re-framed"), &reframed, bytes);
        }
    }
}

/// The hand parser agrees with the timeline of each transcript, so the
/// replays above play the messages in the order they crossed the socket,
/// and the sessions hold what the README says.
#[test]
fn recordings_parse_as_their_transcripts_describe() {
    for session in SESSIONS {
        let recording = Recording::load(session);
        let ours: Vec<TimelineRow> = recording.messages.iter().map(TimelineRow::of).collect();
        let transcript = recording.transcript_timeline();
        assert!(
            !transcript.is_empty(),
            "{session}: empty transcript timeline"
        );
        assert_eq!(ours.len(), transcript.len(), "{session}: message count");
        for (index, (ours, theirs)) in ours.iter().zip(&transcript).enumerate() {
            assert_eq!(ours, theirs, "{session}: timeline row {}", index + 1);
        }
        let first = &recording.messages[0];
        assert_eq!(
            (first.direction, first.conn, first.method.as_str()),
            (Direction::PluginToRuntime, 2, "RegisterPlugin"),
            "{session}: the plugin speaks first"
        );
        let runtime_streams: Vec<u32> = recording
            .messages
            .iter()
            .filter(|message| message.direction == Direction::RuntimeToPlugin)
            .filter(|message| message.is_request())
            .map(|message| message.header.stream_id)
            .collect();
        let odd: Vec<u32> = (0..runtime_streams.len() as u32)
            .map(|i| 2 * i + 1)
            .collect();
        assert_eq!(runtime_streams, odd, "{session}: runtime stream ids");
    }
}
