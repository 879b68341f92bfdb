//! Endpoints in gRPC's name syntax (`unix:/path`, `unix:///path`,
//! `IP:PORT`), and the listeners and streams behind them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::pin::Pin;
use std::task::{Context, Poll};

use nri_host::ListeningSocket;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Where a gRPC server listens: a unix socket or a loopback TCP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A unix socket at an absolute path.
    Unix(PathBuf),
    /// A TCP address on loopback.
    Tcp(SocketAddr),
}

/// Why an endpoint is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Not in a syntax we read.
    #[error("{0:?} is not an endpoint (want unix:/abs/path, unix:///abs/path or IP:PORT)")]
    Syntax(String),
    /// A unix socket path that is not absolute.
    #[error("{0:?}: a unix socket path must be absolute")]
    Relative(String),
    /// A TCP address that is not on loopback.
    #[error("{0}: TCP endpoints must be on loopback")]
    NotLoopback(SocketAddr),
}

impl Endpoint {
    /// Reads an endpoint; TCP must be loopback.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        if let Some(rest) = text.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path.contains('\0') {
                return Err(EndpointError::Syntax(text.to_string()));
            }
            if !path.starts_with('/') {
                return Err(EndpointError::Relative(text.to_string()));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let address: SocketAddr = text
            .parse()
            .map_err(|_| EndpointError::Syntax(text.to_string()))?;
        Endpoint::tcp(address)
    }

    /// A TCP endpoint; `address` must be loopback.
    pub fn tcp(address: SocketAddr) -> Result<Self, EndpointError> {
        if address.ip().is_loopback() {
            Ok(Endpoint::Tcp(address))
        } else {
            Err(EndpointError::NotLoopback(address))
        }
    }

    /// A unix socket endpoint.
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        Endpoint::Unix(path.into())
    }

    /// The unix socket's path, if this is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Endpoint::Unix(path) => Some(path),
            Endpoint::Tcp(_) => None,
        }
    }

    /// Dials the endpoint.
    pub(crate) async fn dial(&self) -> std::io::Result<Stream> {
        match self {
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
            Endpoint::Tcp(address) => {
                let stream = TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp(address) => write!(f, "{address}"),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(text)
    }
}

/// A listening socket of either kind.
#[derive(Debug)]
pub(crate) enum Listener {
    /// A plugin's own socket.
    Unix(UnixListener),
    /// The runtime's socket, set up by the rules shared with ttrpc.
    Runtime(ListeningSocket),
    Tcp(TcpListener),
}

impl Listener {
    /// Binds a TCP listener (loopback checked by [`Endpoint::tcp`]).
    pub(crate) async fn tcp(address: SocketAddr) -> std::io::Result<Self> {
        TcpListener::bind(address).await.map(Listener::Tcp)
    }

    /// The endpoint it actually listens on (the port a `:0` bind got).
    pub(crate) fn local_endpoint(&self) -> std::io::Result<Endpoint> {
        match self {
            Listener::Unix(listener) => {
                let address = listener.local_addr()?;
                let path = address
                    .as_pathname()
                    .ok_or_else(|| std::io::Error::other("unnamed unix socket"))?;
                Ok(Endpoint::Unix(path.to_path_buf()))
            }
            Listener::Runtime(socket) => Ok(Endpoint::Unix(socket.path().to_path_buf())),
            Listener::Tcp(listener) => Ok(Endpoint::Tcp(listener.local_addr()?)),
        }
    }

    /// Accepts one connection.
    pub(crate) async fn accept(&self) -> std::io::Result<Stream> {
        match self {
            Listener::Unix(listener) => Ok(Stream::Unix(listener.accept().await?.0)),
            Listener::Runtime(socket) => Ok(Stream::Unix(socket.listener().accept().await?.0)),
            Listener::Tcp(listener) => {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
        }
    }
}

/// A connected stream socket of either kind.
#[derive(Debug)]
pub(crate) enum Stream {
    /// A unix socket.
    Unix(UnixStream),
    /// A TCP connection on loopback (no delay set).
    Tcp(TcpStream),
}

impl Stream {
    /// Who is at the other end of a unix socket (the kernel's word, not
    /// the peer's); `None` for TCP, which tells nothing about its peer.
    pub(crate) fn peer_credentials(&self) -> Option<tokio::net::unix::UCred> {
        match self {
            Stream::Unix(stream) => stream.peer_cred().ok(),
            Stream::Tcp(_) => None,
        }
    }
}

/// Forwards to the socket of either kind.
macro_rules! either {
    ($self:ident, $stream:ident => $call:expr) => {
        match $self.get_mut() {
            Stream::Unix($stream) => $call,
            Stream::Tcp($stream) => $call,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        either!(self, stream => Pin::new(stream).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        either!(self, stream => Pin::new(stream).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        either!(self, stream => Pin::new(stream).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        either!(self, stream => Pin::new(stream).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        either!(self, stream => Pin::new(stream).poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn unix_endpoints_in_both_spellings() {
        assert_eq!(
            Endpoint::parse("unix:/run/nri/p.sock").unwrap(),
            Endpoint::unix("/run/nri/p.sock")
        );
        assert_eq!(
            Endpoint::parse("unix:///run/nri/p.sock").unwrap(),
            Endpoint::unix("/run/nri/p.sock")
        );
        let endpoint = Endpoint::unix("/a b/c");
        assert_eq!(Endpoint::parse(&endpoint.to_string()).unwrap(), endpoint);
    }

    #[test]
    fn relative_paths_and_remote_hosts_are_refused() {
        assert!(matches!(
            Endpoint::parse("unix:p.sock"),
            Err(EndpointError::Relative(_))
        ));
        assert!(matches!(
            Endpoint::parse("10.0.0.1:80"),
            Err(EndpointError::NotLoopback(_))
        ));
        assert!(matches!(
            Endpoint::parse("example.com:80"),
            Err(EndpointError::Syntax(_))
        ));
        assert!(matches!(
            Endpoint::parse("unix:"),
            Err(EndpointError::Syntax(_))
        ));
        assert_eq!(
            Endpoint::parse("[::1]:5000").unwrap().to_string(),
            "[::1]:5000"
        );
        assert!(Endpoint::parse("127.0.0.1:0").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parsing_anything_never_panics(text in ".{0,80}") {
            let _ = Endpoint::parse(&text);
        }
    }
}
