//! The HTTP/2 settings of every connection this crate makes or accepts,
//! given to hyper (and so to h2, which enforces them). One place, so the
//! runtime's and the plugin's side agree and the bounds are reviewable.
//!
//! What bounds a peer: at most [`MAX_CONCURRENT_STREAMS`] calls at once on
//! a connection, each with a header list of at most [`MAX_HEADER_LIST`]
//! and a message of at most [`MAX_MESSAGE_SIZE`] (tonic refuses a longer
//! one with `RESOURCE_EXHAUSTED` and stops reading it); an answer waits in
//! at most [`MAX_SEND_BUFFER`] per stream for a peer that does not read.
//! h2 answers PINGs and SETTINGS only as fast as the peer reads the
//! answers, and limits streams a peer resets (rapid reset). No keepalive
//! pings are sent: stock gRPC servers punish pings more often than every
//! five minutes, and a session's end is seen on its connection.

use hyper_util::rt::TokioExecutor;

use crate::protocol::MAX_MESSAGE_SIZE;

/// Calls one connection may carry at once, each way.
pub(crate) const MAX_CONCURRENT_STREAMS: u32 = 64;

/// The largest header list a peer may send (metadata included).
pub(crate) const MAX_HEADER_LIST: u32 = 64 << 10;

/// The flow-control window of each stream: a whole maximal message fits,
/// so a large Synchronize does not wait for window updates.
const STREAM_WINDOW: u32 = (MAX_MESSAGE_SIZE + 5) as u32;

/// The flow-control window of a connection.
const CONNECTION_WINDOW: u32 = 2 * STREAM_WINDOW;

/// What an answer may keep buffered per stream for a peer that does not
/// read it.
pub(crate) const MAX_SEND_BUFFER: usize = 256 << 10;

/// Applies the settings both sides share to hyper's builder of either
/// side (the two builders are distinct types with the same methods).
macro_rules! shared {
    ($builder:expr) => {
        $builder
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_header_list_size(MAX_HEADER_LIST)
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_send_buf_size(MAX_SEND_BUFFER)
            .keep_alive_interval(None)
    };
}

/// A server connection's builder with these settings.
pub(crate) fn server() -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    shared!(builder).auto_date_header(false);
    builder
}

/// A client connection's builder with these settings.
pub(crate) fn client() -> hyper::client::conn::http2::Builder<TokioExecutor> {
    let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
    shared!(builder);
    builder
}
