//! The cases of the hostile-peer suite, one function each, for any
//! [`Target`]. Each sends several times
//! [`MEMORY_BOUND_KIB`](super::MEMORY_BOUND_KIB) at the runtime (or holds
//! connections open) and expects the runtime to cut it off.

use std::path::Path;
use std::time::{Duration, Instant};

use nri_core::proto::event::{Event, EventMask};
use nri_transport_ttrpc::frame::{self, ConnId};
use nri_transport_ttrpc::message::{self, envelope};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;

use super::raw_ttrpc::RawPeer;
use super::{FLOOD_BYTES, MAX_UNREGISTERED, REGISTRATION_TIMEOUT, Scene, Target, Wire, attacked};
use crate::conformance::within;

/// How long a flood may go on before the runtime must have cut it off.
const CUT_OFF: Duration = Duration::from_secs(20);

/// How a flood ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Flood {
    /// The runtime closed the connection after this many bytes.
    Closed(usize),
    /// The runtime stopped reading (took nothing for [`STALL`]) and kept
    /// the connection open.
    Stalled(usize),
    /// Everything was sent and the runtime still had not closed.
    Sent(usize),
}

impl Flood {
    /// Whether the runtime closed the connection.
    pub fn is_closed(&self) -> bool {
        matches!(self, Flood::Closed(_))
    }
}

/// How long a peer that takes nothing is given before a flood counts as
/// stalled.
pub const STALL: Duration = Duration::from_secs(3);

/// How writing a flood ended.
enum Pumped {
    /// All [`FLOOD_BYTES`] were taken.
    Sent(usize),
    /// The runtime closed the connection after this many bytes.
    Closed(usize),
    /// The runtime took nothing for [`STALL`] after this many bytes.
    Stuck(usize),
    /// [`CUT_OFF`] passed.
    Late(usize),
}

/// Writes what `next` gives, again and again, never reading, until
/// [`FLOOD_BYTES`] are sent, the runtime closes the connection or stops
/// taking bytes.
async fn pump<W: AsyncWrite + Unpin>(writer: &mut W, mut next: impl FnMut() -> Vec<u8>) -> Pumped {
    let started = Instant::now();
    let mut sent = 0;
    while sent < FLOOD_BYTES {
        let chunk = next();
        let Some(left) = CUT_OFF.checked_sub(started.elapsed()) else {
            return Pumped::Late(sent);
        };
        match tokio::time::timeout(left.min(STALL), writer.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(_)) => return Pumped::Closed(sent),
            Err(_) if left > STALL => return Pumped::Stuck(sent),
            Err(_) => return Pumped::Late(sent),
        }
    }
    Pumped::Sent(sent)
}

/// Floods `stream` with what `next` gives ([`pump`]), then waits (up to
/// [`CUT_OFF`]) for the runtime to close it.
async fn flood(stream: &mut UnixStream, next: impl FnMut() -> Vec<u8>) -> Flood {
    let (sent, waited) = match pump(stream, next).await {
        Pumped::Closed(sent) => return Flood::Closed(sent),
        Pumped::Late(sent) => return Flood::Sent(sent),
        Pumped::Sent(sent) => (sent, Flood::Sent(sent)),
        Pumped::Stuck(sent) => (sent, Flood::Stalled(sent)),
    };
    match tokio::time::timeout(CUT_OFF, until_eof(stream)).await {
        Ok(()) => Flood::Closed(sent),
        Err(_) => waited,
    }
}

/// Reads (and drops) until the runtime closes the connection.
async fn until_eof(stream: &mut UnixStream) {
    let mut buf = [0_u8; 4096];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
}

fn assert_closed(target: &dyn Target, what: &str, flood: &Flood) {
    assert!(
        matches!(flood, Flood::Closed(_)),
        "{} / {what}: the runtime did not cut the peer off: {flood:?}",
        target.name()
    );
}

/// The HTTP/2 client preface and an empty SETTINGS frame.
fn http2_preface() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(http2_frame(4, 0, 0, &[]));
    out
}

/// One HTTP/2 frame.
fn http2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(0).to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// A header field as a literal without indexing and without Huffman
/// coding (RFC 7541 §6.2.2), for names and values under 127 bytes.
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0];
    for text in [name, value] {
        out.push(u8::try_from(text.len()).unwrap_or(0));
        out.extend(text.as_bytes());
    }
    out
}

/// `count` gRPC requests for an unknown method, on streams from `first`.
fn grpc_requests(first: u32, count: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for stream in (0..count).map(|i| first + 2 * i) {
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/nri.pkg.api.v1alpha1.Runtime/Frobnicate"),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ] {
            block.extend(literal(name, value));
        }
        out.extend(http2_frame(1, 4, stream, &block));
        out.extend(http2_frame(0, 1, stream, &[0, 0, 0, 0, 0]));
    }
    out
}

/// A connection that has not registered.
async fn connected(socket: &Path) -> UnixStream {
    UnixStream::connect(socket)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {socket:?}: {error}"))
}

