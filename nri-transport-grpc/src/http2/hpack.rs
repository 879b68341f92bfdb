//! Header compression (HPACK, RFC 7541).
//!
//! - **Encoding** is stateless: every field is a literal that is never
//!   added to the dynamic table, with the name taken from the static table
//!   where it is there, and strings are not Huffman-coded. The peer's
//!   table therefore never holds anything of ours, so its size setting
//!   never matters; a block may start with a size update to 0 when the
//!   peer asked for a smaller table ([`Encoder`]).
//! - **Decoding** keeps the dynamic table the peer fills (a stock gRPC
//!   library indexes and Huffman-codes), by `loona-hpack`, and bounds what
//!   a block may expand to: a block of a few bytes can name a large table
//!   entry many times over.

use std::borrow::Cow;

/// Names of the static table (RFC 7541 Appendix A) that this side sends,
/// with their indexes.
mod name {
    pub(super) const AUTHORITY: usize = 1;
    pub(super) const PATH: usize = 4;
    pub(super) const CONTENT_TYPE: usize = 31;
}

/// Whole fields of the static table that this side sends, as indexes.
mod field {
    pub(super) const METHOD_POST: usize = 3;
    pub(super) const SCHEME_HTTP: usize = 6;
    pub(super) const STATUS_200: usize = 8;
}

/// The header table size this side's decoder keeps (the protocol's
/// default, which it never changes).
pub(crate) const TABLE_SIZE: usize = 4096;

/// Writes header blocks.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    /// The peer changed its table size: the next block starts with an
    /// update to 0.
    resize: bool,
}

impl Encoder {
    /// The peer set its header table size.
    pub(crate) fn peer_table_size_changed(&mut self) {
        self.resize = true;
    }

    /// Starts a block in `out`.
    pub(crate) fn block<'a>(&mut self, out: &'a mut Vec<u8>) -> Block<'a> {
        if std::mem::take(&mut self.resize) {
            // Dynamic table size update (001 prefix) to 0.
            out.push(0x20);
        }
        Block { out }
    }
}

/// A header block being written.
pub(crate) struct Block<'a> {
    out: &'a mut Vec<u8>,
}

impl Block<'_> {
    /// `:method: POST`.
    pub(crate) fn method_post(&mut self) -> &mut Self {
        self.indexed(field::METHOD_POST)
    }

    /// `:scheme: http`.
    pub(crate) fn scheme_http(&mut self) -> &mut Self {
        self.indexed(field::SCHEME_HTTP)
    }

    /// `:status: 200`.
    pub(crate) fn status_200(&mut self) -> &mut Self {
        self.indexed(field::STATUS_200)
    }

    /// `:path`.
    pub(crate) fn path(&mut self, value: &[u8]) -> &mut Self {
        self.named(name::PATH, value)
    }

    /// `:authority`.
    pub(crate) fn authority(&mut self, value: &[u8]) -> &mut Self {
        self.named(name::AUTHORITY, value)
    }

    /// `content-type`.
    pub(crate) fn content_type(&mut self, value: &[u8]) -> &mut Self {
        self.named(name::CONTENT_TYPE, value)
    }

    /// Any other field; `name` must be lowercase.
    pub(crate) fn field(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        // Literal without indexing, new name.
        self.out.push(0x00);
        string(self.out, name);
        string(self.out, value);
        self
    }

    fn indexed(&mut self, index: usize) -> &mut Self {
        integer(self.out, 0x80, 7, index);
        self
    }

    fn named(&mut self, index: usize, value: &[u8]) -> &mut Self {
        // Literal without indexing, indexed name (4-bit prefix).
        integer(self.out, 0x00, 4, index);
        string(self.out, value);
        self
    }
}

/// An integer with an `prefix`-bit prefix, the first byte's other bits
/// being `pattern` (RFC 7541 §5.1).
fn integer(out: &mut Vec<u8>, pattern: u8, prefix: u32, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(pattern | value as u8);
        return;
    }
    out.push(pattern | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// A string literal, not Huffman-coded.
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    integer(out, 0x00, 7, bytes.len());
    out.extend_from_slice(bytes);
}

/// A header block that cannot be decoded: a connection error
/// (`COMPRESSION_ERROR`), as the decoder's table is then unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode a header block: {0}")]
pub(crate) struct DecodeError(pub(crate) String);

/// Reads header blocks, keeping the peer's dynamic table.
pub(crate) struct Decoder {
    inner: loona_hpack::Decoder<'static>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        let mut inner = loona_hpack::Decoder::new();
        inner.set_max_allowed_table_size(TABLE_SIZE);
        Decoder { inner }
    }
}

