//! One connected plugin, as the adaptation keeps it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nri_proto::event::{Event, EventMask};
use nri_proto::identity::PluginId;

use super::metrics;
use super::options::FailurePolicy;
use super::requests::EventRequest;
use crate::transport::{self, CallError, Origin, PluginConnection, PluginRpc};

/// What one plugin is, as the runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Index and name.
    pub id: PluginId,
    /// How it connected.
    pub origin: Origin,
    /// The events it receives.
    pub events: EventMask,
    /// Whether it gets some events through the deprecated `StateChange`.
    pub uses_state_change: bool,
}

/// A registered, configured plugin.
pub(crate) struct Plugin {
    pub(crate) id: PluginId,
    /// `NN-name`, the identity in conflict messages and metrics.
    pub(crate) label: Arc<str>,
    /// The keys of its call metrics.
    metrics: metrics::CallKeys,
    pub(crate) connection: Arc<dyn PluginConnection>,
    events: AtomicI32,
    /// The plugin answered Configure with 0 ("everything").
    subscribed_to_all: bool,
    state_change: AtomicBool,
    warned: AtomicI32,
    timeouts: AtomicU32,
    policy: FailurePolicy,
    closed: AtomicBool,
}

/// What to do after a failed call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The event goes on without this plugin's answer; the plugin stays.
    Skip,
    /// The event goes on without this plugin, which is removed.
    Remove,
    /// The event fails with this error.
    Fail,
}

impl Plugin {
    pub(crate) fn new(
        id: PluginId,
        connection: Arc<dyn PluginConnection>,
        events: EventMask,
        policy: FailurePolicy,
    ) -> Self {
        let label = Arc::from(id.to_string());
        Plugin {
            id,
            metrics: metrics::CallKeys::new(&label),
            label,
            connection,
            events: AtomicI32::new(events.effective().bits()),
            subscribed_to_all: events.is_empty(),
            state_change: AtomicBool::new(false),
            warned: AtomicI32::new(0),
            timeouts: AtomicU32::new(0),
            policy,
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn info(&self) -> PluginInfo {
        PluginInfo {
            id: self.id.clone(),
            origin: self.connection.origin(),
            events: self.events(),
            uses_state_change: self.state_change.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn events(&self) -> EventMask {
        EventMask::from_bits(self.events.load(Ordering::Relaxed))
    }

    pub(crate) fn subscribes(&self, event: Event) -> bool {
        self.events().contains(event)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the plugin closed; true the first time.
    pub(crate) fn mark_closed(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// Calls a non-event method (Synchronize, Shutdown), with metrics. The
    /// request is in its borrowed form (`request.borrowed()`, or for a
    /// Synchronize part a [`SynchronizeRef`](crate::transport::SynchronizeRef)).
    pub(crate) async fn call<R: PluginRpc>(
        &self,
        request: R::Borrowed<'_>,
        timeout: Duration,
    ) -> Result<R::Response, CallError> {
        let started = Instant::now();
        let outcome =
            transport::call_borrowed::<R>(self.connection.as_ref(), request, timeout).await;
        self.metrics
            .call(R::METHOD, metrics::Status::of(&outcome), started.elapsed());
        outcome
    }

    /// Delivers an event, falling back to `StateChange` for old plugins.
    pub(crate) async fn deliver<R>(
        &self,
        request: R::Borrowed<'_>,
        timeout: Duration,
    ) -> Result<R::Response, CallError>
    where
        R: EventRequest,
        R::Response: Default + Send + 'static,
    {
        let method = R::METHOD;
        let started = Instant::now();
        let outcome = if method.has_state_change_fallback()
            && self.state_change.load(Ordering::Relaxed)
        {
            Box::pin(self.via_state_change::<R>(request, timeout)).await
        } else {
            match transport::call_borrowed::<R>(self.connection.as_ref(), request, timeout).await {
                Err(CallError::Unimplemented { .. }) if method.has_state_change_fallback() => {
                    self.state_change.store(true, Ordering::Relaxed);
                    let left = timeout.saturating_sub(started.elapsed());
                    Box::pin(self.via_state_change::<R>(request, left)).await
                }
                other => other,
            }
        };
        if outcome.is_ok() {
            self.timeouts.store(0, Ordering::Relaxed);
        }
        self.metrics
            .call(method, metrics::Status::of(&outcome), started.elapsed());
        outcome
    }

    async fn via_state_change<R>(
        &self,
        request: R::Borrowed<'_>,
        timeout: Duration,
    ) -> Result<R::Response, CallError>
    where
        R: EventRequest,
        R::Response: Default + Send + 'static,
    {
        let bit = R::EVENT.bit();
        if self.warned.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            tracing::warn!(
                plugin = %self.label,
                event = R::EVENT.name(),
                "plugin does not implement a dedicated {} call; using the deprecated StateChange",
                R::EVENT.name()
            );
        }
        metrics::deprecated_state_change(&self.label, R::METHOD.name());
        transport::call(self.connection.as_ref(), &R::state_change(request), timeout)
            .await
            .map(|_| R::Response::default())
    }

    /// Decides what a failed event call means for the plugin and the event.
    pub(crate) fn judge(&self, event: Event, error: &CallError) -> Verdict {
        match error {
            CallError::Timeout { .. } => {
                let strikes = self.timeouts.fetch_add(1, Ordering::Relaxed) + 1;
                if strikes <= self.policy.tolerated_timeouts {
                    Verdict::Skip
                } else {
                    Verdict::Remove
                }
            }
            error if error.is_fatal() => Verdict::Remove,
            CallError::Unimplemented { .. }
                if self.subscribed_to_all && is_newer_than_v0_10(event) =>
            {
                // A plugin that asked for "everything" before these events
                // existed cannot implement them: unsubscribe it from the one
                // it lacks instead of failing the runtime's request.
                self.events.fetch_and(!event.bit(), Ordering::Relaxed);
                Verdict::Skip
            }
            _ => Verdict::Fail,
        }
    }
}

/// Events added in NRI v0.10, which a plugin subscribed with mask 0 by an
/// older stub cannot know.
fn is_newer_than_v0_10(event: Event) -> bool {
    !EventMask::ALL_BEFORE_V0_10.contains(event)
}
