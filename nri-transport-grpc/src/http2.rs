//! The part of HTTP/2 (RFC 9113) that unary gRPC calls use, over one
//! socket, both sides: what a stock gRPC library (grpc-core, grpc-go,
//! tonic/h2) sends is read, and what is sent is plain enough for any of
//! them.
//!
//! - [`frame`]: frames in and out, no I/O.
//! - [`hpack`]: header blocks (stateless encoding; decoding with the
//!   peer's dynamic table, bounded).
//! - [`connection`]: streams, flow control, settings and the write path;
//!   `connection::reader`, the read loop.
//!
//! What is left out, by design: server push (disabled in our settings;
//! a PUSH_PROMISE is a connection error), priorities (read and ignored),
//! pings of our own (peers' pings are answered), and streaming calls (a
//! stream carries one request and one response). Each request is answered
//! with HEADERS, its DATA and trailers in one write when the peer's window
//! allows, and a call's HEADERS and DATA leave together the same way: one
//! wake-up of the peer per message.

pub(crate) mod connection;
pub(crate) mod frame;
pub(crate) mod hpack;

#[cfg(test)]
mod tests;
