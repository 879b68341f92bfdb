//! Multiplexer frames, without I/O: `[u32 BE conn id][u32 BE length][payload]`
//! (containerd/nri `pkg/net/multiplex/mux.go`).
//!
//! # Receiving
//! [`FrameDecoder`] takes the trunk's bytes as they arrive and yields whole
//! frames. It never allocates for a frame before the frame's bytes are
//! there, and refuses a length above [`MAX_PAYLOAD`], so a hostile length
//! field costs nothing. Zero-length frames are legal and yield an empty
//! payload.
//!
//! # Sending: the framing rule
//! A Go peer reads each virtual connection through a 4096-byte buffered
//! reader, and its multiplexer fails the whole connection if one frame is
//! larger than the buffer the reader offers (§1.2.2). We therefore send each
//! ttrpc message exactly as a Go peer does (§1.2.1), see [`message_chunks`]:
//!
//! - a message of at most 4096 bytes (10-byte ttrpc header included) goes
//!   in one frame;
//! - a longer one goes in two: the first 4096 bytes, then the rest.
//!
//! Frames never carry bytes of two messages, every message starts a frame,
//! and no message takes more than two frames, far from the 256 queued frames
//! a Go receiver tolerates. Raw byte-stream writes (see
//! [`crate::virtual_conn`]) are never coalesced: one write is one frame,
//! split only above [`MAX_PAYLOAD`].

use bytes::{Buf, Bytes, BytesMut};

/// Length of a frame header.
pub const HEADER_LEN: usize = 8;

/// Largest payload of one frame, 4 MiB plus a ttrpc header: 4,194,314 bytes.
/// Go peers never send larger frames, and split writes above it.
pub const MAX_PAYLOAD: usize = (4 << 20) + 10;

/// The read buffer size of Go's ttrpc connections; a frame sent to a Go peer
/// that starts a message must not be larger.
pub const GO_READ_BUFFER: usize = 4096;

/// A virtual connection's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

impl ConnId {
    /// Reserved; never opened.
    pub const RESERVED: ConnId = ConnId(0);
    /// Carries the `Plugin` service: the runtime is the client.
    pub const PLUGIN_SERVICE: ConnId = ConnId(1);
    /// Carries the `Runtime` service: the plugin is the client.
    pub const RUNTIME_SERVICE: ConnId = ConnId(2);
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn {}", self.0)
    }
}

/// A frame's header bytes.
pub fn encode_header(conn: ConnId, payload_len: usize) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&conn.0.to_be_bytes());
    // Callers never pass more than MAX_PAYLOAD; saturate rather than wrap.
    let len = u32::try_from(payload_len).unwrap_or(u32::MAX);
    header[4..].copy_from_slice(&len.to_be_bytes());
    header
}

/// The frame payloads one complete ttrpc message is sent in (see the
/// module docs): one chunk up to [`GO_READ_BUFFER`] bytes, else two.
pub fn message_chunks(message: &[u8]) -> (&[u8], Option<&[u8]>) {
    if message.len() <= GO_READ_BUFFER {
        (message, None)
    } else {
        let (head, tail) = message.split_at(GO_READ_BUFFER);
        (head, Some(tail))
    }
}

/// The frame payloads one raw byte-stream write is sent in: never coalesced,
/// split only above [`MAX_PAYLOAD`]. A zero-length write is one empty frame,
/// as with Go.
pub fn write_chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let empty = data.is_empty().then_some(&data[..0]);
    data.chunks(MAX_PAYLOAD).chain(empty)
}

/// A received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The virtual connection it belongs to.
    pub conn: ConnId,
    /// Its bytes.
    pub payload: Bytes,
}

/// The trunk carried something that is not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A header announced more than [`MAX_PAYLOAD`] bytes.
    #[error("{conn} announced a frame of {len} bytes, more than the limit of {MAX_PAYLOAD}")]
    Oversized {
        /// The connection named in the header.
        conn: ConnId,
        /// The announced length.
        len: u32,
    },
}

