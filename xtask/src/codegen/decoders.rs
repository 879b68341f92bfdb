//! Our generator of single-pass decoders (`nri_proto::decode::Decode`) for
//! the prost message types.
//!
//! It reads the code prost-build produced and, per `#[derive(Message)]`
//! struct, turns each field's `#[prost(...)]` attribute into a call of the
//! `Reader` method for that field kind. Field kinds it does not know stop
//! code generation with an error naming the field, so a schema change
//! cannot silently produce a decoder that disagrees with prost.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use syn::{Attribute, Fields, Item, ItemStruct, LitStr};

/// The `Decode` implementations for every message in `messages` (prost-build
/// output), as Rust source to include next to the messages.
pub fn generate(messages: &str) -> Result<String> {
    let file = syn::parse_file(messages).context("prost-build output does not parse")?;
    let mut out = String::new();
    walk(&file.items, "", &mut out)?;
    Ok(out)
}

/// Visits `items` (in module `prefix`, e.g. `log_request::`), recursing into
/// the modules prost-build makes for nested types.
fn walk(items: &[Item], prefix: &str, out: &mut String) -> Result<()> {
    for item in items {
        match item {
            Item::Struct(message) if derives_message(&message.attrs) => {
                write_impl(message, prefix, out)
                    .with_context(|| format!("message {prefix}{}", message.ident))?;
            }
            Item::Mod(module) => {
                if let Some((_, items)) = &module.content {
                    walk(items, &format!("{prefix}{}::", module.ident), out)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a struct derives `prost::Message`.
fn derives_message(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let mut found = false;
        if attr.path().is_ident("derive") {
            let _ = attr.parse_nested_meta(|meta| {
                found |= meta
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Message");
                Ok(())
            });
        }
        found
    })
}

/// What a `#[prost(...)]` attribute says about a field.
#[derive(Default)]
struct ProstField {
    /// The kind word: `string`, `int64`, `message`, `enumeration`, ...
    kind: String,
    /// The `btree_map = "key, value"` types, for a map.
    map: Option<(String, String)>,
    repeated: bool,
    optional: bool,
    tag: Option<u32>,
}

fn prost_field(attrs: &[Attribute]) -> Result<Option<ProstField>> {
    let Some(attr) = attrs.iter().find(|a| a.path().is_ident("prost")) else {
        return Ok(None);
    };
    let mut field = ProstField::default();
    attr.parse_nested_meta(|meta| {
        let name = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match name.as_str() {
            "repeated" => field.repeated = true,
            "optional" => field.optional = true,
            "tag" => {
                let value: LitStr = meta.value()?.parse()?;
                field.tag = Some(value.value().parse().map_err(|e| meta.error(e))?);
            }
            "btree_map" => {
                let value: LitStr = meta.value()?.parse()?;
                let text = value.value();
                let (key, val) = text
                    .split_once(',')
                    .ok_or_else(|| meta.error("a map attribute without a value type"))?;
                field.map = Some((key.trim().to_string(), val.trim().to_string()));
            }
            "enumeration" => {
                // The enum's name: the field is an `i32` either way.
                let _: LitStr = meta.value()?.parse()?;
                field.kind = name;
            }
            _ => {
                if meta.input.peek(syn::Token![=]) {
                    return Err(meta.error(format!("unsupported prost option `{name}`")));
                }
                field.kind = name;
            }
        }
        Ok(())
    })?;
    Ok(Some(field))
}

/// The `Reader` call that merges a field of this kind into `target`.
fn merge_call(field: &ProstField, target: &str) -> Result<String> {
    if let Some((key, value)) = &field.map {
        let part = |ty: &str| -> Result<&'static str> {
            Ok(match ty {
                "string" => "crate::decode::Reader::map_string",
                "int32" => "crate::decode::Reader::map_int32",
                "message" => "crate::decode::Reader::message",
                other => bail!("unsupported map part type `{other}`"),
            })
        };
        return Ok(format!(
            "reader.map_entry(wire_type, &mut {target}, budget, {}, {})",
            part(key)?,
            part(value)?
        ));
    }
    Ok(match (field.kind.as_str(), field.repeated) {
        ("string", false) => format!("reader.string(wire_type, &mut {target})"),
        ("string", true) => format!("reader.strings(wire_type, &mut {target})"),
        ("int32" | "int64" | "uint32" | "uint64" | "bool" | "enumeration", false) => {
            format!("reader.scalar(wire_type, &mut {target})")
        }
        ("int32" | "int64" | "uint32" | "uint64" | "bool" | "enumeration", true) => {
            format!("reader.scalars(wire_type, &mut {target})")
        }
        ("message", false) if field.optional => format!(
            "reader.message(wire_type, {target}.get_or_insert_with(Default::default), budget)"
        ),
        ("message", true) => format!("reader.messages(wire_type, &mut {target}, budget)"),
        (kind, repeated) => bail!(
            "unsupported field kind `{kind}`{}",
            if repeated { " (repeated)" } else { "" }
        ),
    })
}

fn write_impl(message: &ItemStruct, prefix: &str, out: &mut String) -> Result<()> {
    let name = message.ident.to_string();
    let mut arms = String::new();
    if let Fields::Named(fields) = &message.fields {
        for f in &fields.named {
            let Some(ident) = &f.ident else { continue };
            let Some(field) = prost_field(&f.attrs)? else {
                bail!("field {ident} has no #[prost] attribute");
            };
            let tag = field
                .tag
                .with_context(|| format!("field {ident} has no tag"))?;
            let call = merge_call(&field, &format!("self.{ident}"))
                .with_context(|| format!("field {ident}"))?;
            let field_name = ident.to_string();
            let field_name = field_name.trim_start_matches("r#");
            writeln!(
                arms,
                "{tag} => {call}.map_err(|error| error.within({name:?}, {field_name:?})),"
            )?;
        }
    }
    write!(
        out,
        "impl crate::decode::Decode for {prefix}{name} {{
            #[inline]
            fn merge_field(
                &mut self,
                tag: u32,
                wire_type: u8,
                reader: &mut crate::decode::Reader<'_>,
                budget: u32,
            ) -> ::core::result::Result<(), crate::decode::DecodeError> {{
                match tag {{
                    {arms}
                    _ => reader.skip(wire_type, tag, budget),
                }}
            }}
        }}
        "
    )?;
    Ok(())
}
