//! Why a module does not load, and why a call into a guest fails.

use std::time::Duration;

use nri_core::transport::CallError;

use crate::cache::CacheError;

/// Why a WASM plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The module file could not be read.
    #[error("cannot read the module: {0}")]
    Read(#[from] std::io::Error),
    /// The bytes are not a valid WebAssembly module, or compiling failed.
    #[error("cannot compile the module: {0}")]
    Compile(String),
    /// Linking or instantiating (including `_initialize`) failed.
    #[error("cannot instantiate the module: {0}")]
    Instantiate(String),
    /// A function the ABI needs is not exported, or has the wrong type.
    #[error("{export} is not exported: {reason}")]
    MissingExport {
        /// The export's name.
        export: String,
        /// What was found instead.
        reason: String,
    },
    /// The module speaks another version of the plugin ABI.
    #[error("API version mismatch, host: {host}, plugin: {plugin}")]
    ApiVersion {
        /// The version this host speaks.
        host: u64,
        /// The version the module returned.
        plugin: u64,
    },
    /// The module cache directory cannot be used.
    #[error("{0}")]
    Cache(#[from] CacheError),
    /// Calling `plugin_api_version` (or another setup call) failed.
    #[error("{0}")]
    Guest(#[from] GuestError),
}

/// Why one call into a guest failed. Every variant but [`GuestError::Returned`]
/// means the instance can no longer be trusted: the plugin counts as crashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuestError {
    /// The guest trapped (including running out of its memory limit or
    /// stack) or a host function failed.
    #[error("{export} trapped: {reason}")]
    Trap {
        /// The export being called.
        export: &'static str,
        /// wasmtime's description of the trap.
        reason: String,
    },
    /// The guest did not return within the call's deadline.
    #[error("{export} did not return within {after:?}")]
    Timeout {
        /// The export being called.
        export: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// A pointer and size from the guest do not lie inside its memory.
    #[error("{export} gave {size} bytes at {ptr:#x}, outside its {memory} bytes of memory")]
    OutOfBounds {
        /// The export that gave them.
        export: &'static str,
        /// The pointer.
        ptr: u32,
        /// The size.
        size: u32,
        /// The size of the guest's memory.
        memory: usize,
    },
    /// The reply is not the method's response message.
    #[error("undecodable reply from {export}: {reason}")]
    Undecodable {
        /// The export that replied.
        export: &'static str,
        /// What the decoder found.
        reason: String,
    },
    /// The request is larger than the ABI can pass (2 GiB).
    #[error("the request to {export} is too large: {size} bytes")]
    TooLarge {
        /// The export being called.
        export: &'static str,
        /// The request's size.
        size: usize,
    },
    /// The guest's handler returned an error string (bit 31 of the size):
    /// the call failed, the plugin is fine.
    #[error("{0}")]
    Returned(String),
    /// The instance crashed earlier and was dropped.
    #[error("plugin crashed earlier: {0}")]
    Crashed(String),
}

impl GuestError {
    /// Whether the instance is unusable after this error.
    pub fn is_crash(&self) -> bool {
        !matches!(self, GuestError::Returned(_))
    }

    /// The error as the transport contract reports it: a crash is a lost
    /// connection (a timeout is reported as one), an error string from the
    /// guest is a failed call with code 2, as from a Go plugin's handler.
    pub fn into_call_error(self) -> CallError {
        match self {
            GuestError::Timeout { after, .. } => CallError::Timeout { after },
            GuestError::Returned(message) => CallError::Failed {
                code: nri_core::transport::CODE_UNKNOWN,
                message,
            },
            other => CallError::Closed {
                reason: nri_core::transport::CloseReason::Failed(other.to_string()),
            },
        }
    }
}
