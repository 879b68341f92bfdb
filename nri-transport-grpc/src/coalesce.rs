//! Coalescing writes: a stream wrapper that keeps what is written until a
//! flush, and lets the first flush of a batch wait one turn of the
//! scheduler. HTTP/2 (h2) flushes a request's HEADERS before it has given
//! the DATA frame its flow-control capacity, so without this every call
//! went out in two writes and woke the peer twice; with it both frames leave
//! in one write.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Past this much buffered data a write goes out without waiting.
const HIGH_WATER: usize = 64 << 10;

/// `S` with coalesced writes.
#[derive(Debug)]
pub(crate) struct Coalesced<S> {
    inner: S,
    pending: Vec<u8>,
    /// Bytes of `pending` already written.
    written: usize,
    /// Whether this batch's flush already waited its turn.
    waited: bool,
}

impl<S> Coalesced<S> {
    pub(crate) fn new(inner: S) -> Self {
        Coalesced {
            inner,
            pending: Vec::new(),
            written: 0,
            waited: false,
        }
    }
}

impl<S: AsyncWrite + Unpin> Coalesced<S> {
    /// Writes out everything pending.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.pending.len() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Writes out what is pending once it reaches [`HIGH_WATER`].
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.pending.len() >= HIGH_WATER {
            self.poll_drain(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalesced<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesced<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_room(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|()| 0)),
        }
        this.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_room(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|()| 0)),
        }
        let mut total = 0;
        for buf in bufs {
            this.pending.extend_from_slice(buf);
            total += buf.len();
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.pending.is_empty() {
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        if !this.waited {
            // Let the connection's task run once more: what it adds now
            // leaves in the same write.
            this.waited = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => {
                this.waited = false;
                Pin::new(&mut this.inner).poll_flush(cx)
            }
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn two_writes_before_a_flush_leave_together() {
        let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
        let mut a = Coalesced::new(a);
        a.write_all(b"head").await.unwrap();
        a.write_all(b"body").await.unwrap();
        let mut got = [0_u8; 8];
        // A unix socket write is in the peer's buffer when it returns.
        let early = b.try_read(&mut got);
        assert!(
            early
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
            "nothing leaves before the flush: {early:?}"
        );
        a.flush().await.unwrap();
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"headbody");
    }

    #[tokio::test]
    async fn a_large_batch_goes_out_whole() {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let mut a = Coalesced::new(a);
        let data: Vec<u8> = (0..300_000_u32).map(|i| i as u8).collect();
        let reader = tokio::spawn(async move {
            let mut b = b;
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        a.write_all(&data).await.unwrap();
        a.shutdown().await.unwrap();
        drop(a);
        assert_eq!(reader.await.unwrap(), data);
    }
}
