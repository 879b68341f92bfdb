//! The events the runtime sends, one method each.

use std::sync::Arc;

use nri_proto::api::{
    CreateContainerRequest, CreateContainerResponse, PostCreateContainerRequest,
    PostStartContainerRequest, PostUpdateContainerRequest, PostUpdatePodSandboxRequest,
    RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
    StopContainerRequest, StopContainerResponse, StopPodSandboxRequest, UpdateContainerRequest,
    UpdateContainerResponse, UpdatePodSandboxRequest,
};
use tracing::Instrument;

use super::error::EventError;
use super::metrics;
use super::plugin::{Plugin, Verdict};
use super::requests::EventRequest;
use super::{Adaptation, Shared, validation};
use crate::merge::{CreateMerge, MergeError, StopMerge, UpdateMerge};
use crate::transport::{BorrowRequest, CallError, ContainerEventRef, UpdateContainerRef};

/// Gathers the plugins' replies to one event and builds the request each
/// next plugin is sent.
trait Collector<R: EventRequest>
where
    R::Response: Default + Send + 'static,
{
    /// The request for the next plugin.
    fn request(&self) -> R::Borrowed<'_>;
    /// Takes in one plugin's reply; `seen` tells whether a later plugin is
    /// sent the request it changes. An error ends the event, and the
    /// collector with it, so a failed reply need not be rolled back.
    fn collect(
        &mut self,
        plugin: &Plugin,
        reply: R::Response,
        seen: bool,
    ) -> Result<(), MergeError>;
}

/// Events whose replies carry nothing: every plugin is sent the request
/// the runtime gave, as it gave it.
struct Notification<S>(S);

impl<R, S> Collector<R> for Notification<S>
where
    R: EventRequest,
    R::Response: Default + Send + 'static,
    S: BorrowRequest<R>,
{
    fn request(&self) -> R::Borrowed<'_> {
        self.0.borrow_request()
    }
    fn collect(&mut self, _: &Plugin, _: R::Response, _: bool) -> Result<(), MergeError> {
        Ok(())
    }
}

impl Collector<CreateContainerRequest> for CreateMerge<'_> {
    fn request(&self) -> ContainerEventRef<'_> {
        CreateMerge::request(self)
    }
    fn collect(
        &mut self,
        plugin: &Plugin,
        reply: CreateContainerResponse,
        seen: bool,
    ) -> Result<(), MergeError> {
        metrics::adjustments(
            &plugin.label,
            "CreateContainer",
            reply.adjust.is_some(),
            reply.update.len(),
            reply.evict.len(),
        );
        self.apply_unguarded(&plugin.label, reply, seen)
    }
}

impl Collector<UpdateContainerRequest> for UpdateMerge<'_> {
    fn request(&self) -> UpdateContainerRef<'_> {
        UpdateMerge::request(self)
    }
    fn collect(
        &mut self,
        plugin: &Plugin,
        reply: UpdateContainerResponse,
        _: bool,
    ) -> Result<(), MergeError> {
        metrics::adjustments(
            &plugin.label,
            "UpdateContainer",
            false,
            reply.update.len(),
            reply.evict.len(),
        );
        self.apply_unguarded(&plugin.label, reply)
    }
}

impl Collector<StopContainerRequest> for StopMerge<'_> {
    fn request(&self) -> ContainerEventRef<'_> {
        StopMerge::request(self)
    }
    fn collect(
        &mut self,
        plugin: &Plugin,
        reply: StopContainerResponse,
        _: bool,
    ) -> Result<(), MergeError> {
        metrics::adjustments(&plugin.label, "StopContainer", false, reply.update.len(), 0);
        self.apply_unguarded(&plugin.label, reply)
    }
}

