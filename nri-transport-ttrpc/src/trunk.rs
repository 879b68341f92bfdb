//! The trunk: one unix stream socket carrying the frames of every virtual
//! connection, with one reader task and a writer shared by all senders.
//!
//! - **Reading.** The reader task cuts the byte stream into frames
//!   ([`FrameDecoder`]) and hands each frame to the [`Inbound`] endpoint of
//!   its connection id. Endpoints never block the reader, so a slow
//!   consumer on one connection cannot stall the other. Frames for an id
//!   with no endpoint (0 and anything above 2 in NRI) are **dropped**, as Go
//!   does, and counted; the first one is logged. A frame larger than
//!   [`MAX_PAYLOAD`](crate::frame::MAX_PAYLOAD), a read error, a protocol
//!   violation reported by an endpoint, or the end of the stream in the
//!   middle of a frame closes the trunk and every endpoint with that reason.
//! - **Writing.** See [`writer`].
//! - **Closing.** [`TrunkHandle::close`] shuts the socket down both ways;
//!   the reader then tells every endpoint, which fail their pending calls.
//!   The first reason to close is the one everybody reports.

mod socket;
pub mod writer;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::io::unix::AsyncFd;
use tokio::net::UnixStream;
use tokio::sync::watch;
use tracing::Instrument;

use nri_core::transport::CloseReason;

use crate::frame::{ConnId, FrameDecoder, FrameError, MAX_PAYLOAD};
pub use socket::Socket;
pub use writer::TrunkWriter;

/// What the reader's buffer grows by when it runs low: a few NRI messages.
/// Below 64 KiB, so that the allocator can reuse the block cheaply (glibc
/// consolidates its free lists when a block of 64 KiB or more is freed).
const READ_CHUNK: usize = 32 << 10;

/// Free space below which the buffer is grown before reading. The buffer
/// is only regrown when nearly full, not after every message: frames the
/// endpoints still hold pin the block, so regrowing it each time would
/// allocate a new one per message.
const READ_LOW: usize = 4 << 10;

/// Why an endpoint gave up on its connection: the peer broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Violation(pub String);

/// Work an endpoint started for a frame, such as answering a request. The
/// reader task drives it next to reading, so a request is handled and
/// answered without a task switch; it is dropped when the trunk closes.
pub type Work = FuturesUnordered<BoxFuture<'static, ()>>;

/// The receiving end of one virtual connection, driven by the reader task.
pub trait Inbound: Send + 'static {
    /// A frame's payload arrived. Must not block; longer work goes into
    /// `work`. An error closes the trunk.
    fn frame(&mut self, payload: Bytes, work: &mut Work) -> Result<(), Violation>;

    /// The trunk closed for `reason`; no more frames will come.
    fn closed(&mut self, reason: &CloseReason);
}

/// Shared close state of a trunk.
#[derive(Debug)]
struct CloseSignal {
    reason: watch::Sender<Option<CloseReason>>,
    socket: Socket,
}

impl CloseSignal {
    /// Records the first reason and shuts the socket down both ways.
    fn close(&self, reason: CloseReason) -> bool {
        let first = self.reason.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
        if first {
            self.socket.shutdown();
        }
        first
    }

    fn reason(&self) -> Option<CloseReason> {
        self.reason.borrow().clone()
    }

    fn is_closed(&self) -> bool {
        self.reason.borrow().is_some()
    }
}

/// A running trunk: send frames on it, close it, learn that it closed.
#[derive(Debug, Clone)]
pub struct TrunkHandle {
    writer: Arc<TrunkWriter>,
    close: Arc<CloseSignal>,
}

impl TrunkHandle {
    /// Starts the writer and the reader task on `stream`, with the
    /// endpoints `endpoints` makes (one per connection id; they may keep the
    /// handle to send). Must be called inside a tokio runtime; fails only if
    /// the socket cannot be registered with it.
    pub fn start<T>(
        stream: UnixStream,
        span: tracing::Span,
        endpoints: impl FnOnce(&TrunkHandle) -> (Vec<(ConnId, Box<dyn Inbound>)>, T),
    ) -> std::io::Result<(TrunkHandle, T)> {
        let socket = Socket::from_tokio(stream)?;
        let readable = socket.register_readable()?;
        let (reason, _) = watch::channel(None);
        let close = Arc::new(CloseSignal {
            reason,
            socket: socket.clone(),
        });
        let on_error = {
            let close = Arc::clone(&close);
            move |reason: &str| {
                close.close(CloseReason::Failed(reason.to_string()));
            }
        };
        let writer = TrunkWriter::start(socket, Box::new(on_error), span.clone());
        let handle = TrunkHandle {
            writer,
            close: Arc::clone(&close),
        };
        let (endpoints, made) = endpoints(&handle);
        let reader = Reader {
            readable,
            endpoints,
            close,
            writer: Arc::clone(&handle.writer),
        };
        tokio::spawn(reader.run().instrument(span));
        Ok((handle, made))
    }

