//! Metrics (§5.12 MT1–MT5): one invocation and one latency record per
//! call of a plugin, per operation, and the adjustments, updates and
//! evictions a plugin asked for; metric names from
//! [`nri_core::adaptation::metrics`].
//!
//! The scenario needs a metrics recorder local to its thread:
//! [`run_with_debugging_recorder`] installs one around a current-thread
//! runtime.

use std::future::Future;

use ::metrics::with_local_recorder;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use nri_core::adaptation::metrics::{ADJUSTMENTS, INVOCATIONS, LATENCY};
use nri_core::proto::api::{StopContainerResponse, SynchronizeResponse};
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{Method, PluginResponse};

use super::events::method_of;
use super::fixture::{SEQUENCE, container, options, pod, send_event, start_with, within};
use super::harness::Harness;
use super::plugin::{Behaviour, ScriptedPlugin};
use super::samples::{adjust, create_reply, eviction, memory, resources, update, update_reply};

const PLUGIN: &str = "00-dummy";

/// Runs `body` on a new current-thread runtime with a
/// [`DebuggingRecorder`] as the thread's metrics recorder, giving it the
/// recorder's snapshotter.
///
/// # Panics
///
/// If the runtime cannot be built.
pub fn run_with_debugging_recorder<F, Fut>(body: F)
where
    F: FnOnce(Snapshotter) -> Fut,
    Fut: Future<Output = ()>,
{
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("cannot build a runtime: {error}"));
    with_local_recorder(&recorder, || runtime.block_on(body(snapshotter)));
}

/// One record: metric name, labels, value.
type Record = (String, Vec<(String, String)>, DebugValue);

/// The records since the last snapshot.
struct Records(Vec<Record>);

impl Records {
    fn take(snapshotter: &Snapshotter) -> Self {
        let entries = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_string(), l.value().to_string()));
                (key.name().to_string(), labels.collect(), value)
            });
        Records(entries.collect())
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a DebugValue> {
        self.0
            .iter()
            .filter(move |(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, value)| value)
    }

    fn count(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.matching(name, labels)
            .map(|value| match value {
                DebugValue::Counter(count) => *count,
                _ => 0,
            })
            .sum()
    }

    fn latencies(&self, operation: &str) -> Vec<f64> {
        let labels = [("plugin", PLUGIN), ("operation", operation)];
        self.matching(LATENCY, &labels)
            .flat_map(|value| match value {
                DebugValue::Histogram(samples) => samples.iter().map(|s| s.into_inner()).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// Checks one call of `operation` and its adjustment records
    /// `[adjustment, update, eviction]`.
    fn check(&self, operation: &str, adjustments: [u64; 3], failures: &mut Vec<String>) {
        let ok = [
            ("plugin", PLUGIN),
            ("operation", operation),
            ("status", "ok"),
        ];
        let invocations = self.count(INVOCATIONS, &ok);
        let latencies = self.latencies(operation);
        if invocations != 1 || latencies.len() != 1 || latencies.iter().any(|l| *l <= 0.0) {
            failures.push(format!(
                "{operation}: {invocations} invocations, latencies {latencies:?}"
            ));
        }
        let kinds = ["adjustment", "update", "eviction"];
        let got = kinds.map(|kind| {
            self.count(
                ADJUSTMENTS,
                &[("plugin", PLUGIN), ("operation", operation), ("type", kind)],
            )
        });
        if got != adjustments {
            failures.push(format!(
                "{operation}: adjustments/updates/evictions {got:?}, expected {adjustments:?}"
            ));
        }
    }
}

/// The dummy plugin: subscribed to everything, asking for one update in
/// Synchronize, an adjustment, an update and an eviction in
/// CreateContainer, an update and two evictions in UpdateContainer, and an
/// update in StopContainer.
fn dummy() -> ScriptedPlugin {
    let other = || update("ctr1", resources(|r| r.memory = Some(memory(0))));
    let synchronize = SynchronizeResponse {
        update: vec![other()],
        more: false,
    };
    let stop = StopContainerResponse {
        update: vec![other()],
    };
    let annotate = adjust(|a| _ = a.annotations.insert("key".into(), PLUGIN.into()));
    ScriptedPlugin::new("00", "dummy", EventMask::NONE)
        .on(
            Method::Synchronize,
            Behaviour::Reply(PluginResponse::Synchronize(Box::new(synchronize))),
        )
        .on(
            Method::CreateContainer,
            create_reply(Some(annotate), vec![other()], vec![eviction("ctr1")]),
        )
        .on(
            Method::UpdateContainer,
            update_reply(vec![other()], vec![eviction("ctr1"), eviction("ctr0")]),
        )
        .on(
            Method::StopContainer,
            Behaviour::Reply(PluginResponse::StopContainer(Box::new(stop))),
        )
}

/// The adjustment records expected for `event`.
fn adjustments_of(event: Event) -> [u64; 3] {
    match event {
        Event::CreateContainer => [1, 1, 1],
        Event::UpdateContainer => [0, 1, 2],
        Event::StopContainer => [0, 1, 0],
        _ => [0, 0, 0],
    }
}

/// MT1–MT5 over `h`, reading what was recorded through `snapshotter`.
/// Reports every failing check at once.
pub async fn metrics(h: &dyn Harness, snapshotter: &Snapshotter) {
    let _ = snapshotter.snapshot();
    let running = start_with(h, options(), vec![dummy()]).await;
    let mut failures = Vec::new();
    Records::take(snapshotter).check("Synchronize", [0, 1, 0], &mut failures);
    let (pod, container) = (pod(0), container(0, 0));
    for event in SEQUENCE {
        let sent = within(
            event.name(),
            send_event(&running.adaptation, event, &pod, &container),
        )
        .await;
        if let Err(error) = sent {
            failures.push(format!("{event}: failed: {error}"));
            continue;
        }
        let records = Records::take(snapshotter);
        records.check(
            method_of(event).name(),
            adjustments_of(event),
            &mut failures,
        );
        if event == Event::CreateContainer {
            records.check("ValidateContainerAdjustment", [0, 0, 0], &mut failures);
        }
    }
    running.stop().await;
    assert!(failures.is_empty(), "{}: {failures:#?}", h.name());
}
