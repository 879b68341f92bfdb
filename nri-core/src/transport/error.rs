//! Why a call between runtime and plugin failed.

use std::time::Duration;

/// gRPC/ttrpc status code a plugin uses for "no such method".
pub const CODE_UNIMPLEMENTED: i32 = 12;
/// gRPC/ttrpc status code of an error without a more specific code.
pub const CODE_UNKNOWN: i32 = 2;
/// gRPC/ttrpc status code for "too many calls" or "message too large".
pub const CODE_RESOURCE_EXHAUSTED: i32 = 8;
/// gRPC/ttrpc status code for an internal error.
pub const CODE_INTERNAL: i32 = 13;
/// gRPC/ttrpc status code for "the service is going away".
pub const CODE_UNAVAILABLE: i32 = 14;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No reply within the timeout.
    #[error("no reply within {after:?}")]
    Timeout {
        /// The timeout that passed.
        after: Duration,
    },
    /// The connection is closed or was lost.
    #[error("connection closed: {reason}")]
    Closed {
        /// Who or what closed it.
        reason: CloseReason,
    },
    /// The peer does not implement the method (status code 12).
    #[error("method {method} is not implemented by the peer")]
    Unimplemented {
        /// The method.
        method: String,
    },
    /// The peer answered with an error status.
    #[error("peer returned error (code {code}): {message}")]
    Failed {
        /// gRPC/ttrpc status code.
        code: i32,
        /// The peer's message.
        message: String,
    },
    /// The peer broke the protocol (undecodable or mismatched reply).
    #[error("protocol error: {message}")]
    Protocol {
        /// What was wrong.
        message: String,
    },
}

/// Why a connection between runtime and plugin ended, as seen from the end
/// that reports it. Each kind carries a text for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// This end closed the connection: a runtime stopping, removing or
    /// refusing a plugin, a plugin stopping.
    ClosedHere(String),
    /// The other end closed the connection, or went away, at a message
    /// boundary: for a plugin, the runtime ending it after Shutdown or
    /// removing it; for a runtime, the plugin stopping or exiting.
    ClosedByPeer(String),
    /// The connection broke: an I/O error, a protocol violation, a peer
    /// that stopped reading, a handler that panicked.
    Failed(String),
}

impl CloseReason {
    /// The text that says more.
    pub fn text(&self) -> &str {
        match self {
            CloseReason::ClosedHere(text)
            | CloseReason::ClosedByPeer(text)
            | CloseReason::Failed(text) => text,
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

impl CallError {
    /// Whether the connection is unusable after this error, so the plugin
    /// must be dropped (upstream's "fatal" errors: closed, timed out,
    /// protocol violation).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            CallError::Timeout { .. } | CallError::Closed { .. } | CallError::Protocol { .. }
        )
    }

    /// The error for a reply to `asked` that answers another method.
    pub fn mismatched_reply(asked: super::Method, answered: super::Method) -> Self {
        CallError::Protocol {
            message: format!(
                "{} answered with a {} response",
                asked.name(),
                answered.name()
            ),
        }
    }

    /// The status code and message a plugin's error goes on the wire as:
    /// `Failed` keeps its code and message, `Unimplemented` is code 12 with
    /// upstream's "method NAME" text, anything else is code 2 (`Unknown`)
    /// with the error's text.
    pub fn to_status(&self) -> (i32, String) {
        match self {
            CallError::Failed { code, message } => (*code, message.clone()),
            CallError::Unimplemented { method } => (CODE_UNIMPLEMENTED, format!("method {method}")),
            other => (CODE_UNKNOWN, other.to_string()),
        }
    }

    /// The error for a status code and message received from a peer.
    pub fn from_status(code: i32, method: &str, message: impl Into<String>) -> Self {
        if code == CODE_UNIMPLEMENTED {
            CallError::Unimplemented {
                method: method.to_string(),
            }
        } else {
            CallError::Failed {
                code,
                message: message.into(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_problems_are_fatal() {
        assert!(
            CallError::Timeout {
                after: Duration::from_secs(2)
            }
            .is_fatal()
        );
        assert!(
            CallError::Closed {
                reason: CloseReason::ClosedByPeer("eof".into())
            }
            .is_fatal()
        );
        assert!(
            CallError::Protocol {
                message: "x".into()
            }
            .is_fatal()
        );
        assert!(
            !CallError::Failed {
                code: 2,
                message: "no".into()
            }
            .is_fatal()
        );
        assert!(!CallError::Unimplemented { method: "X".into() }.is_fatal());
    }

    #[test]
    fn errors_go_on_the_wire_as_statuses() {
        assert_eq!(
            CallError::Unimplemented { method: "X".into() }.to_status(),
            (12, "method X".into())
        );
        assert_eq!(
            CallError::Failed {
                code: 9,
                message: "m".into()
            }
            .to_status(),
            (9, "m".into())
        );
        assert_eq!(
            CallError::Protocol {
                message: "bad".into()
            }
            .to_status(),
            (2, "protocol error: bad".into())
        );
    }

    #[test]
    fn code_12_is_unimplemented() {
        assert_eq!(
            CallError::from_status(12, "RunPodSandbox", "method RunPodSandbox"),
            CallError::Unimplemented {
                method: "RunPodSandbox".into()
            }
        );
        assert_eq!(
            CallError::from_status(2, "RunPodSandbox", "boom"),
            CallError::Failed {
                code: 2,
                message: "boom".into()
            }
        );
    }
}
