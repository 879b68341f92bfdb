//! The trunk's writer, shared by every sender on every virtual connection.
//!
//! A send is synchronous and cancellation-safe: under one lock it writes as
//! much of the frames as the socket takes without blocking and queues the
//! rest, whole, for the flusher task. Frames therefore never interleave,
//! nothing is written twice or lost when a caller's future is dropped, and
//! the common case costs one `writev` and no task switch. Senders that
//! find more than [`HIGH_WATER`] bytes queued wait for the queue to drain
//! ([`TrunkWriter::drained`]) before sending more. Senders that cannot wait
//! (a server answering the peer's requests) are bounded by
//! [`MAX_QUEUED`]: a send that would queue more fails the trunk, since the
//! peer does not read what it asked for; it is dropped, never buffered
//! further.
//!
//! A frame's header and payload go in one `writev`; a multi-frame message
//! goes in one `writev` too. A write error closes the trunk.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, Bytes};
use tokio::sync::Notify;
use tracing::Instrument;

use super::Socket;
use crate::frame::{self, ConnId};

/// Queued bytes above which senders wait for the flusher.
pub const HIGH_WATER: usize = 8 << 20;

/// Queued bytes (and [`PART_COST`] per queued part) past which the trunk
/// fails: a peer that lets this much of its answers pile up does not read. Senders that wait at [`HIGH_WATER`]
/// stay below it (one maximal message and its framing fit above the mark).
pub const MAX_QUEUED: usize = 2 * HIGH_WATER;

/// How many buffers one `writev` takes at most.
const MAX_IOVECS: usize = 64;

/// The trunk is closed or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection closed: {reason}")]
pub struct WriteError {
    /// Why.
    pub reason: Arc<str>,
}

#[derive(Default)]
struct Queue {
    parts: VecDeque<Bytes>,
    bytes: usize,
    failed: Option<Arc<str>>,
}

/// What a queued part costs in memory besides its bytes (its allocation
/// and its place in the queue): counted against [`MAX_QUEUED`], so a flood
/// of small answers is bounded by the memory it takes, not only by its
/// bytes.
const PART_COST: usize = 64;

impl Queue {
    /// The memory the queue holds, as counted against [`MAX_QUEUED`].
    fn cost(&self) -> usize {
        self.bytes + PART_COST * self.parts.len()
    }
}

/// How many of `parts` the first `written` bytes cover whole.
fn parts_done(parts: &[&[u8]], mut written: usize) -> usize {
    parts
        .iter()
        .take_while(|part| {
            let done = written >= part.len();
            written = written.saturating_sub(part.len());
            done
        })
        .count()
}

/// Writes frames to the trunk.
pub struct TrunkWriter {
    socket: Socket,
    queue: Mutex<Queue>,
    /// Wakes the flusher when the queue gains bytes.
    work: Notify,
    /// Wakes senders when the queue drains below [`HIGH_WATER`] or fails.
    drain: Notify,
    on_error: Box<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for TrunkWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkWriter").finish_non_exhaustive()
    }
}

impl TrunkWriter {
    /// A writer on `stream` with its flusher task; `on_error` is told when
    /// a write fails.
    pub fn start(
        socket: Socket,
        on_error: Box<dyn Fn(&str) + Send + Sync>,
        span: tracing::Span,
    ) -> Arc<TrunkWriter> {
        let writer = Arc::new(TrunkWriter {
            socket,
            queue: Mutex::new(Queue::default()),
            work: Notify::new(),
            drain: Notify::new(),
            on_error,
        });
        let flusher = Arc::clone(&writer);
        tokio::spawn(
            async move {
                // `notify_one` leaves a permit when nobody waits, so no
                // wake-up is lost between a flush and the wait.
                while flusher.flush().await {
                    flusher.work.notified().await;
                }
            }
            .instrument(span),
        );
        writer
    }

    /// Sends one whole ttrpc message on `conn` as the framing rule says
    /// ([`frame::message_chunks`]).
    pub fn send_message(&self, conn: ConnId, message: &[u8]) -> Result<(), WriteError> {
        let (head, tail) = frame::message_chunks(message);
        let head_header = frame::encode_header(conn, head.len());
        match tail {
            None => self.send(&[&head_header, head]),
            Some(tail) => {
                let tail_header = frame::encode_header(conn, tail.len());
                self.send(&[&head_header, head, &tail_header, tail])
            }
        }
    }

