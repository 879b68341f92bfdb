//! Durations as people write them in scenario files and fake-plugin
//! scripts: `150ms`, `2s`, `1.5s`, `1m30s`.

use std::time::Duration;

/// Nanoseconds per unit, longest unit names first where one is a prefix of
/// another (`ms` before `m`).
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Why a duration does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a duration: {reason} (write a number and a unit, e.g. 150ms, 2s, 1.5s, \
     1m30s; units: ns, us, ms, s, m, h, d)"
)]
pub struct DurationError {
    /// The text.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses `text`: one or more number-and-unit groups (`1m30s`), the
/// numbers possibly decimal (`1.5s`), or a bare `0`.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let error = |reason: &str| DurationError {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    if trimmed.is_empty() {
        return Err(error("it is empty"));
    }
    let mut rest = trimmed;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        if number.is_empty() {
            return Err(error("a unit must follow a number"));
        }
        let letters = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        if unit.is_empty() {
            return Err(error("the number has no unit"));
        }
        let Some(&(_, per_unit)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(error(&format!("unknown unit {unit:?}")));
        };
        total = total
            .checked_add(nanos(number, per_unit).ok_or_else(|| error("the number is malformed"))?)
            .ok_or_else(|| error("it is too long"))?;
        rest = after.trim_start();
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| error("it is too long"))
}

/// `number` (decimal, e.g. `1.5`) times `per_unit` nanoseconds, truncated;
/// `None` if malformed or too large.
fn nanos(number: &str, per_unit: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || fraction.len() > 18 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(per_unit)?;
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().ok()?;
        let scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
        nanos = nanos.checked_add(digits.checked_mul(per_unit)? / scale)?;
    }
    Some(nanos)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn units_decimals_and_groups() {
        let ms = Duration::from_millis;
        for (text, expected) in [
            ("150ms", ms(150)),
            ("2s", ms(2_000)),
            ("1.5s", ms(1_500)),
            (".25s", ms(250)),
            ("1m30s", ms(90_000)),
            ("1m 30s", ms(90_000)),
            ("1h", ms(3_600_000)),
            ("1d", ms(86_400_000)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
            ("0", Duration::ZERO),
            ("0ms", Duration::ZERO),
            (" 10ms ", ms(10)),
        ] {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn malformed_durations_say_why() {
        for (text, reason) in [
            ("", "empty"),
            ("150", "no unit"),
            ("ms", "must follow a number"),
            ("10 ms", "no unit"),
            ("3 fortnights", "no unit"),
            ("3fortnights", "unknown unit \"fortnights\""),
            ("1.2.3s", "malformed"),
            (".s", "malformed"),
            ("-5s", "must follow a number"),
            ("99999999999999999999999h", "too long"),
            ("600000000d", "too long"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.reason.contains(reason), "{text}: {error}");
            assert!(error.to_string().contains("e.g. 150ms"), "{error}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_says_why(text in "\\PC{0,24}") {
            if let Err(error) = parse(&text) {
                proptest::prop_assert!(!error.reason.is_empty());
            }
        }
    }
}
