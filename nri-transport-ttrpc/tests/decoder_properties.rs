//! Property tests of the sans-I/O decoders: the multiplexer's `FrameDecoder`,
//! the ttrpc `MessageDecoder`, and the envelope encoders.
//!
//! Both decoders are checked against a one-shot reference parser written
//! here: whatever the read boundaries, they must yield what the reference
//! finds in the whole stream, end in the same state, and never hold more
//! bytes than their documented bound.

// Tests may panic on broken fixtures; the lint is for library code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use nri_transport_ttrpc::frame::{self, ConnId, Frame, FrameDecoder, FrameError, MAX_PAYLOAD};
use nri_transport_ttrpc::message::{
    self, Decoded, MAX_DATA, MessageDecoder, MessageHeader, envelope,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message as _;

// ---------------------------------------------------------------------------
// Cutting a byte stream into reads.

/// `data` cut into pieces of the given sizes, the sizes repeated as needed.
fn pieces<'a>(data: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = data;
    let mut sizes = sizes.iter().cycle();
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = (*sizes.next()?).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(size);
        rest = tail;
        Some(piece)
    })
}

/// `data` cut at the given points; pieces may be empty.
fn cut<'a>(data: &'a [u8], points: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = points.iter().map(|p| p.index(data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        out.push(&data[start..point]);
        start = point;
    }
    out.push(&data[start..]);
    out
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes[..4].try_into().unwrap())
}

// ---------------------------------------------------------------------------
// Multiplexer frames.

/// A frame header, written independently of the library's encoder.
fn frame_header(conn: u32, len: u32) -> Vec<u8> {
    let mut out = conn.to_be_bytes().to_vec();
    out.extend_from_slice(&len.to_be_bytes());
    out
}

/// How a frame stream ended.
#[derive(Debug, PartialEq, Eq)]
enum FrameEnd {
    /// Between two frames, nothing left over.
    Boundary,
    /// Inside a header or payload; this many more bytes complete it.
    Pending { need: usize },
    /// A header the decoder refused.
    Error(FrameError),
}

type Frames = Vec<(u32, Vec<u8>)>;

/// The frames of a whole stream, read in one go.
fn reference_frames(data: &[u8]) -> (Frames, FrameEnd) {
    let mut frames = Vec::new();
    let mut rest = data;
    loop {
        if rest.is_empty() {
            return (frames, FrameEnd::Boundary);
        }
        if rest.len() < frame::HEADER_LEN {
            let need = frame::HEADER_LEN - rest.len();
            return (frames, FrameEnd::Pending { need });
        }
        let conn = be_u32(&rest[..4]);
        let len = be_u32(&rest[4..8]);
        if len as usize > MAX_PAYLOAD {
            let error = FrameError::Oversized {
                conn: ConnId(conn),
                len,
            };
            return (frames, FrameEnd::Error(error));
        }
        let body = &rest[frame::HEADER_LEN..];
        let len = len as usize;
        if body.len() < len {
            let need = len - body.len();
            return (frames, FrameEnd::Pending { need });
        }
        frames.push((conn, body[..len].to_vec()));
        rest = &body[len..];
    }
}

/// Feeds the pieces to a `FrameDecoder` the way the trunk reader does
/// (append to one `BytesMut`, then take frames until one is missing bytes)
/// and checks the buffer bound after every read.
fn decode_frames<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(Frames, FrameEnd), TestCaseError> {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        prop_assert!(
            buf.len() <= MAX_PAYLOAD + frame::HEADER_LEN + piece.len(),
            "{} bytes buffered after a read of {}",
            buf.len(),
            piece.len()
        );
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Frame { conn, payload })) => frames.push((conn.0, payload.to_vec())),
                Ok(None) => {
                    prop_assert!(decoder.needed(buf.len()) > 0, "stalled needing nothing");
                    break;
                }
                Err(error) => return Ok((frames, FrameEnd::Error(error))),
            }
        }
    }
    let end = if decoder.at_boundary(buf.len()) {
        FrameEnd::Boundary
    } else {
        FrameEnd::Pending {
            need: decoder.needed(buf.len()),
        }
    };
    Ok((frames, end))
}

