//! Effective pod annotations, and decoding their YAML values the way
//! upstream's Go samples do.
//!
//! # Lookup
//!
//! Upstream's sample plugins are configured per pod through annotations
//! (`PodSandbox.annotations`), scoped to one container or to the whole pod by
//! a suffix of the key:
//!
//! | scope | key |
//! |---|---|
//! | one container | `<key>/container.<container name>` |
//! | the pod | `<key>/pod` |
//! | the pod (shorthand) | `<key>` |
//!
//! [`effective`] returns the most specific annotation that applies to a
//! container. Upstream has two variants of this, and it covers both:
//!
//! - `device-injector` (its private `getAnnotation`) also accepts a legacy
//!   key (`devices.nri.io` next to `devices.noderesource.dev`) and tries, in
//!   this order: `K/container.N`, `L/container.N`, `K/pod`, `L/pod`, `K`,
//!   `L`. A more specific legacy key beats a less specific current one; at
//!   equal specificity the current key wins. Candidate keys that are empty or
//!   start with `/` are skipped, which is how upstream leaves out the legacy
//!   key of kinds that have none (sysctl): pass `None` for `legacy` here.
//! - `pkg/plugin.GetEffectiveAnnotation` (used by `writable-cgroups` and the
//!   default validator) has no legacy key and tries `K/container.N`, `K/pod`,
//!   `K`: that is [`effective`] with `legacy: None`.
//!
//! `ulimit-adjuster` only honours container-scoped keys, current then
//! legacy, and never the pod-level or bare ones: that is [`container_scoped`].
//!
//! In every variant the first key that is *present* wins, even if its value
//! is empty: an empty container-scoped annotation shadows a pod-scoped one.
//! What an empty value then means is up to the plugin.
//!
//! # Values
//!
//! Upstream decodes annotation values with `sigs.k8s.io/yaml`, which parses
//! YAML 1.1 with go-yaml v2, converts the result to JSON and decodes that with
//! Go's `encoding/json`. The crate-internal `value` module reproduces the parts
//! of that pipeline that decide what a value means, so that the ports accept
//! and reject what upstream does; its errors are [`DecodeError`]s:
//!
//! - YAML 1.1 scalars: `0644` is octal (420), `0x1a4` and `0o644` too; `yes`,
//!   `no`, `on`, `off`, `y`, `n` are booleans; `~`, `null` and an empty value
//!   are null.
//! - Mapping keys are matched to field names case-insensitively (`Name` and
//!   `hostif` both set `name` and `hostIf`); unknown keys are ignored; when
//!   several keys fold to the same field, they are applied in sorted key order
//!   (the order JSON encoding puts them in), so the last of them wins.
//! - A number or boolean given where a string is expected becomes a string
//!   (`256` becomes `"256"`, `yes` becomes `"true"`, `1.5` becomes `"1.5"`).
//! - Integers must be numbers (a quoted `"1"` is an error), must fit the
//!   field's Go type, and may be written as floats with no fractional part
//!   (`1e3`).
//! - `null` leaves a scalar field at its zero value and empties a list; a null
//!   list element is the element type's zero value.
//! - Infinities and NaN are errors unless they end up in a string field, and
//!   mapping keys must be scalars.
//!
//! Not reproduced: go-yaml decodes only the first document of a multi-document
//! value while this crate rejects such values, and go-yaml strips underscores
//! anywhere in a number (`1__0` is 10) while this crate reads such spellings as
//! strings.

use std::collections::BTreeMap;

/// The suffix separating a key from the name of the container it applies to.
pub const CONTAINER_SCOPE: &str = "/container.";

/// The suffix of a pod-scoped key.
pub const POD_SCOPE: &str = "/pod";

/// The container-scoped form of `key`: `<key>/container.<container>`.
pub fn container_key(key: &str, container: &str) -> String {
    format!("{key}{CONTAINER_SCOPE}{container}")
}

