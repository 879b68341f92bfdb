//! HTTP/2 frames (RFC 9113 §4 and §6): the 9-byte frame header, the frame
//! types this implementation reads, and the encoders of the frames it
//! writes. No I/O: [`decode`] cuts frames off the front of a buffer.

use bytes::{Buf, Bytes, BytesMut};

/// The length of a frame header.
pub(crate) const HEAD_LEN: usize = 9;

/// The smallest maximum frame size a peer may set, and the default.
pub(crate) const DEFAULT_MAX_FRAME: usize = 16_384;

/// The largest maximum frame size a peer may set.
pub(crate) const LARGEST_MAX_FRAME: usize = (1 << 24) - 1;

/// The largest flow-control window.
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The connection preface a client sends first.
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types.
pub(crate) mod kind {
    pub(crate) const DATA: u8 = 0;
    pub(crate) const HEADERS: u8 = 1;
    pub(crate) const PRIORITY: u8 = 2;
    pub(crate) const RST_STREAM: u8 = 3;
    pub(crate) const SETTINGS: u8 = 4;
    pub(crate) const PUSH_PROMISE: u8 = 5;
    pub(crate) const PING: u8 = 6;
    pub(crate) const GOAWAY: u8 = 7;
    pub(crate) const WINDOW_UPDATE: u8 = 8;
    pub(crate) const CONTINUATION: u8 = 9;
}

/// Frame flags.
pub(crate) mod flag {
    pub(crate) const END_STREAM: u8 = 0x1;
    pub(crate) const ACK: u8 = 0x1;
    pub(crate) const END_HEADERS: u8 = 0x4;
    pub(crate) const PADDED: u8 = 0x8;
    pub(crate) const PRIORITY: u8 = 0x20;
}

/// Setting identifiers.
pub(crate) mod setting {
    pub(crate) const HEADER_TABLE_SIZE: u16 = 1;
    pub(crate) const ENABLE_PUSH: u16 = 2;
    pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 3;
    pub(crate) const INITIAL_WINDOW_SIZE: u16 = 4;
    pub(crate) const MAX_FRAME_SIZE: u16 = 5;
    pub(crate) const MAX_HEADER_LIST_SIZE: u16 = 6;
}

/// An HTTP/2 error code (RFC 9113 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reason(pub(crate) u32);

impl Reason {
    pub(crate) const NO_ERROR: Reason = Reason(0);
    pub(crate) const PROTOCOL_ERROR: Reason = Reason(1);
    pub(crate) const FLOW_CONTROL_ERROR: Reason = Reason(3);
    pub(crate) const STREAM_CLOSED: Reason = Reason(5);
    pub(crate) const FRAME_SIZE_ERROR: Reason = Reason(6);
    pub(crate) const REFUSED_STREAM: Reason = Reason(7);
    pub(crate) const CANCEL: Reason = Reason(8);
    pub(crate) const COMPRESSION_ERROR: Reason = Reason(9);
    pub(crate) const ENHANCE_YOUR_CALM: Reason = Reason(11);

    /// The code's name, for messages.
    pub(crate) fn name(self) -> &'static str {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        usize::try_from(self.0)
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or("an unknown error code")
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A connection error: the peer broke the protocol, and the connection
/// ends with a GOAWAY carrying `reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP/2 {reason}: {message}")]
pub(crate) struct ConnError {
    pub(crate) reason: Reason,
    pub(crate) message: String,
}

impl ConnError {
    pub(crate) fn new(reason: Reason, message: impl Into<String>) -> Self {
        ConnError {
            reason,
            message: message.into(),
        }
    }

