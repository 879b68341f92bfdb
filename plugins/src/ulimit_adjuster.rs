//! The logic of upstream's `ulimit-adjuster` sample plugin: POSIX resource
//! limits requested by a pod annotation.
//!
//! [`adjust`] returns the [`ContainerAdjustment`] upstream's plugin would
//! return from `CreateContainer`, or an [`Error`].
//!
//! # Annotation
//!
//! The key is `ulimits.noderesource.dev/container.<container name>`, else
//! the deprecated `ulimits.nri.containerd.io/container.<container name>`.
//! Unlike the device injector's annotations, there is no pod-scoped
//! (`…/pod`) or bare form: only container-scoped keys are read (see
//! [`annotations::container_scoped`]). The first of the two keys present is
//! used even if its value is empty, and an empty value asks for nothing.
//!
//! The value is a YAML (or JSON) list of `{type, soft, hard}`, decoded with
//! upstream's semantics (see [`annotations`]): field names match
//! case-insensitively, unknown fields are ignored, `soft` and `hard` are
//! unsigned 64-bit numbers and default to 0 when missing.
//!
//! `type` names a Linux resource limit: it is upper-cased and one leading
//! `RLIMIT_` is removed, and what remains must be one of [`RLIMIT_NAMES`], so
//! `RLIMIT_NOFILE`, `rlimit_memlock` and `nproc` are all accepted. The
//! adjustment carries the canonical name with its prefix (`RLIMIT_NPROC`).
//!
//! # Checks and results, in upstream's order
//!
//! 1. Every entry's type is checked, in list order; the first unknown one
//!    fails the whole annotation ([`Error::UnknownType`]).
//! 2. Entries are then turned into `rlimits` in list order; the first whose
//!    `hard` is below its `soft` fails the whole annotation
//!    ([`Error::HardBelowSoft`]). `hard == soft` is fine.
//!
//! Duplicate types are all passed on, in order. Without an annotation the
//! adjustment is empty. The error messages of the two checks are upstream's.

use std::collections::BTreeMap;

use nri_core::proto::api::{Container, ContainerAdjustment, PodSandbox, PosixRlimit};
use tracing::debug;

use crate::annotations::value::{self, Value};
use crate::annotations::{self, DecodeError};

/// The annotation key, without its container scope.
pub const KEY: &str = "ulimits.noderesource.dev";

/// The deprecated annotation key, without its container scope.
pub const LEGACY_KEY: &str = "ulimits.nri.containerd.io";

/// The prefix of canonical resource limit names.
pub const RLIMIT_PREFIX: &str = "RLIMIT_";

/// The resource limits upstream accepts, without [`RLIMIT_PREFIX`].
pub const RLIMIT_NAMES: [&str; 16] = [
    "AS",
    "CORE",
    "CPU",
    "DATA",
    "FSIZE",
    "LOCKS",
    "MEMLOCK",
    "MSGQUEUE",
    "NICE",
    "NOFILE",
    "NPROC",
    "RSS",
    "RTPRIO",
    "RTTIME",
    "SIGPENDING",
    "STACK",
];

/// Why a ulimit annotation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The value is not YAML, or not a list of `{type, soft, hard}`.
    #[error("invalid ulimit annotation {key:?}: {reason}")]
    Malformed {
        /// The annotation key.
        key: String,
        /// What is wrong with the value.
        reason: DecodeError,
    },
    /// A type that names no resource limit.
    #[error("failed to parse type: {raw:?}")]
    UnknownType {
        /// The annotation key.
        key: String,
        /// The type as written.
        raw: String,
    },
    /// A hard limit below the soft one.
    #[error("ulimit {rlimit_type:?} must have hard limit >= soft limit")]
    HardBelowSoft {
        /// The annotation key.
        key: String,
        /// The canonical limit name, e.g. `RLIMIT_NOFILE`.
        rlimit_type: String,
        /// The hard limit.
        hard: u64,
        /// The soft limit.
        soft: u64,
    },
}

