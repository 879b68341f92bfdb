//! The trunk's socket, and what it is registered with the reactor for.
//!
//! tokio's `UnixStream` registers a socket for reading and writing at once,
//! edge-triggered. Linux reports the send space a peer frees by *reading*
//! as a new writable edge (`unix_write_space`), so on a request/reply
//! protocol every message the peer reads wakes this side's reactor thread
//! for nothing; between two processes that is a thread switch per message
//! on each side. The trunk writes without waiting in the common case, so
//! the socket here is registered for reading only, and the writer
//! registers a duplicate descriptor for writability only while the socket
//! has not taken everything it was given.
//!
//! This is the one place the crate touches uninitialized memory: reading
//! straight into a `BytesMut`'s spare capacity.
#![allow(unsafe_code)]

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use bytes::BytesMut;
use rustix::net::{RecvFlags, Shutdown};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A connected, non-blocking unix stream socket, shared by the trunk's
/// reader, writer and closer.
#[derive(Debug, Clone)]
pub struct Socket(Arc<OwnedFd>);

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Socket {
    /// Takes the socket out of tokio's hands (it stays non-blocking).
    pub fn from_tokio(stream: tokio::net::UnixStream) -> io::Result<Socket> {
        Ok(Socket(Arc::new(OwnedFd::from(stream.into_std()?))))
    }

    /// Registers the socket for readability only. Must be called inside a
    /// tokio runtime.
    pub fn register_readable(&self) -> io::Result<AsyncFd<Socket>> {
        // SAFETY: the registration owns a clone of the socket, so the
        // descriptor stays open, and the same, for as long as it lives.
        unsafe { AsyncFd::register_with_interest(self.clone(), Interest::READABLE) }
            .map_err(|error| error.into_parts().1)
    }

    /// Registers a duplicate of the socket for writability only, for as
    /// long as the returned registration lives. Must be called inside a
    /// tokio runtime.
    pub fn register_writable(&self) -> io::Result<AsyncFd<OwnedFd>> {
        let duplicate = self.0.try_clone()?;
        // SAFETY: the registration owns the duplicate descriptor, so it
        // stays open, and the same, for as long as it lives.
        unsafe { AsyncFd::register_with_interest(duplicate, Interest::WRITABLE) }
            .map_err(|error| error.into_parts().1)
    }

    /// Receives into the spare capacity of `buf` without blocking; returns
    /// how many bytes arrived (0 at the end of the stream).
    pub fn recv_into(&self, buf: &mut BytesMut) -> io::Result<usize> {
        let len = buf.len();
        let received = self.recv_uninit(buf.spare_capacity_mut())?;
        // SAFETY: `recv` initialized the first `received` bytes of the
        // spare capacity, which directly follow the `len` bytes in use.
        unsafe { buf.set_len(len + received) };
        Ok(received)
    }

    /// Waits until `readable` (this socket's registration) reports data,
    /// then receives into the spare capacity of `buf`: `Ok(Some(n))` for
    /// `n` bytes (0 at the end of the stream), `Ok(None)` when the
    /// readiness was stale and nothing arrived. Cancellation-safe: nothing
    /// is received unless it returns.
    pub async fn recv_ready(
        readable: &AsyncFd<Socket>,
        buf: &mut BytesMut,
    ) -> io::Result<Option<usize>> {
        let mut ready = readable.readable().await?;
        let room = buf.capacity() - buf.len();
        match ready.try_io(|socket| socket.get_ref().recv_into(buf)) {
            Ok(Ok(read)) if read > 0 && read < room => {
                // A short read emptied the socket: skip the read that would
                // only say so (tokio's own streams do the same). Readiness
                // that came since, and the end of the stream, are kept:
                // tokio clears only the event this guard saw, never the
                // closed bits.
                ready.clear_ready();
                Ok(Some(read))
            }
            Ok(Ok(read)) => Ok(Some(read)),
            Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => Ok(None),
            Ok(Err(error)) => Err(error),
            Err(_would_block) => Ok(None),
        }
    }

    /// Receives into `buf` without blocking; returns how many bytes of it
    /// were initialized (0 at the end of the stream).
    pub fn recv_uninit(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
        let ((filled, _), _) = rustix::net::recv(self.0.as_fd(), buf, RecvFlags::DONTWAIT)?;
        Ok(filled.len())
    }

    /// Writes without blocking; returns how many bytes the socket took. A
    /// peer that has gone is an error, never SIGPIPE.
    pub fn write_vectored(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(rustix::net::sendmsg(
            self.0.as_fd(),
            slices,
            &mut rustix::net::SendAncillaryBuffer::default(),
            rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT,
        )?)
    }

    /// Shuts the socket down both ways: the peer sees the end of the
    /// stream and our reader wakes up. An error means it is already
    /// disconnected, which is the same.
    pub fn shutdown(&self) {
        let _ = rustix::net::shutdown(self.0.as_fd(), Shutdown::Both);
    }
}