/// Byte streams that are mostly frame-shaped: headers with small or
/// limit-sized lengths, bodies that may not match them, and noise.
fn frame_stream() -> impl Strategy<Value = Vec<u8>> {
    let limit = MAX_PAYLOAD as u32;
    let segment = prop_oneof![
        vec(any::<u8>(), 0..48),
        (any::<u32>(), 0u32..200, vec(any::<u8>(), 0..200)).prop_map(|(conn, len, body)| {
            let mut out = frame_header(conn, len);
            out.extend(body);
            out
        }),
        (
            any::<u32>(),
            prop_oneof![Just(limit), Just(limit + 1), any::<u32>()]
        )
            .prop_map(|(conn, len)| frame_header(conn, len)),
    ];
    prop_oneof![
        vec(any::<u8>(), 0..1024),
        vec(segment, 0..12).prop_map(|segments| segments.concat()),
    ]
}

proptest! {
    #[test]
    fn any_bytes_in_any_reads_decode_like_the_whole_stream(
        data in frame_stream(),
        sizes in vec(1usize..64, 1..8),
    ) {
        let (frames, end) = decode_frames(pieces(&data, &sizes))?;
        let (want_frames, want_end) = reference_frames(&data);
        prop_assert_eq!(frames, want_frames);
        prop_assert_eq!(end, want_end);
    }

    #[test]
    fn encoded_frames_come_back_the_same_whatever_the_cuts(
        frames in vec((any::<u32>(), vec(any::<u8>(), 0..5000)), 0..8),
        points in vec(any::<Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        for (conn, payload) in &frames {
            wire.extend(frame::encode_header(ConnId(*conn), payload.len()));
            wire.extend(payload);
        }
        let (decoded, end) = decode_frames(cut(&wire, &points))?;
        prop_assert_eq!(decoded, frames);
        prop_assert_eq!(end, FrameEnd::Boundary);
    }
}

proptest! {
    // Each case moves over 8 MiB; a few are enough.
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn frames_at_the_size_limit_stay_within_the_buffer_bound(
        conn: u32,
        shortfall in 0usize..3,
        fill: u8,
        refuse_second: bool,
        tail in vec((any::<u32>(), vec(any::<u8>(), 0..64)), 0..4),
        sizes in vec(1024usize..(6 << 20), 1..4),
    ) {
        let len = MAX_PAYLOAD - shortfall;
        let mut wire = frame_header(conn, len as u32);
        wire.resize(wire.len() + len, fill);
        let second = if refuse_second { MAX_PAYLOAD + 1 } else { MAX_PAYLOAD };
        wire.extend(frame_header(conn ^ 1, second as u32));
        wire.resize(wire.len() + MAX_PAYLOAD, !fill);
        for (conn, payload) in &tail {
            wire.extend(frame_header(*conn, payload.len() as u32));
            wire.extend(payload);
        }
        let (frames, end) = decode_frames(pieces(&wire, &sizes))?;
        let (want_frames, want_end) = reference_frames(&wire);
        prop_assert_eq!(frames.len(), want_frames.len());
        prop_assert!(frames == want_frames);
        prop_assert_eq!(end, want_end);
    }
}

// ---------------------------------------------------------------------------
// ttrpc messages.

/// What a message decoder yields, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Message(MessageHeader, Vec<u8>),
    Oversized(MessageHeader),
}

/// How a message stream ended.
#[derive(Debug, PartialEq, Eq)]
struct MessageEnd {
    /// Bytes held for an incomplete message.
    buffered: usize,
    /// Between messages, nothing held, nothing left to skip.
    at_boundary: bool,
}

