//! Our HTTP/2 against an independent implementation (h2, tonic's) and
//! against hostile bytes, over real unix sockets: flow control with a peer
//! that grants little window, cancellation, and connection errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use nri_core::transport::CallError;
use nri_transport_ttrpc::socket::Socket;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use tokio::sync::watch;
use tonic::Status;
use tonic::metadata::MetadataMap;

use super::frame::{self, Frame, Reason};
use crate::client::Client;
use crate::codec::Encode;
use crate::server::{self, Handle};

/// Raw message bytes, encoded as they are.
struct Raw(Bytes);

impl Encode for Raw {
    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn encode_bytes(&self, out: &mut BytesMut) {
        out.put_slice(&self.0);
    }
}

/// A message of `len` bytes that tells where each byte was.
fn message(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// A gRPC frame of `payload`.
fn grpc_frame(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(0);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    out.freeze()
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within 20 s"))
}

/// An h2 server granting 1,000 bytes of window per stream and frames of
/// 16 KiB: it reads each request whole, then answers `reply_len` bytes.
async fn stingy_h2_server(socket: UnixStream, reply_len: usize, answer: bool) {
    let mut connection = h2::server::Builder::new()
        .initial_window_size(1000)
        .max_frame_size(16_384)
        .handshake::<_, Bytes>(socket)
        .await
        .unwrap();
    while let Some(accepted) = connection.accept().await {
        let (request, mut respond) = accepted.unwrap();
        tokio::spawn(async move {
            let mut body = request.into_body();
            let mut received = 0usize;
            while let Some(chunk) = body.data().await {
                let chunk = chunk.unwrap();
                received += chunk.len();
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            if !answer {
                // Wait for the client to give up.
                let reset = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
                assert_eq!(reset.unwrap(), h2::Reason::CANCEL);
                return;
            }
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            let mut stream = respond.send_response(response, false).unwrap();
            // The reply names how much arrived in its first bytes.
            let mut reply = message(reply_len).to_vec();
            reply[..8].copy_from_slice(&(received as u64).to_be_bytes());
            stream.send_data(grpc_frame(&reply), false).unwrap();
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            stream.send_trailers(trailers).unwrap();
        });
    }
}

#[tokio::test]
async fn a_call_larger_than_the_peers_window_goes_out_as_it_grants_more() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    tokio::spawn(stingy_h2_server(theirs, 300_000, true));
    let client = Client::start(Socket::from_tokio(ours).unwrap()).unwrap();
    let request = message(1_000_000);
    for _ in 0..3 {
        let reply = within(
            "the call",
            client.call("s", "m", Raw(request.clone()), None, &[]),
        )
        .await
        .unwrap();
        assert_eq!(reply.len(), 300_000);
        let received = u64::from_be_bytes(reply[..8].try_into().unwrap());
        assert_eq!(received as usize, request.len() + 5);
        assert_eq!(reply[8..], message(300_000)[8..]);
    }
}

#[tokio::test]
async fn a_timed_out_call_resets_its_stream_and_the_connection_serves_on() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    tokio::spawn(stingy_h2_server(theirs, 10, false));
    let client = Client::start(Socket::from_tokio(ours).unwrap()).unwrap();
    let after = Duration::from_millis(100);
    let outcome = client
        .call("s", "m", Raw(message(10)), Some(after), &[])
        .await;
    assert_eq!(outcome, Err(CallError::Timeout { after }));
    assert_eq!(client.closed_reason(), None);
}

#[tokio::test]
async fn dropping_the_last_client_closes_the_connection() {
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let client = Client::start(Socket::from_tokio(ours).unwrap()).unwrap();
    let clone = client.clone();
    drop(client);
    drop(clone);
    let mut bytes = Vec::new();
    within("the end of the connection", theirs.read_to_end(&mut bytes))
        .await
        .unwrap();
    assert!(bytes.starts_with(frame::PREFACE));
}

/// Answers every call with the request's payload, repeated `times`.
struct Echo {
    times: usize,
}

impl Handle for Echo {
    type Reply = Raw;

    fn service(&self) -> &'static str {
        "s"
    }

    fn call(
        &self,
        _method: &str,
        _metadata: MetadataMap,
        payload: Bytes,
    ) -> BoxFuture<'static, Result<Raw, Status>> {
        let reply = payload.repeat(self.times);
        async move { Ok(Raw(reply.into())) }.boxed()
    }
}

