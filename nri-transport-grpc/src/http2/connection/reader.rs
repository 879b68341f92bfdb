//! The read loop of a connection: frames in, header blocks decoded, calls
//! completed and requests started; on the server side it also drives the
//! requests' handlers.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use futures::future::AbortHandle;
use nri_transport_ttrpc::socket::Socket;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::{
    Connection, Dispatch, Inbound, MAX_BODY, MAX_FRAME, MAX_HEADER_LIST, MAX_STREAMS, Outcome,
    Request, Side, State, StreamState, Work, finish,
};
use crate::http2::frame::{self, ConnError, Frame, MAX_WINDOW, Reason};
use crate::http2::hpack::{self, HeaderList};
use crate::protocol::MAX_MESSAGE_SIZE;

/// The first bytes of the read buffer, and what it grows by.
const READ_CHUNK: usize = 32 << 10;

/// The connection's read loop, to run (client: in a task of its own;
/// server: in the task that serves the connection).
pub(crate) struct Reader {
    pub(super) connection: Connection,
    pub(super) readable: AsyncFd<Socket>,
    pub(super) dispatch: Option<Dispatch>,
}

/// A header block being gathered from HEADERS and CONTINUATION frames.
struct Partial {
    stream: u32,
    end_stream: bool,
    block: BytesMut,
}

impl Reader {
    /// Reads until the connection ends, or `close` turns true; returns
    /// why it ended. Every stream still open then ends with that reason.
    pub(crate) async fn run(mut self, mut close: watch::Receiver<bool>) -> String {
        let reason = self.read(&mut close).await;
        let connection = self.connection.clone();
        if let Err(error) = &reason {
            let mut state = connection.lock();
            let last = state.last_peer_stream;
            frame::go_away(state.out.buf(), last, error.reason, &error.message);
            state.flush(&connection.shared.writer);
            tracing::debug!(%error, "HTTP/2 connection failed");
        }
        let reason = match reason {
            Ok(reason) => reason,
            Err(error) => format!("the connection failed: {error}"),
        };
        let reason = connection.end(&reason);
        connection.shared.socket.shutdown();
        connection.shared.writer.shut(&Arc::from(reason.as_str()));
        let streams = {
            let mut state = connection.lock();
            state.gone.get_or_insert_with(|| reason.clone());
            std::mem::take(&mut state.streams)
        };
        for stream in streams.into_values() {
            finish(stream, Outcome::Closed(reason.clone()));
        }
        reason
    }

