//! What every wire transport does with a call once it is decoded, so that
//! they all answer alike: the plugin side runs its [`PluginHandler`]
//! ([`serve_plugin_call`]), the runtime side hands the plugin's call to
//! nri-core ([`deliver_runtime_call`]). Failures come back as a status code
//! and message for the transport to put on its wire.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::mpsc;

use super::error::{CODE_INTERNAL, CODE_RESOURCE_EXHAUSTED, CODE_UNAVAILABLE};
use super::{
    CallError, Method, PluginHandler, PluginRequest, PluginResponse, RuntimeCall, RuntimeRequest,
    RuntimeResponse,
};

/// A status for the wire: code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireStatus {
    /// gRPC/ttrpc status code.
    pub code: i32,
    /// The message.
    pub message: String,
}

impl WireStatus {
    /// A status with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        WireStatus {
            code,
            message: message.into(),
        }
    }
}

impl From<&CallError> for WireStatus {
    fn from(error: &CallError) -> Self {
        let (code, message) = error.to_status();
        WireStatus { code, message }
    }
}

/// Why a plugin's handler gave no usable reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerFailure {
    /// The handler returned an error.
    Error(CallError),
    /// The handler answered with the reply of another method.
    MismatchedReply {
        /// The method called.
        asked: Method,
        /// The method the reply belongs to.
        answered: Method,
    },
    /// The handler panicked. The transport must close the connection, as
    /// it would close if the plugin's process had died.
    Panicked {
        /// The method called.
        method: Method,
    },
}

impl HandlerFailure {
    /// Whether the transport must close the connection.
    pub fn closes_connection(&self) -> bool {
        matches!(self, HandlerFailure::Panicked { .. })
    }

    /// The status the runtime receives.
    pub fn status(&self) -> WireStatus {
        match self {
            HandlerFailure::Error(error) => WireStatus::from(error),
            HandlerFailure::MismatchedReply { asked, answered } => WireStatus::new(
                CODE_INTERNAL,
                format!(
                    "the plugin answered {} with a {} reply",
                    asked.name(),
                    answered.name()
                ),
            ),
            HandlerFailure::Panicked { method } => WireStatus::new(
                CODE_UNAVAILABLE,
                format!("the plugin panicked in {}", method.name()),
            ),
        }
    }
}

/// Runs `handler` on one call of the `Plugin` service, catching a panic.
pub async fn serve_plugin_call(
    handler: &dyn PluginHandler,
    request: PluginRequest,
) -> Result<PluginResponse, HandlerFailure> {
    let method = request.method();
    match AssertUnwindSafe(handler.handle(request))
        .catch_unwind()
        .await
    {
        Ok(Ok(reply)) if reply.method() == method => Ok(reply),
        Ok(Ok(reply)) => Err(HandlerFailure::MismatchedReply {
            asked: method,
            answered: reply.method(),
        }),
        Ok(Err(error)) => Err(HandlerFailure::Error(error)),
        Err(_panic) => {
            tracing::error!(
                method = method.name(),
                "plugin handler panicked; closing the connection"
            );
            Err(HandlerFailure::Panicked { method })
        }
    }
}

/// Hands a plugin's call of the `Runtime` service to nri-core through the
/// connection's `calls` queue without waiting for room (a full queue is
/// refused with code 8, a closed one with code 14), and returns the future
/// of nri-core's answer.
pub fn deliver_runtime_call(
    calls: &mpsc::Sender<RuntimeCall>,
    request: RuntimeRequest,
) -> Result<impl Future<Output = Result<RuntimeResponse, WireStatus>> + use<>, WireStatus> {
    let method = request.method_name();
    let (call, answer) = RuntimeCall::new(request);
    calls.try_send(call).map_err(|error| match error {
        mpsc::error::TrySendError::Full(_) => WireStatus::new(
            CODE_RESOURCE_EXHAUSTED,
            "too many calls wait for the runtime",
        ),
        mpsc::error::TrySendError::Closed(_) => {
            WireStatus::new(CODE_UNAVAILABLE, "the runtime no longer serves this plugin")
        }
    })?;
    Ok(async move {
        match answer.await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(WireStatus::from(&error)),
            Err(_) => Err(WireStatus::new(
                CODE_UNAVAILABLE,
                format!("the runtime dropped {method} unanswered"),
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    struct Answers(fn(PluginRequest) -> Result<PluginResponse, CallError>);

    #[async_trait::async_trait]
    impl PluginHandler for Answers {
        async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
            (self.0)(request)
        }
    }

    fn configure() -> PluginRequest {
        PluginRequest::Configure(Box::default())
    }

    #[tokio::test]
    async fn a_matching_reply_passes_and_a_mismatched_one_is_internal() {
        let good = Answers(|_| Ok(PluginResponse::Configure(Box::default())));
        assert!(serve_plugin_call(&good, configure()).await.is_ok());
        let bad = Answers(|_| Ok(PluginResponse::Shutdown(Box::default())));
        let failure = serve_plugin_call(&bad, configure()).await.unwrap_err();
        assert_eq!(failure.status().code, CODE_INTERNAL);
        assert!(!failure.closes_connection());
    }

    #[tokio::test]
    async fn a_panic_closes_the_connection_and_errors_keep_their_code() {
        let panics = Answers(|_| panic!("boom"));
        let failure = serve_plugin_call(&panics, configure()).await.unwrap_err();
        assert!(failure.closes_connection());
        assert_eq!(failure.status().code, CODE_UNAVAILABLE);
        let fails = Answers(|_| {
            Err(CallError::Failed {
                code: 9,
                message: "no".into(),
            })
        });
        let failure = serve_plugin_call(&fails, configure()).await.unwrap_err();
        assert_eq!(failure.status(), WireStatus::new(9, "no"));
    }

    #[tokio::test]
    async fn runtime_calls_are_refused_when_the_queue_is_full_or_closed() {
        let (tx, mut rx) = mpsc::channel(1);
        let request = || RuntimeRequest::RegisterPlugin(Default::default());
        let answer = deliver_runtime_call(&tx, request()).unwrap();
        let refused = deliver_runtime_call(&tx, request()).err().unwrap();
        assert_eq!(refused.code, CODE_RESOURCE_EXHAUSTED);
        let call = rx.recv().await.unwrap();
        let (_, responder) = call.into_parts();
        drop(responder);
        assert_eq!(answer.await.unwrap_err().code, CODE_UNAVAILABLE);
        drop(rx);
        let refused = deliver_runtime_call(&tx, request()).err().unwrap();
        assert_eq!(refused.code, CODE_UNAVAILABLE);
    }
}