impl Shared {
    /// Delivers an event to every subscribed plugin in order. Returns the
    /// plugins that answered (for validation's list of consulted plugins,
    /// together with the plugins not subscribed).
    async fn relay<R, C>(
        &self,
        plugins: &[Arc<Plugin>],
        collector: &mut C,
    ) -> Result<Vec<Arc<Plugin>>, EventError>
    where
        R: EventRequest,
        R::Response: Default + Send + 'static,
        C: Collector<R>,
    {
        let mut failed = Vec::new();
        let takes_part = |plugin: &Arc<Plugin>| plugin.subscribes(R::EVENT) && !plugin.is_closed();
        for (at, plugin) in plugins.iter().enumerate() {
            if !takes_part(plugin) {
                continue;
            }
            match plugin
                .deliver::<R>(collector.request(), self.options.request_timeout)
                .await
            {
                Ok(reply) => {
                    let seen = plugins[at + 1..].iter().any(takes_part);
                    collector.collect(plugin, reply, seen)?;
                }
                Err(error) => {
                    self.judge(plugin, R::EVENT, error)?;
                    failed.push(Arc::clone(plugin));
                }
            }
        }
        Ok(failed)
    }

    /// Applies the verdict on a failed call: the event goes on (Ok) or
    /// fails.
    pub(crate) fn judge(
        &self,
        plugin: &Arc<Plugin>,
        event: nri_proto::event::Event,
        error: CallError,
    ) -> Result<(), EventError> {
        match plugin.judge(event, &error) {
            Verdict::Skip => {
                tracing::warn!(plugin = %plugin.label, event = event.name(), %error, "plugin did not answer; going on without it");
                Ok(())
            }
            Verdict::Remove => {
                self.drop_plugin(plugin, &error.to_string());
                Ok(())
            }
            Verdict::Fail => Err(EventError::Plugin {
                plugin: plugin.label.to_string(),
                event,
                error,
            }),
        }
    }

    /// Delivers an event whose replies carry nothing. Not an `async fn`:
    /// the request is moved straight into the one future that uses it, so
    /// the future holds it once (an `async fn` would keep a second copy for
    /// its argument, and an owned request holds kilobytes).
    fn notify<'a, R>(
        &'a self,
        request: impl BorrowRequest<R> + 'a,
    ) -> impl std::future::Future<Output = Result<(), EventError>> + Send + 'a
    where
        R: EventRequest,
        R::Response: Default + Send + 'static,
    {
        let span = event_span::<R>(request.borrow_request());
        let mut notification = Notification(request);
        async move {
            let _event = self.events.lock().await;
            let plugins = self.registry.snapshot();
            self.relay::<R, _>(&plugins, &mut notification)
                .await
                .map(drop)
        }
        .instrument(span)
    }
}

