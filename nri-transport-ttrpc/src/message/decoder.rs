//! Reassembles the ttrpc messages of one virtual connection from the frame
//! payloads it receives, which may cut messages anywhere.
//!
//! Memory is bounded: the decoder holds at most the current message (at
//! most [`MAX_DATA`] + 10 bytes) and the rest of the last frame, and it
//! allocates only for bytes that arrived, never for a length a header
//! announces. Messages that arrive whole in one frame (every message of at
//! most 4096 bytes from a Go peer, and ours) are sliced out of the frame
//! without copying; only a message cut across frames is gathered into a
//! buffer of its own. A header
//! announcing more than [`MAX_DATA`] is not buffered: its body is skipped as
//! it arrives and the decoder reports [`Decoded::Oversized`], so the
//! receiver can answer that stream with an error as Go ttrpc does.

use bytes::{Buf, Bytes, BytesMut};

use super::{HEADER_LEN, MAX_DATA, MessageHeader};

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its header.
    pub header: MessageHeader,
    /// Its body (`header.length` bytes).
    pub data: Bytes,
}

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A whole message.
    Message(Message),
    /// A message longer than [`MAX_DATA`]; its body is being skipped.
    Oversized(MessageHeader),
}

/// Reassembles ttrpc messages of one virtual connection.
#[derive(Debug, Default)]
pub struct MessageDecoder {
    /// The unread rest of the last frame, while nothing is gathered.
    frame: Bytes,
    /// The start of a message cut across frames, with what followed it.
    /// When it is not empty, `frame` is.
    buf: BytesMut,
    /// Body bytes of an oversized message still to skip.
    skip: usize,
}

impl MessageDecoder {
    /// A decoder at a message boundary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes received on the connection (a frame's payload).
    pub fn push(&mut self, mut bytes: Bytes) {
        if self.skip > 0 {
            let skipped = self.skip.min(bytes.len());
            self.skip -= skipped;
            bytes.advance(skipped);
        }
        if bytes.is_empty() {
            return;
        }
        if self.buf.is_empty() && self.frame.is_empty() {
            self.frame = bytes;
            return;
        }
        // A message continues from an earlier frame: gather it. Only the
        // bytes that arrived are copied; nothing is reserved ahead.
        if !self.frame.is_empty() {
            self.buf.extend_from_slice(&self.frame);
            self.frame = Bytes::new();
        }
        self.buf.extend_from_slice(&bytes);
    }

    /// The next message, if one is complete.
    pub fn next_message(&mut self) -> Option<Decoded> {
        if self.skip > 0 {
            return None;
        }
        if !self.buf.is_empty() {
            // Decode from the gathered bytes once a message is complete
            // (or known to be oversized).
            let header = header_of(&self.buf)?;
            let length = header.length as usize;
            if length <= MAX_DATA && self.buf.len() < HEADER_LEN + length {
                return None;
            }
            self.frame = std::mem::take(&mut self.buf).freeze();
        }
        next_in(&mut self.frame, &mut self.skip)
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.frame.len() + self.buf.len()
    }

    /// Whether the decoder is between messages with nothing buffered.
    pub fn at_boundary(&self) -> bool {
        self.buffered() == 0 && self.skip == 0
    }
}

/// The header at the start of `buf`, if it is all there.
fn header_of(buf: &[u8]) -> Option<MessageHeader> {
    let bytes: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
    Some(MessageHeader::decode(bytes))
}

/// Lets go of an emptied frame's memory, which the trunk reader reuses
/// once nothing refers to it any more.
fn release_if_empty(frame: &mut Bytes) {
    if frame.is_empty() {
        *frame = Bytes::new();
    }
}