/// The pod-scoped form of `key`: `<key>/pod`.
pub fn pod_key(key: &str) -> String {
    format!("{key}{POD_SCOPE}")
}

/// The keys [`effective`] tries, most specific first, without the ones it
/// skips (empty, or starting with `/`).
pub fn candidate_keys(key: &str, legacy: Option<&str>, container: &str) -> Vec<String> {
    let legacy = legacy.unwrap_or("");
    [
        container_key(key, container),
        container_key(legacy, container),
        pod_key(key),
        pod_key(legacy),
        key.to_string(),
        legacy.to_string(),
    ]
    .into_iter()
    .filter(|k| !k.is_empty() && !k.starts_with('/'))
    .collect()
}

/// The annotation that applies to `container` for `key` (with an optional
/// legacy key), as the matched key and its value.
///
/// Keys are tried in the order of [`candidate_keys`]: container-scoped,
/// pod-scoped, then bare, the current key before the legacy one at each
/// level. The first key present wins, even if its value is empty.
///
/// ```
/// use std::collections::BTreeMap;
/// use nri_sample_plugins::annotations::effective;
///
/// let annotations = BTreeMap::from([
///     ("devices.noderesource.dev/pod".to_string(), "pod-wide".to_string()),
///     ("devices.nri.io/container.c0".to_string(), "for c0".to_string()),
/// ]);
/// let found = effective(&annotations, "devices.noderesource.dev", Some("devices.nri.io"), "c0");
/// assert_eq!(found, Some(("devices.nri.io/container.c0", "for c0")));
/// let found = effective(&annotations, "devices.noderesource.dev", Some("devices.nri.io"), "c1");
/// assert_eq!(found, Some(("devices.noderesource.dev/pod", "pod-wide")));
/// ```
pub fn effective<'a>(
    annotations: &'a BTreeMap<String, String>,
    key: &str,
    legacy: Option<&str>,
    container: &str,
) -> Option<(&'a str, &'a str)> {
    first_present(annotations, candidate_keys(key, legacy, container))
}

/// The container-scoped annotation for `container`: `<key>/container.<name>`,
/// else `<legacy>/container.<name>`; pod-level and bare keys are not
/// consulted. This is `ulimit-adjuster`'s lookup. The first key present wins,
/// even if its value is empty.
pub fn container_scoped<'a>(
    annotations: &'a BTreeMap<String, String>,
    key: &str,
    legacy: Option<&str>,
    container: &str,
) -> Option<(&'a str, &'a str)> {
    let keys = [Some(key), legacy]
        .into_iter()
        .flatten()
        .filter(|k| !k.is_empty())
        .map(|k| container_key(k, container));
    first_present(annotations, keys)
}

fn first_present(
    annotations: &BTreeMap<String, String>,
    keys: impl IntoIterator<Item = String>,
) -> Option<(&str, &str)> {
    keys.into_iter().find_map(|k| {
        annotations
            .get_key_value(&k)
            .map(|(k, v)| (k.as_str(), v.as_str()))
    })
}

/// Why an annotation value could not be decoded.
///
/// `path` fields locate the offending value: `$` is the whole value, `$[1]`
/// the second list element, `$[1].major` a field of it, `$["a.b"]` a map
/// entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The value is not YAML.
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// A value has the wrong type, or a number does not fit its field.
    #[error("{path}: cannot decode {found} as {expected}")]
    Type {
        /// Where the value is.
        path: String,
        /// What was found, e.g. `string "1"` or `number 1.5`.
        found: String,
        /// What was expected, e.g. `int64` or `list of devices`.
        expected: &'static str,
    },
    /// A mapping key is null, a list or a mapping.
    #[error("{path}: unsupported mapping key ({found})")]
    Key {
        /// The mapping holding the key.
        path: String,
        /// What the key is.
        found: &'static str,
    },
    /// An infinity or NaN where it cannot be represented (anywhere but in a
    /// string field).
    #[error("{path}: unsupported number {found}")]
    NonFinite {
        /// Where the value is.
        path: String,
        /// The number, as go-yaml spells it.
        found: String,
    },
}

