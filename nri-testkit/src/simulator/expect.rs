//! Matching a scenario's `expect:` against what happened: protobuf JSON
//! compared field by field, only where the expectation says something.

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
