//! A gRPC server on one connection: HTTP/2 by h2, unary calls framed here
//! ([`crate::codec`]), and a [`Handle`] that answers each call.
//!
//! Calls run inside the connection's own task, next to the connection,
//! rather than in a task each: an answer leaves in the same turn it is
//! ready, HEADERS, DATA and trailers in one write. A call the client
//! cancels (`RST_STREAM`) is dropped; calls still running when the
//! connection ends are dropped with it, so nothing outlives it.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use h2::server::SendResponse;
use http::HeaderValue;
use tokio::sync::watch;
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::codec::{self, Encode};
use crate::endpoint::Stream;
use crate::protocol::{MAX_MESSAGE_SIZE, WINDOW};
use crate::status::deadline_of;

/// One gRPC service: answers its calls.
pub(crate) trait Handle: Send + Sync + 'static {
    /// What it answers with.
    type Reply: Encode + Send + 'static;

    /// The service's full name (`nri.pkg.api.v1alpha1.Plugin`).
    fn service(&self) -> &'static str;

    /// Answers one call of `method`.
    fn call(
        &self,
        method: &str,
        metadata: MetadataMap,
        payload: Bytes,
    ) -> BoxFuture<'static, Result<Self::Reply, Status>>;
}

/// Serves `handler` on `stream` until the peer closes the connection, it
/// fails, or `close` turns true (then the connection is dropped at once;
/// once `close` can no longer change, only the peer or a failure ends it).
/// Returns why it ended.
pub(crate) async fn serve<H: Handle>(
    stream: Stream,
    handler: Arc<H>,
    mut close: watch::Receiver<bool>,
) -> String {
    let handshake = h2::server::Builder::new()
        .initial_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .max_send_buffer_size(MAX_MESSAGE_SIZE + 1024)
        .handshake::<_, Bytes>(stream);
    let mut connection = tokio::select! {
        handshake = handshake => match handshake {
            Ok(connection) => connection,
            Err(error) => return ended_by(error),
        },
        () = closed(&mut close) => return "closed".to_string(),
    };
    let mut calls = FuturesUnordered::new();
    loop {
        tokio::select! {
            accepted = connection.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    calls.push(answer(Arc::clone(&handler), request, respond));
                }
                Some(Err(error)) => return ended_by(error),
                None => return "the peer closed the connection".to_string(),
            },
            Some(()) = calls.next(), if !calls.is_empty() => {}
            () = closed(&mut close) => return "closed".to_string(),
        }
    }
}

/// Why a connection that failed with `error` ended.
fn ended_by(error: h2::Error) -> String {
    let gone = error.get_io().is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
        )
    });
    if gone {
        "the peer closed the connection".to_string()
    } else {
        format!("the connection failed: {error}")
    }
}

/// Answers one call, unless the client cancels it first.
async fn answer<H: Handle>(
    handler: Arc<H>,
    request: http::Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let reply = tokio::select! {
        reply = call(handler.as_ref(), request) => reply,
        _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return,
    };
    send(&mut respond, reply.and_then(|reply| codec::frame(&reply)));
}

/// Routes and runs one call: anything but `/SERVICE/METHOD` of the
/// handler's service is `UNIMPLEMENTED`; the caller's deadline applies.
async fn call<H: Handle>(
    handler: &H,
    request: http::Request<h2::RecvStream>,
) -> Result<H::Reply, Status> {
    let (parts, mut body) = request.into_parts();
    let path = parts.uri.path();
    let method = path
        .strip_prefix('/')
        .and_then(|path| path.split_once('/'))
        .filter(|(service, _)| *service == handler.service())
        .map(|(_, method)| method.to_string())
        .ok_or_else(|| Status::unimplemented(format!("no such method: {path}")))?;
    let metadata = MetadataMap::from_headers(parts.headers);
    let deadline = deadline_of(&metadata)?;
    let answered = async {
        let payload = codec::unframe(codec::read_body(&mut body).await?)?;
        handler.call(&method, metadata, payload).await
    };
    match deadline {
        Some(deadline) => tokio::time::timeout(deadline, answered)
            .await
            .map_err(|_| Status::deadline_exceeded(format!("{method}: deadline passed")))?,
        None => answered.await,
    }
}

/// Sends a reply: HEADERS, the message and `grpc-status: 0` trailers; or
/// a failure as a trailers-only response.
fn send(respond: &mut SendResponse<Bytes>, reply: Result<Bytes, Status>) {
    match reply {
        Ok(message) => {
            let mut response = http::Response::new(());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            let Ok(mut stream) = respond.send_response(response, false) else {
                return;
            };
            if stream.send_data(message, false).is_err() {
                return;
            }
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let _ = stream.send_trailers(trailers);
        }
        Err(status) => {
            let response = status.into_http::<()>();
            let _ = respond.send_response(response, true);
        }
    }
}

/// Resolves once `close` turns true; never if its sender is gone first.
async fn closed(close: &mut watch::Receiver<bool>) {
    if close.wait_for(|close| *close).await.is_err() {
        std::future::pending::<()>().await;
    }
}
