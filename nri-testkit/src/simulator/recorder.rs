//! [`Recorder`]: a transport wrapper that records every call between the
//! runtime and its plugins, in both directions, for the simulator's report.
//!
//! It wraps any [`Transport`], so what it records is what crossed that
//! transport: requests and replies as protobuf JSON, errors, sizes and
//! times. A connection is labelled `NN-name` from its launch or its
//! RegisterPlugin call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nri_core::discovery::Preinstalled;
use nri_core::transport::{
    Accepted, CallError, LaunchError, Origin, PluginConnection, PluginRequestRef, PluginResponse,
    RuntimeCall, RuntimeRequest, Transport,
};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::json::{self, Part};

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
    inner: Arc<dyn Transport>,
    log: Arc<Log>,
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
            inner,
            log: Arc::default(),
        }
    }

    /// A recorder of `inner` that records into this one's log: for a
    /// second transport of the same run.
    pub fn sibling(&self, inner: Arc<dyn Transport>) -> Self {
        Recorder {
            inner,
            log: Arc::clone(&self.log),
        }
    }

    /// Waits (up to a second) until every call a plugin made of the
    /// runtime is answered and recorded, then takes the calls recorded
    /// since the last `take`: the runtime answers RegisterPlugin and
    /// UpdateContainers on its own schedule, and a step's record should
    /// hold the answers it caused.
    pub async fn settle(&self) -> Vec<Call> {
        let mut in_flight = self.log.in_flight.subscribe();
        let _ = tokio::time::timeout(SETTLE, in_flight.wait_for(|n| *n == 0)).await;
        self.take()
    }

    /// The calls recorded since the last `take`, in the order they ended.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(
            &mut *self
                .log
                .calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn wrap(&self, accepted: Accepted, label: Option<String>) -> Accepted {
        let label = Arc::new(Mutex::new(label.unwrap_or_else(|| {
            let n = self.log.connections.fetch_add(1, Ordering::Relaxed) + 1;
            format!("connection {n}")
        })));
        let (forward, calls) = mpsc::channel(16);
        tokio::spawn(relay_runtime_calls(
            accepted.calls,
            forward,
            Arc::clone(&label),
            Arc::clone(&self.log),
        ));
        Accepted {
            connection: Arc::new(RecordedConnection {
                inner: accepted.connection,
                label,
                log: Arc::clone(&self.log),
            }),
            calls,
        }
    }
}

#[async_trait::async_trait]
impl Transport for Recorder {
    async fn accept(&self) -> Option<Accepted> {
        let accepted = self.inner.accept().await?;
        Some(self.wrap(accepted, None))
    }

    fn launches(&self, kind: nri_core::discovery::PluginKind) -> bool {
        self.inner.launches(kind)
    }

    async fn launch(&self, plugin: &Preinstalled) -> Result<Accepted, LaunchError> {
        let accepted = self.inner.launch(plugin).await?;
        Ok(self.wrap(accepted, Some(plugin.id.to_string())))
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

/// Passes the plugin's calls on to the runtime, recording each with its
/// answer, and learns the plugin's name from RegisterPlugin.
async fn relay_runtime_calls(
    mut from_plugin: mpsc::Receiver<RuntimeCall>,
    to_runtime: mpsc::Sender<RuntimeCall>,
    label: Arc<Mutex<String>>,
    log: Arc<Log>,
) {
    while let Some(call) = from_plugin.recv().await {
        let (request, responder) = call.into_parts();
        if let RuntimeRequest::RegisterPlugin(register) = &request {
            *label.lock().unwrap_or_else(PoisonError::into_inner) =
                format!("{}-{}", register.plugin_idx, register.plugin_name);
        }
        let method = request.method_name();
        let (rendered, request_bytes) =
            render("Runtime", method, Part::Request, |b| request.encode(b));
        let (forwarded, answer) = RuntimeCall::new(request);
        let started = Instant::now();
        log.in_flight.send_modify(|n| *n += 1);
        if to_runtime.send(forwarded).await.is_err() {
            log.in_flight.send_modify(|n| *n = n.saturating_sub(1));
            responder.reply(Err(CallError::Closed {
                reason: "the runtime stopped taking calls".into(),
            }));
            break;
        }
        let label = Arc::clone(&label);
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let result = answer.await.unwrap_or_else(|_| {
                Err(CallError::Closed {
                    reason: "the runtime dropped the call".into(),
                })
            });
            let recorded = match &result {
                Ok(reply) => {
                    Answer::Reply(render("Runtime", method, Part::Response, |b| reply.encode(b)).0)
                }
                Err(error) => Answer::Error(error.to_string()),
            };
            log.push(Call {
                plugin: label_of(&label),
                direction: Direction::ToRuntime,
                method: method.to_string(),
                request: rendered,
                request_bytes,
                answer: recorded,
                micros: micros(started.elapsed()),
            });
            log.in_flight.send_modify(|n| *n = n.saturating_sub(1));
            responder.reply(result);
        });
    }
}

/// A plugin connection whose calls are recorded.
struct RecordedConnection {
    inner: Arc<dyn PluginConnection>,
    label: Arc<Mutex<String>>,
    log: Arc<Log>,
}

#[async_trait::async_trait]
impl PluginConnection for RecordedConnection {
    async fn call(
        &self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, CallError> {
        let started = Instant::now();
        let result = self.inner.call(request, timeout).await;
        let elapsed = started.elapsed();
        let method = request.method().name();
        let (rendered, request_bytes) =
            render("Plugin", method, Part::Request, |b| request.encode(b));
        let answer = match &result {
            Ok(reply) => {
                Answer::Reply(render("Plugin", method, Part::Response, |b| reply.encode(b)).0)
            }
            Err(error) => Answer::Error(error.to_string()),
        };
        self.log.push(Call {
            plugin: label_of(&self.label),
            direction: Direction::ToPlugin,
            method: method.to_string(),
            request: rendered,
            request_bytes,
            answer,
            micros: micros(elapsed),
        });
        result
    }

    async fn close(&self) {
        self.inner.close().await;
    }

    fn origin(&self) -> Origin {
        self.inner.origin()
    }

    async fn terminate(&self, grace: Duration) {
        self.inner.terminate(grace).await;
    }
}
