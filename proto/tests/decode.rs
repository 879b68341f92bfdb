//! Decoding never panics, and whatever decodes re-encodes to a fixpoint.
//!
//! Inputs are random bytes, and recorded upstream messages with random bytes
//! changed, inserted or cut off (realistic inputs that are slightly wrong).

// Tests may panic on broken fixtures; the lint is for library code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::LazyLock;

use proptest::prelude::*;
use prost::Message;
use support::recording::{self, TTRPC_REQUEST, envelope};
use support::rpc_table::{DecodeFixpoint, RPCS, visit_nth, visit_rpc};
use support::sessions::sessions;

/// A recorded payload: service, method, whether it is a request, bytes.
type Payload = (String, String, bool, Vec<u8>);

/// Every recorded request payload, read once.
static RECORDED: LazyLock<Vec<Payload>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for session in sessions() {
        for trunk in [&session.plugin_to_runtime, &session.runtime_to_plugin] {
            for m in recording::ttrpc_messages(trunk).expect("splits") {
                if m.kind != TTRPC_REQUEST {
                    continue;
                }
                let request = envelope::Request::decode(m.data.as_slice()).expect("request");
                let service = request
                    .service
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                out.push((service, request.method, true, request.payload));
            }
        }
    }
    assert!(out.len() > 20);
    out
});

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(kind in 0usize..RPCS.len() * 2, bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        visit_nth(kind, &mut DecodeFixpoint(&bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn damaged_recordings_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (service, method, request, payload) = pick.get(&RECORDED).clone();
        let mut bytes = payload;
        for (at, value, op) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = value,
                1 => bytes.insert(i, value),
                _ => { bytes.remove(i); }
            }
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep);
        let decoded = visit_rpc(&service, &method, request, &mut DecodeFixpoint(&bytes));
        prop_assert!(decoded.is_some(), "{service}/{method} is in the table");
    }
}

#[test]
fn undamaged_recordings_decode() {
    for (service, method, request, payload) in RECORDED.iter() {
        let decoded = visit_rpc(service, method, *request, &mut DecodeFixpoint(payload));
        assert_eq!(decoded, Some(true), "{service}/{method}");
    }
}
