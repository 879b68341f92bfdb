//! A gRPC server on one connection: HTTP/2 by hyper, unary calls by
//! tonic's server machinery with the bytes codec, and a [`Handle`] that
//! answers each call. Calls still running when the connection ends are
//! cancelled, so nothing outlives it.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::watch;
use tonic::Status;
use tonic::metadata::MetadataMap;
use tonic::server::{Grpc, UnaryService};

use crate::codec::{Outgoing, RawCodec};
use crate::endpoint::Stream;
use crate::protocol::{MAX_MESSAGE_SIZE, WINDOW};
use crate::status::deadline_of;

/// One gRPC service: answers its calls.
pub(crate) trait Handle: Send + Sync + 'static {
    /// What it answers with.
    type Reply: Outgoing;

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
    let (ended, ending) = watch::channel(false);
    let service = hyper::service::service_fn(move |request| {
        let handler = Arc::clone(&handler);
        let mut ending = ending.clone();
        async move {
            let response = tokio::select! {
                response = route(handler, request) => response,
                _ = ending.wait_for(|ended| *ended) => {
                    Status::unavailable("the connection closed").into_http()
                }
            };
            Ok::<_, Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .serve_connection(TokioIo::new(stream), service);
    let reason = tokio::select! {
        served = connection => match served {
            Ok(()) => "the peer closed the connection".to_string(),
            Err(error) => format!("the connection failed: {error}"),
        },
        () = closed(&mut close) => "closed".to_string(),
    };
    let _ = ended.send(true);
    reason
}

/// Routes one HTTP/2 request to `handler`: anything but `/SERVICE/METHOD`
/// of its service is answered `UNIMPLEMENTED`.
async fn route<H: Handle>(
    handler: Arc<H>,
    request: http::Request<hyper::body::Incoming>,
) -> http::Response<tonic::body::Body> {
    let method = request
        .uri()
        .path()
        .strip_prefix('/')
        .and_then(|path| path.split_once('/'))
        .filter(|(service, _)| *service == handler.service())
        .map(|(_, method)| method.to_string());
    let Some(method) = method else {
        let path = request.uri().path().to_string();
        return Status::unimplemented(format!("no such method: {path}")).into_http();
    };
    let mut grpc = Grpc::new(RawCodec::<H::Reply>::default())
        .apply_max_message_size_config(Some(MAX_MESSAGE_SIZE), Some(MAX_MESSAGE_SIZE));
    grpc.unary(Unary { handler, method }, request).await
}

/// One unary call of a [`Handle`], with the caller's deadline applied.
struct Unary<H> {
    handler: Arc<H>,
    method: String,
}

impl<H: Handle> UnaryService<Bytes> for Unary<H> {
    type Response = H::Reply;
    type Future = BoxFuture<'static, Result<tonic::Response<H::Reply>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let handler = Arc::clone(&self.handler);
        let method = std::mem::take(&mut self.method);
        Box::pin(async move {
            let deadline = deadline_of(request.metadata())?;
            let (metadata, _, payload) = request.into_parts();
            let answer = handler.call(&method, metadata, payload);
            let reply = match deadline {
                Some(deadline) => {
                    tokio::time::timeout(deadline, answer).await.map_err(|_| {
                        Status::deadline_exceeded(format!("{method}: deadline passed"))
                    })??
                }
                None => answer.await?,
            };
            Ok(tonic::Response::new(reply))
        })
    }
}

/// Resolves once `close` turns true; never if its sender is gone first.
async fn closed(close: &mut watch::Receiver<bool>) {
    if close.wait_for(|close| *close).await.is_err() {
        std::future::pending::<()>().await;
    }
}
