//! Plugin configuration texts: YAML (or JSON, a subset) into a typed
//! configuration, where an empty or blank text means the defaults.

use serde::de::DeserializeOwned;

/// Parses `text` as a `T`; an empty or blank text is `T::default()`.
pub fn parse<T: DeserializeOwned + Default>(text: &str) -> Result<T, String> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_saphyr::from_str(text).map_err(|error| format!("cannot parse the configuration: {error}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::parse;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        flag: bool,
    }

    #[test]
    fn blank_is_the_default_and_keys_are_read() {
        assert_eq!(parse::<Sample>(" \n").unwrap(), Sample::default());
        assert_eq!(
            parse::<Sample>("flag: true").unwrap(),
            Sample { flag: true }
        );
        let error = parse::<Sample>("other: 1").unwrap_err();
        assert!(
            error.starts_with("cannot parse the configuration"),
            "{error}"
        );
    }
}