    fn protocol(message: impl Into<String>) -> Self {
        ConnError::new(Reason::PROTOCOL_ERROR, message)
    }
}

/// A frame as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// DATA: `payload` without padding; `flow` is what it counts against
    /// flow control (the whole frame payload, padding included).
    Data {
        stream: u32,
        end_stream: bool,
        payload: Bytes,
        flow: usize,
    },
    /// HEADERS, without padding and priority.
    Headers {
        stream: u32,
        end_stream: bool,
        end_headers: bool,
        block: Bytes,
    },
    /// CONTINUATION of a header block.
    Continuation {
        stream: u32,
        end_headers: bool,
        block: Bytes,
    },
    /// RST_STREAM.
    Reset { stream: u32, reason: Reason },
    /// SETTINGS: an acknowledgement, or parameters in order.
    Settings { ack: bool, params: Vec<(u16, u32)> },
    /// PUSH_PROMISE (never allowed here: push is disabled).
    PushPromise { stream: u32 },
    /// PING.
    Ping { ack: bool, data: [u8; 8] },
    /// GOAWAY.
    GoAway {
        last_stream: u32,
        reason: Reason,
        debug: Bytes,
    },
    /// WINDOW_UPDATE (`increment` may be 0, which is an error the caller
    /// judges: on a stream it ends only that stream).
    WindowUpdate { stream: u32, increment: u32 },
    /// PRIORITY, or a frame type this implementation ignores.
    Ignored,
}

/// Cuts the next whole frame off `buf`: `Ok(None)` until one has arrived.
/// Frames longer than `max_len` (what this side advertised) are a
/// connection error, before any of the payload is buffered.
pub(crate) fn decode(buf: &mut BytesMut, max_len: usize) -> Result<Option<Frame>, ConnError> {
    let Some(head) = buf.get(..HEAD_LEN) else {
        return Ok(None);
    };
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    if len > max_len {
        return Err(ConnError::new(
            Reason::FRAME_SIZE_ERROR,
            format!("a frame of {len} bytes exceeds the maximum of {max_len}"),
        ));
    }
    if buf.len() < HEAD_LEN + len {
        return Ok(None);
    }
    let kind = head[3];
    let flags = head[4];
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    buf.advance(HEAD_LEN);
    let payload = buf.split_to(len).freeze();
    parse(kind, flags, stream, payload).map(Some)
}

/// Needs `stream` to be a stream (not 0) for frame type `what`.
fn on_stream(stream: u32, what: &str) -> Result<u32, ConnError> {
    if stream == 0 {
        return Err(ConnError::protocol(format!("{what} on stream 0")));
    }
    Ok(stream)
}

/// Needs `stream` to be 0 for frame type `what`.
fn on_connection(stream: u32, what: &str) -> Result<(), ConnError> {
    if stream != 0 {
        return Err(ConnError::protocol(format!("{what} on stream {stream}")));
    }
    Ok(())
}

/// Needs `payload` to be exactly `len` bytes for frame type `what`.
fn sized(payload: &Bytes, len: usize, what: &str) -> Result<(), ConnError> {
    if payload.len() != len {
        return Err(ConnError::new(
            Reason::FRAME_SIZE_ERROR,
            format!("{what} of {} bytes (must be {len})", payload.len()),
        ));
    }
    Ok(())
}

/// Removes the padding of a PADDED frame.
fn unpad(mut payload: Bytes, flags: u8, what: &str) -> Result<Bytes, ConnError> {
    if flags & flag::PADDED == 0 {
        return Ok(payload);
    }
    if payload.is_empty() {
        return Err(ConnError::protocol(format!(
            "padded {what} without a pad length"
        )));
    }
    let pad = usize::from(payload.get_u8());
    if pad > payload.len() {
        return Err(ConnError::protocol(format!(
            "{what} padding of {pad} bytes in a payload of {}",
            payload.len()
        )));
    }
    payload.truncate(payload.len() - pad);
    Ok(payload)
}

