//! The plugin's side of the `Plugin` service: turns the runtime's calls
//! into calls of the [`Plugin`]'s handlers, for one connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use nri_proto::api::{
    Container, CreateContainerResponse, Empty, Event, PodSandbox, StateChangeEvent,
    StopContainerResponse, SynchronizeRequest, SynchronizeResponse, UpdateContainerResponse,
    ValidateContainerAdjustmentResponse,
};
use nri_proto::defaults::{DEFAULT_REGISTRATION_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
use nri_proto::event::EventMask;
use nri_proto::identity::PluginId;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::plugin::{Configuration, HandlerError, Plugin};
use super::runtime::RuntimeClient;
use super::version;
use crate::proto::api::{ConfigureRequest, ConfigureResponse};
use crate::transport::{
    CODE_UNKNOWN, CallError, Method, PayloadError, PluginHandler, PluginRequest, PluginResponse,
};

/// Events that runtimes before NRI v0.10 do not know; subscribing to them
/// makes such a runtime refuse the plugin.
const SINCE_V0_10: [Event; 3] = [
    Event::UpdatePodSandbox,
    Event::PostUpdatePodSandbox,
    Event::ValidateContainerAdjustment,
];

/// What Configure settled.
#[derive(Debug, Clone)]
pub(crate) struct Negotiated {
    /// The events subscribed to.
    pub(crate) events: EventMask,
    /// The runtime's NRI version, if known.
    pub(crate) runtime_nri_version: Option<String>,
    /// The runtime's request timeout.
    pub(crate) request_timeout: Duration,
}

/// Serves one connection's calls for a plugin.
pub(crate) struct Dispatcher<P> {
    plugin: Arc<P>,
    id: PluginId,
    /// The events the plugin has handlers for.
    handled: EventMask,
    /// The events the options narrow the subscription to.
    narrowed: Option<EventMask>,
    runtime: RuntimeClient,
    /// A Synchronize split in parts, until its last part.
    pending_sync: Mutex<Option<SynchronizeRequest>>,
    /// Where Configure's outcome goes, once.
    configured: Mutex<Option<oneshot::Sender<Result<Negotiated, String>>>>,
    /// What the stub reports of the connection, set before Configure is
    /// answered.
    negotiated: Arc<Mutex<Option<Negotiated>>>,
    /// Whether the runtime sent Shutdown: its end of the connection is
    /// then a clean stop, not a loss.
    shut_down: AtomicBool,
}

impl<P: Plugin> Dispatcher<P> {
    pub(crate) fn new(
        plugin: Arc<P>,
        id: PluginId,
        narrowed: Option<EventMask>,
        runtime: RuntimeClient,
        configured: oneshot::Sender<Result<Negotiated, String>>,
        negotiated: Arc<Mutex<Option<Negotiated>>>,
    ) -> Self {
        let handled = plugin.handled_events();
        Dispatcher {
            plugin,
            id,
            handled,
            narrowed,
            runtime,
            pending_sync: Mutex::new(None),
            configured: Mutex::new(Some(configured)),
            negotiated,
            shut_down: AtomicBool::new(false),
        }
    }

    /// Whether the runtime sent Shutdown on this connection.
    pub(crate) fn was_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    async fn configure(&self, request: ConfigureRequest) -> Result<Negotiated, String> {
        let runtime_nri_version = version::runtime_nri_version(
            &request.nri_version,
            &request.runtime_name,
            &request.runtime_version,
        );
        // A runtime before NRI v0.7 sends no timeouts: keep the defaults
        // rather than waiting for nothing (upstream stores zeros).
        let millis = |ms: i64, default: Duration| {
            u64::try_from(ms)
                .ok()
                .filter(|&ms| ms > 0)
                .map_or(default, Duration::from_millis)
        };
        let request_timeout = millis(request.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        let configuration = Configuration {
            plugin: self.id.clone(),
            config: request.config,
            runtime_name: request.runtime_name,
            runtime_version: request.runtime_version,
            runtime_nri_version: runtime_nri_version.clone(),
            registration_timeout: millis(
                request.registration_timeout,
                DEFAULT_REGISTRATION_TIMEOUT,
            ),
            request_timeout,
            runtime: self.runtime.clone(),
        };
        let chosen = self
            .plugin
            .configure(configuration)
            .await
            .map_err(|error| format!("the plugin's configuration failed: {error}"))?;
        let mut events = match chosen {
            Some(chosen) => {
                let unhandled = EventMask::from_bits(chosen.bits() & !self.handled.bits());
                if !unhandled.is_empty() {
                    return Err(format!(
                        "the plugin asked for events it has no handler for: {unhandled} ({:#x})",
                        unhandled.bits()
                    ));
                }
                chosen
            }
            None => self.handled,
        };
        if let Some(narrowed) = self.narrowed {
            events = EventMask::from_bits(events.bits() & narrowed.bits());
        }
        if let Some(nri) = &runtime_nri_version
            && version::compare(nri, "v0.10.0").is_some_and(|order| order.is_lt())
        {
            for event in SINCE_V0_10 {
                if events.contains(event) {
                    tracing::info!(
                        event = event.name(),
                        runtime_nri_version = %nri,
                        "not subscribing to an event this runtime does not know"
                    );
                    events = events.without(event);
                }
            }
        }
        if events.is_empty() {
            // Never 0: on the wire that subscribes to everything.
            return Err("no events left to subscribe to".into());
        }
        Ok(Negotiated {
            events,
            runtime_nri_version,
            request_timeout,
        })
    }

    fn synchronize_part(&self, part: SynchronizeRequest) -> Option<SynchronizeRequest> {
        let mut pending = self
            .pending_sync
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut whole = pending.take().unwrap_or_default();
        whole.pods.extend(part.pods);
        whole.containers.extend(part.containers);
        if part.more {
            *pending = Some(whole);
            None
        } else {
            Some(whole)
        }
    }

    /// The handler call a `StateChange` stands for, if any. Not an `async
    /// fn`: one would hold the 2.8 KB event across its await, and with it
    /// every call's `dispatch` future (whatever its method) would grow to
    /// that size, built and moved on each call.
    fn state_change(
        &self,
        change: StateChangeEvent,
    ) -> Option<BoxFuture<'_, Result<(), HandlerError>>> {
        let pod = change.pod.unwrap_or_default();
        let container = || change.container.unwrap_or_default();
        let plugin = &self.plugin;
        Some(match Event::try_from(change.event) {
            Ok(Event::RunPodSandbox) => plugin.run_pod_sandbox(pod),
            Ok(Event::StopPodSandbox) => plugin.stop_pod_sandbox(pod),
            Ok(Event::RemovePodSandbox) => plugin.remove_pod_sandbox(pod),
            Ok(Event::PostUpdatePodSandbox) => plugin.post_update_pod_sandbox(pod),
            Ok(Event::PostCreateContainer) => plugin.post_create_container(pod, container()),
            Ok(Event::StartContainer) => plugin.start_container(pod, container()),
            Ok(Event::PostStartContainer) => plugin.post_start_container(pod, container()),
            Ok(Event::PostUpdateContainer) => plugin.post_update_container(pod, container()),
            Ok(Event::RemoveContainer) => plugin.remove_container(pod, container()),
            // Other values are accepted and ignored, as upstream does.
            _ => return None,
        })
    }

    async fn dispatch(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        let plugin = &self.plugin;
        Ok(match request {
            PluginRequest::Configure(request) => {
                let outcome = self.configure(*request).await;
                if let Ok(negotiated) = &outcome {
                    *self
                        .negotiated
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(negotiated.clone());
                }
                let reply = outcome
                    .as_ref()
                    .map(|n| n.events.bits())
                    .map_err(|e| e.clone());
                if let Some(configured) = self
                    .configured
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                {
                    let _ = configured.send(outcome);
                }
                let events = reply.map_err(failed_with)?;
                PluginResponse::Configure(Box::new(ConfigureResponse { events }))
            }
            PluginRequest::Synchronize(part) => {
                let update = match self.synchronize_part(*part) {
                    None => {
                        return Ok(PluginResponse::Synchronize(Box::new(SynchronizeResponse {
                            update: Vec::new(),
                            more: true,
                        })));
                    }
                    Some(whole) => plugin
                        .synchronize(whole.pods, whole.containers)
                        .await
                        .map_err(failed)?,
                };
                PluginResponse::Synchronize(Box::new(SynchronizeResponse {
                    update,
                    more: false,
                }))
            }
            PluginRequest::Shutdown(_) => {
                // Marked first: the runtime may close without waiting for
                // the answer.
                self.shut_down.store(true, Ordering::Release);
                plugin.shutdown().await;
                PluginResponse::Shutdown(Box::new(Empty {}))
            }
            PluginRequest::RunPodSandbox(r) => {
                plugin.run_pod_sandbox(pod(r.pod)).await.map_err(failed)?;
                PluginResponse::RunPodSandbox(Box::default())
            }
            PluginRequest::UpdatePodSandbox(r) => {
                plugin.update_pod_sandbox(*r).await.map_err(failed)?;
                PluginResponse::UpdatePodSandbox(Box::default())
            }
            PluginRequest::PostUpdatePodSandbox(r) => {
                plugin
                    .post_update_pod_sandbox(pod(r.pod))
                    .await
                    .map_err(failed)?;
                PluginResponse::PostUpdatePodSandbox(Box::default())
            }
            PluginRequest::StopPodSandbox(r) => {
                plugin.stop_pod_sandbox(pod(r.pod)).await.map_err(failed)?;
                PluginResponse::StopPodSandbox(Box::default())
            }
            PluginRequest::RemovePodSandbox(r) => {
                plugin
                    .remove_pod_sandbox(pod(r.pod))
                    .await
                    .map_err(failed)?;
                PluginResponse::RemovePodSandbox(Box::default())
            }
            PluginRequest::CreateContainer(r) => {
                let reply: CreateContainerResponse = plugin
                    .create_container(pod(r.pod), container(r.container))
                    .await
                    .map_err(failed)?;
                PluginResponse::CreateContainer(Box::new(reply))
            }
            PluginRequest::PostCreateContainer(r) => {
                plugin
                    .post_create_container(pod(r.pod), container(r.container))
                    .await
                    .map_err(failed)?;
                PluginResponse::PostCreateContainer(Box::default())
            }
            PluginRequest::StartContainer(r) => {
                plugin
                    .start_container(pod(r.pod), container(r.container))
                    .await
                    .map_err(failed)?;
                PluginResponse::StartContainer(Box::default())
            }
            PluginRequest::PostStartContainer(r) => {
                plugin
                    .post_start_container(pod(r.pod), container(r.container))
                    .await
                    .map_err(failed)?;
                PluginResponse::PostStartContainer(Box::default())
            }
            PluginRequest::UpdateContainer(r) => {
                let reply: UpdateContainerResponse = plugin
                    .update_container(pod(r.pod), container(r.container), r.linux_resources)
                    .await
                    .map_err(failed)?;
                PluginResponse::UpdateContainer(Box::new(reply))
            }
            PluginRequest::PostUpdateContainer(r) => {
                plugin
                    .post_update_container(pod(r.pod), container(r.container))
                    .await
                    .map_err(failed)?;
                PluginResponse::PostUpdateContainer(Box::default())
            }
            PluginRequest::StopContainer(r) => {
                let reply: StopContainerResponse = plugin
                    .stop_container(pod(r.pod), container(r.container))
                    .await
                    .map_err(failed)?;
                PluginResponse::StopContainer(Box::new(reply))
            }
            PluginRequest::RemoveContainer(r) => {
                plugin
                    .remove_container(pod(r.pod), container(r.container))
                    .await
                    .map_err(failed)?;
                PluginResponse::RemoveContainer(Box::default())
            }
            PluginRequest::StateChange(change) => {
                if let Some(handling) = self.state_change(*change) {
                    handling.await.map_err(failed)?;
                }
                PluginResponse::StateChange(Box::new(Empty {}))
            }
            PluginRequest::ValidateContainerAdjustment(r) => {
                let reply = match plugin.validate_container_adjustment(*r).await {
                    Ok(()) => ValidateContainerAdjustmentResponse::default(),
                    Err(reason) => ValidateContainerAdjustmentResponse {
                        reject: true,
                        reason: reason.to_string(),
                    },
                };
                PluginResponse::ValidateContainerAdjustment(Box::new(reply))
            }
        })
    }
}

#[async_trait::async_trait]
impl<P: Plugin> PluginHandler for Dispatcher<P> {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        let (pod, container) = ids(&request);
        let span = tracing::debug_span!(
            "nri_plugin_request",
            method = request.method().name(),
            pod,
            container
        );
        self.dispatch(request).instrument(span).await
    }

    /// A plugin with no `synchronize` handler gets the default one, which
    /// ignores the pods and containers: only whether more parts follow is
    /// decoded. Synchronizing 1,000 pods and 5,000 containers (12.6 MB)
    /// cost such a plugin 87 ms of CPU, nearly all of it decoding and
    /// freeing them (`nri-harness bench --iterations 1 --sync-pods 1000
    /// --sync-containers 5000`).
    fn decode(&self, method: Method, payload: &[u8]) -> Result<PluginRequest, PayloadError> {
        if method != Method::Synchronize || self.plugin.defines_synchronize() {
            return PluginRequest::decode(method, payload);
        }
        let flags: SynchronizeFlags =
            nri_proto::decode::decode(payload).map_err(|source| PayloadError::Decode {
                method: method.name(),
                source,
            })?;
        Ok(PluginRequest::Synchronize(Box::new(SynchronizeRequest {
            more: flags.more,
            ..SynchronizeRequest::default()
        })))
    }
}

