#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Our ttrpc engine against a peer written by hand from the protocol
//! description (containerd/ttrpc `PROTOCOL.md`): stream ids,
//! deadlines, the size limit, request checks, and connection loss.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use nri_core::proto::api::{ConfigureRequest, ConfigureResponse, RegisterPluginRequest};
use nri_core::proto::defaults::PLUGIN_SERVICE;
use nri_core::transport::{
    Accepted, CallError, PluginHandler, PluginRequest, PluginRequestRef, PluginResponse,
    RuntimeRequest, Transport,
};
use nri_transport_ttrpc::frame::{self, ConnId, FrameDecoder};
use nri_transport_ttrpc::message::envelope::{self, Request, Response};
use nri_transport_ttrpc::message::{self, Decoded, MessageDecoder, code};
use nri_transport_ttrpc::{RuntimeConnection, TtrpcTransport};
use prost::Message as _;
use prost::bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::timeout;

const WATCHDOG: Duration = Duration::from_secs(10);

/// A peer speaking frames and ttrpc messages by hand.
/// An empty Configure request, for calls whose content does not matter.
static NO_CONFIG: LazyLock<ConfigureRequest> = LazyLock::new(ConfigureRequest::default);

struct Peer {
    stream: UnixStream,
    buf: BytesMut,
    frames: FrameDecoder,
    decoders: [MessageDecoder; 3],
}