/// Cuts the trunk's byte stream into frames. An error is final: the
/// stream has no frame boundary to resume at, so every later call returns
/// the same error.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    /// The header of the frame whose payload is awaited.
    pending: Option<(ConnId, usize)>,
    /// The error that ended the stream.
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder at a frame boundary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next whole frame off the front of `buf`, if `buf` holds
    /// one. Returns `Ok(None)` when more bytes are needed; then
    /// [`needed`](Self::needed) says how many at least.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let (conn, len) = match self.pending {
            Some(pending) => pending,
            None => {
                if buf.len() < HEADER_LEN {
                    return Ok(None);
                }
                let conn = ConnId(buf.get_u32());
                let len = buf.get_u32();
                let Some(size) = usize::try_from(len).ok().filter(|&n| n <= MAX_PAYLOAD) else {
                    let error = FrameError::Oversized { conn, len };
                    self.failed = Some(error.clone());
                    return Err(error);
                };
                self.pending = Some((conn, size));
                (conn, size)
            }
        };
        if buf.len() < len {
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(Frame {
            conn,
            payload: buf.split_to(len).freeze(),
        }))
    }

    /// How many more bytes `buf` must hold before a frame can come out.
    pub fn needed(&self, buffered: usize) -> usize {
        match self.pending {
            Some((_, len)) => len.saturating_sub(buffered),
            None => HEADER_LEN.saturating_sub(buffered),
        }
    }

    /// Whether the decoder stopped at a frame boundary with nothing
    /// buffered, i.e. an end of stream here is clean.
    pub fn at_boundary(&self, buffered: usize) -> bool {
        self.pending.is_none() && buffered == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(conn: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = encode_header(ConnId(conn), payload.len()).to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn header_is_big_endian_conn_then_length() {
        assert_eq!(
            encode_header(ConnId::RUNTIME_SERVICE, 83),
            [0, 0, 0, 2, 0, 0, 0, 0x53]
        );
    }

    #[test]
    fn frames_come_out_whole_whatever_the_read_boundaries() {
        let mut wire = frame(1, b"hello");
        wire.extend(frame(2, b""));
        wire.extend(frame(7, b"xyz"));
        for cut in 0..wire.len() {
            let mut decoder = FrameDecoder::new();
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in [&wire[..cut], &wire[cut..]] {
                buf.extend_from_slice(piece);
                while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                    out.push((frame.conn.0, frame.payload.to_vec()));
                }
            }
            assert_eq!(
                out,
                vec![(1, b"hello".to_vec()), (2, vec![]), (7, b"xyz".to_vec())]
            );
            assert!(decoder.at_boundary(buf.len()));
        }
    }

    #[test]
    fn a_hostile_length_is_refused_before_any_allocation() {
        let mut buf = BytesMut::from(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff][..]);
        let mut decoder = FrameDecoder::new();
        let err = decoder.decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            FrameError::Oversized {
                conn: ConnId(1),
                len: u32::MAX
            }
        );
        assert!(buf.capacity() < 64);
        // The error is final, even if a valid header follows.
        buf.extend_from_slice(&encode_header(ConnId(1), 0));
        assert_eq!(decoder.decode(&mut buf), Err(err));
    }

    #[test]
    fn the_largest_legal_frame_is_accepted() {
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::from(&encode_header(ConnId(1), MAX_PAYLOAD)[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(decoder.needed(buf.len()), MAX_PAYLOAD);
        buf.resize(MAX_PAYLOAD, 7);
        let frame = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.payload.len(), MAX_PAYLOAD);
    }

    /// §1.2.2: a frame must be no larger than what a Go reader asks for:
    /// at most 4096 bytes when it starts a message or fewer than 4096 data
    /// bytes remain, else at most the remaining data. Checked for every
    /// message size around the boundaries and up to the ttrpc limit.
    #[test]
    fn message_chunks_fit_what_a_go_reader_asks_for() {
        let sizes = (0..=4200)
            .chain([8191, 8192, 8193, 65536, 1 << 20, (4 << 20) - 1, 4 << 20])
            .map(|data_len| data_len + 10);
        for message_len in sizes {
            let message = vec![0u8; message_len];
            let (head, tail) = message_chunks(&message);
            // Frame 1 starts the message: the Go reader offers its buffer.
            assert!(head.len() <= GO_READ_BUFFER, "{message_len}");
            let data_left = message_len - head.len();
            if let Some(tail) = tail {
                assert_eq!(head.len() + tail.len(), message_len);
                let allowed = if data_left >= GO_READ_BUFFER {
                    data_left
                } else {
                    GO_READ_BUFFER
                };
                assert!(tail.len() <= allowed && tail.len() <= MAX_PAYLOAD);
            } else {
                assert_eq!(data_left, 0);
            }
        }
    }

    #[test]
    fn raw_writes_split_only_above_the_maximum_and_empty_writes_send_a_frame() {
        let data = vec![1u8; 3 * MAX_PAYLOAD + 200];
        let lens: Vec<usize> = write_chunks(&data).map(<[u8]>::len).collect();
        assert_eq!(lens, vec![MAX_PAYLOAD, MAX_PAYLOAD, MAX_PAYLOAD, 200]);
        assert_eq!(write_chunks(&[]).map(<[u8]>::len).collect::<Vec<_>>(), [0]);
        assert_eq!(
            write_chunks(&[5; 10]).map(<[u8]>::len).collect::<Vec<_>>(),
            [10]
        );
    }
}
