#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What the server makes of badly framed requests, sent by a bare HTTP/2
//! client (h2) to a runtime's socket: a compressed message, a length that
//! does not match the body, a body past the size limit, and no body. Each
//! is answered with a gRPC status (tonic's), and the connection keeps
//! serving.

mod common;

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use common::{Dir, start, within};
use nri_core::transport::Transport;
use nri_transport_grpc::GrpcTransport;
use nri_transport_grpc::protocol::MAX_MESSAGE_SIZE;

const REGISTER: &str = "/nri.pkg.api.v1alpha1.Runtime/RegisterPlugin";

/// Sends `body` to `path` and returns the `grpc-status` of the reply (from
/// its headers when trailers-only, else its trailers).
async fn status_of(send: &mut h2::client::SendRequest<Bytes>, path: &str, body: Bytes) -> String {
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.unwrap();
    let (response, mut stream) = ready.send_request(request, false).unwrap();
    // Large bodies go out as flow control allows, while the reply is read;
    // the server may answer (and reset the stream) before it has all of it.
    let _ = stream.send_data(body, true);
    let response = within("the reply", response).await.unwrap();
    let status = |headers: &http::HeaderMap| {
        headers
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string())
    };
    if let Some(code) = status(response.headers()) {
        return code;
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    status(&trailers).expect("grpc-status")
}

fn framed(flag: u8, len: u32, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(flag);
    out.put_u32(len);
    out.put_slice(payload);
    out.freeze()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badly_framed_requests_get_statuses_and_the_connection_lives_on() {
    let dir = Dir::new();
    let transport = Arc::new(GrpcTransport::listen(dir.path("nri-grpc.sock")).unwrap());
    let (adaptation, _runtime) = start(vec![transport.clone() as Arc<dyn Transport>]).await;
    let socket = tokio::net::UnixStream::connect(transport.endpoint().path().unwrap())
        .await
        .unwrap();
    let (mut send, connection) = h2::client::handshake(socket).await.unwrap();
    tokio::spawn(connection);

    // Compressed without naming an encoding: INTERNAL (tonic's answer to
    // the protocol error).
    assert_eq!(
        status_of(&mut send, REGISTER, framed(1, 0, b"")).await,
        "13"
    );
    // A length that is not the body's: INTERNAL.
    assert_eq!(
        status_of(&mut send, REGISTER, framed(0, 9, b"ab")).await,
        "13"
    );
    // No message at all: INTERNAL.
    assert_eq!(status_of(&mut send, REGISTER, Bytes::new()).await, "13");
    // Past the limit: OUT_OF_RANGE (tonic's code for it), before the whole
    // body is read.
    let huge = vec![0u8; MAX_MESSAGE_SIZE + 1];
    let len = u32::try_from(huge.len()).unwrap();
    assert_eq!(
        status_of(&mut send, REGISTER, framed(0, len, &huge)).await,
        "11"
    );
    // An unknown method: UNIMPLEMENTED.
    assert_eq!(
        status_of(
            &mut send,
            "/nri.pkg.api.v1alpha1.Runtime/Nope",
            framed(0, 0, b"")
        )
        .await,
        "12"
    );
    // And a well-framed one on the same connection still reaches the
    // service (which wants the plugin's endpoint metadata).
    assert_eq!(status_of(&mut send, REGISTER, framed(0, 0, b"")).await, "3");
    adaptation.stop().await;
}
