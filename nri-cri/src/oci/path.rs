//! Lexical path handling for comparing and ordering container paths.

/// `path` in its shortest lexical form: repeated and trailing slashes
/// dropped, `.` elements removed, `..` resolved against the preceding
/// element (at the root it stays at the root). Nothing is looked up on disk.
/// An empty path is `.`.
pub(super) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// How deep `path` is: the number of separators in its clean form, so `/`
/// and `/a` are 1 and `/a/b` is 2. Mounts are ordered by it.
pub(super) fn depth(path: &str) -> usize {
    clean(path).matches('/').count()
}

/// Whether `path` (clean, absolute) is `dir` (clean, absolute) or lies below
/// it.
pub(super) fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_lexical_rules() {
        let cases = [
            ("", "."),
            ("/", "/"),
            ("//", "/"),
            ("/a/", "/a"),
            ("/a//b/./c/", "/a/b/c"),
            ("/a/b/../c", "/a/c"),
            ("/../a", "/a"),
            ("a/../..", ".."),
            ("../../a", "../../a"),
            ("./a", "a"),
            (".", "."),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn depth_counts_separators_of_the_clean_path() {
        assert_eq!(depth("/"), 1);
        assert_eq!(depth("/a"), 1);
        assert_eq!(depth("/a/b/"), 2);
        assert_eq!(depth("/a/../b/c"), 2);
        assert_eq!(depth("a"), 0);
    }

    #[test]
    fn within_respects_component_boundaries() {
        assert!(is_within("/a/b", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(is_within("/anything", "/"));
        assert!(!is_within("/ab", "/a"));
        assert!(!is_within("/a", "/a/b"));
    }
}
