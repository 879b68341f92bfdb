//! One HTTP/2 connection, either side: the state shared by callers and the
//! reader (streams, flow-control windows, settings), the write path, and
//! the read loop.
//!
//! - **Writing** is synchronous, under the state's lock, by whoever has
//!   something to send: a caller opening a stream, a handler answering
//!   one, or the reader (acknowledgements, window updates, and data that
//!   waited for window). Frames go through the ttrpc trunk's writer, whole
//!   and in order, one `writev` in the common case, so a stream's HEADERS
//!   leave in stream-id order and a header block is never split by another
//!   frame.
//! - **Reading** is one loop per connection that decodes frames and header
//!   blocks, and completes calls or starts requests. On the server side it
//!   also drives the requests' handlers, so an answer leaves in the same
//!   turn it is ready.
//! - **Flow control.** This side advertises [`WINDOW`] for the connection
//!   and every stream. A stream's received bytes are given back to the
//!   connection window once its message is complete or dropped, so what
//!   one connection holds unfinished is bounded by the window. Data to send
//!   waits in its stream for the peer's window, and goes out as updates
//!   arrive.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use futures::future::{AbortHandle, BoxFuture};
use futures::stream::FuturesUnordered;
use nri_transport_ttrpc::socket::{Socket, TrunkWriter};
use tokio::sync::{oneshot, watch};

mod reader;

pub(crate) use reader::Reader;

use super::frame::{self, ConnError, MAX_WINDOW, Reason, setting};
use super::hpack::{self, HeaderList};
use crate::protocol::{MAX_MESSAGE_SIZE, WINDOW};

/// The largest frame this side accepts.
const MAX_FRAME: usize = 1 << 20;

/// The largest header block (compressed, across CONTINUATION frames) and
/// header list (decoded) this side accepts.
pub(crate) const MAX_HEADER_LIST: usize = 64 << 10;

/// Streams a client may have open on a server at once.
const MAX_STREAMS: u32 = 256;

/// The largest body a stream may carry: one maximal gRPC message.
pub(crate) const MAX_BODY: usize = MAX_MESSAGE_SIZE + crate::codec::PREFIX;

/// Given-back connection window is sent once this much has gathered.
const RETURN_AT: usize = (WINDOW / 4) as usize;

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Opens streams (odd ids) and reads replies.
    Client,
    /// Answers the streams the peer opens.
    Server,
}

/// What a call's stream ended with.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The response: its header block, its body and its trailers (`None`
    /// for a response whose headers ended the stream).
    Response {
        head: HeaderList,
        body: Bytes,
        trailers: Option<HeaderList>,
    },
    /// The peer reset the stream.
    Reset(Reason),
    /// The peer is going away without having processed the stream.
    Refused(String),
    /// The body passed [`MAX_BODY`].
    TooLarge,
    /// The connection ended.
    Closed(String),
}

/// A request a server received whole.
#[derive(Debug)]
pub(crate) struct Request {
    /// Its stream.
    pub(crate) stream: u32,
    /// Its header block.
    pub(crate) head: HeaderList,
    /// Its body.
    pub(crate) body: Bytes,
}

/// What a server does with a request: the work that answers it (with
/// [`Connection::respond`] or [`Connection::refuse`]), driven by the
/// connection's reader until it is done or the client resets the stream.
/// The work a server's read loop drives: one future per request.
type Work = FuturesUnordered<BoxFuture<'static, ()>>;

pub(crate) type Dispatch = Box<dyn FnMut(&Connection, Request) -> BoxFuture<'static, ()> + Send>;

/// What is still to send on a stream.
#[derive(Debug)]
struct Outbound {
    data: Bytes,
    /// A trailers block to send after the data, which ends the stream;
    /// without one the last DATA frame does.
    trailers: Option<Vec<u8>>,
}

