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

use std::sync::Arc;
use std::time::Duration;

use metrics::SharedString;

use crate::transport::CallError;

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

/// The `status` label of a call's outcome.
pub(crate) fn status<T>(outcome: &Result<T, CallError>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(CallError::Timeout { .. }) => "timeout",
        Err(CallError::Closed { .. }) => "closed",
        Err(CallError::Unimplemented { .. }) => "unimplemented",
        Err(_) => "error",
    }
}

/// The `plugin` label, sharing the plugin's `NN-name` built once at
/// registration: the macros build their labels even with no recorder
/// installed, and a fresh `String` per call was an allocation and a copy
/// per label on every plugin call.
fn label(plugin: &Arc<str>) -> SharedString {
    SharedString::from_shared(Arc::clone(plugin))
}

/// Records one call of `operation` on `plugin`.
pub(crate) fn call(
    plugin: &Arc<str>,
    operation: &'static str,
    status: &'static str,
    took: Duration,
) {
    metrics::counter!(INVOCATIONS, "plugin" => label(plugin), "operation" => operation, "status" => status)
        .increment(1);
    metrics::histogram!(LATENCY, "plugin" => label(plugin), "operation" => operation)
        .record(took.as_secs_f64());
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