    /// Sends raw bytes on `conn`, one frame per [`frame::write_chunks`] item.
    pub fn send_raw(&self, conn: ConnId, data: &[u8]) -> Result<(), WriteError> {
        let chunks: Vec<&[u8]> = frame::write_chunks(data).collect();
        let headers: Vec<[u8; frame::HEADER_LEN]> = chunks
            .iter()
            .map(|chunk| frame::encode_header(conn, chunk.len()))
            .collect();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * chunks.len());
        for (header, chunk) in headers.iter().zip(&chunks) {
            parts.push(header);
            parts.push(chunk);
        }
        self.send(&parts)
    }

    /// Whether more than [`HIGH_WATER`] bytes wait to be written.
    pub fn congested(&self) -> bool {
        self.lock().bytes > HIGH_WATER
    }

    /// Waits until the queue is below [`HIGH_WATER`] (or the trunk failed).
    pub async fn drained(&self) {
        loop {
            let notified = self.drain.notified();
            {
                let queue = self.lock();
                if queue.bytes <= HIGH_WATER || queue.failed.is_some() {
                    return;
                }
            }
            notified.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `parts` in order, whole and uninterleaved with any other
    /// send: directly if the queue is empty and the socket takes them, the
    /// rest queued. For protocols other than the mux on the same kind of
    /// socket (nri-transport-grpc's HTTP/2), which frame their own bytes.
    pub fn send(&self, parts: &[&[u8]]) -> Result<(), WriteError> {
        let mut queue = self.lock();
        if let Some(reason) = &queue.failed {
            return Err(WriteError {
                reason: Arc::clone(reason),
            });
        }
        let mut written = 0usize;
        if queue.parts.is_empty() {
            match self.write_now(parts) {
                Ok(n) => written = n,
                Err(error) => {
                    let reason: Arc<str> =
                        Arc::from(format!("cannot write to the socket: {error}"));
                    queue.failed = Some(Arc::clone(&reason));
                    drop(queue);
                    self.fail(&reason);
                    return Err(WriteError { reason });
                }
            }
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if written == total {
            return Ok(());
        }
        let parts_left = parts.len() - parts_done(parts, written);
        if queue.cost() + (total - written) + PART_COST * parts_left > MAX_QUEUED {
            let reason: Arc<str> = Arc::from(format!(
                "the peer does not read: more than {MAX_QUEUED} bytes would wait to be written"
            ));
            queue.failed = Some(Arc::clone(&reason));
            queue.parts.clear();
            queue.bytes = 0;
            drop(queue);
            self.fail(&reason);
            return Err(WriteError { reason });
        }
        // Queue what is left, whole.
        let mut skip = written;
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            let rest = &part[skip..];
            skip = 0;
            queue.bytes += rest.len();
            queue.parts.push_back(Bytes::copy_from_slice(rest));
        }
        drop(queue);
        self.work.notify_one();
        Ok(())
    }

    /// Writes without blocking; returns how many bytes the socket took.
    fn write_now(&self, parts: &[&[u8]]) -> std::io::Result<usize> {
        let mut written = 0usize;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        while written < total {
            let slices = slices_from(parts.iter().copied(), written);
            match self.socket.write_vectored(&slices) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(written)
    }

    /// Writes out the queue. Returns `false` once the trunk has failed.
    /// While it waits for the socket to take more, the socket is registered
    /// for writability ([`Socket::register_writable`]); the registration
    /// ends with the flush.
    async fn flush(&self) -> bool {
        let mut registration = None;
        loop {
            {
                let mut queue = self.lock();
                if queue.failed.is_some() {
                    return false;
                }
                if queue.parts.is_empty() {
                    return true;
                }
                let slices = slices_from(queue.parts.iter().map(|b| &b[..]), 0);
                let result = self.socket.write_vectored(&slices);
                match result {
                    Ok(0) => {
                        drop(queue);
                        self.fail_queue("cannot write to the socket: it accepts no more bytes");
                        return false;
                    }
                    Ok(mut n) => {
                        queue.bytes -= n;
                        while n > 0 {
                            let Some(front) = queue.parts.front_mut() else {
                                break;
                            };
                            if front.len() <= n {
                                n -= front.len();
                                queue.parts.pop_front();
                            } else {
                                front.advance(n);
                                n = 0;
                            }
                        }
                        if queue.bytes <= HIGH_WATER {
                            self.drain.notify_waiters();
                        }
                        continue;
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(error) => {
                        drop(queue);
                        self.fail_queue(&format!("cannot write to the socket: {error}"));
                        return false;
                    }
                }
            }
            let registered = match &mut registration {
                Some(registered) => registered,
                None => match self.socket.register_writable() {
                    Ok(registered) => registration.insert(registered),
                    Err(error) => {
                        self.fail_queue(&format!("cannot wait for the socket: {error}"));
                        return false;
                    }
                },
            };
            match registered.writable().await {
                // Readiness that arrives after this event is kept, so a
                // write that blocks again waits for the next one.
                Ok(mut ready) => ready.clear_ready(),
                Err(error) => {
                    self.fail_queue(&format!("cannot wait for the socket: {error}"));
                    return false;
                }
            }
        }
    }

    fn fail_queue(&self, reason: &str) {
        let reason: Arc<str> = Arc::from(reason);
        {
            let mut queue = self.lock();
            queue.failed.get_or_insert_with(|| Arc::clone(&reason));
            queue.parts.clear();
            queue.bytes = 0;
        }
        self.fail(&reason);
    }

    fn fail(&self, reason: &str) {
        self.drain.notify_waiters();
        (self.on_error)(reason);
    }

    /// Marks the writer closed: later sends fail with `reason`.
    pub fn shut(&self, reason: &Arc<str>) {
        let mut queue = self.lock();
        queue.failed.get_or_insert_with(|| Arc::clone(reason));
        queue.parts.clear();
        queue.bytes = 0;
        drop(queue);
        self.drain.notify_waiters();
        self.work.notify_one();
    }
}

/// `IoSlice`s over `parts`, skipping the first `skip` bytes, at most
/// [`MAX_IOVECS`] of them.
fn slices_from<'a>(parts: impl Iterator<Item = &'a [u8]>, mut skip: usize) -> Vec<IoSlice<'a>> {
    let mut slices = Vec::with_capacity(MAX_IOVECS.min(8));
    for part in parts {
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        slices.push(IoSlice::new(&part[skip..]));
        skip = 0;
        if slices.len() == MAX_IOVECS {
            break;
        }
    }
    slices
}
