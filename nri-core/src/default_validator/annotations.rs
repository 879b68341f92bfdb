//! Pod annotations the default validator reads, and how their values parse.

use crate::proto::api::PodSandbox;

/// Annotation listing plugins a pod's containers require, as a YAML list:
/// `["a", "b"]`, `[ a ]` or a block list.
pub const REQUIRED_PLUGINS_ANNOTATION: &str = "required-plugins.noderesource.dev";

/// Largest required-plugins annotation value parsed, in bytes (64 KiB).
/// Larger values are refused unparsed.
pub const MAX_ANNOTATION_LEN: usize = 64 * 1024;

/// The value of annotation `key` that applies to container `container` of
/// `pod`: the first of the pod annotations `<key>/container.<container>`,
/// `<key>/pod` and `<key>` that is present.
pub fn effective_annotation<'a>(
    pod: Option<&'a PodSandbox>,
    key: &str,
    container: &str,
) -> Option<&'a str> {
    let annotations = &pod?.annotations;
    if annotations.is_empty() {
        return None;
    }
    [
        format!("{key}/container.{container}"),
        format!("{key}/pod"),
        key.to_string(),
    ]
    .iter()
    .find_map(|k| annotations.get(k))
    .map(String::as_str)
}

/// Parses a boolean the way Go's `strconv.ParseBool` does: `1 t T TRUE true
/// True` are true, `0 f F FALSE false False` are false, anything else is an
/// error.
pub fn parse_go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("not a boolean (expected true or false)".to_string()),
    }
}

/// Parses a YAML list of plugin names, as in the required-plugins
/// annotation. An empty value or YAML `null` is an empty list, as with Go's
/// `yaml.Unmarshal`. Values over [`MAX_ANNOTATION_LEN`] bytes are refused.
pub fn parse_plugin_list(value: &str) -> Result<Vec<String>, String> {
    if value.len() > MAX_ANNOTATION_LEN {
        return Err(format!(
            "value is {} bytes, more than the limit of {MAX_ANNOTATION_LEN}",
            value.len()
        ));
    }
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_saphyr::from_str::<Option<Vec<String>>>(value)
        .map(Option::unwrap_or_default)
        .map_err(|e| format!("expected a YAML list of plugin names: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plugin_lists_in_all_yaml_forms() {
        let ab = vec!["a".to_string(), "b".to_string()];
        assert_eq!(parse_plugin_list(r#"["a","b"]"#), Ok(ab.clone()));
        assert_eq!(parse_plugin_list("[ a, b ]"), Ok(ab.clone()));
        assert_eq!(parse_plugin_list("- a\n- b\n"), Ok(ab));
        assert_eq!(
            parse_plugin_list("[ xyzzy ]"),
            Ok(vec!["xyzzy".to_string()])
        );
        assert_eq!(parse_plugin_list(""), Ok(vec![]));
        assert_eq!(parse_plugin_list("~"), Ok(vec![]));
        assert_eq!(parse_plugin_list("[]"), Ok(vec![]));
    }

    #[test]
    fn bad_plugin_lists_are_errors() {
        for bad in ["{a: b}", "[a", "a: [b]", "[[a]]", "\"unterminated"] {
            assert!(parse_plugin_list(bad).is_err(), "{bad:?}");
        }
        let huge = format!("[{}]", "a,".repeat(MAX_ANNOTATION_LEN));
        let err = parse_plugin_list(&huge).expect_err("too large");
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn go_booleans() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Ok(false), "{f}");
        }
        for bad in ["", "yes", "tRUE", " true", "2"] {
            assert!(parse_go_bool(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_values_never_panic(value in any::<String>()) {
            let _ = parse_plugin_list(&value);
            let _ = parse_go_bool(&value);
        }

        #[test]
        fn yaml_ish_values_never_panic(value in r#"[\[\]{}:,\-'"&*!|>#% \na-z0-9]{0,64}"#) {
            let _ = parse_plugin_list(&value);
        }
    }
}