/// The next message in `frame`, sliced out of it, or `None` if it is not
/// all there; an oversized message's body is dropped as far as `frame`
/// goes and the rest is left in `skip`.
fn next_in(frame: &mut Bytes, skip: &mut usize) -> Option<Decoded> {
    let header = header_of(frame)?;
    let length = header.length as usize;
    if length > MAX_DATA {
        frame.advance(HEADER_LEN);
        let skipped = length.min(frame.len());
        frame.advance(skipped);
        *skip = length - skipped;
        release_if_empty(frame);
        return Some(Decoded::Oversized(header));
    }
    if frame.len() < HEADER_LEN + length {
        // Nothing is reserved on the header's word: what is left is
        // gathered with the bytes that actually arrive.
        return None;
    }
    frame.advance(HEADER_LEN);
    let data = frame.split_to(length);
    release_if_empty(frame);
    Some(Decoded::Message(Message { header, data }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{TYPE_REQUEST, TYPE_RESPONSE};

    fn message(stream_id: u32, kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = MessageHeader {
            length: body.len() as u32,
            stream_id,
            kind,
            flags: 0,
        }
        .encode()
        .to_vec();
        out.extend_from_slice(body);
        out
    }

    fn drain(decoder: &mut MessageDecoder) -> Vec<Decoded> {
        std::iter::from_fn(|| decoder.next_message()).collect()
    }

    #[test]
    fn messages_are_reassembled_across_any_cut() {
        let mut wire = message(1, TYPE_REQUEST, b"abc");
        wire.extend(message(3, TYPE_RESPONSE, b""));
        wire.extend(message(5, TYPE_REQUEST, &[9; 5000]));
        for cut in 0..wire.len() {
            let mut decoder = MessageDecoder::new();
            decoder.push(Bytes::copy_from_slice(&wire[..cut]));
            let mut out = drain(&mut decoder);
            decoder.push(Bytes::copy_from_slice(&wire[cut..]));
            out.extend(drain(&mut decoder));
            let ids: Vec<u32> = out
                .iter()
                .map(|d| match d {
                    Decoded::Message(m) => m.header.stream_id,
                    Decoded::Oversized(h) => h.stream_id + 1000,
                })
                .collect();
            assert_eq!(ids, [1, 3, 5], "cut at {cut}");
            assert!(decoder.at_boundary());
        }
    }

    #[test]
    fn a_message_whole_in_one_frame_is_not_copied() {
        let mut wire = message(1, TYPE_REQUEST, b"first");
        wire.extend(message(3, TYPE_REQUEST, &[7; 3000]));
        let frame = Bytes::from(wire);
        let mut decoder = MessageDecoder::new();
        decoder.push(frame.clone());
        let mut at = 0;
        for decoded in drain(&mut decoder) {
            let Decoded::Message(m) = decoded else {
                panic!("{decoded:?}")
            };
            at += HEADER_LEN;
            assert_eq!(
                m.data.as_ptr(),
                frame[at..].as_ptr(),
                "stream {}",
                m.header.stream_id
            );
            at += m.data.len();
        }
        assert_eq!(at, frame.len());
        assert!(decoder.at_boundary());
    }

    #[test]
    fn an_oversized_message_is_skipped_without_buffering_and_the_next_one_decodes() {
        let mut decoder = MessageDecoder::new();
        let header = MessageHeader {
            length: (MAX_DATA + 1) as u32,
            stream_id: 7,
            kind: TYPE_REQUEST,
            flags: 0,
        };
        decoder.push(Bytes::copy_from_slice(&header.encode()));
        assert_eq!(decoder.next_message(), Some(Decoded::Oversized(header)));
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..4 {
            decoder.push(Bytes::from(chunk.clone()));
            assert_eq!(decoder.next_message(), None);
            assert_eq!(decoder.buffered(), 0);
        }
        let mut rest = vec![0u8; 1];
        rest.extend(message(9, TYPE_REQUEST, b"ok"));
        decoder.push(Bytes::from(rest));
        match decoder.next_message() {
            Some(Decoded::Message(m)) => assert_eq!(m.header.stream_id, 9),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_header_alone_does_not_reserve_its_body() {
        let mut decoder = MessageDecoder::new();
        let header = MessageHeader {
            length: MAX_DATA as u32,
            stream_id: 3,
            kind: TYPE_REQUEST,
            flags: 0,
        };
        decoder.push(Bytes::copy_from_slice(&header.encode()));
        decoder.push(Bytes::from_static(&[0; 100]));
        assert_eq!(decoder.next_message(), None);
        assert!(decoder.buf.capacity() < 4096, "{}", decoder.buf.capacity());
    }

    #[test]
    fn a_huge_length_does_not_reserve_memory() {
        let mut decoder = MessageDecoder::new();
        decoder.push(Bytes::from_static(&[
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0,
        ]));
        assert!(matches!(
            decoder.next_message(),
            Some(Decoded::Oversized(_))
        ));
        assert!(decoder.buf.capacity() < 1024);
    }
}