/// Floods of what may precede registration, never reading: on ttrpc,
/// requests with even stream ids, 10,000 in each multiplexer frame (each
/// would be answered with an error 7 times its size); on gRPC, SETTINGS and
/// PING frames (each asks for an acknowledgement).
pub async fn flood_before_registering(target: &impl Target) {
    attacked(target, "flood before registering", |scene| async move {
        let outcome = flood_before_registering_on(&scene.socket, scene.wire).await;
        assert_closed(target, "flood before registering", &outcome);
    })
    .await;
}

/// [`flood_before_registering`]'s attack on any socket speaking `wire`.
pub async fn flood_before_registering_on(socket: &Path, wire: Wire) -> Flood {
    let mut stream = connected(socket).await;
    match wire {
        Wire::Ttrpc => {
            let mut payload = Vec::with_capacity(10_000 * message::HEADER_LEN);
            for i in 0..10_000_u32 {
                let header = message::MessageHeader {
                    length: 0,
                    stream_id: 2 * i + 2,
                    kind: message::TYPE_REQUEST,
                    flags: 0,
                };
                payload.extend(header.encode());
            }
            let mut chunk = frame::encode_header(ConnId::RUNTIME_SERVICE, payload.len()).to_vec();
            chunk.extend(payload);
            flood(&mut stream, || chunk.clone()).await
        }
        Wire::Grpc => {
            let mut first = Some(http2_preface());
            let mut chunk = Vec::new();
            for _ in 0..1000 {
                chunk.extend(http2_frame(4, 0, 0, &[0, 4, 0, 0, 0xff, 0xff]));
                chunk.extend(http2_frame(6, 0, 0, b"12345678"));
            }
            flood(&mut stream, || {
                first.take().unwrap_or_else(|| chunk.clone())
            })
            .await
        }
    }
}

/// A peer that asks and asks and never reads the answers: on ttrpc a
/// registered plugin calling an unknown method, on gRPC a connection
/// calling one.
pub async fn flood_without_reading(target: &impl Target) {
    flood_of_calls(target, "flood without reading", None).await;
}

/// The same, from a peer that reads one byte every 20 ms.
pub async fn slow_reader(target: &impl Target) {
    flood_of_calls(target, "slow reader", Some(Duration::from_millis(20))).await;
}

async fn flood_of_calls(target: &impl Target, what: &str, trickle: Option<Duration>) {
    attacked(target, what, |scene| async move {
        let outcome = flood_of_calls_on(&scene.socket, scene.wire, trickle).await;
        assert_closed(target, what, &outcome);
    })
    .await;
}

/// [`flood_without_reading`]'s attack (with `trickle`, [`slow_reader`]'s)
/// on any socket speaking `wire`: on ttrpc it registers first.
pub async fn flood_of_calls_on(socket: &Path, wire: Wire, trickle: Option<Duration>) -> Flood {
    let (stream, chunk): (UnixStream, Box<dyn FnMut() -> Vec<u8> + Send>) = match wire {
        Wire::Ttrpc => {
            let mut peer = RawPeer::connect(socket)
                .await
                .unwrap_or_else(|error| panic!("cannot connect: {error}"));
            peer.register("50", "flooder", EventMask::of([Event::CreateContainer]))
                .await;
            let mut chunk = Vec::new();
            for i in 0..1000_u32 {
                let message = envelope::encode_request(
                    2 * i + 3,
                    nri_core::proto::defaults::RUNTIME_SERVICE,
                    "Frobnicate",
                    &[][..],
                    0,
                )
                .unwrap_or_else(|error| panic!("cannot encode: {error}"));
                chunk.extend(frame::encode_header(ConnId::RUNTIME_SERVICE, message.len()));
                chunk.extend(message);
            }
            (peer.stream, Box::new(move || chunk.clone()))
        }
        Wire::Grpc => {
            let stream = connected(socket).await;
            let mut first = Some(http2_preface());
            let mut next = 1;
            (
                stream,
                Box::new(move || {
                    first.take().unwrap_or_else(|| {
                        let chunk = grpc_requests(next, 100);
                        next += 200;
                        chunk
                    })
                }),
            )
        }
    };
    let (mut reader, mut writer) = stream.into_split();
    let reading = async {
        let Some(every) = trickle else {
            return std::future::pending().await;
        };
        let mut byte = [0_u8; 1];
        while matches!(reader.read(&mut byte).await, Ok(1)) {
            tokio::time::sleep(every).await;
        }
    };
    tokio::select! {
        outcome = flood_half(&mut writer, chunk) => outcome,
        () = reading => Flood::Closed(0),
    }
}

