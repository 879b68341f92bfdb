//! The `Optional*` wrapper messages.
//!
//! NRI marks "set" for scalars by wrapping them in a one-field message:
//! `Some(OptionalInt64 { value: 0 })` sets zero, `None` leaves the field
//! alone. This module builds wrappers the way upstream's Go helpers
//! (`api.Int64(v)`, …) do, and reads them back with [`OptionalValue::value`].
//!
//! ```
//! use nri_proto::api::LinuxMemory;
//! use nri_proto::optional::{self, OptionalValue};
//!
//! let memory = LinuxMemory {
//!     limit: optional::int64(1 << 30),
//!     disable_oom_killer: optional::bool(false),
//!     ..Default::default()
//! };
//! assert_eq!(memory.limit.value(), Some(1 << 30));
//! assert_eq!(memory.disable_oom_killer.value(), Some(false));
//! assert_eq!(memory.swap.value(), None);
//! ```

use crate::api::{
    OptionalBool, OptionalFileMode, OptionalInt, OptionalInt32, OptionalInt64,
    OptionalRepeatedString, OptionalString, OptionalUInt32, OptionalUInt64,
};

/// A wrapper message and the value it carries.
pub trait Wrapper: Sized {
    /// The wrapped value.
    type Value: Clone;

    /// Wraps a value.
    fn wrap(value: Self::Value) -> Self;

    /// The wrapped value.
    fn get(&self) -> &Self::Value;
}

/// Reading an optional wrapper field.
pub trait OptionalValue {
    /// The wrapped value.
    type Value;

    /// The value if the field is set.
    fn value(&self) -> Option<Self::Value>;
}

impl<W: Wrapper> OptionalValue for Option<W> {
    type Value = W::Value;

    fn value(&self) -> Option<W::Value> {
        self.as_ref().map(|w| w.get().clone())
    }
}

macro_rules! wrappers {
    ($($(#[$doc:meta])* $ctor:ident: $wrapper:ident($value:ty);)*) => {
        $(
            impl Wrapper for $wrapper {
                type Value = $value;

                fn wrap(value: $value) -> Self {
                    $wrapper { value }
                }

                fn get(&self) -> &$value {
                    &self.value
                }
            }

            impl From<$value> for $wrapper {
                fn from(value: $value) -> Self {
                    $wrapper { value }
                }
            }

            $(#[$doc])*
            pub fn $ctor(value: impl Into<$value>) -> Option<$wrapper> {
                Some($wrapper { value: value.into() })
            }
        )*
    };
}

wrappers! {
    /// A set [`OptionalString`].
    string: OptionalString(String);
    /// A set [`OptionalInt`] (64-bit despite its name).
    int: OptionalInt(i64);
    /// A set [`OptionalInt32`].
    int32: OptionalInt32(i32);
    /// A set [`OptionalUInt32`].
    uint32: OptionalUInt32(u32);
    /// A set [`OptionalInt64`].
    int64: OptionalInt64(i64);
    /// A set [`OptionalUInt64`].
    uint64: OptionalUInt64(u64);
    /// A set [`OptionalBool`].
    bool: OptionalBool(bool);
    /// A set [`OptionalFileMode`] (Go `os.FileMode` bits).
    file_mode: OptionalFileMode(u32);
    /// A set [`OptionalRepeatedString`]; an empty list is still "set".
    repeated_string: OptionalRepeatedString(Vec<String>);
}

/// A set [`OptionalRepeatedString`] from any strings.
pub fn strings<I, S>(values: I) -> Option<OptionalRepeatedString>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    repeated_string(values.into_iter().map(Into::into).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn zero_values_are_still_set_on_the_wire() {
        let set = crate::api::LinuxMemory {
            disable_oom_killer: bool(false),
            ..Default::default()
        };
        let bytes = set.encode_to_vec();
        // Field 7, length-delimited, empty wrapper.
        assert_eq!(bytes, vec![7 << 3 | 2, 0]);
        let back = crate::api::LinuxMemory::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(back.disable_oom_killer.value(), Some(false));
    }

    #[test]
    fn strings_builds_an_owned_list() {
        let wrapped = strings(["a", "b"]);
        assert_eq!(
            wrapped.value(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(strings(Vec::<String>::new()).value(), Some(vec![]));
    }

    #[test]
    fn from_and_wrap_agree() {
        assert_eq!(OptionalInt64::from(5), OptionalInt64::wrap(5));
        assert_eq!(*OptionalString::wrap("x".into()).get(), "x");
    }
}
