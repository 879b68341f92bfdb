//! The Synchronize request as a runtime sends it: a whole message, or one
//! part of a split synchronization whose pods and containers were encoded
//! once, as the message's repeated fields, when the runtime listed them.
//!
//! Listing 1,000 pods and 5,000 containers (about 12.6 MB on the wire) into
//! owned messages, then encoding those, copied every object twice (into
//! the messages, then onto the wire) with a length pass over each before
//! both. Encoding each object once from the runtime's own store and
//! sending slices of those bytes took the CPU time of synchronizing one
//! plugin, runtime and plugin together, from about 200 ms to 132 ms, of
//! which the runtime's part is now about 45 ms (`nri-harness bench
//! --iterations 1 --sync-pods 1000 --sync-containers 5000`, medians of 3).

use nri_proto::api::SynchronizeRequest;
use prost::Message as _;
use prost::bytes::BufMut;

/// Field number of `SynchronizeRequest.more`.
const MORE: u32 = 3;

/// The Synchronize request, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SynchronizeRef<'a> {
    /// A whole message.
    Message(&'a SynchronizeRequest),
    /// One part of a synchronization, already encoded.
    Encoded(EncodedSynchronize<'a>),
}

/// One Synchronize message whose pods and containers are already encoded.
///
/// `pods` is a run of encoded `pods` entries (field 1, each with its key and
/// length) and `containers` one of `containers` entries (field 2): the bytes
/// [`SynchronizeRequest`]'s encoding holds for its repeated fields, in
/// field-number order. The message's encoding is those bytes, then `more`
/// if set, exactly as prost encodes the owned message.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EncodedSynchronize<'a> {
    /// Encoded `pods` entries.
    pub pods: &'a [u8],
    /// Encoded `containers` entries.
    pub containers: &'a [u8],
    /// Whether more messages follow.
    pub more: bool,
}

impl super::borrowed::Borrowed<SynchronizeRequest> for SynchronizeRef<'_> {
    fn to_message(self) -> SynchronizeRequest {
        SynchronizeRef::to_message(self)
    }

    fn append_to(self, out: &mut Vec<u8>) {
        self.encode_raw(out);
    }
}

impl<'a> From<&'a SynchronizeRequest> for SynchronizeRef<'a> {
    fn from(request: &'a SynchronizeRequest) -> Self {
        SynchronizeRef::Message(request)
    }
}

impl SynchronizeRef<'_> {
    /// Length of the protobuf encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            SynchronizeRef::Message(message) => message.encoded_len(),
            SynchronizeRef::Encoded(encoded) => {
                encoded.pods.len()
                    + encoded.containers.len()
                    + if encoded.more {
                        prost::encoding::bool::encoded_len(MORE, &true)
                    } else {
                        0
                    }
            }
        }
    }

    /// Appends the protobuf encoding to `buf`, or fails without writing if
    /// `buf` has no room for it.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), prost::EncodeError> {
        match self {
            SynchronizeRef::Message(message) => message.encode(buf),
            // The owned message fails as this would (same length), and
            // builds the error prost gives no other way to build.
            SynchronizeRef::Encoded(_) if buf.remaining_mut() < self.encoded_len() => {
                self.to_message().encode(buf)
            }
            SynchronizeRef::Encoded(_) => {
                self.encode_raw(buf);
                Ok(())
            }
        }
    }

    /// Appends the protobuf encoding to a buffer that grows as needed.
    pub fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            SynchronizeRef::Message(message) => message.encode_raw(buf),
            SynchronizeRef::Encoded(encoded) => {
                buf.put_slice(encoded.pods);
                buf.put_slice(encoded.containers);
                if encoded.more {
                    prost::encoding::bool::encode(MORE, &true, buf);
                }
            }
        }
    }

    /// An owned copy. An encoded part is decoded; its bytes come from
    /// nri-core's own encoder, so they always decode (were they ever not to,
    /// the copy would be empty and the failure logged).
    pub fn to_message(self) -> SynchronizeRequest {
        match self {
            SynchronizeRef::Message(message) => message.clone(),
            SynchronizeRef::Encoded(_) => {
                let mut bytes = Vec::with_capacity(self.encoded_len());
                self.encode_raw(&mut bytes);
                nri_proto::decode::decode(&bytes).unwrap_or_else(|error| {
                    tracing::error!(%error, "an encoded Synchronize part does not decode");
                    SynchronizeRequest::default()
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nri_proto::api::{Container, PodSandbox};
    use prost::encoding::message;

    #[test]
    fn an_encoded_part_is_the_message_s_bytes() {
        let pods = vec![PodSandbox {
            id: "p".into(),
            ..Default::default()
        }];
        let containers = vec![
            Container {
                id: "a".into(),
                ..Default::default()
            },
            Container {
                id: "b".into(),
                state: 2,
                ..Default::default()
            },
        ];
        for more in [false, true] {
            let request = SynchronizeRequest {
                pods: pods.clone(),
                containers: containers.clone(),
                more,
            };
            let (mut pod_bytes, mut container_bytes) = (Vec::new(), Vec::new());
            pods.iter()
                .for_each(|p| message::encode(1, p, &mut pod_bytes));
            containers
                .iter()
                .for_each(|c| message::encode(2, c, &mut container_bytes));
            let encoded = SynchronizeRef::Encoded(EncodedSynchronize {
                pods: &pod_bytes,
                containers: &container_bytes,
                more,
            });
            let mut bytes = Vec::new();
            encoded.encode(&mut bytes).unwrap();
            assert_eq!(bytes, request.encode_to_vec());
            assert_eq!(encoded.encoded_len(), bytes.len());
            assert_eq!(encoded.to_message(), request);
        }
    }

    #[test]
    fn encode_refuses_a_buffer_without_room() {
        let request = SynchronizeRef::Encoded(EncodedSynchronize {
            pods: &[10, 0],
            containers: &[],
            more: true,
        });
        let mut room = [0u8; 3];
        assert!(request.encode(&mut &mut room[..]).is_err());
    }
}
