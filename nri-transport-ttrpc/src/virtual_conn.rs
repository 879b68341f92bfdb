//! The multiplexer as byte streams: each virtual connection is an
//! `AsyncRead + AsyncWrite + Send + Sync` stream, which is what ttrpc-rust's
//! `Socket::new` and `Listener::new` take, so any ttrpc implementation (or
//! any other protocol) can run over an NRI trunk.
//!
//! Writes are never coalesced: each `poll_write` becomes one frame (split
//! only above [`MAX_PAYLOAD`](crate::frame::MAX_PAYLOAD)), so a peer that
//! reads frame by frame sees exactly the writer's boundaries. A writer
//! talking to a Go peer must itself keep to the rule of
//! [`frame::message_chunks`](crate::frame::message_chunks): ttrpc-rust does
//! (header and payload in separate writes, §1.2.2).
//!
//! Reads reassemble the frames into a byte stream. At most
//! [`READ_QUEUE`] frames wait per connection; a peer that sends more while
//! the reader does not read fails the trunk (as a Go receiver does), which
//! bounds memory. The end of the trunk is the end of every stream.

use std::io;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::frame::ConnId;
use crate::trunk::{Inbound, TrunkHandle, Violation, Work};

/// Frames that may wait unread on one connection (Go's default).
pub const READ_QUEUE: usize = 256;

/// A multiplexed trunk whose virtual connections are byte streams.
#[derive(Debug, Clone)]
pub struct Mux {
    trunk: TrunkHandle,
}

impl Mux {
    /// Starts a multiplexer on `stream` with the given connections open;
    /// returns it and one stream per id, in the order given. Frames for
    /// other ids are dropped. Must be called inside a tokio runtime; fails
    /// only if the socket cannot be registered with it.
    pub fn start(stream: UnixStream, ids: &[ConnId]) -> std::io::Result<(Mux, Vec<VirtualConn>)> {
        let span = tracing::debug_span!("nri_mux");
        let (trunk, conns) = TrunkHandle::start(stream, span, |trunk| {
            let mut endpoints: Vec<(ConnId, Box<dyn Inbound>)> = Vec::new();
            let mut conns = Vec::new();
            for &id in ids {
                let (frames, incoming) = mpsc::channel(READ_QUEUE);
                endpoints.push((
                    id,
                    Box::new(Incoming {
                        frames: Some(frames),
                    }),
                ));
                conns.push(VirtualConn {
                    id,
                    trunk: trunk.clone(),
                    incoming,
                    current: Bytes::new(),
                    congestion: Mutex::new(None),
                });
            }
            (endpoints, conns)
        })?;
        Ok((Mux { trunk }, conns))
    }

    /// Closes the trunk and every virtual connection.
    pub fn close(&self) {
        self.trunk.close("closed");
    }

    /// Waits until the trunk closes and says why.
    pub async fn closed(&self) -> String {
        self.trunk.closed().await.to_string()
    }
}

/// Feeds one connection's frames to its [`VirtualConn`].
struct Incoming {
    frames: Option<mpsc::Sender<Bytes>>,
}

impl Inbound for Incoming {
    fn frame(&mut self, payload: Bytes, _work: &mut Work) -> Result<(), Violation> {
        let Some(frames) = &self.frames else {
            return Ok(());
        };
        match frames.try_send(payload) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Violation(format!(
                "failed to queue payload for reading: {READ_QUEUE} frames wait unread"
            ))),
            // The stream was dropped: later frames are discarded, as for a
            // closed Go connection.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.frames = None;
                Ok(())
            }
        }
    }

    fn closed(&mut self, _reason: &nri_core::transport::CloseReason) {
        self.frames = None;
    }
}

/// One virtual connection as a byte stream.
pub struct VirtualConn {
    id: ConnId,
    trunk: TrunkHandle,
    incoming: mpsc::Receiver<Bytes>,
    current: Bytes,
    /// Waits for the trunk's writer to drain; behind a mutex only so that
    /// the stream is `Sync`.
    congestion: Mutex<Option<BoxFuture<'static, ()>>>,
}

impl std::fmt::Debug for VirtualConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualConn")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl VirtualConn {
    /// The connection id.
    pub fn id(&self) -> ConnId {
        self.id
    }
}

impl AsyncRead for VirtualConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.current.is_empty() {
                let n = self.current.len().min(buf.remaining());
                buf.put_slice(&self.current[..n]);
                self.current.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(self.incoming.poll_recv(cx)) {
                Some(frame) => self.current = frame,
                // End of stream.
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl AsyncWrite for VirtualConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        {
            let mut congestion = this
                .congestion
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if congestion.is_none() && this.trunk.writer().congested() {
                let trunk = this.trunk.clone();
                *congestion = Some(Box::pin(async move { trunk.writer().drained().await }));
            }
            if let Some(waiting) = congestion.as_mut() {
                ready!(waiting.as_mut().poll(cx));
                *congestion = None;
            }
        }
        match this.trunk.writer().send_raw(this.id, data) {
            Ok(()) => Poll::Ready(Ok(data.len())),
            Err(error) => Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, error))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The multiplexer has no half-close; the trunk's end ends all.
        Poll::Ready(Ok(()))
    }
}