/// A Synchronize part read for its `more` flag (field 3) alone: the pods
/// (field 1) and containers (field 2) are skipped, their framing checked.
#[derive(Debug, Default)]
struct SynchronizeFlags {
    more: bool,
}

impl nri_proto::decode::Decode for SynchronizeFlags {
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: u8,
        reader: &mut nri_proto::decode::Reader<'_>,
        budget: u32,
    ) -> Result<(), nri_proto::decode::DecodeError> {
        match tag {
            3 => reader.scalar(wire_type, &mut self.more),
            _ => reader.skip(wire_type, tag, budget),
        }
    }
}

fn pod(pod: Option<PodSandbox>) -> PodSandbox {
    pod.unwrap_or_default()
}

fn container(container: Option<Container>) -> Container {
    container.unwrap_or_default()
}

fn failed(error: HandlerError) -> CallError {
    failed_with(error.to_string())
}

fn failed_with(message: String) -> CallError {
    CallError::Failed {
        code: CODE_UNKNOWN,
        message,
    }
}

/// The pod and container ids a request is about, for its span.
fn ids(request: &PluginRequest) -> (&str, &str) {
    fn of<'a>(pod: &'a Option<PodSandbox>, container: &'a Option<Container>) -> (&'a str, &'a str) {
        (
            pod.as_ref().map_or("", |p| p.id.as_str()),
            container.as_ref().map_or("", |c| c.id.as_str()),
        )
    }
    match request {
        PluginRequest::RunPodSandbox(r) => of(&r.pod, &None),
        PluginRequest::UpdatePodSandbox(r) => of(&r.pod, &None),
        PluginRequest::PostUpdatePodSandbox(r) => of(&r.pod, &None),
        PluginRequest::StopPodSandbox(r) => of(&r.pod, &None),
        PluginRequest::RemovePodSandbox(r) => of(&r.pod, &None),
        PluginRequest::CreateContainer(r) => of(&r.pod, &r.container),
        PluginRequest::PostCreateContainer(r) => of(&r.pod, &r.container),
        PluginRequest::StartContainer(r) => of(&r.pod, &r.container),
        PluginRequest::PostStartContainer(r) => of(&r.pod, &r.container),
        PluginRequest::UpdateContainer(r) => of(&r.pod, &r.container),
        PluginRequest::PostUpdateContainer(r) => of(&r.pod, &r.container),
        PluginRequest::StopContainer(r) => of(&r.pod, &r.container),
        PluginRequest::RemoveContainer(r) => of(&r.pod, &r.container),
        PluginRequest::StateChange(r) => of(&r.pod, &r.container),
        PluginRequest::ValidateContainerAdjustment(r) => of(&r.pod, &r.container),
        PluginRequest::Configure(_)
        | PluginRequest::Synchronize(_)
        | PluginRequest::Shutdown(_) => ("", ""),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prost::Message as _;

    fn part(pod_id: &str, more: bool) -> Vec<u8> {
        SynchronizeRequest {
            pods: vec![PodSandbox {
                id: pod_id.into(),
                ..Default::default()
            }],
            containers: vec![Container {
                id: "c".into(),
                ..Default::default()
            }],
            more,
        }
        .encode_to_vec()
    }

    #[test]
    fn the_flags_of_a_part_are_its_more_field() {
        for more in [false, true] {
            let flags: SynchronizeFlags = nri_proto::decode::decode(&part("p", more)).unwrap();
            assert_eq!(flags.more, more);
        }
    }

    #[test]
    fn the_flags_skip_what_they_do_not_read_but_not_broken_framing() {
        // A pod id that is not UTF-8: decoding the whole part fails, reading
        // its flags does not look inside the pod.
        let mut bytes = part("p\u{7f}", true);
        let at = bytes.iter().position(|&b| b == 0x7f).unwrap();
        bytes[at] = 0xff;
        assert!(nri_proto::decode::decode::<SynchronizeRequest>(&bytes).is_err());
        let flags: SynchronizeFlags = nri_proto::decode::decode(&bytes).unwrap();
        assert!(flags.more);
        // A part cut inside its container entry (the last 3 bytes are the
        // end of that entry and `more`) is refused.
        let cut = &bytes[..bytes.len() - 3];
        assert!(nri_proto::decode::decode::<SynchronizeFlags>(cut).is_err());
    }
}
