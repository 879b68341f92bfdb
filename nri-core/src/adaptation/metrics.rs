//! Metrics, through the [`metrics`] facade.
//!
//! nri-core is a library: it records, and the runtime decides where the
//! numbers go by installing a recorder (a Prometheus exporter, OpenTelemetry,
//! or none, which costs one atomic load per record). That is why nri-rs
//! uses the facade rather than `prometheus-client`, which would make the
//! library own a registry and an exposition format. The names follow
//! containerd's NRI metrics, prefixed `nri_`:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `nri_plugin_invocations_total` | counter | `plugin`, `operation`, `status` (`ok`, `error`, `timeout`, `closed`, `unimplemented`) |
//! | `nri_plugin_latency_seconds` | histogram | `plugin`, `operation` |
//! | `nri_plugin_adjustments_total` | counter | `plugin`, `operation`, `type` (`adjustment`, `update`, `eviction`) |
//! | `nri_active_plugins` | gauge | |
//! | `nri_deprecated_state_change_total` | counter | `plugin`, `operation` |

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, SharedString};

use crate::transport::{CallError, METHODS, Method};

/// Counter of calls to plugins.
pub const INVOCATIONS: &str = "nri_plugin_invocations_total";
/// Histogram of call latencies, in seconds.
pub const LATENCY: &str = "nri_plugin_latency_seconds";
/// Counter of adjustments, updates and evictions plugins asked for.
pub const ADJUSTMENTS: &str = "nri_plugin_adjustments_total";
/// Gauge of connected plugins.
pub const ACTIVE_PLUGINS: &str = "nri_active_plugins";
/// Counter of events delivered through the deprecated `StateChange`.
pub const DEPRECATED_STATE_CHANGE: &str = "nri_deprecated_state_change_total";

/// A call's outcome, as the `status` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Timeout,
    Closed,
    Unimplemented,
    Error,
}

impl Status {
    /// Every status, in declaration order.
    const ALL: [Status; 5] = [
        Status::Ok,
        Status::Timeout,
        Status::Closed,
        Status::Unimplemented,
        Status::Error,
    ];

    /// The status of `outcome`.
    pub(crate) fn of<T>(outcome: &Result<T, CallError>) -> Status {
        match outcome {
            Ok(_) => Status::Ok,
            Err(CallError::Timeout { .. }) => Status::Timeout,
            Err(CallError::Closed { .. }) => Status::Closed,
            Err(CallError::Unimplemented { .. }) => Status::Unimplemented,
            Err(_) => Status::Error,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Timeout => "timeout",
            Status::Closed => "closed",
            Status::Unimplemented => "unimplemented",
            Status::Error => "error",
        }
    }
}

/// The `plugin` label, sharing the plugin's `NN-name` built once at
/// registration: the macros build their labels even with no recorder
/// installed, and a fresh `String` per call was an allocation and a copy
/// per label on every plugin call.
fn label(plugin: &Arc<str>) -> SharedString {
    SharedString::from_shared(Arc::clone(plugin))
}

/// What the metrics macros pass the recorder: the call metrics are
/// recorded with the recorder's own methods, under the same metadata.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The keys of one plugin's call metrics, each built on its first record
/// and kept. The macros build a key (a vector of labels, then its hash) on
/// every record, even with no recorder installed: twice per event, that
/// was about 4% of the runtime's CPU per event in `nri-harness bench
/// --plugins 1`. The recorder itself is still looked up on every record,
/// so one installed later, or one local to a thread, sees every call.
pub(crate) struct CallKeys {
    plugin: Arc<str>,
    /// By method, then [`Status`].
    invocations: [[OnceLock<Key>; Status::ALL.len()]; METHODS.len()],
    /// By method.
    latency: [OnceLock<Key>; METHODS.len()],
}

impl CallKeys {
    /// The keys of `plugin`'s calls, none built yet.
    pub(crate) fn new(plugin: &Arc<str>) -> Self {
        CallKeys {
            plugin: Arc::clone(plugin),
            invocations: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            latency: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Records one call of `method`.
    pub(crate) fn call(&self, method: Method, status: Status, took: Duration) {
        // Methods and statuses are fieldless enums, numbered in order.
        let (m, s) = (method as usize, status as usize);
        let invocations = self.invocations[m][s].get_or_init(|| {
            Key::from_parts(
                INVOCATIONS,
                vec![
                    Label::new("plugin", label(&self.plugin)),
                    Label::new("operation", method.name()),
                    Label::new("status", status.label()),
                ],
            )
        });
        let latency = self.latency[m].get_or_init(|| {
            Key::from_parts(
                LATENCY,
                vec![
                    Label::new("plugin", label(&self.plugin)),
                    Label::new("operation", method.name()),
                ],
            )
        });
        metrics::with_recorder(|recorder| {
            recorder
                .register_counter(invocations, &METADATA)
                .increment(1);
            recorder
                .register_histogram(latency, &METADATA)
                .record(took.as_secs_f64());
        });
    }
}

/// Records what a plugin asked for in one reply.
pub(crate) fn adjustments(
    plugin: &Arc<str>,
    operation: &'static str,
    adjusted: bool,
    updates: usize,
    evictions: usize,
) {
    for (kind, count) in [
        ("adjustment", usize::from(adjusted)),
        ("update", updates),
        ("eviction", evictions),
    ] {
        if count > 0 {
            metrics::counter!(ADJUSTMENTS, "plugin" => label(plugin), "operation" => operation, "type" => kind)
                .increment(count as u64);
        }
    }
}

/// Records the number of connected plugins.
pub(crate) fn active_plugins(count: usize) {
    metrics::gauge!(ACTIVE_PLUGINS).set(count as f64);
}

/// Records one event delivered through `StateChange`.
pub(crate) fn deprecated_state_change(plugin: &Arc<str>, operation: &'static str) {
    metrics::counter!(DEPRECATED_STATE_CHANGE, "plugin" => label(plugin), "operation" => operation)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_statuses_are_numbered_in_order() {
        for (i, method) in METHODS.iter().enumerate() {
            assert_eq!(*method as usize, i, "{method:?}");
        }
        for (i, status) in Status::ALL.iter().enumerate() {
            assert_eq!(*status as usize, i, "{status:?}");
        }
    }
}
