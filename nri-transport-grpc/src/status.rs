//! Statuses and deadlines on the gRPC wire: reading `grpc-timeout`, and
//! turning statuses into nri-core's [`CallError`] and back.

use std::time::Duration;

use nri_core::transport::serving::WireStatus;
use nri_core::transport::{CallError, PayloadError};
use tokio::sync::watch;
use tonic::{Code, Status};

use crate::http2::hpack::HeaderList;

/// The metadata key of a call's deadline.
pub(crate) const GRPC_TIMEOUT: &str = "grpc-timeout";

/// Reads a `grpc-timeout` value (at most 8 digits and a unit: `H`, `M`,
/// `S`, `m`, `u`, `n`); `None` for a malformed one.
pub(crate) fn parse_timeout(value: &str) -> Option<Duration> {
    let split = value.len().checked_sub(1)?;
    if !value.is_char_boundary(split) {
        return None;
    }
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The deadline a request carries, if any. A malformed value is refused.
pub(crate) fn deadline_of(
    metadata: &tonic::metadata::MetadataMap,
) -> Result<Option<Duration>, Status> {
    match metadata.get(GRPC_TIMEOUT) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(parse_timeout)
            .map(Some)
            .ok_or_else(|| Status::invalid_argument("malformed grpc-timeout")),
    }
}

/// The status for a request that cannot be decoded.
pub(crate) fn undecodable(error: PayloadError) -> Status {
    match error {
        PayloadError::UnknownMethod(method) => Status::unimplemented(format!("method {method}")),
        other => Status::invalid_argument(other.to_string()),
    }
}

/// Waits until `ended` holds a reason, and returns it.
pub(crate) async fn reason(ended: &mut watch::Receiver<Option<String>>) -> String {
    match ended.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone().unwrap_or_default(),
        Err(_) => "closed".to_string(),
    }
}

/// A wire status as a tonic status.
pub(crate) fn to_tonic(status: WireStatus) -> Status {
    Status::new(Code::from_i32(status.code), status.message)
}

/// The status a reply's header block (trailers, or the headers of a
/// trailers-only reply) carries: `grpc-status` and the percent-decoded
/// `grpc-message`. `None` without a readable `grpc-status`.
pub(crate) fn status_of(fields: &HeaderList) -> Option<Status> {
    let code: i32 = std::str::from_utf8(fields.get(b"grpc-status")?)
        .ok()?
        .parse()
        .ok()?;
    let message = fields
        .get(b"grpc-message")
        .map(percent_decode)
        .unwrap_or_default();
    Some(Status::new(Code::from_i32(code), message))
}

/// A `grpc-message` as sent: bytes outside printable ASCII, and `%`,
/// percent-encoded (the gRPC HTTP/2 protocol's rule).
pub(crate) fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A `grpc-message` as read: `%XX` decoded, anything malformed kept as it
/// is, the result read as UTF-8 (invalid sequences replaced).
pub(crate) fn percent_decode(value: &[u8]) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%'
            && let (Some(high), Some(low)) = (
                value.get(i + 1).copied().and_then(hex),
                value.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(value[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a status was made from a failure of the connection rather than
/// sent by the peer.
fn is_transport_failure(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<std::io::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The [`CallError`] for a failed call of `method` with `timeout`.
pub(crate) fn to_call_error(status: Status, method: &str, timeout: Option<Duration>) -> CallError {
    if is_transport_failure(&status) {
        return CallError::Closed {
            reason: format!("connection lost: {}", status.message()),
        };
    }
    match status.code() {
        Code::DeadlineExceeded => CallError::Timeout {
            after: timeout.unwrap_or_default(),
        },
        code => CallError::from_status(code as i32, method, status.message()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn timeouts_in_every_unit() {
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            parse_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "123456789S", "1x", "-1S", "1.5S", "1é"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tonic_writes_what_we_read() {
        let mut request = tonic::Request::new(());
        request.set_timeout(Duration::from_millis(2000));
        assert_eq!(
            deadline_of(request.metadata()).unwrap(),
            Some(Duration::from_millis(2000))
        );
    }

    #[test]
    fn statuses_become_call_errors() {
        assert_eq!(
            to_call_error(Status::unimplemented("x"), "Configure", None),
            CallError::Unimplemented {
                method: "Configure".into()
            }
        );
        assert_eq!(
            to_call_error(
                Status::deadline_exceeded("late"),
                "Configure",
                Some(Duration::from_secs(1))
            ),
            CallError::Timeout {
                after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            to_call_error(Status::permission_denied("no"), "Configure", None),
            CallError::Failed {
                code: 7,
                message: "no".into()
            }
        );
        let lost = Status::from_error(Box::new(std::io::Error::other("reset")));
        assert!(matches!(
            to_call_error(lost, "Configure", None),
            CallError::Closed { .. }
        ));
    }

    #[test]
    fn messages_are_percent_encoded_both_ways() {
        let message = "100% of \"ünïcode\"\nlines";
        let sent = percent_encode(message);
        assert!(sent.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{sent}");
        assert_eq!(sent, "100%25 of \"%C3%BCn%C3%AFcode\"%0Alines");
        assert_eq!(percent_decode(sent.as_bytes()), message);
        assert_eq!(percent_decode(b"50% off %zz %4"), "50% off %zz %4");
    }

    proptest::proptest! {
        #[test]
        fn any_message_reads_back(message in ".{0,40}") {
            proptest::prop_assert_eq!(percent_decode(percent_encode(&message).as_bytes()), message);
        }

        #[test]
        fn any_grpc_message_decodes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = percent_decode(&bytes);
        }

        #[test]
        fn any_timeout_text_parses_or_is_refused(text in ".{0,12}") {
            let _ = parse_timeout(&text);
        }
    }
}
