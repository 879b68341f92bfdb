//! [`QuietStream`]: tokio's `AsyncRead` and `AsyncWrite` over a socket that
//! is registered for reading only, for protocols other than ttrpc that run
//! on the same kind of connection (nri-transport-grpc's HTTP/2).
//!
//! tokio's own `UnixStream` and `TcpStream` register for reading and
//! writing at once, edge-triggered, and the kernel reports the space a peer
//! frees by reading as a new writable edge. On a request/reply protocol
//! that wakes each side's reactor once more per message, for nothing: a
//! thread switch per message between processes. A `QuietStream` writes
//! without waiting and registers a duplicate descriptor for writability
//! only while the socket refuses more, as the ttrpc trunk does.
#![allow(unsafe_code)]

use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::trunk::Socket;

/// A connected stream socket as `AsyncRead + AsyncWrite`, woken only when
/// there is something to read (or, while a write waits, room to write).
#[derive(Debug)]
pub struct QuietStream {
    socket: Socket,
    readable: AsyncFd<Socket>,
    /// Registered while a write waits for room, dropped once one succeeds.
    writable: Option<AsyncFd<OwnedFd>>,
}

impl QuietStream {
    /// Takes a unix stream out of tokio's registration. Must be called
    /// inside a tokio runtime.
    pub fn from_unix(stream: tokio::net::UnixStream) -> io::Result<QuietStream> {
        QuietStream::new(Socket::from_tokio(stream)?)
    }

    /// Takes a TCP stream out of tokio's registration (its options, such as
    /// `TCP_NODELAY`, stay). Must be called inside a tokio runtime.
    pub fn from_tcp(stream: tokio::net::TcpStream) -> io::Result<QuietStream> {
        QuietStream::new(Socket::from_tokio_tcp(stream)?)
    }

    fn new(socket: Socket) -> io::Result<QuietStream> {
        let readable = socket.register_readable()?;
        Ok(QuietStream {
            socket,
            readable,
            writable: None,
        })
    }

    /// Writes `slices` without blocking, or waits for room and tries again.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.writable.is_none() {
                match self.socket.write_vectored(slices) {
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        // Registering reports the socket's state as of now,
                        // so room freed since the refused write is not lost.
                        self.writable = Some(self.socket.register_writable()?);
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    done => return Poll::Ready(done),
                }
            }
            let Some(registration) = &self.writable else {
                continue;
            };
            let socket = &self.socket;
            let mut ready = ready!(registration.poll_write_ready(cx))?;
            let outcome = ready.try_io(|_| socket.write_vectored(slices));
            drop(ready);
            match outcome {
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Ok(done) => {
                    self.writable = None;
                    return Poll::Ready(done);
                }
                // Still full: readiness was cleared, wait for the next edge.
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncRead for QuietStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut ready = ready!(this.readable.poll_read_ready(cx))?;
            // SAFETY: `recv_uninit` only writes into the slice, and the
            // bytes it reports as received are initialized before
            // `assume_init` says so.
            let unfilled = unsafe { buf.unfilled_mut() };
            let wanted = unfilled.len();
            match ready.try_io(|socket| socket.get_ref().recv_uninit(unfilled)) {
                Ok(Ok(received)) => {
                    if received > 0 && received < wanted {
                        // A short read emptied the socket: the next read
                        // waits for the next edge instead of asking in vain.
                        ready.clear_ready();
                    }
                    // SAFETY: the kernel initialized `received` bytes at the
                    // start of the unfilled part.
                    unsafe { buf.assume_init(received) };
                    buf.advance(received);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for QuietStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_send(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_send(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.socket.shutdown_write() {
            Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(()),
            done => done,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::QuietStream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Two quiet streams on a socketpair carry data both ways, including a
    /// write far larger than the socket's buffer (so the writer has to wait
    /// for room while the reader drains), and shutting down the write side
    /// is the reader's end of stream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn carries_data_waits_for_room_and_shuts_down() {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let (mut a, mut b) = (
            QuietStream::from_unix(a).unwrap(),
            QuietStream::from_unix(b).unwrap(),
        );
        let big: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        let expected = big.clone();
        let writer = tokio::spawn(async move {
            a.write_all(&big).await.unwrap();
            a.shutdown().await.unwrap();
            let mut reply = [0u8; 5];
            a.read_exact(&mut reply).await.unwrap();
            reply
        });
        let mut received = Vec::new();
        b.read_to_end(&mut received).await.unwrap();
        assert_eq!(received.len(), expected.len());
        assert!(received == expected, "the data arrived changed");
        b.write_all(b"thank").await.unwrap();
        assert_eq!(&writer.await.unwrap(), b"thank");
    }

    /// Over TCP on loopback too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn works_over_tcp() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let dial = tokio::spawn(async move { tokio::net::TcpStream::connect(address).await });
        let (server, _) = listener.accept().await.unwrap();
        let client = dial.await.unwrap().unwrap();
        let (mut client, mut server) = (
            QuietStream::from_tcp(client).unwrap(),
            QuietStream::from_tcp(server).unwrap(),
        );
        client.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        server.shutdown().await.unwrap();
        assert_eq!(client.read(&mut got).await.unwrap(), 0);
    }
}
