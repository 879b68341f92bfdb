//! Matching a scenario's `expect:` against what happened: protobuf JSON
//! compared field by field, only where the expectation says something
//! ([`mismatches`]), and what must not have happened ([`presences`], for
//! `expect: absent:`).

use serde_json::Value;

/// Where `actual` differs from what `expected` gives, one line per
/// difference naming its path (`adjust.linux.devices[0].major`). Empty when
/// everything given matches.
///
/// - an object matches when each key given matches (a key the actual value
///   leaves out stands for the field's default, as protobuf JSON omits
///   defaults);
/// - a list matches when each element given matches some actual element;
/// - numbers match numbers or numeric strings of equal value (protobuf
///   JSON writes 64-bit integers either way).
pub fn mismatches(path: &str, expected: &Value, actual: &Value) -> Vec<String> {
    let mut found = Vec::new();
    compare(path, expected, actual, &mut found);
    found
}

fn compare(path: &str, expected: &Value, actual: &Value, found: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                let child = format!("{path}.{key}");
                compare(&child, value, have.get(key).unwrap_or(&Value::Null), found);
            }
        }
        (Value::Object(want), Value::Null) => {
            for (key, value) in want {
                compare(&format!("{path}.{key}"), value, &Value::Null, found);
            }
        }
        (Value::Array(want), Value::Array(have)) => {
            for (i, element) in want.iter().enumerate() {
                let matched = have
                    .iter()
                    .any(|candidate| mismatches("", element, candidate).is_empty());
                if !matched {
                    found.push(format!(
                        "{path}[{i}]: no element matches {element}; the list is {actual}"
                    ));
                }
            }
        }
        (want, Value::Null) if is_default(want) => {}
        (want, have) if scalars_equal(want, have) => {}
        (want, have) => found.push(format!("{path}: expected {want}, got {have}")),
    }
}

/// Where `actual` holds something `unwanted` describes, one line per
/// finding naming its path. Empty when none of it is there.
///
/// - an object: each key given is looked for in the actual object; a key
///   the actual value leaves out (or an actual value left out altogether)
///   is absent;
/// - a list: each element given must match no actual element (matching as
///   in [`mismatches`]: the fields it gives);
/// - `null`: the field must be absent or its default, whatever its value
///   (`annotations: {example.com/x: null}`: that annotation is not set);
/// - a scalar: the actual value must not equal it.
pub fn presences(path: &str, unwanted: &Value, actual: &Value) -> Vec<String> {
    let mut found = Vec::new();
    present(path, unwanted, actual, &mut found);
    found
}

fn present(path: &str, unwanted: &Value, actual: &Value, found: &mut Vec<String>) {
    match (unwanted, actual) {
        (_, Value::Null) => {}
        (Value::Object(unwanted), Value::Object(have)) => {
            for (key, value) in unwanted {
                let child = format!("{path}.{key}");
                present(&child, value, have.get(key).unwrap_or(&Value::Null), found);
            }
        }
        (Value::Array(unwanted), Value::Array(have)) => {
            for (i, element) in unwanted.iter().enumerate() {
                if let Some(hit) = have
                    .iter()
                    .find(|candidate| mismatches("", element, candidate).is_empty())
                {
                    found.push(format!(
                        "{path}[{i}]: expected no element matching {element}, found {hit}"
                    ));
                }
            }
        }
        (Value::Null, have) if !is_default(have) => {
            found.push(format!("{path}: expected absent, got {have}"));
        }
        (Value::Null, _) => {}
        (unwanted, have) if scalars_equal(unwanted, have) => {
            found.push(format!("{path}: expected anything but {unwanted}, got it"));
        }
        _ => {}
    }
}

/// Whether `value` is what protobuf JSON leaves out.
fn is_default(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_default),
    }
}

fn scalars_equal(want: &Value, have: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    if want == have {
        return true;
    }
    match (want, have) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            matches!((number(want), number(have)), (Some(a), Some(b)) if a == b)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn given_fields_are_compared_and_others_ignored() {
        let actual = json!({"env": [{"key": "A", "value": "1"}, {"key": "B", "value": "2"}],
                            "linux": {"oom_score_adj": {"value": 5}}});
        assert!(mismatches("adjust", &json!({"env": [{"key": "B"}]}), &actual).is_empty());
        assert!(
            mismatches(
                "adjust",
                &json!({"linux": {"oom_score_adj": {"value": "5"}}}),
                &actual
            )
            .is_empty()
        );
        assert_eq!(
            mismatches(
                "adjust",
                &json!({"linux": {"oom_score_adj": {"value": 6}}}),
                &actual
            ),
            ["adjust.linux.oom_score_adj.value: expected 6, got 5"]
        );
        let missing = mismatches("adjust", &json!({"env": [{"key": "C"}]}), &actual);
        assert_eq!(missing.len(), 1);
        assert!(
            missing[0].starts_with("adjust.env[0]: no element matches {\"key\":\"C\"}"),
            "{missing:?}"
        );
    }

    #[test]
    fn presences_find_what_must_be_absent() {
        let actual = json!({"env": [{"key": "A", "value": "1"}],
                            "annotations": {"x": "1"},
                            "linux": {"oom_score_adj": {"value": 5}}});
        // Nothing of it is there.
        for absent in [
            json!({"env": [{"key": "B"}]}),
            json!({"env": [{"key": "A", "value": "2"}]}),
            json!({"annotations": {"y": null}}),
            json!({"annotations": {"x": "2"}}),
            json!({"mounts": [{"destination": "/d"}]}),
            json!({"linux": {"oom_score_adj": {"value": 6}}}),
            json!({"rlimits": null}),
        ] {
            assert!(presences("adjust", &absent, &actual).is_empty(), "{absent}");
        }
        assert!(presences("adjust", &json!({"env": [{"key": "A"}]}), &json!(null)).is_empty());
        // Each of these is.
        assert_eq!(
            presences("adjust", &json!({"env": [{"key": "A"}]}), &actual),
            [
                "adjust.env[0]: expected no element matching {\"key\":\"A\"}, found {\"key\":\"A\",\"value\":\"1\"}"
            ]
        );
        assert_eq!(
            presences("adjust", &json!({"annotations": {"x": null}}), &actual),
            ["adjust.annotations.x: expected absent, got \"1\""]
        );
        assert_eq!(
            presences(
                "adjust",
                &json!({"linux": {"oom_score_adj": {"value": "5"}}}),
                &actual
            ),
            ["adjust.linux.oom_score_adj.value: expected anything but \"5\", got it"]
        );
        assert_eq!(
            presences("adjust", &json!({"linux": null}), &actual).len(),
            1
        );
    }

    #[test]
    fn absent_fields_are_their_default() {
        let actual = json!({"container_id": "c1"});
        assert!(
            mismatches(
                "u",
                &json!({"container_id": "c1", "ignore_failure": false}),
                &actual
            )
            .is_empty()
        );
        assert_eq!(
            mismatches("u", &json!({"ignore_failure": true}), &actual),
            ["u.ignore_failure: expected true, got null"]
        );
        assert_eq!(
            mismatches(
                "u",
                &json!({"linux": {"resources": {"cpu": {"shares": {"value": 2}}}}}),
                &actual
            ),
            ["u.linux.resources.cpu.shares.value: expected 2, got null"]
        );
    }
}