#[tokio::test]
async fn a_reply_larger_than_the_clients_window_goes_out_as_it_grants_more() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let (_keep, close) = watch::channel(false);
    tokio::spawn(server::serve(
        Socket::from_tokio(ours).unwrap(),
        Arc::new(Echo { times: 3 }),
        close,
    ));
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(1000)
        .handshake::<_, Bytes>(theirs)
        .await
        .unwrap();
    tokio::spawn(connection);
    let payload = message(700_000);
    for _ in 0..2 {
        let request = http::Request::builder()
            .method("POST")
            .uri("http://localhost/s/m")
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let mut ready = send.clone().ready().await.unwrap();
        let (response, mut stream) = ready.send_request(request, false).unwrap();
        stream.send_data(grpc_frame(&payload), true).unwrap();
        let response = within("the reply", response).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut reply = BytesMut::new();
        while let Some(chunk) = within("the body", body.data()).await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            reply.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.unwrap().unwrap();
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(reply.len(), 5 + 3 * payload.len());
        assert_eq!(reply[5..], payload.repeat(3)[..]);
    }
}

/// Starts our server on one end of a socket pair and returns the other,
/// after the preface and empty settings.
async fn raw_peer() -> (UnixStream, tokio::task::JoinHandle<String>) {
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let (keep, close) = watch::channel(false);
    let served = tokio::spawn(async move {
        let _keep = keep;
        server::serve(
            Socket::from_tokio(ours).unwrap(),
            Arc::new(Echo { times: 1 }),
            close,
        )
        .await
    });
    let mut hello = frame::PREFACE.to_vec();
    frame::settings(&mut hello, &[]);
    theirs.write_all(&hello).await.unwrap();
    (theirs, served)
}

/// Reads frames until the end of the stream, and returns the GOAWAY's
/// reason.
async fn go_away_reason(peer: &mut UnixStream) -> Option<Reason> {
    let mut bytes = Vec::new();
    within("the end of the connection", peer.read_to_end(&mut bytes))
        .await
        .unwrap();
    let mut buf = BytesMut::from(&bytes[..]);
    let mut reason = None;
    while let Ok(Some(frame)) = frame::decode(&mut buf, 1 << 24) {
        if let Frame::GoAway { reason: r, .. } = frame {
            reason = Some(r);
        }
    }
    reason
}

#[tokio::test]
async fn hostile_bytes_end_the_connection_with_the_right_error() {
    let mut cases: Vec<(&str, Vec<u8>, Reason)> = Vec::new();
    // A length field of 0xFFFFFF: refused before anything is buffered.
    cases.push((
        "huge frame",
        frame::head(0xff_ffff, frame::kind::DATA, 0, 1).to_vec(),
        Reason::FRAME_SIZE_ERROR,
    ));
    // A header block that is not HPACK.
    let mut bad_block = Vec::new();
    frame::headers(
        &mut bad_block,
        1,
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        true,
        1 << 14,
    );
    cases.push(("undecodable headers", bad_block, Reason::COMPRESSION_ERROR));
    // An even stream from a client.
    let mut even = Vec::new();
    frame::headers(&mut even, 2, &[0x83], true, 1 << 14);
    cases.push(("even stream", even, Reason::PROTOCOL_ERROR));
    // DATA on a stream never opened.
    let mut idle = frame::data_head(1, true, 5).to_vec();
    idle.push(0);
    cases.push(("DATA on an idle stream", idle, Reason::PROTOCOL_ERROR));
    // A header block interrupted by another frame.
    let mut interrupted = frame::head(1, frame::kind::HEADERS, 0, 1).to_vec();
    interrupted.push(0x83);
    frame::settings(&mut interrupted, &[]);
    cases.push(("interrupted block", interrupted, Reason::PROTOCOL_ERROR));
    // A window update that overflows the connection window.
    let mut overflow = Vec::new();
    frame::window_update(&mut overflow, 0, 0x7fff_ffff);
    cases.push(("window overflow", overflow, Reason::FLOW_CONTROL_ERROR));
    for (what, bytes, reason) in cases {
        let (mut peer, served) = raw_peer().await;
        peer.write_all(&bytes).await.unwrap();
        assert_eq!(go_away_reason(&mut peer).await, Some(reason), "{what}");
        let ended = within("the server", served).await.unwrap();
        assert!(ended.contains(reason.name()), "{what}: {ended}");
    }

    // Not HTTP/2 at all.
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let (_keep, close) = watch::channel(false);
    let served = tokio::spawn(server::serve(
        Socket::from_tokio(ours).unwrap(),
        Arc::new(Echo { times: 1 }),
        close,
    ));
    theirs
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        go_away_reason(&mut theirs).await,
        Some(Reason::PROTOCOL_ERROR)
    );
    assert!(
        within("the server", served)
            .await
            .unwrap()
            .contains("preface")
    );
}
