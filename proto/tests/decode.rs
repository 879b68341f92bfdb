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
use prost::encoding::encode_varint;
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

/// A field key.
fn key(tag: u32, wire_type: u8) -> Vec<u8> {
    let mut out = Vec::new();
    encode_varint((u64::from(tag) << 3) | u64::from(wire_type), &mut out);
    out
}

/// A length-delimited field.
fn delimited(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut out = key(tag, 2);
    encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

/// Field numbers the NRI messages use, and a few they do not.
fn tags() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 1u32..=32, 1 => 33u32..5000]
}

/// Varint values: small ones (bools, enums, set bits), and any.
fn varints() -> impl Strategy<Value = u64> {
    prop_oneof![2 => 0u64..4, 1 => any::<u64>(), 1 => any::<i32>().prop_map(|v| v as i64 as u64)]
}

/// One protobuf field of any wire type, nested messages and groups
/// included: bytes shaped like an encoding, which reach the field decoders
/// far more often than random bytes do.
fn field() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        (tags(), varints()).prop_map(|(tag, value)| {
            let mut out = key(tag, 0);
            encode_varint(value, &mut out);
            out
        }),
        (tags(), "[a-z0-9./=-]{0,12}").prop_map(|(tag, text)| delimited(tag, text.as_bytes())),
        (tags(), proptest::collection::vec(any::<u8>(), 0..6))
            .prop_map(|(tag, bytes)| delimited(tag, &bytes)),
        (tags(), proptest::collection::vec(varints(), 0..4)).prop_map(|(tag, values)| {
            let mut packed = Vec::new();
            for value in values {
                encode_varint(value, &mut packed);
            }
            delimited(tag, &packed)
        }),
        (tags(), any::<u32>()).prop_map(|(tag, value)| {
            let mut out = key(tag, 5);
            out.extend_from_slice(&value.to_le_bytes());
            out
        }),
        (tags(), any::<u64>()).prop_map(|(tag, value)| {
            let mut out = key(tag, 1);
            out.extend_from_slice(&value.to_le_bytes());
            out
        }),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            3 => (tags(), proptest::collection::vec(inner.clone(), 0..6))
                .prop_map(|(tag, fields)| delimited(tag, &fields.concat())),
            1 => (tags(), proptest::collection::vec(inner, 0..3), any::<bool>()).prop_map(
                |(tag, fields, closed)| {
                    let mut out = key(tag, 3);
                    out.extend(fields.concat());
                    // Sometimes closed by the wrong field number.
                    out.extend(key(if closed { tag } else { tag + 1 }, 4));
                    out
                }
            ),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Encoding-shaped bytes: prost and our decoder agree on every message
    /// type (checked inside `DecodeFixpoint`).
    #[test]
    fn the_decoders_agree_on_encoding_shaped_bytes(
        kind in 0usize..RPCS.len() * 2,
        fields in proptest::collection::vec(field(), 0..10),
    ) {
        visit_nth(kind, &mut DecodeFixpoint(&fields.concat()));
    }
}

/// Hand-picked inputs at the edges of the format, for every message type.
#[test]
fn the_decoders_agree_at_the_edges() {
    let deep_group = |levels: usize| {
        let mut out = Vec::new();
        for _ in 0..levels {
            out.extend(key(999, 3));
        }
        for _ in 0..levels {
            out.extend(key(999, 4));
        }
        out
    };
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x00],                                      // field number 0
        vec![0x0e, 0x00],                                // wire type 6
        vec![0x0f, 0x00],                                // wire type 7
        vec![0x0c],                                      // an end-group key outside a group
        vec![0x80, 0x80, 0x80, 0x80, 0x10],              // a key above u32::MAX
        key(1, 0),                                       // a varint cut off
        [key(3, 0), vec![0xff; 9], vec![0x01]].concat(), // a ten-byte varint
        [key(3, 0), vec![0xff; 9], vec![0x02]].concat(), // one that overflows
        [key(3, 0), vec![0xff; 11]].concat(),
        [key(1, 0), vec![0x80, 0x00]].concat(), // a redundant continuation
        delimited(1, &[0xc3, 0x28]),            // not UTF-8
        [key(1, 2), vec![0x05, b'a']].concat(), // a length past the end
        [key(1, 2), vec![0xff; 10]].concat(),
        deep_group(99),
        deep_group(100),
        deep_group(101),
    ];
    // Each field number with each wire type and a plausible body.
    for tag in 1..=32 {
        // A zero after the key: an empty body if it were length-delimited
        // (which it must not be taken for), at the top and one level down.
        for wire_type in [0, 1, 5] {
            let zero = [key(tag, wire_type), vec![0x00]].concat();
            for outer in 1..=8 {
                inputs.push(delimited(outer, &zero));
            }
            inputs.push(zero);
        }
        inputs.push([key(tag, 0), vec![0x02]].concat());
        inputs.push([key(tag, 0), vec![0xff; 9], vec![0x01]].concat());
        inputs.push(delimited(tag, b"x"));
        inputs.push(delimited(tag, &[]));
        inputs.push(delimited(tag, &[0x08, 0x96, 0x01, 0x08, 0x02]));
        inputs.push(delimited(tag, &delimited(1, b"k")));
        inputs.push(delimited(
            tag,
            &[delimited(1, b"k"), delimited(2, b"v"), delimited(3, b"?")].concat(),
        ));
        inputs.push(delimited(
            tag,
            &[key(1, 0), vec![0x07], delimited(2, b"v")].concat(),
        ));
        inputs.push([key(tag, 5), vec![1, 2, 3, 4]].concat());
        inputs.push([key(tag, 1), vec![1, 2, 3, 4, 5, 6, 7, 8]].concat());
        inputs.push([key(tag, 1), vec![1, 2, 3]].concat());
        inputs.push([key(tag, 3), key(tag, 4)].concat());
        // A message field twice: the second merges into the first.
        let twice = [
            delimited(tag, &delimited(1, b"a")),
            delimited(tag, &delimited(2, b"b")),
        ]
        .concat();
        inputs.push(twice);
    }
    let mut decoded = 0;
    for input in &inputs {
        for kind in 0..RPCS.len() * 2 {
            decoded += usize::from(visit_nth(kind, &mut DecodeFixpoint(input)));
        }
    }
    assert!(
        decoded > inputs.len(),
        "only {decoded} of the inputs decoded anywhere"
    );
}

/// A decoding error names the fields that lead to the fault.
#[test]
fn errors_name_the_field_path() {
    use nri_proto::api::{Container, CreateContainerRequest};
    use nri_proto::decode::{DecodeErrorKind, decode};

    // CreateContainerRequest.container (2) -> Container.args (7), not UTF-8.
    let container = delimited(7, &[0xc3, 0x28]);
    let error = decode::<CreateContainerRequest>(&delimited(2, &container)).unwrap_err();
    assert_eq!(error.kind(), &DecodeErrorKind::InvalidUtf8);
    assert_eq!(
        error.to_string(),
        "failed to decode Protobuf message: CreateContainerRequest.container: \
         Container.args: invalid string value: data is not UTF-8 encoded"
    );
    let ok = decode::<Container>(&delimited(7, b"sleep")).unwrap();
    assert_eq!(ok.args, ["sleep"]);
}
