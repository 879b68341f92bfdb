//! Wire test vectors: recordings of upstream Go NRI peers (containerd/nri
//! 8ec8b28) must decode into our types and re-encode to the same bytes.
//!
//! Each recorded direction is split into mux frames and ttrpc messages (see
//! `support::recording`), every NRI message is decoded into its nri-proto type
//! by the method it belongs to, re-encoded, and compared byte for byte with
//! the recording (map entries put in key order first: Go writes them in
//! random order, see `support::canonical`). The decoded values are also
//! compared with upstream's own protojson rendering in `sessionN.md`, which
//! catches a wrong field name, type or enum.

// Tests may panic on broken fixtures; the lint is for library code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use nri_proto::api::*;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use support::recording::{self, TTRPC_REQUEST, TTRPC_RESPONSE, TtrpcMessage, envelope};
use support::rpc_table::{MessageVisitor, RPCS, visit_rpc};
use support::sessions::{Session, interop_dir, sessions};
use support::{canonical::canonical, transcript};

const PACKAGE: &str = "nri.pkg.api.v1alpha1";

/// The schema as nri-proto embeds it: the interop tests check the embedded
/// descriptor set against upstream's bytes too.
fn pool() -> DescriptorPool {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("embedded descriptor set decodes")
}

/// Decodes `bytes` as `T`, re-encodes it and compares with the canonical
/// form of the original. Returns our encoding.
fn round_trip<T: Message + Default>(
    pool: &DescriptorPool,
    type_name: &str,
    bytes: &[u8],
) -> Result<Vec<u8>, String> {
    let value = T::decode(bytes).map_err(|e| format!("{type_name}: decode failed: {e}"))?;
    let ours = value.encode_to_vec();
    let descriptor = pool
        .get_message_by_name(type_name)
        .ok_or_else(|| format!("{type_name} is not in the schema"))?;
    let theirs = canonical(&descriptor, bytes)?;
    if ours != theirs {
        let at = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        return Err(format!(
            "{type_name}: re-encoding differs at byte {at} (ours {} bytes, recorded {} bytes)",
            ours.len(),
            theirs.len()
        ));
    }
    Ok(ours)
}

/// Round-trips one payload as the visited type.
struct RoundTrip<'a> {
    pool: &'a DescriptorPool,
    bytes: &'a [u8],
}

impl MessageVisitor for RoundTrip<'_> {
    type Output = Result<(String, Vec<u8>), String>;

    fn visit<T: Message + nri_proto::decode::Decode + PartialEq + std::fmt::Debug>(
        &mut self,
        name: &str,
    ) -> Self::Output {
        let full_name = format!("{PACKAGE}.{name}");
        round_trip::<T>(self.pool, &full_name, self.bytes).map(|b| (full_name, b))
    }
}

/// Round-trips the payload of a request (or its response) of an RPC.
/// Returns the message type name and our encoding.
fn round_trip_payload(
    pool: &DescriptorPool,
    service: &str,
    method: &str,
    request: bool,
    bytes: &[u8],
) -> Result<(String, Vec<u8>), String> {
    visit_rpc(service, method, request, &mut RoundTrip { pool, bytes })
        .unwrap_or_else(|| Err(format!("unknown RPC {service}/{method}")))
}

/// One NRI message found in a recording.
struct Recorded {
    from_plugin: bool,
    message: TtrpcMessage,
    type_name: String,
    /// Our re-encoding (equal to the recording up to map order).
    ours: Vec<u8>,
}

/// Splits a session, pairs responses with requests and round-trips every
/// NRI message and every ttrpc envelope.
fn round_trip_session(pool: &DescriptorPool, session: &Session) -> Vec<Recorded> {
    let mut all: Vec<(bool, TtrpcMessage)> = Vec::new();
    for (from_plugin, trunk) in [
        (true, &session.plugin_to_runtime),
        (false, &session.runtime_to_plugin),
    ] {
        let messages =
            recording::ttrpc_messages(trunk).unwrap_or_else(|e| panic!("{}: {e}", session.name));
        all.extend(messages.into_iter().map(|m| (from_plugin, m)));
    }

    // Requests by (conn, stream id): each conn has one client, so that is unique.
    let mut methods: BTreeMap<(u32, u32), (String, String)> = BTreeMap::new();
    for (_, m) in all.iter().filter(|(_, m)| m.kind == TTRPC_REQUEST) {
        let request = envelope::Request::decode(m.data.as_slice()).expect("ttrpc request");
        assert_eq!(
            request.encode_to_vec(),
            m.data,
            "ttrpc request envelope re-encodes"
        );
        let service = request
            .service
            .strip_prefix(&format!("{PACKAGE}."))
            .unwrap_or_else(|| panic!("foreign service {}", request.service));
        methods.insert(
            (m.conn, m.stream_id),
            (service.to_string(), request.method.clone()),
        );
    }

    let mut out = Vec::new();
    for (from_plugin, message) in all {
        let (service, method) = methods
            .get(&(message.conn, message.stream_id))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no request for stream {}",
                    session.name, message.stream_id
                )
            })
            .clone();
        let payload = match message.kind {
            TTRPC_REQUEST => {
                envelope::Request::decode(message.data.as_slice())
                    .expect("request")
                    .payload
            }
            TTRPC_RESPONSE => {
                let response =
                    envelope::Response::decode(message.data.as_slice()).expect("response");
                assert_eq!(
                    response.encode_to_vec(),
                    message.data,
                    "ttrpc response envelope re-encodes"
                );
                response.payload
            }
            other => panic!("{}: unexpected ttrpc message type {other}", session.name),
        };
        let request = message.kind == TTRPC_REQUEST;
        let (type_name, ours) = round_trip_payload(pool, &service, &method, request, &payload)
            .unwrap_or_else(|e| panic!("{}: {service}/{method}: {e}", session.name));
        out.push(Recorded {
            from_plugin,
            message,
            type_name,
            ours,
        });
    }
    out
}

