//! Messages in and out, as gRPC frames them on HTTP/2: a compression flag,
//! a big-endian length and the protobuf bytes. Messages are encoded and
//! decoded by nri-core's method tables; [`Encode`] writes straight from the
//! typed message into the frame, with no intermediate buffer.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tonic::Status;

use crate::protocol::MAX_MESSAGE_SIZE;

/// The length prefix of a gRPC message: a compression flag and a length.
pub(crate) const PREFIX: usize = 5;

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

encode!(
    nri_core::transport::RuntimeRequest,
    nri_core::transport::PluginResponse,
    nri_core::transport::RuntimeResponse
);

impl Encode for nri_core::transport::PluginRequestRef<'_> {
    fn encoded_len(&self) -> usize {
        nri_core::transport::PluginRequestRef::encoded_len(*self)
    }

    fn encode_bytes(&self, out: &mut BytesMut) {
        nri_core::transport::PluginRequestRef::encode_raw(*self, out)
    }
}

/// `message` as one gRPC frame; `RESOURCE_EXHAUSTED` past
/// [`MAX_MESSAGE_SIZE`].
pub(crate) fn frame<T: Encode + ?Sized>(message: &T) -> Result<Bytes, Status> {
    let len = message.encoded_len();
    if len > MAX_MESSAGE_SIZE {
        return Err(Status::resource_exhausted(format!(
            "message of {len} bytes exceeds the limit of {MAX_MESSAGE_SIZE}"
        )));
    }
    let prefix_len =
        u32::try_from(len).map_err(|_| Status::resource_exhausted("message too large"))?;
    let mut out = BytesMut::with_capacity(PREFIX + len);
    out.put_u8(0);
    out.put_u32(prefix_len);
    message.encode_bytes(&mut out);
    Ok(out.freeze())
}

/// The one message of a unary call's body: exactly one uncompressed frame
/// whose length matches what arrived.
pub(crate) fn unframe(mut body: Bytes) -> Result<Bytes, Status> {
    if body.len() < PREFIX {
        return Err(Status::internal("no message"));
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if compressed != 0 {
        return Err(Status::unimplemented(
            "compressed messages are not accepted",
        ));
    }
    if len != body.len() {
        return Err(Status::internal(format!(
            "a frame of {len} bytes in a body of {}",
            body.len()
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use nri_core::transport::RuntimeResponse;

    #[test]
    fn a_frame_reads_back_and_bad_frames_are_refused() {
        let message = RuntimeResponse::RegisterPlugin(Default::default());
        let framed = frame(&message).unwrap();
        assert_eq!(framed.len(), PREFIX + Encode::encoded_len(&message));
        assert_eq!(
            unframe(framed.clone()).unwrap().len(),
            framed.len() - PREFIX
        );

        assert_eq!(
            unframe(Bytes::new()).unwrap_err().code(),
            tonic::Code::Internal
        );
        let compressed = Bytes::from_static(&[1, 0, 0, 0, 0]);
        assert_eq!(
            unframe(compressed).unwrap_err().code(),
            tonic::Code::Unimplemented
        );
        let short = Bytes::from_static(&[0, 0, 0, 0, 9, 1, 2]);
        assert_eq!(unframe(short).unwrap_err().code(), tonic::Code::Internal);
        let empty = Bytes::from_static(&[0, 0, 0, 0, 0]);
        assert!(unframe(empty).unwrap().is_empty());
    }

    proptest::proptest! {
        /// No body, whatever its bytes, panics the reader.
        #[test]
        fn any_body_is_read_or_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = unframe(Bytes::from(bytes));
        }
    }
}
