//! A gRPC client on one connection that is never redialed: HTTP/2 by hyper,
//! unary calls by tonic's client machinery with the bytes codec. Its end
//! is observable ([`Client::closed`]), which is how a session's end is
//! noticed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use nri_core::transport::CallError;
use tokio::sync::watch;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

use crate::codec::{Outgoing, RawCodec};
use crate::endpoint::Stream;
use crate::protocol::{MAX_MESSAGE_SIZE, WINDOW};
use crate::status::to_call_error;

/// The authority sent with every call; unix sockets have none of their own.
const ORIGIN: &str = "http://localhost";

/// A client of one connection. Clones share it.
#[derive(Clone)]
pub(crate) struct Client {
    send: SendRequest<tonic::body::Body>,
    state: Arc<State>,
}

struct State {
    /// Why the connection ended, once it has.
    ended: watch::Sender<Option<String>>,
    /// Asks the connection's task to drop the connection.
    close: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("ended", &*self.state.ended.borrow())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts HTTP/2 on `stream`.
    pub(crate) async fn start(stream: Stream) -> Result<Self, hyper::Error> {
        let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(WINDOW)
            .initial_connection_window_size(WINDOW)
            .max_send_buf_size(MAX_MESSAGE_SIZE + 1024)
            .handshake(TokioIo::new(stream))
            .await?;
        let (ended, _) = watch::channel(None);
        let (close, mut closing) = watch::channel(None::<String>);
        let state = Arc::new(State { ended, close });
        let watcher = Arc::clone(&state);
        tokio::spawn(async move {
            let reason = tokio::select! {
                result = connection => match result {
                    Ok(()) => "the peer closed the connection".to_string(),
                    Err(error) => format!("the connection failed: {error}"),
                },
                reason = closing.wait_for(Option::is_some) => match reason {
                    Ok(reason) => reason.clone().unwrap_or_default(),
                    Err(_) => "closed".to_string(),
                },
            };
            watcher.ended.send_replace(Some(reason));
        });
        Ok(Client { send, state })
    }

    /// Calls `service/method` with `message`, waiting at most `timeout`
    /// (which also goes to the peer as the call's deadline).
    pub(crate) async fn call<T: Outgoing>(
        &self,
        service: &str,
        method: &str,
        message: T,
        timeout: Option<Duration>,
        metadata: &[(&'static str, AsciiMetadataValue)],
    ) -> Result<Bytes, CallError> {
        if let Some(reason) = self.closed_reason() {
            return Err(CallError::Closed { reason });
        }
        let path = PathAndQuery::try_from(format!("/{service}/{method}")).map_err(|error| {
            CallError::Protocol {
                message: format!("bad method name {method:?}: {error}"),
            }
        })?;
        let mut request = tonic::Request::new(message);
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        let headers: &mut MetadataMap = request.metadata_mut();
        for (key, value) in metadata {
            headers.insert(*key, value.clone());
        }
        let mut grpc = tonic::client::Grpc::with_origin(
            Send(self.send.clone()),
            http::Uri::from_static(ORIGIN),
        )
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let call = async {
            grpc.ready()
                .await
                .map_err(|error| tonic::Status::from_error(Box::new(error)))?;
            grpc.unary(request, path, RawCodec::<T>::default()).await
        };
        let timed = async {
            match timeout {
                Some(after) => tokio::time::timeout(after, call)
                    .await
                    .map_err(|_| CallError::Timeout { after }),
                None => Ok(call.await),
            }
        };
        let mut ended = self.state.ended.subscribe();
        tokio::select! {
            outcome = timed => match outcome? {
                Ok(response) => Ok(response.into_inner()),
                Err(status) => Err(match self.closed_reason() {
                    Some(reason) => CallError::Closed { reason },
                    None => to_call_error(status, method, timeout),
                }),
            },
            reason = ended.wait_for(Option::is_some) => Err(CallError::Closed {
                reason: reason.ok().and_then(|r| r.clone()).unwrap_or_default(),
            }),
        }
    }

    /// Drops the connection; pending and later calls fail as closed.
    pub(crate) fn close(&self, reason: &str) {
        self.state.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason.to_string());
                true
            } else {
                false
            }
        });
    }

    /// Why the connection ended, if it has.
    pub(crate) fn closed_reason(&self) -> Option<String> {
        self.state.ended.borrow().clone()
    }

    /// Waits until the connection has ended, and says why.
    pub(crate) async fn closed(&self) -> String {
        let mut ended = self.state.ended.subscribe();
        match ended.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => "closed".to_string(),
        }
    }
}

/// hyper's request sender as the tower service tonic's client wants.
struct Send(SendRequest<tonic::body::Body>);

impl tower::Service<http::Request<tonic::body::Body>> for Send {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + std::marker::Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}
