//! The codec of the generated gRPC services and clients (feature `grpc`):
//! prost encodes, and the single-pass decoders of [`crate::decode`] decode,
//! as on every other path of nri-rs, so a gRPC peer's bytes meet the same
//! bounded, fuzzed decoder as a ttrpc peer's.

use std::marker::PhantomData;

use prost::bytes::Buf;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::decode::Decode;

/// A [`Codec`] encoding `E` with prost and decoding `D` with
/// [`crate::decode::decode`]. An undecodable message is `INTERNAL`, as with
/// tonic-prost's codec.
#[derive(Debug)]
pub struct NriCodec<E, D>(PhantomData<fn(E) -> D>);

impl<E, D> Default for NriCodec<E, D> {
    fn default() -> Self {
        NriCodec(PhantomData)
    }
}

impl<E, D> Codec for NriCodec<E, D>
where
    E: prost::Message + Send + 'static,
    D: Decode + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = NriEncoder<E>;
    type Decoder = NriDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        NriEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        NriDecoder(PhantomData)
    }
}

/// Encodes `E` with prost.
#[derive(Debug)]
pub struct NriEncoder<E>(PhantomData<fn(E)>);

impl<E: prost::Message> Encoder for NriEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|error| Status::internal(error.to_string()))
    }
}

/// Decodes `D` with the single-pass decoder.
#[derive(Debug)]
pub struct NriDecoder<D>(PhantomData<fn() -> D>);

impl<D: Decode> Decoder for NriDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        let len = buf.remaining();
        let decoded = if buf.chunk().len() == len {
            let decoded = crate::decode::decode(buf.chunk());
            buf.advance(len);
            decoded
        } else {
            crate::decode::decode(&buf.copy_to_bytes(len))
        };
        decoded
            .map(Some)
            .map_err(|error| Status::internal(format!("cannot decode the message: {error}")))
    }
}
