//! The fault matrix: for each of the 13 lifecycle events and validation,
//! a plugin that fails (error status), times out, or disconnects in the
//! middle of the call, next to a healthy plugin.
//!
//! With a request timeout of 100 ms every event returns within 200 ms (on
//! the in-process harness's paused clock, at 100 ms exactly), with
//! the documented outcome: an error fails the event naming the plugin,
//! which stays; a timeout or disconnect removes the plugin and the event
//! goes on without it, except validation, which fails closed. The healthy
//! plugin still gets the next event, and once the adaptation is stopped no
//! task is left behind.

use std::time::Duration;

use nri_core::adaptation::EventError;
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::Method;
use tokio::time::Instant;

use super::events::method_of;
use super::fixture::{Running, SEQUENCE, container, options, pod, send_event, start_with, within};
use super::harness::Harness;
use super::plugin::{Behaviour, ScriptedPlugin};

/// The request timeout of the matrix: short, since 14 of its cells wait for
/// it on real sockets, and still tens of times what a healthy call takes
/// there.
pub const TIMEOUT: Duration = Duration::from_millis(100);

/// How much longer than [`TIMEOUT`] an event may take.
pub const SLACK: Duration = Duration::from_millis(100);

/// How a faulty plugin misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers an error status.
    Error,
    /// Never answers.
    Timeout,
    /// Disconnects in the middle of the call.
    Disconnect,
}

impl Fault {
    fn behaviour(self) -> Behaviour {
        match self {
            Fault::Error => Behaviour::Fail("scripted failure".into()),
            Fault::Timeout => Behaviour::Hang,
            Fault::Disconnect => Behaviour::Disconnect,
        }
    }
}

/// The event sent after the fault, to show the healthy plugin still gets
/// events.
fn probe(event: Event) -> Event {
    if event == Event::PostStartContainer {
        Event::RunPodSandbox
    } else {
        Event::PostStartContainer
    }
}

/// 10-faulty, misbehaving on `event`, and 20-healthy, subscribed to
/// everything.
async fn pair(h: &dyn Harness, event: Event, fault: Fault) -> Running {
    let method = if event == Event::ValidateContainerAdjustment {
        Method::ValidateContainerAdjustment
    } else {
        method_of(event)
    };
    let faulty =
        ScriptedPlugin::new("10", "faulty", EventMask::of([event])).on(method, fault.behaviour());
    let healthy = ScriptedPlugin::new("20", "healthy", EventMask::NONE);
    let mut options = options();
    options.request_timeout = TIMEOUT;
    start_with(h, options, vec![faulty, healthy]).await
}

/// Whether the event's outcome is the documented one.
fn documented(event: Event, fault: Fault, outcome: &Result<(), EventError>) -> bool {
    let validation = event == Event::ValidateContainerAdjustment;
    match outcome {
        Ok(()) => fault != Fault::Error && !validation,
        Err(EventError::Plugin { plugin, .. }) => {
            fault == Fault::Error && !validation && plugin == "10-faulty"
        }
        Err(EventError::Validator { validator, .. }) => validation && validator == "10-faulty",
        Err(_) => false,
    }
}

/// Runs one cell of the matrix; returns what went wrong.
pub async fn cell(h: &dyn Harness, event: Event, fault: Fault) -> Vec<String> {
    let name = format!("{event} × {fault:?}");
    let mut failures = Vec::new();
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let running = pair(h, event, fault).await;
    let (pod, container) = (pod(0), container(0, 0));
    let started = Instant::now();
    let outcome = within(
        &name,
        send_event(&running.adaptation, event, &pod, &container),
    )
    .await;
    let took = started.elapsed();
    if took > TIMEOUT + SLACK {
        failures.push(format!("{name}: took {took:?}"));
    }
    if !documented(event, fault, &outcome) {
        failures.push(format!("{name}: outcome {outcome:?}"));
    }
    let expected: &[&str] = if fault == Fault::Error {
        &["10-faulty", "20-healthy"]
    } else {
        &["20-healthy"]
    };
    if running.labels() != expected {
        failures.push(format!(
            "{name}: plugins {:?}, expected {expected:?}",
            running.labels()
        ));
    }
    let healthy = running.plugin(1);
    let reached = !healthy.take().is_empty();
    if reached == (fault == Fault::Error && event != Event::ValidateContainerAdjustment) {
        failures.push(format!(
            "{name}: the healthy plugin was {}called",
            if reached { "" } else { "not " }
        ));
    }
    let next = probe(event);
    let sent = within(
        next.name(),
        send_event(&running.adaptation, next, &pod, &container),
    )
    .await;
    if sent.is_err() || healthy.calls() != [method_of(next)] {
        failures.push(format!(
            "{name}: probe {next}: {sent:?}, healthy got {:?}",
            healthy.calls()
        ));
    }
    running.stop().await;
    if !settled(baseline).await {
        let alive = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        failures.push(format!(
            "{name}: {alive} tasks alive after stop, {baseline} before"
        ));
    }
    failures
}

/// Waits (up to 2 s) until no more tasks are alive than `baseline`: task
/// teardown after stop is asynchronous.
async fn settled(baseline: usize) -> bool {
    let poll = async {
        while tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
            > baseline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), poll)
        .await
        .is_ok()
}

/// Every cell: 13 lifecycle events and validation × error, timeout,
/// disconnect. Reports every failing cell at once.
pub async fn fault_matrix(h: &dyn Harness) {
    let events = SEQUENCE
        .into_iter()
        .chain([Event::ValidateContainerAdjustment]);
    let mut failures = Vec::new();
    for event in events {
        for fault in [Fault::Error, Fault::Timeout, Fault::Disconnect] {
            failures.extend(cell(h, event, fault).await);
        }
    }
    assert!(failures.is_empty(), "{}: {failures:#?}", h.name());
}

/// A plugin that panics in its handler is cut off like one that crashed:
/// the event goes on without it and it is removed.
pub async fn panicking_plugin(h: &dyn Harness) {
    let panicking = ScriptedPlugin::new("10", "panicking", EventMask::of([Event::StartContainer]))
        .on(Method::StartContainer, Behaviour::Panic);
    let running = start_with(h, options(), vec![panicking]).await;
    let (pod, container) = (pod(0), container(0, 0));
    let outcome = within(
        "StartContainer",
        send_event(&running.adaptation, Event::StartContainer, &pod, &container),
    )
    .await;
    assert!(outcome.is_ok(), "{}: {outcome:?}", h.name());
    assert!(
        running.labels().is_empty(),
        "{}: {:?}",
        h.name(),
        running.labels()
    );
    running.stop().await;
}
