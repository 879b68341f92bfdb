//! Loading and parsing the wire recordings of `shared/interop/`.
//!
//! Everything here is written from the wire format (containerd/nri
//! `pkg/net/multiplex/mux.go`, containerd/ttrpc `PROTOCOL.md`) and deliberately does not use the
//! crate under test: mux headers, ttrpc headers and the ttrpc envelopes are
//! read by hand, so that the tests compare our transport against an
//! independent reading of the Go bytes.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::PathBuf;

/// Where the recordings live: `<repository root>/../shared/interop`.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/interop");

/// The recorded sessions (see the README next to them).
pub const SESSIONS: [&str; 2] = ["session1", "session2"];

/// Length of a mux frame header.
pub const MUX_HEADER: usize = 8;
/// Length of a ttrpc message header.
pub const TTRPC_HEADER: usize = 10;
/// ttrpc message type of a request.
pub const TYPE_REQUEST: u8 = 1;
/// ttrpc message type of a response.
pub const TYPE_RESPONSE: u8 = 2;

/// A direction of the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Bytes the plugin wrote.
    PluginToRuntime,
    /// Bytes the runtime wrote.
    RuntimeToPlugin,
}

impl Direction {
    /// Both directions.
    pub const BOTH: [Direction; 2] = [Direction::PluginToRuntime, Direction::RuntimeToPlugin];

    /// The short name used in `NAME.chunks.tsv`.
    pub fn tag(self) -> &'static str {
        match self {
            Direction::PluginToRuntime => "p2r",
            Direction::RuntimeToPlugin => "r2p",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Direction::PluginToRuntime => "plugin-to-runtime",
            Direction::RuntimeToPlugin => "runtime-to-plugin",
        }
    }

    /// The name used in the timeline tables of `NAME.md`.
    fn arrow(self) -> &'static str {
        match self {
            Direction::PluginToRuntime => "plugin→runtime",
            Direction::RuntimeToPlugin => "runtime→plugin",
        }
    }
}

/// One `read()` of the recording proxy.
#[derive(Debug, Clone)]
pub struct Read {
    /// Nanoseconds since the connection was accepted.
    pub t_ns: u64,
    /// Which direction was read.
    pub direction: Direction,
    /// The bytes read, as offsets into that direction's file.
    pub range: Range<usize>,
}

/// A mux frame of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxFrame {
    /// Offset of its header in the direction's file.
    pub offset: usize,
    /// The virtual connection.
    pub conn: u32,
    /// Its payload, as offsets into the direction's file.
    pub payload: Range<usize>,
}

impl MuxFrame {
    /// Header and payload, as offsets into the direction's file.
    pub fn wire(&self) -> Range<usize> {
        self.offset..self.payload.end
    }
}

/// A ttrpc message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtrpcHeader {
    /// Body length.
    pub length: u32,
    /// Stream id.
    pub stream_id: u32,
    /// Message type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
}

impl TtrpcHeader {
    /// Reads the header at the start of `bytes` (at least 10 bytes).
    pub fn parse(bytes: &[u8]) -> Self {
        TtrpcHeader {
            length: be32(&bytes[0..4]),
            stream_id: be32(&bytes[4..8]),
            kind: bytes[8],
            flags: bytes[9],
        }
    }
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// One ttrpc message of a recording, with the mux frames that carried it.
#[derive(Debug, Clone)]
pub struct WireMessage {
    /// Who sent it.
    pub direction: Direction,
    /// The virtual connection it was sent on.
    pub conn: u32,
    /// Offset of its ttrpc header in the direction's file.
    pub header_offset: usize,
    /// Its ttrpc header.
    pub header: TtrpcHeader,
    /// The ttrpc message: header and body.
    pub bytes: Vec<u8>,
    /// The frames that carried bytes of it.
    pub frames: Vec<MuxFrame>,
    /// Those frames as they crossed the socket (mux headers included).
    pub wire: Vec<u8>,
    /// Time of the proxy read that completed the message.
    pub t_ns: u64,
    /// Service of the call this message belongs to (for a response, the
    /// service its request named).
    pub service: String,
    /// Bare method name of the call this message belongs to.
    pub method: String,
}

impl WireMessage {
    /// The ttrpc body (the protobuf envelope).
    pub fn body(&self) -> &[u8] {
        &self.bytes[TTRPC_HEADER..]
    }