fn parse(kind: u8, flags: u8, stream: u32, payload: Bytes) -> Result<Frame, ConnError> {
    Ok(match kind {
        kind::DATA => {
            let flow = payload.len();
            Frame::Data {
                stream: on_stream(stream, "DATA")?,
                end_stream: flags & flag::END_STREAM != 0,
                payload: unpad(payload, flags, "DATA")?,
                flow,
            }
        }
        kind::HEADERS => {
            let stream = on_stream(stream, "HEADERS")?;
            let mut block = unpad(payload, flags, "HEADERS")?;
            if flags & flag::PRIORITY != 0 {
                if block.len() < 5 {
                    return Err(ConnError::new(
                        Reason::FRAME_SIZE_ERROR,
                        "HEADERS too short for its priority",
                    ));
                }
                let dependency = block.get_u32() & 0x7fff_ffff;
                block.advance(1);
                if dependency == stream {
                    return Err(ConnError::protocol("a stream that depends on itself"));
                }
            }
            Frame::Headers {
                stream,
                end_stream: flags & flag::END_STREAM != 0,
                end_headers: flags & flag::END_HEADERS != 0,
                block,
            }
        }
        kind::PRIORITY => {
            on_stream(stream, "PRIORITY")?;
            sized(&payload, 5, "PRIORITY")?;
            Frame::Ignored
        }
        kind::RST_STREAM => {
            let stream = on_stream(stream, "RST_STREAM")?;
            sized(&payload, 4, "RST_STREAM")?;
            let mut payload = payload;
            Frame::Reset {
                stream,
                reason: Reason(payload.get_u32()),
            }
        }
        kind::SETTINGS => {
            on_connection(stream, "SETTINGS")?;
            let ack = flags & flag::ACK != 0;
            if ack && !payload.is_empty() {
                return Err(ConnError::new(
                    Reason::FRAME_SIZE_ERROR,
                    "a SETTINGS acknowledgement with a payload",
                ));
            }
            if !payload.len().is_multiple_of(6) {
                return Err(ConnError::new(
                    Reason::FRAME_SIZE_ERROR,
                    format!("SETTINGS of {} bytes", payload.len()),
                ));
            }
            let params = payload
                .chunks_exact(6)
                .map(|p| {
                    (
                        u16::from_be_bytes([p[0], p[1]]),
                        u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                    )
                })
                .collect();
            Frame::Settings { ack, params }
        }
        kind::PUSH_PROMISE => Frame::PushPromise { stream },
        kind::PING => {
            on_connection(stream, "PING")?;
            sized(&payload, 8, "PING")?;
            let mut data = [0u8; 8];
            data.copy_from_slice(&payload);
            Frame::Ping {
                ack: flags & flag::ACK != 0,
                data,
            }
        }
        kind::GOAWAY => {
            on_connection(stream, "GOAWAY")?;
            if payload.len() < 8 {
                return Err(ConnError::new(Reason::FRAME_SIZE_ERROR, "GOAWAY too short"));
            }
            let mut payload = payload;
            let last_stream = payload.get_u32() & 0x7fff_ffff;
            let reason = Reason(payload.get_u32());
            Frame::GoAway {
                last_stream,
                reason,
                debug: payload,
            }
        }
        kind::WINDOW_UPDATE => {
            sized(&payload, 4, "WINDOW_UPDATE")?;
            let mut payload = payload;
            Frame::WindowUpdate {
                stream,
                increment: payload.get_u32() & 0x7fff_ffff,
            }
        }
        kind::CONTINUATION => Frame::Continuation {
            stream: on_stream(stream, "CONTINUATION")?,
            end_headers: flags & flag::END_HEADERS != 0,
            block: payload,
        },
        _ => Frame::Ignored,
    })
}

/// A frame header.
pub(crate) fn head(len: usize, kind: u8, flags: u8, stream: u32) -> [u8; HEAD_LEN] {
    let len = u32::try_from(len.min(LARGEST_MAX_FRAME))
        .unwrap_or(0)
        .to_be_bytes();
    let stream = (stream & 0x7fff_ffff).to_be_bytes();
    [
        len[1], len[2], len[3], kind, flags, stream[0], stream[1], stream[2], stream[3],
    ]
}

/// Appends a whole frame with `payload` to `out`.
fn put(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&head(payload.len(), kind, flags, stream));
    out.extend_from_slice(payload);
}

/// SETTINGS with `params`.
pub(crate) fn settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    let mut payload = Vec::with_capacity(6 * params.len());
    for (id, value) in params {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    put(out, kind::SETTINGS, 0, 0, &payload);
}

/// The acknowledgement of the peer's SETTINGS.
pub(crate) fn settings_ack(out: &mut Vec<u8>) {
    put(out, kind::SETTINGS, flag::ACK, 0, &[]);
}

/// The answer to a PING.
pub(crate) fn ping_ack(out: &mut Vec<u8>, data: [u8; 8]) {
    put(out, kind::PING, flag::ACK, 0, &data);
}

/// WINDOW_UPDATE of `increment` (1 ..= 2^31-1) on `stream` (0: the
/// connection).
pub(crate) fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    put(
        out,
        kind::WINDOW_UPDATE,
        0,
        stream,
        &increment.to_be_bytes(),
    );
}