impl Decoder {
    /// Decodes `block` into its fields, as long as their size (RFC 9113's:
    /// name, value and 32 bytes each) stays within `limit`. Fields past it
    /// are decoded (the table must stay in step) but not kept, and the
    /// list says it is [`incomplete`](HeaderList::complete).
    pub(crate) fn decode(&mut self, block: &[u8], limit: usize) -> Result<HeaderList, DecodeError> {
        let mut list = HeaderList {
            bytes: Vec::with_capacity(block.len() + block.len() / 2),
            fields: Vec::with_capacity(8),
            complete: true,
        };
        let mut size = 0usize;
        self.inner
            .decode_with_cb(block, |name: Cow<'_, [u8]>, value: Cow<'_, [u8]>| {
                size = size.saturating_add(name.len() + value.len() + 32);
                if size > limit {
                    list.complete = false;
                }
                if list.complete {
                    list.push(&name, &value);
                }
            })
            .map_err(|error| DecodeError(format!("{error:?}")))?;
        Ok(list)
    }
}

/// The fields of one decoded header block, in order, in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeaderList {
    bytes: Vec<u8>,
    /// Ends of each name and value in `bytes`.
    fields: Vec<(usize, usize)>,
    complete: bool,
}

impl HeaderList {
    fn push(&mut self, name: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(name);
        let name_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.fields.push((name_end, self.bytes.len()));
    }

    /// Every field, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut start = 0;
        self.fields.iter().map(move |&(name_end, end)| {
            let field = (&self.bytes[start..name_end], &self.bytes[name_end..end]);
            start = end;
            field
        })
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Whether every field of the block is here (none was cut off by the
    /// size limit).
    pub(crate) fn complete(&self) -> bool {
        self.complete
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn decoded(block: &[u8]) -> Vec<(String, String)> {
        let list = Decoder::default().decode(block, 1 << 20).unwrap();
        assert!(list.complete());
        list.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn what_we_encode_decodes() {
        let mut out = Vec::new();
        let mut encoder = Encoder::default();
        let long = "x".repeat(300);
        encoder
            .block(&mut out)
            .method_post()
            .scheme_http()
            .path(b"/nri.pkg.api.v1alpha1.Plugin/CreateContainer")
            .authority(b"localhost")
            .content_type(b"application/grpc")
            .field(b"te", b"trailers")
            .field(b"grpc-message", long.as_bytes());
        let fields = decoded(&out);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/nri.pkg.api.v1alpha1.Plugin/CreateContainer"),
                (":authority", "localhost"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("grpc-message", long.as_str()),
            ]
        );
        out.clear();
        encoder.block(&mut out).status_200();
        assert_eq!(decoded(&out), vec![(":status".into(), "200".into())]);
    }

    #[test]
    fn a_resize_starts_the_next_block_only() {
        let mut encoder = Encoder::default();
        encoder.peer_table_size_changed();
        let mut out = Vec::new();
        encoder.block(&mut out).status_200();
        assert_eq!(out, [0x20, 0x88]);
        out.clear();
        encoder.block(&mut out).status_200();
        assert_eq!(out, [0x88]);
    }

    #[test]
    fn integers_use_their_prefix_then_continuation_bytes() {
        // RFC 7541 C.1: 10 and 1337 with a 5-bit prefix, 42 with 8 bits.
        let mut out = Vec::new();
        integer(&mut out, 0, 5, 10);
        integer(&mut out, 0, 5, 1337);
        integer(&mut out, 0, 8, 42);
        assert_eq!(out, [10, 31, 154, 10, 42]);
    }

    #[test]
    fn huffman_and_indexed_fields_from_a_peer_decode() {
        // RFC 7541 C.4.1: a request whose authority is a Huffman-coded
        // literal that is added to the table.
        let block = [
            0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab,
            0x90, 0xf4, 0xff,
        ];
        assert_eq!(
            decoded(&block),
            vec![
                (":method".into(), "GET".into()),
                (":scheme".into(), "http".into()),
                (":path".into(), "/".into()),
                (":authority".into(), "www.example.com".into()),
            ]
        );
    }

    #[test]
    fn a_block_that_expands_past_the_limit_is_cut_off() {
        // One literal added to the table, then named again and again by a
        // one-byte index.
        let mut block = vec![0x40];
        string(&mut block, b"big");
        string(&mut block, &[b'v'; 1000]);
        block.extend(std::iter::repeat_n(0xbe, 500));
        let list = Decoder::default().decode(&block, 16 << 10).unwrap();
        assert!(!list.complete());
        let kept: usize = list.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
        assert!(kept <= 16 << 10 && kept > 0, "{kept}");
        assert_eq!(list.get(b"big").map(<[u8]>::len), Some(1000));
    }

    proptest::proptest! {
        /// No block, whatever its bytes, panics the decoder.
        #[test]
        fn any_block_decodes_or_fails(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let mut decoder = Decoder::default();
            let _ = decoder.decode(&bytes, 4096);
            let _ = decoder.decode(&bytes, 4096);
        }
    }
}
