//! Removal markers.
//!
//! In a `ContainerAdjustment`, a plugin removes an annotation, environment
//! variable, mount, device, namespace or sysctl by sending its key with a `-`
//! in front. For example the annotation `-foo` removes `foo`.
//!
//! ```
//! use nri_proto::removal;
//!
//! let marked = removal::mark("foo");
//! assert_eq!(marked, "-foo");
//! assert_eq!(removal::marked_key(&marked), Some("foo"));
//! assert_eq!(removal::marked_key("foo"), None);
//! ```

/// The prefix that marks a key for removal.
pub const MARKER: char = '-';

/// `key` marked for removal.
pub fn mark(key: &str) -> String {
    let mut marked = String::with_capacity(key.len() + 1);
    marked.push(MARKER);
    marked.push_str(key);
    marked
}

/// The key a removal marker removes, or `None` if `key` is not marked.
pub fn marked_key(key: &str) -> Option<&str> {
    key.strip_prefix(MARKER)
}

/// Whether `key` is marked for removal.
pub fn is_marked(key: &str) -> bool {
    key.starts_with(MARKER)
}

/// The key without its removal marker, and whether it had one.
pub fn split(key: &str) -> (&str, bool) {
    match marked_key(key) {
        Some(plain) => (plain, true),
        None => (key, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn mark_then_split_gives_the_key_back(key in ".*") {
            let marked = mark(&key);
            prop_assert!(is_marked(&marked));
            prop_assert_eq!(split(&marked), (key.as_str(), true));
        }

        #[test]
        fn unmarked_keys_are_left_alone(key in "[^-].*") {
            prop_assert_eq!(split(&key), (key.as_str(), false));
            prop_assert_eq!(marked_key(&key), None);
        }
    }

    #[test]
    fn only_one_marker_is_stripped() {
        assert_eq!(marked_key("--x"), Some("-x"));
    }
}