/// RST_STREAM.
pub(crate) fn reset(out: &mut Vec<u8>, stream: u32, reason: Reason) {
    put(out, kind::RST_STREAM, 0, stream, &reason.0.to_be_bytes());
}

/// GOAWAY, with `debug` as its debug data.
pub(crate) fn go_away(out: &mut Vec<u8>, last_stream: u32, reason: Reason, debug: &str) {
    let mut payload = Vec::with_capacity(8 + debug.len());
    payload.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    payload.extend_from_slice(&reason.0.to_be_bytes());
    payload.extend_from_slice(debug.as_bytes());
    put(out, kind::GOAWAY, 0, 0, &payload);
}

/// A header block as HEADERS and as many CONTINUATION frames as frames of
/// `max_frame` bytes need.
pub(crate) fn headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let max_frame = max_frame.max(1);
    let mut chunks = block.chunks(max_frame).peekable();
    let mut first = true;
    let end = if end_stream { flag::END_STREAM } else { 0 };
    // An empty block is one empty HEADERS frame.
    if block.is_empty() {
        put(out, kind::HEADERS, end | flag::END_HEADERS, stream, &[]);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let end_headers = if last { flag::END_HEADERS } else { 0 };
        if first {
            put(out, kind::HEADERS, end | end_headers, stream, chunk);
            first = false;
        } else {
            put(out, kind::CONTINUATION, end_headers, stream, chunk);
        }
    }
}