/// A message header, written independently of the library's encoder.
fn message_header(length: u32, stream_id: u32, kind: u8, flags: u8) -> Vec<u8> {
    let mut out = length.to_be_bytes().to_vec();
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(&[kind, flags]);
    out
}

/// The messages of a whole stream, read in one go.
fn reference_messages(data: &[u8]) -> (Vec<Out>, MessageEnd) {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        if rest.len() < message::HEADER_LEN {
            let end = MessageEnd {
                buffered: rest.len(),
                at_boundary: rest.is_empty(),
            };
            return (out, end);
        }
        let header = MessageHeader {
            length: be_u32(&rest[..4]),
            stream_id: be_u32(&rest[4..8]),
            kind: rest[8],
            flags: rest[9],
        };
        let len = header.length as usize;
        let body = &rest[message::HEADER_LEN..];
        if len > MAX_DATA {
            out.push(Out::Oversized(header));
            if body.len() < len {
                // The rest of the stream is skipped, and more is awaited.
                let end = MessageEnd {
                    buffered: 0,
                    at_boundary: false,
                };
                return (out, end);
            }
            rest = &body[len..];
            continue;
        }
        if body.len() < len {
            let end = MessageEnd {
                buffered: rest.len(),
                at_boundary: false,
            };
            return (out, end);
        }
        out.push(Out::Message(header, body[..len].to_vec()));
        rest = &body[len..];
    }
}

/// Pushes the pieces into a `MessageDecoder`, taking messages after each,
/// and checks the buffer bound right after every push.
fn decode_messages<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(Vec<Out>, MessageEnd), TestCaseError> {
    let mut decoder = MessageDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(bytes::Bytes::copy_from_slice(piece));
        prop_assert!(
            decoder.buffered() <= MAX_DATA + message::HEADER_LEN + piece.len(),
            "{} bytes buffered after a push of {}",
            decoder.buffered(),
            piece.len()
        );
        while let Some(decoded) = decoder.next_message() {
            out.push(match decoded {
                Decoded::Message(message) => {
                    prop_assert_eq!(message.data.len(), message.header.length as usize);
                    Out::Message(message.header, message.data.to_vec())
                }
                Decoded::Oversized(header) => {
                    prop_assert!(header.length as usize > MAX_DATA);
                    Out::Oversized(header)
                }
            });
        }
    }
    let end = MessageEnd {
        buffered: decoder.buffered(),
        at_boundary: decoder.at_boundary(),
    };
    Ok((out, end))
}

/// Byte streams that are mostly message-shaped: headers with small or
/// limit-sized lengths, bodies that may not match them, and noise.
fn message_stream() -> impl Strategy<Value = Vec<u8>> {
    let limit = MAX_DATA as u32;
    let segment = prop_oneof![
        vec(any::<u8>(), 0..48),
        (
            0u32..200,
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            vec(any::<u8>(), 0..200)
        )
            .prop_map(|(len, stream, kind, flags, body)| {
                let mut out = message_header(len, stream, kind, flags);
                out.extend(body);
                out
            }),
        (
            prop_oneof![Just(limit), Just(limit + 1), any::<u32>()],
            any::<u32>(),
            vec(any::<u8>(), 0..32)
        )
            .prop_map(|(len, stream, body)| {
                let mut out = message_header(len, stream, message::TYPE_REQUEST, 0);
                out.extend(body);
                out
            }),
    ];
    prop_oneof![
        vec(any::<u8>(), 0..1024),
        vec(segment, 0..12).prop_map(|segments| segments.concat()),
    ]
}