/// [`flood`] on the write half of a split stream (its read half is
/// elsewhere): a stuck flood counts as closed if one more write fails
/// within [`CUT_OFF`] (the runtime may be waiting for a timeout).
async fn flood_half(writer: &mut OwnedWriteHalf, next: impl FnMut() -> Vec<u8>) -> Flood {
    match pump(writer, next).await {
        Pumped::Closed(sent) => Flood::Closed(sent),
        Pumped::Sent(sent) | Pumped::Late(sent) => Flood::Sent(sent),
        Pumped::Stuck(sent) => match tokio::time::timeout(CUT_OFF, writer.write_all(&[0])).await {
            Ok(Err(_)) => Flood::Closed(sent),
            _ => Flood::Stalled(sent),
        },
    }
}

/// A crowd of connections that never register: the runtime closes the
/// oldest once more than [`MAX_UNREGISTERED`] wait, before any
/// registration timeout, so a real plugin still gets in (the suite's last
/// check, with the newest of the crowd still connected).
pub async fn crowd_of_idle_connections(target: &impl Target) {
    attacked(target, "crowd of idle connections", |scene| async move {
        let Scene { socket, wire, .. } = scene;
        let crowd_size = 8 * MAX_UNREGISTERED;
        let started = Instant::now();
        let mut crowd = Vec::with_capacity(crowd_size);
        for _ in 0..crowd_size {
            let mut stream = connected(&socket).await;
            if wire == Wire::Grpc {
                let _ = stream.write_all(&http2_preface()).await;
            }
            crowd.push(stream);
        }
        let evicted = crowd_size - MAX_UNREGISTERED;
        for stream in &mut crowd[..evicted] {
            within("an evicted connection's end", until_eof(stream)).await;
        }
        assert!(
            started.elapsed() < REGISTRATION_TIMEOUT,
            "{}: the crowd was closed by the registration timeout, not to make room",
            target.name()
        );
        // The newest wait on while the real plugin registers.
        crowd.split_off(evicted)
    })
    .await;
}

/// Random bytes, then a frame cut short, each on a connection of its own:
/// the runtime closes both.
pub async fn random_and_truncated_bytes(target: &impl Target) {
    attacked(target, "random and truncated bytes", |scene| async move {
        let random = random_and_truncated_bytes_on(&scene.socket, scene.wire).await;
        assert_closed(target, "random bytes", &random);
    })
    .await;
}

/// [`random_and_truncated_bytes`]'s attack on any socket speaking `wire`:
/// returns how the random flood ended, after the truncated peer's
/// connection was closed.
pub async fn random_and_truncated_bytes_on(socket: &Path, wire: Wire) -> Flood {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut stream = connected(socket).await;
    let random = flood(&mut stream, || {
        (0..64 << 10)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect()
    })
    .await;

    let mut stream = connected(socket).await;
    let truncated = match wire {
        Wire::Ttrpc => {
            let mut bytes = frame::encode_header(ConnId::RUNTIME_SERVICE, 100).to_vec();
            bytes.extend([0_u8; 10]);
            bytes
        }
        Wire::Grpc => {
            let mut bytes = http2_preface();
            bytes.extend(&grpc_requests(1, 1)[..20]);
            bytes
        }
    };
    let _ = stream.write_all(&truncated).await;
    within("the truncated peer's end", until_eof(&mut stream)).await;
    random
}

/// 1,000 real plugin processes (`nri-echo`, run through `harness`, the
/// `nri-harness` binary), one after the other, connect, register and are
/// killed with SIGKILL: the runtime's file descriptors and memory stay flat.
pub async fn plugin_churn(target: &impl Target, harness: &Path) {
    const CYCLES: usize = 1000;
    let descriptors = || std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
    let bin =
        tempfile::tempdir().unwrap_or_else(|error| panic!("cannot make a directory: {error}"));
    let echo = bin.path().join("nri-echo");
    std::os::unix::fs::symlink(harness, &echo)
        .unwrap_or_else(|error| panic!("cannot link {harness:?}: {error}"));
    attacked(target, "plugin churn", |scene| async move {
        let before = descriptors();
        for _ in 0..CYCLES {
            let mut command = tokio::process::Command::new(&echo);
            command
                .args(["--idx", "40"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            match scene.wire {
                Wire::Ttrpc => command.arg("--socket-path").arg(&scene.socket),
                Wire::Grpc => command
                    .arg("--grpc")
                    .arg(format!("unix://{}", scene.socket.display())),
            };
            let mut child = command
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {echo:?}: {error}"));
            within(
                "a churn plugin's registration",
                scene.adaptation.wait_for_plugins(1),
            )
            .await;
            let _ = child.start_kill();
            let _ = within("a churn plugin's death", child.wait()).await;
            within("a churn plugin's removal", until_no_plugins(&scene)).await;
        }
        let after = descriptors();
        assert!(
            after <= before + 4,
            "{}: {CYCLES} plugins that came and went left file descriptors open: \
             {before} before, {after} after",
            target.name()
        );
    })
    .await;
}

/// Waits until the adaptation lists no plugin.
async fn until_no_plugins(scene: &Scene) {
    while !scene.adaptation.plugins().is_empty() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