/// The header of a DATA frame of `len` bytes.
pub(crate) fn data_head(len: usize, end_stream: bool, stream: u32) -> [u8; HEAD_LEN] {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    head(len, kind::DATA, flags, stream)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn one(bytes: &[u8]) -> Result<Option<Frame>, ConnError> {
        decode(&mut BytesMut::from(bytes), DEFAULT_MAX_FRAME)
    }

    #[test]
    fn written_frames_read_back() {
        let mut out = Vec::new();
        settings(&mut out, &[(setting::INITIAL_WINDOW_SIZE, 1 << 20)]);
        settings_ack(&mut out);
        ping_ack(&mut out, *b"12345678");
        window_update(&mut out, 3, 77);
        reset(&mut out, 5, Reason::CANCEL);
        go_away(&mut out, 7, Reason::NO_ERROR, "bye");
        headers(&mut out, 9, &[1, 2, 3, 4, 5], true, 2);
        let mut buf = BytesMut::from(&out[..]);
        let mut frames = Vec::new();
        while let Some(frame) = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap() {
            frames.push(frame);
        }
        assert!(buf.is_empty());
        assert_eq!(
            frames,
            vec![
                Frame::Settings {
                    ack: false,
                    params: vec![(setting::INITIAL_WINDOW_SIZE, 1 << 20)]
                },
                Frame::Settings {
                    ack: true,
                    params: vec![]
                },
                Frame::Ping {
                    ack: true,
                    data: *b"12345678"
                },
                Frame::WindowUpdate {
                    stream: 3,
                    increment: 77
                },
                Frame::Reset {
                    stream: 5,
                    reason: Reason::CANCEL
                },
                Frame::GoAway {
                    last_stream: 7,
                    reason: Reason::NO_ERROR,
                    debug: Bytes::from_static(b"bye")
                },
                Frame::Headers {
                    stream: 9,
                    end_stream: true,
                    end_headers: false,
                    block: Bytes::from_static(&[1, 2])
                },
                Frame::Continuation {
                    stream: 9,
                    end_headers: false,
                    block: Bytes::from_static(&[3, 4])
                },
                Frame::Continuation {
                    stream: 9,
                    end_headers: true,
                    block: Bytes::from_static(&[5])
                },
            ]
        );
    }

    #[test]
    fn padding_and_priority_are_removed() {
        // DATA, padded: pad length 2, "ab", two bytes of padding.
        let mut data = head(5, kind::DATA, flag::PADDED | flag::END_STREAM, 1).to_vec();
        data.extend_from_slice(&[2, b'a', b'b', 0, 0]);
        assert_eq!(
            one(&data).unwrap(),
            Some(Frame::Data {
                stream: 1,
                end_stream: true,
                payload: Bytes::from_static(b"ab"),
                flow: 5
            })
        );
        // HEADERS with padding and priority.
        let mut headers = head(8, kind::HEADERS, flag::PADDED | flag::PRIORITY, 3).to_vec();
        headers.extend_from_slice(&[1, 0, 0, 0, 1, 16, 0x82, 0]);
        assert_eq!(
            one(&headers).unwrap(),
            Some(Frame::Headers {
                stream: 3,
                end_stream: false,
                end_headers: false,
                block: Bytes::from_static(&[0x82])
            })
        );
    }

    #[test]
    fn malformed_frames_are_connection_errors() {
        let cases: Vec<(Vec<u8>, Reason)> = vec![
            // Longer than advertised: refused from the header alone.
            (
                head(DEFAULT_MAX_FRAME + 1, kind::DATA, 0, 1).to_vec(),
                Reason::FRAME_SIZE_ERROR,
            ),
            // DATA on stream 0.
            (head(0, kind::DATA, 0, 0).to_vec(), Reason::PROTOCOL_ERROR),
            // SETTINGS on a stream, of a bad length, an ACK with a payload.
            (
                head(0, kind::SETTINGS, 0, 1).to_vec(),
                Reason::PROTOCOL_ERROR,
            ),
            (
                [&head(5, kind::SETTINGS, 0, 0)[..], &[0; 5]].concat(),
                Reason::FRAME_SIZE_ERROR,
            ),
            (
                [&head(6, kind::SETTINGS, flag::ACK, 0)[..], &[0; 6]].concat(),
                Reason::FRAME_SIZE_ERROR,
            ),
            // PING of the wrong size.
            (
                [&head(7, kind::PING, 0, 0)[..], &[0; 7]].concat(),
                Reason::FRAME_SIZE_ERROR,
            ),
            // Padding longer than the payload.
            (
                [&head(2, kind::DATA, flag::PADDED, 1)[..], &[5, 0]].concat(),
                Reason::PROTOCOL_ERROR,
            ),
            // A padded frame with nothing in it.
            (
                head(0, kind::HEADERS, flag::PADDED, 1).to_vec(),
                Reason::PROTOCOL_ERROR,
            ),
            // A stream depending on itself.
            (
                [
                    &head(5, kind::HEADERS, flag::PRIORITY, 1)[..],
                    &[0, 0, 0, 1, 0],
                ]
                .concat(),
                Reason::PROTOCOL_ERROR,
            ),
            // WINDOW_UPDATE and RST_STREAM of the wrong size, GOAWAY too short.
            (
                [&head(3, kind::WINDOW_UPDATE, 0, 0)[..], &[0; 3]].concat(),
                Reason::FRAME_SIZE_ERROR,
            ),
            (
                [&head(5, kind::RST_STREAM, 0, 1)[..], &[0; 5]].concat(),
                Reason::FRAME_SIZE_ERROR,
            ),
            (
                [&head(4, kind::GOAWAY, 0, 0)[..], &[0; 4]].concat(),
                Reason::FRAME_SIZE_ERROR,
            ),
        ];
        for (bytes, reason) in cases {
            let error = one(&bytes).unwrap_err();
            assert_eq!(error.reason, reason, "{bytes:?}: {error}");
        }
    }

    #[test]
    fn partial_frames_wait_and_unknown_types_are_ignored() {
        let mut out = Vec::new();
        window_update(&mut out, 0, 1);
        for cut in 0..out.len() {
            assert_eq!(one(&out[..cut]).unwrap(), None, "cut at {cut}");
        }
        let unknown = [&head(3, 0xfa, 0xff, 9)[..], b"xyz"].concat();
        assert_eq!(one(&unknown).unwrap(), Some(Frame::Ignored));
    }

    proptest::proptest! {
        /// Whatever the bytes, decoding ends in frames, a wait for more, or
        /// a connection error, and consumes only whole frames.
        #[test]
        fn any_bytes_decode_or_fail(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut buf = BytesMut::from(&bytes[..]);
            loop {
                let before = buf.len();
                match decode(&mut buf, 64) {
                    Ok(Some(_)) => proptest::prop_assert!(buf.len() < before),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
