//! Messages as the tonic clients here carry them: encoded by nri-core's
//! method tables before the call (nri-core hands a transport a borrowed
//! request, so no copy of a pod or container is made per plugin), and
//! decoded by them after it, with the same single-pass decoder as on
//! ttrpc. [`RawCodec`] moves the bytes in and out of tonic's framing.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::protocol::MAX_MESSAGE_SIZE;

/// A message either side sends.
pub(crate) trait Encode {
    /// Its encoded length.
    fn encoded_len(&self) -> usize;

    /// Appends the encoding to `out`.
    fn encode_bytes(&self, out: &mut BytesMut);
}

// The messages' own (inherent) encoders, which paths prefer over this
// trait's methods.
macro_rules! encode {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encoded_len(&self) -> usize {
                <$ty>::encoded_len(self)
            }

            fn encode_bytes(&self, out: &mut BytesMut) {
                <$ty>::encode_raw(self, out)
            }
        }
    )*};
}

encode!(nri_core::transport::RuntimeRequest);

impl Encode for nri_core::transport::PluginRequestRef<'_> {
    fn encoded_len(&self) -> usize {
        nri_core::transport::PluginRequestRef::encoded_len(*self)
    }

    fn encode_bytes(&self, out: &mut BytesMut) {
        nri_core::transport::PluginRequestRef::encode_raw(*self, out)
    }
}

/// `message` encoded; refused past [`MAX_MESSAGE_SIZE`].
pub(crate) fn encode<T: Encode + ?Sized>(message: &T) -> Result<Bytes, String> {
    let len = message.encoded_len();
    if len > MAX_MESSAGE_SIZE {
        return Err(format!(
            "message of {len} bytes exceeds the limit of {MAX_MESSAGE_SIZE}"
        ));
    }
    let mut out = BytesMut::with_capacity(len);
    message.encode_bytes(&mut out);
    Ok(out.freeze())
}

/// Encoded bytes in, the reply's bytes out.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = buf.remaining();
        Ok(Some(buf.copy_to_bytes(len)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use nri_core::transport::RuntimeRequest;

    #[test]
    fn a_message_within_the_limit_encodes_and_a_larger_one_is_refused() {
        let mut register = nri_core::proto::api::RegisterPluginRequest {
            plugin_name: "echo".into(),
            ..Default::default()
        };
        let request = RuntimeRequest::RegisterPlugin(register.clone());
        let bytes = encode(&request).unwrap();
        assert_eq!(
            RuntimeRequest::decode("RegisterPlugin", bytes).unwrap(),
            request
        );

        register.plugin_name = "x".repeat(MAX_MESSAGE_SIZE);
        let error = encode(&RuntimeRequest::RegisterPlugin(register)).unwrap_err();
        assert!(error.contains("exceeds the limit"), "{error}");
    }
}
