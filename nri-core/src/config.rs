//! Runtime-side NRI configuration, as containerd reads it from its
//! `[plugins."io.containerd.nri.v1.nri"]` table
//! (containerd `internal/nri/config.go`).
//!
//! ```
//! use nri_core::config::Config;
//!
//! let config = Config::from_containerd_toml(r#"
//!     version = 3
//!     [plugins."io.containerd.nri.v1.nri"]
//!       plugin_request_timeout = "500ms"
//!       [plugins."io.containerd.nri.v1.nri".default_validator]
//!         enable = true
//!         reject_oci_hook_adjustment = true
//! "#)?;
//! assert_eq!(config.request_timeout(), std::time::Duration::from_millis(500));
//! assert!(config.default_validator.reject_oci_hook_adjustment);
//! # Ok::<(), nri_core::config::ConfigError>(())
//! ```
//!
//! # Differences from containerd
//!
//! - **Unknown keys are errors** naming the key (containerd's decoder ignores
//!   them), in this table and in its `default_validator` sub-table.
//! - **Negative durations are refused** (Go accepts them and then treats
//!   them as "not set"); durations must be strings, as in containerd.
//! - Timeouts are per-[`Config`] values, not process-global setters. A zero
//!   timeout means "use the default", as in containerd.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::default_validator::DefaultValidatorConfig;
use crate::proto::defaults;

/// The TOML table of containerd's NRI plugin.
pub const CONTAINERD_TABLE: &str = "io.containerd.nri.v1.nri";

/// The NRI settings of a container runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Do not run NRI at all.
    pub disable: bool,
    /// Socket external plugins connect to. Empty: the default.
    pub socket_path: PathBuf,
    /// Directory of pre-installed plugins.
    pub plugin_path: PathBuf,
    /// Directory of pre-installed plugins' configuration files.
    pub plugin_config_path: PathBuf,
    /// How long a plugin may take to register and synchronize; zero: default.
    pub plugin_registration_timeout: GoDuration,
    /// How long a plugin may take to answer a request; zero: default.
    pub plugin_request_timeout: GoDuration,
    /// Do not accept external connections (no socket).
    pub disable_connections: bool,
    /// The builtin default validator.
    pub default_validator: DefaultValidatorConfig,
}

impl Default for Config {
    /// containerd's defaults.
    fn default() -> Self {
        Config {
            disable: false,
            socket_path: defaults::DEFAULT_SOCKET_PATH.into(),
            plugin_path: defaults::DEFAULT_PLUGIN_PATH.into(),
            plugin_config_path: defaults::DEFAULT_PLUGIN_CONFIG_PATH.into(),
            plugin_registration_timeout: GoDuration(defaults::DEFAULT_REGISTRATION_TIMEOUT),
            plugin_request_timeout: GoDuration(defaults::DEFAULT_REQUEST_TIMEOUT),
            disable_connections: false,
            default_validator: DefaultValidatorConfig::default(),
        }
    }
}

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("invalid NRI configuration: {0}")]
    Toml(#[from] toml::de::Error),
    /// A key on the way to the NRI table holds something other than a table.
    #[error("invalid containerd configuration: `{key}` is not a table")]
    NotATable {
        /// The offending key.
        key: String,
    },
}

impl Config {
    /// Parses the contents of the NRI table alone (the keys `disable`,
    /// `socket_path`, …). Absent keys take containerd's defaults.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Extracts and parses `plugins."io.containerd.nri.v1.nri"` from a whole
    /// containerd configuration file. An absent table gives the defaults.
    pub fn from_containerd_toml(text: &str) -> Result<Config, ConfigError> {
        let mut root: toml::Table = toml::from_str(text)?;
        let Some(plugins) = root.remove("plugins") else {
            return Ok(Config::default());
        };
        let toml::Value::Table(mut plugins) = plugins else {
            return Err(ConfigError::NotATable {
                key: "plugins".into(),
            });
        };
        match plugins.remove(CONTAINERD_TABLE) {
            None => Ok(Config::default()),
            Some(table @ toml::Value::Table(_)) => Ok(table.try_into()?),
            Some(_) => Err(ConfigError::NotATable {
                key: format!("plugins.\"{CONTAINERD_TABLE}\""),
            }),
        }
    }