proptest! {
    #[test]
    fn any_bytes_in_any_pushes_decode_like_the_whole_stream(
        data in message_stream(),
        sizes in vec(1usize..64, 1..8),
    ) {
        let (out, end) = decode_messages(pieces(&data, &sizes))?;
        let (want_out, want_end) = reference_messages(&data);
        prop_assert_eq!(out, want_out);
        prop_assert_eq!(end, want_end);
    }

    #[test]
    fn encoded_messages_come_back_the_same_whatever_the_cuts(
        messages in vec((any::<u32>(), any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..5000)), 0..8),
        points in vec(any::<Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (stream_id, kind, flags, body) in messages {
            let header = MessageHeader {
                length: body.len() as u32,
                stream_id,
                kind,
                flags,
            };
            wire.extend(header.encode());
            wire.extend(&body);
            want.push(Out::Message(header, body));
        }
        let (out, end) = decode_messages(cut(&wire, &points))?;
        prop_assert_eq!(out, want);
        prop_assert_eq!(end, MessageEnd { buffered: 0, at_boundary: true });
    }
}

proptest! {
    // Each case moves over 8 MiB; a few are enough.
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn messages_at_the_size_limit_stay_within_the_buffer_bound(
        shortfall in 0usize..3,
        excess in 1usize..100,
        fill: u8,
        cut_skipped_body: bool,
        tail in vec((any::<u32>(), vec(any::<u8>(), 0..64)), 0..4),
        sizes in vec(1024usize..(6 << 20), 1..4),
    ) {
        // The largest legal message, then an oversized one whose body is
        // skipped (all of it, or the stream ends inside it), then more.
        let len = MAX_DATA - shortfall;
        let mut wire = message_header(len as u32, 1, message::TYPE_REQUEST, 0);
        wire.resize(wire.len() + len, fill);
        let over = MAX_DATA + excess;
        wire.extend(message_header(over as u32, 3, message::TYPE_REQUEST, 0));
        let body = if cut_skipped_body { over / 2 } else { over };
        wire.resize(wire.len() + body, !fill);
        for (stream_id, body) in &tail {
            wire.extend(message_header(body.len() as u32, *stream_id, message::TYPE_RESPONSE, 0));
            wire.extend(body);
        }
        let (out, end) = decode_messages(pieces(&wire, &sizes))?;
        let (want_out, want_end) = reference_messages(&wire);
        prop_assert_eq!(out.len(), want_out.len());
        prop_assert!(out == want_out);
        prop_assert_eq!(end, want_end);
    }
}

// ---------------------------------------------------------------------------
// The envelope.

/// The header of an encoded message, which must announce exactly the bytes
/// that follow it.
fn header_of(message: &[u8]) -> Result<MessageHeader, TestCaseError> {
    prop_assert!(message.len() >= message::HEADER_LEN);
    let header = MessageHeader::decode(message[..message::HEADER_LEN].try_into().unwrap());
    prop_assert_eq!(header.length as usize, message.len() - message::HEADER_LEN);
    Ok(header)
}

/// Texts of which some are cut by `encode_status`'s 64 KiB message limit,
/// some of those in the middle of a character.
fn status_message() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        (".{0,3}", any::<char>(), 15_000usize..70_000)
            .prop_map(|(start, c, n)| start + &c.to_string().repeat(n)),
    ]
}

/// Envelope bodies: random bytes, and encoded requests and statuses with
/// bytes changed and the end cut off.
fn envelope_body() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        (".{0,20}", ".{0,20}", vec(any::<u8>(), 0..64), any::<i64>()).prop_map(
            |(service, method, payload, timeout)| {
                envelope::encode_request(1, &service, &method, &payload[..], timeout).unwrap()
            }
        ),
        (any::<i32>(), ".{0,40}").prop_map(|(code, text)| envelope::encode_status(1, code, &text)),
    ]
    .prop_map(|message| message[message::HEADER_LEN..].to_vec());
    let damaged = (
        valid,
        vec((any::<Index>(), any::<u8>()), 0..4),
        any::<Index>(),
    )
        .prop_map(|(mut body, changes, end)| {
            for (at, byte) in changes {
                if !body.is_empty() {
                    let at = at.index(body.len());
                    body[at] = byte;
                }
            }
            body.truncate(end.index(body.len() + 1));
            body
        });
    prop_oneof![vec(any::<u8>(), 0..512), damaged]
}

