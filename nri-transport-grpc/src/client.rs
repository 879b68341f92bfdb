//! A gRPC client on one connection that is never redialed: unary calls
//! on our HTTP/2 ([`crate::http2`]), framed as gRPC frames them. A call's
//! HEADERS and its one DATA frame, which ends the stream, leave in one
//! write from the caller's own task; the reply is read by the
//! connection's reader task, which hands it to the caller. The
//! connection's end is observable ([`Client::closed`]), which is how a
//! session's end is noticed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nri_core::transport::CallError;
use nri_transport_ttrpc::socket::Socket;
use tokio::sync::watch;
use tonic::metadata::AsciiMetadataValue;
use tonic::{Code, Status};

use crate::codec::{self, Encode};
use crate::http2::connection::{Connection, MAX_BODY, Outcome, Side};
use crate::http2::frame::Reason;
use crate::status::{GRPC_TIMEOUT, status_of, to_call_error};

/// The authority sent with every call; unix sockets have none of their own.
const AUTHORITY: &[u8] = b"localhost";

/// A client of one connection. Clones share it; when the last is dropped,
/// the connection is closed.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    connection: Connection,
    _owner: Arc<Owner>,
}

/// Closes the connection when the last [`Client`] is gone (its reader
/// holds the connection too, so that alone would keep it open).
#[derive(Debug)]
struct Owner(Connection);

impl Drop for Owner {
    fn drop(&mut self) {
        if self.0.ended().is_none() {
            self.0.close("the client was dropped");
        }
    }
}

impl Client {
    /// Starts HTTP/2 on `socket`, with the connection's reader in a task of
    /// its own. Must be called inside a tokio runtime.
    pub(crate) fn start(socket: Socket) -> std::io::Result<Self> {
        let (connection, reader) = Connection::start(socket, Side::Client, None)?;
        // Nothing but the peer, a failure or `close` ends the connection.
        let (_, never) = watch::channel(false);
        tokio::spawn(reader.run(never));
        Ok(Client {
            _owner: Arc::new(Owner(connection.clone())),
            connection,
        })
    }

    /// Calls `service/method` with `message`, waiting at most `timeout`
    /// (which also goes to the peer as the call's deadline).
    pub(crate) async fn call<T: Encode>(
        &self,
        service: &str,
        method: &str,
        message: T,
        timeout: Option<Duration>,
        metadata: &[(&'static str, AsciiMetadataValue)],
    ) -> Result<Bytes, CallError> {
        let protocol = |message: String| CallError::Protocol { message };
        let body = codec::frame(&message).map_err(|status| protocol(status.message().into()))?;
        let path = format!("/{service}/{method}");
        let deadline = timeout.map(grpc_timeout);
        let (id, outcome) = self
            .connection
            .open(
                |block| {
                    block
                        .method_post()
                        .scheme_http()
                        .path(path.as_bytes())
                        .authority(AUTHORITY)
                        .content_type(b"application/grpc")
                        .field(b"te", b"trailers");
                    if let Some(deadline) = &deadline {
                        block.field(GRPC_TIMEOUT.as_bytes(), deadline.as_bytes());
                    }
                    for (key, value) in metadata {
                        block.field(key.as_bytes(), value.as_encoded_bytes());
                    }
                },
                body,
            )
            .map_err(|reason| CallError::Closed { reason })?;
        // Dropped before the reply (cancelled, or timed out): the stream
        // is reset.
        let cancel = CancelOnDrop {
            connection: &self.connection,
            id: Some(id),
        };
        let outcome = match timeout {
            Some(after) => tokio::time::timeout(after, outcome)
                .await
                .map_err(|_| CallError::Timeout { after })?,
            None => outcome.await,
        };
        cancel.disarm();
        let outcome = outcome.map_err(|_| CallError::Closed {
            reason: self
                .closed_reason()
                .unwrap_or_else(|| "the connection ended".into()),
        })?;
        read_reply(outcome).map_err(|failure| match failure {
            Failure::Closed(reason) => CallError::Closed { reason },
            Failure::Status(status) => to_call_error(status, method, timeout),
        })
    }

    /// Drops the connection; pending and later calls fail as closed.
    pub(crate) fn close(&self, reason: &str) {
        self.connection.close(reason);
    }

    /// Why the connection ended, if it has.
    pub(crate) fn closed_reason(&self) -> Option<String> {
        self.connection.ended()
    }

    /// Waits until the connection has ended, and says why.
    pub(crate) async fn closed(&self) -> String {
        self.connection.closed().await
    }
}

/// Resets a call's stream unless disarmed.
struct CancelOnDrop<'a> {
    connection: &'a Connection,
    id: Option<u32>,
}

impl CancelOnDrop<'_> {
    fn disarm(mut self) {
        self.id = None;
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.connection.cancel(id);
        }
    }
}

