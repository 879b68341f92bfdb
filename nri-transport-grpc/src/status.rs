//! Statuses and deadlines on the gRPC wire: reading `grpc-timeout`, and
//! turning statuses into nri-core's [`CallError`] and back.

use std::time::Duration;

use nri_core::transport::serving::WireStatus;
use nri_core::transport::{CallError, CloseReason};
use tokio::sync::watch;
use tonic::{Code, Status};

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
pub(crate) fn deadline_of(headers: &http::HeaderMap) -> Result<Option<Duration>, Status> {
    match headers.get(GRPC_TIMEOUT) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(parse_timeout)
            .map(Some)
            .ok_or_else(|| Status::invalid_argument("malformed grpc-timeout")),
    }
}

/// Waits until `ended` holds a reason, and returns it.
pub(crate) async fn reason(ended: &mut watch::Receiver<Option<CloseReason>>) -> CloseReason {
    let closed = || CloseReason::ClosedHere("closed".into());
    match ended.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone().unwrap_or_else(closed),
        Err(_) => closed(),
    }
}

/// A wire status as a tonic status.
pub(crate) fn to_tonic(status: WireStatus) -> Status {
    Status::new(Code::from_i32(status.code), status.message)
}

/// Whether a status was made from a failure of the connection (an I/O or
/// HTTP/2 error under it) rather than sent by the peer.
fn is_transport_failure(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<std::io::Error>() || error.is::<hyper::Error>() {
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
            reason: CloseReason::Failed(format!("connection lost: {}", status.message())),
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
        let headers = request.metadata().clone().into_headers();
        assert_eq!(
            deadline_of(&headers).unwrap(),
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

    proptest::proptest! {
        #[test]
        fn any_timeout_text_parses_or_is_refused(text in ".{0,12}") {
            let _ = parse_timeout(&text);
        }
    }
}