proptest! {
    #[test]
    fn requests_decode_to_what_was_encoded(
        stream_id: u32,
        service in ".{0,40}",
        method in ".{0,24}",
        payload in vec(any::<u8>(), 0..512),
        timeout_nano: i64,
    ) {
        let message =
            envelope::encode_request(stream_id, &service, &method, &payload[..], timeout_nano)
                .unwrap();
        let header = header_of(&message)?;
        prop_assert_eq!(header.stream_id, stream_id);
        prop_assert_eq!(header.kind, message::TYPE_REQUEST);
        prop_assert_eq!(header.flags, 0);
        let body = &message[message::HEADER_LEN..];
        let want = envelope::Request {
            service: service.clone().into(),
            method: method.clone().into(),
            payload: payload.into(),
            timeout_nano,
            metadata: Vec::new(),
        };
        let decoded = envelope::Request::decode(body).unwrap();
        prop_assert_eq!(decoded.names().unwrap(), (service.as_str(), method.as_str()));
        prop_assert_eq!(decoded, want.clone());
        // Canonical protobuf, as Go writes it: what prost writes too.
        prop_assert_eq!(body, &want.encode_to_vec()[..]);
    }

    #[test]
    fn replies_decode_to_what_was_encoded(stream_id: u32, payload in vec(any::<u8>(), 0..512)) {
        let message = envelope::encode_reply(stream_id, &payload[..]).unwrap();
        let header = header_of(&message)?;
        prop_assert_eq!(header.stream_id, stream_id);
        prop_assert_eq!(header.kind, message::TYPE_RESPONSE);
        prop_assert_eq!(header.flags, 0);
        let body = &message[message::HEADER_LEN..];
        let want = envelope::Response {
            status: None,
            payload: payload.into(),
        };
        prop_assert_eq!(envelope::Response::decode(body).unwrap(), want.clone());
        prop_assert_eq!(body, &want.encode_to_vec()[..]);
    }

    #[test]
    fn statuses_decode_to_what_was_encoded(
        stream_id: u32,
        code: i32,
        text in status_message(),
    ) {
        const LIMIT: usize = 64 << 10;
        let message = envelope::encode_status(stream_id, code, &text);
        let header = header_of(&message)?;
        prop_assert_eq!(header.stream_id, stream_id);
        prop_assert_eq!(header.kind, message::TYPE_RESPONSE);
        prop_assert_eq!(header.flags, 0);
        let body = &message[message::HEADER_LEN..];
        let response = envelope::Response::decode(body).unwrap();
        prop_assert!(response.payload.is_empty());
        let status = response.status.clone().expect("a status");
        prop_assert_eq!(status.code, code);
        prop_assert!(status.details.is_empty());
        // The text, or its longest prefix within the limit.
        prop_assert!(text.starts_with(&status.message));
        if text.len() <= LIMIT {
            prop_assert_eq!(&status.message, &text);
        } else {
            prop_assert!(status.message.len() <= LIMIT);
            prop_assert!(status.message.len() > LIMIT - 4);
        }
        prop_assert_eq!(body, &response.encode_to_vec()[..]);
    }

    #[test]
    fn arbitrary_bodies_never_panic_and_what_decodes_is_a_fixpoint(
        bytes in envelope_body(),
    ) {
        if let Ok(request) = envelope::Request::decode(&bytes[..]) {
            let again = envelope::Request::decode(&request.encode_to_vec()[..]).unwrap();
            prop_assert_eq!(again, request);
        }
        if let Ok(response) = envelope::Response::decode(&bytes[..]) {
            let again = envelope::Response::decode(&response.encode_to_vec()[..]).unwrap();
            prop_assert_eq!(again, response);
        }
    }

}
