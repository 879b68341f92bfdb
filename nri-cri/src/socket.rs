//! HTTP/2 over unix sockets for CRI: [`serve`] runs a gRPC service (any
//! tower service, such as a tonic `RuntimeServiceServer`) on a listening
//! socket, and [`UnixChannel`] is a client channel to a CRI socket that
//! tonic clients and raw forwarding share.
//!
//! CRI sockets are local, so there is no TLS and no name resolution; a
//! channel connects lazily and reconnects when its connection has ended.

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{UnixListener, UnixStream};
use tower::ServiceExt as _;

/// The `:authority` CRI clients send over a unix socket.
pub const AUTHORITY: &str = "localhost";

/// The largest message the CRI sockets accept or send: 16 MiB, kubelet's
/// limit (its listings of many containers are large).
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// How long accepting waits after an error before trying again.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// How long connecting to a CRI socket (and the HTTP/2 handshake) may take.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// An error of a [`UnixChannel`] to a CRI socket (not `nri_host::SocketError`,
/// which is about a socket this process listens on).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The socket could not be reached.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP/2 handshake or a request failed.
    #[error("HTTP/2 on {path}: {source}")]
    Http {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: hyper::Error,
    },
    /// Connecting took longer than [`CONNECT_TIMEOUT`].
    #[error("connecting to {0} timed out")]
    Timeout(PathBuf),
    /// The request's URI could not be aimed at the socket.
    #[error("bad request URI: {0}")]
    Uri(#[from] http::Error),
}

/// Serves `service` on every connection `listener` (owned or borrowed)
/// accepts until `shutdown` completes. Connections in progress then end
/// with the task that runs them.
pub async fn serve<L, S>(listener: L, service: S, shutdown: impl Future<Output = ()>)
where
    L: std::borrow::Borrow<UnixListener>,
    S: tower::Service<
            http::Request<Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.borrow().accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "accepting a CRI connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let service = service.clone();
        connections.spawn(serve_connection(stream, service));
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

/// Calls one CRI connection carries at once (the kubelet makes a few
/// dozen at most; grpc-go servers allow unlimited).
const MAX_CONCURRENT_STREAMS: u32 = 256;

/// The largest header list a CRI client may send.
const MAX_HEADER_LIST: u32 = 64 << 10;

/// What an answer may keep buffered per stream for a client that does not
/// read it: with [`MAX_CONCURRENT_STREAMS`], what one connection can make
/// the proxy hold is bounded.
const MAX_SEND_BUFFER: usize = 256 << 10;

async fn serve_connection<S>(stream: UnixStream, service: S)
where
    S: tower::Service<
            http::Request<Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let service = hyper::service::service_fn(move |request| service.clone().oneshot(request));
    let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST)
        .max_send_buf_size(MAX_SEND_BUFFER)
        .keep_alive_interval(None)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = served {
        tracing::debug!(%error, "CRI connection ended");
    }
}

/// What answers the requests a [`Split`] does not give its typed service.
pub type Fallback = Arc<
    dyn Fn(
            http::Request<Incoming>,
        ) -> Pin<Box<dyn Future<Output = http::Response<tonic::body::Body>> + Send>>
        + Send
        + Sync,
>;

/// A service for [`serve`] that sends the paths `typed_paths` accepts to a
/// typed gRPC service (a tonic `RuntimeServiceServer`) and every other
/// path to `fallback` (raw forwarding, say), untouched.
#[derive(Clone)]
pub struct Split<T> {
    typed: T,
    typed_paths: fn(&str) -> bool,
    fallback: Fallback,
}

impl<T> Split<T> {
    /// The split described above.
    pub fn new(typed: T, typed_paths: fn(&str) -> bool, fallback: Fallback) -> Split<T> {
        Split {
            typed,
            typed_paths,
            fallback,
        }
    }
}

impl<T> tower::Service<http::Request<Incoming>> for Split<T>
where
    T: tower::Service<
            http::Request<Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    T::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Incoming>) -> Self::Future {
        if (self.typed_paths)(request.uri().path()) {
            // Generated tonic servers are always ready.
            return Box::pin(self.typed.clone().oneshot(request));
        }
        let answer = (self.fallback)(request);
        Box::pin(async move { Ok(answer.await) })
    }
}

/// A client channel to a CRI socket, usable by tonic clients
/// (`RuntimeServiceClient::new(channel)`) and for forwarding raw requests.
/// Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct UnixChannel {
    path: Arc<Path>,
    sender: Arc<tokio::sync::Mutex<Option<SendRequest<tonic::body::Body>>>>,
}

impl std::fmt::Debug for UnixChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixChannel")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl UnixChannel {
    /// A channel to the socket at `path`; it connects on first use.
    pub fn new(path: impl Into<PathBuf>) -> UnixChannel {
        UnixChannel {
            path: Arc::from(path.into()),
            sender: Arc::default(),
        }
    }

    /// A channel that is connected now, so that a wrong path is reported
    /// at once.
    pub async fn connect(path: impl Into<PathBuf>) -> Result<UnixChannel, ChannelError> {
        let channel = UnixChannel::new(path);
        channel.sender().await?;
        Ok(channel)
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends `request` (its URI's path is kept; scheme and authority are
    /// those of a local CRI socket) and returns the response head with its
    /// body still streaming.
    pub async fn send(
        &self,
        request: http::Request<tonic::body::Body>,
    ) -> Result<http::Response<Incoming>, ChannelError> {
        let request = aimed(request)?;
        let mut sender = self.sender().await?;
        sender
            .send_request(request)
            .await
            .map_err(|source| ChannelError::Http {
                path: self.path.to_path_buf(),
                source,
            })
    }

    async fn sender(&self) -> Result<SendRequest<tonic::body::Body>, ChannelError> {
        let mut slot = self.sender.lock().await;
        if let Some(sender) = slot.as_ref().filter(|sender| !sender.is_closed()) {
            return Ok(sender.clone());
        }
        let connecting = async {
            let stream =
                UnixStream::connect(&*self.path)
                    .await
                    .map_err(|source| ChannelError::Connect {
                        path: self.path.to_path_buf(),
                        source,
                    })?;
            hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|source| ChannelError::Http {
                    path: self.path.to_path_buf(),
                    source,
                })
        };
        let (sender, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| ChannelError::Timeout(self.path.to_path_buf()))??;
        let path = Arc::clone(&self.path);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(path = %path.display(), %error, "CRI client connection ended");
            }
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }
}

/// `request` with the scheme and authority of a local socket.
fn aimed(
    mut request: http::Request<tonic::body::Body>,
) -> Result<http::Request<tonic::body::Body>, http::Error> {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_string();
    *request.uri_mut() = http::Uri::builder()
        .scheme("http")
        .authority(AUTHORITY)
        .path_and_query(path)
        .build()?;
    Ok(request)
}

/// As a tonic channel, a socket that cannot be reached or that fails is
/// UNAVAILABLE, as gRPC clients report it.
impl tower::Service<http::Request<tonic::body::Body>> for UnixChannel {
    type Response = http::Response<Incoming>;
    type Error = tonic::Status;
    type Future =
        Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, tonic::Status>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let channel = self.clone();
        Box::pin(async move {
            channel
                .send(request)
                .await
                .map_err(|error| tonic::Status::unavailable(error.to_string()))
        })
    }
}
