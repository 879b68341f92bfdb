//! The bytes codec: messages are encoded and decoded by nri-core's method
//! tables, so tonic only moves bytes. Encoding straight from the typed
//! message (no intermediate buffer) is what [`Outgoing`] is for.

use bytes::{Buf, BufMut, Bytes};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// A message to send, encoded when tonic asks for it.
pub(crate) trait Outgoing: Send + Sync + 'static {
    /// Encodes into `out`.
    fn encode_into(&self, out: &mut EncodeBuf<'_>) -> Result<(), prost::EncodeError>;
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
    nri_core::transport::PluginRequest,
    nri_core::transport::PluginResponse,
    nri_core::transport::RuntimeRequest,
    nri_core::transport::RuntimeResponse
);

/// A message encoded already.
impl Outgoing for Bytes {
    fn encode_into(&self, out: &mut EncodeBuf<'_>) -> Result<(), prost::EncodeError> {
        out.put_slice(self);
        Ok(())
    }
}

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