    async fn read(&mut self, close: &mut watch::Receiver<bool>) -> Result<String, ConnError> {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut decoder = hpack::Decoder::default();
        let mut partial: Option<Partial> = None;
        let mut work = Work::new();
        let mut preface = self.connection.shared.side == Side::Server;
        loop {
            if preface && buf.len() >= frame::PREFACE.len() {
                if buf[..frame::PREFACE.len()] != frame::PREFACE[..] {
                    return Err(ConnError::new(
                        Reason::PROTOCOL_ERROR,
                        "the client did not start with the HTTP/2 preface",
                    ));
                }
                let _ = buf.split_to(frame::PREFACE.len());
                preface = false;
            }
            if !preface {
                while let Some(frame) = frame::decode(&mut buf, MAX_FRAME)? {
                    self.frame(frame, &mut decoder, &mut partial, &mut work)?;
                }
            }
            // Room for the rest of the current frame, read in one go, and
            // at least a little for whatever comes next.
            let missing = match buf.get(..3) {
                Some(len) if !preface => {
                    let len =
                        usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
                    (frame::HEAD_LEN + len.min(MAX_FRAME)).saturating_sub(buf.len())
                }
                _ => 0,
            };
            if buf.capacity() - buf.len() < missing.max(READ_CHUNK / 8) {
                buf.reserve(missing.max(READ_CHUNK));
            }
            let read = tokio::select! {
                biased;
                () = closed(close) => return Ok("closed".into()),
                Some(()) = work.next(), if !work.is_empty() => continue,
                read = Socket::recv_ready(&self.readable, &mut buf) => read,
            };
            match read {
                Ok(Some(0)) if buf.is_empty() && partial.is_none() => {
                    return Ok("the peer closed the connection".into());
                }
                Ok(Some(0)) => {
                    return Ok(format!(
                        "the peer closed the connection in the middle of a frame ({} bytes buffered)",
                        buf.len()
                    ));
                }
                Ok(_) => {}
                Err(error) => {
                    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, NotConnected};
                    if matches!(error.kind(), ConnectionReset | BrokenPipe | NotConnected) {
                        return Ok("the peer closed the connection".into());
                    }
                    return Ok(format!("cannot read from the socket: {error}"));
                }
            }
        }
    }

    fn frame(
        &mut self,
        frame: Frame,
        decoder: &mut hpack::Decoder,
        partial: &mut Option<Partial>,
        work: &mut Work,
    ) -> Result<(), ConnError> {
        if let Some(gathering) = partial.as_mut() {
            let Frame::Continuation {
                stream,
                end_headers,
                block,
            } = frame
            else {
                return Err(ConnError::new(
                    Reason::PROTOCOL_ERROR,
                    "a header block interrupted by another frame",
                ));
            };
            if stream != gathering.stream {
                return Err(ConnError::new(
                    Reason::PROTOCOL_ERROR,
                    "CONTINUATION of another stream's header block",
                ));
            }
            too_large(gathering.block.len() + block.len())?;
            gathering.block.extend_from_slice(&block);
            if end_headers && let Some(done) = partial.take() {
                let head = decode_block(decoder, &done.block)?;
                self.headers(done.stream, head, done.end_stream, work)?;
            }
            return Ok(());
        }
        let connection = self.connection.clone();
        let shared = &connection.shared;
        match frame {
            Frame::Data {
                stream,
                end_stream,
                payload,
                flow,
            } => self.data(stream, end_stream, payload, flow, work)?,
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                block,
            } => {
                if end_headers {
                    let head = decode_block(decoder, &block)?;
                    self.headers(stream, head, end_stream, work)?;
                } else {
                    too_large(block.len())?;
                    *partial = Some(Partial {
                        stream,
                        end_stream,
                        block: BytesMut::from(&block[..]),
                    });
                }
            }
            Frame::Continuation { .. } => {
                return Err(ConnError::new(
                    Reason::PROTOCOL_ERROR,
                    "CONTINUATION without a header block to continue",
                ));
            }
            Frame::Reset { stream, reason } => {
                let mut state = connection.lock();
                if let Some(removed) = state.streams.remove(&stream) {
                    state.give_back(removed.held);
                    finish(removed, Outcome::Reset(reason));
                    state.flush(&shared.writer);
                }
            }
            Frame::Settings { ack: true, .. } | Frame::Ignored => {}
            Frame::Settings { ack: false, params } => {
                let mut state = connection.lock();
                for (id, value) in params {
                    state.setting(id, value)?;
                }
                frame::settings_ack(state.out.buf());
                state.pump_all();
                state.flush(&shared.writer);
            }
            Frame::PushPromise { .. } => {
                return Err(ConnError::new(
                    Reason::PROTOCOL_ERROR,
                    "PUSH_PROMISE, though push is disabled",
                ));
            }
            Frame::Ping { ack: false, data } => {
                let mut state = connection.lock();
                frame::ping_ack(state.out.buf(), data);
                state.flush(&shared.writer);
            }
            Frame::Ping { ack: true, .. } => {}
            Frame::GoAway {
                last_stream,
                reason,
                debug,
            } => {
                let why = format!(
                    "the peer is going away ({reason}{}{})",
                    if debug.is_empty() { "" } else { ": " },
                    String::from_utf8_lossy(&debug)
                );
                let mut state = connection.lock();
                state.gone.get_or_insert_with(|| why.clone());
                let refused: Vec<u32> = state
                    .streams
                    .range(last_stream.saturating_add(1)..)
                    .map(|(id, _)| *id)
                    .collect();
                if shared.side == Side::Client {
                    for id in refused {
                        if let Some(stream) = state.streams.remove(&id) {
                            state.give_back(stream.held);
                            finish(stream, Outcome::Refused(why.clone()));
                        }
                    }
                }
                state.flush(&shared.writer);
            }
            Frame::WindowUpdate {
                stream: 0,
                increment,
            } => {
                if increment == 0 {
                    return Err(ConnError::new(
                        Reason::PROTOCOL_ERROR,
                        "a connection window update of 0",
                    ));
                }
                let mut state = connection.lock();
                state.send_window += i64::from(increment);
                if state.send_window > MAX_WINDOW {
                    return Err(ConnError::new(
                        Reason::FLOW_CONTROL_ERROR,
                        "the connection window passed 2^31-1",
                    ));
                }
                state.pump_all();
                state.flush(&shared.writer);
            }
            Frame::WindowUpdate { stream, increment } => {
                let mut state = connection.lock();
                let Some(open) = state.streams.get_mut(&stream) else {
                    return Ok(());
                };
                open.send_window += i64::from(increment);
                if increment == 0 || open.send_window > MAX_WINDOW {
                    let reason = if increment == 0 {
                        Reason::PROTOCOL_ERROR
                    } else {
                        Reason::FLOW_CONTROL_ERROR
                    };
                    state.reset(stream, reason, || {
                        Outcome::Closed(format!("the peer broke flow control ({reason})"))
                    });
                } else {
                    state.pump(stream);
                }
                state.flush(&shared.writer);
            }
        }
        Ok(())
    }

    /// Whether `stream` is one that was never opened (rather than one that
    /// was and has closed).
    fn idle(&self, state: &State, stream: u32) -> bool {
        match self.connection.shared.side {
            Side::Client => stream.is_multiple_of(2) || stream >= state.next_stream,
            Side::Server => stream > state.last_peer_stream,
        }
    }

    fn data(
        &mut self,
        id: u32,
        end_stream: bool,
        payload: Bytes,
        flow: usize,
        work: &mut Work,
    ) -> Result<(), ConnError> {
        let connection = self.connection.clone();
        let mut state = connection.lock();
        state.recv_window -= flow as i64;
        if state.recv_window < 0 {
            return Err(ConnError::new(
                Reason::FLOW_CONTROL_ERROR,
                "the peer sent past the connection window",
            ));
        }
        let idle = self.idle(&state, id);
        let Some(stream) = state.streams.get_mut(&id) else {
            if idle {
                return Err(ConnError::new(
                    Reason::PROTOCOL_ERROR,
                    format!("DATA on stream {id}, which was never opened"),
                ));
            }
            // A stream this side already ended (reset, answered).
            state.give_back(flow);
            state.flush(&connection.shared.writer);
            return Ok(());
        };
        stream.held += flow;
        let started = match &stream.inbound {
            Inbound::Call { head, .. } => head.is_some(),
            Inbound::Request { .. } => true,
        };
        if stream.remote_done || !started {
            let reason = if stream.remote_done {
                Reason::STREAM_CLOSED
            } else {
                Reason::PROTOCOL_ERROR
            };
            state.reset(id, reason, || {
                Outcome::Closed(format!("the peer sent DATA out of place ({reason})"))
            });
            state.flush(&connection.shared.writer);
            return Ok(());
        }
        if stream.body.len() + payload.len() > MAX_BODY {
            match connection.shared.side {
                Side::Client => state.reset(id, Reason::CANCEL, || Outcome::TooLarge),
                Side::Server => {
                    stream.remote_done = end_stream;
                    state.refuse(id, |block| {
                        crate::server::status_block(
                            block,
                            &tonic::Status::resource_exhausted(format!(
                                "message larger than the limit of {MAX_MESSAGE_SIZE} bytes"
                            )),
                        );
                    });
                }
            }
            state.flush(&connection.shared.writer);
            return Ok(());
        }
        if stream.body.is_empty() && end_stream {
            // The common case, a body in one frame, is kept without a copy.
            stream.remote_done = true;
            drop(state);
            return self.ended(id, Some(payload), work);
        }
        stream.body.extend_from_slice(&payload);
        if end_stream {
            stream.remote_done = true;
            drop(state);
            return self.ended(id, None, work);
        }
        Ok(())
    }

    fn headers(
        &mut self,
        id: u32,
        head: HeaderList,
        end_stream: bool,
        work: &mut Work,
    ) -> Result<(), ConnError> {
        let connection = self.connection.clone();
        let mut state = connection.lock();
        let idle = self.idle(&state, id);
        match connection.shared.side {
            Side::Server if idle => {
                if id.is_multiple_of(2) {
                    return Err(ConnError::new(
                        Reason::PROTOCOL_ERROR,
                        format!("a client opened the even stream {id}"),
                    ));
                }
                state.last_peer_stream = id;
                let open = state.streams.len();
                if state.gone.is_some() || open >= MAX_STREAMS as usize {
                    frame::reset(state.out.buf(), id, Reason::REFUSED_STREAM);
                    state.flush(&connection.shared.writer);
                    return Ok(());
                }
                let mut stream = StreamState::new(
                    Inbound::Request { head, abort: None },
                    state.peer_initial_window,
                );
                stream.remote_done = end_stream;
                state.streams.insert(id, stream);
                drop(state);
                if end_stream {
                    return self.ended(id, None, work);
                }
                Ok(())
            }
            Side::Client | Side::Server => {
                if idle {
                    return Err(ConnError::new(
                        Reason::PROTOCOL_ERROR,
                        format!("HEADERS on stream {id}, which was never opened"),
                    ));
                }
                let Some(stream) = state.streams.get_mut(&id) else {
                    return Ok(());
                };
                if stream.remote_done {
                    state.reset(id, Reason::STREAM_CLOSED, || {
                        Outcome::Closed("the peer sent HEADERS after the end of its stream".into())
                    });
                    state.flush(&connection.shared.writer);
                    return Ok(());
                }
                match &mut stream.inbound {
                    Inbound::Call { head: first, .. } if first.is_none() => {
                        *first = Some(head);
                        if !end_stream {
                            return Ok(());
                        }
                        stream.remote_done = true;
                        drop(state);
                        self.ended(id, None, work)
                    }
                    Inbound::Call { .. } if !end_stream => {
                        state.reset(id, Reason::PROTOCOL_ERROR, || {
                            Outcome::Closed("trailers that do not end the stream".into())
                        });
                        state.flush(&connection.shared.writer);
                        Ok(())
                    }
                    Inbound::Call { .. } => {
                        stream.remote_done = true;
                        let body = std::mem::take(&mut stream.body).freeze();
                        state.complete(id, body, Some(head));
                        state.flush(&connection.shared.writer);
                        Ok(())
                    }
                    // Trailers from a client end its request.
                    Inbound::Request { .. } => {
                        stream.remote_done = end_stream;
                        drop(state);
                        if end_stream {
                            return self.ended(id, None, work);
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// The peer ended stream `id`; `whole` is its body when it came in one
    /// frame (otherwise the body gathered in the stream).
    fn ended(&mut self, id: u32, whole: Option<Bytes>, work: &mut Work) -> Result<(), ConnError> {
        let connection = self.connection.clone();
        let mut state = connection.lock();
        let Some(stream) = state.streams.get_mut(&id) else {
            return Ok(());
        };
        let body = whole.unwrap_or_else(|| std::mem::take(&mut stream.body).freeze());
        match &mut stream.inbound {
            Inbound::Call { .. } => {
                // A response whose headers ended it, or that ended without
                // trailers.
                state.complete(id, body, None);
                state.flush(&connection.shared.writer);
            }
            Inbound::Request { head, abort } => {
                let held = std::mem::take(&mut stream.held);
                let head = std::mem::take(head);
                let Some(dispatch) = self.dispatch.as_mut() else {
                    return Ok(());
                };
                let (handle, registration) = AbortHandle::new_pair();
                *abort = Some(handle);
                state.give_back(held);
                state.flush(&connection.shared.writer);
                drop(state);
                let answer = dispatch(
                    &connection,
                    Request {
                        stream: id,
                        head,
                        body,
                    },
                );
                work.push(Box::pin(async move {
                    let _ = futures::future::Abortable::new(answer, registration).await;
                }));
            }
        }
        Ok(())
    }
}

/// Refuses a header block of `len` bytes (compressed) past the limit.
fn too_large(len: usize) -> Result<(), ConnError> {
    if len > MAX_HEADER_LIST {
        return Err(ConnError::new(
            Reason::ENHANCE_YOUR_CALM,
            format!("a header block larger than {MAX_HEADER_LIST} bytes"),
        ));
    }
    Ok(())
}

/// Decodes a whole header block; an undecodable one ends the connection.
fn decode_block(decoder: &mut hpack::Decoder, block: &[u8]) -> Result<HeaderList, ConnError> {
    decoder
        .decode(block, MAX_HEADER_LIST)
        .map_err(|error| ConnError::new(Reason::COMPRESSION_ERROR, error.to_string()))
}

/// Resolves once `close` turns true; never if its sender is gone first.
pub(crate) async fn closed(close: &mut watch::Receiver<bool>) {
    if close.wait_for(|close| *close).await.is_err() {
        std::future::pending::<()>().await;
    }
}
