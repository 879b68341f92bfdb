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

/// One field as it is on the wire.
struct RawField<'a> {
    number: u32,
    /// The encoded tag.
    tag: &'a [u8],
    /// Everything after the tag: the varint, the fixed bytes, or the length
    /// prefix and the contents.
    body: &'a [u8],
    /// The decoded varint, for wire type 0.
    varint: Option<u64>,
    /// The contents, for wire type 2.
    contents: Option<&'a [u8]>,
}

/// Reads the field at `*at` and moves past it.
fn next_field<'a>(bytes: &'a [u8], at: &mut usize) -> Result<RawField<'a>, String> {
    let tag_start = *at;
    let tag = varint(bytes, at)?;
    let number = u32::try_from(tag >> 3).map_err(|_| "field number too large")?;
    let body_start = *at;
    let (value, contents) = match tag & 7 {
        0 => (Some(varint(bytes, at)?), None),
        1 => {
            *at += 8;
            (None, None)
        }
        5 => {
            *at += 4;
            (None, None)
        }
        2 => {
            let len = usize::try_from(varint(bytes, at)?).map_err(|_| "length")?;
            let start = *at;
            *at += len;
            (
                None,
                Some(
                    bytes
                        .get(start..*at)
                        .ok_or("truncated length-delimited field")?,
                ),
            )
        }
        other => return Err(format!("unsupported wire type {other}")),
    };
    Ok(RawField {
        number,
        tag: &bytes[tag_start..body_start],
        body: bytes.get(body_start..*at).ok_or("truncated field")?,
        varint: value,
        contents,
    })
}

/// The canonical form of `bytes`, an encoded `message`.
pub fn canonical(message: &MessageDescriptor, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let raw =
            next_field(bytes, &mut at).map_err(|e| format!("{}: {e}", message.full_name()))?;
        let field = message.get_field(raw.number);
        let submessage = match (field.as_ref().map(|f| (f.kind(), f.is_map())), raw.contents) {
            (Some((Kind::Message(sub), is_map)), Some(contents)) => Some((sub, is_map, contents)),
            _ => None,
        };
        let (body, map_key) = match submessage {
            Some((sub, is_map, contents)) => {
                let inner = canonical(&sub, contents)?;
                let key = if is_map {
                    Some(map_key(&sub, &inner)?)
                } else {
                    None
                };
                let mut body = Vec::new();
                encode_varint(inner.len() as u64, &mut body);
                body.extend_from_slice(&inner);
                (body, key)
            }
            None => (raw.body.to_vec(), None),
        };
        fields.push(Field {
            number: raw.number,
            raw_tag: raw.tag.to_vec(),
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
        let raw = next_field(bytes, &mut at)?;
        if raw.number != 1 {
            continue;
        }
        return Ok(match (key_field.kind(), raw.varint, raw.contents) {
            (Kind::String, _, Some(contents)) => MapKey::Bytes(contents.to_vec()),
            (Kind::Int32 | Kind::Int64, Some(v), _) => MapKey::Int(v as i64),
            (Kind::Uint32 | Kind::Uint64 | Kind::Bool, Some(v), _) => MapKey::Uint(v),
            (kind, _, _) => return Err(format!("unsupported map key type {kind:?}")),
        });
    }
    // An absent key is the default key, which sorts first.
    Ok(match key_field.kind() {
        Kind::String => MapKey::Bytes(Vec::new()),
        Kind::Int32 | Kind::Int64 => MapKey::Int(0),
        _ => MapKey::Uint(0),
    })
}