#[test]
fn every_recorded_message_round_trips_byte_for_byte() {
    let pool = pool();
    let mut per_type: BTreeMap<String, usize> = BTreeMap::new();
    for session in sessions() {
        let recorded = round_trip_session(&pool, &session);
        // Every message of the session was checked: the counts add up to the
        // mux payload bytes.
        let bytes: usize = recorded.iter().map(|r| 10 + r.message.data.len()).sum();
        let framed: usize = [&session.plugin_to_runtime, &session.runtime_to_plugin]
            .into_iter()
            .flat_map(|t| recording::frames(t).expect("frames"))
            .map(|f| f.payload.len())
            .sum();
        assert_eq!(
            bytes, framed,
            "{}: every byte belongs to a checked message",
            session.name
        );
        for r in recorded {
            *per_type.entry(r.type_name).or_default() += 1;
        }
    }
    // The recordings cover the whole lifecycle, not just a handshake.
    for expected in [
        "RegisterPluginRequest",
        "ConfigureRequest",
        "ConfigureResponse",
        "SynchronizeRequest",
        "CreateContainerRequest",
        "CreateContainerResponse",
        "ValidateContainerAdjustmentRequest",
        "RemovePodSandboxRequest",
    ] {
        let name = format!("{PACKAGE}.{expected}");
        assert!(
            per_type.contains_key(&name),
            "no {expected} in the recordings: {per_type:?}"
        );
    }
}

#[test]
fn decoded_messages_match_upstream_protojson() {
    let pool = pool();
    let options = SerializeOptions::new().use_proto_field_name(true);
    let mut compared = 0;
    for session in sessions() {
        let recorded = round_trip_session(&pool, &session);
        let decoded = transcript::decoded_messages(&session.transcript)
            .unwrap_or_else(|e| panic!("{}: {e}", session.name));
        assert_eq!(
            decoded.len(),
            recorded.len(),
            "{}: one transcript entry per message",
            session.name
        );
        for entry in decoded {
            let r = recorded
                .iter()
                .find(|r| {
                    r.from_plugin == entry.from_plugin
                        && r.message.conn == entry.conn
                        && r.message.header_offset == entry.header_offset
                })
                .unwrap_or_else(|| {
                    panic!("{}: no message at {:#x}", session.name, entry.header_offset)
                });
            assert_eq!(
                r.type_name, entry.type_name,
                "{}: message type",
                session.name
            );
            let descriptor = pool.get_message_by_name(&r.type_name).expect("in schema");
            let dynamic = DynamicMessage::decode(descriptor, r.ours.as_slice()).expect("decodes");
            let mut json = serde_json::Serializer::new(Vec::new());
            dynamic
                .serialize_with_options(&mut json, &options)
                .expect("serializes");
            let ours: serde_json::Value =
                serde_json::from_slice(&json.into_inner()).expect("valid JSON");
            assert_eq!(
                ours, entry.json,
                "{}: {} at {:#x} differs from upstream's protojson",
                session.name, r.type_name, entry.header_offset
            );
            compared += 1;
        }
    }
    assert!(compared > 50, "only {compared} messages compared");
}

#[test]
fn the_rpc_table_covers_every_method_in_the_schema() {
    let pool = pool();
    let mut in_schema = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            in_schema.push((
                service.name().to_string(),
                method.name().to_string(),
                method.input().name().to_string(),
                method.output().name().to_string(),
            ));
        }
    }
    let mut table: Vec<(String, String, String, String)> = RPCS
        .iter()
        .map(|(s, m, i, o)| (s.to_string(), m.to_string(), i.to_string(), o.to_string()))
        .collect();
    in_schema.sort();
    table.sort();
    assert_eq!(table, in_schema);
}

#[test]
fn register_plugin_matches_the_documented_bytes() {
    // A RegisterPlugin call as upstream's stub sends it, byte for byte.
    let request = RegisterPluginRequest {
        plugin_name: "test".into(),
        plugin_idx: "10".into(),
        nri_version: "v0.12.0".into(),
    };
    let expected = b"\x0a\x04test\x12\x0210\x1a\x07v0.12.0";
    assert_eq!(request.encode_to_vec(), expected);
}

#[test]
fn vendored_recordings_match_shared_interop() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        eprintln!("{} not present; nothing to compare", shared.display());
        return;
    };
    let mut checked = 0;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("session") && (name.ends_with(".bin") || name.ends_with(".md"))) {
            continue;
        }
        let ours = std::fs::read(interop_dir().join(&name))
            .unwrap_or_else(|_| panic!("{name} is in shared/interop but not vendored"));
        assert!(
            ours == std::fs::read(entry.path()).expect("readable"),
            "{name} differs from shared/interop"
        );
        checked += 1;
    }
    assert!(checked > 0);
}