/// The canonical name (`RLIMIT_…`) of the resource limit `name` names, the
/// way upstream reads it: upper-cased, one leading `RLIMIT_` dropped, the
/// rest one of [`RLIMIT_NAMES`].
///
/// ```
/// use nri_sample_plugins::ulimit_adjuster::canonical_type;
///
/// assert_eq!(canonical_type("rlimit_memlock").as_deref(), Some("RLIMIT_MEMLOCK"));
/// assert_eq!(canonical_type("nproc").as_deref(), Some("RLIMIT_NPROC"));
/// assert_eq!(canonical_type("ULIMIT_NOFILE"), None);
/// ```
pub fn canonical_type(name: &str) -> Option<String> {
    // Go's strings.ToUpper maps rune by rune; runes without a single-rune
    // upper case stay as they are.
    let upper: String = name
        .chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect();
    let bare = upper.strip_prefix(RLIMIT_PREFIX).unwrap_or(&upper);
    RLIMIT_NAMES
        .contains(&bare)
        .then(|| format!("{RLIMIT_PREFIX}{bare}"))
}

/// The adjustment upstream's ulimit adjuster makes to `container` of `pod`
/// at creation.
///
/// ```
/// use nri_core::proto::api::{Container, PodSandbox, PosixRlimit};
/// use nri_sample_plugins::ulimit_adjuster::adjust;
///
/// let pod = PodSandbox {
///     annotations: [(
///         "ulimits.noderesource.dev/container.app".to_string(),
///         "- {type: nofile, soft: 1024, hard: 4096}".to_string(),
///     )]
///     .into(),
///     ..Default::default()
/// };
/// let container = Container { name: "app".into(), ..Default::default() };
/// let adjustment = adjust(&pod, &container)?;
/// assert_eq!(
///     adjustment.rlimits,
///     [PosixRlimit { r#type: "RLIMIT_NOFILE".into(), hard: 4096, soft: 1024 }]
/// );
/// # Ok::<(), nri_sample_plugins::ulimit_adjuster::Error>(())
/// ```
pub fn adjust(pod: &PodSandbox, container: &Container) -> Result<ContainerAdjustment, Error> {
    let mut adjustment = ContainerAdjustment::default();
    let Some((key, text)) = lookup(&pod.annotations, &container.name) else {
        debug!("{}/{}: no ulimit annotation", pod.name, container.name);
        return Ok(adjustment);
    };
    if text.is_empty() {
        debug!(
            "{}/{}: empty ulimit annotation {key}",
            pod.name, container.name
        );
        return Ok(adjustment);
    }
    let malformed = |reason| Error::Malformed {
        key: key.to_string(),
        reason,
    };
    let root = value::parse(text).map_err(malformed)?;
    let mut limits = decode(&root).map_err(malformed)?;
    for limit in &mut limits {
        limit.r#type = canonical_type(&limit.r#type).ok_or_else(|| Error::UnknownType {
            key: key.to_string(),
            raw: limit.r#type.clone(),
        })?;
    }
    for limit in limits {
        if limit.hard < limit.soft {
            return Err(Error::HardBelowSoft {
                key: key.to_string(),
                rlimit_type: limit.r#type,
                hard: limit.hard,
                soft: limit.soft,
            });
        }
        debug!(
            "{}/{}: adjust rlimit {} soft={} hard={}",
            pod.name, container.name, limit.r#type, limit.soft, limit.hard
        );
        adjustment.rlimits.push(limit);
    }
    Ok(adjustment)
}

/// The ulimit annotation that applies to `container`, as the matched key and
/// its value.
pub fn lookup<'a>(
    annotations: &'a BTreeMap<String, String>,
    container: &str,
) -> Option<(&'a str, &'a str)> {
    annotations::container_scoped(annotations, KEY, Some(LEGACY_KEY), container)
}