    /// The registration timeout; zero means the default (5s).
    pub fn registration_timeout(&self) -> Duration {
        self.plugin_registration_timeout
            .or_default(defaults::DEFAULT_REGISTRATION_TIMEOUT)
    }

    /// The request timeout; zero means the default (2s).
    pub fn request_timeout(&self) -> Duration {
        self.plugin_request_timeout
            .or_default(defaults::DEFAULT_REQUEST_TIMEOUT)
    }
}

/// A duration written the way Go's `time.ParseDuration` reads it: decimal
/// numbers with optional fractions, each followed by a unit (`ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`), e.g. `"300ms"`, `"1.5h"`, `"2h45m"`, or a bare
/// `"0"`. It displays and serializes the way Go's `Duration.String` does
/// (`"1h30m0s"`). Negative durations and durations over Go's maximum (about
/// 292 years) are refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

/// Why a Go duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason} (write numbers with units, e.g. 150ms, 1.5s, 1m30s; \
     units: ns, us, ms, s, m, h)"
)]
pub struct ParseDurationError {
    /// The refused text.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Go's `Duration` is an `int64` of nanoseconds.
const MAX_NANOS: u64 = i64::MAX as u64;
const OVERFLOW: u64 = 1 << 63;

impl GoDuration {
    /// The duration, or `default` when it is zero.
    pub fn or_default(self, default: Duration) -> Duration {
        if self.0.is_zero() { default } else { self.0 }
    }

    /// Parses Go duration syntax.
    pub fn parse(input: &str) -> Result<GoDuration, ParseDurationError> {
        let fail = |reason| ParseDurationError {
            input: input.to_string(),
            reason,
        };
        let (negative, mut rest) = match input.as_bytes().first() {
            Some(b'-') => (true, &input[1..]),
            Some(b'+') => (false, &input[1..]),
            _ => (false, input),
        };
        if rest == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if rest.is_empty() {
            return Err(fail("empty"));
        }
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let (nanos, tail) = parse_component(rest).map_err(fail)?;
            total = total
                .checked_add(nanos)
                .filter(|t| *t <= OVERFLOW)
                .ok_or_else(|| fail("too large"))?;
            rest = tail;
        }
        if negative && total != 0 {
            return Err(fail("negative durations are not allowed"));
        }
        if total > MAX_NANOS {
            return Err(fail("too large"));
        }
        Ok(GoDuration(Duration::from_nanos(total)))
    }
}

/// Parses one `<number><unit>` component, returning its nanoseconds and the
/// rest of the text.
fn parse_component(s: &str) -> Result<(u64, &str), &'static str> {
    let bytes = s.as_bytes();
    if !bytes
        .first()
        .is_some_and(|b| *b == b'.' || b.is_ascii_digit())
    {
        return Err("expected a number");
    }
    let int_len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut whole: u64 = 0;
    for digit in &bytes[..int_len] {
        whole = whole
            .checked_mul(10)
            .and_then(|w| w.checked_add(u64::from(digit - b'0')))
            .filter(|w| *w <= OVERFLOW)
            .ok_or("too large")?;
    }
    let mut pos = int_len;
    let (mut frac, mut scale, mut frac_len) = (0u64, 1f64, 0usize);
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        frac_len = bytes[pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let mut overflowed = false;
        for digit in &bytes[pos..pos + frac_len] {
            // Like Go: digits beyond u63 precision are dropped.
            match frac
                .checked_mul(10)
                .and_then(|f| f.checked_add(u64::from(digit - b'0')))
            {
                Some(f) if !overflowed && f <= OVERFLOW => {
                    frac = f;
                    scale *= 10.0;
                }
                _ => overflowed = true,
            }
        }
        pos += frac_len;
    }
    if int_len == 0 && frac_len == 0 {
        return Err("expected a number");
    }
    let unit_len = bytes[pos..]
        .iter()
        .take_while(|b| **b != b'.' && !b.is_ascii_digit())
        .count();
    // Digits and '.' are ASCII, so both ends are char boundaries.
    let (unit, rest) = (&s[pos..pos + unit_len], &s[pos + unit_len..]);
    let unit_nanos: u64 = match unit {
        "" => return Err("missing unit"),
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err("unknown unit (expected ns, us, µs, ms, s, m or h)"),
    };
    let mut nanos = whole
        .checked_mul(unit_nanos)
        .filter(|n| *n <= OVERFLOW)
        .ok_or("too large")?;
    if frac > 0 {
        // Go computes the fraction in float64 and truncates; so do we.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let part = (frac as f64 * (unit_nanos as f64 / scale)) as u64;
        nanos = nanos
            .checked_add(part)
            .filter(|n| *n <= OVERFLOW)
            .ok_or("too large")?;
    }
    Ok((nanos, rest))
}

