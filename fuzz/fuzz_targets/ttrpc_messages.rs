//! Pushes arbitrary bytes, in pieces of a size the first byte picks, into a
//! ttrpc message decoder; checks its buffer bound and that it yields the
//! same as when the whole input arrives at once. Every message body is then
//! decoded as a ttrpc `Request` and as a `Response`: that never panics, and
//! what decodes re-encodes to a fixpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nri_transport_ttrpc::message::envelope::{Request, Response};
use nri_transport_ttrpc::message::{self, Decoded, MAX_DATA, MessageDecoder};
use prost::Message as _;

fn run(data: &[u8], piece_len: usize) -> (Vec<Decoded>, usize, bool) {
    let mut decoder = MessageDecoder::new();
    let mut out = Vec::new();
    for piece in data.chunks(piece_len) {
        decoder.push(bytes::Bytes::copy_from_slice(piece));
        assert!(decoder.buffered() <= MAX_DATA + message::HEADER_LEN + piece.len());
        while let Some(decoded) = decoder.next_message() {
            if let Decoded::Message(m) = &decoded {
                assert_eq!(m.data.len(), m.header.length as usize);
            }
            out.push(decoded);
        }
    }
    (out, decoder.buffered(), decoder.at_boundary())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    // Pieces of 1 to 256 bytes.
    let piece_len = usize::from(first) + 1;
    let chunked = run(data, piece_len);
    assert_eq!(chunked, run(data, data.len().max(1)));
    for decoded in &chunked.0 {
        let Decoded::Message(message) = decoded else {
            continue;
        };
        if let Ok(request) = Request::decode(&message.data[..]) {
            let again = Request::decode(&request.encode_to_vec()[..]).expect("re-decodes");
            assert_eq!(again, request);
        }
        if let Ok(response) = Response::decode(&message.data[..]) {
            let again = Response::decode(&response.encode_to_vec()[..]).expect("re-decodes");
            assert_eq!(again, response);
        }
    }
});
