//! ttrpc messages, without I/O (containerd/ttrpc `PROTOCOL.md`).
//!
//! Each virtual connection carries a stream of ttrpc messages: a 10-byte
//! header (`[u32 BE length][u32 BE stream id][u8 type][u8 flags]`) and
//! `length` bytes of protobuf envelope ([`envelope`]). NRI uses unary calls
//! only: one request, answered by one response with the same stream id.

pub mod decoder;
pub mod envelope;

pub use decoder::{Decoded, Message, MessageDecoder};

/// Length of a message header.
pub const HEADER_LEN: usize = 10;

/// Largest message body either side sends or accepts: 4 MiB.
pub const MAX_DATA: usize = 4 << 20;

/// Message type of a request.
pub const TYPE_REQUEST: u8 = 1;
/// Message type of a response.
pub const TYPE_RESPONSE: u8 = 2;
/// Message type of stream data (never used by NRI).
pub const TYPE_DATA: u8 = 3;

/// Status codes used on the wire (the gRPC codes).
pub mod code {
    /// Success.
    pub const OK: i32 = 0;
    /// The client's request is malformed.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// The deadline passed before the handler finished.
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// A message exceeds the size limit, or too many calls are in flight.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// No such service or method.
    pub const UNIMPLEMENTED: i32 = 12;
    /// The payload could not be decoded.
    pub const INTERNAL: i32 = 13;
    /// The service is going away.
    pub const UNAVAILABLE: i32 = 14;
}

/// A message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// Length of the body.
    pub length: u32,
    /// The call this message belongs to; odd for client-initiated calls.
    pub stream_id: u32,
    /// [`TYPE_REQUEST`], [`TYPE_RESPONSE`] or [`TYPE_DATA`]; other values
    /// are ignored by receivers.
    pub kind: u8,
    /// Flags; 0 for unary calls.
    pub flags: u8,
}

impl MessageHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..4].copy_from_slice(&self.length.to_be_bytes());
        out[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        out[8] = self.kind;
        out[9] = self.flags;
        out
    }

    /// Reads a header.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Self {
        MessageHeader {
            length: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            stream_id: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            kind: bytes[8],
            flags: bytes[9],
        }
    }
}

/// Offset of the stream id inside an encoded message, so that a client can
/// assign it at the moment the message is queued (the client does so inside
/// the write lock, which keeps ids increasing on the wire).
pub const STREAM_ID_RANGE: std::ops::Range<usize> = 4..8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_matches_the_worked_example() {
        // §1.5: length 73, stream 1, request, flags 0.
        let header = MessageHeader {
            length: 73,
            stream_id: 1,
            kind: TYPE_REQUEST,
            flags: 0,
        };
        let bytes = header.encode();
        assert_eq!(bytes, [0, 0, 0, 0x49, 0, 0, 0, 1, 1, 0]);
        assert_eq!(MessageHeader::decode(&bytes), header);
        assert_eq!(&bytes[STREAM_ID_RANGE], &[0, 0, 0, 1]);
    }
}
