//! The in-process transport keeps the transport contract: replies, timeouts,
//! closing from either side, panicking plugins, and the plugin's calls of the
//! Runtime service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use nri_core::proto::api::{
    ConfigureRequest, ConfigureResponse, Empty, RegisterPluginRequest, RunPodSandboxRequest,
    UpdateContainersRequest, UpdateContainersResponse,
};
use nri_core::transport::PluginHandler;
use nri_core::transport::in_process::{self, RuntimeHandle};
use nri_core::transport::{
    self, Accepted, CallError, CloseReason, Origin, PluginRequest, PluginRequestRef,
    PluginResponse, RuntimeRequest, RuntimeResponse, Transport,
};
use tokio::sync::Notify;

/// How a scripted plugin behaves on RunPodSandbox.
#[derive(Clone, Copy)]
enum OnRunPod {
    Reply,
    Hang,
    Panic,
    WrongReply,
}

struct Scripted {
    on_run_pod: OnRunPod,
    entered: Arc<Notify>,
}

#[async_trait::async_trait]
impl PluginHandler for Scripted {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        match request {
            PluginRequest::Configure(req) => {
                Ok(PluginResponse::Configure(Box::new(ConfigureResponse {
                    events: i32::try_from(req.config.len()).unwrap_or(0),
                })))
            }
            PluginRequest::RunPodSandbox(_) => {
                self.entered.notify_one();
                match self.on_run_pod {
                    OnRunPod::Reply => Ok(PluginResponse::RunPodSandbox(Default::default())),
                    OnRunPod::Hang => std::future::pending().await,
                    OnRunPod::Panic => panic!("scripted plugin panics"),
                    OnRunPod::WrongReply => Ok(PluginResponse::Shutdown(Box::new(Empty {}))),
                }
            }
            other => Err(CallError::Unimplemented {
                method: other.method().name().into(),
            }),
        }
    }
}

async fn connect(on_run_pod: OnRunPod) -> (Accepted, RuntimeHandle, Arc<Notify>) {
    let (runtime_side, connector) = in_process::transport();
    let entered = Arc::new(Notify::new());
    let plugin = Scripted {
        on_run_pod,
        entered: Arc::clone(&entered),
    };
    let handle = connector
        .connect(Arc::new(plugin), Origin::Builtin)
        .await
        .expect("connects");
    let accepted = runtime_side.accept().await.expect("accepted");
    (accepted, handle, entered)
}

const SECOND: Duration = Duration::from_secs(1);

/// Sends RunPodSandbox and waits at most `timeout`.
async fn run_pod(
    accepted: &Accepted,
    timeout: Duration,
) -> Result<nri_core::proto::api::RunPodSandboxResponse, CallError> {
    transport::call(
        accepted.connection.as_ref(),
        &RunPodSandboxRequest::default(),
        timeout,
    )
    .await
}

/// Starts a RunPodSandbox call the plugin never answers, and returns once
/// the plugin has received it.
async fn hanging_call(
    accepted: &Accepted,
    entered: &Notify,
) -> tokio::task::JoinHandle<Result<PluginResponse, CallError>> {
    let connection = Arc::clone(&accepted.connection);
    let pending = tokio::spawn(async move {
        connection
            .call(
                PluginRequestRef::RunPodSandbox(Default::default()),
                10 * SECOND,
            )
            .await
    });
    entered.notified().await;
    pending
}

#[tokio::test]
async fn calls_reach_the_plugin_and_replies_come_back() {
    let (accepted, _handle, _) = connect(OnRunPod::Reply).await;
    assert_eq!(accepted.connection.origin(), Origin::Builtin);
    let reply = transport::call(
        accepted.connection.as_ref(),
        &ConfigureRequest {
            config: "abc".into(),
            ..Default::default()
        },
        SECOND,
    )
    .await
    .expect("configured");
    assert_eq!(reply.events, 3);
    let missing = accepted
        .connection
        .call(PluginRequestRef::Shutdown(&Empty {}), SECOND)
        .await;
    assert_eq!(
        missing,
        Err(CallError::Unimplemented {
            method: "Shutdown".into()
        })
    );
}

