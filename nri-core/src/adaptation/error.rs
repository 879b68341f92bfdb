//! Why an event, a registration or the start of the adaptation failed.

use nri_proto::event::Event;
use nri_proto::identity::IdentityError;

use super::backend::SnapshotError;
use crate::merge::MergeError;
use crate::transport::CallError;

/// Why an event failed. The runtime fails the request that caused it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// A plugin answered the event with an error.
    #[error("plugin \"{plugin}\" failed {event}: {error}")]
    Plugin {
        /// `NN-name` of the plugin.
        plugin: String,
        /// The event.
        event: Event,
        /// What it answered.
        error: CallError,
    },
    /// Two plugins' adjustments conflict, or a plugin asked for something
    /// not allowed.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// A validator rejected the merged adjustment.
    #[error("validator \"{validator}\" rejected container adjustment, reason: {reason}")]
    Rejected {
        /// `NN-name` of the validator.
        validator: String,
        /// Its reason.
        reason: String,
    },
    /// A validator failed to answer, so the adjustment is not validated
    /// (validation fails closed).
    #[error("validator plugin \"{validator}\" failed: {error}")]
    Validator {
        /// `NN-name` of the validator.
        validator: String,
        /// What went wrong.
        error: CallError,
    },
}

/// Why a plugin could not join.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The plugin did not register within the registration timeout.
    #[error("plugin registration timed out")]
    Timeout,
    /// The connection closed before the plugin was registered.
    #[error("connection closed before registration")]
    Closed,
    /// The plugin's name or index is invalid.
    #[error("invalid plugin identity: {0}")]
    Identity(#[from] IdentityError),
    /// Configure failed.
    #[error("failed to configure plugin: {0}")]
    Configure(CallError),
    /// The plugin subscribed to events that do not exist.
    #[error("plugin subscribed to unknown events: {0:#x}")]
    InvalidEvents(i32),
    /// Synchronization failed.
    #[error("failed to synchronize plugin: {0}")]
    Synchronize(#[from] SyncError),
    /// The adaptation is stopping.
    #[error("the adaptation is stopped")]
    Stopped,
}

/// Why a plugin's synchronization failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The runtime could not list its pods and containers.
    #[error("runtime failed to list pods and containers: {0}")]
    Runtime(#[from] SnapshotError),
    /// The call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A single pod or container is too large for one message.
    #[error("cannot split synchronization below the message limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The plugin answered an intermediate message as if it were the last.
    #[error("plugin does not handle split sync requests")]
    SplitUnsupported,
}

/// Why the adaptation could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// `start` was called before.
    #[error("the adaptation was already started")]
    AlreadyStarted,
    /// A builtin plugin failed to join.
    #[error("builtin plugin {plugin} failed: {error}")]
    Builtin {
        /// `NN-name` of the plugin.
        plugin: String,
        /// Why.
        error: RegistrationError,
    },
    /// The plugin directory could not be read.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::DiscoveryError),
}
