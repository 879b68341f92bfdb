//! The runtime's NRI version, when the runtime does not say.
//!
//! Runtimes send their NRI version in `Configure` since NRI v0.12. For older
//! ones the stub infers it from the runtime's name and version, from the
//! releases that shipped each NRI version (upstream's table in
//! containerd/nri `pkg/api/version.go`, read by `pkg/stub/stub.go`): the
//! closest release at or below the runtime's version decides. The table is
//! kept here as the first release of each run of equal NRI versions, which
//! gives the same answers.

use std::cmp::Ordering;

/// Versions a runtime sends when it does not know its own NRI version.
const UNKNOWN: [&str; 3] = ["", "(devel)", "0.0.0-unknown"];

/// containerd: first release with each NRI version, in release order.
const CONTAINERD: &[((u64, u64, u64), &str)] = &[
    ((1, 7, 0), "v0.3.0"),
    ((1, 7, 7), "v0.4.0"),
    ((1, 7, 14), "v0.6.0"),
    ((1, 7, 16), "v0.6.1"),
    ((1, 7, 26), "v0.8.0"),
    ((2, 0, 0), "v0.8.0"),
    ((2, 2, 0), "v0.10.0"),
    ((2, 2, 1), "v0.11.0"),
];

/// CRI-O: first release with each NRI version, in release order (1.27.0
/// went back to v0.3.0 for one release).
const CRIO: &[((u64, u64, u64), &str)] = &[
    ((1, 26, 0), "v0.2.0"),
    ((1, 26, 2), "v0.3.0"),
    ((1, 26, 4), "v0.3.1-0.20230504231226-94185418e253"),
    ((1, 27, 0), "v0.3.0"),
    ((1, 27, 1), "v0.3.1-0.20230504231226-94185418e253"),
    ((1, 29, 0), "v0.5.0"),
    ((1, 29, 2), "v0.6.0"),
    ((1, 31, 0), "v0.6.1"),
    ((1, 32, 0), "v0.9.0"),
    ((1, 33, 0), "v0.9.1-0.20250219030224-e597e7849f24"),
    ((1, 34, 0), "v0.10.0"),
    ((1, 35, 0), "v0.11.0"),
];

/// The runtime's NRI version: `reported` if it is a real version, else
/// inferred from the runtime's name and version; `None` if neither works.
pub fn runtime_nri_version(
    reported: &str,
    runtime_name: &str,
    runtime_version: &str,
) -> Option<String> {
    if !UNKNOWN.contains(&reported) {
        return Some(reported.to_string());
    }
    let table = match runtime_name {
        "containerd" => CONTAINERD,
        "cri-o" => CRIO,
        _ => return None,
    };
    let version = parse(runtime_version)?;
    table
        .iter()
        .rev()
        .find(|(release, _)| *release <= version)
        .map(|(_, nri)| (*nri).to_string())
}

/// `major.minor.patch` from a version such as `v2.1.4`, `1.33.2` or
/// `v2.0.0-rc.1-23-gabcdef` (a pre-release or `git describe` suffix is
/// ignored); `None` if it does not start with three numbers.
fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    Some(version)
}

/// Compares two NRI versions by their numbers; `None` if either is not a
/// version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a)?.cmp(&parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_version_is_taken_as_it_is() {
        assert_eq!(
            runtime_nri_version("v0.12.2", "containerd", "v1.7.0").as_deref(),
            Some("v0.12.2")
        );
    }

    #[test]
    fn an_unknown_version_is_inferred_from_the_closest_release_at_or_below() {
        // Entries of upstream's table, and versions between and after them.
        let cases = [
            ("containerd", "v1.7.0", Some("v0.3.0")),
            ("containerd", "v1.7.13", Some("v0.4.0")),
            ("containerd", "1.7.15", Some("v0.6.0")),
            ("containerd", "v1.7.31", Some("v0.8.0")),
            ("containerd", "v2.1.6", Some("v0.8.0")),
            ("containerd", "v2.2.0", Some("v0.10.0")),
            ("containerd", "v2.2.1", Some("v0.11.0")),
            ("containerd", "v2.3.0-rc.0-12-gdeadbee", Some("v0.11.0")),
            ("containerd", "v1.6.30", None),
            ("cri-o", "1.26.1", Some("v0.2.0")),
            (
                "cri-o",
                "1.26.5",
                Some("v0.3.1-0.20230504231226-94185418e253"),
            ),
            ("cri-o", "1.27.0", Some("v0.3.0")),
            ("cri-o", "1.30.14", Some("v0.6.0")),
            ("cri-o", "1.35.0", Some("v0.11.0")),
            ("moby", "v28.0.0", None),
            ("containerd", "main", None),
        ];
        for (runtime, version, expected) in cases {
            for reported in UNKNOWN {
                assert_eq!(
                    runtime_nri_version(reported, runtime, version).as_deref(),
                    expected,
                    "{runtime} {version} reporting {reported:?}"
                );
            }
        }
    }

    #[test]
    fn versions_compare_by_their_numbers() {
        assert_eq!(compare("v0.9.1-0.2025", "v0.10.0"), Some(Ordering::Less));
        assert_eq!(compare("v0.10.0", "0.10.0"), Some(Ordering::Equal));
        assert_eq!(compare("devel", "v0.10.0"), None);
    }
}