/// Decoding YAML annotation values with the semantics of `sigs.k8s.io/yaml`
/// over Go's `encoding/json` (see the module documentation).
pub(crate) mod value {
    use super::DecodeError;
    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::collections::BTreeMap;
    use std::fmt;

    /// A parsed YAML value. Mapping keys are kept as parsed and converted to
    /// strings when the mapping is decoded.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum Value {
        Null,
        Bool(bool),
        Int(i128),
        Float(f64),
        Str(String),
        Seq(Vec<Value>),
        Map(Vec<(Value, Value)>),
    }

    impl Value {
        /// What the value is, for error messages.
        pub(crate) fn describe(&self) -> String {
            match self {
                Value::Null => "null".to_string(),
                Value::Bool(b) => format!("bool {b}"),
                Value::Int(i) => format!("number {i}"),
                Value::Float(f) => format!("number {}", float_key(*f)),
                Value::Str(s) => format!("string {s:?}"),
                Value::Seq(_) => "list".to_string(),
                Value::Map(_) => "mapping".to_string(),
            }
        }
    }

    impl<'de> Deserialize<'de> for Value {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(ValueVisitor)
        }
    }

    struct ValueVisitor;

    impl<'de> Visitor<'de> for ValueVisitor {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any YAML value")
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            Value::deserialize(d)
        }

        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::Int(v.into()))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::Int(v.into()))
        }

        fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
            Ok(Value::Int(v))
        }

        fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
            Ok(match i128::try_from(v) {
                Ok(i) => Value::Int(i),
                // Beyond any integer type a field can have.
                Err(_) => Value::Float(v as f64),
            })
        }

        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Value::Float(v))
        }

        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::Str(v.to_string()))
        }

        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::Str(v))
        }

        // go-yaml decodes `!!binary` into a string of the decoded bytes.
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
            String::from_utf8(v.to_vec())
                .map(Value::Str)
                .map_err(|_| E::custom("binary value is not UTF-8"))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Value::Seq(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(Value::Map(entries))
        }
    }

    /// Parses one YAML document (JSON included).
    pub(crate) fn parse(text: &str) -> Result<Value, DecodeError> {
        let mut options = serde_saphyr::Options::default();
        // YAML 1.1 like go-yaml v2: 0644 is octal.
        options.legacy_octal_numbers = true;
        // go-yaml v2 keeps the last of duplicate keys.
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
        // Infinities and NaN are judged where they are used.
        options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
        options.with_snippet = false;
        serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| DecodeError::Syntax(e.to_string()))
    }

    fn mismatch(path: &str, found: &Value, expected: &'static str) -> DecodeError {
        DecodeError::Type {
            path: path.to_string(),
            found: found.describe(),
            expected,
        }
    }

    /// A string field: strings as they are, numbers and booleans converted
    /// the way `sigs.k8s.io/yaml` does; `None` for null.
    pub(crate) fn string(v: &Value, path: &str) -> Result<Option<String>, DecodeError> {
        match v {
            Value::Null => Ok(None),
            Value::Str(s) => Ok(Some(s.clone())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            Value::Int(i) => Ok(Some(i.to_string())),
            Value::Float(f) => Ok(Some(go_float32_g(*f))),
            Value::Seq(_) | Value::Map(_) => Err(mismatch(path, v, "string")),
        }
    }

    /// An integer field of Go type `expected`; `None` for null.
    ///
    /// Floats pass if JSON encoding would print them without a fraction or
    /// exponent, as Go then parses them as integers.
    pub(crate) fn integer<T: TryFrom<i128>>(
        v: &Value,
        path: &str,
        expected: &'static str,
    ) -> Result<Option<T>, DecodeError> {
        let unsigned = expected.starts_with('u');
        let wide = match v {
            Value::Null => return Ok(None),
            Value::Int(i) => *i,
            Value::Float(f) if !f.is_finite() => {
                return Err(DecodeError::NonFinite {
                    path: path.to_string(),
                    found: float_key(*f),
                });
            }
            // encoding/json prints such floats as plain integers ("-0" for
            // negative zero, which unsigned fields reject).
            Value::Float(f)
                if f.fract() == 0.0
                    && f.abs() < 1e21
                    && !(unsigned && *f == 0.0 && f.is_sign_negative()) =>
            {
                *f as i128
            }
            _ => return Err(mismatch(path, v, expected)),
        };
        T::try_from(wide)
            .map(Some)
            .map_err(|_| mismatch(path, v, expected))
    }

    /// A list; `None` for null.
    pub(crate) fn list<'v>(
        v: &'v Value,
        path: &str,
        expected: &'static str,
    ) -> Result<Option<&'v [Value]>, DecodeError> {
        match v {
            Value::Null => Ok(None),
            Value::Seq(items) => Ok(Some(items)),
            _ => Err(mismatch(path, v, expected)),
        }
    }

    /// A mapping with its keys converted to strings, in sorted order, the
    /// last of duplicate keys winning; `None` for null.
    pub(crate) fn mapping<'v>(
        v: &'v Value,
        path: &str,
        expected: &'static str,
    ) -> Result<Option<BTreeMap<String, &'v Value>>, DecodeError> {
        let entries = match v {
            Value::Null => return Ok(None),
            Value::Map(entries) => entries,
            _ => return Err(mismatch(path, v, expected)),
        };
        let mut map = BTreeMap::new();
        for (key, value) in entries {
            let key = match key {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                Value::Float(f) => float_key(*f),
                Value::Bool(b) => b.to_string(),
                Value::Null | Value::Seq(_) | Value::Map(_) => {
                    return Err(DecodeError::Key {
                        path: path.to_string(),
                        found: match key {
                            Value::Null => "null",
                            Value::Seq(_) => "list",
                            _ => "mapping",
                        },
                    });
                }
            };
            map.insert(key, value);
        }
        Ok(Some(map))
    }

    /// The path of a mapping entry below `path`.
    pub(crate) fn entry_path(path: &str, key: &str) -> String {
        format!("{path}[{key:?}]")
    }

    /// The path of a list element below `path`.
    pub(crate) fn index_path(path: &str, index: usize) -> String {
        format!("{path}[{index}]")
    }

    /// A struct: each entry whose key folds to one of `fields` is handed to
    /// `set` with the field's index, in sorted key order; other entries are
    /// ignored (but must still be representable). Null leaves the struct
    /// alone.
    pub(crate) fn fields<'v>(
        v: &'v Value,
        path: &str,
        expected: &'static str,
        fields: &[&str],
        mut set: impl FnMut(usize, &'v Value, &str) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let Some(map) = mapping(v, path, expected)? else {
            return Ok(());
        };
        for (key, value) in map {
            match fields.iter().position(|f| fold_eq(&key, f)) {
                Some(index) => set(index, value, &format!("{path}.{}", fields[index]))?,
                None => check(value, &entry_path(path, &key))?,
            }
        }
        Ok(())
    }

    /// A list of strings (`[]string`): null elements are empty strings.
    pub(crate) fn strings(v: &Value, path: &str) -> Result<Option<Vec<String>>, DecodeError> {
        let Some(items) = list(v, path, "list of strings")? else {
            return Ok(None);
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| string(item, &index_path(path, i)).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A map of strings (`map[string]string`): null values are empty strings.
    pub(crate) fn string_map(
        v: &Value,
        path: &str,
        expected: &'static str,
    ) -> Result<Option<BTreeMap<String, String>>, DecodeError> {
        let Some(map) = mapping(v, path, expected)? else {
            return Ok(None);
        };
        let mut out = BTreeMap::new();
        for (key, value) in map {
            let decoded = string(value, &entry_path(path, &key))?.unwrap_or_default();
            out.insert(key, decoded);
        }
        Ok(Some(out))
    }

    /// Sets a string field unless `v` is null.
    pub(crate) fn set_string(slot: &mut String, v: &Value, path: &str) -> Result<(), DecodeError> {
        if let Some(s) = string(v, path)? {
            *slot = s;
        }
        Ok(())
    }

    /// Sets an integer field unless `v` is null.
    pub(crate) fn set_integer<T: TryFrom<i128>>(
        slot: &mut T,
        v: &Value,
        path: &str,
        expected: &'static str,
    ) -> Result<(), DecodeError> {
        if let Some(i) = integer(v, path, expected)? {
            *slot = i;
        }
        Ok(())
    }

    /// Sets a `[]string` field; null empties it.
    pub(crate) fn set_strings(
        slot: &mut Vec<String>,
        v: &Value,
        path: &str,
    ) -> Result<(), DecodeError> {
        *slot = strings(v, path)?.unwrap_or_default();
        Ok(())
    }

    /// Checks a value no field takes: Go still converts it to JSON, which
    /// fails on non-scalar keys and non-finite numbers.
    pub(crate) fn check(v: &Value, path: &str) -> Result<(), DecodeError> {
        match v {
            Value::Float(f) if !f.is_finite() => Err(DecodeError::NonFinite {
                path: path.to_string(),
                found: float_key(*f),
            }),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| check(item, &index_path(path, i))),
            Value::Map(_) => {
                let map = mapping(v, path, "mapping")?.unwrap_or_default();
                map.iter()
                    .try_for_each(|(key, value)| check(value, &entry_path(path, key)))
            }
            _ => Ok(()),
        }
    }

    /// Whether a mapping key selects a struct field the way Go's
    /// `encoding/json` matches them: case-insensitively, folding each rune
    /// to upper case of its lower case (so `ſ`, `K` (Kelvin), `ı` and `İ`
    /// match ASCII letters too).
    pub(crate) fn fold_eq(key: &str, field: &str) -> bool {
        fn fold(c: char) -> char {
            match c {
                '\u{017F}' => 'S',
                '\u{212A}' => 'K',
                '\u{0131}' | '\u{0130}' => 'I',
                c => c.to_ascii_uppercase(),
            }
        }
        key.chars().map(fold).eq(field.chars().map(fold))
    }

    /// A float as go-yaml spells it in a key (`.inf`, `-.inf`, `.nan`, else
    /// like Go's `FormatFloat(f, 'g', -1, 32)`).
    fn float_key(f: f64) -> String {
        if f.is_nan() {
            ".nan".to_string()
        } else if f.is_infinite() {
            if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
        } else {
            go_float32_g(f)
        }
    }

    /// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest digits that
    /// identify the value as a float32, in `%e` form for exponents below -4
    /// or from 6 on, else in `%f` form.
    pub(crate) fn go_float32_g(f: f64) -> String {
        let x = f as f32;
        if x.is_nan() {
            return "NaN".to_string();
        }
        if x.is_infinite() {
            return if x > 0.0 { "+Inf" } else { "-Inf" }.to_string();
        }
        // Rust prints the shortest round-trip digits: "-1.5e-7", "1e6", "0e0".
        let sci = format!("{x:e}");
        let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
        let negative = mantissa.starts_with('-');
        let digits: Vec<u8> = mantissa.bytes().filter(|b| b.is_ascii_digit()).collect();
        let exp: i64 = exponent.parse().unwrap_or(0);
        let mut out = String::new();
        if negative {
            out.push('-');
        }
        if digits.iter().all(|d| *d == b'0') {
            out.push('0');
            return out;
        }
        let nd = digits.len() as i64;
        let digit = |i: i64| -> char {
            usize::try_from(i)
                .ok()
                .and_then(|i| digits.get(i))
                .map_or('0', |d| char::from(*d))
        };
        if !(-4..6).contains(&exp) {
            out.push(digit(0));
            if nd > 1 {
                out.push('.');
                (1..nd).for_each(|i| out.push(digit(i)));
            }
            out.push('e');
            out.push(if exp < 0 { '-' } else { '+' });
            out.push_str(&format!("{:02}", exp.abs()));
        } else {
            // Decimal point after `dp` digits.
            let dp = exp + 1;
            if dp > 0 {
                (0..dp).for_each(|i| out.push(digit(i)));
            } else {
                out.push('0');
            }
            let frac = (nd - dp).max(0);
            if frac > 0 {
                out.push('.');
                (0..frac).for_each(|i| out.push(digit(dp + i)));
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::value::{self, Value};
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const K: &str = "devices.noderesource.dev";
    const L: &str = "devices.nri.io";

    // Upstream device-injector README: the six keys in order of precedence.
    #[test]
    fn candidate_keys_follow_device_injector_precedence() {
        assert_eq!(
            candidate_keys(K, Some(L), "c0"),
            [
                "devices.noderesource.dev/container.c0",
                "devices.nri.io/container.c0",
                "devices.noderesource.dev/pod",
                "devices.nri.io/pod",
                "devices.noderesource.dev",
                "devices.nri.io",
            ]
        );
        // No legacy key (device-injector's sysctl, GetEffectiveAnnotation).
        assert_eq!(
            candidate_keys("sysctl.noderesource.dev", None, "c0"),
            [
                "sysctl.noderesource.dev/container.c0",
                "sysctl.noderesource.dev/pod",
                "sysctl.noderesource.dev",
            ]
        );
        // Upstream skips candidates that are empty or start with '/'.
        assert_eq!(
            candidate_keys("x", Some(""), "c"),
            ["x/container.c", "x/pod", "x"]
        );
        assert!(candidate_keys("", None, "c").is_empty());
    }

    // Every pair of levels, walked from the most specific key down: removing
    // the winner exposes the next candidate.
    #[test]
    fn each_level_shadows_the_next() {
        let mut annotations = map(&[
            ("devices.noderesource.dev/container.c0", "1"),
            ("devices.nri.io/container.c0", "2"),
            ("devices.noderesource.dev/pod", "3"),
            ("devices.nri.io/pod", "4"),
            ("devices.noderesource.dev", "5"),
            ("devices.nri.io", "6"),
            ("devices.noderesource.dev/container.c1", "other"),
        ]);
        for expected in ["1", "2", "3", "4", "5", "6"] {
            let (key, value) = effective(&annotations, K, Some(L), "c0").unwrap();
            assert_eq!(value, expected);
            let key = key.to_string();
            annotations.remove(&key);
        }
        assert_eq!(effective(&annotations, K, Some(L), "c0"), None);
        assert_eq!(
            effective(&annotations, K, Some(L), "c1"),
            Some(("devices.noderesource.dev/container.c1", "other"))
        );
    }

    // Upstream device-injector tests "prefer more specific key even if old"
    // and "prefer new key for equal specificity".
    #[test]
    fn specificity_beats_the_domain() {
        let annotations = map(&[
            ("devices.noderesource.dev/pod", "pod"),
            ("devices.nri.io/container.ctr0", "old-container"),
        ]);
        assert_eq!(
            effective(&annotations, K, Some(L), "ctr0"),
            Some(("devices.nri.io/container.ctr0", "old-container"))
        );
        let annotations = map(&[
            ("devices.noderesource.dev/container.ctr0", "new"),
            ("devices.nri.io/container.ctr0", "old"),
        ]);
        assert_eq!(
            effective(&annotations, K, Some(L), "ctr0").map(|(_, v)| v),
            Some("new")
        );
    }

    // Upstream returns the first key present, whatever its value.
    #[test]
    fn an_empty_value_still_shadows() {
        let annotations = map(&[
            ("devices.noderesource.dev/container.c0", ""),
            ("devices.noderesource.dev/pod", "pod"),
        ]);
        assert_eq!(
            effective(&annotations, K, Some(L), "c0"),
            Some(("devices.noderesource.dev/container.c0", ""))
        );
        assert_eq!(effective(&BTreeMap::new(), K, Some(L), "c0"), None);
    }

    // GetEffectiveAnnotation (pkg/plugin/annotations.go): container, pod, bare.
    #[test]
    fn without_legacy_key_is_get_effective_annotation() {
        let key = "writable-cgroups.noderesource.dev";
        let annotations = map(&[
            (key, "bare"),
            ("writable-cgroups.noderesource.dev/pod", "pod"),
        ]);
        assert_eq!(effective(&annotations, key, None, "c").unwrap().1, "pod");
        let annotations = map(&[(key, "bare")]);
        assert_eq!(effective(&annotations, key, None, "c").unwrap().1, "bare");
    }

    // ulimit-adjuster's parseUlimits: container-scoped keys only.
    #[test]
    fn container_scoped_ignores_pod_and_bare_keys() {
        let k = "ulimits.noderesource.dev";
        let l = "ulimits.nri.containerd.io";
        let annotations = map(&[
            ("ulimits.noderesource.dev/pod", "pod"),
            ("ulimits.noderesource.dev", "bare"),
        ]);
        assert_eq!(container_scoped(&annotations, k, Some(l), "c"), None);
        let annotations = map(&[
            ("ulimits.nri.containerd.io/container.c", "old"),
            ("ulimits.noderesource.dev/container.c", "new"),
        ]);
        assert_eq!(
            container_scoped(&annotations, k, Some(l), "c"),
            Some(("ulimits.noderesource.dev/container.c", "new"))
        );
        let annotations = map(&[("ulimits.nri.containerd.io/container.c", "old")]);
        assert_eq!(
            container_scoped(&annotations, k, Some(l), "c").unwrap().1,
            "old"
        );
    }

    #[test]
    fn yaml_1_1_scalars() {
        let v = value::parse("[0644, 0o644, 0x1a4, yes, off, ~, '0644', 1e3, 08]").unwrap();
        assert_eq!(
            v,
            Value::Seq(vec![
                Value::Int(420),
                Value::Int(420),
                Value::Int(420),
                Value::Bool(true),
                Value::Bool(false),
                Value::Null,
                Value::Str("0644".into()),
                Value::Float(1000.0),
                Value::Float(8.0),
            ])
        );
        assert_eq!(value::parse("").unwrap(), Value::Null);
        assert_eq!(value::parse("# only a comment\n").unwrap(), Value::Null);
        assert!(matches!(value::parse("[1, 2"), Err(DecodeError::Syntax(_))));
    }

    #[test]
    fn scalars_become_strings_like_sigs_k8s_io_yaml() {
        let v = value::parse("[256, yes, 1.5, 1e6, 0.0001, -0.0, .inf, abc, ~]").unwrap();
        let strings = value::strings(&v, "$").unwrap().unwrap();
        assert_eq!(
            strings,
            [
                "256", "true", "1.5", "1e+06", "0.0001", "-0", "+Inf", "abc", ""
            ]
        );
        let err = value::string(&value::parse("[a]").unwrap(), "$.x").unwrap_err();
        assert_eq!(
            err,
            DecodeError::Type {
                path: "$.x".into(),
                found: "list".into(),
                expected: "string"
            }
        );
    }

    #[test]
    fn go_float_formatting() {
        for (f, s) in [
            (0.0, "0"),
            (1.0, "1"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.1, "0.1"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (16777217.0, "1.6777216e+07"),
            (std::f64::consts::PI, "3.1415927"),
            (1e300, "+Inf"),
        ] {
            assert_eq!(value::go_float32_g(f), s, "{f}");
        }
    }

    #[test]
    fn integers_follow_encoding_json() {
        let int = |text: &str, ty: &'static str| -> Result<Option<i64>, DecodeError> {
            value::integer::<i64>(&value::parse(text).unwrap(), "$", ty)
        };
        assert_eq!(int("42", "int64"), Ok(Some(42)));
        assert_eq!(int("~", "int64"), Ok(None));
        assert_eq!(int("1e3", "int64"), Ok(Some(1000)));
        assert_eq!(int("-0.0", "int64"), Ok(Some(0)));
        assert!(int("1.5", "int64").is_err());
        assert!(int("1e21", "int64").is_err());
        assert!(int("'42'", "int64").is_err());
        assert!(int("true", "int64").is_err());
        assert!(int("[1]", "int64").is_err());
        assert!(matches!(
            int(".nan", "int64"),
            Err(DecodeError::NonFinite { .. })
        ));
        let u32_of =
            |text: &str| value::integer::<u32>(&value::parse(text).unwrap(), "$", "uint32");
        assert_eq!(u32_of("4294967295"), Ok(Some(u32::MAX)));
        assert!(u32_of("4294967296").is_err());
        assert!(u32_of("-1").is_err());
        assert!(u32_of("-0.0").is_err());
        let u64_of =
            |text: &str| value::integer::<u64>(&value::parse(text).unwrap(), "$", "uint64");
        assert_eq!(u64_of("18446744073709551615"), Ok(Some(u64::MAX)));
    }

    #[test]
    fn struct_fields_fold_case_and_sort() {
        let v = value::parse("{Name: a, HOSTIF: b, unknown: [1], ſource: s}").unwrap();
        let mut seen = Vec::new();
        value::fields(&v, "$", "x", &["hostIf", "name", "source"], |i, v, p| {
            seen.push((i, value::string(v, p)?.unwrap(), p.to_string()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (0, "b".to_string(), "$.hostIf".to_string()),
                (1, "a".to_string(), "$.name".to_string()),
                (2, "s".to_string(), "$.source".to_string()),
            ]
        );
        // "Name" sorts before "name": the lower-case spelling wins.
        let v = value::parse("{name: low, Name: up}").unwrap();
        let mut name = String::new();
        value::fields(&v, "$", "x", &["name"], |_, v, p| {
            value::set_string(&mut name, v, p)
        })
        .unwrap();
        assert_eq!(name, "low");
    }

    #[test]
    fn ignored_values_must_still_convert_to_json() {
        let v = value::parse("{known: 1, other: {a: .inf}}").unwrap();
        let err = value::fields(&v, "$", "x", &["known"], |_, _, _| Ok(())).unwrap_err();
        assert_eq!(
            err,
            DecodeError::NonFinite {
                path: "$[\"other\"][\"a\"]".into(),
                found: ".inf".into()
            }
        );
        let v = value::parse("{known: 1, other: {~: 1}}").unwrap();
        assert!(matches!(
            value::fields(&v, "$", "x", &["known"], |_, _, _| Ok(())),
            Err(DecodeError::Key { .. })
        ));
    }

    #[test]
    fn string_maps_stringify_keys_and_values() {
        let v = value::parse("{1: 2, true: yes, x: ~, a.b: '3', 1.5: x}").unwrap();
        let m = value::string_map(&v, "$", "map").unwrap().unwrap();
        assert_eq!(
            m,
            map(&[
                ("1", "2"),
                ("true", "true"),
                ("x", ""),
                ("a.b", "3"),
                ("1.5", "x")
            ])
        );
        // Duplicate keys: the last one wins, as in go-yaml v2.
        let v = value::parse("a: 1\na: 2\n").unwrap();
        assert_eq!(
            value::string_map(&v, "$", "map").unwrap().unwrap(),
            map(&[("a", "2")])
        );
        assert!(value::string_map(&value::parse("[a]").unwrap(), "$", "map").is_err());
    }
}