/// A deadline as `grpc-timeout`: the largest unit that keeps it within
/// eight digits, rounding up so the peer never sees a shorter one.
fn grpc_timeout(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    let units: [(&str, u128); 6] = [
        ("n", 1),
        ("u", 1_000),
        ("m", 1_000_000),
        ("S", 1_000_000_000),
        ("M", 60_000_000_000),
        ("H", 3_600_000_000_000),
    ];
    for (unit, per) in units {
        let amount = nanos.div_ceil(per);
        if amount < 100_000_000 {
            return format!("{amount}{unit}");
        }
    }
    "99999999H".to_string()
}

/// Why a call failed, before it is named for nri-core.
enum Failure {
    /// The connection ended (or the peer went away without the call).
    Closed(String),
    /// The peer's status, or what the reply broke.
    Status(Status),
}

/// Reads a unary reply: the status from the headers (a trailers-only
/// reply) or the trailers, and exactly one uncompressed message within the
/// size limit.
fn read_reply(outcome: Outcome) -> Result<Bytes, Failure> {
    let (head, body, trailers) = match outcome {
        Outcome::Response {
            head,
            body,
            trailers,
        } => (head, body, trailers),
        Outcome::Reset(reason) => {
            let message = format!("the peer reset the call: {reason}");
            return Err(Failure::Status(match reason {
                Reason::CANCEL => Status::cancelled(message),
                Reason::REFUSED_STREAM => Status::unavailable(message),
                _ => Status::internal(message),
            }));
        }
        Outcome::Refused(reason) | Outcome::Closed(reason) => {
            return Err(Failure::Closed(reason));
        }
        Outcome::TooLarge => {
            return Err(Failure::Status(Status::resource_exhausted(format!(
                "reply larger than the limit of {} bytes",
                MAX_BODY - codec::PREFIX
            ))));
        }
    };
    if let Some(status) = status_of(&head)
        && status.code() != Code::Ok
    {
        return Err(Failure::Status(status));
    }
    let http = head.get(b":status").unwrap_or_default();
    if http != b"200" {
        return Err(Failure::Status(Status::unknown(format!(
            "HTTP status {}",
            String::from_utf8_lossy(http)
        ))));
    }
    let status = trailers
        .as_ref()
        .and_then(status_of)
        .or_else(|| status_of(&head).filter(|_| trailers.is_none()))
        .ok_or_else(|| Failure::Status(Status::internal("reply without grpc-status")))?;
    if status.code() != Code::Ok {
        return Err(Failure::Status(status));
    }
    codec::unframe(body).map_err(Failure::Status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::parse_timeout;

    #[test]
    fn small_timeouts_keep_their_precision() {
        assert_eq!(grpc_timeout(Duration::from_millis(2000)), "2000000u");
        assert_eq!(grpc_timeout(Duration::from_nanos(5)), "5n");
        assert_eq!(grpc_timeout(Duration::from_secs(3600)), "3600000m");
    }

    proptest::proptest! {
        #[test]
        fn a_sent_deadline_reads_back_no_shorter(nanos in 0_u64..u64::MAX) {
            let timeout = Duration::from_nanos(nanos);
            let text = grpc_timeout(timeout);
            let read = parse_timeout(&text);
            proptest::prop_assert!(read.is_some(), "{text}");
            proptest::prop_assert!(read.unwrap_or_default() >= timeout, "{text}");
        }
    }
}
