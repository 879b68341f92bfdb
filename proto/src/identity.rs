//! Plugin identity: a two-digit index and a name.
//!
//! Plugins are ordered by index, and appear as `NN-name` in logs, in
//! ownership records and as the file names of pre-installed plugins. The rules
//! follow upstream (containerd/nri `pkg/adaptation/adaptation.go` and
//! `pkg/adaptation/plugin.go`):
//!
//! - an index is exactly two ASCII digits, `00` to `99`;
//! - an external plugin's name is non-empty and only `[a-zA-Z0-9_.+-]`;
//! - a pre-installed plugin's file name is `NN-name`, split at the first `-`.
//!   Upstream does not check the name part's characters there, and neither do
//!   we (only that it is non-empty), so existing installations keep working.
//!
//! [`PluginId`]s order by index, then by name: the deterministic tie-break
//! nri-rs uses where upstream's sort is unstable.
//!
//! ```
//! use nri_proto::identity::PluginId;
//!
//! let id = PluginId::from_file_name("10-ulimit-adjuster")?;
//! assert_eq!((id.index().as_str(), id.name()), ("10", "ulimit-adjuster"));
//! assert_eq!(id.to_string(), "10-ulimit-adjuster");
//! assert!(PluginId::new("1", "x").is_err());
//! assert!(PluginId::new("05", "bad name").is_err());
//! assert!(PluginId::new("05", "a")? < PluginId::new("05", "b")?);
//! # Ok::<(), nri_proto::identity::IdentityError>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// Why an index or a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The index is not exactly two ASCII digits.
    #[error("invalid plugin index {index:?}: must be exactly two digits (00-99)")]
    InvalidIndex {
        /// The refused index.
        index: String,
    },
    /// The name is empty.
    #[error("invalid plugin name: empty")]
    EmptyName,
    /// The name has a character outside `[a-zA-Z0-9_.+-]`.
    #[error(
        "invalid plugin name {name:?}: character {character:?} is not one of a-z A-Z 0-9 _ . + -"
    )]
    InvalidName {
        /// The refused name.
        name: String,
        /// The first character that is not allowed.
        character: char,
    },
    /// A file name that is not `NN-name`.
    #[error("invalid plugin file name {file_name:?}: expected NN-name, e.g. 10-my-plugin")]
    InvalidFileName {
        /// The refused file name.
        file_name: String,
    },
}

/// A plugin index: exactly two ASCII digits. Debug-prints as its text,
/// `PluginIndex("05")`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginIndex([u8; 2]);

impl fmt::Debug for PluginIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PluginIndex").field(&self.as_str()).finish()
    }
}

impl PluginIndex {
    /// Parses an index.
    pub fn parse(index: &str) -> Result<Self, IdentityError> {
        match index.as_bytes() {
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Ok(PluginIndex([*a, *b])),
            _ => Err(IdentityError::InvalidIndex {
                index: index.to_string(),
            }),
        }
    }

    /// The index as text, e.g. `"05"`.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII digits, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The index as a number, 0 to 99.
    pub fn number(&self) -> u8 {
        (self.0[0] - b'0') * 10 + (self.0[1] - b'0')
    }
}

impl fmt::Display for PluginIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PluginIndex {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PluginIndex::parse(s)
    }
}

/// Checks an external plugin's name: non-empty, only `[a-zA-Z0-9_.+-]`.
pub fn validate_name(name: &str) -> Result<(), IdentityError> {
    if name.is_empty() {
        return Err(IdentityError::EmptyName);
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')))
    {
        Some(character) => Err(IdentityError::InvalidName {
            name: name.to_string(),
            character,
        }),
        None => Ok(()),
    }
}

/// A plugin's index and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginId {
    index: PluginIndex,
    name: String,
}

impl PluginId {
    /// The identity an external plugin registers with; both parts are checked.
    pub fn new(index: &str, name: &str) -> Result<Self, IdentityError> {
        let index = PluginIndex::parse(index)?;
        validate_name(name)?;
        Ok(PluginId {
            index,
            name: name.to_string(),
        })
    }

    /// The identity of a pre-installed plugin from its file name `NN-name`.
    pub fn from_file_name(file_name: &str) -> Result<Self, IdentityError> {
        let invalid = || IdentityError::InvalidFileName {
            file_name: file_name.to_string(),
        };
        let (index, name) = file_name.split_once('-').ok_or_else(invalid)?;
        let index = PluginIndex::parse(index).map_err(|_| invalid())?;
        if name.is_empty() {
            return Err(invalid());
        }
        Ok(PluginId {
            index,
            name: name.to_string(),
        })
    }

    /// The index.
    pub fn index(&self) -> &PluginIndex {
        &self.index
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for PluginId {
    /// `NN-name`, the form upstream uses in logs and ownership records.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.index, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_index_debug_prints_as_its_text() {
        let index = PluginIndex::parse("05").map(|i| format!("{i:?}"));
        assert_eq!(index.as_deref(), Ok(r#"PluginIndex("05")"#));
        let id = PluginId::new("10", "logger").map(|id| format!("{id:?}"));
        assert!(
            id.as_ref()
                .is_ok_and(|id| id.contains(r#"PluginIndex("10")"#)),
            "{id:?}"
        );
    }

    #[test]
    fn index_must_be_two_ascii_digits() {
        for good in ["00", "09", "99"] {
            assert_eq!(
                PluginIndex::parse(good).map(|i| i.to_string()),
                Ok(good.to_string())
            );
        }
        for bad in ["", "1", "100", "a1", "1a", "-1", "١٢", " 1"] {
            assert!(PluginIndex::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(PluginIndex::parse("42").map(|i| i.number()), Ok(42));
    }

    #[test]
    fn names_use_the_external_charset() {
        assert_eq!(validate_name("a-Z_0.9+"), Ok(()));
        assert_eq!(validate_name(""), Err(IdentityError::EmptyName));
        assert!(matches!(
            validate_name("a/b"),
            Err(IdentityError::InvalidName { character: '/', .. })
        ));
    }

    #[test]
    fn file_names_split_at_the_first_dash() {
        let id = PluginId::from_file_name("10-a-b").expect("valid");
        assert_eq!((id.index().as_str(), id.name()), ("10", "a-b"));
        for bad in ["10", "10-", "1-x", "xx-y", "-x", ""] {
            assert!(PluginId::from_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_order_by_index_then_name() {
        let mut ids = [
            PluginId::new("10", "b").expect("valid"),
            PluginId::new("05", "z").expect("valid"),
            PluginId::new("10", "a").expect("valid"),
        ];
        ids.sort();
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["05-z", "10-a", "10-b"]);
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(s in ".{0,12}") {
            if let Ok(id) = PluginId::from_file_name(&s) {
                prop_assert_eq!(id.to_string(), s.clone());
            }
            if let Ok(index) = PluginIndex::parse(&s) {
                prop_assert_eq!(index.as_str(), s.as_str());
            }
        }
    }
}
