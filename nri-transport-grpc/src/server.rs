//! A gRPC server on one connection: our HTTP/2 ([`crate::http2`]), unary
//! calls framed here ([`crate::codec`]), and a [`Handle`] that answers
//! each call.
//!
//! Calls run inside the connection's own task, next to its reader, rather
//! than in a task each: an answer leaves in the same turn it is ready,
//! HEADERS, DATA and trailers in one write. A call the client cancels
//! (`RST_STREAM`) is dropped; calls still running when the connection ends
//! are dropped with it, so nothing outlives it.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use nri_transport_ttrpc::socket::Socket;
use tokio::sync::watch;
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::codec::{self, Encode};
use crate::http2::connection::{Connection, Dispatch, MAX_HEADER_LIST, Request, Side};
use crate::http2::hpack::{Block, HeaderList};
use crate::status::{deadline_of, percent_encode};

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

/// Serves `handler` on `socket` until the peer closes the connection, it
/// fails, or `close` turns true (then the connection is dropped at once;
/// once `close` can no longer change, only the peer or a failure ends it).
/// Returns why it ended.
pub(crate) async fn serve<H: Handle>(
    socket: Socket,
    handler: Arc<H>,
    close: watch::Receiver<bool>,
) -> String {
    let closing = close.clone();
    let dispatch: Dispatch = Box::new(move |connection: &Connection, request: Request| {
        Box::pin(answer(
            Arc::clone(&handler),
            connection.clone(),
            closing.clone(),
            request,
        ))
    });
    match Connection::start(socket, Side::Server, Some(dispatch)) {
        Ok((_connection, reader)) => reader.run(close).await,
        Err(error) => format!("cannot serve the connection: {error}"),
    }
}

/// Answers one request: the reply and OK trailers, or a trailers-only
/// status. Nothing is sent once `close` is true: a handler that closed the
/// connection (a plugin that panicked) ends it unanswered, as a crashed
/// process would.
async fn answer<H: Handle>(
    handler: Arc<H>,
    connection: Connection,
    close: watch::Receiver<bool>,
    request: Request,
) {
    let stream = request.stream;
    let reply = call(handler.as_ref(), request).await;
    if *close.borrow() {
        return;
    }
    match reply.and_then(|reply| codec::frame(&reply)) {
        Ok(message) => connection.respond(stream, message),
        Err(status) => connection.refuse(stream, |block| status_block(block, &status)),
    }
}

/// Routes and runs one call: anything but `/SERVICE/METHOD` of the
/// handler's service is `UNIMPLEMENTED`; the caller's deadline applies.
async fn call<H: Handle>(handler: &H, request: Request) -> Result<H::Reply, Status> {
    let Request { head, body, .. } = request;
    if !head.complete() {
        return Err(Status::resource_exhausted(format!(
            "request headers larger than {MAX_HEADER_LIST} bytes"
        )));
    }
    let path = String::from_utf8_lossy(head.get(b":path").unwrap_or_default());
    let method = path
        .strip_prefix('/')
        .and_then(|path| path.split_once('/'))
        .filter(|(service, _)| *service == handler.service())
        .map(|(_, method)| method.to_string())
        .ok_or_else(|| Status::unimplemented(format!("no such method: {path}")))?;
    let metadata = metadata_of(&head)?;
    let deadline = deadline_of(&metadata)?;
    let answered = async {
        let payload = codec::unframe(body)?;
        handler.call(&method, metadata, payload).await
    };
    match deadline {
        Some(deadline) => tokio::time::timeout(deadline, answered)
            .await
            .map_err(|_| Status::deadline_exceeded(format!("{method}: deadline passed")))?,
        None => answered.await,
    }
}

/// A request's fields other than the pseudo-headers, as gRPC metadata.
fn metadata_of(head: &HeaderList) -> Result<MetadataMap, Status> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in head.iter().filter(|(name, _)| !name.starts_with(b":")) {
        let malformed = || {
            Status::internal(format!(
                "malformed header {:?}",
                String::from_utf8_lossy(name)
            ))
        };
        let name = http::HeaderName::from_bytes(name).map_err(|_| malformed())?;
        let value = http::HeaderValue::from_bytes(value).map_err(|_| malformed())?;
        headers.append(name, value);
    }
    Ok(MetadataMap::from_headers(headers))
}

/// The header block of a trailers-only response with `status`.
pub(crate) fn status_block(block: &mut Block<'_>, status: &Status) {
    let code = (status.code() as i32).to_string();
    block
        .status_200()
        .content_type(b"application/grpc")
        .field(b"grpc-status", code.as_bytes());
    if !status.message().is_empty() {
        block.field(b"grpc-message", percent_encode(status.message()).as_bytes());
    }
}