#[tokio::test]
async fn a_hanging_plugin_times_out_on_time() {
    let (accepted, _handle, _) = connect(OnRunPod::Hang).await;
    let timeout = Duration::from_millis(100);
    let started = Instant::now();
    let result = run_pod(&accepted, timeout).await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(CallError::Timeout { after: timeout }));
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_millis(100),
        "{elapsed:?}"
    );
    // A timeout alone does not close the connection; nri-core decides that.
    assert!(
        transport::call(
            accepted.connection.as_ref(),
            &ConfigureRequest::default(),
            SECOND
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn a_panicking_plugin_is_cut_off_not_the_runtime() {
    let (accepted, handle, _) = connect(OnRunPod::Panic).await;
    let result = run_pod(&accepted, SECOND).await;
    assert!(
        matches!(&result, Err(CallError::Closed { reason: CloseReason::Failed(reason) }) if reason.contains("panicked")),
        "{result:?}"
    );
    assert!(handle.is_closed());
    let later = transport::call(
        accepted.connection.as_ref(),
        &ConfigureRequest::default(),
        SECOND,
    )
    .await;
    assert!(matches!(later, Err(CallError::Closed { .. })), "{later:?}");
}

#[tokio::test]
async fn a_mismatched_reply_is_a_protocol_error() {
    let (accepted, _handle, _) = connect(OnRunPod::WrongReply).await;
    let result = run_pod(&accepted, SECOND).await;
    assert!(
        matches!(result, Err(CallError::Protocol { .. })),
        "{result:?}"
    );
    assert!(result.unwrap_err().is_fatal());
}

#[tokio::test]
async fn closing_from_the_runtime_fails_pending_calls_and_ends_the_call_stream() {
    let (mut accepted, handle, entered) = connect(OnRunPod::Hang).await;
    let pending = hanging_call(&accepted, &entered).await;
    accepted.connection.close().await;
    let result = pending.await.expect("joined");
    assert!(
        matches!(result, Err(CallError::Closed { .. })),
        "{result:?}"
    );
    assert!(accepted.calls.recv().await.is_none(), "call stream ends");
    let why = handle.closed().await;
    assert!(
        matches!(&why, CallError::Closed { reason: CloseReason::ClosedByPeer(text) } if text.contains("runtime")),
        "{why}"
    );
    let register = handle
        .call(RuntimeRequest::RegisterPlugin(Default::default()), SECOND)
        .await;
    assert!(
        matches!(register, Err(CallError::Closed { .. })),
        "{register:?}"
    );
}

#[tokio::test]
async fn a_disconnecting_plugin_fails_the_runtimes_calls() {
    let (mut accepted, handle, entered) = connect(OnRunPod::Hang).await;
    let pending = hanging_call(&accepted, &entered).await;
    drop(handle);
    let result = pending.await.expect("joined");
    assert!(
        matches!(&result, Err(CallError::Closed { reason: CloseReason::ClosedByPeer(reason) }) if reason.contains("plugin disconnected")),
        "{result:?}"
    );
    assert!(accepted.calls.recv().await.is_none());
}

#[tokio::test]
async fn plugins_call_the_runtime_service() {
    let (mut accepted, handle, _) = connect(OnRunPod::Reply).await;
    let runtime = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(call) = accepted.calls.recv().await {
            let (request, responder) = call.into_parts();
            seen.push(request.method_name());
            let answer = match request {
                RuntimeRequest::RegisterPlugin(req) => {
                    assert_eq!(req.plugin_name, "scripted");
                    Ok(RuntimeResponse::RegisterPlugin(Empty {}))
                }
                RuntimeRequest::UpdateContainers(req) => Ok(RuntimeResponse::UpdateContainers(
                    UpdateContainersResponse { failed: req.update },
                )),
            };
            assert!(responder.reply(answer));
        }
        seen
    });
    let registered = handle
        .call(
            RuntimeRequest::RegisterPlugin(RegisterPluginRequest {
                plugin_name: "scripted".into(),
                plugin_idx: "10".into(),
                ..Default::default()
            }),
            SECOND,
        )
        .await;
    assert_eq!(registered, Ok(RuntimeResponse::RegisterPlugin(Empty {})));
    let update = nri_core::proto::api::ContainerUpdate {
        container_id: "ctr".into(),
        ..Default::default()
    };
    let updated = handle
        .call(
            RuntimeRequest::UpdateContainers(UpdateContainersRequest {
                update: vec![update.clone()],
                evict: Vec::new(),
            }),
            SECOND,
        )
        .await;
    assert_eq!(
        updated,
        Ok(RuntimeResponse::UpdateContainers(
            UpdateContainersResponse {
                failed: vec![update]
            }
        ))
    );
    handle.disconnect();
    assert_eq!(
        runtime.await.expect("joined"),
        ["RegisterPlugin", "UpdateContainers"]
    );
}

#[tokio::test]
async fn an_unanswered_runtime_call_fails_instead_of_hanging() {
    let (mut accepted, handle, _) = connect(OnRunPod::Reply).await;
    let runtime = tokio::spawn(async move {
        let call = accepted.calls.recv().await.expect("a call");
        drop(call);
        accepted
    });
    let result = handle
        .call(RuntimeRequest::RegisterPlugin(Default::default()), SECOND)
        .await;
    assert!(
        matches!(&result, Err(CallError::Closed { reason: CloseReason::ClosedByPeer(reason) }) if reason.contains("unanswered")),
        "{result:?}"
    );
    drop(runtime.await);
}

#[tokio::test]
async fn accept_ends_when_the_transport_shuts_down() {
    let (runtime_side, connector) = in_process::transport();
    runtime_side.shut_down().await;
    let plugin = Scripted {
        on_run_pod: OnRunPod::Reply,
        entered: Arc::new(Notify::new()),
    };
    let refused = connector.connect(Arc::new(plugin), Origin::External).await;
    assert!(matches!(refused, Err(CallError::Closed { .. })));
    assert!(runtime_side.accept().await.is_none());
}
