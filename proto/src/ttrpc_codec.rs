//! Bridges our prost 0.14 messages to ttrpc's `Codec` trait.
//!
//! ttrpc 0.10 implements `Codec` only for its own protobuf backends, so the
//! generated ttrpc bindings invoke [`ttrpc_codec!`] once with every message
//! type an RPC sends or receives.

/// Implements `ttrpc::proto::Codec` for prost messages.
macro_rules! ttrpc_codec {
    ($($message:ty),* $(,)?) => {
        $(
            impl ::ttrpc::proto::Codec for $message {
                type E = ::prost::DecodeError;

                fn size(&self) -> u32 {
                    u32::try_from(::prost::Message::encoded_len(self)).unwrap_or(u32::MAX)
                }

                fn encode(&self) -> Result<Vec<u8>, Self::E> {
                    Ok(::prost::Message::encode_to_vec(self))
                }

                fn decode(buf: impl AsRef<[u8]>) -> Result<Self, Self::E> {
                    <Self as ::prost::Message>::decode(buf.as_ref())
                }

                fn merge(&mut self, buf: impl AsRef<[u8]>) -> Result<(), Self::E> {
                    ::prost::Message::merge(self, buf.as_ref())
                }
            }
        )*
    };
}

pub(crate) use ttrpc_codec;
