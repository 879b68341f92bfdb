//! Every NRI RPC with its request and response type, and a way to run
//! generic code on a message type chosen at run time.
//!
//! Used by the wire tests (type by method), the decoder property tests and
//! the fuzz target (type by number). `the_rpc_table_covers_every_method_in_the_schema`
//! keeps it in step with the schema.

use std::fmt::Debug;

use nri_proto::api::*;
use nri_proto::decode::{self, Decode};
use prost::Message;

/// Generic code to run on one message type.
pub trait MessageVisitor {
    /// What the visit returns.
    type Output;

    /// Runs on message type `T`, whose proto name is `name` (without package).
    fn visit<T: Message + Decode + PartialEq + Debug>(&mut self, name: &str) -> Self::Output;
}

macro_rules! rpc_table {
    ($($service:literal $method:literal $req:ident $resp:ident;)*) => {
        /// Service, method, request type, response type.
        pub const RPCS: &[(&str, &str, &str, &str)] = &[
            $(($service, $method, stringify!($req), stringify!($resp)),)*
        ];

        /// Visits the request (or response) type of an RPC; `None` for an
        /// unknown RPC.
        pub fn visit_rpc<V: MessageVisitor>(
            service: &str,
            method: &str,
            request: bool,
            visitor: &mut V,
        ) -> Option<V::Output> {
            match (service, method, request) {
                $(
                    ($service, $method, true) => Some(visitor.visit::<$req>(stringify!($req))),
                    ($service, $method, false) => Some(visitor.visit::<$resp>(stringify!($resp))),
                )*
                _ => None,
            }
        }

        /// Visits message type number `n` (modulo the number of types);
        /// request and response types of every RPC, some more than once.
        pub fn visit_nth<V: MessageVisitor>(n: usize, visitor: &mut V) -> V::Output {
            let (service, method, _, _) = RPCS[(n / 2) % RPCS.len()];
            match visit_rpc(service, method, n % 2 == 0, visitor) {
                Some(output) => output,
                None => unreachable!("every table entry is an RPC"),
            }
        }
    };
}

rpc_table! {
    "Runtime" "RegisterPlugin" RegisterPluginRequest Empty;
    "Runtime" "UpdateContainers" UpdateContainersRequest UpdateContainersResponse;
    "Plugin" "Configure" ConfigureRequest ConfigureResponse;
    "Plugin" "Synchronize" SynchronizeRequest SynchronizeResponse;
    "Plugin" "Shutdown" Empty Empty;
    "Plugin" "RunPodSandbox" RunPodSandboxRequest RunPodSandboxResponse;
    "Plugin" "UpdatePodSandbox" UpdatePodSandboxRequest UpdatePodSandboxResponse;
    "Plugin" "PostUpdatePodSandbox" PostUpdatePodSandboxRequest PostUpdatePodSandboxResponse;
    "Plugin" "StopPodSandbox" StopPodSandboxRequest StopPodSandboxResponse;
    "Plugin" "RemovePodSandbox" RemovePodSandboxRequest RemovePodSandboxResponse;
    "Plugin" "CreateContainer" CreateContainerRequest CreateContainerResponse;
    "Plugin" "PostCreateContainer" PostCreateContainerRequest PostCreateContainerResponse;
    "Plugin" "StartContainer" StartContainerRequest StartContainerResponse;
    "Plugin" "PostStartContainer" PostStartContainerRequest PostStartContainerResponse;
    "Plugin" "UpdateContainer" UpdateContainerRequest UpdateContainerResponse;
    "Plugin" "PostUpdateContainer" PostUpdateContainerRequest PostUpdateContainerResponse;
    "Plugin" "StopContainer" StopContainerRequest StopContainerResponse;
    "Plugin" "RemoveContainer" RemoveContainerRequest RemoveContainerResponse;
    "Plugin" "StateChange" StateChangeEvent Empty;
    "Plugin" "ValidateContainerAdjustment" ValidateContainerAdjustmentRequest ValidateContainerAdjustmentResponse;
}

/// Decodes bytes as the visited type, with prost and with our single-pass
/// decoder, which must agree (the same value, or both an error); if the
/// bytes decode, checks that encoding and decoding again gives the same
/// value and the same bytes. Returns whether the input decoded; panics if
/// the decoders disagree or the fixpoint does not hold.
pub struct DecodeFixpoint<'a>(pub &'a [u8]);

impl MessageVisitor for DecodeFixpoint<'_> {
    type Output = bool;

    fn visit<T: Message + Decode + PartialEq + Debug>(&mut self, name: &str) -> bool {
        let ours = decode::decode::<T>(self.0);
        let Ok(value) = T::decode(self.0) else {
            assert!(
                ours.is_err(),
                "{name}: prost rejects {:02x?} but nri_proto::decode gives {ours:?}",
                self.0
            );
            return false;
        };
        match ours {
            Ok(ours) => assert_eq!(
                ours, value,
                "{name}: the decoders disagree on {:02x?}",
                self.0
            ),
            Err(error) => panic!(
                "{name}: prost accepts {:02x?} but nri_proto::decode fails: {error}",
                self.0
            ),
        }
        let bytes = value.encode_to_vec();
        let again = T::decode(bytes.as_slice())
            .unwrap_or_else(|e| panic!("{name}: our own encoding does not decode: {e}"));
        assert_eq!(again, value, "{name}: decode(encode(x)) != x");
        assert_eq!(
            again.encode_to_vec(),
            bytes,
            "{name}: encoding is not stable"
        );
        true
    }
}