    /// The frame layout: connection and payload length of each frame.
    pub fn layout(&self) -> Vec<(u32, usize)> {
        self.frames
            .iter()
            .map(|frame| (frame.conn, frame.payload.len()))
            .collect()
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        self.header.kind == TYPE_REQUEST
    }

    /// The envelope of a request.
    pub fn request(&self) -> Request {
        Request::parse(self.body()).unwrap_or_else(|error| panic!("{self}: {error}"))
    }

    /// The envelope of a response.
    pub fn response(&self) -> Response {
        Response::parse(self.body()).unwrap_or_else(|error| panic!("{self}: {error}"))
    }

    /// The NRI message inside the envelope.
    pub fn nri_payload(&self) -> Vec<u8> {
        if self.is_request() {
            self.request().payload
        } else {
            self.response().payload
        }
    }
}

impl std::fmt::Display for WireMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_request() {
            "request"
        } else {
            "response"
        };
        write!(
            f,
            "{} {kind} {}/{} (conn {}, stream {}, ttrpc header at {} offset {:#08x})",
            self.direction.tag(),
            self.service.rsplit('.').next().unwrap_or(&self.service),
            self.method,
            self.conn,
            self.header.stream_id,
            self.direction.tag(),
            self.header_offset,
        )
    }
}

/// A recorded session.
#[derive(Debug)]
pub struct Recording {
    /// `session1`, `session2`.
    pub name: String,
    /// The plugin's bytes.
    pub p2r: Vec<u8>,
    /// The runtime's bytes.
    pub r2p: Vec<u8>,
    /// The proxy's reads, in time order.
    pub reads: Vec<Read>,
    /// The plugin's frames.
    pub p2r_frames: Vec<MuxFrame>,
    /// The runtime's frames.
    pub r2p_frames: Vec<MuxFrame>,
    /// Every ttrpc message of both directions, in the order they crossed
    /// the socket.
    pub messages: Vec<WireMessage>,
    /// The `NAME.md` transcript.
    pub transcript: String,
}

fn read_file(name: &str) -> Vec<u8> {
    let path = PathBuf::from(DIR).join(name);
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read the recording {}: {error} (the recordings are expected in \
             <repository root>/../shared/interop)",
            path.display()
        )
    })
}

impl Recording {
    /// Loads and parses a session.
    pub fn load(name: &str) -> Recording {
        let p2r = read_file(&format!("{name}.{}.bin", Direction::PluginToRuntime.file()));
        let r2p = read_file(&format!("{name}.{}.bin", Direction::RuntimeToPlugin.file()));
        let tsv = String::from_utf8(read_file(&format!("{name}.chunks.tsv")))
            .expect("chunks.tsv is UTF-8");
        let transcript =
            String::from_utf8(read_file(&format!("{name}.md"))).expect("the transcript is UTF-8");
        let reads = parse_reads(name, &tsv);
        for direction in Direction::BOTH {
            let len = match direction {
                Direction::PluginToRuntime => p2r.len(),
                Direction::RuntimeToPlugin => r2p.len(),
            };
            let mut next = 0;
            for read in reads.iter().filter(|read| read.direction == direction) {
                assert_eq!(
                    read.range.start,
                    next,
                    "{name}: the {} reads do not cover the file contiguously",
                    direction.tag()
                );
                next = read.range.end;
            }
            assert_eq!(next, len, "{name}: the {} reads end early", direction.tag());
        }
        let p2r_frames = parse_frames(name, Direction::PluginToRuntime, &p2r);
        let r2p_frames = parse_frames(name, Direction::RuntimeToPlugin, &r2p);
        let mut messages = Vec::new();
        for (direction, bytes, frames) in [
            (Direction::PluginToRuntime, &p2r, &p2r_frames),
            (Direction::RuntimeToPlugin, &r2p, &r2p_frames),
        ] {
            messages.extend(parse_messages(name, direction, bytes, frames, &reads));
        }
        // The order in which the messages crossed the socket. Ties cannot
        // happen (one read carries one direction), and within a direction
        // the sort is stable.
        messages.sort_by_key(|message| message.t_ns);
        resolve_calls(name, &mut messages);
        Recording {
            name: name.to_string(),
            p2r,
            r2p,
            reads,
            p2r_frames,
            r2p_frames,
            messages,
            transcript,
        }
    }

