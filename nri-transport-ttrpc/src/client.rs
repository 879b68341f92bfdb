//! The calling side of one virtual connection.
//!
//! Stream ids are assigned when the message is queued on the trunk, inside
//! the same lock as the write, so they leave **strictly increasing** on the
//! wire however many tasks call at once (Go servers reject anything else;
//! containerd/ttrpc `PROTOCOL.md`). The message is serialized
//! before the lock is taken; only the four id bytes are patched inside it.
//!
//! A call waits for its response, its timeout, or the trunk closing,
//! whichever comes first. A response that arrives after its call gave up is
//! dropped with a debug message, as Go does; a response for a stream id this
//! client never used is a protocol violation and closes the trunk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use nri_core::transport::{CallError, CloseReason};
use prost::Message as _;
use tokio::sync::oneshot;

use crate::frame::ConnId;
use crate::message::envelope::{self, Payload, Response};
use crate::message::{Decoded, MAX_DATA, MessageDecoder, STREAM_ID_RANGE, TYPE_RESPONSE, code};
use crate::trunk::{Inbound, TrunkHandle, Violation, Work};

/// Largest stream id a client uses before the connection must be replaced.
const LAST_STREAM_ID: u32 = u32::MAX - 1;

/// Largest encoding buffer a client keeps between calls: enough for every
/// event but a big Synchronize, whose buffer is given back to the
/// allocator instead of being held for the connection's life.
const KEPT_BUFFER: usize = 64 << 10;

type Pending = oneshot::Sender<Result<Response, CallError>>;

#[derive(Default)]
pub(crate) struct State {
    /// The id the next call gets.
    next_id: u32,
    pending: HashMap<u32, Pending>,
    closed: Option<CloseReason>,
}

