//! [`Recorder`]: a transport wrapper that records every call between the
//! runtime and its plugins, in both directions, for the simulator's report.
//!
//! It wraps any [`Transport`] (as the test kit's one transport wrapper,
//! the plugin test's too, observes it), so what it records is what crossed
//! that transport: requests and replies as protobuf JSON, errors, sizes and
//! times. A connection is labelled `NN-name` from its launch or its
//! RegisterPlugin call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nri_core::discovery::{PluginKind, Preinstalled};
use nri_core::transport::{
    Accepted, CallError, LaunchError, PluginRequestRef, PluginResponse, RuntimeRequest,
    RuntimeResponse, Transport,
};
use serde::Serialize;

use crate::json::{self, Part};
use crate::observed::{Observed, Observer};

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The runtime called the plugin (`Plugin` service).
    ToPlugin,
    /// The plugin called the runtime (`Runtime` service).
    ToRuntime,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The reply, as protobuf JSON.
    Reply(serde_json::Value),
    /// The error.
    Error(String),
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// `NN-name` of the plugin (`connection N` before it registered).
    pub plugin: String,
    /// Which way it went.
    pub direction: Direction,
    /// The method.
    pub method: String,
    /// The request, as protobuf JSON.
    pub request: serde_json::Value,
    /// Size of the encoded request, in bytes.
    pub request_bytes: usize,
    /// How it ended.
    pub answer: Answer,
    /// How long it took, in microseconds.
    pub micros: u64,
}

/// The calls recorded so far.
#[derive(Debug)]
struct Log {
    calls: Mutex<Vec<Call>>,
    connections: AtomicUsize,
    /// Plugin calls of the runtime not recorded yet.
    in_flight: tokio::sync::watch::Sender<usize>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            calls: Mutex::default(),
            connections: AtomicUsize::new(0),
            in_flight: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Log {
    fn push(&self, call: Call) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }
}

/// How long [`Recorder::settle`] waits for plugins' calls of the runtime
/// to be answered.
const SETTLE: Duration = Duration::from_secs(1);

/// A [`Transport`] that records every call crossing the one it wraps.
pub struct Recorder {
    observed: Observed<Log>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// Records the calls of `inner`.
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        Recorder {
            observed: Observed::new(inner, Arc::default()),
        }
    }

    /// A recorder of `inner` that records into this one's log: for a
    /// second transport of the same run.
    pub fn sibling(&self, inner: Arc<dyn Transport>) -> Self {
        Recorder {
            observed: Observed::new(inner, Arc::clone(self.observed.observer())),
        }
    }

    /// Waits (up to a second) until every call a plugin made of the
    /// runtime is answered and recorded, then takes the calls recorded
    /// since the last `take`: the runtime answers RegisterPlugin and
    /// UpdateContainers on its own schedule, and a step's record should
    /// hold the answers it caused.
    pub async fn settle(&self) -> Vec<Call> {
        let mut in_flight = self.observed.observer().in_flight.subscribe();
        let _ = tokio::time::timeout(SETTLE, in_flight.wait_for(|n| *n == 0)).await;
        self.take()
    }

    /// The calls recorded since the last `take`, in the order they ended.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(
            &mut *self
                .observed
                .observer()
                .calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

#[async_trait::async_trait]
impl Transport for Recorder {
    async fn accept(&self) -> Option<Accepted> {
        self.observed.accept().await
    }

    fn launches(&self, kind: PluginKind) -> bool {
        self.observed.launches(kind)
    }

    async fn launch(&self, plugin: &Preinstalled) -> Result<Accepted, LaunchError> {
        self.observed.launch(plugin).await
    }
}

/// A plugin's call of the runtime, until it is answered.
struct Pending {
    method: &'static str,
    request: serde_json::Value,
    request_bytes: usize,
    started: Instant,
}

impl Observer for Log {
    /// The connection's label: `NN-name` once known.
    type Connection = Mutex<String>;
    type Pending = Pending;

    fn connected(&self, launched: Option<&Preinstalled>) -> Mutex<String> {
        Mutex::new(match launched {
            Some(plugin) => plugin.id.to_string(),
            None => {
                let n = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
                format!("connection {n}")
            }
        })
    }

    /// Learns the plugin's name from RegisterPlugin.
    fn runtime_call(&self, label: &Mutex<String>, request: &RuntimeRequest) -> Pending {
        if let RuntimeRequest::RegisterPlugin(register) = request {
            *label.lock().unwrap_or_else(PoisonError::into_inner) =
                format!("{}-{}", register.plugin_idx, register.plugin_name);
        }
        let method = request.method_name();
        let (rendered, request_bytes) =
            render("Runtime", method, Part::Request, |b| request.encode(b));
        self.in_flight.send_modify(|n| *n += 1);
        Pending {
            method,
            request: rendered,
            request_bytes,
            started: Instant::now(),
        }
    }

    fn runtime_answered(
        &self,
        label: &Mutex<String>,
        pending: Pending,
        answer: &Result<RuntimeResponse, CallError>,
    ) {
        let method = pending.method;
        let recorded = match answer {
            Ok(reply) => {
                Answer::Reply(render("Runtime", method, Part::Response, |b| reply.encode(b)).0)
            }
            Err(error) => Answer::Error(error.to_string()),
        };
        self.push(Call {
            plugin: label_of(label),
            direction: Direction::ToRuntime,
            method: method.to_string(),
            request: pending.request,
            request_bytes: pending.request_bytes,
            answer: recorded,
            micros: micros(pending.started.elapsed()),
        });
        self.in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }

    fn plugin_called(
        &self,
        label: &Mutex<String>,
        request: PluginRequestRef<'_>,
        result: &Result<PluginResponse, CallError>,
        elapsed: Duration,
    ) {
        let method = request.method().name();
        let (rendered, request_bytes) =
            render("Plugin", method, Part::Request, |b| request.encode(b));
        let answer = match result {
            Ok(reply) => {
                Answer::Reply(render("Plugin", method, Part::Response, |b| reply.encode(b)).0)
            }
            Err(error) => Answer::Error(error.to_string()),
        };
        self.push(Call {
            plugin: label_of(label),
            direction: Direction::ToPlugin,
            method: method.to_string(),
            request: rendered,
            request_bytes,
            answer,
            micros: micros(elapsed),
        });
    }
}

fn label_of(label: &Mutex<String>) -> String {
    label.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Encodes with `encode` and renders the message as JSON; a message that
/// cannot be rendered is recorded as the reason, never dropped.
fn render(
    service: &str,
    method: &str,
    part: Part,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), prost::EncodeError>,
) -> (serde_json::Value, usize) {
    let mut bytes = Vec::new();
    if let Err(error) = encode(&mut bytes) {
        return (serde_json::Value::String(format!("<{error}>")), 0);
    }
    let value = json::method_message_to_json(service, method, part, &bytes)
        .unwrap_or_else(|error| serde_json::Value::String(format!("<{error}>")));
    (value, bytes.len())
}
