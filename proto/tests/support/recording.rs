//! Splits a recorded trunk into mux frames, per-connection byte streams and
//! ttrpc messages.
//!
//! Mux frame: `[u32 BE conn id][u32 BE length][payload]`.
//! ttrpc message: `[u32 BE length][u32 BE stream id][u8 type][u8 flags][data]`.

use std::collections::BTreeMap;

/// One mux frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub conn: u32,
    /// File offset of the frame header.
    pub offset: usize,
    pub payload: Vec<u8>,
}

/// ttrpc message types.
pub const TTRPC_REQUEST: u8 = 1;
pub const TTRPC_RESPONSE: u8 = 2;

/// One ttrpc message.
#[derive(Debug, Clone)]
pub struct TtrpcMessage {
    pub conn: u32,
    /// File offset of the first byte of the 10-byte ttrpc header.
    pub header_offset: usize,
    pub stream_id: u32,
    pub kind: u8,
    pub flags: u8,
    pub data: Vec<u8>,
}

fn be32(bytes: &[u8], at: usize) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| format!("truncated u32 at offset {at:#x}"))
}

/// Splits a whole recorded direction into mux frames.
pub fn frames(trunk: &[u8]) -> Result<Vec<Frame>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < trunk.len() {
        let conn = be32(trunk, at)?;
        let len = be32(trunk, at + 4)? as usize;
        let payload = trunk
            .get(at + 8..at + 8 + len)
            .ok_or_else(|| format!("frame at {at:#x} claims {len} bytes past the end"))?;
        out.push(Frame {
            conn,
            offset: at,
            payload: payload.to_vec(),
        });
        at += 8 + len;
    }
    Ok(out)
}

/// A connection's reassembled byte stream, remembering where each byte came
/// from in the file.
#[derive(Default)]
struct Stream {
    bytes: Vec<u8>,
    file_offsets: Vec<usize>,
}

/// Reassembles each connection's byte stream and splits it into ttrpc
/// messages, in the order their headers appear in the file.
pub fn ttrpc_messages(trunk: &[u8]) -> Result<Vec<TtrpcMessage>, String> {
    let mut streams: BTreeMap<u32, Stream> = BTreeMap::new();
    for frame in frames(trunk)? {
        let stream = streams.entry(frame.conn).or_default();
        stream.bytes.extend_from_slice(&frame.payload);
        stream
            .file_offsets
            .extend((0..frame.payload.len()).map(|i| frame.offset + 8 + i));
    }
    let mut out = Vec::new();
    for (conn, stream) in streams {
        let mut at = 0;
        while at < stream.bytes.len() {
            let len = be32(&stream.bytes, at)? as usize;
            let stream_id = be32(&stream.bytes, at + 4)?;
            let (kind, flags) = match stream.bytes.get(at + 8..at + 10) {
                Some(&[kind, flags]) => (kind, flags),
                _ => return Err(format!("conn {conn}: truncated ttrpc header")),
            };
            let data = stream
                .bytes
                .get(at + 10..at + 10 + len)
                .ok_or_else(|| format!("conn {conn}: ttrpc message runs past the end"))?;
            out.push(TtrpcMessage {
                conn,
                header_offset: stream.file_offsets[at],
                stream_id,
                kind,
                flags,
                data: data.to_vec(),
            });
            at += 10 + len;
        }
    }
    out.sort_by_key(|m| m.header_offset);
    Ok(out)
}

/// The ttrpc envelope (package `ttrpc`), field numbers per
/// containerd/ttrpc `request.proto`.
pub mod envelope {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(string, tag = "1")]
        pub service: String,
        #[prost(string, tag = "2")]
        pub method: String,
        #[prost(bytes = "vec", tag = "3")]
        pub payload: Vec<u8>,
        #[prost(int64, tag = "4")]
        pub timeout_nano: i64,
        #[prost(message, repeated, tag = "5")]
        pub metadata: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Response {
        #[prost(message, optional, tag = "1")]
        pub status: Option<Status>,
        #[prost(bytes = "vec", tag = "2")]
        pub payload: Vec<u8>,
    }
}