/// Parses a duration in Go syntax (see [`GoDuration`]): the one duration
/// parser of nri-rs, for configuration files, command lines, scenarios and
/// scripts alike.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(nri_core::config::parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert!(nri_core::config::parse_duration("5").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, ParseDurationError> {
    GoDuration::parse(text).map(Duration::from)
}

impl FromStr for GoDuration {
    type Err = ParseDurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GoDuration::parse(s)
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        GoDuration(d)
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        d.0
    }
}

/// `v / 10^prec` split into the integer part and the fraction's digits,
/// trailing zeros (and then the point) omitted.
fn split_fraction(v: u128, prec: u32) -> (u128, String) {
    let unit = 10u128.pow(prec);
    let digits = format!("{:0width$}", v % unit, width = prec as usize);
    let digits = digits.trim_end_matches('0');
    let frac = if digits.is_empty() {
        String::new()
    } else {
        format!(".{digits}")
    };
    (v / unit, frac)
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String`: `0s`, `1.5µs`, `300ms`, `2h45m0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000_000_000 {
            let (prec, unit) = match nanos {
                0..1_000 => (0, "ns"),
                1_000..1_000_000 => (3, "\u{b5}s"),
                _ => (6, "ms"),
            };
            let (whole, frac) = split_fraction(nanos, prec);
            return write!(f, "{whole}{frac}{unit}");
        }
        let (secs, frac) = split_fraction(nanos, 9);
        let (mins, hours) = (secs / 60 % 60, secs / 3600);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if secs >= 60 {
            write!(f, "{mins}m")?;
        }
        write!(f, "{}{frac}s", secs % 60)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = GoDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Go duration string such as \"5s\" or \"1m30s\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<GoDuration, E> {
                GoDuration::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Result<Duration, ParseDurationError> {
        GoDuration::parse(text).map(Duration::from)
    }

    #[test]
    fn defaults_are_containerds() {
        let config = Config::default();
        assert!(!config.disable && !config.disable_connections);
        assert_eq!(config.socket_path, PathBuf::from("/var/run/nri/nri.sock"));
        assert_eq!(config.plugin_path, PathBuf::from("/opt/nri/plugins"));
        assert_eq!(config.plugin_config_path, PathBuf::from("/etc/nri/conf.d"));
        assert_eq!(config.registration_timeout(), Duration::from_secs(5));
        assert_eq!(config.request_timeout(), Duration::from_secs(2));
        assert_eq!(config.default_validator, DefaultValidatorConfig::default());
        assert_eq!(Config::from_toml_str("").ok(), Some(config.clone()));
        assert_eq!(
            Config::from_containerd_toml("version = 3").ok(),
            Some(config)
        );
    }

    #[test]
    fn a_whole_containerd_config_parses() {
        let text = r#"
version = 3
root = "/var/lib/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
[plugins."io.containerd.nri.v1.nri"]
  disable = false
  disable_connections = true
  plugin_config_path = "/etc/nri/conf.d"
  plugin_path = "/opt/nri/plugins"
  plugin_registration_timeout = "10s"
  plugin_request_timeout = "0"
  socket_path = "/run/nri/nri.sock"
  [plugins."io.containerd.nri.v1.nri".default_validator]
    enable = true
    reject_namespace_adjustment = true
    required_plugins = ["10-foo", "bar"]
    tolerate_missing_plugins_annotation = "tolerate-missing-plugins.noderesource.dev"
"#;
        let config = Config::from_containerd_toml(text).expect("parses");
        assert!(config.disable_connections);
        assert_eq!(config.socket_path, PathBuf::from("/run/nri/nri.sock"));
        assert_eq!(config.registration_timeout(), Duration::from_secs(10));
        // Zero means the default.
        assert_eq!(config.plugin_request_timeout, GoDuration(Duration::ZERO));
        assert_eq!(config.request_timeout(), Duration::from_secs(2));
        let dv = &config.default_validator;
        assert!(dv.enable && dv.reject_namespace_adjustment && !dv.reject_sysctl_adjustment);
        assert_eq!(dv.required_plugins, ["10-foo", "bar"]);
        // Serializing and reading back gives the same configuration.
        let again = toml::to_string(&config).expect("serializes");
        assert_eq!(Config::from_toml_str(&again).expect("reparses"), config);
    }

    #[test]
    fn unknown_and_misplaced_keys_are_errors() {
        let err = Config::from_toml_str("socket_path = \"/x\"\nplugin_timeout = \"1s\"")
            .expect_err("unknown key");
        assert!(err.to_string().contains("plugin_timeout"), "{err}");
        let err = Config::from_containerd_toml(
            "[plugins.\"io.containerd.nri.v1.nri\".default_validator]\nrejectt_oci = true",
        )
        .expect_err("unknown validator key");
        assert!(err.to_string().contains("rejectt_oci"), "{err}");
        for bad in [
            "plugins = 1",
            "[plugins]\n\"io.containerd.nri.v1.nri\" = \"x\"",
        ] {
            assert!(matches!(
                Config::from_containerd_toml(bad),
                Err(ConfigError::NotATable { .. })
            ));
        }
        let err = Config::from_toml_str("plugin_request_timeout = \"-1s\"").expect_err("negative");
        assert!(err.to_string().contains("negative"), "{err}");
        assert!(Config::from_toml_str("plugin_request_timeout = 5").is_err());
        assert!(Config::from_toml_str("disable = \"yes\"").is_err());
    }

    #[test]
    fn go_duration_syntax() {
        let ms = Duration::from_millis;
        let table: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("5s", ms(5_000)),
            ("+5s", ms(5_000)),
            ("300ms", ms(300)),
            ("1.5h", ms(5_400_000)),
            ("2h45m", ms(9_900_000)),
            ("1h1m1s", ms(3_661_000)),
            (".5s", ms(500)),
            ("5.s", ms(5_000)),
            ("1.0005s", ms(1_000) + Duration::from_micros(500)),
            ("100ns", Duration::from_nanos(100)),
            ("1us", Duration::from_micros(1)),
            ("1\u{b5}s", Duration::from_micros(1)),
            ("1\u{3bc}s", Duration::from_micros(1)),
            ("1m0.000000001s", Duration::new(60, 1)),
            ("9223372036854775807ns", Duration::from_nanos(MAX_NANOS)),
            ("2562047h", Duration::from_secs(2_562_047 * 3600)),
            ("1.000000000000000000001s", ms(1_000)),
        ];
        for (text, want) in table {
            assert_eq!(d(text), Ok(*want), "{text}");
        }
        let bad =
            "|-|+|5|s|.|.s|-5s|-1ns|5x|5 s|1.5.5s|1h-5m|9223372036854775808ns|2562048h|1e3s| 5s";
        for bad in bad.split('|').chain(["99999999999999999999s"]) {
            assert!(d(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn go_duration_display() {
        // Each is Go's `Duration.String` of what it parses to (checked above).
        for text in
            "0s 1ns 1.5\u{b5}s 300ms 1.001ms 5s 1.5s 1m30s 1h0m0s 1h30m0s 2h45m0.5s".split(' ')
        {
            assert_eq!(
                d(text).map(|d| GoDuration(d).to_string()).as_deref(),
                Ok(text)
            );
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(
            text in prop_oneof!["[-+]?[0-9.a-z\u{b5}\u{3bc} ]{0,24}", any::<String>()],
        ) {
            let _ = GoDuration::parse(&text);
        }

        #[test]
        fn display_round_trips(nanos in 0..=MAX_NANOS) {
            let duration = GoDuration(Duration::from_nanos(nanos));
            prop_assert_eq!(GoDuration::parse(&duration.to_string()), Ok(duration));
        }
    }
}
