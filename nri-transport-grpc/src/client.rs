//! A gRPC client on one connection that is never redialed: tonic's unary
//! client over one hyper HTTP/2 connection with this crate's
//! [`settings`](crate::settings). Calls go from the caller's task straight
//! into the connection (no buffer task between); the connection runs in a
//! task of its own, whose end is observable ([`Client::closed`]): that is
//! how a session's end is noticed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use nri_core::transport::{CallError, CloseReason};
use tokio::sync::watch;
use tonic::body::Body;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::AsciiMetadataValue;

use crate::codec::RawCodec;
use crate::endpoint::Stream;
use crate::protocol::MAX_MESSAGE_SIZE;
use crate::settings;
use crate::status::{reason, to_call_error};

/// The origin every call is sent to: unix sockets have no authority of
/// their own.
const ORIGIN: &str = "http://localhost";

/// A client of one connection. Clones share it; when the last is dropped,
/// the connection is closed.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    grpc: tonic::client::Grpc<Http2>,
    link: Arc<Link>,
}

/// The connection task's controls: asking it to close (dropping the last
/// `Link` asks too), and why it ended.
#[derive(Debug)]
struct Link {
    close: watch::Sender<Option<String>>,
    ended: watch::Receiver<Option<CloseReason>>,
}

impl Client {
    /// Starts HTTP/2 on `stream`, with the connection in a task of its
    /// own. Must be called inside a tokio runtime.
    pub(crate) async fn start(stream: Stream) -> Result<Self, hyper::Error> {
        let (send, connection) = settings::client()
            .handshake::<_, Body>(TokioIo::new(stream))
            .await?;
        let (close, mut closing) = watch::channel(None::<String>);
        let (ended_tx, ended) = watch::channel(None);
        tokio::spawn(async move {
            let reason = tokio::select! {
                ended = connection => match ended {
                    Ok(()) => CloseReason::ClosedByPeer("the peer closed the connection".into()),
                    Err(error) => CloseReason::Failed(format!("the connection failed: {error}")),
                },
                asked = closing.wait_for(Option::is_some) => CloseReason::ClosedHere(match asked {
                    Ok(reason) => reason.clone().unwrap_or_default(),
                    Err(_) => "the client was dropped".to_string(),
                }),
            };
            ended_tx.send_replace(Some(reason));
        });
        let grpc = tonic::client::Grpc::with_origin(Http2(send), http::Uri::from_static(ORIGIN))
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        Ok(Client {
            grpc,
            link: Arc::new(Link { close, ended }),
        })
    }

    /// Calls `path` (`/service/method`) with an encoded message, waiting at
    /// most `timeout` (which also goes to the peer as the call's deadline),
    /// and returns the reply's bytes.
    pub(crate) async fn call(
        &self,
        path: PathAndQuery,
        method: &str,
        message: Bytes,
        timeout: Option<Duration>,
        metadata: &[(&'static str, AsciiMetadataValue)],
    ) -> Result<Bytes, CallError> {
        if let Some(reason) = self.closed_reason() {
            return Err(CallError::Closed { reason });
        }
        let mut request = tonic::Request::new(message);
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        for (key, value) in metadata {
            request.metadata_mut().insert(*key, value.clone());
        }
        let mut grpc = self.grpc.clone();
        let call = async {
            grpc.ready().await.map_err(|error| CallError::Closed {
                reason: CloseReason::Failed(format!("the connection cannot take calls: {error}")),
            })?;
            grpc.unary(request, path, RawCodec)
                .await
                .map(tonic::Response::into_inner)
                .map_err(|status| self.failure(status, method, timeout))
        };
        match timeout {
            // Dropping the call resets its stream.
            Some(after) => tokio::time::timeout(after, call)
                .await
                .map_err(|_| CallError::Timeout { after })?,
            None => call.await,
        }
    }

    /// A failed call's error: a lost connection (with the reason the
    /// connection task recorded, if it has yet), or the peer's status.
    fn failure(&self, status: tonic::Status, method: &str, timeout: Option<Duration>) -> CallError {
        match self.closed_reason() {
            Some(reason) => CallError::Closed { reason },
            None => to_call_error(status, method, timeout),
        }
    }

    /// Drops the connection; pending and later calls fail as closed.
    pub(crate) fn close(&self, reason: &str) {
        self.link.close.send_if_modified(|close| {
            let first = close.is_none();
            if first {
                *close = Some(reason.to_string());
            }
            first
        });
    }

    /// Why the connection ended, if it has.
    pub(crate) fn closed_reason(&self) -> Option<CloseReason> {
        self.link.ended.borrow().clone()
    }

    /// Waits until the connection has ended, and says why.
    pub(crate) async fn closed(&self) -> CloseReason {
        reason(&mut self.link.ended.clone()).await
    }
}

/// The path of `method` of `service`.
pub(crate) fn path(service: &str, method: &str) -> PathAndQuery {
    // Both names are ours (nri-core's method table, the protocol's
    // service names), so the path is always valid.
    PathAndQuery::from_maybe_shared(Bytes::from(format!("/{service}/{method}")))
        .unwrap_or_else(|_| PathAndQuery::from_static("/"))
}

/// hyper's request sender as the service tonic's client calls.
#[derive(Clone, Debug)]
struct Http2(hyper::client::conn::http2::SendRequest<Body>);

type Response =
    Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, hyper::Error>> + Send>>;

impl tonic::codegen::Service<http::Request<Body>> for Http2 {
    type Response = http::Response<Incoming>;
    type Error = hyper::Error;
    type Future = Response;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Response {
        Box::pin(self.0.send_request(request))
    }
}
