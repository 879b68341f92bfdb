//! What the host gives a guest: its store state (WASI context, memory
//! limit, deadline), the `env.log` import of upstream's ABI, and guest
//! stdout/stderr as `tracing` events.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use nri_proto::api::LogRequest;
use nri_proto::api::log_request::Level;
use prost::Message as _;
use wasmtime::{Caller, Extern, Linker, StoreLimits};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Longest log message or output line kept, in bytes; the rest is cut.
pub const MAX_LOG_LINE: usize = 16 << 10;

/// The state a plugin's store holds.
pub(crate) struct GuestState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limits: StoreLimits,
    /// The plugin, for log events.
    pub(crate) label: Arc<str>,
    /// When the running call must have returned.
    pub(crate) deadline: Option<Instant>,
    /// Test only: what answers the relay guest's `nri_test.call`.
    pub(crate) relay: Option<crate::relay::SharedRelay>,
}

/// Adds upstream's host module `env` (its one function, `log`) to `linker`.
pub(crate) fn add_env_module(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "log", log)?;
    Ok(())
}

/// `env.log(ptr, size) -> u64`: a `LogRequest` at `ptr`, logged at its
/// level. The reply is the empty message (`Empty`), so the result is 0: no
/// allocation in the guest. A pointer outside the guest's memory or bytes
/// that are not a `LogRequest` trap, as upstream's host panics.
fn log(mut caller: Caller<'_, GuestState>, ptr: u32, size: u32) -> wasmtime::Result<u64> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(wasmtime::Error::msg(
            "env.log: the module exports no memory",
        ));
    };
    let data = memory.data(&caller);
    let bytes = usize::try_from(ptr)
        .ok()
        .zip(usize::try_from(size).ok())
        .and_then(|(ptr, size)| data.get(ptr..ptr.checked_add(size)?))
        .ok_or_else(|| {
            wasmtime::Error::msg(format!(
                "env.log: {size} bytes at {ptr:#x} lie outside the guest's {} bytes of memory",
                data.len()
            ))
        })?;
    let request = LogRequest::decode(bytes)
        .map_err(|e| wasmtime::Error::msg(format!("env.log: not a LogRequest: {e}")))?;
    let label = &caller.data().label;
    let msg = truncate(&request.msg);
    match Level::try_from(request.level).unwrap_or(Level::Unspecified) {
        Level::Info => tracing::info!(plugin = %label, "{msg}"),
        Level::Warn => tracing::warn!(plugin = %label, "{msg}"),
        Level::Error => tracing::error!(plugin = %label, "{msg}"),
        Level::Debug | Level::Unspecified => tracing::debug!(plugin = %label, "{msg}"),
    }
    Ok(0)
}

fn truncate(text: &str) -> &str {
    if text.len() <= MAX_LOG_LINE {
        return text;
    }
    let mut end = MAX_LOG_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Which guest stream an [`Output`] carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// A guest's stdout or stderr: every line becomes a `tracing` event (info
/// for stdout, warn for stderr) naming the plugin. Lines longer than
/// [`MAX_LOG_LINE`] are cut there.
#[derive(Clone)]
pub(crate) struct Output {
    stream: Stream,
    label: Arc<str>,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl Output {
    pub(crate) fn new(stream: Stream, label: Arc<str>) -> Self {
        Output {
            stream,
            label,
            pending: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn write(&self, mut bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.push(&mut pending, &bytes[..end]);
            self.emit(&pending);
            pending.clear();
            bytes = &bytes[end + 1..];
        }
        self.push(&mut pending, bytes);
    }

    fn push(&self, pending: &mut Vec<u8>, bytes: &[u8]) {
        let room = MAX_LOG_LINE.saturating_sub(pending.len());
        pending.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        match self.stream {
            Stream::Stdout => tracing::info!(plugin = %self.label, stream = "stdout", "{line}"),
            Stream::Stderr => tracing::warn!(plugin = %self.label, stream = "stderr", "{line}"),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // The last clone flushes an unterminated line.
        if Arc::strong_count(&self.pending) == 1 {
            let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if !pending.is_empty() {
                self.emit(&pending);
            }
        }
    }
}

impl IsTerminal for Output {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Output {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for Output {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        Output::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(usize::MAX)
    }
}

#[async_trait::async_trait]
impl Pollable for Output {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Output {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Output::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_LOG_LINE);
        let cut = truncate(&text);
        assert!(cut.len() <= MAX_LOG_LINE && cut.len() >= MAX_LOG_LINE - 1);
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn output_lines_are_bounded() {
        let output = Output::new(Stream::Stdout, "10-test".into());
        output.write(&vec![b'x'; 3 * MAX_LOG_LINE]);
        assert_eq!(
            output
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
            MAX_LOG_LINE
        );
        output.write(b"\nnext");
        assert_eq!(
            &*output
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            b"next"
        );
    }
}