    /// A direction's bytes.
    pub fn bytes(&self, direction: Direction) -> &[u8] {
        match direction {
            Direction::PluginToRuntime => &self.p2r,
            Direction::RuntimeToPlugin => &self.r2p,
        }
    }

    /// A direction's frames.
    pub fn frames(&self, direction: Direction) -> &[MuxFrame] {
        match direction {
            Direction::PluginToRuntime => &self.p2r_frames,
            Direction::RuntimeToPlugin => &self.r2p_frames,
        }
    }

    /// The reply to `request`: the message of the other direction with the
    /// same connection and stream id.
    pub fn reply_to(&self, request: &WireMessage) -> &WireMessage {
        self.messages
            .iter()
            .find(|message| {
                !message.is_request()
                    && message.direction != request.direction
                    && message.conn == request.conn
                    && message.header.stream_id == request.header.stream_id
            })
            .unwrap_or_else(|| panic!("{}: no reply recorded for {request}", self.name))
    }

    /// The rows of the timeline table of `NAME.md`:
    /// `(direction, conn, header offset, stream, type, flags, length,
    /// Service/Method, inner payload length)`.
    pub fn transcript_timeline(&self) -> Vec<TimelineRow> {
        let start = self
            .transcript
            .find("## Timeline of ttrpc messages")
            .unwrap_or_else(|| panic!("{}.md has no timeline", self.name));
        let section = &self.transcript[start..];
        let end = section[3..]
            .find("\n## ")
            .map_or(section.len(), |end| end + 3);
        section[..end]
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                // | # | t | direction | conn | hdr | stream | type | flags | len | method | payload |
                if cells.len() != 13 || cells[1].parse::<u32>().is_err() {
                    return None;
                }
                let direction = Direction::BOTH
                    .into_iter()
                    .find(|direction| direction.arrow() == cells[3])
                    .unwrap_or_else(|| panic!("unknown direction {:?}", cells[3]));
                Some(TimelineRow {
                    direction,
                    conn: cells[4].parse().expect("conn"),
                    header_offset: usize::from_str_radix(cells[5].trim_start_matches("0x"), 16)
                        .expect("header offset"),
                    stream_id: cells[6].parse().expect("stream"),
                    kind: match cells[7] {
                        "request" => TYPE_REQUEST,
                        "response" => TYPE_RESPONSE,
                        other => panic!("unknown type {other:?}"),
                    },
                    flags: u8::from_str_radix(cells[8].trim_start_matches("0x"), 16)
                        .expect("flags"),
                    length: cells[9].parse().expect("length"),
                    call: cells[10].to_string(),
                    payload_len: cells[11].parse().expect("payload length"),
                })
            })
            .collect()
    }
}

/// A row of the timeline table of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    pub direction: Direction,
    pub conn: u32,
    pub header_offset: usize,
    pub stream_id: u32,
    pub kind: u8,
    pub flags: u8,
    pub length: u32,
    /// `Service/Method` with the short service name.
    pub call: String,
    pub payload_len: usize,
}

