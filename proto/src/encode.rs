//! Encoding into a `Vec<u8>` without asking a message for its length first.
//!
//! A length-delimited field (an embedded message, bytes) needs its length
//! before its contents, and prost computes a message's length by walking the
//! whole message, every nested message included, before it writes it: a
//! message at depth *n* is walked *n* times. When the output is a `Vec`, a
//! field can instead be written behind room for the longest length prefix,
//! and moved back over the room its prefix does not take; for a 3 KB
//! CreateContainer request the move costs less than the walk.
//!
//! ```
//! use nri_proto::api::PodSandbox;
//! use prost::Message;
//!
//! let pod = PodSandbox { id: "pod".into(), ..Default::default() };
//! let mut out = Vec::new();
//! nri_proto::encode::length_delimited(1, &mut out, |out| pod.encode_raw(out));
//! let mut want = Vec::new();
//! prost::encoding::message::encode(1, &pod, &mut want);
//! assert_eq!(out, want);
//! ```

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

/// Room for the longest varint, which a length prefix can be.
const VARINT_ROOM: usize = 10;

/// Appends field `tag` as a length-delimited field whose contents `write`
/// appends to `out`, and returns the contents' length. The field is
/// written even when the contents are empty (as an embedded message that
/// is set); a caller whose field is omitted when empty truncates `out`.
pub fn length_delimited(tag: u32, out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> usize {
    encode_key(tag, WireType::LengthDelimited, out);
    let room_at = out.len();
    out.resize(room_at + VARINT_ROOM, 0);
    write(out);
    let len = out.len() - room_at - VARINT_ROOM;
    let prefix_len = encoded_len_varint(len as u64);
    out.copy_within(room_at + VARINT_ROOM.., room_at + prefix_len);
    out.truncate(room_at + prefix_len + len);
    encode_varint(len as u64, &mut &mut out[room_at..]);
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_match_prost_at_every_prefix_length() {
        for len in [0, 1, 127, 128, 16_383, 16_384, 2_097_152] {
            let contents = vec![7u8; len];
            let mut out = vec![1, 2];
            assert_eq!(
                length_delimited(5, &mut out, |out| out.extend_from_slice(&contents)),
                len
            );
            let mut want = vec![1, 2];
            prost::encoding::bytes::encode(5, &contents, &mut want);
            assert_eq!(out, want, "length {len}");
        }
    }
}
