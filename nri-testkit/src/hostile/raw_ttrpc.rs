//! A plugin that speaks the ttrpc wire protocol by hand, for tests that
//! need to break it: it registers like a real plugin, then sends and reads
//! exactly what the test says.

use std::path::Path;

use nri_core::proto::api::{ConfigureResponse, RegisterPluginRequest, SynchronizeResponse};
use nri_core::proto::defaults::RUNTIME_SERVICE;
use nri_core::proto::event::EventMask;
use nri_transport_ttrpc::frame::{self, ConnId, FrameDecoder};
use nri_transport_ttrpc::message::envelope::{self, Request, Response};
use nri_transport_ttrpc::message::{self, Decoded, MessageDecoder};
use prost::Message as _;
use prost::bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// A hand-driven ttrpc plugin connection.
#[derive(Debug)]
pub struct RawPeer {
    /// The socket, for writing anything at all.
    pub stream: UnixStream,
    buf: BytesMut,
    frames: FrameDecoder,
    conn1: MessageDecoder,
    conn2: MessageDecoder,
}

impl RawPeer {
    /// Connects to the runtime's socket at `socket`.
    pub async fn connect(socket: &Path) -> std::io::Result<Self> {
        Ok(RawPeer {
            stream: UnixStream::connect(socket).await?,
            buf: BytesMut::new(),
            frames: FrameDecoder::new(),
            conn1: MessageDecoder::new(),
            conn2: MessageDecoder::new(),
        })
    }

    /// Sends one ttrpc message on `conn`, framed as Go frames it.
    pub async fn send(&mut self, conn: ConnId, message: &[u8]) -> std::io::Result<()> {
        let (head, tail) = frame::message_chunks(message);
        for chunk in std::iter::once(head).chain(tail) {
            self.stream
                .write_all(&frame::encode_header(conn, chunk.len()))
                .await?;
            self.stream.write_all(chunk).await?;
        }
        Ok(())
    }

    /// The next whole ttrpc message, or `None` once the runtime closed (or
    /// sent what cannot be framed).
    pub async fn next(&mut self) -> Option<(ConnId, message::Message)> {
        loop {
            for (conn, decoder) in [
                (ConnId::PLUGIN_SERVICE, &mut self.conn1),
                (ConnId::RUNTIME_SERVICE, &mut self.conn2),
            ] {
                if let Some(Decoded::Message(message)) = decoder.next_message() {
                    return Some((conn, message));
                }
            }
            match self.frames.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    match frame.conn {
                        ConnId::PLUGIN_SERVICE => self.conn1.push(frame.payload),
                        ConnId::RUNTIME_SERVICE => self.conn2.push(frame.payload),
                        _ => {}
                    }
                    continue;
                }
                Ok(None) => {}
                Err(_) => return None,
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Registers as `NN-name` subscribed to `events`, answering Configure
    /// and Synchronize; panics if the runtime refuses.
    pub async fn register(&mut self, index: &str, name: &str, events: EventMask) {
        let request = RegisterPluginRequest {
            plugin_name: name.into(),
            plugin_idx: index.into(),
            nri_version: "v0.12.2".into(),
        };
        let message = envelope::encode_request(
            1,
            RUNTIME_SERVICE,
            "RegisterPlugin",
            &request.encode_to_vec()[..],
            5_000_000_000,
        )
        .unwrap_or_else(|error| panic!("cannot encode RegisterPlugin: {error}"));
        self.send(ConnId::RUNTIME_SERVICE, &message)
            .await
            .unwrap_or_else(|error| panic!("cannot send RegisterPlugin: {error}"));
        let (mut registered, mut synchronized) = (false, false);
        while !(registered && synchronized) {
            let Some((conn, message)) = self.next().await else {
                panic!("the runtime closed the connection during registration");
            };
            if conn == ConnId::RUNTIME_SERVICE {
                let response = Response::decode(message.data)
                    .unwrap_or_else(|error| panic!("undecodable registration answer: {error}"));
                assert!(
                    response.status.is_none(),
                    "registration refused: {response:?}"
                );
                registered = true;
                continue;
            }
            let request = Request::decode(message.data)
                .unwrap_or_else(|error| panic!("undecodable request: {error}"));
            let (_, method) = request
                .names()
                .unwrap_or_else(|error| panic!("undecodable request: {error}"));
            let reply = match method {
                "Configure" => ConfigureResponse {
                    events: events.bits(),
                }
                .encode_to_vec(),
                "Synchronize" => {
                    synchronized = true;
                    SynchronizeResponse::default().encode_to_vec()
                }
                other => panic!("unexpected {other} during registration"),
            };
            let reply = envelope::encode_reply(message.header.stream_id, &reply[..])
                .unwrap_or_else(|error| panic!("cannot encode a reply: {error}"));
            self.send(ConnId::PLUGIN_SERVICE, &reply)
                .await
                .unwrap_or_else(|error| panic!("cannot answer {method}: {error}"));
        }
    }

    /// Waits until the runtime closes the connection.
    pub async fn until_closed(&mut self) {
        while self.next().await.is_some() {}
    }
}