impl TimelineRow {
    /// The row our parser gives for `message`.
    pub fn of(message: &WireMessage) -> TimelineRow {
        TimelineRow {
            direction: message.direction,
            conn: message.conn,
            header_offset: message.header_offset,
            stream_id: message.header.stream_id,
            kind: message.header.kind,
            flags: message.header.flags,
            length: message.header.length,
            call: format!(
                "{}/{}",
                message.service.rsplit('.').next().unwrap_or_default(),
                message.method
            ),
            payload_len: message.nri_payload().len(),
        }
    }
}

fn parse_reads(name: &str, tsv: &str) -> Vec<Read> {
    let reads: Vec<Read> = tsv
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            assert_eq!(cells.len(), 4, "{name}.chunks.tsv: bad line {line:?}");
            let direction = Direction::BOTH
                .into_iter()
                .find(|direction| direction.tag() == cells[1])
                .unwrap_or_else(|| panic!("{name}.chunks.tsv: bad direction in {line:?}"));
            let number = |cell: &str| -> u64 {
                cell.parse()
                    .unwrap_or_else(|_| panic!("{name}.chunks.tsv: bad number in {line:?}"))
            };
            let offset = number(cells[2]) as usize;
            Read {
                t_ns: number(cells[0]),
                direction,
                range: offset..offset + number(cells[3]) as usize,
            }
        })
        .collect();
    assert!(
        reads.windows(2).all(|pair| pair[0].t_ns <= pair[1].t_ns),
        "{name}.chunks.tsv is not in time order"
    );
    reads
}

/// Cuts a direction's bytes into mux frames.
fn parse_frames(name: &str, direction: Direction, bytes: &[u8]) -> Vec<MuxFrame> {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        assert!(
            bytes.len() - offset >= MUX_HEADER,
            "{name} {}: truncated mux header at {offset:#x}",
            direction.tag()
        );
        let conn = be32(&bytes[offset..]);
        let len = be32(&bytes[offset + 4..]) as usize;
        let start = offset + MUX_HEADER;
        assert!(
            bytes.len() - start >= len,
            "{name} {}: the frame at {offset:#x} announces {len} bytes, the file ends first",
            direction.tag()
        );
        frames.push(MuxFrame {
            offset,
            conn,
            payload: start..start + len,
        });
        offset = start + len;
    }
    frames
}

/// Reassembles the ttrpc messages of each connection of one direction.
fn parse_messages(
    name: &str,
    direction: Direction,
    bytes: &[u8],
    frames: &[MuxFrame],
    reads: &[Read],
) -> Vec<WireMessage> {
    struct Partial {
        bytes: Vec<u8>,
        header_offset: usize,
        frames: Vec<MuxFrame>,
    }
    let mut partial: Vec<(u32, Partial)> = Vec::new();
    let mut messages = Vec::new();
    for frame in frames {
        let mut position = frame.payload.start;
        while position < frame.payload.end {
            let index = match partial.iter().position(|(conn, _)| *conn == frame.conn) {
                Some(index) => index,
                None => {
                    partial.push((
                        frame.conn,
                        Partial {
                            bytes: Vec::new(),
                            header_offset: position,
                            frames: Vec::new(),
                        },
                    ));
                    partial.len() - 1
                }
            };
            let current = &mut partial[index].1;
            if current.frames.last() != Some(frame) {
                current.frames.push(frame.clone());
            }
            // Take the header first, then exactly the body.
            let wanted = if current.bytes.len() < TTRPC_HEADER {
                TTRPC_HEADER - current.bytes.len()
            } else {
                TTRPC_HEADER + TtrpcHeader::parse(&current.bytes).length as usize
                    - current.bytes.len()
            };
            let take = wanted.min(frame.payload.end - position);
            current
                .bytes
                .extend_from_slice(&bytes[position..position + take]);
            position += take;
            let complete = current.bytes.len() >= TTRPC_HEADER
                && current.bytes.len()
                    == TTRPC_HEADER + TtrpcHeader::parse(&current.bytes).length as usize;
            if complete {
                let (conn, done) = partial.remove(index);
                let end = position;
                let read = reads
                    .iter()
                    .find(|read| read.direction == direction && read.range.contains(&(end - 1)))
                    .unwrap_or_else(|| {
                        panic!(
                            "{name} {}: no read holds offset {:#x}",
                            direction.tag(),
                            end - 1
                        )
                    });
                let mut wire = Vec::new();
                for frame in &done.frames {
                    wire.extend_from_slice(&bytes[frame.wire()]);
                }
                messages.push(WireMessage {
                    direction,
                    conn,
                    header_offset: done.header_offset,
                    header: TtrpcHeader::parse(&done.bytes),
                    bytes: done.bytes,
                    frames: done.frames,
                    wire,
                    t_ns: read.t_ns,
                    service: String::new(),
                    method: String::new(),
                });
            }
        }
    }
    assert!(
        partial.is_empty(),
        "{name} {}: the recording ends inside a ttrpc message",
        direction.tag()
    );
    messages
}