/// What arrives on a stream, by side.
#[derive(Debug)]
enum Inbound {
    /// A client's call.
    Call {
        reply: Option<oneshot::Sender<Outcome>>,
        head: Option<HeaderList>,
    },
    /// A server's request.
    Request {
        head: HeaderList,
        /// Set once the request is whole and its work runs.
        abort: Option<AbortHandle>,
    },
}

#[derive(Debug)]
struct StreamState {
    send_window: i64,
    outbound: Option<Outbound>,
    inbound: Inbound,
    body: BytesMut,
    /// Received bytes not yet given back to the connection window.
    held: usize,
    /// The peer ended its side.
    remote_done: bool,
}

impl StreamState {
    fn new(inbound: Inbound, send_window: i64) -> Self {
        StreamState {
            send_window,
            outbound: None,
            inbound,
            body: BytesMut::new(),
            held: 0,
            remote_done: false,
        }
    }
}

#[derive(Debug)]
struct State {
    encoder: hpack::Encoder,
    peer_max_frame: usize,
    peer_initial_window: i64,
    peer_max_streams: u32,
    send_window: i64,
    /// What the peer may still send before this side gives window back.
    recv_window: i64,
    /// Window given back but not yet sent.
    unreturned: usize,
    streams: BTreeMap<u32, StreamState>,
    /// Client: the id of the next stream.
    next_stream: u32,
    /// Server: the highest stream id the peer opened.
    last_peer_stream: u32,
    /// No new streams: why (a GOAWAY either way, or the end).
    gone: Option<String>,
    /// Bytes to write, gathered under the lock.
    out: Out,
}

/// Frames gathered for one write: control bytes and header blocks copied
/// into a buffer, message payloads by reference.
#[derive(Debug, Default)]
struct Out {
    parts: Vec<Bytes>,
    current: Vec<u8>,
}

impl Out {
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.current
    }

    fn payload(&mut self, payload: Bytes) {
        if !self.current.is_empty() {
            self.parts
                .push(Bytes::from(std::mem::take(&mut self.current)));
        }
        self.parts.push(payload);
    }

    fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.current.is_empty()
    }

    /// Writes what was gathered.
    fn send(&mut self, writer: &TrunkWriter) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        let mut slices: Vec<&[u8]> = self.parts.iter().map(|b| &b[..]).collect();
        if !self.current.is_empty() {
            slices.push(&self.current);
        }
        let sent = writer
            .send(&slices)
            .map_err(|error| error.reason.to_string());
        self.parts.clear();
        self.current.clear();
        sent
    }
}

struct Shared {
    side: Side,
    socket: Socket,
    writer: Arc<TrunkWriter>,
    state: Mutex<State>,
    ended: watch::Sender<Option<String>>,
}

