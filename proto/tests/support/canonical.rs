//! Canonical protobuf encoding for comparing bytes from Go with ours.
//!
//! Go's protobuf marshals map entries in Go's (random) map iteration order;
//! prost with `BTreeMap`s marshals them in key order. Everything else (field
//! order by number, packed repeated scalars, explicit empty sub-messages) is
//! the same in both. So the canonical form of a message is its own bytes with
//! every run of map entries sorted by key, recursively. Comparing
//! `canonical(go_bytes)` with our re-encoding is therefore a byte-for-byte
//! check of everything but map order.

use prost_reflect::{Kind, MessageDescriptor};

/// A decoded map key, for sorting entries the way `BTreeMap` iterates them.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum MapKey {
    Int(i64),
    Uint(u64),
    Bytes(Vec<u8>),
}

struct Field {
    number: u32,
    raw_tag: Vec<u8>,
    body: Vec<u8>,
    map_key: Option<MapKey>,
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

fn encode_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The canonical form of `bytes`, an encoded `message`.
pub fn canonical(message: &MessageDescriptor, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let tag_start = at;
        let tag = varint(bytes, &mut at)?;
        let number = u32::try_from(tag >> 3).map_err(|_| "field number too large")?;
        let wire_type = tag & 7;
        let raw_tag = bytes[tag_start..at].to_vec();
        let body_start = at;
        let field = message.get_field(number);
        let (body, map_key) = match wire_type {
            0 => {
                varint(bytes, &mut at)?;
                (bytes[body_start..at].to_vec(), None)
            }
            1 => {
                at += 8;
                (bytes.get(body_start..at).ok_or("truncated fixed64")?.to_vec(), None)
            }
            5 => {
                at += 4;
                (bytes.get(body_start..at).ok_or("truncated fixed32")?.to_vec(), None)
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).map_err(|_| "length")?;
                let inner = bytes.get(at..at + len).ok_or("truncated length-delimited field")?;
                at += len;
                match field.as_ref().map(|f| (f.kind(), f.is_map())) {
                    Some((Kind::Message(sub), is_map)) => {
                        let inner = canonical(&sub, inner)?;
                        let key = if is_map { Some(map_key(&sub, &inner)?) } else { None };
                        let mut body = Vec::new();
                        encode_varint(inner.len() as u64, &mut body);
                        body.extend_from_slice(&inner);
                        (body, key)
                    }
                    _ => (bytes[body_start..at].to_vec(), None),
                }
            }
            other => return Err(format!("unsupported wire type {other} in {}", message.full_name())),
        };
        fields.push(Field {
            number,
            raw_tag,
            body,
            map_key,
        });
    }

    // Sort each run of consecutive entries of one map field by key.
    let mut start = 0;
    while start < fields.len() {
        let mut end = start + 1;
        while end < fields.len()
            && fields[end].number == fields[start].number
            && fields[start].map_key.is_some()
        {
            end += 1;
        }
        fields[start..end].sort_by(|a, b| a.map_key.cmp(&b.map_key));
        start = end;
    }

    let mut out = Vec::with_capacity(bytes.len());
    for field in fields {
        out.extend_from_slice(&field.raw_tag);
        out.extend_from_slice(&field.body);
    }
    Ok(out)
}

/// The key (field 1) of an encoded map entry.
fn map_key(entry: &MessageDescriptor, bytes: &[u8]) -> Result<MapKey, String> {
    let key_field = entry.get_field(1).ok_or("map entry without key")?;
    let mut at = 0;
    while at < bytes.len() {
        let tag = varint(bytes, &mut at)?;
        let (number, wire_type) = (tag >> 3, tag & 7);
        if number == 1 {
            return Ok(match (key_field.kind(), wire_type) {
                (Kind::String, 2) => {
                    let len = usize::try_from(varint(bytes, &mut at)?).map_err(|_| "length")?;
                    MapKey::Bytes(bytes.get(at..at + len).ok_or("truncated key")?.to_vec())
                }
                (Kind::Int32 | Kind::Int64, 0) => MapKey::Int(varint(bytes, &mut at)? as i64),
                (Kind::Uint32 | Kind::Uint64 | Kind::Bool, 0) => {
                    MapKey::Uint(varint(bytes, &mut at)?)
                }
                (kind, wire) => return Err(format!("unsupported map key {kind:?}/{wire}")),
            });
        }
        // Skip a non-key field (the value).
        match wire_type {
            0 => {
                varint(bytes, &mut at)?;
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).map_err(|_| "length")?;
                at += len;
            }
            1 => at += 8,
            5 => at += 4,
            other => return Err(format!("unsupported wire type {other} in map entry")),
        }
    }
    // An absent key is the default key, which sorts first.
    Ok(match key_field.kind() {
        Kind::String => MapKey::Bytes(Vec::new()),
        Kind::Int32 | Kind::Int64 => MapKey::Int(0),
        _ => MapKey::Uint(0),
    })
}
