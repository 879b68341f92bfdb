//! Entry points for the fuzz targets in `fuzz/` (not part of the API): the
//! HTTP/2 frame decoder and the header-block decoder, which read whatever
//! a peer sends.

use bytes::BytesMut;

use crate::http2::frame::{self, Frame};
use crate::http2::hpack;

/// The frame size limit the run decodes with.
const MAX_FRAME: usize = 1 << 14;

/// The decoded-size limit of header lists in the run.
const LIMIT: usize = 4096;

/// A header block's fields, names and values.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// What one run read: a summary per frame, the fields of each header
/// block, and the first error.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    /// Each frame's kind, in order (`Debug` text without payloads).
    pub frames: Vec<String>,
    /// Each header block's fields, and whether it was complete.
    pub blocks: Vec<(Fields, bool)>,
    /// The connection or compression error that ended the run.
    pub error: Option<String>,
}

/// Feeds `data` to the decoders in reads of `read` bytes (at least 1), as
/// the connection's reader does, and checks the bounds it documents: the
/// buffer never holds more than one frame and one read, and no header list
/// handed on exceeds the limit.
pub fn http2_input(data: &[u8], read: usize) -> Run {
    let read = read.max(1);
    let mut run = Run {
        frames: Vec::new(),
        blocks: Vec::new(),
        error: None,
    };
    let mut buf = BytesMut::new();
    let mut decoder = hpack::Decoder::default();
    let mut block: Option<Vec<u8>> = None;
    for chunk in data.chunks(read) {
        buf.extend_from_slice(chunk);
        assert!(buf.len() <= frame::HEAD_LEN + MAX_FRAME + read);
        loop {
            let frame = match frame::decode(&mut buf, MAX_FRAME) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    run.error = Some(error.to_string());
                    return run;
                }
            };
            let (part, end) = match &frame {
                Frame::Headers {
                    block, end_headers, ..
                } => (Some(block.clone()), *end_headers),
                Frame::Continuation {
                    block, end_headers, ..
                } => (Some(block.clone()), *end_headers),
                _ => (None, false),
            };
            run.frames.push(summary(&frame));
            if let Some(part) = part {
                let gathered = block.get_or_insert_with(Vec::new);
                gathered.extend_from_slice(&part);
                if end && let Some(whole) = block.take() {
                    match decoder.decode(&whole, LIMIT) {
                        Ok(list) => {
                            let fields: Fields =
                                list.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
                            let size: usize =
                                fields.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
                            assert!(size <= LIMIT, "a header list of {size} bytes was kept");
                            run.blocks.push((fields, list.complete()));
                        }
                        Err(error) => {
                            run.error = Some(error.to_string());
                            return run;
                        }
                    }
                }
            }
        }
    }
    run
}

/// A frame's kind and lengths, without its bytes.
fn summary(frame: &Frame) -> String {
    match frame {
        Frame::Data {
            stream,
            payload,
            flow,
            ..
        } => format!("DATA {stream} {} {flow}", payload.len()),
        Frame::Headers { stream, block, .. } => format!("HEADERS {stream} {}", block.len()),
        Frame::Continuation { stream, block, .. } => {
            format!("CONTINUATION {stream} {}", block.len())
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any input reads the same in any read size.
        #[test]
        fn reads_of_any_size_agree(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            read in 1usize..40,
        ) {
            proptest::prop_assert_eq!(http2_input(&data, read), http2_input(&data, data.len().max(1)));
        }
    }

    #[test]
    fn a_request_reads_as_sent() {
        let mut out = Vec::new();
        let mut head = Vec::new();
        hpack::Encoder::default()
            .block(&mut head)
            .method_post()
            .path(b"/s/m");
        frame::headers(&mut out, 1, &head, false, 3);
        out.extend_from_slice(&frame::data_head(2, true, 1));
        out.extend_from_slice(b"ab");
        let run = http2_input(&out, 5);
        assert_eq!(run.error, None);
        assert_eq!(
            run.blocks,
            vec![(
                vec![
                    (b":method".to_vec(), b"POST".to_vec()),
                    (b":path".to_vec(), b"/s/m".to_vec())
                ],
                true
            )]
        );
        assert_eq!(run.frames.last().map(String::as_str), Some("DATA 1 2 2"));
    }
}