    /// The writer, to send frames.
    pub fn writer(&self) -> &TrunkWriter {
        &self.writer
    }

    /// Closes the trunk from this end for `reason`. Returns whether this
    /// call closed it.
    pub fn close(&self, reason: &str) -> bool {
        self.close
            .close(CloseReason::ClosedHere(reason.to_string()))
    }

    /// Whether the trunk has closed.
    pub fn is_closed(&self) -> bool {
        self.close.is_closed()
    }

    /// Why the trunk closed, if it did.
    pub fn closed_reason(&self) -> Option<CloseReason> {
        self.close.reason()
    }

    /// Waits until the trunk closes and says why.
    pub async fn closed(&self) -> CloseReason {
        let mut watcher = self.close.reason.subscribe();
        let closed = || CloseReason::ClosedHere("closed".into());
        match watcher.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_else(closed),
            Err(_) => closed(),
        }
    }
}

struct Reader {
    readable: AsyncFd<Socket>,
    endpoints: Vec<(ConnId, Box<dyn Inbound>)>,
    close: Arc<CloseSignal>,
    writer: Arc<TrunkWriter>,
}

impl Reader {
    async fn run(mut self) {
        let reason = self.read_until_done().await;
        if self.close.close(reason.clone()) {
            tracing::debug!(%reason, "trunk closed");
        }
        let reason = self.close.reason().unwrap_or(reason);
        self.writer.shut(&Arc::from(reason.text()));
        for (_, endpoint) in &mut self.endpoints {
            endpoint.closed(&reason);
        }
    }

    /// Reads until the stream ends or fails; returns the reason.
    async fn read_until_done(&mut self) -> CloseReason {
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut dropped: u64 = 0;
        let mut work = Work::new();
        loop {
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        let endpoint = self
                            .endpoints
                            .iter_mut()
                            .find(|(conn, _)| *conn == frame.conn);
                        match endpoint {
                            Some((conn, endpoint)) => {
                                if let Err(violation) = endpoint.frame(frame.payload, &mut work) {
                                    return CloseReason::Failed(format!(
                                        "protocol violation on {conn}: {violation}"
                                    ));
                                }
                            }
                            None => {
                                dropped += 1;
                                if dropped == 1 {
                                    tracing::warn!(
                                        conn = frame.conn.0,
                                        "dropping frames for a connection id that is not open"
                                    );
                                }
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(error @ FrameError::Oversized { .. }) => {
                        return CloseReason::Failed(error.to_string());
                    }
                }
            }
            // Room for the rest of the current frame, read in one go, and
            // at least a little for whatever comes next.
            let missing = decoder.needed(buf.len()).min(MAX_PAYLOAD);
            if buf.capacity() - buf.len() < missing.max(READ_LOW) {
                buf.reserve(missing.max(READ_CHUNK));
            }
            // Closing shuts the socket down, which wakes the read below, so
            // checking the flag here is enough: waiting on the close signal
            // as a third branch registered and dropped a waiter (two mutex
            // round trips) on every wake-up of every trunk.
            if self.close.is_closed() {
                return CloseReason::ClosedHere("closed".into());
            }
            let read = tokio::select! {
                biased;
                Some(()) = work.next(), if !work.is_empty() => continue,
                read = Socket::recv_ready(&self.readable, &mut buf) => match read {
                    Ok(Some(read)) => Ok(read),
                    Ok(None) => continue,
                    Err(error) => Err(error),
                },
            };
            match read {
                Ok(0) if decoder.at_boundary(buf.len()) => {
                    return CloseReason::ClosedByPeer("the peer closed the connection".into());
                }
                Ok(0) => {
                    return CloseReason::Failed(format!(
                        "the peer closed the connection in the middle of a frame ({} bytes buffered)",
                        buf.len()
                    ));
                }
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return CloseReason::Failed(format!("cannot read from the socket: {error}"));
                }
            }
        }
    }
}
