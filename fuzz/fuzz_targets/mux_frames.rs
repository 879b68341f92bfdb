//! Feeds arbitrary bytes, in reads of a size the first byte picks, to the
//! multiplexer's frame decoder, and every frame's payload to a ttrpc message
//! decoder per connection id. Checks the documented buffer bounds, and that
//! the frames and messages are the same as when the whole input arrives in
//! one read.
#![no_main]

use std::collections::BTreeMap;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nri_transport_ttrpc::frame::{self, FrameDecoder, FrameError, MAX_PAYLOAD};
use nri_transport_ttrpc::message::{self, Decoded, MAX_DATA, MessageDecoder};

/// Everything a run produced, in order.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    frames: Vec<(u32, Vec<u8>)>,
    messages: Vec<(u32, Decoded)>,
    error: Option<FrameError>,
    /// Whether the trunk ended between frames.
    at_boundary: bool,
}

fn run(data: &[u8], read: usize) -> Run {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut conns: BTreeMap<u32, MessageDecoder> = BTreeMap::new();
    let mut out = Run {
        frames: Vec::new(),
        messages: Vec::new(),
        error: None,
        at_boundary: false,
    };
    'reads: for piece in data.chunks(read) {
        buf.extend_from_slice(piece);
        assert!(buf.len() <= MAX_PAYLOAD + frame::HEADER_LEN + piece.len());
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() <= MAX_PAYLOAD);
                    let conn = frame.conn.0;
                    let messages = conns.entry(conn).or_default();
                    messages.push(frame.payload.clone());
                    assert!(
                        messages.buffered() <= MAX_DATA + message::HEADER_LEN + frame.payload.len()
                    );
                    while let Some(decoded) = messages.next_message() {
                        match &decoded {
                            Decoded::Message(m) => {
                                assert_eq!(m.data.len(), m.header.length as usize);
                            }
                            Decoded::Oversized(header) => {
                                assert!(header.length as usize > MAX_DATA);
                            }
                        }
                        out.messages.push((conn, decoded));
                    }
                    out.frames.push((conn, frame.payload.to_vec()));
                }
                Ok(None) => {
                    assert!(decoder.needed(buf.len()) > 0);
                    break;
                }
                Err(error) => {
                    out.error = Some(error);
                    break 'reads;
                }
            }
        }
    }
    out.at_boundary = out.error.is_none() && decoder.at_boundary(buf.len());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    // Reads of 1 to 256 bytes.
    let read = usize::from(first) + 1;
    let chunked = run(data, read);
    let whole = run(data, data.len().max(1));
    assert_eq!(chunked, whole);
});