/// Names every message with the service and method of its call.
fn resolve_calls(name: &str, messages: &mut [WireMessage]) {
    for message in messages.iter_mut().filter(|message| message.is_request()) {
        let request = message.request();
        message.service = request.service;
        message.method = request.method;
    }
    for index in 0..messages.len() {
        if messages[index].is_request() {
            continue;
        }
        let response = &messages[index];
        let request = messages[..index]
            .iter()
            .rev()
            .find(|request| {
                request.is_request()
                    && request.direction != response.direction
                    && request.conn == response.conn
                    && request.header.stream_id == response.header.stream_id
            })
            .unwrap_or_else(|| panic!("{name}: {response} answers no earlier request"));
        let (service, method) = (request.service.clone(), request.method.clone());
        messages[index].service = service;
        messages[index].method = method;
    }
}

/// A protobuf field, as a hand-written reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Field number.
    pub number: u32,
    /// Wire type.
    pub wire_type: u8,
    /// The whole field (key included), as offsets into the message.
    pub span: Range<usize>,
    /// The value's bytes (after the key, and after the length of a
    /// length-delimited field), as offsets into the message.
    pub value: Range<usize>,
}

fn varint(bytes: &[u8], position: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes
            .get(*position)
            .ok_or_else(|| format!("truncated varint at offset {}", *position))?;
        *position += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(format!("varint longer than 10 bytes before {}", *position))
}

/// The top-level fields of a protobuf message, in wire order.
pub fn fields(bytes: &[u8]) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    let mut position = 0;
    while position < bytes.len() {
        let start = position;
        let key = varint(bytes, &mut position)?;
        let number =
            u32::try_from(key >> 3).map_err(|_| format!("field number too large at {start}"))?;
        let wire_type = (key & 7) as u8;
        let value_start;
        match wire_type {
            0 => {
                value_start = position;
                varint(bytes, &mut position)?;
            }
            1 => {
                value_start = position;
                position += 8;
            }
            2 => {
                let len = varint(bytes, &mut position)? as usize;
                value_start = position;
                position += len;
            }
            5 => {
                value_start = position;
                position += 4;
            }
            other => return Err(format!("unsupported wire type {other} at offset {start}")),
        }
        if position > bytes.len() {
            return Err(format!(
                "field {number} at offset {start} runs past the end ({} bytes)",
                bytes.len()
            ));
        }
        out.push(Field {
            number,
            wire_type,
            span: start..position,
            value: value_start..position,
        });
    }
    Ok(out)
}

/// A varint field's value.
pub fn varint_value(bytes: &[u8], field: &Field) -> u64 {
    let mut position = field.value.start;
    varint(bytes, &mut position).expect("a parsed varint field")
}

