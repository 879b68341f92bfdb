//! A gRPC client on one connection that is never redialed: HTTP/2 by h2,
//! and unary calls framed here as gRPC frames them (a request of HEADERS
//! and one DATA frame ending the stream, sent in one write; the reply's
//! message and `grpc-status`). Its end is observable ([`Client::closed`]),
//! which is how a session's end is noticed.
//!
//! Neither tonic's client nor hyper's is used: tonic's streams the request
//! body (HEADERS, DATA and an empty end-of-stream frame in three writes,
//! three wake-ups of the peer), and hyper's adds a task per call to pipe
//! the body. A call here puts its frames on the stream itself.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::uri::PathAndQuery;
use nri_core::transport::CallError;
use tokio::sync::watch;
use tonic::metadata::AsciiMetadataValue;

use crate::coalesce::Coalesced;
use crate::codec::{self, Encode, h2_status};
use crate::endpoint::Stream;
use crate::protocol::{MAX_MESSAGE_SIZE, WINDOW};
use crate::status::{GRPC_TIMEOUT, reason, to_call_error};

/// The authority sent with every call; unix sockets have none of their own.
const AUTHORITY: &str = "localhost";

/// A client of one connection. Clones share it.
#[derive(Clone)]
pub(crate) struct Client {
    send: SendRequest<Bytes>,
    state: Arc<State>,
}

struct State {
    /// Why the connection ended, once it has.
    ended: watch::Sender<Option<String>>,
    /// Asks the connection's task to drop the connection.
    close: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("ended", &*self.state.ended.borrow())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts HTTP/2 on `stream`.
    pub(crate) async fn start(stream: Stream) -> Result<Self, h2::Error> {
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(WINDOW)
            .initial_connection_window_size(WINDOW)
            .max_send_buffer_size(MAX_MESSAGE_SIZE + 1024)
            .handshake::<_, Bytes>(Coalesced::new(stream))
            .await?;
        let (ended, _) = watch::channel(None);
        let (close, mut closing) = watch::channel(None::<String>);
        let state = Arc::new(State { ended, close });
        let watcher = Arc::clone(&state);
        tokio::spawn(async move {
            let reason = tokio::select! {
                result = connection => match result {
                    Ok(()) => "the peer closed the connection".to_string(),
                    Err(error) => format!("the connection failed: {error}"),
                },
                why = reason(&mut closing) => why,
            };
            watcher.ended.send_replace(Some(reason));
        });
        Ok(Client { send, state })
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
        if let Some(reason) = self.closed_reason() {
            return Err(CallError::Closed { reason });
        }
        let protocol = |message: String| CallError::Protocol { message };
        let path = PathAndQuery::try_from(format!("/{service}/{method}"))
            .map_err(|error| protocol(format!("bad method name {method:?}: {error}")))?;
        let request = request_head(path, timeout, metadata)?;
        let body = codec::frame(&message).map_err(|status| protocol(status.message().into()))?;
        let send = self.send.clone();
        let call = async {
            let mut send = send.ready().await.map_err(h2_status)?;
            let (response, mut stream) = send.send_request(request, false).map_err(h2_status)?;
            stream.send_data(body, true).map_err(h2_status)?;
            read_reply(response.await.map_err(h2_status)?).await
        };
        let timed = async {
            match timeout {
                Some(after) => tokio::time::timeout(after, call)
                    .await
                    .map_err(|_| CallError::Timeout { after }),
                None => Ok(call.await),
            }
        };
        let mut ended = self.state.ended.subscribe();
        tokio::select! {
            outcome = timed => match outcome? {
                Ok(reply) => Ok(reply),
                Err(status) => Err(match self.closed_reason() {
                    Some(reason) => CallError::Closed { reason },
                    None => to_call_error(status, method, timeout),
                }),
            },
            why = reason(&mut ended) => Err(CallError::Closed { reason: why }),
        }
    }

    /// Drops the connection; pending and later calls fail as closed.
    pub(crate) fn close(&self, reason: &str) {
        self.state.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason.to_string());
                true
            } else {
                false
            }
        });
    }

    /// Why the connection ended, if it has.
    pub(crate) fn closed_reason(&self) -> Option<String> {
        self.state.ended.borrow().clone()
    }

    /// Waits until the connection has ended, and says why.
    pub(crate) async fn closed(&self) -> String {
        reason(&mut self.state.ended.subscribe()).await
    }
}

/// The HEADERS of a unary gRPC request.
fn request_head(
    path: PathAndQuery,
    timeout: Option<Duration>,
    metadata: &[(&'static str, AsciiMetadataValue)],
) -> Result<http::Request<()>, CallError> {
    let protocol = |message: String| CallError::Protocol { message };
    let uri = http::Uri::builder()
        .scheme("http")
        .authority(AUTHORITY)
        .path_and_query(path)
        .build()
        .map_err(|error| protocol(error.to_string()))?;
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(uri)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers");
    if let Some(timeout) = timeout {
        request = request.header(GRPC_TIMEOUT, grpc_timeout(timeout));
    }
    for (key, value) in metadata {
        request = request.header(*key, value.as_encoded_bytes());
    }
    request
        .body(())
        .map_err(|error| protocol(error.to_string()))
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

/// Reads a unary reply: the status from the headers (a trailers-only
/// reply) or the trailers, and exactly one uncompressed message within the
/// size limit.
async fn read_reply(response: http::Response<h2::RecvStream>) -> Result<Bytes, tonic::Status> {
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(status);
    }
    if response.status() != http::StatusCode::OK {
        return Err(tonic::Status::unknown(format!(
            "HTTP status {}",
            response.status()
        )));
    }
    let mut body = response.into_body();
    let message = codec::read_body(&mut body).await?;
    let trailers = body.trailers().await.map_err(h2_status)?;
    let status = trailers
        .as_ref()
        .and_then(tonic::Status::from_header_map)
        .ok_or_else(|| tonic::Status::internal("reply without grpc-status"))?;
    if status.code() != tonic::Code::Ok {
        return Err(status);
    }
    codec::unframe(message)
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