fn event_span<R>(request: R::Borrowed<'_>) -> tracing::Span
where
    R: EventRequest,
    R::Response: Default + Send + 'static,
{
    tracing::debug_span!(
        "nri_event",
        event = R::EVENT.name(),
        pod = R::pod(request).map_or("", |pod| pod.id.as_str()),
        container = R::container(request).map_or("", |container| container.id.as_str())
    )
}

macro_rules! notifications {
    ($($(#[$doc:meta])* $method:ident($request:ty);)*) => {$(
        $(#[$doc])*
        pub fn $method<'a>(
            &'a self,
            request: impl BorrowRequest<$request> + 'a,
        ) -> impl std::future::Future<Output = Result<(), EventError>> + Send + 'a {
            self.shared.notify::<$request>(request)
        }
    )*};
}

impl Adaptation {
    /// Whether an event would reach no plugin: no registered plugin
    /// subscribes to any of `events`. Checked under the event lock, so the
    /// answer is the one the event itself would find; false (send the
    /// event) while the lock is busy, say with a plugin synchronizing.
    ///
    /// The runtime API layer asks before building a request, so a node
    /// without plugins clones no pod or container per event: with no
    /// plugin, `nri-harness bench` measured CreateContainer's median at
    /// 0.9 µs instead of 4.3 µs, and 0.9 to 1.4 million events/s instead
    /// of 0.15 to 0.22 million (release without LTO, on a busy machine).
    pub(crate) fn reaches_no_plugin(&self, events: &[nri_proto::event::Event]) -> bool {
        let Ok(_event) = self.shared.events.try_lock() else {
            return false;
        };
        !self
            .shared
            .registry
            .snapshot()
            .iter()
            .any(|plugin| events.iter().any(|e| plugin.subscribes(*e)))
    }

    notifications! {
        /// A pod was started.
        run_pod_sandbox(RunPodSandboxRequest);
        /// A pod's resources change. Plugins cannot adjust them.
        update_pod_sandbox(UpdatePodSandboxRequest);
        /// A pod's resources changed.
        post_update_pod_sandbox(PostUpdatePodSandboxRequest);
        /// A pod was stopped.
        stop_pod_sandbox(StopPodSandboxRequest);
        /// A pod was removed.
        remove_pod_sandbox(RemovePodSandboxRequest);
        /// A container was created.
        post_create_container(PostCreateContainerRequest);
        /// A container is being started.
        start_container(StartContainerRequest);
        /// A container was started.
        post_start_container(PostStartContainerRequest);
        /// A container's resources changed.
        post_update_container(PostUpdateContainerRequest);
        /// A container was removed.
        remove_container(RemoveContainerRequest);
    }

    /// A container is being created: plugins adjust it, may update other
    /// containers and ask for evictions, and validators check the result.
    /// The reply holds the merged adjustment, updates and evictions; the
    /// runtime applies them.
    ///
    /// Like every event method, it takes the request message, a reference
    /// to it, or its borrowed form ([`ContainerEventRef::new`] of the
    /// runtime's pod and container), which is sent without a copy.
    pub fn create_container<'a>(
        &'a self,
        request: impl BorrowRequest<CreateContainerRequest> + 'a,
    ) -> impl std::future::Future<Output = Result<CreateContainerResponse, EventError>> + Send + 'a
    {
        let shared = &self.shared;
        let span = event_span::<CreateContainerRequest>(request.borrow_request());
        async move {
            let request = request.borrow_request();
            let _event = shared.events.lock().await;
            let plugins = shared.registry.snapshot();
            let validating = plugins
                .iter()
                .any(|p| p.subscribes(nri_proto::event::Event::ValidateContainerAdjustment));
            let mut merge = CreateMerge::new(request);
            let failed = shared
                .relay::<CreateContainerRequest, _>(&plugins, &mut merge)
                .await?;
            if validating {
                // Validators see the container as the runtime sent it: the
                // runtime's own, still borrowed. Boxed: its request would
                // otherwise sit in every creation's future, validated or not.
                Box::pin(validation::validate(
                    shared,
                    &plugins,
                    &failed,
                    request.container,
                    &merge,
                ))
                .await?;
            }
            Ok(merge.finish())
        }
        .instrument(span)
    }

    /// A container's resources are being changed: plugins may override them
    /// and update other containers. The reply's last update is the target
    /// container's, with the effective resources.
    pub fn update_container<'a>(
        &'a self,
        request: impl BorrowRequest<UpdateContainerRequest> + 'a,
    ) -> impl std::future::Future<Output = Result<UpdateContainerResponse, EventError>> + Send + 'a
    {
        let shared = &self.shared;
        let span = event_span::<UpdateContainerRequest>(request.borrow_request());
        async move {
            let mut merge = UpdateMerge::new(request.borrow_request());
            let _event = shared.events.lock().await;
            let plugins = shared.registry.snapshot();
            shared
                .relay::<UpdateContainerRequest, _>(&plugins, &mut merge)
                .await?;
            Ok(merge.finish())
        }
        .instrument(span)
    }

    /// A container stopped: plugins may update other containers.
    pub fn stop_container<'a>(
        &'a self,
        request: impl BorrowRequest<StopContainerRequest> + 'a,
    ) -> impl std::future::Future<Output = Result<StopContainerResponse, EventError>> + Send + 'a
    {
        let shared = &self.shared;
        let span = event_span::<StopContainerRequest>(request.borrow_request());
        async move {
            let mut merge = StopMerge::new(request.borrow_request());
            let _event = shared.events.lock().await;
            let plugins = shared.registry.snapshot();
            shared
                .relay::<StopContainerRequest, _>(&plugins, &mut merge)
                .await?;
            Ok(merge.finish())
        }
        .instrument(span)
    }
}
