//! Messages in and out: they are encoded and decoded by nri-core's method
//! tables, so tonic (the server side) only moves bytes. [`Outgoing`] and
//! [`Request`] encode straight from the typed message, with no
//! intermediate buffer.

use bytes::{Buf, Bytes, BytesMut};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// A reply a server sends, encoded into tonic's buffer.
pub(crate) trait Outgoing: Send + Sync + 'static {
    /// Encodes into `out`.
    fn encode_into(&self, out: &mut EncodeBuf<'_>) -> Result<(), prost::EncodeError>;
}

/// A request a client sends, encoded into the request's body.
pub(crate) trait Request {
    /// Appends the encoding to `out`.
    fn encode_bytes(&self, out: &mut BytesMut) -> Result<(), prost::EncodeError>;
}

macro_rules! outgoing {
    ($($ty:ty),*) => {$(
        impl Outgoing for $ty {
            fn encode_into(&self, out: &mut EncodeBuf<'_>) -> Result<(), prost::EncodeError> {
                out.reserve(self.encoded_len());
                self.encode(out)
            }
        }
    )*};
}

outgoing!(
    nri_core::transport::PluginResponse,
    nri_core::transport::RuntimeResponse
);

macro_rules! request {
    ($($ty:ty),*) => {$(
        impl Request for $ty {
            fn encode_bytes(&self, out: &mut BytesMut) -> Result<(), prost::EncodeError> {
                out.reserve(self.encoded_len());
                self.encode(out)
            }
        }
    )*};
}

request!(
    nri_core::transport::PluginRequestRef<'_>,
    nri_core::transport::RuntimeRequest
);

/// Sends an [`Outgoing`] message, receives raw bytes.
#[derive(Debug)]
pub(crate) struct RawCodec<T>(std::marker::PhantomData<fn(T)>);

impl<T> Default for RawCodec<T> {
    fn default() -> Self {
        RawCodec(std::marker::PhantomData)
    }
}

impl<T: Outgoing> Codec for RawCodec<T> {
    type Encode = T;
    type Decode = Bytes;
    type Encoder = RawEncoder<T>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder(std::marker::PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

/// Encodes an [`Outgoing`] message.
#[derive(Debug)]
pub(crate) struct RawEncoder<T>(std::marker::PhantomData<fn(T)>);

impl<T: Outgoing> Encoder for RawEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode_into(dst)
            .map_err(|error| Status::internal(format!("cannot encode: {error}")))
    }
}

/// Takes a message's bytes as they are.
#[derive(Debug)]
pub(crate) struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let remaining = src.remaining();
        Ok(Some(src.copy_to_bytes(remaining)))
    }
}