/// The entries as written (types not yet checked).
fn decode(root: &Value) -> Result<Vec<PosixRlimit>, DecodeError> {
    let items = value::list(root, "$", "list of ulimits")?.unwrap_or_default();
    let mut limits = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let mut limit = PosixRlimit::default();
        value::fields(
            item,
            &value::index_path("$", index),
            "ulimit",
            &["type", "hard", "soft"],
            |field, v, p| match field {
                0 => value::set_string(&mut limit.r#type, v, p),
                1 => value::set_integer(&mut limit.hard, v, p, "uint64"),
                _ => value::set_integer(&mut limit.soft, v, p, "uint64"),
            },
        )?;
        limits.push(limit);
    }
    Ok(limits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn run(container: &str, annotations: &[(&str, &str)]) -> Result<ContainerAdjustment, Error> {
        let pod = PodSandbox {
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let container = Container {
            name: container.into(),
            ..Default::default()
        };
        adjust(&pod, &container)
    }

    fn limits(container: &str, annotations: &[(&str, &str)]) -> Vec<(String, u64, u64)> {
        run(container, annotations)
            .expect("adjustment")
            .rlimits
            .into_iter()
            .map(|l| (l.r#type, l.soft, l.hard))
            .collect()
    }

    fn rl(ty: &str, soft: u64, hard: u64) -> (String, u64, u64) {
        (ty.to_string(), soft, hard)
    }

    const KEY_FOO: &str = "ulimits.noderesource.dev/container.foo";

    // Upstream TestParseAnnotations "no-annotations", "unrelated-annotation"
    // and TestAdjustUlimits "empty": an empty adjustment.
    #[test]
    fn nothing_annotated() {
        assert_eq!(run("foo", &[]).unwrap(), ContainerAdjustment::default());
        assert_eq!(
            run("foo", &[("bar", "baz")]).unwrap(),
            ContainerAdjustment::default()
        );
    }

    // Upstream TestParseAnnotations "one-valid", "multiple-valid".
    #[test]
    fn valid_entries() {
        assert_eq!(
            limits(
                "foo",
                &[(
                    KEY_FOO,
                    "\n- type: RLIMIT_NOFILE\n  soft: 123\n  hard: 456\n"
                )]
            ),
            [rl("RLIMIT_NOFILE", 123, 456)]
        );
        assert_eq!(
            limits(
                "foo",
                &[(
                    KEY_FOO,
                    "\n- type: RLIMIT_NOFILE\n  soft: 123\n  hard: 456\n- type: RLIMIT_NPROC\n  soft: 456\n  hard: 789\n"
                )]
            ),
            [rl("RLIMIT_NOFILE", 123, 456), rl("RLIMIT_NPROC", 456, 789)]
        );
    }

    // Upstream TestParseAnnotations "missing-prefix", "lower-case",
    // "lower-case-missing-prefix".
    #[test]
    fn type_spellings() {
        for (written, canonical) in [
            ("AS", "RLIMIT_AS"),
            ("rlimit_core", "RLIMIT_CORE"),
            ("cpu", "RLIMIT_CPU"),
            ("Rlimit_SigPending", "RLIMIT_SIGPENDING"),
        ] {
            let text = format!("- type: {written}\n  soft: 123\n  hard: 456\n");
            assert_eq!(
                limits("foo", &[(KEY_FOO, &text)]),
                [rl(canonical, 123, 456)]
            );
        }
        // Every name upstream's table holds, with and without the prefix.
        for name in RLIMIT_NAMES {
            assert_eq!(canonical_type(name), Some(format!("RLIMIT_{name}")));
            assert_eq!(
                canonical_type(&format!("rlimit_{}", name.to_lowercase())),
                Some(format!("RLIMIT_{name}"))
            );
        }
    }

    // Upstream TestParseAnnotations "invalid-prefix", "invalid-rlimit",
    // "one-invalid", with upstream's error strings.
    #[test]
    fn unknown_types() {
        for (text, message) in [
            (
                "\n- type: ULIMIT_NOFILE\n  soft: 123\n  hard: 456\n",
                "failed to parse type: \"ULIMIT_NOFILE\"",
            ),
            (
                "\n- type: RLIMIT_FOO\n  soft: 123\n  hard: 456\n",
                "failed to parse type: \"RLIMIT_FOO\"",
            ),
            (
                "\n- type: RLIMIT_NICE\n  soft: 456\n  hard: 789\n- type: RLIMIT_BAR\n  soft: 123\n  hard: 456\n",
                "failed to parse type: \"RLIMIT_BAR\"",
            ),
        ] {
            let e = run("foo", &[(KEY_FOO, text)]).unwrap_err();
            assert_eq!(e.to_string(), message);
            assert!(matches!(e, Error::UnknownType { ref key, .. } if key == KEY_FOO));
        }
        // Only one prefix is dropped; a missing type is unknown too.
        assert_eq!(canonical_type("RLIMIT_RLIMIT_NOFILE"), None);
        assert_eq!(canonical_type(""), None);
        assert_eq!(canonical_type("RLIMIT_"), None);
        let e = run("foo", &[(KEY_FOO, "- {soft: 1, hard: 2}")]).unwrap_err();
        assert_eq!(e.to_string(), "failed to parse type: \"\"");
    }

    // Upstream TestAdjustUlimits "invalid-hard", "one-invalid", with
    // upstream's error string; "one" and "multiple-valid" (hard == soft + 1,
    // soft 0).
    #[test]
    fn hard_must_not_be_below_soft() {
        let e = run(
            "foo",
            &[(
                KEY_FOO,
                "- {type: RLIMIT_MEMLOCK, hard: 100, soft: 99}\n- {type: RLIMIT_NOFILE, hard: 0, soft: 100}\n",
            )],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ulimit \"RLIMIT_NOFILE\" must have hard limit >= soft limit"
        );
        assert_eq!(
            e,
            Error::HardBelowSoft {
                key: KEY_FOO.into(),
                rlimit_type: "RLIMIT_NOFILE".into(),
                hard: 0,
                soft: 100
            }
        );
        assert_eq!(
            limits(
                "foo",
                &[(
                    KEY_FOO,
                    "- {type: RLIMIT_MEMLOCK, hard: 100, soft: 99}\n- {type: RLIMIT_AS, hard: 10, soft: 0}\n- {type: core, hard: 5, soft: 5}"
                )]
            ),
            [
                rl("RLIMIT_MEMLOCK", 99, 100),
                rl("RLIMIT_AS", 0, 10),
                rl("RLIMIT_CORE", 5, 5)
            ]
        );
    }

    // Types are all checked before any hard/soft check (parseUlimits runs
    // before adjustUlimits).
    #[test]
    fn type_check_comes_first() {
        let e = run(
            "foo",
            &[(
                KEY_FOO,
                "- {type: nofile, hard: 1, soft: 2}\n- {type: bogus, hard: 2, soft: 1}\n",
            )],
        )
        .unwrap_err();
        assert!(matches!(e, Error::UnknownType { ref raw, .. } if raw == "bogus"));
    }

    // Upstream sample-ulimit-adjust.yaml: legacy key; `memlock` and `nproc`
    // without prefix; nproc has no soft limit, which is 0 (README: "soft and
    // hard will be interpreted as 0 if missing").
    #[test]
    fn upstream_sample_pod() {
        let text = "- type: memlock\n  hard: 987654\n  soft: 645321\n- type: RLIMIT_NOFILE\n  hard: 4096\n  soft: 1024\n- type: nproc\n  hard: 9000\n";
        let adjustment = run(
            "sleep",
            &[("ulimits.nri.containerd.io/container.sleep", text)],
        )
        .unwrap();
        assert_eq!(
            adjustment,
            ContainerAdjustment {
                rlimits: vec![
                    PosixRlimit {
                        r#type: "RLIMIT_MEMLOCK".into(),
                        hard: 987654,
                        soft: 645321
                    },
                    PosixRlimit {
                        r#type: "RLIMIT_NOFILE".into(),
                        hard: 4096,
                        soft: 1024
                    },
                    PosixRlimit {
                        r#type: "RLIMIT_NPROC".into(),
                        hard: 9000,
                        soft: 0
                    },
                ],
                ..Default::default()
            }
        );
    }

    // parseUlimits: only the two container-scoped keys, new one first; an
    // empty value of the first key present asks for nothing.
    #[test]
    fn lookup_rules() {
        let one = "- {type: nofile, soft: 1, hard: 1}";
        let two = "- {type: nofile, soft: 2, hard: 2}";
        assert!(
            limits(
                "foo",
                &[
                    ("ulimits.noderesource.dev/pod", one),
                    ("ulimits.noderesource.dev", one)
                ]
            )
            .is_empty()
        );
        assert!(limits("foo", &[("ulimits.noderesource.dev/container.bar", one)]).is_empty());
        assert_eq!(
            limits(
                "foo",
                &[
                    (KEY_FOO, one),
                    ("ulimits.nri.containerd.io/container.foo", two)
                ]
            ),
            [rl("RLIMIT_NOFILE", 1, 1)]
        );
        assert!(
            limits(
                "foo",
                &[
                    (KEY_FOO, ""),
                    ("ulimits.nri.containerd.io/container.foo", two)
                ]
            )
            .is_empty()
        );
        // Not the device injector's ulimits key domain.
        assert!(limits("foo", &[("ulimits.nri.io/container.foo", one)]).is_empty());
    }

    // Duplicates are passed on as they are (AddRlimit appends); null and
    // `[]` ask for nothing; fields fold case, as with encoding/json; big
    // limits fit uint64.
    #[test]
    fn decoding_details() {
        assert_eq!(
            limits(
                "foo",
                &[(
                    KEY_FOO,
                    "[{type: nofile, soft: 1, hard: 2}, {TYPE: NOFILE, Soft: 3, HARD: 4}]"
                )]
            ),
            [rl("RLIMIT_NOFILE", 1, 2), rl("RLIMIT_NOFILE", 3, 4)]
        );
        assert!(limits("foo", &[(KEY_FOO, "~")]).is_empty());
        assert!(limits("foo", &[(KEY_FOO, "[]")]).is_empty());
        assert_eq!(
            limits(
                "foo",
                &[(
                    KEY_FOO,
                    r#"[{"type": "stack", "soft": 8388608, "hard": 18446744073709551615}]"#
                )]
            ),
            [rl("RLIMIT_STACK", 8_388_608, u64::MAX)]
        );
    }

    #[test]
    fn malformed_values() {
        for (text, path) in [
            ("- {type: nofile, soft: -1, hard: 2}", "$[0].soft"),
            ("- {type: nofile, soft: 1, hard: \"2\"}", "$[0].hard"),
            ("- {type: nofile, soft: 1.5, hard: 2}", "$[0].soft"),
            (
                "- {type: nofile, soft: 1, hard: 18446744073709551616}",
                "$[0].hard",
            ),
            ("- {type: [nofile]}", "$[0].type"),
            ("{type: nofile, soft: 1, hard: 2}", "$"),
            ("nofile=1024", "$"),
            ("- nofile", "$[0]"),
        ] {
            let e = run("foo", &[(KEY_FOO, text)]).unwrap_err();
            match e {
                Error::Malformed {
                    key,
                    reason: DecodeError::Type { path: p, .. },
                } => {
                    assert_eq!(key, KEY_FOO);
                    assert_eq!(p, path, "{text}");
                }
                other => panic!("{text}: unexpected {other:?}"),
            }
        }
        let e = run("foo", &[(KEY_FOO, "- type: nofile\n soft: [")]).unwrap_err();
        assert!(matches!(
            e,
            Error::Malformed {
                reason: DecodeError::Syntax(_),
                ..
            }
        ));
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "[",
            "- - -",
            "&a [*a, *a]",
            "{<<: [1]}",
            "- {type: \u{0}}",
            "- {type: ß}",
            "- {type: ﬆack}",
            "!!binary AAAA",
            "- {hard: .inf}",
            "- {soft: 1e400}",
            "---\n- a\n---\n",
        ] {
            let _ = run("foo", &[(KEY_FOO, text)]);
        }
        // Go's ToUpper maps rune by rune: the "st" ligature does not become
        // "ST", and the dotless ı upper-cases to I.
        assert_eq!(canonical_type("\u{FB06}ack"), None);
        assert_eq!(
            canonical_type("n\u{0131}ce").as_deref(),
            Some("RLIMIT_NICE")
        );
    }
}
