//! Feeds arbitrary bytes, in reads of a size the first byte picks, to the
//! gRPC transport's HTTP/2 frame decoder and every header block to its
//! HPACK decoder. Checks the documented bounds (one frame and one read
//! buffered, decoded header lists within their limit), and that the run is
//! the same as when the whole input arrives in one read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nri_transport_grpc::fuzzing::http2_input;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let read = usize::from(first) + 1;
    assert_eq!(http2_input(rest, read), http2_input(rest, rest.len().max(1)));
});