/// Calls a ttrpc service over one virtual connection.
#[derive(Clone)]
pub struct Client {
    conn: ConnId,
    service: &'static str,
    trunk: TrunkHandle,
    state: Arc<Mutex<State>>,
    /// A buffer to encode requests in, reused from call to call: allocating
    /// one per call costs more than encoding.
    scratch: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("conn", &self.conn)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The client's receiving end, for the trunk's reader.
pub struct ClientInbound {
    state: Arc<Mutex<State>>,
    decoder: MessageDecoder,
}

/// A client of `service` on `conn` of `trunk`, and its receiving end, which
/// the caller installs on the trunk.
pub fn pair(conn: ConnId, service: &'static str, trunk: TrunkHandle) -> (Client, ClientInbound) {
    let state = Arc::new(Mutex::new(State {
        next_id: 1,
        ..State::default()
    }));
    (
        Client {
            conn,
            service,
            trunk,
            state: Arc::clone(&state),
            scratch: Arc::default(),
        },
        ClientInbound {
            state,
            decoder: MessageDecoder::new(),
        },
    )
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn closed(reason: &CloseReason) -> CallError {
    CallError::Closed {
        reason: reason.clone(),
    }
}

impl Client {
    /// Calls `method` and returns the reply's payload. `timeout` is sent to
    /// the peer as `timeout_nano` and bounds the wait; `None` waits until
    /// the reply or the connection's end.
    pub async fn call(
        &self,
        method: &str,
        payload: &(impl Payload + ?Sized),
        timeout: Option<Duration>,
    ) -> Result<Bytes, CallError> {
        let timeout_nano = timeout.map_or(0, |t| i64::try_from(t.as_nanos()).unwrap_or(i64::MAX));
        // Concurrent callers do not wait for the buffer: one that finds it
        // taken encodes into a fresh one.
        let mut message =
            std::mem::take(&mut *self.scratch.lock().unwrap_or_else(PoisonError::into_inner));
        let sent = envelope::encode_request_into(
            &mut message,
            0,
            self.service,
            method,
            payload,
            timeout_nano,
        )
        .map_err(|error| CallError::Failed {
            code: code::RESOURCE_EXHAUSTED,
            message: format!("cannot send {method}: {error}"),
        })
        .and_then(|()| self.send(&mut message));
        if message.capacity() <= KEPT_BUFFER {
            *self.scratch.lock().unwrap_or_else(PoisonError::into_inner) = message;
        }
        let (id, answer) = sent?;
        if self.trunk.writer().congested() {
            self.trunk.writer().drained().await;
        }
        let outcome = match timeout {
            Some(timeout) => match tokio::time::timeout(timeout, answer).await {
                Ok(answer) => answer,
                Err(_) => {
                    lock(&self.state).pending.remove(&id);
                    return Err(CallError::Timeout { after: timeout });
                }
            },
            None => answer.await,
        };
        let response = outcome.unwrap_or_else(|_| {
            Err(closed(&self.trunk.closed_reason().unwrap_or_else(|| {
                CloseReason::ClosedHere("closed".into())
            })))
        })?;
        match (response.status, timeout) {
            // The peer gave up at the deadline we sent it; across processes
            // its answer can beat our own timer. It is our timeout all the
            // same, not an error of the peer's.
            (Some(status), Some(after)) if status.code == code::DEADLINE_EXCEEDED => {
                Err(CallError::Timeout { after })
            }
            (Some(status), _) if status.code != code::OK => {
                Err(CallError::from_status(status.code, method, status.message))
            }
            _ => Ok(response.payload),
        }
    }

    /// Assigns the stream id, registers the call and queues the message.
    fn send(
        &self,
        message: &mut [u8],
    ) -> Result<(u32, oneshot::Receiver<Result<Response, CallError>>), CallError> {
        let mut state = lock(&self.state);
        if let Some(reason) = &state.closed {
            return Err(closed(reason));
        }
        let id = state.next_id;
        if id > LAST_STREAM_ID {
            drop(state);
            let reason = "stream ids are exhausted on this connection";
            self.trunk.close(reason);
            return Err(closed(&CloseReason::ClosedHere(reason.into())));
        }
        message[STREAM_ID_RANGE].copy_from_slice(&id.to_be_bytes());
        let (reply, answer) = oneshot::channel();
        if let Err(error) = self.trunk.writer().send_message(self.conn, message) {
            let reason = self
                .trunk
                .closed_reason()
                .unwrap_or_else(|| CloseReason::Failed(error.reason.to_string()));
            return Err(closed(&reason));
        }
        state.next_id = id.saturating_add(2);
        state.pending.insert(id, reply);
        Ok((id, answer))
    }
}

impl Inbound for ClientInbound {
    fn frame(&mut self, payload: Bytes, _work: &mut Work) -> Result<(), Violation> {
        self.decoder.push(payload);
        while let Some(decoded) = self.decoder.next_message() {
            match decoded {
                Decoded::Message(message) if message.header.kind == TYPE_RESPONSE => {
                    let id = message.header.stream_id;
                    let response = Response::decode(message.data).map_err(|error| {
                        Violation(format!("undecodable response on stream {id}: {error}"))
                    })?;
                    self.complete(id, Ok(response))?;
                }
                Decoded::Message(message) => {
                    // Go clients ignore what is not a response.
                    tracing::debug!(
                        kind = message.header.kind,
                        stream = message.header.stream_id,
                        "ignoring a message that is not a response"
                    );
                }
                Decoded::Oversized(header) if header.kind == TYPE_RESPONSE => {
                    let failure = CallError::Failed {
                        code: code::RESOURCE_EXHAUSTED,
                        message: format!(
                            "response of {} bytes exceeds the ttrpc limit of {MAX_DATA} bytes",
                            header.length
                        ),
                    };
                    self.complete(header.stream_id, Err(failure))?;
                }
                Decoded::Oversized(header) => {
                    tracing::debug!(kind = header.kind, "skipping an oversized message");
                }
            }
        }
        Ok(())
    }

    fn closed(&mut self, reason: &CloseReason) {
        let pending = {
            let mut state = lock(&self.state);
            state.closed = Some(reason.clone());
            std::mem::take(&mut state.pending)
        };
        for (_, call) in pending {
            let _ = call.send(Err(closed(reason)));
        }
    }
}

impl ClientInbound {
    fn complete(&mut self, id: u32, outcome: Result<Response, CallError>) -> Result<(), Violation> {
        let mut state = lock(&self.state);
        match state.pending.remove(&id) {
            Some(call) => {
                drop(state);
                let _ = call.send(outcome);
                Ok(())
            }
            None if id % 2 == 1 && id < state.next_id => {
                tracing::debug!(
                    stream = id,
                    "dropping a response that came after its call gave up"
                );
                Ok(())
            }
            None => Err(Violation(format!(
                "response for stream {id}, which this side never opened"
            ))),
        }
    }
}