/// Compares two protobuf messages without a schema: byte for byte, except
/// that a run of consecutive fields with the same number may come in
/// another order if all its fields look like map entries (a message of key
/// field 1 and value field 2). That is how the entries of a map field
/// differ: Go marshals a map in its (random) iteration order, prost in key
/// order. Length-delimited values that differ are compared recursively as
/// messages, so maps inside repeated messages are covered too. Says where
/// the first difference is. A permuted repeated field of key/value messages
/// would pass this check; callers also compare the decoded messages, where
/// the order of repeated fields matters.
pub fn same_but_entry_order(ours: &[u8], recorded: &[u8]) -> Result<(), String> {
    equivalent(ours, recorded, "payload", 0)
}

fn equivalent(ours: &[u8], recorded: &[u8], path: &str, depth: usize) -> Result<(), String> {
    if ours == recorded {
        return Ok(());
    }
    let (Ok(our_fields), Ok(their_fields)) = (fields(ours), fields(recorded)) else {
        return Err(format!("{path}: the bytes differ"));
    };
    if depth > 64 {
        return Err(format!("{path}: nested too deeply"));
    }
    let our_runs = runs(&our_fields);
    let their_runs = runs(&their_fields);
    let shape = |runs: &[(u32, Vec<&Field>)]| -> Vec<(u32, usize)> {
        runs.iter()
            .map(|(number, run)| (*number, run.len()))
            .collect()
    };
    if shape(&our_runs) != shape(&their_runs) {
        return Err(format!(
            "{path}: fields (number, count) {:?} vs recorded {:?}",
            shape(&our_runs),
            shape(&their_runs)
        ));
    }
    for ((number, ours_run), (_, theirs_run)) in our_runs.iter().zip(&their_runs) {
        let field_path = |index: usize| format!("{path}.{number}[{index}]");
        let in_order =
            ours_run
                .iter()
                .zip(theirs_run)
                .enumerate()
                .try_for_each(|(index, (a, b))| {
                    same_field(ours, a, recorded, b, &field_path(index), depth)
                });
        let Err(in_order) = in_order else { continue };
        let map_entries = |bytes: &[u8], run: &[&Field]| {
            run.iter().all(|field| {
                field.wire_type == 2
                    && fields(&bytes[field.value.clone()]).is_ok_and(|entry| {
                        let numbers: Vec<u32> = entry.iter().map(|f| f.number).collect();
                        matches!(numbers[..], [1] | [2] | [1, 2])
                    })
            })
        };
        if ours_run.len() < 2 || !map_entries(ours, ours_run) || !map_entries(recorded, theirs_run)
        {
            return Err(in_order);
        }
        let mut used = vec![false; theirs_run.len()];
        for (index, a) in ours_run.iter().enumerate() {
            let matching = (0..theirs_run.len()).find(|&j| {
                !used[j] && same_field(ours, a, recorded, theirs_run[j], "", depth).is_ok()
            });
            match matching {
                Some(j) => used[j] = true,
                None => {
                    return Err(format!(
                        "{}: no equal entry among the {} recorded ones, in any order \
                         (compared in order: {in_order})",
                        field_path(index),
                        theirs_run.len()
                    ));
                }
            }
        }
    }
    Ok(())
}

fn same_field(
    ours: &[u8],
    a: &Field,
    recorded: &[u8],
    b: &Field,
    path: &str,
    depth: usize,
) -> Result<(), String> {
    if a.wire_type != b.wire_type {
        return Err(format!(
            "{path}: wire type {} vs recorded {}",
            a.wire_type, b.wire_type
        ));
    }
    if a.wire_type == 2 {
        equivalent(
            &ours[a.value.clone()],
            &recorded[b.value.clone()],
            path,
            depth + 1,
        )
    } else if ours[a.span.clone()] == recorded[b.span.clone()] {
        Ok(())
    } else {
        Err(format!("{path}: the value differs"))
    }
}