/// One HTTP/2 connection. Clones share it.
#[derive(Clone)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("side", &self.shared.side)
            .field("ended", &*self.shared.ended.borrow())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts HTTP/2 on `socket`: writes the preface (client) and this
    /// side's settings. Must be called inside a tokio runtime.
    pub(crate) fn start(
        socket: Socket,
        side: Side,
        dispatch: Option<Dispatch>,
    ) -> std::io::Result<(Connection, Reader)> {
        let readable = socket.register_readable()?;
        let (ended, _) = watch::channel(None);
        let closer = socket.clone();
        let writer = TrunkWriter::start(
            socket.clone(),
            Box::new(move |_reason: &str| closer.shutdown()),
            tracing::Span::current(),
        );
        let mut out = Out::default();
        if side == Side::Client {
            out.buf().extend_from_slice(frame::PREFACE);
        }
        let mut settings = vec![
            (setting::INITIAL_WINDOW_SIZE, WINDOW),
            (setting::MAX_FRAME_SIZE, MAX_FRAME as u32),
            (setting::MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST as u32),
        ];
        match side {
            Side::Client => settings.push((setting::ENABLE_PUSH, 0)),
            Side::Server => settings.push((setting::MAX_CONCURRENT_STREAMS, MAX_STREAMS)),
        }
        frame::settings(out.buf(), &settings);
        frame::window_update(out.buf(), 0, WINDOW - 65_535);
        let state = State {
            encoder: hpack::Encoder::default(),
            peer_max_frame: frame::DEFAULT_MAX_FRAME,
            peer_initial_window: 65_535,
            peer_max_streams: u32::MAX,
            send_window: 65_535,
            recv_window: i64::from(WINDOW),
            unreturned: 0,
            streams: BTreeMap::new(),
            next_stream: 1,
            last_peer_stream: 0,
            gone: None,
            out,
        };
        let connection = Connection {
            shared: Arc::new(Shared {
                side,
                socket,
                writer,
                state: Mutex::new(state),
                ended,
            }),
        };
        connection.lock().flush(&connection.shared.writer);
        let reader = Reader {
            connection: connection.clone(),
            readable,
            dispatch,
        };
        Ok((connection, reader))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Why the connection ended, if it has.
    pub(crate) fn ended(&self) -> Option<String> {
        self.shared.ended.borrow().clone()
    }

    /// Waits until the connection has ended, and says why.
    pub(crate) async fn closed(&self) -> String {
        crate::status::reason(&mut self.shared.ended.subscribe()).await
    }

    /// Ends the connection: a GOAWAY, then the socket is shut down; the
    /// reader then ends every stream with `reason`.
    pub(crate) fn close(&self, reason: &str) {
        {
            let mut state = self.lock();
            if state.gone.is_none() {
                state.gone = Some(reason.to_string());
            }
            let last = state.last_peer_stream;
            frame::go_away(state.out.buf(), last, Reason::NO_ERROR, "");
            state.flush(&self.shared.writer);
        }
        self.end(reason);
        self.shared.socket.shutdown();
    }

    /// Records why the connection ended, unless a reason was recorded
    /// first; returns the reason that stands.
    fn end(&self, reason: &str) -> String {
        self.shared.ended.send_if_modified(|ended| {
            if ended.is_none() {
                *ended = Some(reason.to_string());
                true
            } else {
                false
            }
        });
        self.ended().unwrap_or_else(|| reason.to_string())
    }

    /// Client: opens a stream with the header block `head` writes and the
    /// body `body`, which ends the stream. The receiver has the outcome.
    pub(crate) fn open(
        &self,
        head: impl FnOnce(&mut hpack::Block<'_>),
        body: Bytes,
    ) -> Result<(u32, oneshot::Receiver<Outcome>), String> {
        let (reply, outcome) = oneshot::channel();
        let mut state = self.lock();
        if let Some(reason) = state.gone.clone().or_else(|| self.ended()) {
            return Err(reason);
        }
        if u32::try_from(state.streams.len()).unwrap_or(u32::MAX) >= state.peer_max_streams {
            return Err(format!(
                "the peer allows {} concurrent calls and that many are running",
                state.peer_max_streams
            ));
        }
        let id = state.next_stream;
        if id > 0x7fff_ffff {
            return Err("the connection has used all its stream ids".into());
        }
        state.next_stream = id + 2;
        let mut block = Vec::with_capacity(128);
        head(&mut state.encoder.block(&mut block));
        let max_frame = state.peer_max_frame;
        frame::headers(state.out.buf(), id, &block, false, max_frame);
        let mut stream = StreamState::new(
            Inbound::Call {
                reply: Some(reply),
                head: None,
            },
            state.peer_initial_window,
        );
        stream.outbound = Some(Outbound {
            data: body,
            trailers: None,
        });
        state.streams.insert(id, stream);
        state.pump(id);
        state.flush(&self.shared.writer);
        Ok((id, outcome))
    }

    /// Client: gives up on stream `id` (cancelled or timed out): resets it
    /// unless it already ended.
    pub(crate) fn cancel(&self, id: u32) {
        let mut state = self.lock();
        if let Some(stream) = state.streams.remove(&id) {
            state.give_back(stream.held);
            frame::reset(state.out.buf(), id, Reason::CANCEL);
            state.flush(&self.shared.writer);
        }
    }

    /// Server: answers stream `id` with `message` (a gRPC frame) and OK
    /// trailers.
    pub(crate) fn respond(&self, id: u32, message: Bytes) {
        let mut state = self.lock();
        if !state.streams.contains_key(&id) {
            return;
        }
        let mut head = Vec::with_capacity(32);
        state
            .encoder
            .block(&mut head)
            .status_200()
            .content_type(b"application/grpc");
        let mut trailers = Vec::with_capacity(16);
        state
            .encoder
            .block(&mut trailers)
            .field(b"grpc-status", b"0");
        if let Some(stream) = state.streams.get_mut(&id) {
            stream.outbound = Some(Outbound {
                data: message,
                trailers: Some(trailers),
            });
        }
        let max_frame = state.peer_max_frame;
        frame::headers(state.out.buf(), id, &head, false, max_frame);
        state.pump(id);
        state.flush(&self.shared.writer);
    }

    /// Server: answers stream `id` with a header block alone (a
    /// trailers-only response that `head` writes), resetting the stream if
    /// the client is still sending.
    pub(crate) fn refuse(&self, id: u32, head: impl FnOnce(&mut hpack::Block<'_>)) {
        let mut state = self.lock();
        state.refuse(id, head);
        state.flush(&self.shared.writer);
    }
}

impl State {
    /// Writes what was gathered; a failure closes the connection (the
    /// writer shuts the socket down and the reader ends).
    fn flush(&mut self, writer: &TrunkWriter) {
        if let Err(reason) = self.out.send(writer) {
            tracing::debug!(%reason, "HTTP/2 write failed");
        }
    }

    /// Gives `bytes` of received data back to the connection window.
    fn give_back(&mut self, bytes: usize) {
        self.unreturned += bytes;
        if self.unreturned >= RETURN_AT {
            let increment = u32::try_from(self.unreturned).unwrap_or(u32::MAX >> 1);
            self.recv_window += i64::from(increment);
            frame::window_update(self.out.buf(), 0, increment);
            self.unreturned = 0;
        }
    }

    /// Sends as much of stream `id`'s outbound data as the windows allow,
    /// and its trailers (or the end of the stream) after the last of it.
    fn pump(&mut self, id: u32) {
        let max_frame = self.peer_max_frame;
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let Some(outbound) = stream.outbound.as_mut() else {
            return;
        };
        while !outbound.data.is_empty() {
            let window = self.send_window.min(stream.send_window);
            let room = usize::try_from(window).unwrap_or(0).min(max_frame);
            if room == 0 {
                return;
            }
            let chunk = outbound.data.split_to(room.min(outbound.data.len()));
            let last = outbound.data.is_empty() && outbound.trailers.is_none();
            let len = chunk.len() as i64;
            self.send_window -= len;
            stream.send_window -= len;
            self.out
                .buf()
                .extend_from_slice(&frame::data_head(chunk.len(), last, id));
            self.out.payload(chunk);
            if last {
                stream.outbound = None;
                return;
            }
        }
        match outbound.trailers.take() {
            Some(trailers) => {
                frame::headers(self.out.buf(), id, &trailers, true, max_frame);
                stream.outbound = None;
                // A server's stream is done once its trailers are out.
                if stream.remote_done {
                    let held = stream.held;
                    self.streams.remove(&id);
                    self.give_back(held);
                }
            }
            None => {
                // An empty body: the stream ends with an empty DATA frame.
                self.out
                    .buf()
                    .extend_from_slice(&frame::data_head(0, true, id));
                stream.outbound = None;
            }
        }
    }

    /// Pumps every stream that has data waiting.
    fn pump_all(&mut self) {
        let waiting: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| s.outbound.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if self.send_window <= 0 {
                break;
            }
            self.pump(id);
        }
    }

    fn refuse(&mut self, id: u32, head: impl FnOnce(&mut hpack::Block<'_>)) {
        let Some(stream) = self.streams.remove(&id) else {
            return;
        };
        let mut block = Vec::with_capacity(64);
        head(&mut self.encoder.block(&mut block));
        let max_frame = self.peer_max_frame;
        frame::headers(self.out.buf(), id, &block, true, max_frame);
        if !stream.remote_done {
            frame::reset(self.out.buf(), id, Reason::NO_ERROR);
        }
        self.give_back(stream.held);
    }

    /// Hands call `id` its whole response (`trailers` is `None` when the
    /// response's headers ended the stream) and removes the stream. A
    /// request still being sent (the peer answered before reading all of
    /// it) is reset, so the peer does not keep the stream waiting for the
    /// rest.
    fn complete(&mut self, id: u32, body: Bytes, trailers: Option<HeaderList>) {
        let Some(stream) = self.streams.remove(&id) else {
            return;
        };
        if stream.outbound.is_some() {
            frame::reset(self.out.buf(), id, Reason::CANCEL);
        }
        self.give_back(stream.held);
        if let Inbound::Call {
            reply: Some(reply),
            head: Some(head),
        } = stream.inbound
        {
            let _ = reply.send(Outcome::Response {
                head,
                body,
                trailers,
            });
        }
    }

    /// Ends stream `id` with a reset, failing a call with `outcome`.
    fn reset(&mut self, id: u32, reason: Reason, outcome: impl FnOnce() -> Outcome) {
        if let Some(stream) = self.streams.remove(&id) {
            frame::reset(self.out.buf(), id, reason);
            self.give_back(stream.held);
            finish(stream, outcome());
        }
    }
}

/// Ends a stream's inbound side: a call gets `outcome`, a request's work
/// is stopped.
fn finish(stream: StreamState, outcome: Outcome) {
    match stream.inbound {
        Inbound::Call { reply, .. } => {
            if let Some(reply) = reply {
                let _ = reply.send(outcome);
            }
        }
        Inbound::Request { abort, .. } => {
            if let Some(abort) = abort {
                abort.abort();
            }
        }
    }
}

impl State {
    /// Applies one of the peer's settings.
    fn setting(&mut self, id: u16, value: u32) -> Result<(), ConnError> {
        match id {
            setting::HEADER_TABLE_SIZE => self.encoder.peer_table_size_changed(),
            setting::ENABLE_PUSH if value > 1 => {
                return Err(ConnError::new(
                    Reason::PROTOCOL_ERROR,
                    format!("ENABLE_PUSH of {value}"),
                ));
            }
            setting::MAX_CONCURRENT_STREAMS => self.peer_max_streams = value,
            setting::INITIAL_WINDOW_SIZE => {
                let value = i64::from(value);
                if value > MAX_WINDOW {
                    return Err(ConnError::new(
                        Reason::FLOW_CONTROL_ERROR,
                        format!("INITIAL_WINDOW_SIZE of {value}"),
                    ));
                }
                let delta = value - self.peer_initial_window;
                self.peer_initial_window = value;
                for stream in self.streams.values_mut() {
                    stream.send_window += delta;
                    if stream.send_window > MAX_WINDOW {
                        return Err(ConnError::new(
                            Reason::FLOW_CONTROL_ERROR,
                            "a stream window passed 2^31-1",
                        ));
                    }
                }
            }
            setting::MAX_FRAME_SIZE => {
                let value = value as usize;
                if !(frame::DEFAULT_MAX_FRAME..=frame::LARGEST_MAX_FRAME).contains(&value) {
                    return Err(ConnError::new(
                        Reason::PROTOCOL_ERROR,
                        format!("MAX_FRAME_SIZE of {value}"),
                    ));
                }
                self.peer_max_frame = value;
            }
            _ => {}
        }
        Ok(())
    }
}