impl Peer {
    fn new(stream: UnixStream) -> Self {
        Peer {
            stream,
            buf: BytesMut::new(),
            frames: FrameDecoder::new(),
            decoders: Default::default(),
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

    async fn next(&mut self) -> Option<(ConnId, message::Message)> {
        loop {
            for (i, decoder) in self.decoders.iter_mut().enumerate() {
                if let Some(Decoded::Message(message)) = decoder.next_message() {
                    return Some((ConnId(i as u32), message));
                }
            }
            if let Some(frame) = self.frames.decode(&mut self.buf).unwrap() {
                self.decoders[frame.conn.0 as usize].push(frame.payload);
                continue;
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn status(&mut self) -> (u32, Option<envelope::Status>) {
        let (_, message) = timeout(WATCHDOG, self.next()).await.unwrap().unwrap();
        assert_eq!(message.header.kind, message::TYPE_RESPONSE);
        let response = Response::decode(message.data).unwrap();
        (message.header.stream_id, response.status)
    }
}

/// Our runtime end, and the raw peer as the plugin.
async fn runtime_end() -> (Accepted, Peer, TtrpcTransport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nri.sock");
    let transport = TtrpcTransport::listen(&path).unwrap();
    let stream = UnixStream::connect(&path).await.unwrap();
    let accepted = timeout(WATCHDOG, transport.accept())
        .await
        .unwrap()
        .unwrap();
    (accepted, Peer::new(stream), transport, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_leave_with_strictly_increasing_stream_ids_and_their_timeout() {
    let (accepted, mut peer, _transport, _dir) = runtime_end().await;
    let connection = Arc::clone(&accepted.connection);
    const CALLS: usize = 400;
    let mut tasks = Vec::new();
    for i in 0..CALLS {
        let connection = Arc::clone(&connection);
        tasks.push(tokio::spawn(async move {
            let request = ConfigureRequest {
                config: "x".repeat(i % 7),
                ..Default::default()
            };
            let timeout = Duration::from_millis(3_000 + i as u64);
            nri_core::transport::call(connection.as_ref(), &request, timeout).await
        }));
    }
    let mut last = 0u32;
    for _ in 0..CALLS {
        let (conn, message) = timeout(WATCHDOG, peer.next()).await.unwrap().unwrap();
        assert_eq!(conn, ConnId::PLUGIN_SERVICE);
        let id = message.header.stream_id;
        assert!(id % 2 == 1 && id > last, "stream {id} after {last}");
        last = id;
        let request = Request::decode(message.data).unwrap();
        assert_eq!(request.names().unwrap(), (PLUGIN_SERVICE, "Configure"));
        assert!(
            (3_000_000_000..3_000_000_000 + CALLS as i64 * 1_000_000)
                .contains(&request.timeout_nano),
            "{}",
            request.timeout_nano
        );
        let configure = ConfigureRequest::decode(request.payload).unwrap();
        let reply = ConfigureResponse {
            events: configure.config.len() as i32,
        }
        .encode_to_vec();
        peer.send(
            ConnId::PLUGIN_SERVICE,
            &envelope::encode_reply(id, &reply[..]).unwrap(),
        )
        .await;
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap().events, (i % 7) as i32);
    }
}

#[tokio::test]
async fn a_late_reply_is_dropped_and_the_connection_goes_on() {
    let (accepted, mut peer, _transport, _dir) = runtime_end().await;
    let short = Duration::from_millis(50);
    let call = accepted
        .connection
        .call(PluginRequestRef::Configure(&NO_CONFIG), short);
    let (result, first) = tokio::join!(call, async { peer.next().await.unwrap().1 });
    assert_eq!(result.unwrap_err(), CallError::Timeout { after: short });
    // The answer comes after the caller gave up.
    let reply = ConfigureResponse { events: 1 }.encode_to_vec();
    peer.send(
        ConnId::PLUGIN_SERVICE,
        &envelope::encode_reply(first.header.stream_id, &reply[..]).unwrap(),
    )
    .await;
    let call = accepted
        .connection
        .call(PluginRequestRef::Configure(&NO_CONFIG), WATCHDOG);
    let answer = async {
        let (_, second) = peer.next().await.unwrap();
        assert_eq!(second.header.stream_id, first.header.stream_id + 2);
        let reply = ConfigureResponse { events: 2 }.encode_to_vec();
        peer.send(
            ConnId::PLUGIN_SERVICE,
            &envelope::encode_reply(second.header.stream_id, &reply[..]).unwrap(),
        )
        .await;
    };
    let (result, ()) = tokio::join!(call, answer);
    assert_eq!(
        result.unwrap(),
        PluginResponse::Configure(Box::new(ConfigureResponse { events: 2 }))
    );
}

#[tokio::test]
async fn a_request_over_4_mib_is_refused_before_sending_and_the_connection_goes_on() {
    let (accepted, mut peer, _transport, _dir) = runtime_end().await;
    let huge = ConfigureRequest {
        config: "x".repeat(message::MAX_DATA),
        ..Default::default()
    };
    let error = accepted
        .connection
        .call(PluginRequestRef::Configure(&huge), WATCHDOG)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CallError::Failed { code: 8, message } if message.contains("exceeds the ttrpc limit")),
        "{error:?}"
    );
    let call = accepted
        .connection
        .call(PluginRequestRef::Configure(&NO_CONFIG), WATCHDOG);
    let answer = async {
        let (_, message) = peer.next().await.unwrap();
        assert_eq!(message.header.stream_id, 1, "nothing was sent before");
        peer.send(
            ConnId::PLUGIN_SERVICE,
            &envelope::encode_reply(1, &[][..]).unwrap(),
        )
        .await;
    };
    let (result, ()) = tokio::join!(call, answer);
    assert!(result.is_ok());
}

#[tokio::test]
async fn pending_and_later_calls_fail_as_closed_when_the_peer_goes_away() {
    let (accepted, peer, _transport, _dir) = runtime_end().await;
    let mut calls = accepted.calls;
    let call = accepted
        .connection
        .call(PluginRequestRef::Configure(&NO_CONFIG), WATCHDOG);
    let started = Instant::now();
    let (result, ()) = tokio::join!(call, async move {
        let mut peer = peer;
        let _ = peer.next().await;
        drop(peer);
    });
    assert!(
        matches!(result, Err(CallError::Closed { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    let later = accepted
        .connection
        .call(PluginRequestRef::Configure(&NO_CONFIG), WATCHDOG)
        .await;
    assert!(matches!(later, Err(CallError::Closed { .. })), "{later:?}");
    assert!(timeout(WATCHDOG, calls.recv()).await.unwrap().is_none());
}

/// A plugin whose Configure never finishes.
struct Stuck;

#[async_trait::async_trait]
impl PluginHandler for Stuck {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        if let PluginRequest::Configure(_) = request {
            std::future::pending::<()>().await;
        }
        Ok(PluginResponse::Shutdown(Box::default()))
    }
}

/// Panics on every call, counting them.
struct Panicking(std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl PluginHandler for Panicking {
    async fn handle(&self, _: PluginRequest) -> Result<PluginResponse, CallError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        panic!("the handler breaks");
    }
}

#[tokio::test]
async fn requests_read_with_one_that_closes_the_connection_are_not_handled() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let handler = Arc::new(Panicking(Default::default()));
    let _plugin = RuntimeConnection::from_stream(ours, handler.clone()).unwrap();
    let mut runtime = Peer::new(theirs);
    // Three requests in one write, so that they are read together.
    let mut bytes = Vec::new();
    for id in [1, 3, 5] {
        let message = request(id, PLUGIN_SERVICE, "Shutdown", 0);
        bytes.extend_from_slice(&frame::encode_header(ConnId::PLUGIN_SERVICE, message.len()));
        bytes.extend_from_slice(&message);
    }
    runtime.stream.write_all(&bytes).await.unwrap();
    // The first handler's panic closes the connection: nothing comes back.
    assert!(timeout(WATCHDOG, runtime.next()).await.unwrap().is_none());
    assert_eq!(handler.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}

fn request(id: u32, service: &str, method: &str, timeout_nano: i64) -> Vec<u8> {
    envelope::encode_request(id, service, method, &[][..], timeout_nano).unwrap()
}

#[tokio::test]
async fn the_plugin_side_checks_requests_like_a_go_server() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let _plugin = RuntimeConnection::from_stream(ours, Arc::new(Stuck)).unwrap();
    let mut runtime = Peer::new(theirs);
    let conn = ConnId::PLUGIN_SERVICE;

    runtime
        .send(
            conn,
            &request(1, "nri.pkg.api.v1alpha1.Nope", "Configure", 0),
        )
        .await;
    let (id, status) = runtime.status().await;
    let status = status.unwrap();
    assert_eq!(
        (id, status.code, status.message.as_str()),
        (1, code::UNIMPLEMENTED, "service nri.pkg.api.v1alpha1.Nope")
    );

    runtime
        .send(conn, &request(3, PLUGIN_SERVICE, "Frobnicate", 0))
        .await;
    let status = runtime.status().await.1.unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (code::UNIMPLEMENTED, "method Frobnicate")
    );

    runtime
        .send(conn, &request(4, PLUGIN_SERVICE, "Shutdown", 0))
        .await;
    let (id, status) = runtime.status().await;
    assert_eq!((id, status.unwrap().code), (4, code::INVALID_ARGUMENT));

    runtime
        .send(conn, &request(3, PLUGIN_SERVICE, "Shutdown", 0))
        .await;
    let (id, status) = runtime.status().await;
    assert_eq!((id, status.unwrap().code), (3, code::INVALID_ARGUMENT));

    // An oversized request is skipped and answered with code 8; the next
    // one is served.
    let header = message::MessageHeader {
        length: (message::MAX_DATA + 1) as u32,
        stream_id: 5,
        kind: message::TYPE_REQUEST,
        flags: 0,
    };
    let mut oversized = header.encode().to_vec();
    oversized.resize(message::HEADER_LEN + message::MAX_DATA + 1, 0);
    for chunk in oversized.chunks(frame::MAX_PAYLOAD) {
        runtime
            .stream
            .write_all(&frame::encode_header(conn, chunk.len()))
            .await
            .unwrap();
        runtime.stream.write_all(chunk).await.unwrap();
    }
    let (id, status) = runtime.status().await;
    assert_eq!((id, status.unwrap().code), (5, code::RESOURCE_EXHAUSTED));
    runtime
        .send(conn, &request(7, PLUGIN_SERVICE, "Shutdown", 0))
        .await;
    assert_eq!(runtime.status().await, (7, None));

    // timeout_nano bounds the handler.
    let started = Instant::now();
    runtime
        .send(conn, &request(9, PLUGIN_SERVICE, "Configure", 100_000_000))
        .await;
    let (id, status) = runtime.status().await;
    assert_eq!((id, status.unwrap().code), (9, code::DEADLINE_EXCEEDED));
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn the_plugin_side_registers_without_a_deadline_when_asked() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let plugin = RuntimeConnection::from_stream(ours, Arc::new(Stuck)).unwrap();
    let mut runtime = Peer::new(theirs);
    let register = plugin.call(
        RuntimeRequest::RegisterPlugin(RegisterPluginRequest::default()),
        None,
    );
    let answer = async {
        let (conn, message) = runtime.next().await.unwrap();
        assert_eq!(conn, ConnId::RUNTIME_SERVICE);
        let request = Request::decode(message.data).unwrap();
        assert_eq!(request.timeout_nano, 0, "no deadline, as upstream");
        runtime
            .send(
                ConnId::RUNTIME_SERVICE,
                &envelope::encode_status(message.header.stream_id, 9, "not now"),
            )
            .await;
    };
    let (result, ()) = tokio::join!(register, answer);
    assert_eq!(
        result.unwrap_err(),
        CallError::Failed {
            code: 9,
            message: "not now".into()
        }
    );
}