/// Groups consecutive fields with the same number.
fn runs(fields: &[Field]) -> Vec<(u32, Vec<&Field>)> {
    let mut out: Vec<(u32, Vec<&Field>)> = Vec::new();
    for field in fields {
        match out.last_mut() {
            Some((number, run)) if *number == field.number => run.push(field),
            _ => out.push((field.number, vec![field])),
        }
    }
    out
}

/// A `ttrpc.Request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub service: String,
    pub method: String,
    pub payload: Vec<u8>,
    pub timeout_nano: i64,
    pub metadata: usize,
}

impl Request {
    /// Reads a request envelope.
    pub fn parse(body: &[u8]) -> Result<Request, String> {
        let mut request = Request {
            service: String::new(),
            method: String::new(),
            payload: Vec::new(),
            timeout_nano: 0,
            metadata: 0,
        };
        for field in fields(body)? {
            let value = &body[field.value.clone()];
            let text = || String::from_utf8(value.to_vec()).map_err(|error| error.to_string());
            match (field.number, field.wire_type) {
                (1, 2) => request.service = text()?,
                (2, 2) => request.method = text()?,
                (3, 2) => request.payload = value.to_vec(),
                (4, 0) => request.timeout_nano = varint_value(body, &field) as i64,
                (5, 2) => request.metadata += 1,
                (number, wire_type) => {
                    return Err(format!(
                        "unexpected field {number} (wire type {wire_type}) in a ttrpc.Request"
                    ));
                }
            }
        }
        Ok(request)
    }
}

/// A `ttrpc.Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The raw `google.rpc.Status`, if present.
    pub status: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

impl Response {
    /// Reads a response envelope.
    pub fn parse(body: &[u8]) -> Result<Response, String> {
        let mut response = Response {
            status: None,
            payload: Vec::new(),
        };
        for field in fields(body)? {
            let value = body[field.value.clone()].to_vec();
            match (field.number, field.wire_type) {
                (1, 2) => response.status = Some(value),
                (2, 2) => response.payload = value,
                (number, wire_type) => {
                    return Err(format!(
                        "unexpected field {number} (wire type {wire_type}) in a ttrpc.Response"
                    ));
                }
            }
        }
        Ok(response)
    }
}

/// Where two byte strings first differ, if they do (a length difference
/// counts as a difference at the end of the shorter one).
pub fn first_difference(ours: &[u8], recorded: &[u8]) -> Option<usize> {
    ours.iter()
        .zip(recorded)
        .position(|(a, b)| a != b)
        .or_else(|| (ours.len() != recorded.len()).then(|| ours.len().min(recorded.len())))
}

fn hex_window(bytes: &[u8], at: usize) -> String {
    let start = at.saturating_sub(8);
    let end = (at + 16).min(bytes.len());
    let mut out = String::new();
    for (index, byte) in bytes[start..end].iter().enumerate() {
        if start + index == at {
            out.push('[');
        }
        let _ = write!(out, "{byte:02x}");
        if start + index == at {
            out.push(']');
        }
        out.push(' ');
    }
    if at >= bytes.len() {
        out.push_str("<end>");
    }
    format!("{:#06x}: {}", start, out.trim_end())
}

/// Panics with the first differing byte and some context around it unless
/// `ours` and `recorded` are identical.
pub fn assert_bytes_eq(what: &str, ours: &[u8], recorded: &[u8]) {
    if let Some(at) = first_difference(ours, recorded) {
        panic!(
            "{what}: bytes differ first at offset {at} ({at:#x}): ours {} vs recorded {} \
             (lengths: ours {}, recorded {})\n  ours:     {}\n  recorded: {}",
            ours.get(at)
                .map_or_else(|| "<end>".to_string(), |b| format!("{b:#04x}")),
            recorded
                .get(at)
                .map_or_else(|| "<end>".to_string(), |b| format!("{b:#04x}")),
            ours.len(),
            recorded.len(),
            hex_window(ours, at),
            hex_window(recorded, at),
        );
    }
}
